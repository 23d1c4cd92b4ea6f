//! DeleteObjects: the Delete request body and the DeleteResult answer.

use super::parse::parse;
use super::write::XmlWriter;
use crate::error::S3Error;
use crate::router::check_key;

/// The most keys one DeleteObjects request may name.
pub const MAX_DELETE_OBJECTS: usize = 1000;

/// The largest Delete body accepted: 1000 keys of 1024 bytes, with markup.
pub const MAX_DELETE_BODY_BYTES: usize = 2 * 1024 * 1024;

/// One key named in a Delete body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectIdentifier {
    /// The key, exactly as sent (not trimmed).
    pub key: String,
    /// `VersionId`, if given.
    pub version_id: Option<String>,
}

/// A parsed Delete body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// `Quiet`: report only errors.
    pub quiet: bool,
    /// The keys, in request order (1 to 1000).
    pub objects: Vec<ObjectIdentifier>,
}

/// Parses a DeleteObjects body. No object, more than [`MAX_DELETE_OBJECTS`], or an
/// object without `Key` is [`S3Error::MalformedXML`], as S3 answers; a key over 1024
/// bytes is [`S3Error::KeyTooLongError`].
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, S3Error> {
    // Object, Key, VersionId (and the optional ETag, LastModifiedTime, Size) per key.
    let root = parse(body, MAX_DELETE_BODY_BYTES, 6 * MAX_DELETE_OBJECTS + 2)?;
    if root.name != "Delete" {
        return Err(S3Error::MalformedXML);
    }
    let quiet = match root.child_text("Quiet").map(str::trim) {
        None => false,
        Some(q) if q.eq_ignore_ascii_case("true") => true,
        Some(q) if q.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(S3Error::MalformedXML),
    };
    let mut objects = Vec::new();
    for object in root.all("Object") {
        let key = object.child_text("Key").ok_or(S3Error::MalformedXML)?;
        if key.is_empty() {
            return Err(S3Error::MalformedXML);
        }
        check_key(key)?;
        objects.push(ObjectIdentifier {
            key: key.to_owned(),
            version_id: object
                .child_text("VersionId")
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
        });
    }
    if objects.is_empty() || objects.len() > MAX_DELETE_OBJECTS {
        return Err(S3Error::MalformedXML);
    }
    Ok(DeleteRequest { quiet, objects })
}

/// One outcome in DeleteResult.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The key is gone (or never existed, which S3 also reports as deleted).
    Deleted {
        /// The key.
        key: String,
        /// The version id the request named, echoed.
        version_id: Option<String>,
    },
    /// The key could not be deleted.
    Error {
        /// The key.
        key: String,
        /// The version id the request named, echoed.
        version_id: Option<String>,
        /// Why: its code and message are written.
        error: S3Error,
    },
}

/// The DeleteObjects answer. Quiet mode is the caller's choice: pass only the
/// errors.
pub fn delete_result(outcomes: &[DeleteOutcome]) -> String {
    let mut w = XmlWriter::new("DeleteResult");
    for outcome in outcomes {
        match outcome {
            DeleteOutcome::Deleted { key, version_id } => {
                w.start("Deleted")
                    .elem("Key", key)
                    .opt("VersionId", version_id.as_deref())
                    .end("Deleted");
            }
            DeleteOutcome::Error {
                key,
                version_id,
                error,
            } => {
                w.start("Error")
                    .elem("Key", key)
                    .opt("VersionId", version_id.as_deref())
                    .elem("Code", error.code())
                    .elem("Message", &error.message())
                    .end("Error");
            }
        }
    }
    w.finish("DeleteResult")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_aws_example() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Quiet>true</Quiet>
              <Object><Key>sample1.txt</Key></Object>
              <Object><Key>sample2.txt</Key><VersionId>OYcLXagmS.WaD..oyH4KRguB95_YhLs7</VersionId></Object>
              <Object><Key> a  &amp; b//../c+d </Key></Object>
            </Delete>"#;
        let d = parse_delete(body).unwrap();
        assert!(d.quiet);
        assert_eq!(
            d.objects,
            vec![
                ObjectIdentifier {
                    key: "sample1.txt".into(),
                    version_id: None
                },
                ObjectIdentifier {
                    key: "sample2.txt".into(),
                    version_id: Some("OYcLXagmS.WaD..oyH4KRguB95_YhLs7".into())
                },
                ObjectIdentifier {
                    key: " a  & b//../c+d ".into(),
                    version_id: None
                },
            ]
        );
    }

    #[test]
    fn quiet_defaults_to_false() {
        let d = parse_delete(b"<Delete><Object><Key>k</Key></Object></Delete>").unwrap();
        assert!(!d.quiet);
    }

    #[test]
    fn rejects_bad_bodies() {
        for body in [
            "<Delete></Delete>",
            "<Delete><Object></Object></Delete>",
            "<Delete><Object><Key></Key></Object></Delete>",
            "<Delete><Quiet>maybe</Quiet><Object><Key>k</Key></Object></Delete>",
            "<Remove><Object><Key>k</Key></Object></Remove>",
            "<Delete><Object><Key>k</Key></Object>",
        ] {
            assert_eq!(
                parse_delete(body.as_bytes()),
                Err(S3Error::MalformedXML),
                "{body}"
            );
        }
        let long = format!(
            "<Delete><Object><Key>{}</Key></Object></Delete>",
            "k".repeat(1025)
        );
        assert_eq!(parse_delete(long.as_bytes()), Err(S3Error::KeyTooLongError));
    }

    #[test]
    fn at_most_1000_objects() {
        let body = |n: usize| {
            let mut s = String::from("<Delete>");
            for i in 0..n {
                s.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
            }
            s + "</Delete>"
        };
        assert_eq!(
            parse_delete(body(1000).as_bytes()).unwrap().objects.len(),
            1000
        );
        assert_eq!(
            parse_delete(body(1001).as_bytes()),
            Err(S3Error::MalformedXML)
        );
    }

    #[test]
    fn delete_result_golden() {
        let xml = delete_result(&[
            DeleteOutcome::Deleted {
                key: "sample1.txt".into(),
                version_id: None,
            },
            DeleteOutcome::Error {
                key: "sample2&.txt".into(),
                version_id: Some("v".into()),
                error: S3Error::access_denied(),
            },
        ]);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Deleted><Key>sample1.txt</Key></Deleted>\
             <Error><Key>sample2&amp;.txt</Key><VersionId>v</VersionId>\
             <Code>AccessDenied</Code><Message>Access Denied</Message></Error>\
             </DeleteResult>"
        );
    }

    #[test]
    fn round_trip_through_the_result() {
        let d = parse_delete(b"<Delete><Object><Key>a&lt;b</Key></Object></Delete>").unwrap();
        let outcomes: Vec<_> = d
            .objects
            .into_iter()
            .map(|o| DeleteOutcome::Deleted {
                key: o.key,
                version_id: o.version_id,
            })
            .collect();
        let xml = delete_result(&outcomes);
        assert!(xml.contains("<Deleted><Key>a&lt;b</Key></Deleted>"));
    }
}
