//! `capcache site OUT [--db PATH]`: reads the cache (a db.json, a SQLite store page by page, or
//! the embedded copy) into [`capcache::site::Site`] and writes the static site.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use capcache::id::ModelId;
use capcache::site::Site;
use capcache::store::json::Section;
use capcache::store::read::ReadStore;

use super::db;

/// `capcache site`.
pub fn site(out: &Path, db_path: Option<PathBuf>, json: bool) -> anyhow::Result<u8> {
    let started = Instant::now();
    let (store, origin) = db::open(db_path)?;
    let mut site = Site::new();
    // Ids are checked as every reader of a store checks them (the pages would show any safely).
    let valid =
        |id: &str| ModelId::parse(id).map(drop).with_context(|| format!("{origin} holds an entry under an invalid id"));
    match &store {
        ReadStore::Sqlite(s) => {
            for row in s.models() {
                let (id, r) = row?;
                valid(&id)?;
                site.add_model(&id, &r);
            }
            for row in s.failures() {
                let (id, f) = row?;
                valid(&id)?;
                site.add_failure(&id, &f);
            }
        }
        ReadStore::Json(text) => {
            let idx = text.index()?;
            for (id, raw) in idx.entries(Section::Models) {
                valid(id)?;
                site.add_model(id, &text.decode(id, raw)?);
            }
            for (id, raw) in idx.entries(Section::Failures) {
                valid(id)?;
                site.add_failure(id, &text.decode(id, raw)?);
            }
        }
    }
    let written = site.write(out).with_context(|| format!("writing the site into {}", out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let mut value = serde_json::to_value(&written)?;
        value["out"] = out.display().to_string().into();
        value["db"] = origin.to_string().into();
        value["seconds"] = seconds.into();
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        eprintln!(
            "{}: {} models, {} failures from {origin}; {} files, {} bytes, in {seconds:.1} s; open {}",
            out.display(),
            written.models,
            written.failures,
            written.files,
            written.bytes,
            out.join("index.html").display()
        );
    }
    Ok(0)
}
