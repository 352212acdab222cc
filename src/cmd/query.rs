//! `capcache get`, `list` and `stats`: answers from the cache, no network.

use std::collections::BTreeMap;
use std::path::PathBuf;

use capcache::id::ModelId;
use capcache::record::Db;
use capcache::summary;

use super::db;

pub fn get(model: &str, json: bool, db_path: Option<PathBuf>) -> anyhow::Result<u8> {
    let id = ModelId::parse(model)?;
    let (db, origin) = db::load(db_path)?;
    if let Some(record) = db.models.get(id.as_str()) {
        if json {
            let mut value = serde_json::to_value(record)?;
            value["id"] = id.as_str().into();
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            print!("{}", summary::record(id.as_str(), record));
        }
        return Ok(0);
    }
    if let Some(failure) = db.failures.get(id.as_str()) {
        eprint!("{} has no record in {origin}; its last build failed:\n{}", id, summary::failure(id.as_str(), failure));
        return Ok(1);
    }
    eprintln!("{id} is not in {origin} ({} models).", db.models.len());
    let close = close_matches(&db, id.as_str());
    if !close.is_empty() {
        eprintln!("Did you mean: {}?", close.join(", "));
    }
    eprintln!("To add it: `capcache resolve {id}` shows its facts now; add it to models.txt and run `capcache build`.");
    Ok(1)
}

/// Ids equal ignoring case, or within a small edit distance, or containing the query's name.
fn close_matches(db: &Db, query: &str) -> Vec<String> {
    let q = query.to_lowercase();
    let name = q.rsplit('/').next().unwrap_or(&q).to_owned();
    let mut scored: Vec<(usize, &String)> = db
        .models
        .keys()
        .filter_map(|k| {
            let kl = k.to_lowercase();
            let dist = strsim::levenshtein(&kl, &q);
            if kl == q {
                Some((0, k))
            } else if dist <= 3.max(q.len() / 8) {
                Some((dist, k))
            } else if name.len() >= 4 && kl.contains(&name) {
                Some((10, k))
            } else {
                None
            }
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, k)| k.clone()).collect()
}

pub fn list(filter: Option<&str>, json: bool, failures: bool, db_path: Option<PathBuf>) -> anyhow::Result<u8> {
    let (db, _) = db::load(db_path)?;
    let f = filter.map(str::to_lowercase);
    let keep = |id: &&String| f.as_deref().is_none_or(|f| id.to_lowercase().contains(f));
    let mut ids: Vec<&String> = db.models.keys().filter(keep).collect();
    if failures {
        ids.extend(db.failures.keys().filter(keep));
        ids.sort();
        ids.dedup();
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&ids)?);
    } else {
        for id in ids {
            println!("{id}");
        }
    }
    Ok(0)
}

pub fn stats(json: bool, db_path: Option<PathBuf>) -> anyhow::Result<u8> {
    let (db, origin) = db::load(db_path)?;
    let mut by_strategy: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_outcome: BTreeMap<&str, u64> = BTreeMap::new();
    let exact = db.models.values().filter(|r| r.exact).count();
    for r in db.models.values() {
        *by_strategy.entry(r.strategy.as_str()).or_default() += 1;
    }
    for f in db.failures.values() {
        *by_outcome.entry(f.outcome.as_str()).or_default() += 1;
    }
    if json {
        let value = serde_json::json!({
            "source": origin.to_string(),
            "models": db.models.len(),
            "exact": exact,
            "estimate": db.models.len() - exact,
            "by_strategy": by_strategy,
            "failures": db.failures.len(),
            "failures_by_outcome": by_outcome,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{origin}");
        println!("  models     {} ({exact} exact, {} estimate)", db.models.len(), db.models.len() - exact);
        for (s, n) in &by_strategy {
            println!("    {s:<14} {n}");
        }
        println!("  failures   {}", db.failures.len());
        for (o, n) in &by_outcome {
            println!("    {o:<14} {n}");
        }
    }
    Ok(0)
}
