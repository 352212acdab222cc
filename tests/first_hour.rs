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
    assert!(stderr.contains("1 lines of the model list skipped"), "{stderr}");
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
