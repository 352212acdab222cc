//! The SQLite working store of a build: one row per model record and per failure, each committed
//! in its own transaction as soon as it is known, so a killed build loses nothing it finished.
//! Versioned schema (`PRAGMA user_version`) with forward migrations; WAL journal.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::StoreError;
use crate::record::{Db, Failure, Record};

/// Forward migrations; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: records, failures, and when each model was last resolved in full.
    "CREATE TABLE models (
        id TEXT PRIMARY KEY,
        revision TEXT NOT NULL,
        strategy TEXT NOT NULL,
        resolved_at TEXT NOT NULL,
        checked_at TEXT NOT NULL,
        record TEXT NOT NULL
     );
     CREATE TABLE failures (
        id TEXT PRIMARY KEY,
        outcome TEXT NOT NULL,
        at TEXT NOT NULL,
        failure TEXT NOT NULL
     );",
];

/// A model's stored state, for incremental builds. `checked_at` is when it was last resolved in
/// full (not when its commit was last found unchanged).
#[derive(Debug, Clone)]
pub struct Stored {
    pub record: Record,
    pub checked_at: String,
}

/// An open store.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates a store for writing.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(|e| sq(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| sq(path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sq(path, e))?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| sq(path, e))?;
        let mut store = SqliteStore { conn, path: path.to_owned() };
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing store read-only (for `get`, `list`, `merge` inputs).
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| sq(path, e))?;
        let store = SqliteStore { conn, path: path.to_owned() };
        let version = store.version()?;
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::SqliteTooNew {
                path: path.to_owned(),
                found: version,
                known: MIGRATIONS.len() as i64,
            });
        }
        Ok(store)
    }

    fn version(&self) -> Result<i64, StoreError> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| sq(&self.path, e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version = self.version()?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::SqliteTooNew { path: self.path.clone(), found: version, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction().map_err(|e| sq(&self.path, e))?;
            tx.execute_batch(sql).map_err(|e| sq(&self.path, e))?;
            tx.pragma_update(None, "user_version", i as i64 + 1).map_err(|e| sq(&self.path, e))?;
            tx.commit().map_err(|e| sq(&self.path, e))?;
        }
        Ok(())
    }

    /// Stores a model's record (and clears any failure of it) in one transaction.
    pub fn put_record(&mut self, id: &str, record: &Record, checked_at: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(|e| sq(&self.path, e))?;
        upsert_model(&tx, id, record, checked_at).map_err(|e| sq(&self.path, e))?;
        tx.execute("DELETE FROM failures WHERE id = ?1", params![id]).map_err(|e| sq(&self.path, e))?;
        tx.commit().map_err(|e| sq(&self.path, e))
    }

    /// Clears a model's failure (its record was confirmed current upstream).
    pub fn clear_failure(&mut self, id: &str) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM failures WHERE id = ?1", params![id]).map(drop).map_err(|e| sq(&self.path, e))
    }

    /// Records a failure. A model's earlier good record is kept.
    pub fn put_failure(&mut self, id: &str, failure: &Failure) -> Result<(), StoreError> {
        upsert_failure(&self.conn, id, failure).map_err(|e| sq(&self.path, e))
    }

    /// Removes a model and its failure (for `--prune`).
    pub fn remove(&mut self, id: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(|e| sq(&self.path, e))?;
        tx.execute("DELETE FROM models WHERE id = ?1", params![id]).map_err(|e| sq(&self.path, e))?;
        tx.execute("DELETE FROM failures WHERE id = ?1", params![id]).map_err(|e| sq(&self.path, e))?;
        tx.commit().map_err(|e| sq(&self.path, e))
    }

    /// A model's stored record and when it was last checked.
    pub fn get(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let row: Option<(String, String)> = self
            .conn
            .query_row("SELECT record, checked_at FROM models WHERE id = ?1", params![id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| sq(&self.path, e))?;
        row.map(|(json, checked_at)| Ok(Stored { record: self.decode(id, &json)?, checked_at })).transpose()
    }

    /// A model's stored failure.
    pub fn get_failure(&self, id: &str) -> Result<Option<Failure>, StoreError> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT failure FROM failures WHERE id = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(|e| sq(&self.path, e))?;
        json.map(|j| self.decode(id, &j)).transpose()
    }

    /// Ids of every stored model and failure.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM models UNION SELECT id FROM failures ORDER BY id")
            .map_err(|e| sq(&self.path, e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| sq(&self.path, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| sq(&self.path, e))
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, id: &str, json: &str) -> Result<T, StoreError> {
        serde_json::from_str(json).map_err(|e| StoreError::BadRow {
            path: self.path.clone(),
            id: id.to_owned(),
            message: e.to_string(),
        })
    }

    /// Every `(id, json)` row of `sql`, decoded.
    fn rows<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Result<Vec<(String, T)>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| sq(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| sq(&self.path, e))?;
        rows.map(|row| {
            let (id, json) = row.map_err(|e| sq(&self.path, e))?;
            let value = self.decode(&id, &json)?;
            Ok((id, value))
        })
        .collect()
    }

    /// The whole store as a database document.
    pub fn export(&self) -> Result<Db, StoreError> {
        Ok(Db {
            models: self.rows("SELECT id, record FROM models")?.into_iter().collect(),
            failures: self.rows("SELECT id, failure FROM failures")?.into_iter().collect(),
            ..Db::default()
        })
    }

    /// Loads every record and failure of `db` in one transaction. `checked_at` of imported records
    /// is their `resolved_at`.
    pub fn import(&mut self, db: &Db) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(|e| sq(&self.path, e))?;
        for (id, r) in &db.models {
            upsert_model(&tx, id, r, &r.resolved_at).map_err(|e| sq(&self.path, e))?;
        }
        for (id, f) in &db.failures {
            upsert_failure(&tx, id, f).map_err(|e| sq(&self.path, e))?;
        }
        tx.commit().map_err(|e| sq(&self.path, e))
    }
}

fn upsert_model(conn: &Connection, id: &str, r: &Record, checked_at: &str) -> rusqlite::Result<()> {
    let json = serde_json::to_string(r).expect("records serialize");
    conn.execute(
        "INSERT INTO models (id, revision, strategy, resolved_at, checked_at, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET revision = ?2, strategy = ?3, resolved_at = ?4, checked_at = ?5, record = ?6",
        params![id, r.revision, r.strategy.as_str(), r.resolved_at, checked_at, json],
    )
    .map(drop)
}

fn upsert_failure(conn: &Connection, id: &str, f: &Failure) -> rusqlite::Result<()> {
    let json = serde_json::to_string(f).expect("failures serialize");
    conn.execute(
        "INSERT INTO failures (id, outcome, at, failure) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET outcome = ?2, at = ?3, failure = ?4",
        params![id, f.outcome.as_str(), f.at, json],
    )
    .map(drop)
}

fn sq(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite { path: path.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, Strategy, Tried};
    use std::collections::BTreeMap;

    pub(crate) fn sample(rev: &str) -> Record {
        Record {
            revision: rev.into(),
            strategy: Strategy::Safetensors,
            exact: true,
            approximate: false,
            parameters: BTreeMap::from([("F32".to_owned(), 22713216), ("I64".to_owned(), 512)]),
            total: 22713728,
            logical_parameters: 22713216,
            weight_bytes: 90856960,
            dtype: Some("F32".into()),
            files: vec!["model.safetensors".into()],
            architecture: None,
            capacity: Default::default(),
            cross_check: BTreeMap::new(),
            tried: vec![Tried { strategy: Strategy::HubMetadata, outcome: Outcome::Absent, message: None }],
            warnings: vec![],
            made_with: Default::default(),
            resolved_at: "2026-11-26T03:00:00Z".into(),
        }
    }

    #[test]
    fn round_trip_sqlite_json_sqlite_json_is_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = SqliteStore::open(&dir.path().join("a.sqlite")).unwrap();
        a.put_record("sentence-transformers/all-MiniLM-L6-v2", &sample("abc"), "t").unwrap();
        a.put_failure(
            "x/gated",
            &Failure { outcome: Outcome::Gated, message: "needs a token".into(), at: "t".into(), tried: vec![] },
        )
        .unwrap();
        let first = a.export().unwrap().to_canonical_json();
        let json_path = dir.path().join("db.json");
        crate::store::json::write(&json_path, &a.export().unwrap()).unwrap();
        let mut b = SqliteStore::open(&dir.path().join("b.sqlite")).unwrap();
        b.import(&crate::store::json::read(&json_path).unwrap()).unwrap();
        assert_eq!(b.export().unwrap().to_canonical_json(), first);
    }

    #[test]
    fn failure_keeps_earlier_record_and_success_clears_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        s.put_record("a/b", &sample("r1"), "t1").unwrap();
        s.put_failure(
            "a/b",
            &Failure { outcome: Outcome::RateLimited, message: "m".into(), at: "t2".into(), tried: vec![] },
        )
        .unwrap();
        assert_eq!(s.get("a/b").unwrap().unwrap().record.revision, "r1");
        assert!(s.get_failure("a/b").unwrap().is_some());
        s.put_record("a/b", &sample("r2"), "t3").unwrap();
        assert!(s.get_failure("a/b").unwrap().is_none());
    }

    #[test]
    fn reopening_does_not_rerun_migrations_and_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        SqliteStore::open(&path).unwrap().put_record("a/b", &sample("r1"), "t").unwrap();
        assert!(SqliteStore::open(&path).unwrap().get("a/b").unwrap().is_some());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(SqliteStore::open(&path), Err(StoreError::SqliteTooNew { found: 99, .. })));
    }
}
