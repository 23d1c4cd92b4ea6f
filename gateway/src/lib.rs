//! The S3 gateway and the admin HTTP API.
//!
//! Not built yet: this crate is filled by the gateway issue.
