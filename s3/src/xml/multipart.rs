//! Multipart documents: InitiateMultipartUploadResult, CompleteMultipartUploadResult,
//! ListPartsResult, ListMultipartUploadsResult, and the CompleteMultipartUpload
//! request body.

use super::bucket::Owner;
use super::list::DEFAULT_STORAGE_CLASS;
use super::parse::parse;
use super::time::iso8601_ms;
use super::write::{XmlWriter, encode_name, quote_etag};
use crate::checksum::ChecksumAlgorithm;
use crate::error::S3Error;
use crate::router::{EncodingType, MAX_PART_NUMBER};

/// The largest CompleteMultipartUpload body accepted: 10,000 parts with checksums.
pub const MAX_COMPLETE_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A checksum as S3 writes it in XML: the algorithm and the base64 value.
pub type ChecksumValue = (ChecksumAlgorithm, String);

/// The XML element of a checksum, e.g. `ChecksumCRC32C`.
fn checksum_element(algorithm: ChecksumAlgorithm) -> String {
    format!("Checksum{}", algorithm.as_str())
}

fn write_checksum(w: &mut XmlWriter, checksum: Option<&ChecksumValue>) {
    if let Some((algorithm, value)) = checksum {
        w.elem(&checksum_element(*algorithm), value);
    }
}

/// The CreateMultipartUpload answer.
pub fn initiate_multipart_upload_result(bucket: &str, key: &str, upload_id: &str) -> String {
    let mut w = XmlWriter::new("InitiateMultipartUploadResult");
    w.elem("Bucket", bucket)
        .elem("Key", key)
        .elem("UploadId", upload_id);
    w.finish("InitiateMultipartUploadResult")
}

/// The CompleteMultipartUpload answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteMultipartUploadResult {
    /// `Location`: the object's URL.
    pub location: String,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The multipart ETag (`md5-N`), quoted or not.
    pub etag: String,
    /// The object's checksum, if the upload had one.
    pub checksum: Option<ChecksumValue>,
}

impl CompleteMultipartUploadResult {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new("CompleteMultipartUploadResult");
        w.elem("Location", &self.location)
            .elem("Bucket", &self.bucket)
            .elem("Key", &self.key)
            .elem("ETag", &quote_etag(&self.etag));
        write_checksum(&mut w, self.checksum.as_ref());
        w.finish("CompleteMultipartUploadResult")
    }
}

/// One uploaded part in ListPartsResult.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    /// The part number.
    pub part_number: u32,
    /// Upload time, milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    /// The part's ETag, quoted or not.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// The part's checksum, if any.
    pub checksum: Option<ChecksumValue>,
}

/// The ListParts answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartsResult {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// Who started the upload (written as `Initiator` and `Owner`).
    pub owner: Owner,
    /// The storage class; `None` writes STANDARD.
    pub storage_class: Option<String>,
    /// `PartNumberMarker`, echoed.
    pub part_number_marker: u32,
    /// `NextPartNumberMarker`: the last part listed.
    pub next_part_number_marker: Option<u32>,
    /// `MaxParts`, the effective value.
    pub max_parts: u32,
    /// Whether more parts follow.
    pub is_truncated: bool,
    /// The upload's checksum algorithm, if any.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// The parts.
    pub parts: Vec<PartEntry>,
}

impl ListPartsResult {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new("ListPartsResult");
        w.elem("Bucket", &self.bucket)
            .elem("Key", &self.key)
            .elem("UploadId", &self.upload_id);
        self.owner.write(&mut w, "Initiator");
        self.owner.write(&mut w, "Owner");
        w.elem(
            "StorageClass",
            self.storage_class
                .as_deref()
                .unwrap_or(DEFAULT_STORAGE_CLASS),
        )
        .value("PartNumberMarker", self.part_number_marker);
        if let Some(next) = self.next_part_number_marker {
            w.value("NextPartNumberMarker", next);
        }
        w.value("MaxParts", self.max_parts)
            .boolean("IsTruncated", self.is_truncated);
        if let Some(algorithm) = self.checksum_algorithm {
            w.elem("ChecksumAlgorithm", algorithm.as_str());
        }
        for part in &self.parts {
            w.start("Part")
                .value("PartNumber", part.part_number)
                .elem("LastModified", &iso8601_ms(part.last_modified_ms))
                .elem("ETag", &quote_etag(&part.etag))
                .value("Size", part.size);
            write_checksum(&mut w, part.checksum.as_ref());
            w.end("Part");
        }
        w.finish("ListPartsResult")
    }
}

/// One upload in ListMultipartUploadsResult.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    /// The key.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// Who started it (written as `Initiator` and `Owner`).
    pub owner: Owner,
    /// Start time, milliseconds since the Unix epoch.
    pub initiated_ms: u64,
    /// The storage class; `None` writes STANDARD.
    pub storage_class: Option<String>,
}

/// The ListMultipartUploads answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMultipartUploadsResult {
    /// The bucket.
    pub bucket: String,
    /// `KeyMarker`, echoed.
    pub key_marker: String,
    /// `UploadIdMarker`, echoed (empty when absent).
    pub upload_id_marker: String,
    /// `NextKeyMarker`, when truncated.
    pub next_key_marker: Option<String>,
    /// `NextUploadIdMarker`, when truncated.
    pub next_upload_id_marker: Option<String>,
    /// `Prefix`, echoed.
    pub prefix: String,
    /// `Delimiter`, echoed if given.
    pub delimiter: Option<String>,
    /// `MaxUploads`, the effective value.
    pub max_uploads: u32,
    /// Whether more uploads follow.
    pub is_truncated: bool,
    /// The uploads.
    pub uploads: Vec<UploadEntry>,
    /// The common prefixes.
    pub common_prefixes: Vec<String>,
    /// `encoding-type` of the request.
    pub encoding_type: Option<EncodingType>,
}

impl ListMultipartUploadsResult {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        let enc = self.encoding_type;
        let mut w = XmlWriter::new("ListMultipartUploadsResult");
        w.elem("Bucket", &self.bucket)
            .elem("KeyMarker", &encode_name(&self.key_marker, enc))
            .elem("UploadIdMarker", &self.upload_id_marker);
        if let Some(next) = &self.next_key_marker {
            w.elem("NextKeyMarker", &encode_name(next, enc));
        }
        w.opt("NextUploadIdMarker", self.next_upload_id_marker.as_deref())
            .elem("Prefix", &encode_name(&self.prefix, enc));
        if let Some(d) = &self.delimiter {
            w.elem("Delimiter", &encode_name(d, enc));
        }
        w.value("MaxUploads", self.max_uploads);
        if let Some(EncodingType::Url) = enc {
            w.elem("EncodingType", "url");
        }
        w.boolean("IsTruncated", self.is_truncated);
        for upload in &self.uploads {
            w.start("Upload")
                .elem("Key", &encode_name(&upload.key, enc))
                .elem("UploadId", &upload.upload_id);
            upload.owner.write(&mut w, "Initiator");
            upload.owner.write(&mut w, "Owner");
            w.elem(
                "StorageClass",
                upload
                    .storage_class
                    .as_deref()
                    .unwrap_or(DEFAULT_STORAGE_CLASS),
            )
            .elem("Initiated", &iso8601_ms(upload.initiated_ms))
            .end("Upload");
        }
        for prefix in &self.common_prefixes {
            w.start("CommonPrefixes")
                .elem("Prefix", &encode_name(prefix, enc))
                .end("CommonPrefixes");
        }
        w.finish("ListMultipartUploadsResult")
    }
}

/// One part named in a CompleteMultipartUpload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// The part number, 1..=10000.
    pub part_number: u32,
    /// The ETag the client expects, without quotes.
    pub etag: String,
    /// A `Checksum*` element the client sent for the part, if any.
    pub checksum: Option<ChecksumValue>,
}

/// Parses a CompleteMultipartUpload body. The parts must be in strictly ascending
/// part-number order ([`S3Error::InvalidPartOrder`]); a missing or non-numeric
/// `PartNumber` or `ETag`, a part number outside 1..=10000, or no part at all is
/// [`S3Error::MalformedXML`] ([`S3Error::InvalidArgument`] for the range). ETags may
/// come quoted or not.
pub fn parse_complete_multipart_upload(body: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    // Part, PartNumber, ETag and one checksum per part, plus the root.
    let max_elements = 4 * MAX_PART_NUMBER as usize + 1;
    let root = parse(body, MAX_COMPLETE_BODY_BYTES, max_elements)?;
    if root.name != "CompleteMultipartUpload" {
        return Err(S3Error::MalformedXML);
    }
    let mut parts: Vec<CompletedPart> = Vec::new();
    for part in root.all("Part") {
        let number = part
            .child_text("PartNumber")
            .map(str::trim)
            .ok_or(S3Error::MalformedXML)?;
        let part_number: u32 = number.parse().map_err(|_| S3Error::MalformedXML)?;
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            ));
        }
        let etag = part
            .child_text("ETag")
            .map(|e| e.trim().trim_matches('"').to_owned())
            .filter(|e| !e.is_empty())
            .ok_or(S3Error::MalformedXML)?;
        let mut checksum = None;
        for algorithm in ChecksumAlgorithm::ALL {
            if let Some(value) = part.child_text(&checksum_element(algorithm)) {
                if checksum.is_some() {
                    return Err(S3Error::invalid_request(
                        "Expecting a single checksum per part",
                    ));
                }
                checksum = Some((algorithm, value.trim().to_owned()));
            }
        }
        if parts
            .last()
            .is_some_and(|prev| prev.part_number >= part_number)
        {
            return Err(S3Error::InvalidPartOrder);
        }
        parts.push(CompletedPart {
            part_number,
            etag,
            checksum,
        });
    }
    if parts.is_empty() {
        return Err(S3Error::MalformedXML);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

    fn owner() -> Owner {
        Owner {
            id: "abc".into(),
            display_name: "me".into(),
        }
    }

    #[test]
    fn initiate_golden() {
        assert_eq!(
            initiate_multipart_upload_result("example-bucket", "example-object", "VXBsb2Fk"),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult {NS}>\
                 <Bucket>example-bucket</Bucket><Key>example-object</Key>\
                 <UploadId>VXBsb2Fk</UploadId></InitiateMultipartUploadResult>"
            )
        );
    }

    #[test]
    fn complete_result_golden() {
        let xml = CompleteMultipartUploadResult {
            location: "http://example-bucket.s3.amazonaws.com/Example-Object".into(),
            bucket: "example-bucket".into(),
            key: "Example-Object".into(),
            etag: "3858f62230ac3c915f300c664312c11f-9".into(),
            checksum: Some((ChecksumAlgorithm::Crc32c, "AAAAAA==".into())),
        }
        .to_xml();
        assert_eq!(
            xml,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult {NS}>\
                 <Location>http://example-bucket.s3.amazonaws.com/Example-Object</Location>\
                 <Bucket>example-bucket</Bucket><Key>Example-Object</Key>\
                 <ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>\
                 <ChecksumCRC32C>AAAAAA==</ChecksumCRC32C></CompleteMultipartUploadResult>"
            )
        );
    }

    #[test]
    fn list_parts_writes_parts_and_markers() {
        let xml = ListPartsResult {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
            owner: owner(),
            storage_class: None,
            part_number_marker: 1,
            next_part_number_marker: Some(3),
            max_parts: 2,
            is_truncated: true,
            checksum_algorithm: Some(ChecksumAlgorithm::Sha256),
            parts: vec![PartEntry {
                part_number: 2,
                last_modified_ms: 1_291_921_290_000,
                etag: "7778aef83f66abc1fa1e8477f296d394".into(),
                size: 10_485_760,
                checksum: None,
            }],
        }
        .to_xml();
        for part in [
            "<Initiator><ID>abc</ID><DisplayName>me</DisplayName></Initiator>",
            "<StorageClass>STANDARD</StorageClass><PartNumberMarker>1</PartNumberMarker>",
            "<NextPartNumberMarker>3</NextPartNumberMarker><MaxParts>2</MaxParts>",
            "<IsTruncated>true</IsTruncated><ChecksumAlgorithm>SHA256</ChecksumAlgorithm>",
            "<Part><PartNumber>2</PartNumber><LastModified>2010-12-09T19:01:30.000Z</LastModified>\
             <ETag>&quot;7778aef83f66abc1fa1e8477f296d394&quot;</ETag><Size>10485760</Size></Part>",
        ] {
            assert!(xml.contains(part), "{part} in {xml}");
        }
    }

    #[test]
    fn list_uploads_writes_uploads_and_encodes() {
        let xml = ListMultipartUploadsResult {
            bucket: "b".into(),
            key_marker: String::new(),
            upload_id_marker: String::new(),
            next_key_marker: Some("my movie.m2ts".into()),
            next_upload_id_marker: Some("YW55IGlk".into()),
            prefix: String::new(),
            delimiter: None,
            max_uploads: 3,
            is_truncated: true,
            uploads: vec![UploadEntry {
                key: "my movie.m2ts".into(),
                upload_id: "YW55IGlk".into(),
                owner: owner(),
                initiated_ms: 1_291_921_290_000,
                storage_class: None,
            }],
            common_prefixes: vec!["photos/".into()],
            encoding_type: Some(EncodingType::Url),
        }
        .to_xml();
        for part in [
            "<NextKeyMarker>my%20movie.m2ts</NextKeyMarker>",
            "<NextUploadIdMarker>YW55IGlk</NextUploadIdMarker>",
            "<MaxUploads>3</MaxUploads><EncodingType>url</EncodingType>",
            "<Upload><Key>my%20movie.m2ts</Key><UploadId>YW55IGlk</UploadId>",
            "<Initiated>2010-12-09T19:01:30.000Z</Initiated></Upload>",
            "<CommonPrefixes><Prefix>photos/</Prefix></CommonPrefixes>",
        ] {
            assert!(xml.contains(part), "{part} in {xml}");
        }
    }

    #[test]
    fn parses_the_aws_example() {
        let body = br#"<CompleteMultipartUpload>
              <Part>
                <PartNumber>1</PartNumber>
                <ETag>"a54357aff0632cce46d942af68356b38"</ETag>
              </Part>
              <Part>
                <PartNumber>2</PartNumber>
                <ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag>
                <ChecksumCRC32>AAAAAA==</ChecksumCRC32>
              </Part>
              <Part>
                <PartNumber>3</PartNumber>
                <ETag>acbd18db4cc2f85cedef654fccc4a4d8</ETag>
              </Part>
            </CompleteMultipartUpload>"#;
        let parts = parse_complete_multipart_upload(body).unwrap();
        assert_eq!(
            parts,
            vec![
                CompletedPart {
                    part_number: 1,
                    etag: "a54357aff0632cce46d942af68356b38".into(),
                    checksum: None
                },
                CompletedPart {
                    part_number: 2,
                    etag: "0c78aef83f66abc1fa1e8477f296d394".into(),
                    checksum: Some((ChecksumAlgorithm::Crc32, "AAAAAA==".into()))
                },
                CompletedPart {
                    part_number: 3,
                    etag: "acbd18db4cc2f85cedef654fccc4a4d8".into(),
                    checksum: None
                },
            ]
        );
    }

    #[test]
    fn accepts_the_namespace() {
        let body = format!(
            "<CompleteMultipartUpload {NS}><Part><ETag>e</ETag><PartNumber>7</PartNumber>\
             </Part></CompleteMultipartUpload>"
        );
        let parts = parse_complete_multipart_upload(body.as_bytes()).unwrap();
        assert_eq!(parts[0].part_number, 7);
    }

    #[test]
    fn rejects_bad_bodies() {
        let doc =
            |parts: &str| format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
        let part = |n: &str| format!("<Part><PartNumber>{n}</PartNumber><ETag>e</ETag></Part>");
        for (body, code) in [
            (doc(""), "MalformedXML"),
            ("<Other/>".to_owned(), "MalformedXML"),
            (doc("<Part><ETag>e</ETag></Part>"), "MalformedXML"),
            (
                doc("<Part><PartNumber>1</PartNumber></Part>"),
                "MalformedXML",
            ),
            (doc(&part("x")), "MalformedXML"),
            (doc(&part("0")), "InvalidArgument"),
            (doc(&part("10001")), "InvalidArgument"),
            (doc(&(part("2") + &part("1"))), "InvalidPartOrder"),
            (doc(&(part("1") + &part("1"))), "InvalidPartOrder"),
            (
                doc("<Part><PartNumber>1</PartNumber><ETag>e</ETag>\
                     <ChecksumCRC32>a</ChecksumCRC32><ChecksumSHA1>b</ChecksumSHA1></Part>"),
                "InvalidRequest",
            ),
        ] {
            assert_eq!(
                parse_complete_multipart_upload(body.as_bytes()).map_err(|e| e.code()),
                Err(code),
                "{body}"
            );
        }
        let huge = vec![b' '; MAX_COMPLETE_BODY_BYTES + 1];
        assert_eq!(
            parse_complete_multipart_upload(&huge),
            Err(S3Error::MaxMessageLengthExceeded)
        );
    }

    #[test]
    fn round_trips_ten_thousand_parts() {
        let mut body = String::from("<CompleteMultipartUpload>");
        for n in 1..=MAX_PART_NUMBER {
            body.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>\"{n:032x}\"</ETag>\
                 <ChecksumCRC32C>AAAAAA==</ChecksumCRC32C></Part>"
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let parts = parse_complete_multipart_upload(body.as_bytes()).unwrap();
        assert_eq!(parts.len(), 10_000);
        assert_eq!(parts[9_999].etag, format!("{:032x}", 10_000));
    }
}
