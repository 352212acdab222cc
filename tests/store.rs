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
