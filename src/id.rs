//! Model ids (`org/name`), revisions and repository file paths: validation against the Hub's
//! naming rules, and [`quote`], the one way an id, a path or any other text from input is quoted
//! in a message (escaped and truncated). Pure functions with no dependency: parsers and sources
//! both use them.

use std::fmt;

/// A validated Hub model id, `org/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId(String);

/// Why a string is not a model id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{} is not a model id: expected `org/name` (for example `facebook/opt-125m`)", quote(.0))]
    Shape(String),
    #[error("{} is not a model id: URLs are not accepted, give `org/name`", quote(.0))]
    Url(String),
    #[error("{} is not a model id: {} {why}", quote(.id), quote(.part))]
    Part { id: String, part: String, why: &'static str },
    #[error(
        "{} is not a revision: use a branch, tag or commit sha without `..`, spaces or control characters",
        quote(.0)
    )]
    Revision(String),
}

const MAX_PART: usize = 96;

/// The characters of a text [`quote`] shows; the rest is cut.
pub const QUOTE_CHARS: usize = 200;

/// Text from input (an id, a path, a key) as a message quotes it: in double quotes with control
/// characters and quotes escaped, and cut after [`QUOTE_CHARS`] characters, the cut marked with
/// `…` and the text's full length, so that no input makes a message larger than about 1 KiB.
pub fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &s[..cut], s.len()),
    }
}

/// Text from input as an answer echoes it (unescaped, in a JSON string): cut after
/// [`QUOTE_CHARS`] characters, the cut marked with `…`.
pub fn cut(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(QUOTE_CHARS) {
        None => s.into(),
        Some((i, _)) => format!("{}…", &s[..i]).into(),
    }
}

fn check_part(id: &str, part: &str) -> Result<(), IdError> {
    let err = |why| Err(IdError::Part { id: id.to_owned(), part: part.to_owned(), why });
    if part.is_empty() {
        return err("is empty");
    }
    if part.len() > MAX_PART {
        return err("is longer than 96 characters");
    }
    if !part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return err("may only contain letters, digits, '-', '_' and '.'");
    }
    if part.contains("..") || part.contains("--") {
        return err("may not contain '..' or '--'");
    }
    if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
        return err("may not start or end with '-' or '.'");
    }
    Ok(())
}

impl ModelId {
    /// Validates `org/name` by the Hub's rules.
    pub fn parse(s: &str) -> Result<ModelId, IdError> {
        if s.contains("://") || s.starts_with("www.") || s.starts_with("huggingface.co/") {
            return Err(IdError::Url(s.to_owned()));
        }
        let mut parts = s.split('/');
        let (Some(org), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(IdError::Shape(s.to_owned()));
        };
        check_part(s, org)?;
        check_part(s, name)?;
        Ok(ModelId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `(org, name)`.
    pub fn parts(&self) -> (&str, &str) {
        self.0.split_once('/').expect("validated ids have one slash")
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validates a revision (branch, tag or sha): printable, no `..`, no leading `/`, bounded length.
pub fn check_revision(rev: &str) -> Result<(), IdError> {
    let ok = !rev.is_empty()
        && rev.len() <= 256
        && !rev.contains("..")
        && !rev.starts_with('/')
        && rev.chars().all(|c| c.is_ascii_graphic());
    if ok { Ok(()) } else { Err(IdError::Revision(rev.to_owned())) }
}

/// Validates a repository-relative path taken from the network or an index file: no `..` or `.`
/// component, no absolute path, no URL, no backslash, NUL or other control character, bounded
/// length.
pub fn check_repo_path(path: &str) -> Result<(), String> {
    let bad = path.is_empty()
        || path.len() > 1024
        || path.starts_with('/')
        || path.contains("://")
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || path.split('/').any(|c| c == ".." || c == "." || c.is_empty());
    if bad {
        Err(format!("unsafe file path {} (absolute, URL, `..` or control characters)", quote(path)))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_ids() {
        for id in
            ["facebook/opt-125m", "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic", "Qwen/Qwen2.5-7B-Instruct", "a/b_c.d"]
        {
            assert_eq!(ModelId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_traversal_urls_and_shapes() {
        assert!(matches!(ModelId::parse("../etc/passwd"), Err(IdError::Shape(_))));
        assert!(matches!(ModelId::parse("../passwd"), Err(IdError::Part { .. })));
        assert!(matches!(ModelId::parse("https://huggingface.co/a/b"), Err(IdError::Url(_))));
        assert!(matches!(ModelId::parse("gpt2"), Err(IdError::Shape(_))));
        assert!(matches!(ModelId::parse("a/b c"), Err(IdError::Part { .. })));
        assert!(matches!(ModelId::parse("a/-b"), Err(IdError::Part { .. })));
        assert!(check_revision("main").is_ok());
        assert!(check_revision("refs/pr/1").is_ok());
        assert!(check_revision("../x").is_err());
    }

    #[test]
    fn quoted_text_is_escaped_and_cut() {
        assert_eq!(quote("a/b"), "\"a/b\"");
        assert_eq!(quote("a\u{1b}b"), "\"a\\u{1b}b\"");
        let long = "x".repeat(40 << 20);
        let q = quote(&long);
        assert!(q.len() < 300 && q.ends_with(&format!("… ({} bytes)", long.len())), "{q}");
        let err = ModelId::parse(&format!("a/{long}")).unwrap_err().to_string();
        assert!(err.len() < 1024, "a 40 MB id makes a short message: {} bytes", err.len());
        let multibyte = "é".repeat(QUOTE_CHARS + 1);
        assert!(quote(&multibyte).starts_with(&format!("\"{}\"…", "é".repeat(QUOTE_CHARS))));
    }

    #[test]
    fn repo_paths() {
        for ok in ["model.safetensors", "unet/diffusion_pytorch_model.safetensors", "a.b/c"] {
            assert!(check_repo_path(ok).is_ok(), "{ok}");
        }
        for bad in ["../x.safetensors", "/etc/passwd", "a/../../b", "http://x/y", "a//b", "", "a\\b", "a\u{1b}[2Jb"] {
            assert!(check_repo_path(bad).is_err(), "{bad}");
        }
        assert!(check_repo_path("a\u{1b}b").unwrap_err().contains("\\u{1b}"), "the message escapes what it quotes");
    }
}
