//! Feeds arbitrary bytes to every folio-proto decoder. Any panic is a bug: the
//! decoders must turn every input into a frame, "need more bytes", or a typed error.
#![no_main]

use bytes::{Bytes, BytesMut};
use folio_proto::{DEFAULT_MAX_FRAME_BYTES, Entry, Frame, Message, RawFrame, Request, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Frame::<Request>::decode_exact(data, DEFAULT_MAX_FRAME_BYTES);
    let _ = Frame::<Response>::decode_exact(data, DEFAULT_MAX_FRAME_BYTES);
    if let Ok(entry) = Entry::decode(Bytes::copy_from_slice(data)) {
        let _ = entry.verify();
        let _ = entry.payload();
    }
    // A stream of frames: decode each, and re-encode what decodes; the re-encoding
    // must decode to the same message.
    let mut buf = BytesMut::from(data);
    while let Ok(Some(raw)) = RawFrame::split(&mut buf, 1 << 16) {
        if let Ok(frame) = raw.clone().decode::<Request>() {
            let again = Frame::<Request>::decode_exact(&frame.to_bytes(), DEFAULT_MAX_FRAME_BYTES)
                .expect("a re-encoded request decodes");
            assert_eq!(again, frame);
            let _ = frame.body.kind();
        }
        if let Ok(frame) = raw.decode::<Response>() {
            let again = Frame::<Response>::decode_exact(&frame.to_bytes(), DEFAULT_MAX_FRAME_BYTES)
                .expect("a re-encoded response decodes");
            assert_eq!(again, frame);
        }
    }
});
