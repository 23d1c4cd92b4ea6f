//! CopyObjectResult and CopyPartResult.

use super::multipart::ChecksumValue;
use super::time::iso8601_ms;
use super::write::{XmlWriter, quote_etag};

fn copy_result(
    root: &str,
    etag: &str,
    last_modified_ms: u64,
    checksum: Option<&ChecksumValue>,
) -> String {
    let mut w = XmlWriter::new(root);
    w.elem("ETag", &quote_etag(etag))
        .elem("LastModified", &iso8601_ms(last_modified_ms));
    if let Some((algorithm, value)) = checksum {
        w.elem(&format!("Checksum{}", algorithm.as_str()), value);
    }
    w.finish(root)
}

/// The CopyObject answer: the new object's ETag and modification time.
pub fn copy_object_result(
    etag: &str,
    last_modified_ms: u64,
    checksum: Option<&ChecksumValue>,
) -> String {
    copy_result("CopyObjectResult", etag, last_modified_ms, checksum)
}

/// The UploadPartCopy answer: the new part's ETag and modification time.
pub fn copy_part_result(
    etag: &str,
    last_modified_ms: u64,
    checksum: Option<&ChecksumValue>,
) -> String {
    copy_result("CopyPartResult", etag, last_modified_ms, checksum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::ChecksumAlgorithm;

    #[test]
    fn copy_object_golden() {
        assert_eq!(
            copy_object_result("9b2cf535f27731c974343645a3985328", 1_234_567_890_000, None),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>\
             <LastModified>2009-02-13T23:31:30.000Z</LastModified></CopyObjectResult>"
        );
    }

    #[test]
    fn copy_part_with_checksum() {
        let xml = copy_part_result(
            "\"b\"",
            0,
            Some(&(ChecksumAlgorithm::Crc64Nvme, "AAAAAAAAAAA=".into())),
        );
        assert!(xml.contains("<CopyPartResult xmlns="));
        assert!(xml.contains("<ETag>&quot;b&quot;</ETag>"));
        assert!(xml.contains("<ChecksumCRC64NVME>AAAAAAAAAAA=</ChecksumCRC64NVME>"));
    }
}
