//! The generator without a browser: what files a site has, how big, how the data is split, and
//! that hostile text from a database reaches the data files only as inert JSON strings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::data::{self, CALLBACK};
use super::*;
use crate::record::{Architecture, Capacity, Db, MadeWith, Outcome, Tried};

fn record(i: usize) -> Record {
    let total = 1_000_000 + i as u64;
    Record {
        revision: format!("{i:040x}"),
        source: None,
        endpoint: None,
        strategy: Strategy::ALL[i % Strategy::ALL.len()],
        exact: !i.is_multiple_of(3),
        approximate: false,
        parameters: BTreeMap::from([("BF16".to_owned(), total)]),
        total,
        logical_parameters: total,
        active_parameters: None,
        may_also_store: vec![],
        adapter: None,
        weight_bytes: total * 2,
        dtype: Some("BF16".into()),
        files: vec!["model.safetensors".into()],
        architecture: Some(Architecture {
            num_attention_heads: Some(32),
            num_key_value_heads: Some(8),
            ..Architecture::default()
        }),
        capacity: Capacity { kv_cache_bytes_per_token: Some(131_072), ..Capacity::default() },
        cross_check: BTreeMap::new(),
        tried: vec![],
        warnings: vec![],
        made_with: MadeWith::default(),
        resolved_at: "2026-11-26T03:00:00Z".into(),
    }
}

/// The value a data file hands to the page, checking the file's shape on the way.
fn data_value(path: &Path) -> (String, serde_json::Value) {
    let text = std::fs::read_to_string(path).unwrap();
    let inner = text
        .strip_prefix(&format!("{CALLBACK}("))
        .and_then(|t| t.strip_suffix("));\n"))
        .unwrap_or_else(|| panic!("{} is not a data file: {text:.200}", path.display()));
    let (name, literal) = inner.split_once(", JSON.parse(").unwrap();
    let name: String = serde_json::from_str(name).unwrap();
    (name, serde_json::from_str(&unquote(literal)).unwrap())
}

/// The text of a single-quoted JavaScript literal as [`data::js_string`] writes them: only the
/// escapes it uses, and no character that would end it or a script.
fn unquote(literal: &str) -> String {
    let body = literal.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')).expect("a quoted literal");
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        assert!(!matches!(c, '\'' | '\n' | '\r' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}'), "{c:?} unescaped");
        if c != '\\' {
            out.push(c);
            continue;
        }
        let hex = |n: usize, chars: &mut std::str::Chars| {
            let h: String = chars.take(n).collect();
            char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap()
        };
        match chars.next().unwrap() {
            'x' => out.push(hex(2, &mut chars)),
            'u' => out.push(hex(4, &mut chars)),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            e @ ('\\' | '\'') => out.push(e),
            e => panic!("unexpected escape \\{e}"),
        }
    }
    out
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

#[test]
fn a_site_splits_its_data_into_chunks_and_shards_and_stays_small() {
    let n = 5_000;
    let mut db = Db::default();
    let mut site = Site::new();
    for i in 0..n {
        let id = format!("Org{}/model-{i}", i % 37);
        site.add_model(&id, &record(i));
        db.models.insert(id, record(i));
    }
    let failure =
        Failure { outcome: Outcome::Gated, message: "gated".into(), at: "2026-11-27T00:00:00Z".into(), tried: vec![] };
    site.add_failure("gated/model", &failure);
    db.failures.insert("gated/model".into(), failure);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site");
    let w = site.write(&out).unwrap();

    assert_eq!((w.models, w.failures), (n, 1));
    assert_eq!(w.chunks, n.div_ceil(data::CHUNK_ROWS));
    assert_eq!(w.shards, data::shard_count(n + 1));
    assert_eq!(w.files, ASSETS.len() + 1 + w.chunks + w.shards as usize);
    let on_disk: Vec<_> = files(&out);
    assert_eq!(on_disk.len(), w.files);
    let bytes: u64 = on_disk.iter().map(|p| p.metadata().unwrap().len()).sum();
    assert_eq!(bytes, w.bytes);
    let db_bytes = db.to_canonical_json().len() as u64;
    assert!(w.bytes <= 2 * db_bytes, "site {} bytes, db.json {db_bytes}", w.bytes);

    let (name, meta) = data_value(&out.join("data/meta.js"));
    assert_eq!(name, "meta");
    assert_eq!(meta["models"], n);
    assert_eq!(meta["shards"], w.shards);
    assert_eq!(meta["chunks"], w.chunks);
    assert_eq!(meta["newest"], "2026-11-27T00:00:00Z");
    assert_eq!(meta["organisation_count"], 37);

    // The catalog: every model once, in order ignoring case, no chunk over its size.
    let mut ids = Vec::new();
    for k in 0..w.chunks {
        let (name, rows) = data_value(&out.join(format!("data/{}.js", data::chunk_name(k))));
        assert_eq!(name, data::chunk_name(k));
        let rows = rows.as_array().unwrap().clone();
        assert!(rows.len() <= data::CHUNK_ROWS && !rows.is_empty());
        for r in rows {
            let id = r[0].as_str().unwrap().to_owned();
            let rec = &db.models[&id];
            assert_eq!(r[5], rec.logical_parameters);
            assert_eq!(r[6], rec.weight_bytes);
            assert_eq!(r[2].as_u64().unwrap() & 1 == 1, rec.exact);
            assert_eq!(meta["strategies"][r[1].as_u64().unwrap() as usize], rec.strategy.as_str());
            ids.push(id);
        }
    }
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| id.to_ascii_lowercase());
    assert_eq!(ids, sorted);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>(), db.models.keys().collect::<BTreeSet<_>>());

    // The shards: each record whole, in the shard its id hashes to, and nowhere else.
    let mut seen = 0;
    for k in 0..w.shards {
        let (_, shard) = data_value(&out.join(format!("data/{}.js", data::shard_name(k))));
        for (id, value) in shard["models"].as_object().unwrap() {
            assert_eq!(data::shard_of(id, w.shards), k, "{id}");
            assert_eq!(*value, serde_json::to_value(&db.models[id]).unwrap());
            seen += 1;
        }
        for (id, value) in shard["failures"].as_object().unwrap() {
            assert_eq!(data::shard_of(id, w.shards), k);
            assert_eq!(*value, serde_json::to_value(&db.failures[id]).unwrap());
        }
    }
    assert_eq!(seen, n);
}

#[test]
fn hostile_text_reaches_the_data_only_as_json_strings() {
    let evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>&amp;\u{2028}\u{2029}\"'`${x}\\";
    let mut r = record(1);
    r.dtype = Some(evil.into());
    r.parameters = BTreeMap::from([(evil.to_owned(), 5), ("__proto__".to_owned(), 7)]);
    r.files = vec![evil.into()];
    r.warnings = vec![evil.into()];
    r.tried =
        vec![Tried { strategy: Strategy::Safetensors, outcome: Outcome::InvalidFile, message: Some(evil.into()) }];
    r.architecture.as_mut().unwrap().model_type = Some(evil.into());
    r.architecture.as_mut().unwrap().quantization_config = Some(serde_json::json!({"__proto__": {"polluted": evil}}));
    let f = Failure { outcome: Outcome::InvalidFile, message: evil.into(), at: evil.into(), tried: vec![] };
    let mut site = Site::new();
    site.add_model("evil/model", &r);
    // The command refuses invalid ids, but the generator does not rely on it.
    site.add_model(evil, &r);
    site.add_failure("evil/failure", &f);
    let dir = tempfile::tempdir().unwrap();
    let w = site.write(dir.path()).unwrap();
    assert_eq!(w.models, 2);

    for path in files(&dir.path().join("data")) {
        let text = std::fs::read_to_string(&path).unwrap();
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}', '\n'] {
            let body = text.trim_end_matches('\n');
            assert!(!body.contains(bad), "{} holds {bad:?} unescaped", path.display());
        }
        // One statement: the callback, a string literal of the name, a string literal of JSON.
        data_value(&path);
    }
    let shard = data::shard_name(data::shard_of("evil/model", w.shards));
    let (_, value) = data_value(&dir.path().join(format!("data/{shard}.js")));
    assert_eq!(value["models"]["evil/model"], serde_json::to_value(&r).unwrap());
    assert_eq!(value["models"]["evil/model"]["parameters"]["__proto__"], 7);
    assert_eq!(value["failures"]["evil/failure"]["message"], evil);
    let (_, rows) = data_value(&dir.path().join("data/c/0000.js"));
    assert!(rows.as_array().unwrap().iter().any(|r| r[0] == evil));
    // The pages hold no data at all: they are the compiled-in assets, byte for byte.
    for (name, text) in ASSETS {
        assert_eq!(std::fs::read_to_string(dir.path().join(name)).unwrap(), *text);
    }
}

#[test]
fn the_pages_put_data_into_the_document_as_text_only() {
    let js = ASSETS.iter().find(|(n, _)| *n == "site.js").unwrap().1;
    for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc"] {
        assert!(!js.contains(sink), "site.js uses {sink}");
    }
    // Nothing is fetched from elsewhere: no absolute URL in any page.
    for (name, text) in ASSETS {
        for scheme in ["http://", "https://", "//cdn", "@import", "url("] {
            assert!(!text.contains(scheme), "{name} refers to {scheme}");
        }
    }
}

#[test]
fn a_folder_that_is_not_a_site_is_refused_and_an_old_site_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Site::new().write(dir.path()).unwrap_err();
    assert!(matches!(err, SiteError::NotASite { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(), "mine");

    let out = dir.path().join("site");
    let mut big = Site::new();
    for i in 0..200 {
        big.add_model(&format!("a/m{i}"), &record(i));
    }
    assert_eq!(big.write(&out).unwrap().shards, 4);
    let mut small = Site::new();
    small.add_model("a/m1", &record(1));
    let w = small.write(&out).unwrap();
    assert_eq!(w.shards, 1);
    assert_eq!(files(&out.join("data")).len(), 3, "an earlier site's shards are gone");
}
