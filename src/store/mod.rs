//! Stores: the published `db.json` (read by one streaming walk, written by a streaming canonical
//! writer and published atomically), the SQLite working store of a build, look-ups that answer
//! without loading a store whole, imports and merges in bounded memory, the copy embedded in the
//! binary, the lock that allows one build per store, and the checks every store read passes
//! ([`validate`]).

pub mod canonical;
pub mod embedded;
pub mod import;
pub mod json;
pub mod lock;
pub mod merge;
pub mod publish;
pub mod read;
pub mod sqlite;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::id::{IdError, ModelId, quote};

/// Errors of the store layer. Each names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid capcache JSON (line {line}, column {column}): {message}; the file was left untouched")]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path} has schema {found}, this capcache reads schema {expected}; the file was left untouched")]
    Schema { path: PathBuf, found: u64, expected: u32 },
    #[error("{path}: the entry for {} is not valid capcache JSON: {message}; the file was left untouched", quote(.id))]
    BadEntry { path: PathBuf, id: String, message: String },
    #[error("SQLite store {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error(
        "SQLite store {path} has schema version {found}, newer than this capcache knows ({known}); upgrade capcache"
    )]
    SqliteTooNew { path: PathBuf, found: i64, known: i64 },
    #[error("SQLite store {path} holds a record for {} that does not parse: {message}", quote(.id))]
    BadRow { path: PathBuf, id: String, message: String },
    #[error("{path} is not a capcache SQLite store: {why}; the file was left untouched")]
    NotAStore { path: PathBuf, why: String },
    #[error("{path} holds an entry under an invalid id: {error}; the file was left untouched")]
    BadId { path: PathBuf, error: IdError },
    #[error("{path} is refused: {error}; the file was left untouched")]
    Invalid { path: PathBuf, error: validate::RecordError },
    #[error(
        "{path} is locked by another capcache build ({holder}); wait for it to finish, or remove {lock} if that process is gone"
    )]
    Locked { path: PathBuf, lock: PathBuf, holder: String },
}

/// Counts over a whole store, for `capcache stats` and `capcache env`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub models: u64,
    /// Records read from the checkpoint (the rest are config estimates).
    pub exact: u64,
    pub by_strategy: BTreeMap<String, u64>,
    pub failures: u64,
    pub failures_by_outcome: BTreeMap<String, u64>,
    /// The latest `resolved_at` or failure time in the store: when its facts last changed.
    pub newest: Option<String>,
}

impl Stats {
    /// Counts one record.
    fn add_model(&mut self, strategy: &str, exact: bool, resolved_at: &str, n: u64) {
        self.models += n;
        if exact {
            self.exact += n;
        }
        *self.by_strategy.entry(strategy.to_owned()).or_default() += n;
        self.saw(resolved_at);
    }

    /// Counts one failure.
    fn add_failure(&mut self, outcome: &str, at: &str, n: u64) {
        self.failures += n;
        *self.failures_by_outcome.entry(outcome.to_owned()).or_default() += n;
        self.saw(at);
    }

    fn saw(&mut self, time: &str) {
        let t = validate::time_of(time);
        if self.newest.as_deref().is_none_or(|n| t > validate::time_of(n)) {
            self.newest = Some(time.to_owned());
        }
    }
}

/// Whether `path` is a SQLite database (by its magic bytes); anything else is read as JSON (and
/// what is not a regular file refused there).
pub fn is_sqlite(path: &Path) -> bool {
    let mut magic = [0u8; 16];
    crate::file::open_regular(path, u64::MAX)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| &magic == b"SQLite format 3\0")
}

/// An id read from a store must be a model id (as `models.txt` and the command line require): a
/// file holding an entry under another (empty, control characters, a path) is refused whole, as
/// one holding an entry that does not parse is.
fn check_id(path: &Path, id: &str) -> Result<(), StoreError> {
    ModelId::parse(id).map(drop).map_err(|error| StoreError::BadId { path: path.to_owned(), error })
}
