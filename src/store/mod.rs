//! Stores: the published `db.json`, the SQLite working store of a build, the copy embedded in the
//! binary, and the lock that allows one build per store.

pub mod embedded;
pub mod json;
pub mod lock;
pub mod sqlite;

use std::path::{Path, PathBuf};

use crate::record::Db;

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
    #[error("SQLite store {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error(
        "SQLite store {path} has schema version {found}, newer than this capcache knows ({known}); upgrade capcache"
    )]
    SqliteTooNew { path: PathBuf, found: i64, known: i64 },
    #[error("SQLite store {path} holds a record for {id} that does not parse: {message}")]
    BadRow { path: PathBuf, id: String, message: String },
    #[error(
        "{path} is locked by another capcache build ({holder}); wait for it to finish, or remove {lock} if that process is gone"
    )]
    Locked { path: PathBuf, lock: PathBuf, holder: String },
}

/// Loads a database from a `.json` file or a SQLite store (detected by the SQLite magic bytes).
pub fn load_any(path: &Path) -> Result<Db, StoreError> {
    let mut magic = [0u8; 16];
    let is_sqlite = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .map(|()| &magic == b"SQLite format 3\0")
        .unwrap_or(false);
    if is_sqlite { sqlite::SqliteStore::open_read_only(path)?.export() } else { json::read(path) }
}
