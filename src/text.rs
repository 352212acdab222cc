//! Text from outside (a repository, a db.json anyone may have written, a SQLite file) made safe to
//! print: control characters escaped, so a hostile name can neither drive the terminal nor fake a
//! line. Used by the human output and by every error that quotes such text.

use std::borrow::Cow;

/// `s` with control characters escaped (`\u{1b}`), borrowed when it has none.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(printable("model.safetensors"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
    }
}
