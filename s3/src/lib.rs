//! The S3 protocol, as pure code without I/O.
//!
//! The gateway (`folio-gateway`) owns sockets, the namespace and ledgers; everything
//! about the S3 wire protocol that can be decided from bytes alone lives here, where it
//! is tested against the AWS documentation's examples and fuzzed:
//!
//! - [`router`]: a request's method, path, query and headers → one [`router::S3Op`]
//!   variant per S3 operation, with bucket and key (path-style and virtual-host style);
//! - [`error`]: [`error::S3Error`], the one error type at the edge, whose code, status
//!   and XML body come from an exhaustive match;
//! - [`auth`]: SigV4 (header, presigned, streaming aws-chunked with chunk signatures
//!   and trailers) and SigV2, with constant-time comparison;
//! - [`checksum`]: streaming MD5, CRC32, CRC32C, CRC64NVME, SHA1 and SHA256;
//! - [`xml`]: request bodies parsed and response bodies written.

pub mod auth;
pub mod checksum;
pub mod error;
pub mod router;
pub mod xml;
