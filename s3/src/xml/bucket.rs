//! Bucket documents: ListAllMyBucketsResult, LocationConstraint,
//! VersioningConfiguration, AccessControlPolicy, and the CreateBucketConfiguration
//! request body.

use super::parse::parse;
use super::time::iso8601_ms;
use super::write::XmlWriter;
use crate::error::S3Error;

/// The largest CreateBucketConfiguration body accepted.
pub const MAX_CREATE_BUCKET_BODY_BYTES: usize = 64 * 1024;

/// A bucket or object owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The canonical id.
    pub id: String,
    /// The display name.
    pub display_name: String,
}

impl Owner {
    /// `<Owner><ID/><DisplayName/></Owner>` (or another element name).
    pub(crate) fn write(&self, w: &mut XmlWriter, element: &str) {
        w.start(element)
            .elem("ID", &self.id)
            .elem("DisplayName", &self.display_name)
            .end(element);
    }
}

/// One bucket in ListAllMyBucketsResult.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEntry {
    /// The bucket name.
    pub name: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub creation_date_ms: u64,
    /// The bucket's region (`BucketRegion`), if the gateway reports it.
    pub region: Option<String>,
}

/// The ListBuckets answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAllMyBucketsResult {
    /// The caller.
    pub owner: Owner,
    /// The buckets, in name order.
    pub buckets: Vec<BucketEntry>,
    /// `Prefix`, echoed if the request had one.
    pub prefix: Option<String>,
    /// `ContinuationToken` for the next page, if truncated.
    pub continuation_token: Option<String>,
}

impl ListAllMyBucketsResult {
    /// The XML document.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new("ListAllMyBucketsResult");
        self.owner.write(&mut w, "Owner");
        w.start("Buckets");
        for b in &self.buckets {
            w.start("Bucket")
                .elem("Name", &b.name)
                .elem("CreationDate", &iso8601_ms(b.creation_date_ms))
                .opt("BucketRegion", b.region.as_deref())
                .end("Bucket");
        }
        w.end("Buckets");
        w.opt("Prefix", self.prefix.as_deref());
        w.opt("ContinuationToken", self.continuation_token.as_deref());
        w.finish("ListAllMyBucketsResult")
    }
}

/// The GetBucketLocation answer. S3 writes an empty element for `us-east-1`, and
/// clients read an empty constraint as `us-east-1`.
pub fn location_constraint(region: &str) -> String {
    let mut w = XmlWriter::new("LocationConstraint");
    if region != "us-east-1" {
        w.elem_text(region);
    }
    w.finish("LocationConstraint")
}

/// The GetBucketVersioning answer for a bucket where versioning was never enabled:
/// an empty VersioningConfiguration (no `Status`).
pub fn versioning_configuration() -> String {
    XmlWriter::new("VersioningConfiguration").finish("VersioningConfiguration")
}

/// The GetObjectTagging answer: an empty TagSet, since folio stores no tags.
pub fn empty_tagging() -> String {
    let mut w = XmlWriter::new("Tagging");
    w.start("TagSet").end("TagSet");
    w.finish("Tagging")
}

/// The GetBucketAcl / GetObjectAcl answer for folio's only ACL: the owner has
/// FULL_CONTROL.
pub fn access_control_policy(owner: &Owner) -> String {
    let mut w = XmlWriter::new("AccessControlPolicy");
    owner.write(&mut w, "Owner");
    w.start("AccessControlList").start("Grant");
    w.raw(
        r#"<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">"#,
    );
    w.elem("ID", &owner.id)
        .elem("DisplayName", &owner.display_name)
        .end("Grantee")
        .elem("Permission", "FULL_CONTROL")
        .end("Grant")
        .end("AccessControlList");
    w.finish("AccessControlPolicy")
}

/// Parses a CreateBucket body: `None` for an empty body or one without a
/// `LocationConstraint`, else the constraint (trimmed).
pub fn parse_create_bucket_configuration(body: &[u8]) -> Result<Option<String>, S3Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let root = parse(body, MAX_CREATE_BUCKET_BODY_BYTES, 64)?;
    if root.name != "CreateBucketConfiguration" {
        return Err(S3Error::MalformedXML);
    }
    Ok(root
        .child_text("LocationConstraint")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            id: "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a".into(),
            display_name: "webfile".into(),
        }
    }

    #[test]
    fn list_all_my_buckets_golden() {
        let xml = ListAllMyBucketsResult {
            owner: owner(),
            buckets: vec![
                BucketEntry {
                    name: "quotes".into(),
                    creation_date_ms: 1_172_586_102_000,
                    region: None,
                },
                BucketEntry {
                    name: "samples".into(),
                    creation_date_ms: 1_172_586_102_123,
                    region: Some("us-east-1".into()),
                },
            ],
            prefix: None,
            continuation_token: None,
        }
        .to_xml();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\
             <DisplayName>webfile</DisplayName></Owner><Buckets>\
             <Bucket><Name>quotes</Name><CreationDate>2007-02-27T14:21:42.000Z</CreationDate></Bucket>\
             <Bucket><Name>samples</Name><CreationDate>2007-02-27T14:21:42.123Z</CreationDate>\
             <BucketRegion>us-east-1</BucketRegion></Bucket>\
             </Buckets></ListAllMyBucketsResult>"
        );
    }

    #[test]
    fn location_constraint_is_empty_for_us_east_1() {
        assert_eq!(
            location_constraint("us-east-1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             </LocationConstraint>"
        );
        assert!(location_constraint("eu-west-1").contains(">eu-west-1</LocationConstraint>"));
    }

    #[test]
    fn versioning_configuration_has_no_status() {
        assert_eq!(
            versioning_configuration(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             </VersioningConfiguration>"
        );
    }

    #[test]
    fn empty_tagging_has_an_empty_tag_set() {
        assert_eq!(
            empty_tagging(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <TagSet></TagSet></Tagging>"
        );
    }

    #[test]
    fn access_control_policy_grants_the_owner_full_control() {
        let xml = access_control_policy(&owner());
        assert!(xml.contains("xsi:type=\"CanonicalUser\"><ID>75aa57f0"));
        assert!(xml.contains("<Permission>FULL_CONTROL</Permission></Grant>"));
        assert!(super::super::parse::parse(xml.as_bytes(), 1 << 16, 100).is_ok());
    }

    #[test]
    fn create_bucket_configuration() {
        let body = br#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <LocationConstraint>eu-west-1</LocationConstraint>
            </CreateBucketConfiguration>"#;
        assert_eq!(
            parse_create_bucket_configuration(body),
            Ok(Some("eu-west-1".into()))
        );
        assert_eq!(parse_create_bucket_configuration(b""), Ok(None));
        assert_eq!(parse_create_bucket_configuration(b"  \n"), Ok(None));
        assert_eq!(
            parse_create_bucket_configuration(b"<CreateBucketConfiguration/>"),
            Ok(None)
        );
        assert_eq!(
            parse_create_bucket_configuration(b"<Other/>"),
            Err(S3Error::MalformedXML)
        );
        assert_eq!(
            parse_create_bucket_configuration(b"<CreateBucketConfiguration>"),
            Err(S3Error::MalformedXML)
        );
    }
}
