//! `capcache get`, `list` and `stats`: answers from the cache, no network, without loading it
//! whole.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use capcache::id::{ModelId, cut};
use capcache::list::parse_list;
use capcache::store::json::Section;
use capcache::store::read::Found;
use capcache::{summary, text};

use super::db::{self, DbOrigin, Layers};
use super::resolve::print_record;

/// One id asked for: valid, or the text and why it is not an id.
type Query = Result<ModelId, (String, String)>;

/// The ids of the arguments, `-` replaced by stdin's (a models.txt: one a line, `#` comments,
/// `@revision` ignored).
fn queries(args: &[String]) -> anyhow::Result<Vec<Query>> {
    let mut out = Vec::new();
    for arg in args {
        if arg != "-" {
            // The text is echoed in the answer: cut, as every message quotes input.
            let echo = |e: capcache::id::IdError| (cut(arg).into_owned(), e.to_string());
            out.push(ModelId::parse(arg).map_err(echo));
            continue;
        }
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("cannot read ids from stdin")?;
        let list = parse_list(bytes);
        let mut lines: Vec<(usize, Query)> = list.entries.into_iter().map(|e| (e.line, Ok(e.id))).collect();
        lines.extend(
            list.bad.into_iter().map(|b| (b.line, Err((cut(b.text.trim()).into_owned(), b.error.to_string())))),
        );
        lines.extend(list.discover.into_iter().map(|d| {
            let why = "a `discover:` line lists models on the Hub (`capcache discover`); `get` takes ids";
            (d.line, Err((format!("discover: {}", d.query), why.to_owned())))
        }));
        lines.sort_by_key(|(line, _)| *line);
        out.extend(lines.into_iter().map(|(_, q)| q));
    }
    Ok(out)
}

/// `capcache get`: one or more ids. With `--json`, one id argument prints one object and
/// anything else an array, each element the record (with `"id"`) or an error object.
pub fn get(args: &[String], json: bool, db_path: Option<PathBuf>) -> anyhow::Result<u8> {
    let queries = queries(args)?;
    let layers = db::layers(db_path, true)?;
    let valid: Vec<&str> = queries.iter().filter_map(|q| q.as_ref().ok()).map(ModelId::as_str).collect();
    let mut found = layers.lookup(&valid)?.into_iter();
    let mut known = None;
    let single = args.len() == 1 && args[0] != "-";
    let mut code = 0u8;
    let mut objects = Vec::new();
    for (i, query) in queries.iter().enumerate() {
        let (value, c) = match query {
            Ok(id) => {
                let (f, layer) = found.next().expect("one answer per valid id");
                one(f, id.as_str(), &layers, &layer.origin, &mut known, json)?
            }
            Err((text, why)) => {
                if !json {
                    eprintln!("error: {why}");
                }
                (serde_json::json!({"id": text, "error": "invalid-id", "message": why}), 2)
            }
        };
        code = code.max(c);
        if json {
            objects.push(value);
        } else if i + 1 < queries.len() && c == 0 {
            outln!()?;
        }
    }
    if json {
        let out = if single { objects.pop().unwrap_or_default() } else { serde_json::Value::Array(objects) };
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    }
    Ok(code)
}

/// Prints one answer in text mode; returns its JSON object and exit code. `known` holds the
/// layers' ids once a miss has needed them for suggestions. `origin` is the layer that answered:
/// the record says which (`"db"` in JSON).
fn one(
    found: Found,
    query: &str,
    layers: &Layers,
    origin: &DbOrigin,
    known: &mut Option<Vec<String>>,
    json: bool,
) -> anyhow::Result<(serde_json::Value, u8)> {
    match found {
        Found::Model(id, record) => {
            if !json {
                print_record(&id, &record, false)?;
                outln!("  from            {origin}")?;
            }
            let mut value = serde_json::to_value(&record)?;
            value["id"] = id.into();
            value["db"] = origin.to_string().into();
            Ok((value, 0))
        }
        Found::Failure(id, failure) => {
            let message = format!("{id} has no record in {}; its last build failed ({origin})", layers.names());
            if !json {
                eprint!("{message}:\n{}", summary::failure(&id, &failure));
            }
            let value = serde_json::json!({"id": id, "error": "failed", "message": message, "failure": failure});
            Ok((value, 1))
        }
        Found::Missing => {
            let ids = match known {
                Some(ids) => ids,
                None => known.insert(layers.ids(Section::Models)?),
            };
            let message = format!("{query} is not in {} ({} models)", layers.names(), ids.len());
            let close = close_matches(ids, query);
            let hint = format!(
                "`capcache resolve {query}` shows its facts now; add it to models.txt and run `capcache build`"
            );
            if !json {
                eprintln!("{message}.");
                if !close.is_empty() {
                    let close: Vec<_> = close.iter().map(|id| text::printable(id)).collect();
                    eprintln!("Did you mean: {}?", close.join(", "));
                }
                eprintln!("To add it: {hint}.");
            }
            let value = serde_json::json!({
                "id": query, "error": "not-found", "message": message, "did_you_mean": close, "hint": hint,
            });
            Ok((value, 1))
        }
    }
}

/// Ids within a small edit distance of the query, or containing its name, ignoring case.
fn close_matches(ids: &[String], query: &str) -> Vec<String> {
    let q = query.to_lowercase();
    let name = q.rsplit('/').next().unwrap_or(&q).to_owned();
    let mut scored: Vec<(usize, &String)> = ids
        .iter()
        .filter_map(|k| {
            let kl = k.to_lowercase();
            let dist = strsim::levenshtein(&kl, &q);
            if dist <= 3.max(q.len() / 8) {
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
    let layers = db::layers(db_path, true)?;
    let f = filter.map(str::to_lowercase);
    let keep = |id: &String| f.as_deref().is_none_or(|f| id.to_lowercase().contains(f));
    let mut ids: Vec<String> = layers.ids(Section::Models)?.into_iter().filter(keep).collect();
    if failures {
        ids.extend(layers.ids(Section::Failures)?.into_iter().filter(keep));
        ids.sort();
        ids.dedup();
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&ids)?)?;
    } else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for id in ids {
            std::io::Write::write_all(&mut out, format!("{}\n", text::printable(&id)).as_bytes())?;
        }
    }
    Ok(0)
}

pub fn stats(json: bool, db_path: Option<PathBuf>) -> anyhow::Result<u8> {
    let (store, origin) = db::open(db_path)?;
    let s = store.stats()?;
    let estimate = s.models - s.exact;
    if json {
        let mut value = serde_json::to_value(&s)?;
        value["source"] = origin.to_string().into();
        value["estimate"] = estimate.into();
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        outln!("{origin}")?;
        outln!("  models     {} ({} exact, {estimate} estimate)", s.models, s.exact)?;
        for (st, n) in &s.by_strategy {
            outln!("    {st:<14} {n}")?;
        }
        outln!("  failures   {}", s.failures)?;
        for (o, n) in &s.failures_by_outcome {
            outln!("    {o:<14} {n}")?;
        }
        outln!("  newest     {}", s.newest.as_deref().map_or("none".into(), text::printable))?;
    }
    Ok(0)
}
