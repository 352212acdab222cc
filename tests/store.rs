//! The store commands on the binary: `export` and `merge` write the canonical bytes, report
//! "unchanged" for an unchanged store and refuse to replace a file that is not a database;
//! `merge` takes db.json files in any key order; `import` (and a build with an empty list) loads a
//! db.json into SQLite; the build's periodic exports leave the same db.json as the final one.

mod support;

use std::time::Duration;

use support::world::world;
use support::{capcache, run};

fn embedded() -> capcache::record::Db {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db.json"), capcache::store::embedded::TEXT).unwrap();
    capcache::store::json::read(&dir.path().join("db.json")).unwrap()
}

#[test]
fn export_and_merge_write_canonical_bytes_and_report_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.json"), capcache::store::embedded::TEXT).unwrap();
    let (code, _, stderr) = run(capcache(d).args(["import", "--db", "in.json", "--sqlite", "s.sqlite"]));
    assert_eq!(code, 0, "{stderr}");
    for _ in 0..2 {
        let (code, _, stderr) = run(capcache(d).args(["export", "--sqlite", "s.sqlite", "--db", "out.json"]));
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(std::fs::read_to_string(d.join("out.json")).unwrap(), embedded().to_canonical_json());
    }
    let (_, _, stderr) = run(capcache(d).args(["export", "--sqlite", "s.sqlite", "--db", "out.json"]));
    assert!(stderr.contains("(unchanged)"), "{stderr}");

    // A db.json whose keys are in no particular order (as a script that loads, edits and dumps
    // it with insertion order leaves it) merges like a canonical one.
    let mut db = embedded();
    let extra = db.models.values().next().unwrap().clone();
    db.models.insert("aaa/first-in-order".into(), extra);
    let entries: Vec<String> = db
        .models
        .iter()
        .rev()
        .map(|(id, r)| format!("{}: {}", serde_json::to_string(id).unwrap(), serde_json::to_string(r).unwrap()))
        .collect();
    let text = format!("{{\"schema\": 1, \"models\": {{{}}}}}", entries.join(", "));
    assert!(text.find("aaa/first-in-order").unwrap() > text.find("facebook/opt-125m").unwrap());
    std::fs::write(d.join("scrambled.json"), text).unwrap();
    // What a merge killed mid-way left (its pid is one no process has): swept by this merge.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
    let killed = d.join(format!(".capcache-merge.{host}.4294967.x1y2z3"));
    std::fs::create_dir(&killed).unwrap();
    std::fs::write(killed.join("input-0.sqlite"), "half a store").unwrap();
    let (code, _, stderr) = run(capcache(d).args(["merge", "scrambled.json", "s.sqlite", "--db", "merged.json"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(d.join("merged.json")).unwrap(), db.to_canonical_json());
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "scratch files left behind: {leftovers:?}");
}

#[test]
fn a_file_that_is_not_a_database_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.json"), capcache::store::embedded::TEXT).unwrap();
    run(capcache(d).args(["import", "--db", "in.json", "--sqlite", "s.sqlite"]));
    std::fs::write(d.join("models.txt"), "").unwrap();
    let foreign = "{\"not\": \"a capcache database\"}";
    std::fs::write(d.join("theirs.json"), foreign).unwrap();
    for args in [
        &["export", "--sqlite", "s.sqlite", "--db", "theirs.json"][..],
        &["merge", "s.sqlite", "--db", "theirs.json"],
        &["build", "--source", ".", "--sqlite", "s.sqlite", "--db", "theirs.json"],
    ] {
        let (code, _, stderr) = run(capcache(d).args(args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("theirs.json") && stderr.contains("not a capcache database"), "{stderr}");
        assert_eq!(std::fs::read_to_string(d.join("theirs.json")).unwrap(), foreign);
    }
}

#[test]
fn a_build_with_an_empty_list_imports_db_json_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("db.json"), capcache::store::embedded::TEXT).unwrap();
    std::fs::write(d.join("models.txt"), "# nothing to resolve\n").unwrap();
    let (code, stdout, stderr) = run(capcache(d).args(["build", "--source", ".", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["db_changed"], false, "the export of what was imported is the same bytes");
    let (code, stdout, _) = run(capcache(d).args(["list", "--db", "capcache.sqlite", "--json"]));
    assert_eq!(code, 0);
    let ids: Vec<String> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ids, embedded().models.into_keys().collect::<Vec<_>>());
}

#[test]
fn periodic_exports_during_a_build_end_in_the_same_db_json_as_one_final_export() {
    let (hub, ids) = world(40, Duration::from_millis(5));
    let mut outputs = Vec::new();
    for every in ["1", "0"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("models.txt"), ids.join("\n")).unwrap();
        let (code, _, stderr) = run(capcache(dir.path()).args([
            "build",
            "--endpoint",
            &hub.url,
            "--now",
            "2026-11-26T03:00:00Z",
            "--jobs",
            "4",
            "--export-every",
            every,
        ]));
        assert_eq!(code, 0, "{stderr}");
        assert!(!stderr.contains("periodic export failed"), "{stderr}");
        outputs.push(std::fs::read_to_string(dir.path().join("db.json")).unwrap());
        assert_eq!(capcache::store::json::read(&dir.path().join("db.json")).unwrap().models.len(), 40);
    }
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn an_entry_under_an_invalid_id_refuses_the_file_in_import_merge_seed_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("models.txt"), "").unwrap();
    let record = embedded().models.into_values().next().unwrap();
    let text = serde_json::to_string(&record).unwrap();
    for (name, id, says) in [
        ("ctrl.json", "org/\u{1b}[31mx", r#""org/\u{1b}[31mx" is not a model id"#),
        ("empty.json", "", r#""" is not a model id"#),
    ] {
        let db = format!(
            "{{\"schema\": 1, \"models\": {{\"a/b\": {text}, {}: {text}}}}}",
            serde_json::to_string(id).unwrap()
        );
        std::fs::write(d.join(name), db).unwrap();
        let store = d.join(name.replace(".json", ".sqlite"));
        let mut s = capcache::store::sqlite::SqliteStore::open(&store).unwrap();
        s.put_record(id, &record, "t").unwrap();
        drop(s);
        let store = store.file_name().unwrap().to_str().unwrap();
        for input in [name, store] {
            for args in [
                &["import", "--db", input, "--sqlite", "imported.sqlite"][..],
                &["merge", input, "--db", "merged.json"],
                &["build", "--source", ".", "--seed", input, "--db", "seeded.json", "--sqlite", "seeded.sqlite"],
                &["export", "--sqlite", input, "--db", "exported.json"],
            ] {
                if args[0] == "import" && input == store || args[0] == "export" && input == name {
                    continue; // import reads db.json, export a store
                }
                let (code, _, stderr) = run(capcache(d).args(args));
                assert_eq!(code, 2, "{args:?}: {stderr}");
                assert!(stderr.contains(input) && stderr.matches(says).count() == 1, "{args:?}: {stderr}");
                assert!(!stderr.contains('\u{1b}'), "{args:?}: {stderr}");
            }
        }
        // Read commands refuse it too, as every reader of a store does.
        for args in [&["list", "--db", name][..], &["get", "a/b", "--db", name]] {
            let (code, _, stderr) = run(capcache(d).args(args));
            assert_eq!(code, 2, "{args:?}: {stderr}");
            assert!(stderr.contains(says) && !stderr.contains('\u{1b}'), "{args:?}: {stderr}");
        }
    }
    for written in ["merged.json", "seeded.json", "exported.json"] {
        assert!(!d.join(written).exists(), "{written}");
    }
    for store in ["imported.sqlite", "seeded.sqlite"] {
        let ids = capcache::store::sqlite::SqliteStore::open_read_only(&d.join(store)).unwrap().ids().unwrap();
        assert!(ids.is_empty(), "{store}: {ids:?}");
    }
}

/// The embedded db.json as a JSON value, to craft hostile stores from.
fn embedded_value() -> serde_json::Value {
    serde_json::from_str(capcache::store::embedded::TEXT).unwrap()
}

/// Every store reader on `input` (a db.json or SQLite file in `d`): each must refuse it (exit 2)
/// with a message that contains `says`, and write nothing.
fn refused_everywhere(d: &std::path::Path, input: &str, says: &str) {
    let readers: [&[&str]; 4] = [
        &["get", "facebook/opt-125m", "--db", input],
        &["import", "--db", input, "--sqlite", "imported.sqlite"],
        &["merge", input, "--db", "merged.json"],
        &["build", "--source", ".", "--seed", input, "--db", "seeded.json", "--sqlite", "seeded.sqlite"],
    ];
    let sqlite = capcache::store::is_sqlite(&d.join(input));
    for args in readers {
        if sqlite && args[0] == "import" {
            continue; // import reads a db.json
        }
        let (code, _, stderr) = run(capcache(d).args(args));
        assert_eq!(code, 2, "{input}: {args:?}: {stderr}");
        assert!(stderr.contains(says), "{input}: {args:?} should say {says:?}: {stderr}");
    }
    for written in ["merged.json", "seeded.json"] {
        assert!(!d.join(written).exists(), "{input}: {written} was written");
    }
    for store in ["imported.sqlite", "seeded.sqlite"] {
        if d.join(store).exists() {
            let ids = capcache::store::sqlite::SqliteStore::open_read_only(&d.join(store)).unwrap().ids().unwrap();
            assert!(ids.is_empty(), "{input}: {store}: {ids:?}");
        }
    }
}

#[test]
fn stores_that_lie_are_refused_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("models.txt"), "").unwrap();
    let opt = "facebook/opt-125m";
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit, &str); 6] = [
        ("total.json", |r| r["total"] = 7.into(), "total 7 is not the sum of its parameters"),
        ("bytes.json", |r| r["weight_bytes"] = 1.into(), "weight_bytes 1 does not agree"),
        ("zzzz.json", |r| r["resolved_at"] = "zzzz".into(), "resolved_at \"zzzz\" is not an RFC 3339"),
        ("future.json", |r| r["resolved_at"] = "2999-01-01T00:00:00Z".into(), "in the future"),
        ("revision.json", |r| r["revision"] = "../../x".into(), "is not a revision"),
        ("overflow.json", |r| r["parameters"]["U8"] = u64::MAX.into(), "more than 64 bits"),
    ];
    for (name, edit, says) in cases {
        let mut db = embedded_value();
        edit(&mut db["models"][opt]);
        std::fs::write(d.join(name), serde_json::to_string(&db).unwrap()).unwrap();
        refused_everywhere(d, name, says);
        assert!(says.is_empty() || name.ends_with(".json"));
    }
    // A failure's time too.
    let mut db = embedded_value();
    db["failures"]["x/failed"] = serde_json::json!({"outcome": "gated", "message": "m", "at": "yesterday"});
    std::fs::write(d.join("at.json"), serde_json::to_string(&db).unwrap()).unwrap();
    let (code, _, stderr) = run(capcache(d).args(["merge", "at.json", "--db", "merged.json"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("at \"yesterday\" is not an RFC 3339 date-time"), "{stderr}");
}

#[test]
fn one_id_has_one_answer_in_db_json_and_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("models.txt"), "").unwrap();
    let db = embedded_value();
    let opt = serde_json::to_string(&db["models"]["facebook/opt-125m"]).unwrap();
    let mut lie: serde_json::Value = serde_json::from_str(&opt).unwrap();
    lie["logical_parameters"] = 1.into();
    let lie = serde_json::to_string(&lie).unwrap();
    // The same id twice (JSON's duplicate keys), and one id in two cases.
    for (name, second) in [("twice.json", "facebook/opt-125m"), ("case.json", "Facebook/OPT-125m")] {
        let text = format!("{{\"schema\": 1, \"models\": {{\"facebook/opt-125m\": {opt}, \"{second}\": {lie}}}}}");
        std::fs::write(d.join(name), text).unwrap();
        refused_everywhere(d, name, &format!("the entry for \"{second}\": its id appears more than once"));
        let (code, _, stderr) = run(capcache(d).args(["list", "--db", name]));
        assert_eq!(code, 2, "list: {stderr}");
    }
    // A key repeated inside a record, and a section repeated in the document.
    let inner = opt.replacen("\"total\":", "\"total\": 1, \"total\":", 1);
    std::fs::write(d.join("key.json"), format!("{{\"schema\": 1, \"models\": {{\"facebook/opt-125m\": {inner}}}}}"))
        .unwrap();
    refused_everywhere(d, "key.json", "the key \"total\" appears twice");
    let params = opt.replacen("\"parameters\":{", "\"parameters\":{\"F16\":1,", 1);
    assert_ne!(params, opt);
    std::fs::write(d.join("param.json"), format!("{{\"schema\": 1, \"models\": {{\"facebook/opt-125m\": {params}}}}}"))
        .unwrap();
    refused_everywhere(d, "param.json", "the key \"F16\" appears twice");
    let sections = format!("{{\"schema\": 1, \"models\": {{}}, \"models\": {{\"facebook/opt-125m\": {opt}}}}}");
    std::fs::write(d.join("sections.json"), sections).unwrap();
    refused_everywhere(d, "sections.json", "the key \"models\" appears twice");

    // SQLite: one spelling per id is all a store writes; a file with two is refused.
    let record: capcache::record::Record = serde_json::from_str(&opt).unwrap();
    let path = d.join("case.sqlite");
    let mut s = capcache::store::sqlite::SqliteStore::open(&path).unwrap();
    s.put_record("facebook/opt-125m", &record, "2026-11-26T03:00:00Z").unwrap();
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO models (id, revision, strategy, resolved_at, checked_at, record, exact)
         SELECT 'Facebook/OPT-125m', revision, strategy, resolved_at, checked_at, record, exact FROM models",
        [],
    )
    .unwrap();
    drop(conn);
    refused_everywhere(d, "case.sqlite", "its id appears more than once");
}

#[test]
fn merge_keeps_the_better_record_of_a_commit_whatever_its_date() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut exact = embedded_value();
    exact["models"]["facebook/opt-125m"]["exact"] = true.into();
    exact["models"]["facebook/opt-125m"]["strategy"] = "pytorch".into();
    let mut estimate = exact.clone();
    let r = &mut estimate["models"]["facebook/opt-125m"];
    r["exact"] = false.into();
    r["strategy"] = "config".into();
    r["resolved_at"] = "2026-11-30T00:00:00Z".into();
    std::fs::write(d.join("exact.json"), serde_json::to_string(&exact).unwrap()).unwrap();
    std::fs::write(d.join("estimate.json"), serde_json::to_string(&estimate).unwrap()).unwrap();
    for order in [["exact.json", "estimate.json"], ["estimate.json", "exact.json"]] {
        let (code, _, stderr) = run(capcache(d).args(["merge", order[0], order[1], "--db", "merged.json"]));
        assert_eq!(code, 0, "{stderr}");
        let merged = capcache::store::json::read(&d.join("merged.json")).unwrap();
        assert!(merged.models["facebook/opt-125m"].exact, "{order:?}: the later estimate won");
    }
}

/// A local mirror with one model (a real config.json: the config strategy answers), and its
/// honest record, built once.
fn mirror_and_honest_record(d: &std::path::Path) -> (String, capcache::record::Record) {
    let id = "test-org/pythia";
    std::fs::create_dir_all(d.join("mirror").join(id)).unwrap();
    std::fs::copy(
        support::fixtures().join("configs/EleutherAI__pythia-160m.json"),
        d.join("mirror").join(id).join("config.json"),
    )
    .unwrap();
    std::fs::write(d.join("models.txt"), format!("{id}\n")).unwrap();
    let (code, _, stderr) = run(capcache(d).args(["build", "--source", "mirror", "--db", "honest.json"]));
    assert_eq!(code, 0, "{stderr}");
    let honest = capcache::store::json::read(&d.join("honest.json")).unwrap();
    (id.to_owned(), honest.models[id].clone())
}

#[test]
fn a_seeded_record_that_lies_consistently_is_resolved_again_unless_the_seed_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (id, honest) = mirror_and_honest_record(d);
    // At the real commit, every number doubled: total is the sum, weight_bytes the dtypes'.
    let mut lie = honest.clone();
    for n in lie.parameters.values_mut() {
        *n *= 2;
    }
    lie.total *= 2;
    lie.weight_bytes *= 2;
    let mut db = capcache::record::Db::default();
    db.models.insert(id.clone(), lie.clone());
    std::fs::write(d.join("lie.json"), db.to_canonical_json()).unwrap();
    let build = |sqlite: &str, out: &str, trust: bool| {
        let mut c = capcache(d);
        c.args(["build", "--source", "mirror", "--seed", "lie.json", "--sqlite", sqlite, "--db", out, "--json"]);
        if trust {
            c.arg("--trust-seed");
        }
        let (code, stdout, stderr) = run(&mut c);
        assert_eq!(code, 0, "{stderr}");
        let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        (summary, capcache::store::json::read(&d.join(out)).unwrap().models[&id].clone())
    };
    let (summary, checked) = build("fresh.sqlite", "checked.json", false);
    assert_eq!(summary["unchanged"], 0, "{summary}");
    assert_eq!((checked.total, checked.revision.as_str()), (honest.total, lie.revision.as_str()));
    let (summary, trusted) = build("trusted.sqlite", "trusted.json", true);
    assert_eq!(summary["unchanged"], 1, "{summary}");
    assert_eq!(trusted, lie, "--trust-seed keeps the seed's word");
}

#[test]
fn only_regular_files_are_read_and_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(std::process::Command::new("mkfifo").arg(d.join("fifo")).status().unwrap().success());
    let started = std::time::Instant::now();
    for args in [
        &["get", "facebook/opt-125m", "--db", "fifo"][..],
        &["get", "facebook/opt-125m", "--db", "/dev/zero"],
        &["estimate", "fifo"],
        &["estimate", "/dev/zero"],
        &["merge", "fifo", "--db", "merged.json"],
    ] {
        let (code, _, stderr) = run(capcache(d).args(args).timeout(Duration::from_secs(20)));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("not a regular file"), "{args:?}: {stderr}");
    }
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[test]
fn long_ids_are_cut_in_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = format!("org/{}", "x".repeat(100_000));
    let (code, stdout, stderr) = run(capcache(d).args(["get", &long]));
    assert_eq!(code, 2);
    assert!(stderr.len() + stdout.len() < 4096, "{} bytes of message", stderr.len() + stdout.len());
    assert!(stderr.contains("… (100004 bytes)"), "{}", &stderr[..stderr.len().min(600)]);
    let (_, stdout, _) = run(capcache(d).args(["get", &long, "--json"]));
    assert!(stdout.len() < 4096, "{} bytes of JSON", stdout.len());
    // An id stored in a db.json.
    let mut db = embedded_value();
    db["models"][&long] = db["models"]["facebook/opt-125m"].clone();
    std::fs::write(d.join("long.json"), serde_json::to_string(&db).unwrap()).unwrap();
    let (code, _, stderr) = run(capcache(d).args(["merge", "long.json", "--db", "merged.json"]));
    assert_eq!(code, 2);
    assert!(stderr.len() < 4096, "{} bytes of message", stderr.len());
}

#[test]
fn a_db_json_from_a_newer_capcache_is_read() {
    // New fields at every level, and names this capcache does not know for an outcome, a
    // strategy (of the record, of a tried step, and of a cross-check).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("models.txt"), "").unwrap();
    let mut db = embedded_value();
    db["generator"] = "capcache 9.0".into();
    let r = &mut db["models"]["facebook/opt-125m"];
    r["strategy"] = "onnx-graph".into();
    r["tried"] = serde_json::json!([{"strategy": "hub-metadata", "outcome": "quota-exceeded", "severity": "soft"}]);
    r["cross_check"] = serde_json::json!({"config": r["total"].clone(), "onnx-graph": 1});
    r["energy_per_token"] = serde_json::json!({"joules": 0.5});
    r["architecture"]["rope_scaling_kind"] = "yarn".into();
    db["failures"]["x/later"] =
        serde_json::json!({"outcome": "moved-to-xet", "message": "m", "at": "2026-11-26T03:00:00Z", "retry": 3});
    std::fs::write(d.join("newer.json"), serde_json::to_string(&db).unwrap()).unwrap();
    let (code, stdout, stderr) = run(capcache(d).args(["get", "facebook/opt-125m", "--db", "newer.json", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (v["strategy"].as_str(), v["tried"][0]["outcome"].as_str()),
        (Some("onnx-graph"), Some("quota-exceeded"))
    );
    let (code, stdout, stderr) = run(capcache(d).args(["get", "facebook/opt-125m", "--db", "newer.json"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("onnx-graph"), "{stdout}");
    let (code, _, stderr) = run(capcache(d).args(["get", "x/later", "--db", "newer.json"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("moved-to-xet"), "{stderr}");
    for args in [
        &["merge", "newer.json", "--db", "merged.json"][..],
        &["import", "--db", "newer.json", "--sqlite", "imported.sqlite"],
        &["build", "--source", ".", "--seed", "newer.json", "--db", "seeded.json", "--sqlite", "seeded.sqlite"],
    ] {
        let (code, _, stderr) = run(capcache(d).args(args));
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    // The names are kept as text through every store; unknown fields are dropped.
    for out in ["merged.json", "seeded.json"] {
        let text = std::fs::read_to_string(d.join(out)).unwrap();
        for name in ["onnx-graph", "quota-exceeded", "moved-to-xet"] {
            assert!(text.contains(&format!("\"{name}\"")), "{out} lost {name}");
        }
        assert!(!text.contains("energy_per_token"), "{out}");
    }
}
