//! A bounded XML reader for request bodies: the document as a small tree of
//! elements (local names, text, children), or [`S3Error::MalformedXML`].
//!
//! Request documents are small and shallow, so a tree is simpler than a streaming
//! state machine per document; the limits bound the memory a hostile body can claim.
//! Document type declarations are refused (no entity expansion of any kind).

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::S3Error;

/// The deepest element nesting any S3 request document needs.
const MAX_DEPTH: usize = 8;

/// One element: its local name (namespace prefix dropped), its text (all text and
/// CDATA directly inside it, concatenated, not trimmed) and its child elements.
#[derive(Debug, Default)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

impl Element {
    /// The children with this local name.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child with this local name.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child with this local name, untrimmed.
    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parses `body` into its root element. The body must be at most `max_bytes` long
/// ([`S3Error::MaxMessageLengthExceeded`]) and hold at most `max_elements` elements
/// ([`S3Error::MalformedXML`], as S3 answers for an oversized Delete).
pub(crate) fn parse(
    body: &[u8],
    max_bytes: usize,
    max_elements: usize,
) -> Result<Element, S3Error> {
    if body.len() > max_bytes {
        return Err(S3Error::MaxMessageLengthExceeded);
    }
    let text = std::str::from_utf8(body).map_err(|_| S3Error::MalformedXML)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| S3Error::MalformedXML)?;
        let is_empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                elements += 1;
                if elements > max_elements || stack.len() >= MAX_DEPTH || root.is_some() {
                    return Err(S3Error::MalformedXML);
                }
                let name = std::str::from_utf8(start.local_name().as_ref())
                    .map_err(|_| S3Error::MalformedXML)?
                    .to_owned();
                let element = Element {
                    name,
                    ..Element::default()
                };
                if is_empty {
                    close(element, &mut stack, &mut root);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or(S3Error::MalformedXML)?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let t = t.unescape().map_err(|_| S3Error::MalformedXML)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&t),
                    // Only whitespace may lie outside the root.
                    None if t.trim().is_empty() => {}
                    None => return Err(S3Error::MalformedXML),
                }
            }
            Event::CData(c) => {
                let c = c.decode().map_err(|_| S3Error::MalformedXML)?;
                stack
                    .last_mut()
                    .ok_or(S3Error::MalformedXML)?
                    .text
                    .push_str(&c);
            }
            Event::DocType(_) => return Err(S3Error::MalformedXML),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    match (root, stack.is_empty()) {
        (Some(root), true) => Ok(root),
        _ => Err(S3Error::MalformedXML),
    }
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Element, S3Error> {
        parse(s.as_bytes(), 1 << 20, 1000)
    }

    #[test]
    fn builds_a_tree_with_local_names_and_unescaped_text() {
        let e = p(r#"<?xml version="1.0"?>
            <s3:A xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">
              <B> a &amp; b </B><C/><B><![CDATA[<x>]]></B>
            </s3:A>"#)
        .unwrap();
        assert_eq!(e.name, "A");
        let b: Vec<_> = e.all("B").map(|b| b.text.as_str()).collect();
        assert_eq!(b, vec![" a & b ", "<x>"]);
        assert!(e.child("C").is_some());
        assert_eq!(e.child_text("D"), None);
    }

    #[test]
    fn malformed_documents_are_rejected() {
        for doc in [
            "",
            "<A>",
            "<A></B>",
            "<A/><B/>",
            "text<A/>",
            "<A>&unknown;</A>",
            "<!DOCTYPE A [<!ENTITY x \"y\">]><A>&x;</A>",
            "<A><B><C><D><E><F><G><H><I/></H></G></F></E></D></C></B></A>",
        ] {
            assert_eq!(p(doc).map(|_| ()), Err(S3Error::MalformedXML), "{doc}");
        }
        assert_eq!(
            parse(&[0xff, b'<'], 100, 10).map(|_| ()),
            Err(S3Error::MalformedXML)
        );
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(
            parse(b"<A/>", 3, 10).map(|_| ()),
            Err(S3Error::MaxMessageLengthExceeded)
        );
        assert_eq!(
            parse(b"<A><B/><B/></A>", 100, 2).map(|_| ()),
            Err(S3Error::MalformedXML)
        );
        assert!(parse(b"<A><B/><B/></A>", 100, 3).is_ok());
    }
}
