//! `capcache update` against a dataset repository on the fixture hub, the layered look-ups of
//! read commands (`$CAPCACHE_DB`, `./db.json`, the updated db, the embedded copy), `capcache diff`,
//! and a db published by a newer capcache (unknown fields and names).

mod support;

use std::path::Path;

use capcache::update::sums_line;
use support::hub::{FixtureHub, Repo, sha_of};
use support::{capcache, run};

const REPO: &str = "capcache/capcache-db";
const ONLY_PUBLISHED: &str = "published/only-here";

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// The embedded db plus a model only this publication has, stamped `at`.
fn published_db(at: &str) -> serde_json::Value {
    let mut db = json(capcache::store::embedded::TEXT);
    let mut r = db["models"]["facebook/opt-125m"].clone();
    r["resolved_at"] = at.into();
    db["models"][ONLY_PUBLISHED] = r;
    db
}

fn text(db: &serde_json::Value) -> String {
    serde_json::to_string_pretty(db).unwrap() + "\n"
}

/// Publishes `db_text` (with `sums` as its checksum file, else the right one) as a new commit.
fn publish(hub: &FixtureHub, commit: &str, db_text: &str, sums: Option<String>) {
    let sums = sums.unwrap_or_else(|| sums_line(db_text.as_bytes(), "db.json"));
    let mut repo = Repo::new(REPO).bytes("db.json", db_text.as_bytes().to_vec()).bytes("db.json.sha256", sums);
    repo.sha = sha_of(commit);
    hub.add_dataset(REPO, repo);
}

fn update(dir: &Path, hub: &FixtureHub) -> (i32, String, String) {
    run(capcache(dir).args(["update", "--json", "--attempts", "1", "--endpoint", &hub.url]))
}

/// Requests that downloaded bytes of the published db.json.
fn db_downloads(hub: &FixtureHub) -> Vec<support::hub::Hit> {
    hub.log().into_iter().filter(|h| h.target.ends_with("/db.json") && h.method == "GET").collect()
}

fn get(dir: &Path, id: &str) -> (i32, serde_json::Value, String) {
    let (code, stdout, stderr) = run(capcache(dir).args(["get", "--json", id]));
    (code, json(&stdout), stderr)
}

fn now() -> String {
    capcache::time::now_rfc3339()
}

#[test]
fn update_installs_the_published_db_and_an_unchanged_publication_downloads_no_db() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FixtureHub::start();
    let db = text(&published_db(&now()));
    publish(&hub, "one", &db, None);

    let (code, _, stderr) = run(capcache(dir.path()).args(["get", ONLY_PUBLISHED]));
    assert_eq!(code, 1, "not known before the update: {stderr}");
    let (code, stdout, stderr) = update(dir.path(), &hub);
    assert_eq!(code, 0, "{stderr}");
    let v = json(&stdout);
    assert_eq!(v["status"], "installed");
    assert_eq!(v["installed"]["commit"], sha_of("one"));
    let installed = dir.path().join("data/capcache/db.json");
    assert_eq!(std::fs::read_to_string(&installed).unwrap(), db);
    assert_eq!(db_downloads(&hub).len(), 1);

    // An empty folder: no --db, no ./db.json; the updated db answers, and says so.
    let (code, v, stderr) = get(dir.path(), ONLY_PUBLISHED);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["total"], 125_239_296);
    assert!(v["db"].as_str().unwrap().contains("updated db"), "{v}");
    let (code, stdout, _) = run(capcache(dir.path()).args(["get", ONLY_PUBLISHED]));
    assert_eq!(code, 0);
    assert!(stdout.contains("from            the updated db"), "{stdout}");

    // The same commit again: one API request, nothing downloaded.
    hub.clear_log();
    let (code, stdout, stderr) = update(dir.path(), &hub);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json(&stdout)["status"], "unchanged");
    assert!(db_downloads(&hub).is_empty(), "{:?}", hub.log());
    assert_eq!(hub.log().len(), 1, "{:?}", hub.log());

    // A new commit with the same db.json (only other files changed): its checksum is read, not
    // the db.
    publish(&hub, "two", &db, None);
    hub.clear_log();
    let (code, stdout, stderr) = update(dir.path(), &hub);
    assert_eq!(code, 0, "{stderr}");
    let v = json(&stdout);
    assert_eq!((v["status"].as_str(), v["installed"]["commit"].as_str()), (Some("unchanged"), Some(&*sha_of("two"))));
    assert!(db_downloads(&hub).is_empty(), "{:?}", hub.log());
    let bytes: u64 = hub.log().iter().filter(|h| h.target.contains("/db.json")).map(|h| h.bytes).sum();
    assert_eq!(bytes, sums_line(db.as_bytes(), "db.json").len() as u64, "only the checksum file was read");

    // env names the layers and the installed publication.
    let (code, stdout, _) = run(capcache(dir.path()).args(["env", "--json"]));
    assert_eq!(code, 0);
    let v = json(&stdout);
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{v}");
    assert_eq!(layers[0]["chosen_by"], "capcache update");
    assert_eq!(layers[0]["publication"]["commit"], sha_of("two"));
    assert_eq!(layers[1]["kind"], "embedded");
}

#[test]
fn refused_updates_keep_the_installed_db() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FixtureHub::start();
    let good = text(&published_db(&now()));
    publish(&hub, "good", &good, None);
    assert_eq!(update(dir.path(), &hub).0, 0);
    let installed = dir.path().join("data/capcache/db.json");

    let mut newer = published_db(&now());
    newer["models"]["facebook/opt-125m"]["total"] = 7.into();
    let cases = [
        // A db.json that does not match its checksum.
        ("mismatch", text(&published_db(&now())), Some(sums_line(b"something else", "db.json")), "does not match"),
        // A checksum file with no line for db.json.
        ("no-line", good.clone(), Some(sums_line(good.as_bytes(), "other.json")), "db.json.sha256"),
        // A record whose total is not the sum of its parameters.
        ("invalid", text(&newer), None, "refused"),
        // Not a db at all.
        ("garbage", "{\"schema\": 1, \"models\": [".to_owned(), None, "refused"),
        // Older than the installed one.
        ("older", text(&published_db("2020-01-01T00:00:00Z")), None, "older"),
    ];
    for (commit, db, sums, says) in cases {
        publish(&hub, commit, &db, sums);
        let (code, _, stderr) = update(dir.path(), &hub);
        assert_eq!(code, 2, "{commit}: {stderr}");
        assert!(stderr.contains(says) && stderr.contains("the installed db is kept"), "{commit}: {stderr}");
        assert_eq!(std::fs::read_to_string(&installed).unwrap(), good, "{commit}");
        let (code, v, stderr) = get(dir.path(), ONLY_PUBLISHED);
        assert_eq!(code, 0, "{commit}: {stderr}");
        assert_eq!(v["total"], 125_239_296, "{commit}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data/capcache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "db.json" && n != "publication.json")
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn a_users_small_build_never_hides_the_shipped_or_updated_facts() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FixtureHub::start();
    publish(&hub, "one", &text(&published_db(&now())), None);
    assert_eq!(update(dir.path(), &hub).0, 0);

    // A user's build of one model in this folder: ./db.json.
    let embedded = json(capcache::store::embedded::TEXT);
    let mut mine = serde_json::json!({"schema": 1, "models": {}, "failures": {}});
    let mut r = embedded["models"]["facebook/opt-125m"].clone();
    r["total"] = 125_239_296.into();
    mine["models"]["mine/small-model"] = r;
    std::fs::write(dir.path().join("db.json"), text(&mine)).unwrap();

    let (code, v, _) = get(dir.path(), "mine/small-model");
    assert_eq!((code, v["db"].as_str()), (0, Some("db.json")));
    let (code, v, stderr) = get(dir.path(), ONLY_PUBLISHED);
    assert_eq!(code, 0, "the updated db still answers: {stderr}");
    assert!(v["db"].as_str().unwrap().contains("updated db"), "{v}");
    let shipped = embedded["models"].as_object().unwrap().keys().find(|k| *k != "facebook/opt-125m").unwrap().clone();
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    let (code, v, stderr) = get(dir.path(), &shipped);
    assert_eq!(code, 0, "the embedded copy still answers: {stderr}");
    assert_eq!(v["db"], "the db.json built into capcache");
    // A miss names every layer; `list` is their union.
    let (code, v, _) = get(dir.path(), "nobody/nothing");
    assert_eq!(code, 1);
    assert!(v["message"].as_str().unwrap().contains("db.json or the db.json built into capcache"), "{v}");
    let (_, stdout, _) = run(capcache(dir.path()).args(["list", "--json"]));
    let ids = json(&stdout);
    assert!(ids.as_array().unwrap().iter().any(|i| i == "mine/small-model"));
    assert!(ids.as_array().unwrap().iter().any(|i| *i == shipped));

    // --db stays exclusive; so does nothing else: $CAPCACHE_DB is a layer above ./db.json.
    let (code, _, _) = run(capcache(dir.path()).args(["get", &shipped, "--db", "db.json"]));
    assert_eq!(code, 1, "--db alone answers");
    let (code, v, _) = {
        let (code, stdout, stderr) =
            run(capcache(dir.path()).env("CAPCACHE_DB", dir.path().join("db.json")).args(["get", "--json", &shipped]));
        (code, json(&stdout), stderr)
    };
    assert_eq!((code, v["db"].as_str()), (0, Some("the db.json built into capcache")));
}

#[test]
fn a_db_from_a_newer_capcache_installs_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FixtureHub::start();
    let mut db = published_db(&now());
    // Fields this capcache does not know, at every level.
    db["published_by"] = "capcache 9.0".into();
    let r = &mut db["models"][ONLY_PUBLISHED];
    r["future_field"] = serde_json::json!({"nested": [1, 2]});
    r["architecture"]["future_arch_field"] = 3.into();
    // Names this capcache does not know: a strategy and outcomes.
    r["tried"] = serde_json::json!([{"strategy": "future-strategy", "outcome": "future-outcome", "future": true}]);
    r["cross_check"] = serde_json::json!({"future-strategy": 125_239_296});
    db["failures"]["published/failed-later"] =
        serde_json::json!({"outcome": "future-outcome", "message": "new", "at": now(), "future_field": 1});
    publish(&hub, "newer", &text(&db), None);
    let (code, _, stderr) = update(dir.path(), &hub);
    assert_eq!(code, 0, "{stderr}");
    let (code, v, stderr) = get(dir.path(), ONLY_PUBLISHED);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["total"], 125_239_296);
    assert_eq!(v["tried"][0]["strategy"], "future-strategy", "unknown names are kept as text: {v}");
    let (code, stdout, stderr) = run(capcache(dir.path()).args(["get", ONLY_PUBLISHED]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("125,239,296"), "{stdout}");
    assert!(
        stdout.contains("future-strategy (unknown to this capcache): future-outcome (unknown to this capcache)"),
        "the text output shows unknown names as unknown: {stdout}"
    );
    let (code, v, _) = get(dir.path(), "published/failed-later");
    assert_eq!((code, v["failure"]["outcome"].as_str()), (1, Some("future-outcome")), "{v}");
}

#[test]
fn diff_reports_added_removed_changed_and_regressions() {
    let dir = tempfile::tempdir().unwrap();
    let old = json(capcache::store::embedded::TEXT);
    let mut new = old.clone();
    let ids: Vec<String> = old["models"].as_object().unwrap().keys().cloned().collect();
    let exact = ids.iter().find(|id| old["models"][*id]["exact"] == true).expect("an exact record").clone();
    let removed = ids.iter().find(|id| **id != exact).unwrap().clone();
    new["models"].as_object_mut().unwrap().remove(&removed);
    new["models"]["new/model"] = old["models"][&exact].clone();
    let r = &mut new["models"][&exact];
    r["exact"] = false.into();
    r["strategy"] = "config".into();
    r["revision"] = "f".repeat(40).into();
    std::fs::write(dir.path().join("old.json"), text(&old)).unwrap();
    std::fs::write(dir.path().join("new.json"), text(&new)).unwrap();

    let (code, stdout, stderr) = run(capcache(dir.path()).args(["diff", "old.json", "new.json", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let v = json(&stdout);
    assert_eq!(v["added"], serde_json::json!(["new/model"]));
    assert_eq!(v["removed"], serde_json::json!([removed]));
    let changed = v["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{v}");
    assert_eq!(changed[0]["id"], *exact);
    assert_eq!(changed[0]["regression"], true);
    assert_eq!(changed[0]["exact"], serde_json::json!({"old": true, "new": false}));
    assert_eq!(changed[0]["revision"]["new"], "f".repeat(40));
    assert!(changed[0]["strategy"]["old"] != "config", "{v}");
    assert_eq!(v["regressions"], 1);

    let (code, stdout, _) = run(capcache(dir.path()).args(["diff", "old.json", "new.json"]));
    assert_eq!(code, 0);
    assert!(stdout.starts_with("1 added, 1 removed, 1 changed (1 regressions"), "{stdout}");
    assert!(stdout.contains("**regression: exact -> estimate**"), "{stdout}");
    let (_, stdout, _) = run(capcache(dir.path()).args(["diff", "old.json", "old.json", "--json"]));
    assert_eq!(json(&stdout), serde_json::json!({"added": [], "removed": [], "changed": [], "regressions": 0}));
    let (code, _, stderr) = run(capcache(dir.path()).args(["diff", "old.json", "missing.json"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.json"), "{stderr}");
}
