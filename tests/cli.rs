//! The binary as a user runs it: `get`, `list`, `stats`, `resolve`, `estimate`, exit codes,
//! messages, and the token kept out of every output.

mod support;

use support::hub::{FixtureHub, Repo};

use support::{capcache, run as out};

#[test]
fn get_answers_from_the_embedded_cache_with_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = out(capcache(dir.path()).args(["get", "facebook/opt-125m"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("125,239,296"), "{stdout}");
    assert!(stdout.contains("KV cache        36,864 bytes/token"), "{stdout}");
    assert!(stdout.contains("strategy        config (estimate)"), "{stdout}");
    let (code, stdout, _) = out(capcache(dir.path()).args(["get", "facebook/opt-125m", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["id"], "facebook/opt-125m");
    assert_eq!(v["logical_parameters"], 125_239_296);
    assert_eq!(v["architecture"]["num_hidden_layers"], 12);
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| e.unwrap().file_name() != "db.json"), "get wrote nothing");
}

#[test]
fn unknown_models_exit_1_with_close_matches_and_bad_ids_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = out(capcache(dir.path()).args(["get", "facebook/opt-125"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("Did you mean: facebook/opt-125m"), "{stderr}");
    assert!(stderr.contains("models.txt") && stderr.contains("capcache build"), "{stderr}");
    let (code, _, stderr) = out(capcache(dir.path()).args(["get", "nobody/nothing-like-it"]));
    assert_eq!(code, 1, "{stderr}");
    for bad in ["../etc/passwd", "https://huggingface.co/facebook/opt-125m", "a/b/c"] {
        let (code, _, stderr) = out(capcache(dir.path()).args(["get", bad]));
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(stderr.contains("is not a model id"), "{bad}: {stderr}");
    }
}

#[test]
fn db_lookup_order_and_a_corrupt_db_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let embedded: serde_json::Value = serde_json::from_str(capcache::store::embedded::TEXT).unwrap();
    let mut mine = embedded.clone();
    mine["models"]["facebook/opt-125m"]["logical_parameters"] = 7.into();
    std::fs::write(dir.path().join("db.json"), serde_json::to_string(&mine).unwrap()).unwrap();
    let (_, stdout, _) = out(capcache(dir.path()).args(["get", "facebook/opt-125m", "--json"]));
    let v = serde_json::from_str::<serde_json::Value>(&stdout).unwrap();
    assert_eq!(v["logical_parameters"], 7, "./db.json is read first");
    let corrupt = dir.path().join("broken.json");
    std::fs::write(&corrupt, "{\"schema\": 1, \"models\": {\"a/b\": ").unwrap();
    let (code, _, stderr) = out(capcache(dir.path()).args(["get", "facebook/opt-125m", "--db"]).arg(&corrupt));
    assert_eq!(code, 2);
    assert!(stderr.contains("broken.json") && stderr.contains("not valid capcache JSON"), "{stderr}");
    let (code, _, _) = out(capcache(dir.path()).env("CAPCACHE_DB", &corrupt).args(["list"]));
    assert_eq!(code, 2, "CAPCACHE_DB is honoured");
    assert_eq!(std::fs::read_to_string(&corrupt).unwrap(), "{\"schema\": 1, \"models\": {\"a/b\": ");
    // A missing file: named, with its cause said once.
    let (code, _, stderr) = out(capcache(dir.path()).args(["get", "facebook/opt-125m", "--db", "missing.json"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.json") && stderr.matches("No such file").count() == 1, "{stderr}");
}

#[test]
fn list_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = out(capcache(dir.path()).args(["list", "qwen", "--json"]));
    assert_eq!(code, 0);
    let ids: Vec<String> = serde_json::from_str(&stdout).unwrap();
    assert!(ids.len() >= 3 && ids.iter().all(|i| i.to_lowercase().contains("qwen")), "{ids:?}");
    let (code, stdout, _) = out(capcache(dir.path()).args(["stats", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let db: capcache::record::Db = serde_json::from_str(capcache::store::embedded::TEXT).unwrap();
    assert_eq!(v["models"], db.models.len());
    assert_eq!(v["exact"].as_u64().unwrap() + v["estimate"].as_u64().unwrap(), db.models.len() as u64);
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["get", "facebook/opt-125m"][..],
        &["get", "facebook/opt-125m", "--json"],
        &["list"],
        &["stats"],
        &["env", "--json"],
        &["completions", "bash"],
        &["man"],
    ] {
        // The reading end is closed before the command writes: every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = support::capcache_std(dir.path()).args(args).stdout(writer).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn resolve_against_the_fixture_hub_prints_the_record_and_never_the_token() {
    let hub = FixtureHub::start();
    let id = "sentence-transformers/all-MiniLM-L6-v2";
    hub.add(
        id,
        Repo::from_dir(id, &support::minilm_dir()).faults(support::hub::Faults { gated: true, ..Default::default() }),
    );
    let token = "hf_cliSECRETtoken42";
    hub.set_token(token);
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = out(capcache(dir.path()).env("HF_TOKEN", token).env("RUST_LOG", "debug").args([
        "resolve",
        id,
        "--json",
        "--endpoint",
        &hub.url,
    ]));
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["id"], id);
    assert_eq!(v["total"], 22_713_728);
    assert!(!stdout.contains("SECRET") && !stderr.contains("SECRET"), "token leaked");
    assert!(hub.log().iter().filter(|h| h.cdn).all(|h| h.authorization.is_none()), "token sent to the CDN");
    assert!(hub.log().iter().any(|h| h.cdn), "the header came through the CDN");

    // The token from the file at HF_TOKEN_PATH, and a failure exits 1 with each strategy's outcome.
    std::fs::write(dir.path().join("tok"), format!("{token}\n")).unwrap();
    let (code, _, stderr) = out(capcache(dir.path())
        .env("HF_TOKEN_PATH", dir.path().join("tok"))
        .env("HF_ENDPOINT", &hub.url)
        .args(["resolve", id]));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = out(capcache(dir.path()).args(["resolve", id, "--endpoint", &hub.url]));
    assert_eq!(code, 1);
    assert!(stderr.contains("gated") && stderr.contains("token"), "{stderr}");
    let (code, _, stderr) = out(capcache(dir.path()).args(["resolve", "org/missing", "--endpoint", &hub.url]));
    assert_eq!(code, 1);
    assert!(stderr.contains("not-found"), "{stderr}");
}

#[test]
fn estimate_a_local_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::fixtures().join("configs/mistralai__Mixtral-8x7B-v0.1.json");
    let (code, stdout, _) = out(capcache(dir.path()).arg("estimate").arg(&cfg).arg("--json"));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["logical_parameters"], 46_702_792_704u64);
    assert_eq!(v["architecture"]["moe"]["num_experts"], 8);
    assert_eq!(v["source"], "local");
    let (code, _, stderr) = out(capcache(dir.path()).args(["estimate", "/nonexistent/config.json"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/config.json"), "{stderr}");
}

#[test]
fn estimate_a_folder_and_tensors_inside_pure_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::copy(support::fixtures().join("configs/mistralai__Mixtral-8x7B-v0.1.json"), model.join("config.json"))
        .unwrap();
    let (code, stdout, stderr) = out(capcache(dir.path()).arg("estimate").arg(&model).arg("--json").arg("--tensors"));
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(v["logical_parameters"], 46_702_792_704u64);
    let tensors = v["tensors"].as_array().unwrap();
    let sum: u64 = tensors
        .iter()
        .map(|t| {
            t["repeat"].as_u64().unwrap()
                * t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).product::<u64>()
        })
        .sum();
    assert!(sum >= 46_702_792_704, "the tensors add up to the model: {sum}");
    // The text form still lists them after the summary.
    let (code, stdout, _) = out(capcache(dir.path()).arg("estimate").arg(&model).arg("--tensors"));
    assert_eq!(code, 0);
    assert!(stdout.contains("source          local") && stdout.contains("embed_tokens"), "{stdout}");
    // A folder without a config.json says so.
    let (code, _, stderr) = out(capcache(dir.path()).arg("estimate").arg(dir.path()));
    assert_eq!(code, 2);
    assert!(stderr.contains("no config.json"), "{stderr}");
    // An invalid config gives the chain's reason.
    std::fs::write(model.join("config.json"), "{oops").unwrap();
    let (code, _, stderr) = out(capcache(dir.path()).arg("estimate").arg(&model));
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid-config"), "{stderr}");
}
