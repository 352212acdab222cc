//! `capcache site OUT [--db PATH]`: reads the cache (streamed from a db.json or a SQLite store,
//! or the embedded copy) into [`capcache::site::Site`] and writes the static site.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use capcache::site::Site;
use capcache::store::json::{Entry, Section, for_each_entry};
use capcache::store::read::ReadStore;

use super::db::{self, DbOrigin};

/// `capcache site`.
pub fn site(out: &Path, db_path: Option<PathBuf>, json: bool) -> anyhow::Result<u8> {
    let started = Instant::now();
    let (store, origin) = db::open(db_path)?;
    let mut site = Site::new();
    match (&store, &origin) {
        // A db.json file is streamed rather than held whole.
        (ReadStore::Json(_), DbOrigin::File(path, _)) => {
            drop(store);
            for_each_entry(path, |id, entry| {
                match entry {
                    Entry::Model(r) => site.add_model(&id, &r),
                    Entry::Failure(f) => site.add_failure(&id, &f),
                }
                Ok(())
            })?;
        }
        (ReadStore::Json(text), DbOrigin::Embedded) => {
            let idx = text.index()?;
            for (id, raw) in idx.entries(Section::Models) {
                site.add_model(id, &text.decode(id, raw)?);
            }
            for (id, raw) in idx.entries(Section::Failures) {
                site.add_failure(id, &text.decode(id, raw)?);
            }
        }
        (ReadStore::Sqlite(s), _) => {
            for row in s.models() {
                let (id, r) = row?;
                site.add_model(&id, &r);
            }
            for row in s.failures() {
                let (id, f) = row?;
                site.add_failure(&id, &f);
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
