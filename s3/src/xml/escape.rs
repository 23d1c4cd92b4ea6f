//! XML text escaping.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Escapes `s` for use as XML element text or an attribute value.
///
/// `&`, `<`, `>`, `"` and `'` become entity references. Control characters, which
/// XML 1.0 cannot carry literally (or which a parser would normalise, like `\r`), become
/// numeric character references (`&#x1;`, `&#xD;`), as S3 writes them; clients that
/// need such keys verbatim ask for `encoding-type=url`. Returns the input unchanged
/// (borrowed) when nothing needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if is_control(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    matches!(c, '&' | '<' | '>' | '"' | '\'') || is_control(c)
}

/// C0 controls other than tab and newline, DEL, and C1 controls.
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\t' && c != '\n') || c == '\u{FFFE}' || c == '\u{FFFF}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("photos/2024/a b+c.jpg"), Cow::Borrowed(_)));
    }

    #[test]
    fn markup_characters_become_entities() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }

    #[test]
    fn control_characters_become_character_references() {
        assert_eq!(
            escape("a\u{0}b\rc\td\ne\u{7f}"),
            "a&#x0;b&#xD;c\td\ne&#x7F;"
        );
    }
}
