//! The model list format (`models.txt`): one id a line, optional `@revision`, `discover: QUERY`
//! lines that add what a Hub listing query selects, `#` comments, blank lines. Bad lines are
//! reported with their number, never fatal to the rest.

use crate::id::{IdError, ModelId, check_revision};
use crate::query::{ListingQuery, QueryError};
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

/// Parses `models.txt` text. Invalid lines are returned beside the valid entries, never fatal; a
/// repeated id (the Hub's ids are case-insensitive) keeps its first occurrence.
pub fn parse_list(text: &str) -> ModelList {
    let mut list = ModelList::default();
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |error: LineError| BadLine { line: i + 1, text: raw.to_owned(), error };
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
