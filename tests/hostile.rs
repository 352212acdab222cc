//! A build that no hostile repository can crash, hang, exhaust, fool or degrade: the hostile corpus
//! (`support::hostile`) case by case, then all of it among healthy models in one build under a
//! 4 GiB address-space limit, then the never-worse rule and option upgrades at an unchanged commit.

mod support;

use std::time::{Duration, Instant};

use capcache::id::ModelId;
use capcache::source::hub::{HubSettings, HubSource};
use capcache::strategy::{self, Limits, Options};
use support::hub::{Faults, FixtureHub, Repo};
use support::world::{repo, tensors, world};
use support::{hostile, per_dtype, read_db, run, safetensors_file, t};

const NOW: &str = "2026-11-26T03:00:00Z";

fn limits() -> Options {
    Options { limits: Limits { timeout: Some(Duration::from_secs(10)), max_bytes: 64 << 20 }, ..Options::default() }
}

#[test]
fn every_hostile_repository_fails_with_its_own_outcome_and_words() {
    let hub = FixtureHub::start();
    let cases = hostile::corpus();
    for c in &cases {
        hub.add(&c.id, c.repo.clone());
    }
    let client = HubSource::new(HubSettings::new(&hub.url)).unwrap();
    // One at a time: each case alone against its limits (the build test runs them together).
    for c in &cases {
        let started = Instant::now();
        let f = strategy::resolve(&client, &ModelId::parse(&c.id).unwrap(), "main", &limits(), NOW).expect_err(&c.id);
        assert_eq!(f.outcome, c.outcome, "{}: {f:?}", c.id);
        assert!(f.message.contains(c.says), "{}: {}", c.id, f.message);
        assert!(started.elapsed() < Duration::from_secs(30), "{} took {:?}", c.id, started.elapsed());
    }
}

#[test]
fn a_build_among_hostile_repositories_finishes_under_a_memory_limit_and_keeps_the_healthy_exact() {
    let (hub, mut ids) = world(24, Duration::from_millis(5));
    let cases = hostile::corpus();
    for c in &cases {
        hub.add(&c.id, c.repo.clone());
        ids.push(c.id.clone());
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("models.txt"), ids.join("\n") + "\n").unwrap();
    let bin = assert_cmd::cargo::cargo_bin("capcache");
    // 4 GiB of address space for the whole build, its threads and their stacks included.
    let script = format!(
        "ulimit -v 4194304 && exec '{}' build --endpoint {} --now {NOW} --jobs 8 --json {}",
        bin.display(),
        hub.url,
        hostile::LIMITS.join(" ")
    );
    let started = Instant::now();
    let (code, stdout, stderr) = run(&mut support::shell(dir.path(), &script));
    let took = started.elapsed();
    assert_eq!(code, 1, "exit 1: some models failed, the rest written\n{stderr}");
    assert!(took < Duration::from_secs(120), "the build took {took:?}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["models"], ids.len());
    let db = read_db(dir.path());
    for (i, id) in ids[..24].iter().enumerate() {
        let r = &db.models[id];
        assert!(r.exact, "{id}");
        assert_eq!(r.parameters, per_dtype(&tensors(i)), "{id}");
    }
    for c in &cases {
        assert!(!db.models.contains_key(&c.id), "{} has a record", c.id);
        let f = &db.failures[&c.id];
        assert_eq!(f.outcome, c.outcome, "{}: {f:?}", c.id);
    }
}

#[test]
fn an_exact_record_survives_a_misbehaving_server_at_the_same_commit() {
    // One model whose header is longer than a first read, with a config: when ranges stop working,
    // the chain could only fall through to a config estimate.
    let id = "org/steady";
    let mut ts: Vec<support::T> =
        (0..2500).map(|i| t(format!("model.layers.{i}.mlp.rotary_projection.weight"), "F32", &[16])).collect();
    ts.push(t("model.embed_tokens.weight", "BF16", &[1000, 64]));
    let config = r#"{"model_type":"llama","architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
                    "num_hidden_layers":2,"num_attention_heads":4,"vocab_size":1000,"torch_dtype":"bfloat16"}"#;
    let hub = FixtureHub::start();
    hub.add(id, Repo::new(id).bytes("config.json", config).bytes("model.safetensors", safetensors_file(&ts)));
    let ids = [id.to_owned(), "org2/model-2".to_owned()];
    hub.add(&ids[1], repo(&ids[1], 2));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("models.txt"), ids.join("\n") + "\n").unwrap();
    let build = |extra: &[&str]| {
        let mut c = support::capcache(dir.path());
        c.args(["build", "--endpoint", &hub.url, "--now", NOW]);
        c.args(extra);
        run(&mut c)
    };
    let (code, _, stderr) = build(&[]);
    assert_eq!(code, 0, "{stderr}");
    let first = std::fs::read(dir.path().join("db.json")).unwrap();
    let exact = read_db(dir.path()).models[id].clone();
    assert!(exact.exact);

    for (faults, outcome) in [
        (Faults { ignore_range: true, ..Faults::default() }, "range-unsupported"),
        (Faults { wrong_content_range: true, ..Faults::default() }, "malformed-response"),
        (Faults { etag_changes: true, ..Faults::default() }, "changed-upstream"),
        (Faults { server_errors: 1000, ..Faults::default() }, "server-error"),
    ] {
        hub.set_faults(id, faults);
        let (code, _, stderr) = build(&["--refresh", "--attempts", "2"]);
        assert_eq!(code, 1, "{outcome}: {stderr}");
        let db = read_db(dir.path());
        assert_eq!(db.models[id], exact, "{outcome}: the exact record is kept as it was");
        assert_eq!(db.failures[id].outcome, outcome, "{outcome}: {:?}", db.failures[id]);
    }
    hub.set_faults(id, Faults::default());
    let (code, _, stderr) = build(&["--refresh"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("db.json")).unwrap(), first, "healthy again: the same bytes");
}

#[test]
fn records_remember_their_options_and_better_options_re_resolve_them() {
    let (hub, ids) = world(3, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("models.txt"), ids.join("\n") + "\n").unwrap();
    let build = |extra: &[&str]| {
        let mut c = support::capcache(dir.path());
        c.args(["build", "--endpoint", &hub.url, "--now", NOW, "--json"]).args(extra);
        let (code, stdout, stderr) = run(&mut c);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    build(&[]);
    assert_eq!(build(&[])["unchanged"], 3);
    // Model 0 was answered by the Hub's metadata: --verify reads its headers now, without --refresh.
    let v = build(&["--verify"]);
    assert_eq!(v["unchanged"], 2, "{v}");
    let r = &read_db(dir.path()).models[&ids[0]];
    assert!(r.made_with.verify && r.cross_check.contains_key(&capcache::record::Strategy::Safetensors), "{r:?}");
    assert_eq!(build(&["--verify"])["unchanged"], 3, "and only once");
}

#[test]
fn jobs_and_limits_are_bounded_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, says) in [
        ("--jobs", "100000", "256"),
        ("--jobs", "0", "1"),
        ("--max-in-flight", "0", "1"),
        ("--model-timeout", "soon", "--model-timeout"),
        ("--max-model-bytes", "12 parsecs", "unknown unit"),
    ] {
        let (code, _, stderr) = run(support::capcache(dir.path()).args(["build", "--models", "none.txt", flag, value]));
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
    }
}
