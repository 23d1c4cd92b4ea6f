//! Listing documents: ListBucketResult (ListObjects v1 and v2) and
//! ListVersionsResult.
//!
//! With `encoding-type=url`, every key-like text (Key, Prefix, Delimiter, Marker,
//! NextMarker, StartAfter, KeyMarker, NextKeyMarker, CommonPrefixes) is URL-encoded
//! and `EncodingType` is echoed. ETags are written quoted, times as ISO 8601 with
//! milliseconds.

use super::bucket::Owner;
use super::time::iso8601_ms;
use super::write::{XmlWriter, encode_name, quote_etag};
use crate::router::EncodingType;

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
    fn write(
        &self,
        w: &mut XmlWriter,
        element: &str,
        encoding: Option<EncodingType>,
        version: bool,
    ) {
        w.start(element)
            .elem("Key", &encode_name(&self.key, encoding));
        if version {
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

fn write_common_prefixes(w: &mut XmlWriter, prefixes: &[String], encoding: Option<EncodingType>) {
    for prefix in prefixes {
        w.start("CommonPrefixes")
            .elem("Prefix", &encode_name(prefix, encoding))
            .end("CommonPrefixes");
    }
}

fn write_encoding(w: &mut XmlWriter, encoding: Option<EncodingType>) {
    if let Some(EncodingType::Url) = encoding {
        w.elem("EncodingType", "url");
    }
}

/// The ListObjects (version 1) answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsV1Result {
    /// The bucket (`Name`).
    pub bucket: String,
    /// `Prefix`, echoed.
    pub prefix: String,
    /// `Marker`, echoed.
    pub marker: String,
    /// `Delimiter`, echoed if given.
    pub delimiter: Option<String>,
    /// `MaxKeys`, the effective value.
    pub max_keys: u32,
    /// Whether more entries follow.
    pub is_truncated: bool,
    /// `NextMarker`: written only when the listing is truncated and a delimiter was
    /// given, as S3 does (without a delimiter, clients continue from the last key).
    pub next_marker: Option<String>,
    /// The objects.
    pub contents: Vec<ObjectEntry>,
    /// The common prefixes (`CommonPrefixes/Prefix`).
    pub common_prefixes: Vec<String>,
    /// `encoding-type` of the request.
    pub encoding_type: Option<EncodingType>,
}

impl ListObjectsV1Result {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        let enc = self.encoding_type;
        let mut w = XmlWriter::new("ListBucketResult");
        w.elem("Name", &self.bucket)
            .elem("Prefix", &encode_name(&self.prefix, enc))
            .elem("Marker", &encode_name(&self.marker, enc));
        if self.is_truncated
            && self.delimiter.is_some()
            && let Some(next) = &self.next_marker
        {
            w.elem("NextMarker", &encode_name(next, enc));
        }
        w.value("MaxKeys", self.max_keys);
        if let Some(d) = &self.delimiter {
            w.elem("Delimiter", &encode_name(d, enc));
        }
        write_encoding(&mut w, enc);
        w.boolean("IsTruncated", self.is_truncated);
        for entry in &self.contents {
            entry.write(&mut w, "Contents", enc, false);
        }
        write_common_prefixes(&mut w, &self.common_prefixes, enc);
        w.finish("ListBucketResult")
    }
}

/// The ListObjectsV2 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsV2Result {
    /// The bucket (`Name`).
    pub bucket: String,
    /// `Prefix`, echoed.
    pub prefix: String,
    /// `Delimiter`, echoed if given.
    pub delimiter: Option<String>,
    /// `MaxKeys`, the effective value.
    pub max_keys: u32,
    /// `ContinuationToken`, echoed if the request had one.
    pub continuation_token: Option<String>,
    /// `NextContinuationToken`, when truncated (opaque to the client).
    pub next_continuation_token: Option<String>,
    /// `StartAfter`, echoed if the request had one.
    pub start_after: Option<String>,
    /// Whether more entries follow.
    pub is_truncated: bool,
    /// The objects. `KeyCount` is their number plus the common prefixes'.
    pub contents: Vec<ObjectEntry>,
    /// The common prefixes.
    pub common_prefixes: Vec<String>,
    /// `encoding-type` of the request.
    pub encoding_type: Option<EncodingType>,
}

impl ListObjectsV2Result {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        let enc = self.encoding_type;
        let mut w = XmlWriter::new("ListBucketResult");
        w.elem("Name", &self.bucket)
            .elem("Prefix", &encode_name(&self.prefix, enc));
        if let Some(start_after) = &self.start_after {
            w.elem("StartAfter", &encode_name(start_after, enc));
        }
        w.opt("ContinuationToken", self.continuation_token.as_deref())
            .opt(
                "NextContinuationToken",
                self.next_continuation_token.as_deref(),
            )
            .value("KeyCount", self.contents.len() + self.common_prefixes.len())
            .value("MaxKeys", self.max_keys);
        if let Some(d) = &self.delimiter {
            w.elem("Delimiter", &encode_name(d, enc));
        }
        write_encoding(&mut w, enc);
        w.boolean("IsTruncated", self.is_truncated);
        for entry in &self.contents {
            entry.write(&mut w, "Contents", enc, false);
        }
        write_common_prefixes(&mut w, &self.common_prefixes, enc);
        w.finish("ListBucketResult")
    }
}

/// The ListObjectVersions answer for an unversioned bucket: every object is one
/// version, `VersionId` `null`, `IsLatest` true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListVersionsResult {
    /// The bucket (`Name`).
    pub bucket: String,
    /// `Prefix`, echoed.
    pub prefix: String,
    /// `KeyMarker`, echoed.
    pub key_marker: String,
    /// `VersionIdMarker`, echoed (empty when absent).
    pub version_id_marker: String,
    /// `Delimiter`, echoed if given.
    pub delimiter: Option<String>,
    /// `MaxKeys`, the effective value.
    pub max_keys: u32,
    /// Whether more entries follow.
    pub is_truncated: bool,
    /// `NextKeyMarker` when truncated (`NextVersionIdMarker` is then `null`).
    pub next_key_marker: Option<String>,
    /// The objects, one version each.
    pub versions: Vec<ObjectEntry>,
    /// The common prefixes.
    pub common_prefixes: Vec<String>,
    /// `encoding-type` of the request.
    pub encoding_type: Option<EncodingType>,
}

impl ListVersionsResult {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        let enc = self.encoding_type;
        let mut w = XmlWriter::new("ListVersionsResult");
        w.elem("Name", &self.bucket)
            .elem("Prefix", &encode_name(&self.prefix, enc))
            .elem("KeyMarker", &encode_name(&self.key_marker, enc))
            .elem("VersionIdMarker", &self.version_id_marker);
        if let Some(next) = &self.next_key_marker {
            w.elem("NextKeyMarker", &encode_name(next, enc))
                .elem("NextVersionIdMarker", "null");
        }
        w.value("MaxKeys", self.max_keys);
        if let Some(d) = &self.delimiter {
            w.elem("Delimiter", &encode_name(d, enc));
        }
        write_encoding(&mut w, enc);
        w.boolean("IsTruncated", self.is_truncated);
        for entry in &self.versions {
            entry.write(&mut w, "Version", enc, true);
        }
        write_common_prefixes(&mut w, &self.common_prefixes, enc);
        w.finish("ListVersionsResult")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

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
            bucket: "bucket".into(),
            prefix: String::new(),
            delimiter: None,
            max_keys: 1000,
            continuation_token: None,
            next_continuation_token: None,
            start_after: None,
            is_truncated: false,
            contents: vec![entry("my-image.jpg")],
            common_prefixes: vec![],
            encoding_type: None,
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
            bucket: "b".into(),
            prefix: "a b/".into(),
            delimiter: Some("/".into()),
            max_keys: 2,
            continuation_token: Some("tok+/=".into()),
            next_continuation_token: Some("next".into()),
            start_after: Some("a b/0+".into()),
            is_truncated: true,
            contents: vec![entry("a b/1+1")],
            common_prefixes: vec!["a b/c&d/".into()],
            encoding_type: Some(EncodingType::Url),
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
            bucket: "b".into(),
            prefix: "p".into(),
            marker: "m".into(),
            delimiter: None,
            max_keys: 1,
            is_truncated: true,
            next_marker: Some("p/x".into()),
            contents: vec![ObjectEntry {
                owner: Some(Owner {
                    id: "id".into(),
                    display_name: "me".into(),
                }),
                ..entry("p/x")
            }],
            common_prefixes: vec![],
            encoding_type: None,
        };
        let xml = result.to_xml();
        assert!(!xml.contains("NextMarker"));
        assert!(xml.contains("<Marker>m</Marker>"));
        assert!(xml.contains("<Owner><ID>id</ID><DisplayName>me</DisplayName></Owner>"));
        result.delimiter = Some("/".into());
        let xml = result.to_xml();
        assert!(xml.contains("<NextMarker>p/x</NextMarker>"));
        assert!(xml.contains("<Delimiter>/</Delimiter>"));
        result.is_truncated = false;
        assert!(!result.to_xml().contains("NextMarker"));
    }

    #[test]
    fn versions_are_null_and_latest() {
        let xml = ListVersionsResult {
            bucket: "b".into(),
            prefix: String::new(),
            key_marker: String::new(),
            version_id_marker: String::new(),
            delimiter: None,
            max_keys: 1000,
            is_truncated: true,
            next_key_marker: Some("k 1".into()),
            versions: vec![entry("k 1")],
            common_prefixes: vec![],
            encoding_type: Some(EncodingType::Url),
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
            bucket: "b".into(),
            prefix: String::new(),
            delimiter: None,
            max_keys: 1000,
            continuation_token: None,
            next_continuation_token: None,
            start_after: None,
            is_truncated: false,
            contents: vec![e],
            common_prefixes: vec![],
            encoding_type: None,
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
            bucket: "b".into(),
            prefix: "a b/".into(),
            marker: "a b/0".into(),
            delimiter: Some("/".into()),
            max_keys: 2,
            is_truncated: true,
            next_marker: Some("a b/c&d/".into()),
            contents: vec![ObjectEntry {
                storage_class: Some("GLACIER".into()),
                ..owned(entry("a b/1+1"))
            }],
            common_prefixes: vec!["a b/c&d/".into()],
            encoding_type: Some(EncodingType::Url),
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
            bucket: "b".into(),
            prefix: "a b/".into(),
            delimiter: Some("/".into()),
            max_keys: 2,
            continuation_token: Some("tok+/=".into()),
            next_continuation_token: Some("next".into()),
            start_after: Some("a b/0+".into()),
            is_truncated: true,
            contents: vec![owned(entry("a b/1+1"))],
            common_prefixes: vec!["a b/c&d/".into()],
            encoding_type: Some(EncodingType::Url),
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
            bucket: "b".into(),
            prefix: "p/".into(),
            key_marker: "p/0".into(),
            version_id_marker: "v<1>".into(),
            delimiter: Some("/".into()),
            max_keys: 2,
            is_truncated: true,
            next_key_marker: Some("p/q/".into()),
            versions: vec![entry("p/1"), entry("p/2")],
            common_prefixes: vec!["p/q/".into()],
            encoding_type: None,
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
