//! `capcache env` (the settings capcache runs with: version, the db read and its age and record
//! count, the endpoint, where the token comes from (never the token), the cache folders) and the
//! `--version` line, which names the embedded db's date and record count.

use std::path::PathBuf;

use capcache::store::Stats;
use capcache::store::read::ReadStore;
use capcache::time;
use serde_json::json;

use super::db::{self, DbOrigin, Layer};
use super::settings::{Hf, Setting, TokenSource};

/// The version, with the embedded db's record count and date.
pub fn version() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match ReadStore::embedded().stats() {
        Ok(s) => format!(
            "{version} (embedded db.json: {} models, {} failures, newest record {})",
            s.models,
            s.failures,
            s.newest.as_deref().unwrap_or("none")
        ),
        Err(_) => version.to_owned(),
    }
}

fn stats_json(s: &Stats) -> serde_json::Value {
    json!({"models": s.models, "failures": s.failures, "newest": s.newest})
}

fn path_json(s: &Option<Setting<PathBuf>>) -> serde_json::Value {
    s.as_ref().map_or(serde_json::Value::Null, |s| json!({"path": s.value, "from": s.from}))
}

fn path_text(s: &Option<Setting<PathBuf>>) -> String {
    s.as_ref()
        .map_or_else(|| "unknown: set HF_HOME (or HOME)".to_owned(), |s| format!("{} ({})", s.value.display(), s.from))
}

/// The db's file, what named it, and when it was last modified (seconds since the epoch).
fn file_facts(origin: &DbOrigin) -> Option<(&std::path::Path, &'static str, Option<u64>)> {
    let DbOrigin::File(path, by) = origin else { return None };
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    Some((path, *by, modified))
}

fn kind_of(layer: &Layer) -> &'static str {
    match (&layer.store, &layer.origin) {
        (_, DbOrigin::Embedded) => "embedded",
        (ReadStore::Sqlite(_), _) => "sqlite",
        (ReadStore::Json(_), _) => "json",
    }
}

/// One layer of the look-ups, as `env --json` describes it: its kind, counts and newest record,
/// its file and what named it, the file's age, and for the updated db what was installed.
fn layer_json(layer: &Layer, now: u64) -> anyhow::Result<serde_json::Value> {
    let mut v = stats_json(&layer.store.stats()?);
    v["kind"] = json!(kind_of(layer));
    if let Some((path, by, modified)) = file_facts(&layer.origin) {
        v["path"] = json!(path);
        v["chosen_by"] = json!(by);
        v["modified"] = json!(modified.map(time::format_unix));
        v["age_seconds"] = json!(modified.map(|m| now.saturating_sub(m)));
        if by == db::UPDATED {
            v["publication"] = json!(path.parent().and_then(capcache::update::installed));
        }
    }
    Ok(v)
}

pub fn env(json_out: bool, db_path: Option<PathBuf>) -> anyhow::Result<u8> {
    let hf = Hf::from_env();
    let layers = db::layers(db_path, true)?;
    let top = layers.first();
    let (store, origin) = (&top.store, &top.origin);
    let stats = store.stats()?;
    let kind = kind_of(top);
    let file = file_facts(origin);
    let now = time::parse_rfc3339(&time::now_rfc3339()).unwrap_or(0);
    let age = file.and_then(|(_, _, m)| m).map(|m| now.saturating_sub(m));
    let token = hf.token(None).map(|(_, source)| source);
    let no_token = if hf.implicit_token_disabled {
        "HF_HUB_DISABLE_IMPLICIT_TOKEN is set: only a --token is sent"
    } else {
        "no HF_TOKEN, HUGGING_FACE_HUB_TOKEN or token file"
    };
    if json_out {
        let mut db = stats_json(&stats);
        db["kind"] = json!(kind);
        if let Some((path, by, modified)) = file {
            db["path"] = json!(path);
            db["chosen_by"] = json!(by);
            db["modified"] = json!(modified.map(time::format_unix));
            db["age_seconds"] = json!(age);
        }
        let token = match &token {
            Some(TokenSource::File(path)) => json!({"from": "file", "path": path}),
            Some(source) => json!({"from": source.to_string()}),
            None => json!({"from": null, "note": no_token}),
        };
        let described: anyhow::Result<Vec<_>> = layers.0.iter().map(|l| layer_json(l, now)).collect();
        let value = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "db": db,
            "layers": described?,
            "embedded_db": stats_json(&ReadStore::embedded().stats()?),
            "endpoint": {"url": hf.endpoint.value, "from": hf.endpoint.from},
            "token": token,
            "hf_home": path_json(&hf.home),
            "hub_cache": path_json(&hf.hub_cache),
            "token_path": path_json(&hf.token_path),
            "offline": hf.offline,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(0);
    }
    outln!("capcache     {}", version())?;
    let chosen = file.map_or_else(|| "no --db, CAPCACHE_DB or ./db.json".to_owned(), |(_, by, _)| format!("from {by}"));
    let modified = age.map(|a| format!(", file modified {}", human_age(a))).unwrap_or_default();
    outln!(
        "db           {origin} ({kind}, {chosen}): {} models, {} failures, newest record {}{modified}",
        stats.models,
        stats.failures,
        stats.newest.as_deref().unwrap_or("none"),
    )?;
    if layers.0.len() > 1 {
        outln!("look-ups     the first of these with a record of the id answers:")?;
        for layer in &layers.0 {
            let s = layer.store.stats()?;
            let age = file_facts(&layer.origin)
                .and_then(|(_, _, m)| m)
                .map(|m| format!(", file modified {}", human_age(now.saturating_sub(m))))
                .unwrap_or_default();
            outln!(
                "  {} ({}): {} models, newest record {}{age}",
                layer.origin,
                kind_of(layer),
                s.models,
                s.newest.as_deref().unwrap_or("none")
            )?;
        }
    }
    outln!("endpoint     {} ({})", hf.endpoint.value, hf.endpoint.from)?;
    match token {
        Some(source) => outln!("token        from {source}")?,
        None => outln!("token        none: {no_token}")?,
    }
    outln!("hf home      {}", path_text(&hf.home))?;
    outln!("hub cache    {}", path_text(&hf.hub_cache))?;
    outln!("token file   {}", path_text(&hf.token_path))?;
    outln!("offline      {}", if hf.offline { "yes (HF_HUB_OFFLINE)" } else { "no" })?;
    Ok(0)
}

/// `90` -> `90 s ago`.
fn human_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7_200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3_600),
        s => format!("{} days ago", s / 86_400),
    }
}
