//! S3 XML: response bodies written and request bodies parsed.
//!
//! Writers take plain structs and return the document as a `String`, with the S3
//! namespace on the root element. Parsers take the request body (already bounded by
//! the gateway) and return typed structs or [`crate::error::S3Error::MalformedXML`].
//!
//! - [`escape()`]: XML text escaping shared by every writer and the error body.

mod escape;

pub use escape::escape;
