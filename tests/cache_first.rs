//! The local Hugging Face cache comes first: files of the pinned commit already in `$HF_HUB_CACHE`
//! are read there (no weight byte from the network), and with `HF_HUB_OFFLINE=1` the cache alone
//! answers and nothing is requested at all.

mod support;

use std::path::Path;

use support::hub::{FixtureHub, Repo, sha_of};

const ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Lays `files` of `dir` out in the HF cache layout under `cache`: blobs, a snapshot of `sha`
/// linking to them, `refs/main`.
fn cache_model(cache: &Path, id: &str, sha: &str, dir: &Path, files: &[&str]) {
    let model = cache.join(format!("models--{}", id.replace('/', "--")));
    std::fs::create_dir_all(model.join("blobs")).unwrap();
    std::fs::create_dir_all(model.join("refs")).unwrap();
    std::fs::write(model.join("refs/main"), sha).unwrap();
    let snap = model.join("snapshots").join(sha);
    std::fs::create_dir_all(&snap).unwrap();
    for (i, f) in files.iter().enumerate() {
        let blob = model.join("blobs").join(format!("blob{i}"));
        std::fs::copy(dir.join(f), &blob).unwrap();
        std::os::unix::fs::symlink(&blob, snap.join(f)).unwrap();
    }
}

fn resolve(cache: &Path, hub_url: &str, offline: bool, id: &str) -> (i32, serde_json::Value, String) {
    let mut c = support::capcache(cache);
    c.env("HF_HUB_CACHE", cache);
    if offline {
        c.env("HF_HUB_OFFLINE", "1");
    }
    let o = c.args(["resolve", id, "--json", "--endpoint", hub_url]).output().unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code().unwrap_or(-1), v, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn cached_files_are_read_locally_and_offline_requests_nothing() {
    let hub = FixtureHub::start();
    hub.add(ID, Repo::from_dir(ID, &support::minilm_dir()));
    let cache = tempfile::tempdir().unwrap();
    cache_model(cache.path(), ID, &sha_of(ID), &support::minilm_dir(), &["config.json", "model.safetensors"]);

    // Online: the API pins the commit; config.json and the weights come from the cache.
    let (code, v, stderr) = resolve(cache.path(), &hub.url, false, ID);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((v["strategy"].as_str(), v["total"].as_u64()), (Some("safetensors"), Some(22_713_728)));
    let hits = hub.hits_for(ID);
    assert!(hits.iter().all(|h| h.target.starts_with("/api/")), "only the API call: {hits:#?}");

    // Offline: the same answer, and not one request.
    hub.clear_log();
    let (code, v, stderr) = resolve(cache.path(), &hub.url, true, ID);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["total"], 22_713_728);
    assert_eq!(v["revision"], sha_of(ID));
    assert!(hub.log().is_empty(), "{:#?}", hub.log());

    // Offline, a model the cache lacks fails saying so, still without a request.
    let (code, v, _) = resolve(cache.path(), &hub.url, true, "org/elsewhere");
    assert_eq!(code, 1);
    assert_eq!(v["outcome"], "offline");
    assert!(v["message"].as_str().unwrap().contains("HF_HUB_OFFLINE"), "{v}");
    assert!(hub.log().is_empty());
}

#[test]
fn offline_builds_answer_from_the_cache() {
    let hub = FixtureHub::start();
    let cache = tempfile::tempdir().unwrap();
    cache_model(cache.path(), ID, &sha_of(ID), &support::minilm_dir(), &["config.json", "model.safetensors"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("models.txt"), format!("{ID}\nmissing/model\n")).unwrap();
    let o = support::capcache(dir.path())
        .env("HF_HUB_CACHE", cache.path())
        .env("HF_HUB_OFFLINE", "1")
        .args(["build", "--endpoint", &hub.url, "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let db = capcache::store::json::read(&dir.path().join("db.json")).unwrap();
    assert_eq!(db.models[ID].total, 22_713_728);
    assert_eq!(db.failures["missing/model"].outcome, "offline");
    assert!(hub.log().is_empty());
}
