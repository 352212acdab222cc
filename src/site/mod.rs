//! `capcache site`: a static web site of a database. A catalog to search and a page per model
//! (`index.html?model=ORG/NAME`), written as HTML, CSS and JavaScript that need no server and
//! no external URL, and work from `file://` as well as from any static host.
//!
//! The data is split so that a page loads only what it shows: `data/meta.js` (counts and the
//! filters' choices), the catalog in chunks of compact rows sorted by id (`data/c/*.js`; the
//! first screen needs the first chunk only), and the full records in shards keyed by a hash of
//! the id (`data/m/*.js`; a model page loads one). The encoding is in [`data`]; the pages are
//! the assets below, compiled in.
//!
//! Entries are added one at a time ([`Site::add_model`], [`Site::add_failure`]) so a caller can
//! stream a store of any size; each is encoded as it is added.

pub mod data;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::record::{Failure, Record, Strategy};

/// The pages: `(file name, contents)`.
pub const ASSETS: &[(&str, &str)] = &[
    ("index.html", include_str!("index.html")),
    ("site.css", include_str!("site.css")),
    ("site.js", include_str!("site.js")),
    // GitHub Pages: serve the files as they are.
    (".nojekyll", ""),
];

/// Errors of the site generator.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not empty and holds no capcache site (no data/meta.js); refusing to write into it")]
    NotASite { path: PathBuf },
}

/// What [`Site::write`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    pub models: usize,
    pub failures: usize,
    /// Files written, the pages included.
    pub files: usize,
    /// Bytes written in all.
    pub bytes: u64,
    pub shards: u32,
    pub chunks: usize,
}

/// One entry of a record shard: its id and its JSON (already script-safe).
struct ShardEntry {
    id: String,
    json: String,
}

/// The site being assembled.
#[derive(Default)]
pub struct Site {
    /// Catalog rows, `(id, row JSON)`.
    rows: Vec<(String, String)>,
    models: Vec<ShardEntry>,
    failures: Vec<ShardEntry>,
    strategies: Table,
    dtypes: Table,
    quants: Table,
    orgs: BTreeMap<String, u64>,
    newest: Option<String>,
}

/// A list of distinct strings, each row naming one by its index.
#[derive(Default)]
struct Table {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
}

impl Table {
    /// 0 for none, else the name's index plus one.
    fn code(&mut self, name: Option<&str>) -> usize {
        let Some(name) = name else { return 0 };
        if let Some(i) = self.index.get(name) {
            return i + 1;
        }
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), self.names.len() - 1);
        self.names.len()
    }
}

// A catalog row: `[id, strategy, flags, quantization, dtype, logical_parameters, weight_bytes,
// active_parameters]`: strategy an index into `meta.strategies`, quantization and dtype 0 for none
// else an index plus one into `meta.quantizations` and `meta.dtypes`, active null when unknown.

/// Catalog row flags.
const EXACT: u64 = 1;
const MOE: u64 = 2;
const APPROXIMATE: u64 = 4;

/// Organisations listed in the filter's suggestions, the largest first (any can be typed).
const ORG_SUGGESTIONS: usize = 500;

impl Site {
    pub fn new() -> Site {
        let mut site = Site::default();
        // The known strategies in chain order; a name a newer capcache wrote joins after them.
        for s in Strategy::ALL {
            site.strategies.code(Some(s.as_str()));
        }
        site
    }

    /// Adds a model's record.
    pub fn add_model(&mut self, id: &str, record: &Record) {
        // Through a JSON value, so that fields a newer record type carries (`active_parameters`,
        // `source`, `may_also_store`) reach the page without the generator naming each.
        let value = serde_json::to_value(record).expect("records serialize to JSON");
        let active = value.get("active_parameters").and_then(serde_json::Value::as_u64);
        let arch = record.architecture.as_ref();
        let moe = arch.is_some_and(|a| a.moe.is_some());
        let quant = arch.and_then(|a| a.quantization.as_ref()).map(|q| q.method.as_str());
        let mut flags = 0;
        for (on, bit) in [(record.exact, EXACT), (moe, MOE), (record.approximate, APPROXIMATE)] {
            if on {
                flags |= bit;
            }
        }
        let strategy = self.strategies.code(Some(record.strategy.as_str())) - 1;
        let row = serde_json::json!([
            id,
            strategy,
            flags,
            self.quants.code(quant),
            self.dtypes.code(record.dtype.as_deref()),
            record.logical_parameters,
            record.weight_bytes,
            active,
        ]);
        self.rows.push((id.to_owned(), data::json(&row)));
        self.models.push(ShardEntry { id: id.to_owned(), json: data::json(&value) });
        let org = id.split('/').next().unwrap_or(id);
        *self.orgs.entry(org.to_owned()).or_default() += 1;
        self.saw(&record.resolved_at);
    }

    /// Adds a model that could not be resolved (its page says why).
    pub fn add_failure(&mut self, id: &str, failure: &Failure) {
        self.failures.push(ShardEntry { id: id.to_owned(), json: data::json(failure) });
        self.saw(&failure.at);
    }

    fn saw(&mut self, time: &str) {
        if self.newest.as_deref().is_none_or(|n| time > n) {
            self.newest = Some(time.to_owned());
        }
    }

    /// Writes the site into `out` (created when missing). A folder holding an earlier site has
    /// its data replaced; any other non-empty folder is refused.
    pub fn write(mut self, out: &Path) -> Result<Written, SiteError> {
        prepare(out)?;
        let mut w = Writer { out, written: Written::default() };
        for (name, text) in ASSETS {
            w.file(name, text)?;
        }

        // Ignoring ASCII case, as people read a list of ids (ties by the id itself).
        self.rows.sort_by_cached_key(|(id, _)| (id.to_ascii_lowercase(), id.clone()));
        let chunks: Vec<&[(String, String)]> = self.rows.chunks(data::CHUNK_ROWS).collect();
        for (k, chunk) in chunks.iter().enumerate() {
            let mut json = String::from("[");
            for (i, (_, row)) in chunk.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(row);
            }
            json.push(']');
            let name = data::chunk_name(k);
            w.file(&format!("data/{name}.js"), &data::data_file(&name, &json))?;
        }

        let shards = data::shard_count(self.models.len() + self.failures.len());
        let mut by_shard: Vec<(Vec<&ShardEntry>, Vec<&ShardEntry>)> = vec![Default::default(); shards as usize];
        for e in &self.models {
            by_shard[data::shard_of(&e.id, shards) as usize].0.push(e);
        }
        for e in &self.failures {
            by_shard[data::shard_of(&e.id, shards) as usize].1.push(e);
        }
        for (k, (models, failures)) in by_shard.iter().enumerate() {
            let json = format!("{{\"models\":{},\"failures\":{}}}", object(models), object(failures));
            let name = data::shard_name(k as u32);
            w.file(&format!("data/{name}.js"), &data::data_file(&name, &json))?;
        }

        let mut orgs: Vec<(&String, &u64)> = self.orgs.iter().collect();
        orgs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        orgs.truncate(ORG_SUGGESTIONS);
        let meta = serde_json::json!({
            "format": 1,
            "models": self.models.len(),
            "failures": self.failures.len(),
            "shards": shards,
            "chunks": chunks.len(),
            "chunk_rows": data::CHUNK_ROWS,
            "strategies": self.strategies.names,
            "dtypes": self.dtypes.names,
            "quantizations": self.quants.names,
            "organisations": orgs,
            "organisation_count": self.orgs.len(),
            "newest": self.newest,
        });
        w.file("data/meta.js", &data::data_file("meta", &data::json(&meta)))?;
        w.written.models = self.models.len();
        w.written.failures = self.failures.len();
        w.written.shards = shards;
        w.written.chunks = chunks.len();
        Ok(w.written)
    }
}

/// `{"id": json, ...}` of shard entries (ids sorted, so the output is reproducible).
fn object(entries: &[&ShardEntry]) -> String {
    let mut sorted: Vec<&&ShardEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut json = String::from("{");
    for (i, e) in sorted.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&data::json(&e.id));
        json.push(':');
        json.push_str(&e.json);
    }
    json.push('}');
    json
}

/// Makes `out` ready: created when missing; an earlier site's data removed; anything else that
/// is not empty refused.
fn prepare(out: &Path) -> Result<(), SiteError> {
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| SiteError::Write { path, source }
    };
    std::fs::create_dir_all(out).map_err(err(out))?;
    let data = out.join("data");
    if data.join("meta.js").is_file() {
        return std::fs::remove_dir_all(&data).map_err(err(&data));
    }
    let mut entries = std::fs::read_dir(out).map_err(err(out))?;
    if entries.next().is_some() {
        return Err(SiteError::NotASite { path: out.to_owned() });
    }
    Ok(())
}

struct Writer<'a> {
    out: &'a Path,
    written: Written,
}

impl Writer<'_> {
    fn file(&mut self, name: &str, text: &str) -> Result<(), SiteError> {
        let path = self.out.join(name);
        let err = |source| SiteError::Write { path: path.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        std::fs::write(&path, text).map_err(err)?;
        self.written.files += 1;
        self.written.bytes += text.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
