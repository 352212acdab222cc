//! What a newcomer meets in the first hour (issue 24): interrupts that keep the work and say so,
//! outputs checked before any request, messages that name the flag to use, man pages per command.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::world::world;
use support::{capcache, capcache_std, run};

const NOW: &str = "2026-11-26T03:00:00Z";

fn write_list(dir: &Path, ids: &[String]) {
    std::fs::write(dir.join("models.txt"), ids.join("\n") + "\n").unwrap();
}

fn stored(sqlite: &Path) -> usize {
    capcache::store::sqlite::SqliteStore::open_read_only(sqlite).and_then(|s| s.ids()).map(|i| i.len()).unwrap_or(0)
}

#[test]
fn an_interrupted_build_keeps_and_exports_its_records_says_so_and_a_rerun_resumes() {
    let (hub, ids) = world(40, Duration::from_millis(60));
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &ids);
    let child = capcache_std(dir.path())
        .args(["build", "--endpoint", &hub.url, "--now", NOW, "--jobs", "1", "--export-every", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sqlite = dir.path().join("capcache.sqlite");
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&sqlite) < 3 {
        assert!(Instant::now() < deadline, "the build made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
    assert!(stderr.contains("run the same command again to resume"), "{stderr}");
    let kept = stored(&sqlite);
    assert!((3..40).contains(&kept), "interrupted too late to prove anything ({kept} kept)");
    // The finished records were exported too, not only committed.
    let db = capcache::store::json::read(&dir.path().join("db.json")).unwrap();
    assert_eq!(db.models.len(), kept);
    assert!(stderr.contains(&format!("{kept} of 40 models finished")), "{stderr}");

    let (code, _, stderr) = run(capcache(dir.path()).args(["build", "--endpoint", &hub.url, "--now", NOW]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(capcache::store::json::read(&dir.path().join("db.json")).unwrap().models.len(), 40);
}

#[test]
fn an_unwritable_db_fails_before_the_first_request_and_names_the_folder() {
    let (hub, ids) = world(3, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &ids);
    // A folder that cannot exist (its parent is a file): unwritable even for root.
    std::fs::write(dir.path().join("plain-file"), "").unwrap();
    hub.clear_log();
    let (code, _, stderr) =
        run(capcache(dir.path()).args(["build", "--endpoint", &hub.url, "--db", "plain-file/db.json"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--db plain-file/db.json: cannot write into plain-file"), "{stderr}");
    assert!(hub.log().is_empty(), "requests were made before the output was checked: {:?}", hub.log());
    // A folder given as the db is refused as clearly.
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let (code, _, stderr) = run(capcache(dir.path()).args(["build", "--endpoint", &hub.url, "--db", "out"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is a folder"), "{stderr}");
}

#[test]
fn skipped_list_lines_are_counted_in_the_summary() {
    let (hub, ids) = world(2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("models.txt"), format!("{}\nnot a model id\n{}\n", ids[0], ids[1])).unwrap();
    let (code, _, stderr) = run(capcache(dir.path()).args(["build", "--endpoint", &hub.url, "--now", NOW]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("models.txt:2: skipped"), "{stderr}");
    assert!(stderr.contains("1 line of the model list skipped"), "{stderr}");
}

#[test]
fn a_build_without_a_model_list_says_how_to_write_one() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(capcache(dir.path()).args(["build", "--endpoint", "http://127.0.0.1:9", "--now", NOW]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no model list at models.txt"), "{stderr}");
    assert!(stderr.contains("one model id a line") && stderr.contains("--models FILE"), "{stderr}");
    assert!(!dir.path().join("db.json").exists(), "nothing is written");
}

#[test]
fn a_resolve_that_cannot_reach_the_hub_says_what_to_check() {
    // Nothing listens on port 9 of loopback: the connection is refused at once.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        run(capcache(dir.path()).args(["resolve", "org/model", "--endpoint", "http://127.0.0.1:9", "--attempts", "1"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("network-error"), "{stderr}");
    assert!(stderr.contains("HTTPS_PROXY") && stderr.contains("`capcache get` answers from the cache"), "{stderr}");

    // Its kin: a build whose models failed that way says it once, at the end.
    std::fs::write(dir.path().join("models.txt"), "org/a\norg/b\n").unwrap();
    let (code, _, stderr) =
        run(capcache(dir.path()).args(["build", "--endpoint", "http://127.0.0.1:9", "--attempts", "1", "--now", NOW]));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.matches("HTTPS_PROXY").count(), 1, "{stderr}");
    assert!(stderr.contains("the next run tries them again"), "{stderr}");
    // And every command whose error comes from the Hub client.
    for (args, exit) in [(&["update"][..], 2), (&["discover", "--author", "org"], 1)] {
        let (code, _, stderr) =
            run(capcache(dir.path()).args(args).args(["--endpoint", "http://127.0.0.1:9", "--attempts", "1"]));
        assert_eq!(code, exit, "{args:?}: {stderr}");
        assert!(stderr.contains("network error") && stderr.contains("HTTPS_PROXY"), "{args:?}: {stderr}");
    }
}

#[test]
fn the_command_list_says_estimate_takes_a_folder_too() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, stderr) = run(capcache(dir.path()).arg("--help"));
    assert_eq!(code, 0, "{stderr}");
    let line = out.lines().find(|l| l.trim_start().starts_with("estimate")).unwrap_or_default();
    assert!(line.contains("or a model folder's"), "{out}");
}

#[test]
fn the_download_strategy_without_allow_download_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(capcache(dir.path()).args(["resolve", "org/model", "--strategies", "config,download"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--allow-download"), "{stderr}");
}

#[test]
fn every_command_has_a_man_page_with_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let (code, page, stderr) = run(capcache(dir.path()).args(["man", "build"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(page.contains(".TH capcache-build 1"), "{page}");
    assert!(page.contains("max\\-model\\-bytes"), "the options are missing: {page}");
    let (code, _, stderr) = run(capcache(dir.path()).args(["man", "--dir", "man1"]));
    assert_eq!(code, 0, "{stderr}");
    let top = std::fs::read_to_string(dir.path().join("man1/capcache.1")).unwrap();
    // Every page the top page refers to exists.
    for sub in ["build", "get", "list", "resolve", "estimate", "export", "merge", "import", "env"] {
        assert!(top.contains(&format!("capcache\\-{sub}(1)")), "capcache.1 does not name capcache-{sub}(1)");
        let page = std::fs::read_to_string(dir.path().join(format!("man1/capcache-{sub}.1"))).unwrap();
        assert!(page.contains(".SH OPTIONS"), "capcache-{sub}.1 has no options");
    }
    let (code, _, stderr) = run(capcache(dir.path()).args(["man", "nope"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the commands are: build"), "{stderr}");
}

#[test]
fn stats_prints_the_newest_record_and_import_says_whether_it_changed_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, stderr) = run(capcache(dir.path()).arg("stats"));
    assert_eq!(code, 0, "{stderr}");
    let newest = out.lines().find(|l| l.trim_start().starts_with("newest")).unwrap_or_else(|| panic!("{out}"));
    assert!(capcache::time::parse_rfc3339(newest.split_whitespace().nth(1).unwrap()).is_some(), "{newest}");

    let shipped = support::fixtures().join("../../db.json");
    let import = |dir: &Path| {
        let (code, out, stderr) =
            run(capcache(dir).args(["import", "--db"]).arg(&shipped).args(["--sqlite", "s.sqlite", "--json"]));
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    assert_eq!(import(dir.path())["changed"], true);
    assert_eq!(import(dir.path())["changed"], false);
}

/// The project's own models.txt, as a user pipes it.
fn models_txt() -> String {
    std::fs::read_to_string(support::fixtures().join("../../models.txt")).unwrap()
}

fn get_stdin(dir: &Path, input: String, json: bool) -> (i32, String, String) {
    let mut c = capcache(dir);
    c.args(["get", "-"]).write_stdin(input);
    if json {
        c.arg("--json");
    }
    run(&mut c)
}

#[test]
fn get_reads_the_projects_own_models_txt_skipping_discover_lines_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let list = models_txt();
    let discover_lines = list.lines().filter(|l| l.trim_start().starts_with("discover:")).count();
    assert!(discover_lines > 0, "models.txt has no discover: line to prove anything");
    let (code, out, stderr) = get_stdin(dir.path(), list, true);
    // Models not in the embedded cache are misses (exit 1), never usage errors (exit 2).
    assert!(code <= 1, "exit {code}: {stderr}");
    assert_eq!(stderr.matches("skipped `discover:").count(), discover_lines, "{stderr}");
    let answers: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(answers.iter().all(|a| a["error"] != "invalid-id"), "{out}");
    assert!(answers.iter().any(|a| a.get("error").is_none()), "no answer came from the cache");
}

#[test]
fn several_misses_end_with_one_tally_instead_of_a_hint_each() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = get_stdin(dir.path(), "facebook/opt-125m\norg/missing-1\norg/missing-2\n".into(), false);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.matches("is not in").count(), 2, "{stderr}");
    assert!(!stderr.contains("To add it"), "{stderr}");
    assert!(stderr.contains("1 of 3 ids answered; 2 not in the cache: `capcache resolve ID`"), "{stderr}");
    // One id alone keeps its own hint.
    let (code, _, stderr) = run(capcache(dir.path()).args(["get", "org/missing-1"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("To add it: `capcache resolve org/missing-1`"), "{stderr}");
}

#[test]
fn a_revision_in_the_list_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, _) = run(capcache(dir.path()).args(["get", "facebook/opt-125m", "--json"]));
    let sha = serde_json::from_str::<serde_json::Value>(&out).unwrap()["revision"].as_str().unwrap().to_owned();
    // The record's own commit (a short prefix too) answers.
    let (code, out, stderr) = get_stdin(dir.path(), format!("facebook/opt-125m@{}\n", &sha[..10]), true);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["revision"], sha.as_str());
    // Another commit is a clear miss.
    let other = if sha.starts_with('0') { "1".repeat(40) } else { "0".repeat(40) };
    let (code, out, _) = get_stdin(dir.path(), format!("facebook/opt-125m@{other}\n"), true);
    assert_eq!(code, 1);
    let answer = &serde_json::from_str::<serde_json::Value>(&out).unwrap()[0];
    assert_eq!(answer["error"], "other-revision", "{answer}");
    // A branch cannot be compared offline: answered, with a note that says so.
    let (code, _, stderr) = get_stdin(dir.path(), "facebook/opt-125m@dev\n".into(), false);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("only the Hub knows"), "{stderr}");
}

#[test]
fn an_id_without_its_organisation_points_at_the_cached_one() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, stderr) = run(capcache(dir.path()).args(["get", "gpt2"]));
    assert_eq!(code, 2, "{out}");
    assert!(stderr.contains("Did you mean: openai-community/gpt2?"), "{stderr}");
    let (_, out, _) = run(capcache(dir.path()).args(["get", "gpt2", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["did_you_mean"][0], "openai-community/gpt2");
}

/// A db.json with a record and a newer failure of one model, and a failure of another.
fn db_with_failures(dir: &Path) {
    let (_, out, _) = run(capcache(dir).args(["get", "facebook/opt-125m", "--json"]));
    let mut record: serde_json::Value = serde_json::from_str(&out).unwrap();
    let obj = record.as_object_mut().unwrap();
    obj.remove("id");
    obj.remove("db");
    let failure = |outcome: &str| serde_json::json!({"outcome": outcome, "message": "m", "at": "2026-12-01T00:00:00Z"});
    let db = serde_json::json!({
        "schema": 1,
        "models": {"facebook/opt-125m": record},
        "failures": {"facebook/opt-125m": failure("network-error"), "org/gone": failure("not-found")},
    });
    std::fs::write(dir.join("mine.json"), serde_json::to_string_pretty(&db).unwrap()).unwrap();
}

#[test]
fn failures_are_marked_in_list_and_shown_beside_an_older_record() {
    let dir = tempfile::tempdir().unwrap();
    db_with_failures(dir.path());
    let (code, out, stderr) = run(capcache(dir.path()).args(["list", "--failures", "--db", "mine.json"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        out.contains("facebook/opt-125m  [failed network-error: 2026-12-01T00:00:00Z; earlier record kept]"),
        "{out}"
    );
    assert!(out.contains("org/gone  [failed not-found: 2026-12-01T00:00:00Z; no record]"), "{out}");
    assert!(stderr.contains("2 of 2 models failed in their last build"), "{stderr}");
    // With no failure at all, the unmarked list says so too.
    let (_, out, stderr) = run(capcache(dir.path()).args(["list", "--failures"]));
    assert!(stderr.contains(&format!("0 of {} models failed", out.lines().count())), "{stderr}");
    let (_, out, _) = run(capcache(dir.path()).args(["list", "--failures", "--db", "mine.json", "--json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0]["record"], true);
    assert_eq!(rows[0]["failure"]["outcome"], "network-error");
    assert_eq!(rows[1]["record"], false);

    let (code, out, stderr) = run(capcache(dir.path()).args(["get", "facebook/opt-125m", "--db", "mine.json"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("last build      failed 2026-12-01T00:00:00Z: network-error"), "{out}");
    let (_, out, _) = run(capcache(dir.path()).args(["get", "facebook/opt-125m", "--db", "mine.json", "--json"]));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["failure"]["outcome"], "network-error");
}

#[test]
fn a_failure_of_ones_own_build_shows_beside_the_shipped_record() {
    // A user's build failed for a shipped model (offline, gated): ./db.json holds the failure only.
    let dir = tempfile::tempdir().unwrap();
    let failure =
        serde_json::json!({"outcome": "offline", "message": "not in the local cache", "at": "2026-12-01T00:00:00Z"});
    let db = serde_json::json!({"schema": 1, "models": {}, "failures": {"Qwen/Qwen3-0.6B": failure}});
    std::fs::write(dir.path().join("db.json"), serde_json::to_string_pretty(&db).unwrap()).unwrap();
    let (code, out, stderr) = run(capcache(dir.path()).args(["get", "qwen/qwen3-0.6b"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("from            the db.json built into capcache"), "{out}");
    assert!(
        out.contains("last build      failed 2026-12-01T00:00:00Z: offline: not in the local cache (the record above is kept, in db.json"),
        "{out}"
    );
    let (_, out, _) = run(capcache(dir.path()).args(["get", "Qwen/Qwen3-0.6B", "--json"]));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["failure"]["outcome"], "offline");
}

#[test]
fn a_corrupt_local_db_json_is_skipped_with_a_warning_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db.json"), "{not json").unwrap();
    let (code, out, stderr) = run(capcache(dir.path()).arg("env"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("./db.json is not a usable db, skipped"), "{stderr}");
    assert!(out.contains("built into capcache"), "{out}");
    let (code, _, stderr) = run(capcache(dir.path()).args(["get", "facebook/opt-125m"]));
    assert_eq!(code, 0, "{stderr}");
    // Named explicitly, it is an error.
    let (code, _, _) = run(capcache(dir.path()).args(["get", "facebook/opt-125m", "--db", "db.json"]));
    assert_eq!(code, 2);
}
