//! `capcache build` end to end against the fixture hub: mixed layouts in parallel, the incremental
//! rerun, faults, kill -9 and resume, the lock, bad list lines, shards and merge.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use support::hub::{Faults, FixtureHub, Repo};
use support::world::{MAX_REQUESTS, layout, repo, tensors, world};
use support::{per_dtype, read_db, run};

const NOW: &str = "2026-11-26T03:00:00Z";

fn capcache(dir: &Path, hub: &FixtureHub) -> Command {
    let mut c = support::capcache(dir);
    c.args(["build", "--endpoint", &hub.url, "--now", NOW]);
    c
}

fn write_list(dir: &Path, ids: &[String]) {
    std::fs::write(dir.join("models.txt"), ids.join("\n") + "\n").unwrap();
}

#[test]
fn two_hundred_models_resolve_exactly_and_an_unchanged_rerun_costs_one_request_each() {
    let (hub, ids) = world(200, Duration::from_millis(20));
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &ids);
    let (code, stdout, stderr) = run(capcache(dir.path(), &hub).args(["--jobs", "16", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["models"], 200);
    let db = read_db(dir.path());
    assert_eq!(db.models.len(), 200);
    for (i, id) in ids.iter().enumerate() {
        let r = &db.models[id];
        assert!(r.exact, "{id}");
        assert_eq!(r.parameters, per_dtype(&tensors(i)), "{id}");
        assert_eq!(r.strategy, ["hub-metadata", "safetensors", "safetensors"][layout(i)], "{id}");
        let hits = hub.hits_for(id);
        assert!(hits.len() <= MAX_REQUESTS[layout(i)], "{id}: {} requests: {hits:#?}", hits.len());
        let mut reads: Vec<(String, Option<String>)> =
            hits.iter().filter(|h| h.cdn || h.status == 200).map(|h| (h.target.clone(), h.range.clone())).collect();
        let n = reads.len();
        reads.sort();
        reads.dedup();
        assert_eq!(reads.len(), n, "{id}: something was read twice: {hits:#?}");
    }
    let first = std::fs::read(dir.path().join("db.json")).unwrap();

    hub.clear_log();
    let (code, stdout, stderr) = run(capcache(dir.path(), &hub).args(["--jobs", "16", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["unchanged"], 200);
    assert_eq!(summary["db_changed"], false);
    for id in &ids {
        let hits = hub.hits_for(id);
        assert_eq!(hits.len(), 1, "{id}: {hits:#?}");
        assert!(
            hits[0].method == "HEAD" && hits[0].target.contains("/resolve/"),
            "a cheap resolver request: {hits:#?}"
        );
    }
    assert_eq!(std::fs::read(dir.path().join("db.json")).unwrap(), first, "byte-identical db.json");

    // A new commit upstream is noticed and re-resolved; the rest stay unchanged.
    hub.with_repo(&ids[1], |r| r.sha = "f".repeat(40));
    let (code, stdout, _) = run(capcache(dir.path(), &hub).args(["--json"]));
    assert_eq!(code, 0);
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["unchanged"], 199);
    assert_eq!(read_db(dir.path()).models[&ids[1]].revision, "f".repeat(40));
}

#[test]
fn faults_fail_per_model_and_never_erase_earlier_records() {
    let (hub, mut ids) = world(12, Duration::ZERO);
    hub.add("org/gated", repo("org/gated", 1).faults(Faults { gated: true, ..Faults::default() }));
    hub.add("org/missing", Repo::new("org/missing").faults(Faults { missing: true, ..Faults::default() }));
    ids.extend(["org/gated".to_owned(), "org/missing".to_owned()]);
    // Transient faults that retries get past.
    hub.set_faults(&ids[0], Faults { rate_limit: 1, retry_after_secs: 1, ..Faults::default() });
    hub.set_faults(&ids[1], Faults { server_errors: 1, ..Faults::default() });
    hub.set_faults(&ids[2], Faults { resets: 1, ..Faults::default() });
    hub.set_faults(
        &ids[5],
        Faults { rate_limit: 1, rate_limit_header: true, retry_after_secs: 1, ..Faults::default() },
    );
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &ids);
    let (code, _, stderr) = run(capcache(dir.path(), &hub).args(["--attempts", "3"]));
    assert_eq!(code, 1, "{stderr}");
    let db = read_db(dir.path());
    assert_eq!(db.models.len(), 12);
    for (i, id) in ids[..12].iter().enumerate() {
        assert_eq!(db.models[id].parameters, per_dtype(&tensors(i)), "{id}");
    }
    assert_eq!(db.failures["org/gated"].outcome, "gated");
    assert_eq!(db.failures["org/missing"].outcome, "not-found");
    assert!(stderr.contains("failed org/gated: gated"), "{stderr}");

    // Persistent faults on a refresh: recorded as failures, earlier records kept.
    hub.set_faults(&ids[3], Faults { server_errors: 1000, ..Faults::default() });
    hub.set_faults(&ids[4], Faults { rate_limit: 1000, retry_after_secs: 0, ..Faults::default() });
    let (code, _, stderr) = run(capcache(dir.path(), &hub).args(["--attempts", "2", "--refresh"]));
    assert_eq!(code, 1, "{stderr}");
    let db = read_db(dir.path());
    assert_eq!(db.failures[&ids[3]].outcome, "server-error");
    assert_eq!(db.failures[&ids[4]].outcome, "rate-limited");
    assert_eq!(db.models[&ids[3]].parameters, per_dtype(&tensors(3)), "the good record survives");
    assert_eq!(db.models[&ids[4]].parameters, per_dtype(&tensors(4)));
}

#[test]
fn a_killed_build_resumes_to_the_same_cache_as_an_uninterrupted_one() {
    let (hub, ids) = world(60, Duration::from_millis(40));
    let whole = tempfile::tempdir().unwrap();
    write_list(whole.path(), &ids);
    let (code, _, stderr) = run(capcache(whole.path(), &hub).args(["--jobs", "4"]));
    assert_eq!(code, 0, "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &ids);
    let mut child = support::capcache_std(dir.path())
        .args(["build", "--endpoint", &hub.url, "--now", NOW, "--jobs", "2", "--export-every", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sqlite = dir.path().join("capcache.sqlite");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = capcache::store::sqlite::SqliteStore::open_read_only(&sqlite)
            .and_then(|s| s.ids())
            .map(|i| i.len())
            .unwrap_or(0);
        if done >= 10 {
            break;
        }
        assert!(Instant::now() < deadline, "the build made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = capcache::store::sqlite::SqliteStore::open_read_only(&sqlite).unwrap().ids().unwrap().len();
    assert!(partial < 60, "killed too late to prove anything ({partial} done)");
    let (code, _, stderr) = run(capcache(dir.path(), &hub).args(["--jobs", "2"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("db.json")).unwrap(),
        std::fs::read_to_string(whole.path().join("db.json")).unwrap()
    );
}

#[test]
fn a_second_build_on_the_same_store_is_refused_naming_the_holder() {
    let (hub, ids) = world(20, Duration::from_millis(100));
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &ids);
    let mut first = support::capcache_std(dir.path())
        .args(["build", "--endpoint", &hub.url, "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = dir.path().join("capcache.sqlite.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&lock).map(|s| s.is_empty()).unwrap_or(true) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, _, stderr) = run(&mut capcache(dir.path(), &hub));
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.id())) && stderr.contains("locked"), "{stderr}");
}

#[test]
fn bad_list_lines_are_reported_and_skipped() {
    let (hub, ids) = world(2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    // A byte order mark, a Latin-1 comment, and a line that is not UTF-8 among the bad ones.
    let mut list = format!("\u{feff}{} # caf", ids[0]).into_bytes();
    list.extend(b"\xe9\nnot a model\n\n");
    list.extend(format!("{}@main # pinned\nhttps://x/y\norg/\u{e9}", ids[1]).into_bytes());
    list.extend(b"\xff\n");
    std::fs::write(dir.path().join("models.txt"), list).unwrap();
    let (code, _, stderr) = run(&mut capcache(dir.path(), &hub));
    assert_eq!(code, 1);
    let skipped: Vec<&str> = stderr.lines().filter(|l| l.contains(": skipped: ")).collect();
    assert_eq!(skipped.len(), 3, "{stderr}");
    assert!(skipped[0].starts_with("models.txt:2: skipped") && skipped[1].starts_with("models.txt:5: skipped"));
    assert!(skipped[2].starts_with("models.txt:6: skipped: not UTF-8 text (the line's byte 7 is invalid)"), "{stderr}");
    assert_eq!(read_db(dir.path()).models.len(), 2);
    let (code, _, stderr) = run(capcache(dir.path(), &hub).args(["--models", "nope.txt"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("nope.txt"), "{stderr}");
}

#[test]
fn shards_partition_the_list_and_merge_back_to_the_whole() {
    let (hub, ids) = world(30, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &ids);
    let mut counts = BTreeMap::new();
    for k in 1..=3 {
        let sqlite = format!("shard-{k}.sqlite");
        let db = format!("shard-{k}.json");
        let (code, _, stderr) =
            run(capcache(dir.path(), &hub).args(["--shard", &format!("{k}/3"), "--sqlite", &sqlite, "--db", &db]));
        assert_eq!(code, 0, "{stderr}");
        counts.insert(k, capcache::store::json::read(&dir.path().join(&db)).unwrap().models.len());
    }
    assert_eq!(counts.values().sum::<usize>(), 30, "{counts:?}");
    assert!(counts.values().all(|n| *n > 0), "{counts:?}");
    let (code, _, stderr) = run(support::capcache(dir.path()).args([
        "merge",
        "shard-1.sqlite",
        "shard-2.sqlite",
        "shard-3.json",
        "--db",
        "merged.json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let whole = tempfile::tempdir().unwrap();
    write_list(whole.path(), &ids);
    run(&mut capcache(whole.path(), &hub));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("merged.json")).unwrap(),
        std::fs::read_to_string(whole.path().join("db.json")).unwrap()
    );
    let (_, _, stderr) = run(capcache(dir.path(), &hub).args(["--shard", "4/3"]));
    assert!(stderr.contains("between 1 and N"), "{stderr}");
}

#[test]
fn max_age_re_resolves_old_records_and_local_folders_build_offline() {
    let (hub, ids) = world(4, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &ids);
    run(&mut capcache(dir.path(), &hub));
    let mut later = support::capcache(dir.path());
    later.args(["build", "--endpoint", &hub.url, "--now", "2026-12-05T03:00:00Z", "--json"]);
    let (_, stdout, _) = run(later.args(["--max-age", "7d"]));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["unchanged"], 0, "records 9 days old are re-resolved: {v}");
    assert_eq!(v["resolved_by_strategy"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum::<u64>(), 4);
    let (_, stdout, _) = run(support::capcache(dir.path()).args([
        "build",
        "--endpoint",
        &hub.url,
        "--now",
        "2026-12-06T03:00:00Z",
        "--json",
        "--max-age",
        "7d",
    ]));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["unchanged"], 4, "records resolved a day ago are kept: {v}");

    // --source DIR: the same build from a plain {org}/{name} folder, no network.
    let mirror = tempfile::tempdir().unwrap();
    let id = "sentence-transformers/all-MiniLM-L6-v2";
    let model_dir = mirror.path().join(id);
    std::fs::create_dir_all(&model_dir).unwrap();
    for f in ["config.json", "model.safetensors", "modules.json"] {
        std::fs::copy(support::minilm_dir().join(f), model_dir.join(f)).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("models.txt"), format!("{id}\n")).unwrap();
    let (code, _, stderr) = run(support::capcache(out.path()).arg("build").arg("--source").arg(mirror.path()));
    assert_eq!(code, 0, "{stderr}");
    let r = &read_db(out.path()).models[id];
    assert_eq!((r.strategy.as_str(), r.total), ("safetensors", 22_713_728));
}

#[test]
fn an_unchanged_rerun_costs_one_request_whatever_the_layout() {
    let hub = FixtureHub::start();
    let gguf = support::fixtures().join("gguf/tiny-q8_0.gguf");
    let torch = support::fixtures().join("pytorch/llama-bf16");
    hub.add("g/only-gguf", Repo::new("g/only-gguf").disk("tiny-Q8_0.gguf", &gguf));
    hub.add("t/only-torch", Repo::from_dir("t/only-torch", &torch));
    hub.add("s/no-config", Repo::new("s/no-config").bytes("model.safetensors", support::safetensors_file(&tensors(3))));
    let ids = ["g/only-gguf".to_owned(), "t/only-torch".to_owned(), "s/no-config".to_owned()];
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &ids);
    let (code, _, stderr) = run(&mut capcache(dir.path(), &hub));
    assert_eq!(code, 0, "{stderr}");
    hub.clear_log();
    let (code, stdout, _) = run(capcache(dir.path(), &hub).arg("--json"));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["unchanged"], 3, "{v}");
    for id in &ids {
        let hits = hub.hits_for(id);
        assert_eq!(hits.len(), 1, "{id}: {hits:#?}");
        assert_eq!(hits[0].method, "HEAD", "{id}");
    }
}
