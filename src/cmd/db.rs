//! Locating and loading the cache for read commands, and `capcache export`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use capcache::record::Db;
use capcache::store::{self, embedded, json, sqlite::SqliteStore};

/// Where a read command's database came from.
pub enum DbOrigin {
    File(PathBuf),
    Embedded,
}

impl std::fmt::Display for DbOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbOrigin::File(p) => write!(f, "{}", p.display()),
            DbOrigin::Embedded => f.write_str("the db.json built into capcache"),
        }
    }
}

/// The database a reader was pointed at: `--db`, else `$CAPCACHE_DB`.
pub fn configured(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| std::env::var_os("CAPCACHE_DB").filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// `--db`, else `$CAPCACHE_DB`, else `./db.json`, else the embedded copy.
pub fn load(explicit: Option<PathBuf>) -> anyhow::Result<(Db, DbOrigin)> {
    if let Some(path) = configured(explicit) {
        let db = store::load_any(&path)?;
        return Ok((db, DbOrigin::File(path)));
    }
    let local = Path::new("db.json");
    if local.exists() {
        return Ok((json::read(local)?, DbOrigin::File(local.to_owned())));
    }
    Ok((embedded::load()?, DbOrigin::Embedded))
}

/// `capcache export`: SQLite store to db.json, atomically; an invalid existing db.json is refused.
pub fn export(sqlite: &Path, db_path: &Path) -> anyhow::Result<u8> {
    anyhow::ensure!(sqlite.exists(), "SQLite store {} does not exist", sqlite.display());
    let db = SqliteStore::open_read_only(sqlite)?.export()?;
    let changed = json::write(db_path, &db).with_context(|| format!("exporting {}", sqlite.display()))?;
    eprintln!(
        "{} {} models, {} failures{}",
        db_path.display(),
        db.models.len(),
        db.failures.len(),
        if changed { "" } else { " (unchanged)" }
    );
    Ok(0)
}

/// `capcache merge`: newest record (and newest failure) per model wins; disagreements reported.
pub fn merge(inputs: &[PathBuf], out: &Path) -> anyhow::Result<u8> {
    let mut merged = Db::default();
    let mut conflicts = 0usize;
    for input in inputs {
        let db = store::load_any(input).with_context(|| format!("merging {}", input.display()))?;
        for (id, record) in db.models {
            match merged.models.get(&id) {
                Some(old) if !old.same_facts(&record) => {
                    conflicts += 1;
                    let (keep, other) =
                        if record.resolved_at > old.resolved_at { (&record, old) } else { (old, &record) };
                    eprintln!(
                        "conflict: {id}: {} ({}, {}) vs {} ({}, {}); keeping the newer",
                        keep.total, keep.revision, keep.resolved_at, other.total, other.revision, other.resolved_at
                    );
                    if record.resolved_at > old.resolved_at {
                        merged.models.insert(id, record);
                    }
                }
                Some(_) => {}
                None => {
                    merged.models.insert(id, record);
                }
            }
        }
        for (id, failure) in db.failures {
            if merged.failures.get(&id).is_none_or(|old| failure.at > old.at) {
                merged.failures.insert(id, failure);
            }
        }
    }
    let changed = json::write(out, &merged)?;
    eprintln!(
        "{}: {} models, {} failures from {} stores, {conflicts} conflicts{}",
        out.display(),
        merged.models.len(),
        merged.failures.len(),
        inputs.len(),
        if changed { "" } else { " (unchanged)" }
    );
    Ok(0)
}
