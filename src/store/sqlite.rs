//! The SQLite working store of a build: one row per model record and per failure, each committed
//! in its own transaction as soon as it is known, so a killed build loses nothing it finished.
//! Versioned schema (`PRAGMA user_version`) with forward migrations; WAL journal, so readers (the
//! build's exporter, look-ups) read a consistent snapshot while a build writes. Look-ups are keyed
//! (ids match ignoring ASCII case, through an index); whole-store reads stream in id order, a page
//! at a time. A store is a file anyone may hand over (`--db`, `--seed`, `merge` inputs): it is
//! opened with SQLite's defences on and refused unless its schema is a store's, before any query
//! reads its tables. What it holds is checked as it is read ([`super::validate`]): each record and
//! failure, each id valid and unique ignoring case.

use std::collections::VecDeque;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use rusqlite::config::DbConfig;
use rusqlite::limits::Limit;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::canonical::CanonicalWriter;
use super::json::Section;
use super::validate::{self, IdSet, Problem, RecordError};
use super::{Stats, StoreError, check_id};
use crate::record::{Failure, Record};
use crate::text::printable;

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
    // 2: ids looked up ignoring case, as the Hub matches them; counts by strategy and outcome from
    // indexes alone.
    "CREATE INDEX models_id_nocase ON models (id COLLATE NOCASE);
     CREATE INDEX failures_id_nocase ON failures (id COLLATE NOCASE);
     ALTER TABLE models ADD COLUMN exact INTEGER NOT NULL DEFAULT 0;
     UPDATE models SET exact = coalesce(json_extract(record, '$.exact'), 0);
     CREATE INDEX models_by_strategy ON models (strategy, exact, resolved_at);
     CREATE INDEX failures_by_outcome ON failures (outcome, at);",
];

/// The columns the queries read, by table, each with the schema version whose migration added it.
const COLUMNS: &[(&str, &str, i64)] = &[
    ("models", "id", 1),
    ("models", "revision", 1),
    ("models", "strategy", 1),
    ("models", "resolved_at", 1),
    ("models", "checked_at", 1),
    ("models", "record", 1),
    ("models", "exact", 2),
    ("failures", "id", 1),
    ("failures", "outcome", 1),
    ("failures", "at", 1),
    ("failures", "failure", 1),
];

/// The largest string or blob SQLite builds for a store (SQLITE_LIMIT_LENGTH), so that no row or
/// expression of a crafted file can fill memory. Records have no cap of their own; the largest
/// part of one, its file list, is at most 10,000 shards of paths of at most 1 KiB (about 10 MiB).
const MAX_VALUE: i32 = 64 << 20;

/// Rows read per query when streaming a whole table.
const PAGE: usize = 256;

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
    /// The clock stored times are checked against (seconds since the epoch).
    now: u64,
    /// Whether imported records count as checked by this store ([`SqliteStore::trust_imports`]).
    trust_imports: bool,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates a store for writing.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut store = SqliteStore::connect(path, OpenFlags::default())?;
        store.conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sq(path, e))?;
        store.conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| sq(path, e))?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing store read-only (for `get`, `list`, `merge` inputs, the build's exporter).
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    /// Opens `path` with SQLite's defences on (defensive mode; `trusted_schema` off, so the file's
    /// schema may call innocuous functions only; no value over [`MAX_VALUE`]), and checks, before
    /// anything is written or any table read, that its schema version is one this capcache knows
    /// and its schema a store's ([`SqliteStore::check_schema`]).
    fn connect(path: &Path, flags: OpenFlags) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sq(path, e))?;
        let harden = || -> rusqlite::Result<()> {
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
            conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE)?;
            conn.busy_timeout(std::time::Duration::from_secs(10))
        };
        harden().map_err(|e| sq(path, e))?;
        let store = SqliteStore { conn, path: path.to_owned(), now: validate::now(), trust_imports: false };
        let version = store.version()?;
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::SqliteTooNew {
                path: path.to_owned(),
                found: version,
                known: MIGRATIONS.len() as i64,
            });
        }
        store.check_schema(version)?;
        Ok(store)
    }

    /// Refuses a file whose schema is not a store's of `version`: no views or triggers (whose SQL,
    /// the file's author's, would run inside our queries), and `models` and `failures` plain
    /// tables with at least the stored columns the queries read (a store not yet migrated, at
    /// version 0, has neither table).
    fn check_schema(&self, version: i64) -> Result<(), StoreError> {
        let refuse = |why: String| Err(StoreError::NotAStore { path: self.path.clone(), why });
        let sql = |e| sq(&self.path, e);
        let code: Option<(String, String)> = self
            .conn
            .query_row("SELECT type, name FROM sqlite_schema WHERE type NOT IN ('table', 'index') LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(sql)?;
        if let Some((kind, name)) = code {
            return refuse(format!(
                "`{}` is a {}; a store has only tables and indexes, no views or triggers",
                printable(&name),
                printable(&kind)
            ));
        }
        for table in ["models", "failures"] {
            let kind: Option<String> = self
                .conn
                .query_row(
                    "SELECT type FROM pragma_table_list WHERE schema = 'main' AND name = ?1 COLLATE NOCASE",
                    [table],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            match kind.as_deref() {
                None if version == 0 => continue,
                None => return refuse(format!("it has no `{table}` table")),
                Some("table") => {}
                Some(kind) => return refuse(format!("`{table}` is a {} table, not a plain one", printable(kind))),
            }
            let mut stmt = self.conn.prepare("SELECT name, hidden FROM pragma_table_xinfo(?1)").map_err(sql)?;
            let columns: Vec<(String, i64)> =
                stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?))).and_then(Iterator::collect).map_err(sql)?;
            if let Some((name, _)) = columns.iter().find(|(_, hidden)| *hidden != 0) {
                return refuse(format!("column `{}` of `{table}` is computed, not stored", printable(name)));
            }
            let expected = COLUMNS.iter().filter(|(t, _, since)| *t == table && *since <= version);
            for (_, column, _) in expected {
                if !columns.iter().any(|(name, _)| name.eq_ignore_ascii_case(column)) {
                    return refuse(format!("`{table}` has no column `{column}`"));
                }
            }
        }
        Ok(())
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks stored times against `now` (seconds since the epoch) rather than the system clock:
    /// a build's `--now`, when later.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Whether records imported from now on count as checked (`checked_at` their `resolved_at`),
    /// so a build keeps them while their commit is unchanged. By default they do not (an empty
    /// `checked_at`): another store's record may lie consistently, and a build resolves it once.
    pub fn trust_imports(&mut self, trust: bool) {
        self.trust_imports = trust;
    }

    /// The clock stored times are checked against.
    pub fn now(&self) -> u64 {
        self.now
    }

    fn invalid(&self, error: RecordError) -> StoreError {
        StoreError::Invalid { path: self.path.clone(), error }
    }

    /// Checks a record read from the store.
    fn checked_record(&self, id: &str, r: Record) -> Result<Record, StoreError> {
        validate::check_record(id, &r, self.now).map_err(|e| self.invalid(e))?;
        Ok(r)
    }

    /// Checks a failure read from the store.
    fn checked_failure(&self, id: &str, f: Failure) -> Result<Failure, StoreError> {
        validate::check_failure(id, &f, self.now).map_err(|e| self.invalid(e))?;
        Ok(f)
    }

    fn version(&self) -> Result<i64, StoreError> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| sq(&self.path, e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version = self.version()?;
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
        upsert_model(&tx, id, record, checked_at, Conflict::Replace).map_err(|e| sq(&self.path, e))?;
        tx.prepare_cached("DELETE FROM failures WHERE id = ?1 COLLATE NOCASE")
            .and_then(|mut s| s.execute(params![id]))
            .map_err(|e| sq(&self.path, e))?;
        tx.commit().map_err(|e| sq(&self.path, e))
    }

    /// Clears a model's failure (its record was confirmed current upstream).
    pub fn clear_failure(&mut self, id: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM failures WHERE id = ?1 COLLATE NOCASE";
        self.conn.prepare_cached(sql).and_then(|mut s| s.execute(params![id])).map(drop).map_err(|e| sq(&self.path, e))
    }

    /// Records a failure. A model's earlier good record is kept.
    pub fn put_failure(&mut self, id: &str, failure: &Failure) -> Result<(), StoreError> {
        upsert_failure(&self.conn, id, failure, Conflict::Replace).map(drop).map_err(|e| sq(&self.path, e))
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
        row.map(|(json, checked_at)| {
            let record = self.checked_record(id, self.decode(id, &json)?)?;
            Ok(Stored { record, checked_at })
        })
        .transpose()
    }

    /// A model's stored failure.
    pub fn get_failure(&self, id: &str) -> Result<Option<Failure>, StoreError> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT failure FROM failures WHERE id = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(|e| sq(&self.path, e))?;
        json.map(|j| self.checked_failure(id, self.decode(id, &j)?)).transpose()
    }

    /// The record for `id` under its stored id, matched ignoring ASCII case; two stored ids that
    /// match refuse the store.
    pub fn find_model(&self, id: &str) -> Result<Option<(String, Record)>, StoreError> {
        let found = self.find("SELECT id, record FROM models WHERE id = ?1 COLLATE NOCASE ORDER BY id LIMIT 2", id)?;
        found.map(|(id, r)| Ok((id.clone(), self.checked_record(&id, r)?))).transpose()
    }

    /// The failure for `id` under its stored id, matched ignoring ASCII case; two stored ids that
    /// match refuse the store.
    pub fn find_failure(&self, id: &str) -> Result<Option<(String, Failure)>, StoreError> {
        let found =
            self.find("SELECT id, failure FROM failures WHERE id = ?1 COLLATE NOCASE ORDER BY id LIMIT 2", id)?;
        found.map(|(id, f)| Ok((id.clone(), self.checked_failure(&id, f)?))).transpose()
    }

    /// The one row `sql` finds; a second one is a duplicate id.
    fn find<T: serde::de::DeserializeOwned>(&self, sql: &str, id: &str) -> Result<Option<(String, T)>, StoreError> {
        let rows: Vec<(String, String)> = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(|e| sq(&self.path, e))?;
        if let [_, (second, _)] = rows.as_slice() {
            return Err(self.invalid(RecordError { id: second.clone(), problem: Problem::Duplicate }));
        }
        rows.into_iter().next().map(|(id, json)| self.decode(&id, &json).map(|v| (id, v))).transpose()
    }

    /// Ids of every stored model and failure.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        self.column("SELECT id FROM models UNION SELECT id FROM failures ORDER BY id")
    }

    /// Ids of a section, in id order.
    pub fn section_ids(&self, section: Section) -> Result<Vec<String>, StoreError> {
        self.column(match section {
            Section::Models => "SELECT id FROM models ORDER BY id",
            Section::Failures => "SELECT id FROM failures ORDER BY id",
        })
    }

    fn column(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| sq(&self.path, e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| sq(&self.path, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| sq(&self.path, e))
    }

    /// Counts by strategy and outcome, from indexes (a store of the first schema version, opened
    /// read-only and so not migrated, reads every record instead).
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let mut stats = Stats::default();
        let exact = if self.version()? >= 2 { "exact" } else { "json_extract(record, '$.exact')" };
        let sql = format!("SELECT strategy, {exact} = 1, COUNT(*), MAX(resolved_at) FROM models GROUP BY 1, 2");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| sq(&self.path, e))?;
        let mut rows = stmt.query([]).map_err(|e| sq(&self.path, e))?;
        while let Some(r) = rows.next().map_err(|e| sq(&self.path, e))? {
            let get = || -> rusqlite::Result<(String, bool, i64, String)> {
                Ok((r.get(0)?, r.get::<_, Option<bool>>(1)?.unwrap_or(false), r.get(2)?, r.get(3)?))
            };
            let (strategy, exact, n, newest) = get().map_err(|e| sq(&self.path, e))?;
            stats.add_model(&strategy, exact, &newest, n.unsigned_abs());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT outcome, COUNT(*), MAX(at) FROM failures GROUP BY 1")
            .map_err(|e| sq(&self.path, e))?;
        let mut rows = stmt.query([]).map_err(|e| sq(&self.path, e))?;
        while let Some(r) = rows.next().map_err(|e| sq(&self.path, e))? {
            let get = || -> rusqlite::Result<(String, i64, String)> { Ok((r.get(0)?, r.get(1)?, r.get(2)?)) };
            let (outcome, n, newest) = get().map_err(|e| sq(&self.path, e))?;
            stats.add_failure(&outcome, &newest, n.unsigned_abs());
        }
        Ok(stats)
    }

    /// A row's JSON, decoded; a key repeated in it refuses it ([`validate::decode`]).
    fn decode<T: serde::de::DeserializeOwned>(&self, id: &str, json: &str) -> Result<T, StoreError> {
        validate::decode(json).map_err(|message| StoreError::BadRow {
            path: self.path.clone(),
            id: id.to_owned(),
            message,
        })
    }

    /// Every record, in id order, read a page at a time, each checked.
    pub fn models(&self) -> Rows<'_, Record> {
        Rows::new(self, "models", "record", |s, id, r| validate::check_record(id, r, s.now))
    }

    /// Every failure, in id order, read a page at a time, each checked.
    pub fn failures(&self) -> Rows<'_, Failure> {
        Rows::new(self, "failures", "failure", |s, id, f| validate::check_failure(id, f, s.now))
    }

    /// Writes the whole store, as one consistent snapshot, in canonical order.
    pub fn write_canonical<W: Write>(&self, out: &mut CanonicalWriter<W>) -> Result<(), StoreError> {
        // One read transaction: a build writing meanwhile (WAL) is not seen half-way.
        let snapshot = self.conn.unchecked_transaction().map_err(|e| sq(&self.path, e))?;
        for row in self.failures() {
            let (id, f) = row?;
            out.failure(&id, &f)?;
        }
        for row in self.models() {
            let (id, r) = row?;
            out.model(&id, &r)?;
        }
        snapshot.finish().map_err(|e| sq(&self.path, e))
    }

    /// Starts a transaction that adds entries the store lacks (an import). Its page cache is
    /// 64 MiB, so a large import writes each page to the journal about once.
    pub fn bulk(&mut self) -> Result<Bulk<'_>, StoreError> {
        self.conn.pragma_update(None, "cache_size", -65536).map_err(|e| sq(&self.path, e))?;
        let (now, trusted) = (self.now, self.trust_imports);
        let tx = self.conn.transaction().map_err(|e| sq(&self.path, e))?;
        Ok(Bulk { tx, path: &self.path, now, trusted })
    }
}

/// An import in progress: one transaction, committed by [`Bulk::commit`], rolled back if dropped.
pub struct Bulk<'s> {
    tx: rusqlite::Transaction<'s>,
    path: &'s Path,
    now: u64,
    trusted: bool,
}

impl Bulk<'_> {
    /// The store's clock ([`SqliteStore::now`]).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Adds a record unless the store has one for `id`; says whether it was added. Its
    /// `checked_at` is its `resolved_at` when imports are trusted, else empty (never checked here).
    pub fn add_model(&self, id: &str, record: &Record) -> Result<bool, StoreError> {
        let checked_at = if self.trusted { record.resolved_at.as_str() } else { "" };
        upsert_model(&self.tx, id, record, checked_at, Conflict::Keep).map(|n| n > 0).map_err(|e| sq(self.path, e))
    }

    /// Adds a failure unless the store has one for `id`; says whether it was added.
    pub fn add_failure(&self, id: &str, failure: &Failure) -> Result<bool, StoreError> {
        upsert_failure(&self.tx, id, failure, Conflict::Keep).map(|n| n > 0).map_err(|e| sq(self.path, e))
    }

    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().map_err(|e| sq(self.path, e))
    }
}

/// How a row's value is checked.
type Check<T> = fn(&SqliteStore, &str, &T) -> Result<(), RecordError>;

/// A table read in id order, `PAGE` rows per query (no statement is held between pages). Every
/// row is read, an empty id included, each id is checked ([`check_id`]) and unique ignoring case,
/// and each value checked.
pub struct Rows<'s, T> {
    store: &'s SqliteStore,
    table: &'static str,
    column: &'static str,
    /// The last id read; `None` before the first page.
    after: Option<String>,
    page: VecDeque<(String, String)>,
    done: bool,
    seen: IdSet,
    check: Check<T>,
    value: PhantomData<T>,
}

impl<'s, T> Rows<'s, T> {
    /// The ids and `column` of `table`.
    fn new(store: &'s SqliteStore, table: &'static str, column: &'static str, check: Check<T>) -> Rows<'s, T> {
        Rows {
            store,
            table,
            column,
            after: None,
            page: VecDeque::new(),
            done: false,
            seen: IdSet::default(),
            check,
            value: PhantomData,
        }
    }

    fn fill(&mut self) -> rusqlite::Result<()> {
        let (op, after) = match &self.after {
            None => (">=", ""),
            Some(id) => (">", id.as_str()),
        };
        let sql = format!("SELECT id, {} FROM {} WHERE id {op} ?1 ORDER BY id LIMIT ?2", self.column, self.table);
        let mut stmt = self.store.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![after, PAGE as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        self.page = rows.collect::<Result<_, _>>()?;
        self.done = self.page.len() < PAGE;
        if let Some((last, _)) = self.page.back() {
            self.after = Some(last.clone());
        }
        Ok(())
    }
}

impl<T: serde::de::DeserializeOwned> Iterator for Rows<'_, T> {
    type Item = Result<(String, T), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty()
            && !self.done
            && let Err(e) = self.fill()
        {
            self.done = true;
            return Some(Err(sq(&self.store.path, e)));
        }
        let (id, json) = self.page.pop_front()?;
        let value = check_id(&self.store.path, &id).and_then(|()| {
            if !self.seen.insert(&id) {
                return Err(self.store.invalid(RecordError { id: id.clone(), problem: Problem::Duplicate }));
            }
            let value = self.store.decode(&id, &json)?;
            (self.check)(self.store, &id, &value).map_err(|e| self.store.invalid(e))?;
            Ok(value)
        });
        Some(value.map(|v| (id, v)))
    }
}

/// What an insert does when the id is already stored.
#[derive(Clone, Copy)]
enum Conflict {
    Replace,
    Keep,
}

/// Inserts a record; returns the rows changed (0 when kept). Ids are unique ignoring case: a
/// record replacing another removes it under any spelling; one kept keeps any spelling.
fn upsert_model(conn: &Connection, id: &str, r: &Record, checked_at: &str, c: Conflict) -> rusqlite::Result<usize> {
    let json = serde_json::to_string(r).expect("records serialize");
    let sql = match c {
        Conflict::Replace => {
            "INSERT INTO models (id, revision, strategy, resolved_at, checked_at, record, exact)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET revision = ?2, strategy = ?3, resolved_at = ?4, checked_at = ?5, record = ?6,
                exact = ?7"
        }
        Conflict::Keep => {
            "INSERT INTO models (id, revision, strategy, resolved_at, checked_at, record, exact)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE NOT EXISTS (SELECT 1 FROM models WHERE id = ?1 COLLATE NOCASE)
             ON CONFLICT(id) DO NOTHING"
        }
    };
    if let Conflict::Replace = c {
        conn.prepare_cached("DELETE FROM models WHERE id = ?1 COLLATE NOCASE AND id <> ?1")?.execute(params![id])?;
    }
    conn.prepare_cached(sql)?.execute(params![
        id,
        r.revision,
        r.strategy.as_str(),
        r.resolved_at,
        checked_at,
        json,
        r.exact
    ])
}

/// Inserts a failure; returns the rows changed (0 when kept).
fn upsert_failure(conn: &Connection, id: &str, f: &Failure, c: Conflict) -> rusqlite::Result<usize> {
    let json = serde_json::to_string(f).expect("failures serialize");
    let sql = match c {
        Conflict::Replace => {
            "INSERT INTO failures (id, outcome, at, failure) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET outcome = ?2, at = ?3, failure = ?4"
        }
        Conflict::Keep => {
            "INSERT INTO failures (id, outcome, at, failure) SELECT ?1, ?2, ?3, ?4
             WHERE NOT EXISTS (SELECT 1 FROM failures WHERE id = ?1 COLLATE NOCASE) ON CONFLICT(id) DO NOTHING"
        }
    };
    if let Conflict::Replace = c {
        conn.prepare_cached("DELETE FROM failures WHERE id = ?1 COLLATE NOCASE AND id <> ?1")?.execute(params![id])?;
    }
    conn.prepare_cached(sql)?.execute(params![id, f.outcome.as_str(), f.at, json])
}

fn sq(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite { path: path.to_owned(), source }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{Outcome, Strategy, Tried};
    use std::collections::BTreeMap;

    pub(crate) fn sample(rev: &str) -> Record {
        Record {
            revision: rev.into(),
            source: None,
            endpoint: None,
            strategy: Strategy::Safetensors,
            exact: true,
            approximate: false,
            parameters: BTreeMap::from([("F32".to_owned(), 22713216), ("I64".to_owned(), 512)]),
            total: 22713728,
            logical_parameters: 22713216,
            active_parameters: None,
            may_also_store: Vec::new(),
            adapter: None,
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

    /// The store's canonical text.
    pub(crate) fn canonical(store: &SqliteStore) -> String {
        let mut w = CanonicalWriter::new(Vec::new(), Path::new("<memory>")).unwrap();
        store.write_canonical(&mut w).unwrap();
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn streamed_export_matches_the_document_form_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        let mut db = crate::record::Db::default();
        // More than two pages, inserted out of order, ids whose byte order differs from their
        // case-folded order.
        for i in (0..PAGE * 2 + 7).rev() {
            let id = format!("{}/m-{i}", if i % 3 == 0 { "Org" } else { "org" });
            let r = sample(&format!("r{i}"));
            s.put_record(&id, &r, "t").unwrap();
            db.models.insert(id, r);
        }
        let at = "2026-11-26T03:00:00Z".to_owned();
        let f = Failure { outcome: Outcome::Gated, message: "needs a token".into(), at, tried: vec![] };
        s.put_failure("x/gated", &f).unwrap();
        db.failures.insert("x/gated".into(), f);
        assert_eq!(canonical(&s), db.to_canonical_json());
        assert_eq!(s.models().count(), PAGE * 2 + 7);
    }

    #[test]
    fn lookups_ignore_case_and_one_id_has_one_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        s.put_record("Org/Model", &sample("upper"), "t").unwrap();
        assert_eq!(s.find_model("org/model").unwrap().unwrap().0, "Org/Model");
        // A record under another spelling replaces it; an import keeps the stored one.
        s.put_record("org/model", &sample("lower"), "t").unwrap();
        assert_eq!(s.find_model("ORG/MODEL").unwrap().unwrap(), ("org/model".to_owned(), sample("lower")));
        let bulk = s.bulk().unwrap();
        assert!(!bulk.add_model("Org/MODEL", &sample("imported")).unwrap());
        bulk.commit().unwrap();
        assert_eq!(s.ids().unwrap(), ["org/model"]);
        assert!(s.find_model("org/other").unwrap().is_none());
        // A file someone made with both spellings is refused, naming the id.
        let both = "INSERT INTO models (id, revision, strategy, resolved_at, checked_at, record) SELECT 'Org/Model', \
                    revision, strategy, resolved_at, checked_at, record FROM models";
        s.conn.execute(both, []).unwrap();
        let err = s.find_model("org/model").unwrap_err();
        assert!(matches!(&err, StoreError::Invalid { error, .. } if error.problem == Problem::Duplicate), "{err}");
        assert!(err.to_string().contains("\"org/model\""), "{err}");
        let err = s.models().find_map(Result::err).expect("the stream refuses it too");
        assert!(err.to_string().contains("more than once"), "{err}");
        let plan: String = s
            .conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id, record FROM models WHERE id = ?1 COLLATE NOCASE",
                params!["x"],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("models_id_nocase"), "a keyed look-up: {plan}");
    }

    #[test]
    fn stats_count_by_strategy_and_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        s.put_record("a/a", &sample("r"), "t").unwrap();
        let mut estimate = sample("r");
        estimate.exact = false;
        estimate.strategy = Strategy::Config;
        estimate.resolved_at = "2026-12-01T00:00:00Z".into();
        s.put_record("a/b", &estimate, "t").unwrap();
        let f =
            Failure { outcome: Outcome::Gated, message: "m".into(), at: "2026-11-27T00:00:00Z".into(), tried: vec![] };
        s.put_failure("a/c", &f).unwrap();
        let st = s.stats().unwrap();
        assert_eq!((st.models, st.exact, st.failures), (2, 1, 1));
        assert_eq!(st.by_strategy["config"], 1);
        assert_eq!(st.failures_by_outcome["gated"], 1);
        assert_eq!(st.newest.as_deref(), Some("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn failure_keeps_earlier_record_and_success_clears_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        s.put_record("a/b", &sample("r1"), "t1").unwrap();
        s.put_failure(
            "a/b",
            &Failure {
                outcome: Outcome::RateLimited,
                message: "m".into(),
                at: "2026-11-26T04:00:00Z".into(),
                tried: vec![],
            },
        )
        .unwrap();
        assert_eq!(s.get("a/b").unwrap().unwrap().record.revision, "r1");
        assert!(s.get_failure("a/b").unwrap().is_some());
        s.put_record("a/b", &sample("r2"), "t3").unwrap();
        assert!(s.get_failure("a/b").unwrap().is_none());
    }

    #[test]
    fn a_file_whose_schema_is_not_a_stores_is_refused_before_any_query_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let failures = MIGRATIONS[0].split_once(';').unwrap().1.trim();
        let columns = "id TEXT PRIMARY KEY, revision TEXT, strategy TEXT, resolved_at TEXT, checked_at TEXT";
        let models = format!("CREATE TABLE models ({columns}, record TEXT, exact INTEGER)");
        let cases = [
            (
                "view",
                // Every query on `models` would run forever.
                format!(
                    "CREATE VIEW models AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
                     SELECT 'org/m' || x AS id, 'r' AS revision, 'config' AS strategy, '' AS resolved_at,
                        '' AS checked_at, '{{}}' AS record, 0 AS exact FROM c; {failures}"
                ),
                "`models` is a view; a store has only tables and indexes, no views or triggers",
            ),
            (
                "trigger",
                format!(
                    "{models}; {failures} CREATE TRIGGER t AFTER INSERT ON failures BEGIN DELETE FROM models; END;"
                ),
                "`t` is a trigger",
            ),
            (
                "missing-column",
                format!("CREATE TABLE models ({columns}, exact INTEGER); {failures}"),
                "`models` has no column `record`",
            ),
            (
                "generated-column",
                // Each read would build a 900 MB string.
                format!(
                    "CREATE TABLE models ({columns}, exact INTEGER,
                        record TEXT GENERATED ALWAYS AS ('\"' || hex(zeroblob(450000000)) || '\"')); {failures}"
                ),
                "column `record` of `models` is computed, not stored",
            ),
            (
                "virtual-table",
                format!("{models}; CREATE VIRTUAL TABLE failures USING rtree(id, lo, hi);"),
                "`failures` is a virtual table, not a plain one",
            ),
            ("missing-table", format!("{models};"), "it has no `failures` table"),
        ];
        for (name, sql, says) in &cases {
            let path = dir.path().join(name);
            let made = Connection::open(&path).unwrap();
            made.execute_batch(sql).unwrap();
            made.pragma_update(None, "user_version", 2).unwrap();
            drop(made);
            let before = std::fs::read(&path).unwrap();
            for open in [SqliteStore::open as fn(&Path) -> _, SqliteStore::open_read_only] {
                let err = open(&path).err().unwrap_or_else(|| panic!("{name} was opened"));
                assert!(matches!(err, StoreError::NotAStore { .. }), "{name}: {err}");
                assert!(err.to_string().contains(says) && err.to_string().contains(name), "{name}: {err}");
            }
            assert!(std::fs::read(&path).unwrap() == before, "{name} was changed");
        }
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, cases.len(), "no journal or WAL file was made beside them");
    }

    #[test]
    fn no_value_larger_than_the_cap_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        let err = s
            .conn
            .query_row("SELECT length(hex(zeroblob(?1)))", [MAX_VALUE / 2 + 1], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::TooBig), "{err}");
    }

    #[test]
    fn rows_under_invalid_ids_refuse_the_store_the_empty_id_included() {
        let dir = tempfile::tempdir().unwrap();
        for id in ["", "org/\u{1b}[2Jx"] {
            let mut s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
            s.put_record("a/b", &sample("r"), "t").unwrap();
            s.put_record(id, &sample("r"), "t").unwrap();
            let err = s.models().find_map(Result::err).expect("the invalid id is read and refused");
            assert!(matches!(&err, StoreError::BadId { .. }), "{err}");
            assert!(!err.to_string().contains('\u{1b}'), "the id is escaped: {err}");
            s.remove(id).unwrap();
        }
    }

    #[test]
    fn reopening_does_not_rerun_migrations_and_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        // A store made by the first schema version is migrated on open.
        let v1 = Connection::open(&path).unwrap();
        v1.execute_batch(MIGRATIONS[0]).unwrap();
        v1.pragma_update(None, "user_version", 1).unwrap();
        v1.execute(
            "INSERT INTO models (id, revision, strategy, resolved_at, checked_at, record) VALUES (?1, 'r0', ?2, 't', 't', ?3)",
            params!["Org/Kept", "safetensors", serde_json::to_string(&sample("r0")).unwrap()],
        )
        .unwrap();
        drop(v1);
        // Read-only, it is not migrated, and still answers.
        let old = SqliteStore::open_read_only(&path).unwrap();
        assert_eq!(
            (old.stats().unwrap().exact, old.find_model("org/kept").unwrap().unwrap().0.as_str()),
            (1, "Org/Kept")
        );
        drop(old);
        SqliteStore::open(&path).unwrap().put_record("a/b", &sample("r1"), "t").unwrap();
        let s = SqliteStore::open(&path).unwrap();
        assert!(s.get("a/b").unwrap().is_some());
        assert_eq!(s.find_model("org/kept").unwrap().unwrap().0, "Org/Kept");
        assert_eq!(s.stats().unwrap().exact, 2, "the migration filled the exact column");
        assert_eq!(s.version().unwrap(), MIGRATIONS.len() as i64);
        drop(s);
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(SqliteStore::open(&path), Err(StoreError::SqliteTooNew { found: 99, .. })));
    }
}
