//! Property tests of the XML codecs: written text reads back.

use proptest::prelude::*;

use super::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any key (XML 1.0 cannot carry NUL) escaped into a Delete body parses back
    /// exactly, spaces included.
    #[test]
    fn delete_keys_round_trip(keys in prop::collection::vec("[^\u{0}]{1,64}", 1..20), quiet: bool) {
        let mut body = format!("<Delete><Quiet>{quiet}</Quiet>");
        for key in &keys {
            body.push_str(&format!("<Object><Key>{}</Key></Object>", escape(key)));
        }
        body.push_str("</Delete>");
        let parsed = parse_delete(body.as_bytes()).unwrap();
        prop_assert_eq!(parsed.quiet, quiet);
        let got: Vec<_> = parsed.objects.into_iter().map(|o| o.key).collect();
        prop_assert_eq!(got, keys);
    }

    /// Complete bodies with ascending part numbers parse back to the same parts.
    #[test]
    fn complete_parts_round_trip(numbers in prop::collection::btree_set(1u32..=10_000, 1..50), quoted: bool) {
        let mut body = String::from("<CompleteMultipartUpload>");
        for n in &numbers {
            let etag = format!("{n:032x}");
            let etag = if quoted { quote_etag(&etag) } else { etag };
            body.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>", escape(&etag)));
        }
        body.push_str("</CompleteMultipartUpload>");
        let parts = parse_complete_multipart_upload(body.as_bytes()).unwrap();
        let got: Vec<_> = parts.iter().map(|p| (p.part_number, p.etag.clone())).collect();
        let want: Vec<_> = numbers.iter().map(|n| (*n, format!("{n:032x}"))).collect();
        prop_assert_eq!(got, want);
    }

    /// Arbitrary bytes never panic the parsers.
    #[test]
    fn parsers_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_delete(&body);
        let _ = parse_complete_multipart_upload(&body);
        let _ = parse_create_bucket_configuration(&body);
    }

    /// ISO 8601 timestamps keep their milliseconds and sort like the instants.
    #[test]
    fn iso8601_orders_like_time(a in 0u64..253_402_300_799_999, b in 0u64..253_402_300_799_999) {
        let (x, y) = (iso8601_ms(a), iso8601_ms(b));
        prop_assert_eq!(x.len(), 24);
        prop_assert_eq!(a.cmp(&b), x.cmp(&y));
        let millis = format!("{:03}Z", a % 1000);
        prop_assert!(x.ends_with(&millis));
    }
}
