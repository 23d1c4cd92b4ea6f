//! Sub-resources folio does not implement, and the AWS operation each method names.

use http::Method;

/// For one sub-resource: the operation of GET, PUT, DELETE and POST on it.
struct Unsupported {
    name: &'static str,
    get: Option<&'static str>,
    put: Option<&'static str>,
    delete: Option<&'static str>,
    post: Option<&'static str>,
}

const fn sub(
    name: &'static str,
    get: Option<&'static str>,
    put: Option<&'static str>,
    delete: Option<&'static str>,
    post: Option<&'static str>,
) -> Unsupported {
    Unsupported {
        name,
        get,
        put,
        delete,
        post,
    }
}

/// Bucket sub-resources. `acl` (GET) and `versioning` (GET) are routed to
/// implemented operations before this table is consulted.
const BUCKET: &[Unsupported] = &[
    sub(
        "acl",
        Some("GetBucketAcl"),
        Some("PutBucketAcl"),
        None,
        None,
    ),
    sub(
        "versioning",
        Some("GetBucketVersioning"),
        Some("PutBucketVersioning"),
        None,
        None,
    ),
    sub(
        "policy",
        Some("GetBucketPolicy"),
        Some("PutBucketPolicy"),
        Some("DeleteBucketPolicy"),
        None,
    ),
    sub(
        "policyStatus",
        Some("GetBucketPolicyStatus"),
        None,
        None,
        None,
    ),
    sub(
        "cors",
        Some("GetBucketCors"),
        Some("PutBucketCors"),
        Some("DeleteBucketCors"),
        None,
    ),
    sub(
        "lifecycle",
        Some("GetBucketLifecycleConfiguration"),
        Some("PutBucketLifecycleConfiguration"),
        Some("DeleteBucketLifecycle"),
        None,
    ),
    sub(
        "tagging",
        Some("GetBucketTagging"),
        Some("PutBucketTagging"),
        Some("DeleteBucketTagging"),
        None,
    ),
    sub(
        "website",
        Some("GetBucketWebsite"),
        Some("PutBucketWebsite"),
        Some("DeleteBucketWebsite"),
        None,
    ),
    sub(
        "encryption",
        Some("GetBucketEncryption"),
        Some("PutBucketEncryption"),
        Some("DeleteBucketEncryption"),
        None,
    ),
    sub(
        "object-lock",
        Some("GetObjectLockConfiguration"),
        Some("PutObjectLockConfiguration"),
        None,
        None,
    ),
    sub(
        "replication",
        Some("GetBucketReplication"),
        Some("PutBucketReplication"),
        Some("DeleteBucketReplication"),
        None,
    ),
    sub(
        "logging",
        Some("GetBucketLogging"),
        Some("PutBucketLogging"),
        None,
        None,
    ),
    sub(
        "notification",
        Some("GetBucketNotificationConfiguration"),
        Some("PutBucketNotificationConfiguration"),
        None,
        None,
    ),
    sub(
        "accelerate",
        Some("GetBucketAccelerateConfiguration"),
        Some("PutBucketAccelerateConfiguration"),
        None,
        None,
    ),
    sub(
        "requestPayment",
        Some("GetBucketRequestPayment"),
        Some("PutBucketRequestPayment"),
        None,
        None,
    ),
    sub(
        "ownershipControls",
        Some("GetBucketOwnershipControls"),
        Some("PutBucketOwnershipControls"),
        Some("DeleteBucketOwnershipControls"),
        None,
    ),
    sub(
        "publicAccessBlock",
        Some("GetPublicAccessBlock"),
        Some("PutPublicAccessBlock"),
        Some("DeletePublicAccessBlock"),
        None,
    ),
    sub(
        "intelligent-tiering",
        Some("GetBucketIntelligentTieringConfiguration"),
        Some("PutBucketIntelligentTieringConfiguration"),
        Some("DeleteBucketIntelligentTieringConfiguration"),
        None,
    ),
    sub(
        "inventory",
        Some("GetBucketInventoryConfiguration"),
        Some("PutBucketInventoryConfiguration"),
        Some("DeleteBucketInventoryConfiguration"),
        None,
    ),
    sub(
        "metrics",
        Some("GetBucketMetricsConfiguration"),
        Some("PutBucketMetricsConfiguration"),
        Some("DeleteBucketMetricsConfiguration"),
        None,
    ),
    sub(
        "analytics",
        Some("GetBucketAnalyticsConfiguration"),
        Some("PutBucketAnalyticsConfiguration"),
        Some("DeleteBucketAnalyticsConfiguration"),
        None,
    ),
    sub("session", Some("CreateSession"), None, None, None),
    sub(
        "metadataTable",
        Some("GetBucketMetadataTableConfiguration"),
        None,
        Some("DeleteBucketMetadataTableConfiguration"),
        Some("CreateBucketMetadataTableConfiguration"),
    ),
];

/// Object sub-resources. `acl` (GET), `tagging` (GET), `uploads` and `uploadId` are routed to
/// implemented operations before this table is consulted.
const OBJECT: &[Unsupported] = &[
    sub(
        "acl",
        Some("GetObjectAcl"),
        Some("PutObjectAcl"),
        None,
        None,
    ),
    sub(
        "tagging",
        Some("GetObjectTagging"),
        Some("PutObjectTagging"),
        Some("DeleteObjectTagging"),
        None,
    ),
    sub(
        "legal-hold",
        Some("GetObjectLegalHold"),
        Some("PutObjectLegalHold"),
        None,
        None,
    ),
    sub(
        "retention",
        Some("GetObjectRetention"),
        Some("PutObjectRetention"),
        None,
        None,
    ),
    sub("attributes", Some("GetObjectAttributes"), None, None, None),
    sub("torrent", Some("GetObjectTorrent"), None, None, None),
    sub("restore", None, None, None, Some("RestoreObject")),
    sub("select", None, None, None, Some("SelectObjectContent")),
    sub("renameObject", None, Some("RenameObject"), None, None),
];

/// What an unsupported sub-resource in the query means for this method.
pub(crate) enum Lookup {
    /// No unsupported sub-resource is present.
    None,
    /// The sub-resource names this operation, which folio does not implement.
    Operation(&'static str),
    /// The sub-resource exists but not for this method.
    MethodNotAllowed,
}

/// Looks for an unsupported sub-resource among the query parameter names.
pub(crate) fn lookup(method: &Method, is_object: bool, has: impl Fn(&str) -> bool) -> Lookup {
    let table = if is_object { OBJECT } else { BUCKET };
    let Some(entry) = table.iter().find(|e| has(e.name)) else {
        return Lookup::None;
    };
    let operation = if *method == Method::GET || *method == Method::HEAD {
        entry.get
    } else if *method == Method::PUT {
        entry.put
    } else if *method == Method::DELETE {
        entry.delete
    } else if *method == Method::POST {
        entry.post
    } else {
        None
    };
    match operation {
        Some(op) => Lookup::Operation(op),
        None => Lookup::MethodNotAllowed,
    }
}
