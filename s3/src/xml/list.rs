//! Listing documents: ListBucketResult (ListObjects v1 and v2) and
//! ListVersionsResult.
//!
//! The three share one writer: a [`Listing`] holds what they have in common (the
//! request's [`ListScope`] echoed, `IsTruncated`, the objects and the common
//! prefixes) and writes it around the markers that each result adds.
//!
//! With `encoding-type=url`, every key-like text (Key, Prefix, Delimiter, Marker,
//! NextMarker, StartAfter, KeyMarker, NextKeyMarker, CommonPrefixes) is URL-encoded
//! and `EncodingType` is echoed. ETags are written quoted, times as ISO 8601 with
//! milliseconds.

use super::bucket::Owner;
use super::time::iso8601_ms;
use super::write::{XmlWriter, encode_name, quote_etag};
use crate::router::{EncodingType, ListScope};

/// The storage class written when an entry does not name one.
pub const DEFAULT_STORAGE_CLASS: &str = "STANDARD";

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    /// The key.
    pub key: String,
    /// Last modification, milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    /// The ETag, quoted or not (written quoted).
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// Storage class; `None` writes [`DEFAULT_STORAGE_CLASS`].
    pub storage_class: Option<String>,
    /// The owner, written when present (v1 always; v2 with `fetch-owner=true`).
    pub owner: Option<Owner>,
}

impl ObjectEntry {
    fn write(&self, w: &mut XmlWriter, form: EntryForm, encoding: Option<EncodingType>) {
        let element = match form {
            EntryForm::Contents => "Contents",
            EntryForm::Version => "Version",
        };
        w.start(element)
            .elem("Key", &encode_name(&self.key, encoding));
        if let EntryForm::Version = form {
            w.elem("VersionId", "null").boolean("IsLatest", true);
        }
        w.elem("LastModified", &iso8601_ms(self.last_modified_ms))
            .elem("ETag", &quote_etag(&self.etag))
            .value("Size", self.size);
        if let Some(owner) = &self.owner {
            owner.write(w, "Owner");
        }
        w.elem(
            "StorageClass",
            self.storage_class
                .as_deref()
                .unwrap_or(DEFAULT_STORAGE_CLASS),
        );
        w.end(element);
    }
}

/// What the three listing documents share: the request's scope, echoed, and one page
/// of entries. Each result adds its own markers; [`Listing::write`] writes the shared
/// elements around them in S3's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// `Name` (the bucket), `Prefix`, `Delimiter` (if given), `MaxKeys` and
    /// `EncodingType`.
    pub scope: ListScope,
    /// Whether more entries follow.
    pub is_truncated: bool,
    /// The objects (`Contents`, or `Version` in ListVersionsResult).
    pub objects: Vec<ObjectEntry>,
    /// The common prefixes (`CommonPrefixes/Prefix`).
    pub common_prefixes: Vec<String>,
}

/// How a document writes each object: its element, and whether it is a version.
#[derive(Clone, Copy)]
enum EntryForm {
    /// `Contents` (ListBucketResult).
    Contents,
    /// `Version`, with `VersionId` `null` and `IsLatest` true (ListVersionsResult).
    Version,
}

impl Listing {
    /// The document `root`: `Name` and `Prefix`, then what `markers` writes (the
    /// elements that differ per listing), then `MaxKeys`, `Delimiter`, `EncodingType`,
    /// `IsTruncated`, the objects and the common prefixes.
    fn write(
        &self,
        root: &str,
        form: EntryForm,
        markers: impl FnOnce(&mut XmlWriter, Option<EncodingType>),
    ) -> String {
        let enc = self.scope.encoding_type;
        let mut w = XmlWriter::new(root);
        w.elem("Name", &self.scope.bucket)
            .elem("Prefix", &encode_name(&self.scope.prefix, enc));
        markers(&mut w, enc);
        w.value("MaxKeys", self.scope.max_keys);
        if let Some(d) = &self.scope.delimiter {
            w.elem("Delimiter", &encode_name(d, enc));
        }
        if let Some(EncodingType::Url) = enc {
            w.elem("EncodingType", "url");
        }
        w.boolean("IsTruncated", self.is_truncated);
        for entry in &self.objects {
            entry.write(&mut w, form, enc);
        }
        for prefix in &self.common_prefixes {
            w.start("CommonPrefixes")
                .elem("Prefix", &encode_name(prefix, enc))
                .end("CommonPrefixes");
        }
        w.finish(root)
    }
}

/// The ListObjects (version 1) answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsV1Result {
    /// Scope and page.
    pub listing: Listing,
    /// `Marker`, echoed.
    pub marker: String,
    /// `NextMarker`: written only when the listing is truncated and a delimiter was
    /// given, as S3 does (without a delimiter, clients continue from the last key).
    pub next_marker: Option<String>,
}

impl ListObjectsV1Result {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        let listing = &self.listing;
        listing.write("ListBucketResult", EntryForm::Contents, |w, enc| {
            w.elem("Marker", &encode_name(&self.marker, enc));
            if listing.is_truncated
                && listing.scope.delimiter.is_some()
                && let Some(next) = &self.next_marker
            {
                w.elem("NextMarker", &encode_name(next, enc));
            }
        })
    }
}

/// The ListObjectsV2 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsV2Result {
    /// Scope and page. `KeyCount` is the number of objects plus common prefixes.
    pub listing: Listing,
    /// `ContinuationToken`, echoed if the request had one.
    pub continuation_token: Option<String>,
    /// `NextContinuationToken`, when truncated (opaque to the client).
    pub next_continuation_token: Option<String>,
    /// `StartAfter`, echoed if the request had one.
    pub start_after: Option<String>,
}

impl ListObjectsV2Result {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        let listing = &self.listing;
        listing.write("ListBucketResult", EntryForm::Contents, |w, enc| {
            if let Some(start_after) = &self.start_after {
                w.elem("StartAfter", &encode_name(start_after, enc));
            }
            w.opt("ContinuationToken", self.continuation_token.as_deref())
                .opt(
                    "NextContinuationToken",
                    self.next_continuation_token.as_deref(),
                )
                .value(
                    "KeyCount",
                    listing.objects.len() + listing.common_prefixes.len(),
                );
        })
    }
}

/// The ListObjectVersions answer for an unversioned bucket: every object is one
/// version, `VersionId` `null`, `IsLatest` true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListVersionsResult {
    /// Scope and page; the objects are written one version each.
    pub listing: Listing,
    /// `KeyMarker`, echoed.
    pub key_marker: String,
    /// `VersionIdMarker`, echoed (empty when absent).
    pub version_id_marker: String,
    /// `NextKeyMarker` when truncated (`NextVersionIdMarker` is then `null`).
    pub next_key_marker: Option<String>,
}

impl ListVersionsResult {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        self.listing
            .write("ListVersionsResult", EntryForm::Version, |w, enc| {
                w.elem("KeyMarker", &encode_name(&self.key_marker, enc))
                    .elem("VersionIdMarker", &self.version_id_marker);
                if let Some(next) = &self.next_key_marker {
                    w.elem("NextKeyMarker", &encode_name(next, enc))
                        .elem("NextVersionIdMarker", "null");
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

    fn scope(
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        max_keys: u32,
        encoding_type: Option<EncodingType>,
    ) -> ListScope {
        ListScope {
            bucket: bucket.into(),
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            max_keys,
            encoding_type,
        }
    }

    fn entry(key: &str) -> ObjectEntry {
        ObjectEntry {
            key: key.into(),
            last_modified_ms: 1_255_369_830_000,
            etag: "fba9dede5f27731c9771645a39863328".into(),
            size: 434_234,
            storage_class: None,
            owner: None,
        }
    }

    #[test]
    fn v2_golden() {
        let xml = ListObjectsV2Result {
            listing: Listing {
                scope: scope("bucket", "", None, 1000, None),
                is_truncated: false,
                objects: vec![entry("my-image.jpg")],
                common_prefixes: vec![],
            },
            continuation_token: None,
            next_continuation_token: None,
            start_after: None,
        }
        .to_xml();
        assert_eq!(
            xml,
            format!(
                "{HEAD}<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Name>bucket</Name><Prefix></Prefix><KeyCount>1</KeyCount>\
                 <MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>\
                 <Contents><Key>my-image.jpg</Key>\
                 <LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>\
                 <Size>434234</Size><StorageClass>STANDARD</StorageClass></Contents>\
                 </ListBucketResult>"
            )
        );
    }

    #[test]
    fn v2_echoes_tokens_counts_prefixes_and_url_encodes() {
        let xml = ListObjectsV2Result {
            listing: Listing {
                scope: scope("b", "a b/", Some("/"), 2, Some(EncodingType::Url)),
                is_truncated: true,
                objects: vec![entry("a b/1+1")],
                common_prefixes: vec!["a b/c&d/".into()],
            },
            continuation_token: Some("tok+/=".into()),
            next_continuation_token: Some("next".into()),
            start_after: Some("a b/0+".into()),
        }
        .to_xml();
        for part in [
            "<Prefix>a%20b/</Prefix>",
            "<StartAfter>a%20b/0%2B</StartAfter>",
            "<ContinuationToken>tok+/=</ContinuationToken>",
            "<NextContinuationToken>next</NextContinuationToken>",
            "<KeyCount>2</KeyCount>",
            "<MaxKeys>2</MaxKeys>",
            "<Delimiter>/</Delimiter>",
            "<EncodingType>url</EncodingType>",
            "<IsTruncated>true</IsTruncated>",
            "<Key>a%20b/1%2B1</Key>",
            "<CommonPrefixes><Prefix>a%20b/c%26d/</Prefix></CommonPrefixes>",
        ] {
            assert!(xml.contains(part), "{part} in {xml}");
        }
    }

    #[test]
    fn v1_next_marker_only_with_a_delimiter() {
        let mut result = ListObjectsV1Result {
            listing: Listing {
                scope: scope("b", "p", None, 1, None),
                is_truncated: true,
                objects: vec![ObjectEntry {
                    owner: Some(Owner {
                        id: "id".into(),
                        display_name: "me".into(),
                    }),
                    ..entry("p/x")
                }],
                common_prefixes: vec![],
            },
            marker: "m".into(),
            next_marker: Some("p/x".into()),
        };
        let xml = result.to_xml();
        assert!(!xml.contains("NextMarker"));
        assert!(xml.contains("<Marker>m</Marker>"));
        assert!(xml.contains("<Owner><ID>id</ID><DisplayName>me</DisplayName></Owner>"));
        result.listing.scope.delimiter = Some("/".into());
        let xml = result.to_xml();
        assert!(xml.contains("<NextMarker>p/x</NextMarker>"));
        assert!(xml.contains("<Delimiter>/</Delimiter>"));
        result.listing.is_truncated = false;
        assert!(!result.to_xml().contains("NextMarker"));
    }

    #[test]
    fn versions_are_null_and_latest() {
        let xml = ListVersionsResult {
            listing: Listing {
                scope: scope("b", "", None, 1000, Some(EncodingType::Url)),
                is_truncated: true,
                objects: vec![entry("k 1")],
                common_prefixes: vec![],
            },
            key_marker: String::new(),
            version_id_marker: String::new(),
            next_key_marker: Some("k 1".into()),
        }
        .to_xml();
        assert!(xml.starts_with(&format!(
            "{HEAD}<ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        )));
        assert!(xml.contains(
            "<Version><Key>k%201</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>"
        ));
        assert!(xml.contains("<NextKeyMarker>k%201</NextKeyMarker><NextVersionIdMarker>null"));
        assert!(xml.contains("<VersionIdMarker></VersionIdMarker>"));
    }

    #[test]
    fn keys_with_markup_are_escaped_without_encoding() {
        let mut e = entry("a<b>&\"c\u{1}");
        e.etag = "\"x-2\"".into();
        let xml = ListObjectsV2Result {
            listing: Listing {
                scope: scope("b", "", None, 1000, None),
                is_truncated: false,
                objects: vec![e],
                common_prefixes: vec![],
            },
            continuation_token: None,
            next_continuation_token: None,
            start_after: None,
        }
        .to_xml();
        assert!(xml.contains("<Key>a&lt;b&gt;&amp;&quot;c&#x1;</Key>"));
        assert!(xml.contains("<ETag>&quot;x-2&quot;</ETag>"));
        // The document reads back.
        let root = super::super::parse::parse(xml.as_bytes(), 1 << 16, 100).unwrap();
        let contents = root.child("Contents").unwrap();
        assert_eq!(contents.child_text("Key"), Some("a<b>&\"c\u{1}"));
        assert_eq!(contents.child_text("ETag"), Some("\"x-2\""));
    }
    fn owned(e: ObjectEntry) -> ObjectEntry {
        ObjectEntry {
            owner: Some(Owner {
                id: "id".into(),
                display_name: "me".into(),
            }),
            ..e
        }
    }

    // The three full-document goldens below pin every element and its order, so the
    // writers can share code without a byte of the wire output changing.

    #[test]
    fn v1_golden_with_every_element() {
        let xml = ListObjectsV1Result {
            listing: Listing {
                scope: scope("b", "a b/", Some("/"), 2, Some(EncodingType::Url)),
                is_truncated: true,
                objects: vec![ObjectEntry {
                    storage_class: Some("GLACIER".into()),
                    ..owned(entry("a b/1+1"))
                }],
                common_prefixes: vec!["a b/c&d/".into()],
            },
            marker: "a b/0".into(),
            next_marker: Some("a b/c&d/".into()),
        }
        .to_xml();
        assert_eq!(
            xml,
            format!(
                "{HEAD}<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Name>b</Name><Prefix>a%20b/</Prefix><Marker>a%20b/0</Marker>\
                 <NextMarker>a%20b/c%26d/</NextMarker><MaxKeys>2</MaxKeys>\
                 <Delimiter>/</Delimiter><EncodingType>url</EncodingType>\
                 <IsTruncated>true</IsTruncated>\
                 <Contents><Key>a%20b/1%2B1</Key>\
                 <LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>\
                 <Owner><ID>id</ID><DisplayName>me</DisplayName></Owner>\
                 <StorageClass>GLACIER</StorageClass></Contents>\
                 <CommonPrefixes><Prefix>a%20b/c%26d/</Prefix></CommonPrefixes>\
                 </ListBucketResult>"
            )
        );
    }

    #[test]
    fn v2_golden_with_every_element() {
        let xml = ListObjectsV2Result {
            listing: Listing {
                scope: scope("b", "a b/", Some("/"), 2, Some(EncodingType::Url)),
                is_truncated: true,
                objects: vec![owned(entry("a b/1+1"))],
                common_prefixes: vec!["a b/c&d/".into()],
            },
            continuation_token: Some("tok+/=".into()),
            next_continuation_token: Some("next".into()),
            start_after: Some("a b/0+".into()),
        }
        .to_xml();
        assert_eq!(
            xml,
            format!(
                "{HEAD}<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Name>b</Name><Prefix>a%20b/</Prefix><StartAfter>a%20b/0%2B</StartAfter>\
                 <ContinuationToken>tok+/=</ContinuationToken>\
                 <NextContinuationToken>next</NextContinuationToken>\
                 <KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter>\
                 <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\
                 <Contents><Key>a%20b/1%2B1</Key>\
                 <LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>\
                 <Owner><ID>id</ID><DisplayName>me</DisplayName></Owner>\
                 <StorageClass>STANDARD</StorageClass></Contents>\
                 <CommonPrefixes><Prefix>a%20b/c%26d/</Prefix></CommonPrefixes>\
                 </ListBucketResult>"
            )
        );
    }

    #[test]
    fn versions_golden_with_every_element() {
        let xml = ListVersionsResult {
            listing: Listing {
                scope: scope("b", "p/", Some("/"), 2, None),
                is_truncated: true,
                objects: vec![entry("p/1"), entry("p/2")],
                common_prefixes: vec!["p/q/".into()],
            },
            key_marker: "p/0".into(),
            version_id_marker: "v<1>".into(),
            next_key_marker: Some("p/q/".into()),
        }
        .to_xml();
        let version = |key: &str| {
            format!(
                "<Version><Key>{key}</Key><VersionId>null</VersionId>\
                 <IsLatest>true</IsLatest><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>\
                 <StorageClass>STANDARD</StorageClass></Version>"
            )
        };
        assert_eq!(
            xml,
            format!(
                "{HEAD}<ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Name>b</Name><Prefix>p/</Prefix><KeyMarker>p/0</KeyMarker>\
                 <VersionIdMarker>v&lt;1&gt;</VersionIdMarker>\
                 <NextKeyMarker>p/q/</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker>\
                 <MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>\
                 {}{}<CommonPrefixes><Prefix>p/q/</Prefix></CommonPrefixes>\
                 </ListVersionsResult>",
                version("p/1"),
                version("p/2")
            )
        );
    }
}
