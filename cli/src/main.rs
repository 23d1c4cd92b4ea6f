//! The `folio` binary.
fn main() {}
