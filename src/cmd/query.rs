//! `capcache get`, `list` and `stats`: answers from the cache, no network, without loading it
//! whole.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use capcache::id::{ModelId, cut};
use capcache::list::parse_list;
use capcache::record::Failure;
use capcache::store::json::Section;
use capcache::store::read::Found;
use capcache::{summary, text};

use super::db::{self, DbOrigin, Layer, Layers};
use super::resolve::print_record;

/// One id asked for: valid (with the revision a models.txt line asked for), or the text and why
/// it is not an id.
type Query = Result<(ModelId, Option<String>), (String, String)>;

/// The ids of the arguments, `-` replaced by stdin's (a models.txt as it is: one id a line,
/// `@revision`, `#` comments; `discover:` lines are skipped with a note, invalid lines reported
/// with their line number).
fn queries(args: &[String]) -> anyhow::Result<Vec<Query>> {
    let mut out = Vec::new();
    for arg in args {
        if arg != "-" {
            // The text is echoed in the answer: cut, as every message quotes input.
            let echo = |e: capcache::id::IdError| (cut(arg).into_owned(), e.to_string());
            out.push(ModelId::parse(arg).map(|id| (id, None)).map_err(echo));
            continue;
        }
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("cannot read ids from stdin")?;
        let list = parse_list(bytes);
        for d in &list.discover {
            eprintln!(
                "note: stdin line {}: skipped `discover: {}` (it lists models on the Hub: `capcache discover`)",
                d.line, d.query
            );
        }
        let mut lines: Vec<(usize, Query)> =
            list.entries.into_iter().map(|e| (e.line, Ok((e.id, e.revision)))).collect();
        lines.extend(
            list.bad.into_iter().map(|b| {
                (b.line, Err((cut(b.text.trim()).into_owned(), format!("stdin line {}: {}", b.line, b.error))))
            }),
        );
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
    let valid: Vec<&str> = queries.iter().filter_map(|q| q.as_ref().ok()).map(|(id, _)| id.as_str()).collect();
    let mut found = layers.lookup(&valid)?.into_iter();
    let mut known = None;
    let single = args.len() == 1 && args[0] != "-";
    let mut code = 0u8;
    let mut objects = Vec::new();
    let (mut answered, mut missing) = (0usize, 0usize);
    for (i, query) in queries.iter().enumerate() {
        let (value, c) = match query {
            Ok((id, revision)) => {
                let (f, layer) = found.next().expect("one answer per valid id");
                let asked = Asked { id: id.as_str(), revision: revision.as_deref(), several: queries.len() > 1 };
                one(f, asked, &layers, layer, &mut known, json)?
            }
            Err((text, why)) => invalid(text, why, &layers, &mut known, json)?,
        };
        code = code.max(c);
        missing += usize::from(value["error"] == "not-found");
        answered += usize::from(c == 0);
        if json {
            objects.push(value);
        } else if i + 1 < queries.len() && c == 0 {
            outln!()?;
        }
    }
    if json {
        let out = if single { objects.pop().unwrap_or_default() } else { serde_json::Value::Array(objects) };
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else if queries.len() > 1 && code != 0 {
        // One tally instead of a hint per miss: a whole models.txt may miss hundreds.
        let mut tally = format!("{answered} of {} ids answered", queries.len());
        if missing > 0 {
            tally += &format!(
                "; {missing} not in the cache: `capcache resolve ID` shows one's facts now, and `capcache build` \
                 on a models.txt naming them adds them"
            );
        }
        eprintln!("{tally}.");
    }
    Ok(code)
}

/// What was asked: an id, and the revision of its models.txt line.
struct Asked<'a> {
    id: &'a str,
    revision: Option<&'a str>,
    /// One of several ids: a miss leaves what to do to the tally at the end.
    several: bool,
}

/// Whether a record of commit `sha` answers for `revision`: `Some` when the revision is a commit
/// (7 to 40 hex digits) and so can be compared, `None` for a branch or tag (only the Hub knows
/// which commit it names now).
fn same_commit(sha: &str, revision: &str) -> Option<bool> {
    let hex = (7..=40).contains(&revision.len()) && revision.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| sha.to_ascii_lowercase().starts_with(&revision.to_ascii_lowercase()))
}

/// An argument or line that is not a model id; an id without its organisation (the Hub's old
/// names, such as `gpt2`) is pointed at the cached ids of that name.
fn invalid(
    text: &str,
    why: &str,
    layers: &Layers,
    known: &mut Option<Vec<String>>,
    json: bool,
) -> anyhow::Result<(serde_json::Value, u8)> {
    let mut value = serde_json::json!({"id": text, "error": "invalid-id", "message": why});
    let named: Vec<String> = if !text.contains('/') && !text.is_empty() {
        let ids = match known {
            Some(ids) => ids,
            None => known.insert(layers.ids(Section::Models)?),
        };
        let suffix = format!("/{}", text.to_lowercase());
        ids.iter().filter(|id| id.to_lowercase().ends_with(&suffix)).take(5).cloned().collect()
    } else {
        Vec::new()
    };
    if !json {
        eprintln!("error: {why}");
        if !named.is_empty() {
            let named: Vec<_> = named.iter().map(|id| text::printable(id)).collect();
            eprintln!("Did you mean: {}? (the cache names models org/name, as the Hub does today)", named.join(", "));
        }
    }
    if !named.is_empty() {
        value["did_you_mean"] = named.into();
    }
    Ok((value, 2))
}

/// Prints one answer in text mode; returns its JSON object and exit code. `known` holds the
/// layers' ids once a miss has needed them for suggestions. `layer` is the layer that answered:
/// the record says which (`"db"` in JSON), and a failure it holds for the model that is newer
/// than the record is shown beside it.
fn one(
    found: Found,
    asked: Asked,
    layers: &Layers,
    layer: &Layer,
    known: &mut Option<Vec<String>>,
    json: bool,
) -> anyhow::Result<(serde_json::Value, u8)> {
    let origin = &layer.origin;
    let query = asked.id;
    match found {
        Found::Model(id, record) => {
            let shown = format!("{}@{}", text::printable(&id), text::printable(asked.revision.unwrap_or_default()));
            match asked.revision.map(|rev| (rev, same_commit(&record.revision, rev))) {
                Some((rev, Some(false))) => {
                    let message = format!(
                        "{shown}: {origin} has a record of commit {}, not of {}",
                        text::printable(&record.revision),
                        text::printable(rev)
                    );
                    if !json {
                        eprintln!("{message}; `capcache resolve {id} --revision {rev}` reads that revision now.");
                    }
                    let value = serde_json::json!({
                        "id": id, "error": "other-revision", "message": message, "revision": record.revision,
                    });
                    return Ok((value, 1));
                }
                Some((rev, None)) if !json => eprintln!(
                    "note: {shown}: the record below is of commit {}; whether {} names that commit now, only the \
                     Hub knows",
                    text::printable(&record.revision),
                    text::printable(rev)
                ),
                _ => {}
            }
            // The newest failure newer than the record, in any layer: a user's own build that
            // failed (offline, gated) leaves its failure in ./db.json beside the shipped record.
            let at = |t: &str| capcache::time::parse_rfc3339(t).unwrap_or(0);
            let mut newer: Option<(Failure, &DbOrigin)> = None;
            for l in &layers.0 {
                if let Some((_, f)) = l.store.failures(&[id.as_str()])?.pop().flatten()
                    && at(&f.at) > at(&record.resolved_at)
                    && newer.as_ref().is_none_or(|(n, _)| at(&f.at) > at(&n.at))
                {
                    newer = Some((f, &l.origin));
                }
            }
            if !json {
                print_record(&id, &record, false)?;
                outln!("  from            {origin}")?;
                if let Some((f, failed_in)) = &newer {
                    let place = if failed_in.to_string() == origin.to_string() {
                        String::new()
                    } else {
                        format!(", in {failed_in}")
                    };
                    outln!(
                        "  last build      failed {}: {}: {} (the record above is kept{place})",
                        text::printable(&f.at),
                        f.outcome.label(),
                        text::printable(&cut(&f.message))
                    )?;
                }
            }
            let newer = newer.map(|(f, _)| f);
            let mut value = serde_json::to_value(&record)?;
            value["id"] = id.into();
            value["db"] = origin.to_string().into();
            if let Some(f) = newer {
                value["failure"] = serde_json::to_value(&f)?;
            }
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
                if !asked.several {
                    eprintln!("To add it: {hint}.");
                }
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
    let ids: Vec<String> = layers.ids(Section::Models)?.into_iter().filter(keep).collect();
    if !failures {
        if json {
            outln!("{}", serde_json::to_string_pretty(&ids)?)?;
        } else {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for id in ids {
                std::io::Write::write_all(&mut out, format!("{}\n", text::printable(&id)).as_bytes())?;
            }
        }
        return Ok(0);
    }
    // With --failures every line says what it is: a record, a failure (with its outcome and
    // time), or both (a model whose last build failed keeps its earlier record).
    let failed: Vec<String> = layers.ids(Section::Failures)?.into_iter().filter(keep).collect();
    let asked: Vec<&str> = failed.iter().map(String::as_str).collect();
    let mut outcome: std::collections::BTreeMap<String, capcache::record::Failure> = Default::default();
    for layer in &layers.0 {
        for (id, f) in layer.store.failures(&asked)?.into_iter().flatten() {
            outcome.entry(id.to_lowercase()).or_insert(f);
        }
    }
    let recorded: std::collections::HashSet<String> = ids.iter().map(|id| id.to_lowercase()).collect();
    let mut all: Vec<String> = ids.into_iter().chain(failed).collect();
    all.sort();
    all.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let rows: Vec<serde_json::Value> = all
        .iter()
        .map(|id| {
            let key = id.to_lowercase();
            let mut row = serde_json::json!({"id": id, "record": recorded.contains(&key)});
            if let Some(f) = outcome.get(&key) {
                row["failure"] = serde_json::json!({"outcome": f.outcome, "at": f.at});
            }
            row
        })
        .collect();
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(0);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (id, row) in all.iter().zip(&rows) {
        let key = id.to_lowercase();
        let mark = match (row["record"].as_bool() == Some(true), outcome.get(&key)) {
            (_, None) => String::new(),
            (true, Some(f)) => {
                format!("  [failed {}: {}; earlier record kept]", f.outcome.label(), text::printable(&f.at))
            }
            (false, Some(f)) => format!("  [failed {}: {}; no record]", f.outcome.label(), text::printable(&f.at)),
        };
        std::io::Write::write_all(&mut out, format!("{}{mark}\n", text::printable(id)).as_bytes())?;
    }
    std::io::Write::flush(&mut out)?;
    // A list with no mark could mean anything: say how many failed (to stderr, as notes go).
    let marked = rows.iter().filter(|r| r.get("failure").is_some()).count();
    eprintln!("{marked} of {} models failed in their last build (marked [failed ...])", rows.len());
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
