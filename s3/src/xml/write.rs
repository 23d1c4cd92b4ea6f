//! A small writer for S3 response documents, and the value encodings they share.

use std::fmt::Display;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::escape;
use crate::router::EncodingType;

/// The S3 XML namespace, on the root element of every response.
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Characters `encoding-type=url` leaves as they are: RFC 3986 unreserved and `/`.
/// Everything else is percent-encoded, `+` and space included, so both URL decoding
/// and form decoding (`+` as space, as botocore does) give back the key.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// A value as written under `encoding-type`: URL-encoded when `url`, else as is.
pub(crate) fn encode_name(value: &str, encoding: Option<EncodingType>) -> String {
    match encoding {
        Some(EncodingType::Url) => utf8_percent_encode(value, URL_ENCODE).to_string(),
        None => value.to_owned(),
    }
}

/// An ETag in its quoted form, quoting it if it is not already.
pub fn quote_etag(etag: &str) -> String {
    if etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"') {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// Builds an XML document element by element, escaping every text.
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// Starts a document whose root element carries the S3 namespace.
    pub(crate) fn new(root: &str) -> Self {
        let mut out = String::with_capacity(512);
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        out.push('<');
        out.push_str(root);
        out.push_str(r#" xmlns=""#);
        out.push_str(S3_NAMESPACE);
        out.push_str(r#"">"#);
        XmlWriter { out }
    }

    /// Opens an element.
    pub(crate) fn start(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Closes an element.
    pub(crate) fn end(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// An element with escaped text content.
    pub(crate) fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        self.start(name);
        self.out.push_str(&escape(text));
        self.end(name)
    }

    /// An element whose content is a number or another `Display` value that needs no
    /// escaping.
    pub(crate) fn value(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.start(name);
        self.out.push_str(&value.to_string());
        self.end(name)
    }

    /// Escaped text directly inside the current element.
    pub(crate) fn elem_text(&mut self, text: &str) -> &mut Self {
        self.out.push_str(&escape(text));
        self
    }

    /// Markup written as is: only for constant strings of well-formed XML.
    pub(crate) fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    /// An element if the value is present.
    pub(crate) fn opt(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.elem(name, text);
        }
        self
    }

    /// `true` / `false`.
    pub(crate) fn boolean(&mut self, name: &str, value: bool) -> &mut Self {
        self.value(name, if value { "true" } else { "false" })
    }

    /// Closes the root element and returns the document.
    pub(crate) fn finish(mut self, root: &str) -> String {
        self.end(root);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_unreserved_and_slash() {
        let e = |s| encode_name(s, Some(EncodingType::Url));
        assert_eq!(
            e("photos/2024/a b+c&d.jpg"),
            "photos/2024/a%20b%2Bc%26d.jpg"
        );
        assert_eq!(e("caf\u{e9}~_-."), "caf%C3%A9~_-.");
        assert_eq!(e("a\u{1}b"), "a%01b");
        assert_eq!(encode_name("a b", None), "a b");
    }

    #[test]
    fn etags_are_quoted_once() {
        assert_eq!(quote_etag("abc"), "\"abc\"");
        assert_eq!(quote_etag("\"abc\""), "\"abc\"");
        assert_eq!(quote_etag("abc-3"), "\"abc-3\"");
    }

    #[test]
    fn writer_escapes_and_namespaces() {
        let mut w = XmlWriter::new("Root");
        w.elem("Key", "a<b&c")
            .value("Size", 5)
            .boolean("IsTruncated", false);
        w.opt("Absent", None);
        assert_eq!(
            w.finish("Root"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Root xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Key>a&lt;b&amp;c</Key><Size>5</Size><IsTruncated>false</IsTruncated></Root>"
        );
    }
}
