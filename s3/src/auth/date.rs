//! Request timestamps: the SigV4 `yyyymmddThhmmssZ` form, HTTP dates, and the skew
//! bound.

use time::format_description::well_known::Rfc2822;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::error::AuthError;

/// Parses the SigV4 basic ISO 8601 form, e.g. `20130524T000000Z`.
pub(crate) fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(value.trim(), format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Formats a time in the SigV4 basic ISO 8601 form.
pub(crate) fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an HTTP date: IMF-fixdate, RFC 850 or asctime (`httpdate`), or RFC 2822 with
/// a numeric zone such as `+0000` (the SigV2 documentation's examples use it).
pub(crate) fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let value = value.trim();
    if let Ok(t) = httpdate::parse_http_date(value) {
        return Some(OffsetDateTime::from(t));
    }
    OffsetDateTime::parse(value, &Rfc2822).ok()
}

/// `RequestTimeTooSkewed` if `t` is more than `max_skew` away from `now`.
pub(crate) fn check_skew(
    t: OffsetDateTime,
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<(), AuthError> {
    if (t - now).abs() > max_skew {
        return Err(AuthError::RequestTimeTooSkewed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn amz_dates_round_trip() {
        let t = parse_amz_date("20130524T000000Z");
        assert_eq!(t, Some(datetime!(2013-05-24 00:00:00 UTC)));
        assert_eq!(
            format_amz_date(datetime!(2013-05-24 00:00:00 UTC)),
            "20130524T000000Z"
        );
        assert_eq!(parse_amz_date("2013-05-24T00:00:00Z"), None);
        assert_eq!(parse_amz_date("20131324T000000Z"), None);
        assert_eq!(parse_amz_date(""), None);
    }

    #[test]
    fn http_dates_in_gmt_and_numeric_zones() {
        assert_eq!(
            parse_http_date("Fri, 24 May 2013 00:00:00 GMT"),
            Some(datetime!(2013-05-24 00:00:00 UTC))
        );
        assert_eq!(
            parse_http_date("Tue, 27 Mar 2007 19:36:42 +0000"),
            Some(datetime!(2007-03-27 19:36:42 UTC))
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn skew_is_bounded_both_ways() {
        let now = datetime!(2013-05-24 00:00:00 UTC);
        let bound = Duration::minutes(15);
        assert!(check_skew(now + Duration::minutes(15), now, bound).is_ok());
        assert!(check_skew(now - Duration::minutes(15), now, bound).is_ok());
        assert_eq!(
            check_skew(now + Duration::minutes(16), now, bound),
            Err(AuthError::RequestTimeTooSkewed)
        );
        assert_eq!(
            check_skew(now - Duration::minutes(16), now, bound),
            Err(AuthError::RequestTimeTooSkewed)
        );
    }
}
