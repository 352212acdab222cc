//! Locating the cache for read commands, and `capcache export`, `merge` and `import`: all
//! streamed, so memory stays bounded whatever the stores' sizes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use capcache::record::Record;
use capcache::store::import::import as import_json;
use capcache::store::json::Section;
use capcache::store::publish::{Published, publish};
use capcache::store::read::{Found, ReadStore};
use capcache::store::sqlite::SqliteStore;
use capcache::store::{lock, merge};
use capcache::text::printable;

use super::settings;

/// Where a read command's database came from.
pub enum DbOrigin {
    /// A file, and what named it (`--db`, `CAPCACHE_DB`, `./db.json`, `capcache update`).
    File(PathBuf, &'static str),
    Embedded,
}

/// What names the db `capcache update` installed.
pub const UPDATED: &str = "capcache update";

impl std::fmt::Display for DbOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbOrigin::File(p, UPDATED) => write!(f, "the updated db {}", p.display()),
            DbOrigin::File(p, _) => write!(f, "{}", p.display()),
            DbOrigin::Embedded => f.write_str("the db.json built into capcache"),
        }
    }
}

/// The database a reader was pointed at, and what named it: `--db`, else `$CAPCACHE_DB`.
pub fn configured(explicit: Option<PathBuf>) -> Option<(PathBuf, &'static str)> {
    match explicit {
        Some(p) => Some((p, "--db")),
        None => settings::db_var().map(|p| (p, "CAPCACHE_DB")),
    }
}

/// One database of a layered look-up.
pub struct Layer {
    pub store: ReadStore,
    pub origin: DbOrigin,
}

/// The databases a read command looks in, first first: `--db` alone; else `$CAPCACHE_DB`,
/// `./db.json` (with `cwd`), the db `capcache update` installed, and the embedded copy, each that
/// exists. An id is answered by the first layer with a record of it (else the first with a
/// failure of it), so a small db.json of one's own never hides the shipped facts.
pub struct Layers(pub Vec<Layer>);

/// Opens the layers (see [`Layers`]).
pub fn layers(explicit: Option<PathBuf>, cwd: bool) -> anyhow::Result<Layers> {
    if let Some(path) = explicit {
        let store = ReadStore::open(&path)?;
        return Ok(Layers(vec![Layer { store, origin: DbOrigin::File(path, "--db") }]));
    }
    let mut files: Vec<(PathBuf, &'static str)> = Vec::new();
    files.extend(settings::db_var().map(|p| (p, "CAPCACHE_DB")));
    let local = Path::new("db.json");
    if cwd && local.exists() {
        files.push((local.to_owned(), "./db.json"));
    }
    if let Some(dir) = settings::data_dir() {
        let updated = capcache::update::db_path(&dir);
        if updated.is_file() {
            files.push((updated, UPDATED));
        }
    }
    let mut out = Vec::new();
    for (path, by) in files {
        out.push(Layer { store: ReadStore::open(&path)?, origin: DbOrigin::File(path, by) });
    }
    out.push(Layer { store: ReadStore::embedded(), origin: DbOrigin::Embedded });
    Ok(Layers(out))
}

impl Layers {
    /// The first layer: what `stats` counts.
    pub fn first(&self) -> &Layer {
        &self.0[0]
    }

    /// For each of `ids`: the first record of it, else the first failure, else missing; with the
    /// layer that answered.
    pub fn lookup(&self, ids: &[&str]) -> anyhow::Result<Vec<(Found, &Layer)>> {
        let mut out: Vec<(Found, &Layer)> = ids.iter().map(|_| (Found::Missing, self.first())).collect();
        for layer in &self.0 {
            let open: Vec<usize> = (0..ids.len()).filter(|i| !matches!(out[*i].0, Found::Model(..))).collect();
            if open.is_empty() {
                break;
            }
            let asked: Vec<&str> = open.iter().map(|i| ids[*i]).collect();
            for (i, found) in open.into_iter().zip(layer.store.lookup(&asked)?) {
                let better =
                    matches!((&out[i].0, &found), (_, Found::Model(..)) | (Found::Missing, Found::Failure(..)));
                if better {
                    out[i] = (found, layer);
                }
            }
        }
        Ok(out)
    }

    /// The ids of a section in any layer, sorted.
    pub fn ids(&self, section: Section) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        for layer in &self.0 {
            ids.extend(layer.store.ids(section)?);
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// How the layers are named in a miss: `./db.json, the updated db ... or the db.json built
    /// into capcache`.
    pub fn names(&self) -> String {
        let names: Vec<String> = self.0.iter().map(|l| l.origin.to_string()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.concat(),
        }
    }
}

/// `--db`, else the first layer (see [`Layers`]), opened for look-ups.
pub fn open(explicit: Option<PathBuf>) -> anyhow::Result<(ReadStore, DbOrigin)> {
    let Layer { store, origin } = layers(explicit, true)?.0.remove(0);
    Ok((store, origin))
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

fn unchanged(p: &Published) -> &'static str {
    if p.changed { "" } else { " (unchanged)" }
}

/// `capcache export`: SQLite store to db.json, atomically; an invalid existing db.json is refused.
pub fn export(sqlite: &Path, db_path: &Path, json: bool) -> anyhow::Result<u8> {
    anyhow::ensure!(sqlite.exists(), "SQLite store {} does not exist", sqlite.display());
    let store = SqliteStore::open_read_only(sqlite)?;
    let done =
        publish(db_path, |w| store.write_canonical(w)).with_context(|| format!("exporting {}", sqlite.display()))?;
    if json {
        print_json(&serde_json::json!({
            "db": db_path.display().to_string(),
            "sqlite": sqlite.display().to_string(),
            "models": done.models,
            "failures": done.failures,
            "changed": done.changed,
        }))?;
    } else {
        eprintln!("{} {} models, {} failures{}", db_path.display(), done.models, done.failures, unchanged(&done));
    }
    Ok(0)
}

/// One side of a merge conflict, as reported.
fn brief(r: &Record) -> serde_json::Value {
    serde_json::json!({"total": r.total, "revision": r.revision, "resolved_at": r.resolved_at})
}

/// `capcache merge`: per model the better record of a commit, else the newer, wins (and the newest
/// failure); disagreements reported.
pub fn merge(inputs: &[PathBuf], out: &Path, json: bool) -> anyhow::Result<u8> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let opened = merge::open_inputs(inputs, dir)?;
    let mut conflicts = Vec::new();
    let mut n = 0;
    let done = publish(out, |w| {
        n = merge::merge(&opened.stores, w, &mut |id, kept, other| {
            if json {
                conflicts.push(serde_json::json!({"id": id, "kept": brief(kept), "other": brief(other)}));
            } else {
                let side =
                    |r: &Record| format!("{} ({}, {})", r.total, printable(&r.revision), printable(&r.resolved_at));
                eprintln!("conflict: {id}: {} vs {}; keeping the first (better, else newer)", side(kept), side(other));
            }
        })?;
        Ok(())
    })
    .with_context(|| format!("merging into {}", out.display()))?;
    if json {
        print_json(&serde_json::json!({
            "db": out.display().to_string(),
            "inputs": inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "models": done.models,
            "failures": done.failures,
            "changed": done.changed,
            "conflicts": conflicts,
        }))?;
    } else {
        eprintln!(
            "{}: {} models, {} failures from {} stores, {n} conflicts{}",
            out.display(),
            done.models,
            done.failures,
            inputs.len(),
            unchanged(&done)
        );
    }
    Ok(0)
}

/// `capcache import`: a db.json into a SQLite store (entries it lacks), under the build lock.
pub fn import(db_path: &Path, sqlite: &Path, json: bool) -> anyhow::Result<u8> {
    let _lock = lock::acquire(sqlite, &capcache::time::now_rfc3339())?;
    let mut store = SqliteStore::open(sqlite)?;
    let done = import_json(&mut store, db_path, &|_| true)?;
    if json {
        let mut v = serde_json::to_value(done)?;
        v["db"] = db_path.display().to_string().into();
        v["sqlite"] = sqlite.display().to_string().into();
        // As export and merge say: whether the store's contents changed.
        v["changed"] = (done.added + done.failures > 0).into();
        print_json(&v)?;
    } else {
        eprintln!(
            "{}: {} records added, {} kept (already stored), {} failures added, from {}",
            sqlite.display(),
            done.added,
            done.kept,
            done.failures,
            db_path.display()
        );
    }
    Ok(0)
}
