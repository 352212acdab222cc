//! The model list format (`models.txt`): one id a line, optional `@revision`, `discover: QUERY`
//! lines that add what a Hub listing query selects, `#` comments, blank lines. Bad lines are
//! reported with their number, never fatal to the rest. Models a listing found join the list here.

use std::collections::HashMap;

use crate::discover::listing::Listed;
use crate::discover::query::{ListingQuery, QueryError};
use crate::id::{IdError, ModelId, check_revision};
use crate::source::Snapshot;

/// One entry of a model list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: ModelId,
    /// The revision asked for (`None` = `main`).
    pub revision: Option<String>,
    /// 1-based line number in the list (of the `discover:` line for a listed model; 0 for one
    /// that `--discover` listed).
    pub line: usize,
    /// The model at `main`'s commit as the Hub listing gave it (commit, files, the Hub's parameter
    /// counts): the build uses it instead of asking for the commit and the snapshot. Only for
    /// entries without a revision.
    pub listed: Option<Snapshot>,
}

/// A `discover:` line: a Hub listing query whose models join the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discover {
    pub line: usize,
    pub query: ListingQuery,
}

/// Why a line of a model list is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("discover: {0}")]
    Query(#[from] QueryError),
    /// The line, outside its comment, is not UTF-8: the 1-based position of its first bad byte.
    #[error("not UTF-8 text (the line's byte {0} is invalid)")]
    Utf8(usize),
}

/// A line of a model list that is not a valid entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub text: String,
    pub error: LineError,
}

/// A parsed model list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelList {
    pub entries: Vec<Entry>,
    pub discover: Vec<Discover>,
    pub bad: Vec<BadLine>,
}

/// Parses `models.txt`. Invalid lines are returned beside the valid entries, never fatal (a line
/// whose text before its comment is not UTF-8 among them; a comment may be in any encoding); a
/// leading UTF-8 byte order mark is ignored; a repeated id (the Hub's ids are case-insensitive)
/// keeps its first occurrence.
pub fn parse_list(bytes: impl AsRef<[u8]>) -> ModelList {
    let bytes = bytes.as_ref();
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut list = ModelList::default();
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = || String::from_utf8_lossy(raw).into_owned();
        // `#` is ASCII, never part of a multi-byte character: the comment is cut off as bytes.
        let line = match std::str::from_utf8(raw.split(|&b| b == b'#').next().unwrap_or_default()) {
            Ok(line) => line.trim(),
            Err(e) => {
                list.bad.push(BadLine { line: i + 1, text: text(), error: LineError::Utf8(e.valid_up_to() + 1) });
                continue;
            }
        };
        if line.is_empty() {
            continue;
        }
        let bad = |error: LineError| BadLine { line: i + 1, text: text(), error };
        if let Some(query) = line.strip_prefix("discover:") {
            match ListingQuery::parse(query) {
                Ok(query) => list.discover.push(Discover { line: i + 1, query }),
                Err(e) => list.bad.push(bad(e.into())),
            }
            continue;
        }
        let (id, rev) = match line.split_once('@') {
            Some((id, rev)) => (id.trim(), Some(rev.trim())),
            None => (line, None),
        };
        let parsed = ModelId::parse(id).and_then(|id| {
            if let Some(rev) = rev {
                check_revision(rev)?;
            }
            Ok(id)
        });
        match parsed {
            Ok(id) => {
                if seen.insert(id.as_str().to_ascii_lowercase()) {
                    list.entries.push(Entry { id, revision: rev.map(str::to_owned), line: i + 1, listed: None });
                }
            }
            Err(error) => list.bad.push(bad(error.into())),
        }
    }
    list
}

/// Adds listed models to a model list. An id already in it (ids are case-insensitive on the Hub)
/// keeps its line and spelling, and takes the listing's snapshot when it asks for `main`; any other
/// joins the list with `line`. Returns how many joined.
pub fn join(entries: &mut Vec<Entry>, listed: &[Listed], line: usize) -> usize {
    let mut index: HashMap<String, usize> =
        entries.iter().enumerate().map(|(i, e)| (e.id.as_str().to_ascii_lowercase(), i)).collect();
    let mut added = 0;
    for l in listed {
        let key = l.id.as_str().to_ascii_lowercase();
        match index.get(&key) {
            Some(&i) => {
                let e = &mut entries[i];
                if e.revision.is_none() && e.listed.is_none() {
                    e.listed = l.pinned().cloned();
                }
            }
            None => {
                index.insert(key, entries.len());
                entries.push(Entry { id: l.id.clone(), revision: None, line, listed: l.pinned().cloned() });
                added += 1;
            }
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::listing::Info;

    #[test]
    fn list_reports_bad_lines_with_numbers_and_keeps_going() {
        let list = parse_list(
            "# c\n\nfacebook/opt-125m\nbad id\nQwen/Qwen3-0.6B@abc123 # pinned\nfacebook/opt-125m\nFacebook/OPT-125m\n",
        );
        let (ok, bad) = (list.entries, list.bad);
        assert_eq!(ok.len(), 2, "a repeated id, in any case, is kept once: {ok:?}");
        assert_eq!(ok[1].revision.as_deref(), Some("abc123"));
        assert_eq!(ok[1].line, 5);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 4);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_a_bad_line_and_a_byte_order_mark_is_ignored() {
        let list = parse_list(b"\xef\xbb\xbfa/b\r\nc/\xe9d # caf\xe9\nc/d # caf\xe9\n\xff\n# \xff\n");
        let ids: Vec<(&str, usize)> = list.entries.iter().map(|e| (e.id.as_str(), e.line)).collect();
        assert_eq!(ids, [("a/b", 1), ("c/d", 3)], "a comment in another encoding is only a comment");
        let bad: Vec<(usize, String, &str)> =
            list.bad.iter().map(|b| (b.line, b.error.to_string(), &*b.text)).collect();
        assert_eq!(
            bad,
            [
                (2, "not UTF-8 text (the line's byte 3 is invalid)".to_owned(), "c/\u{fffd}d # caf\u{fffd}"),
                (4, "not UTF-8 text (the line's byte 1 is invalid)".to_owned(), "\u{fffd}"),
            ]
        );
    }

    #[test]
    fn discover_lines_are_queries_and_bad_ones_name_their_line() {
        let list = parse_list(
            "facebook/opt-125m\ndiscover: author=RedHatAI&sort=downloads&limit=500 # quantized\ndiscover: author=x&expand[]=config\ndiscover:\n",
        );
        assert_eq!(list.entries.len(), 1);
        assert_eq!(list.discover.len(), 1);
        assert_eq!(list.discover[0].line, 2);
        assert_eq!(list.discover[0].query.to_string(), "author=RedHatAI&sort=downloads&limit=500");
        let bad: Vec<(usize, String)> = list.bad.iter().map(|b| (b.line, b.error.to_string())).collect();
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(bad[0].0, 3);
        assert!(bad[0].1.starts_with("discover: unknown key \"expand[]\""), "{bad:?}");
        assert_eq!(bad[1].0, 4);
        assert!(bad[1].1.contains("empty"), "{bad:?}");
    }

    fn listed(id: &str, sha: &str) -> Listed {
        let id = ModelId::parse(id).unwrap();
        let snapshot = Snapshot::new(id.clone(), sha.into(), vec!["config.json".into()], None);
        Listed { id, snapshot: Some(snapshot), has_files: true, info: Info::default() }
    }

    #[test]
    fn join_resolves_duplicates_once_and_pins_only_main() {
        let list = crate::list::parse_list("Org/A\norg/b@v1\n");
        let mut entries = list.entries;
        let added = join(&mut entries, &[listed("org/a", "aaa"), listed("org/B", "bbb"), listed("org/c", "ccc")], 7);
        assert_eq!(added, 1);
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["Org/A", "org/b", "org/c"]);
        assert_eq!(entries[0].listed.as_ref().map(|s| s.sha.as_str()), Some("aaa"), "main takes the listing's commit");
        assert!(entries[1].listed.is_none(), "a pinned revision is not the listing's commit");
        assert_eq!((entries[2].line, entries[2].listed.as_ref().map(|s| s.sha.as_str())), (7, Some("ccc")));
        // A second listing of the same models adds nothing.
        assert_eq!(join(&mut entries, &[listed("ORG/C", "ccc")], 9), 0);
        // An entry without its file list joins, but unpinned.
        let mut bare = listed("org/d", "ddd");
        bare.has_files = false;
        join(&mut entries, &[bare], 9);
        assert!(entries[3].listed.is_none());
    }
}
