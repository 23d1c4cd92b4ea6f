//! Timestamps as S3 writes them: ISO 8601 with milliseconds in XML, RFC 7231 in
//! headers.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

/// The latest instant both formats can represent: 9999-12-31T23:59:59.999Z.
const MAX_MS: u64 = 253_402_300_799_999;

/// Formats milliseconds since the Unix epoch as ISO 8601 with milliseconds and `Z`,
/// e.g. `2009-10-12T17:50:30.000Z` (XML `LastModified`, `CreationDate`, `Initiated`).
/// Instants after year 9999 are clamped to its end.
pub fn iso8601_ms(ms_since_epoch: u64) -> String {
    let ms = ms_since_epoch.min(MAX_MS);
    let nanos = i128::from(ms) * 1_000_000;
    // In range by the clamp above; the epoch is the (unreachable) fallback.
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Formats milliseconds since the Unix epoch as an RFC 7231 HTTP date, e.g.
/// `Wed, 21 Oct 2015 07:28:00 GMT` (`Last-Modified`). Milliseconds are truncated;
/// instants after year 9999 are clamped to its end.
pub fn http_date(ms_since_epoch: u64) -> String {
    let ms = ms_since_epoch.min(MAX_MS);
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_has_milliseconds_and_z() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_255_369_830_000), "2009-10-12T17:50:30.000Z");
        assert_eq!(iso8601_ms(1_445_412_480_123), "2015-10-21T07:28:00.123Z");
        assert_eq!(iso8601_ms(u64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn http_date_is_rfc7231() {
        assert_eq!(
            http_date(1_445_412_480_999),
            "Wed, 21 Oct 2015 07:28:00 GMT"
        );
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }
}
