//! `capcache env` (the settings capcache runs with: version, the db read and its age and record
//! count, the endpoint, where the token comes from (never the token), the cache folders) and the
//! `--version` line, which names the embedded db's date and record count.

use std::path::PathBuf;

use capcache::store::Stats;
use capcache::store::read::ReadStore;
use capcache::time;
use serde_json::json;

use super::db::{self, DbOrigin};
use super::settings::{Hf, Setting, TokenSource};

/// The version, with the embedded db's record count and date.
pub fn version() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match ReadStore::embedded().and_then(|s| s.stats()) {
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
    match s {
        Some(s) => json!({"path": s.value, "from": s.from}),
        None => serde_json::Value::Null,
    }
}

pub fn env(json_out: bool, db_path: Option<PathBuf>) -> anyhow::Result<u8> {
    let hf = Hf::from_env();
    let (store, origin) = db::open(db_path)?;
    let stats = store.stats()?;
    let embedded = ReadStore::embedded()?.stats()?;
    let mut db = stats_json(&stats);
    match &origin {
        DbOrigin::File(path, by) => {
            db["path"] = json!(path);
            db["chosen_by"] = json!(by);
            db["kind"] = json!(if matches!(store, ReadStore::Sqlite(_)) { "sqlite" } else { "json" });
            let modified = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            if let Some(m) = modified {
                db["modified"] = json!(time::format_unix(m));
                let now = time::parse_rfc3339(&time::now_rfc3339()).unwrap_or(m);
                db["age_seconds"] = json!(now.saturating_sub(m));
            }
        }
        DbOrigin::Embedded => {
            db["kind"] = json!("embedded");
            db["chosen_by"] = json!("no --db, CAPCACHE_DB or ./db.json");
        }
    }
    let token = match hf.token(None).map(|(_, source)| source) {
        Some(TokenSource::File(path)) => json!({"from": "file", "path": path}),
        Some(source) => json!({"from": source.to_string()}),
        None if hf.implicit_token_disabled => {
            json!({"from": null, "note": "HF_HUB_DISABLE_IMPLICIT_TOKEN is set: only a --token is sent"})
        }
        None => json!({"from": null, "note": "no HF_TOKEN, HUGGING_FACE_HUB_TOKEN or token file"}),
    };
    let value = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "db": db,
        "embedded_db": stats_json(&embedded),
        "endpoint": {"url": hf.endpoint.value, "from": hf.endpoint.from},
        "token": token,
        "hf_home": path_json(&hf.home),
        "hub_cache": path_json(&hf.hub_cache),
        "token_path": path_json(&hf.token_path),
        "offline": hf.offline,
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(0);
    }
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let path_line = |v: &serde_json::Value| {
        if v.is_null() {
            "unknown (set HF_HOME or HOME)".to_owned()
        } else {
            format!("{} ({})", s(&v["path"]), s(&v["from"]))
        }
    };
    println!("capcache     {}", version());
    let age = db.get("age_seconds").and_then(|a| a.as_u64()).map(|a| format!(", modified {}", human_age(a)));
    println!(
        "db           {origin} ({}, chosen by {}): {} models, {} failures, newest record {}{}",
        s(&db["kind"]),
        s(&db["chosen_by"]),
        stats.models,
        stats.failures,
        stats.newest.as_deref().unwrap_or("none"),
        age.unwrap_or_default()
    );
    println!("endpoint     {} ({})", hf.endpoint.value, hf.endpoint.from);
    let token_line = match (&value["token"]["from"], &value["token"]["path"]) {
        (serde_json::Value::Null, _) => format!("none: {}", s(&value["token"]["note"])),
        (_, serde_json::Value::String(p)) => format!("from the file {p}"),
        (from, _) => format!("from {}", s(from)),
    };
    println!("token        {token_line}");
    println!("hf home      {}", path_line(&value["hf_home"]));
    println!("hub cache    {}", path_line(&value["hub_cache"]));
    println!("token file   {}", path_line(&value["token_path"]));
    println!("offline      {}", if hf.offline { "yes (HF_HUB_OFFLINE)" } else { "no" });
    Ok(0)
}

/// `90` -> `1 min ago`.
fn human_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7_200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3_600),
        s => format!("{} days ago", s / 86_400),
    }
}
