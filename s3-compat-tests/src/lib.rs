//! End-to-end tests that run real S3 clients against a running `folio standalone`.
//!
//! Not built yet: this crate is filled by the s3-compat-tests issue, once the gateway
//! answers S3.
