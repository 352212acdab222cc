//! `capcache diff OLD NEW`: what changed between two db.json files, as Markdown (the nightly's
//! CHANGES.md and pull request body) or JSON (`added`, `removed`, `changed`).

use std::path::Path;

use anyhow::Context;
use capcache::diff::{Change, Diff, diff as diff_dbs};
use capcache::record::Db;
use capcache::store::{is_sqlite, json};
use capcache::summary::thousands;
use capcache::text::printable;

fn read(path: &Path) -> anyhow::Result<Db> {
    anyhow::ensure!(!is_sqlite(path), "{} is a SQLite store: diff compares db.json files", path.display());
    json::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn diff(old: &Path, new: &Path, json_out: bool) -> anyhow::Result<u8> {
    let (a, b) = (read(old)?, read(new)?);
    let d = diff_dbs(&a, &b);
    if json_out {
        let mut value = serde_json::to_value(&d)?;
        value["regressions"] = d.regressions().into();
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        out!("{}", markdown(&d, &b))?;
    }
    Ok(0)
}

/// The diff as Markdown: a summary line, then a list per kind.
pub fn markdown(d: &Diff, new: &Db) -> String {
    let mut s = format!(
        "{} added, {} removed, {} changed ({} regressions: exact to estimate)\n",
        d.added.len(),
        d.removed.len(),
        d.changed.len(),
        d.regressions()
    );
    if !d.added.is_empty() {
        s.push_str("\n## Added\n\n");
        for id in &d.added {
            let r = &new.models[id];
            let kind = if r.exact { "exact" } else { "estimate" };
            s.push_str(&format!("- `{}`: {} parameters ({}, {kind})\n", printable(id), thousands(r.total), r.strategy));
        }
    }
    if !d.removed.is_empty() {
        s.push_str("\n## Removed\n\n");
        for id in &d.removed {
            s.push_str(&format!("- `{}`\n", printable(id)));
        }
    }
    if !d.changed.is_empty() {
        s.push_str("\n## Changed\n\n");
        for c in &d.changed {
            s.push_str(&format!("- `{}`: {}\n", printable(&c.id), what_changed(c)));
        }
    }
    s
}

fn what_changed(c: &Change) -> String {
    let mut parts = Vec::new();
    if c.regression {
        parts.push("**regression: exact -> estimate**".to_owned());
    } else if let Some(e) = &c.exact {
        parts.push(format!("{} -> {}", kind(e.old), kind(e.new)));
    }
    if let Some(t) = &c.total {
        let delta = i128::from(t.new) - i128::from(t.old);
        parts.push(format!("total {} -> {} ({delta:+})", thousands(t.old), thousands(t.new)));
    }
    if let Some(st) = &c.strategy {
        parts.push(format!("strategy {} -> {}", st.old, st.new));
    }
    if let Some(r) = &c.revision {
        parts.push(format!("revision {} -> {}", short(&r.old), short(&r.new)));
    }
    if !c.fields.is_empty() {
        parts.push(format!("also {}", c.fields.join(", ")));
    }
    parts.join("; ")
}

fn kind(exact: bool) -> &'static str {
    if exact { "exact" } else { "estimate" }
}

fn short(rev: &str) -> String {
    printable(rev.get(..12).unwrap_or(rev)).into_owned()
}
