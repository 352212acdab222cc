//! Discovery from the Hub's model listing against the fixture hub: `capcache discover` (order,
//! pages, `--limit` across pages, filters, retries, a `Link` to another host refused) and
//! `capcache build` with `discover:` lines and `--discover` (what listed models cost, the
//! incremental rerun that costs only the listing pages, shards merged).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use support::hub::{Faults, FixtureHub, Meta, Repo};
use support::world::{MAX_REQUESTS, layout, tensors, world};
use support::{capcache, per_dtype, run};

const NOW: &str = "2026-11-26T03:00:00Z";

fn discover(hub: &FixtureHub, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    run(capcache(dir.path()).args(["discover", "--endpoint", &hub.url, "--attempts", "3"]).args(args))
}

fn build(dir: &Path, hub: &FixtureHub) -> Command {
    let mut c = capcache(dir);
    c.args(["build", "--endpoint", &hub.url, "--now", NOW]);
    c
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

/// `n` repos of `org` with downloads and likes in different orders.
fn population(hub: &FixtureHub, org: &str, n: u64) -> Vec<(String, Meta)> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("{org}/m-{i:02}");
        let meta = Meta { downloads: (i * 37) % 101 * 10 + i, likes: (i * 11) % 29, ..Meta::default() };
        hub.add(&id, Repo::new(&id).bytes("config.json", "{}").meta(meta.clone()));
        out.push((id, meta));
    }
    out
}

#[test]
fn discover_lists_most_first_across_pages_and_limit_counts_the_total() {
    let hub = FixtureHub::start();
    let acme = population(&hub, "acme", 25);
    population(&hub, "other", 5);
    hub.set_listing_page(10);

    let (code, stdout, stderr) = discover(&hub, &["--author", "acme", "--sort", "downloads", "--limit", "23"]);
    assert_eq!(code, 0, "{stderr}");
    let mut by_downloads = acme.clone();
    by_downloads.sort_by_key(|(_, m)| std::cmp::Reverse(m.downloads));
    let expected: Vec<String> = by_downloads.iter().take(23).map(|(id, _)| id.clone()).collect();
    assert_eq!(lines(&stdout), expected);
    let pages = hub.listing_hits();
    assert_eq!(pages.len(), 3, "23 models in pages of 10: {pages:#?}");
    let first = &pages[0].target;
    for part in ["author=acme", "sort=downloads", "limit=23", "expand[]=sha"] {
        assert!(first.contains(part), "{first}");
    }
    assert!(pages[1].target.contains("cursor=") && pages[2].target.contains("cursor="), "{pages:#?}");

    hub.clear_log();
    let (code, stdout, stderr) = discover(&hub, &["--author", "acme", "--sort", "likes"]);
    assert_eq!(code, 0, "{stderr}");
    let mut by_likes = acme.clone();
    by_likes.sort_by(|a, b| b.1.likes.cmp(&a.1.likes).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(lines(&stdout), by_likes.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>());
    assert_eq!(hub.listing_hits().len(), 3);

    // The limit is the total, whatever the page size the hub uses.
    hub.set_listing_page(1000);
    let (_, stdout, _) = discover(&hub, &["--search", "M-0", "--limit", "4"]);
    assert_eq!(lines(&stdout), ["acme/m-00", "acme/m-01", "acme/m-02", "acme/m-03"]);
}

#[test]
fn discover_filters_are_the_listings_own() {
    let hub = FixtureHub::start();
    let meta = |tags: &[&str], pipeline: &str, apps: &[&str]| Meta {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        pipeline_tag: Some(pipeline.into()),
        apps: apps.iter().map(|t| t.to_string()).collect(),
        downloads: 5,
        ..Meta::default()
    };
    let params = BTreeMap::from([("BF16".to_owned(), 1234u64)]);
    hub.add(
        "a/text-gguf",
        Repo::new("a/text-gguf").meta(meta(
            &["gguf", "text-generation", "license:mit"],
            "text-generation",
            &["ollama"],
        )),
    );
    hub.add(
        "a/text-st",
        Repo::new("a/text-st")
            .meta(meta(&["safetensors", "text-generation"], "text-generation", &["vllm"]))
            .api_safetensors(&params)
            .faults(Faults { gated: true, ..Faults::default() }),
    );
    hub.add("b/embed", Repo::new("b/embed").meta(meta(&["sentence-transformers"], "feature-extraction", &[])));
    hub.add(
        "b/Llama-Thing",
        Repo::new("b/Llama-Thing").meta(meta(&["safetensors", "license:mit"], "text-generation", &["vllm"])),
    );
    let ids = |args: &[&str]| {
        let (code, stdout, stderr) = discover(&hub, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        lines(&stdout)
    };
    assert_eq!(ids(&["--filter", "gguf"]), ["a/text-gguf"]);
    assert_eq!(ids(&["--filter", "license:mit"]), ["a/text-gguf", "b/Llama-Thing"]);
    assert_eq!(ids(&["--filter", "license:mit", "--filter", "safetensors"]), ["b/Llama-Thing"]);
    assert_eq!(ids(&["--pipeline-tag", "text-generation", "--apps", "vllm"]), ["a/text-st", "b/Llama-Thing"]);
    assert_eq!(ids(&["--gated", "true"]), ["a/text-st"]);
    assert_eq!(ids(&["--author", "b", "--gated", "false"]), ["b/Llama-Thing", "b/embed"]);
    assert_eq!(ids(&["--search", "LLAMA"]), ["b/Llama-Thing"]);

    let (code, stdout, _) = discover(&hub, &["--author", "a", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let st = &v.as_array().unwrap()[1];
    assert_eq!(st["id"], "a/text-st");
    assert_eq!(st["sha"], support::hub::sha_of("a/text-st"));
    assert_eq!(st["parameters"]["BF16"], 1234);
    assert_eq!((st["downloads"].as_u64(), st["gated"].as_str()), (Some(5), Some("manual")));
    assert_eq!(st["pipeline_tag"], "text-generation");

    for (bad, says) in [
        (&["--limit", "0"][..], "limit"),
        (&["--sort", "random"][..], "sort"),
        (&["--gated", "maybe"][..], "gated"),
        (&["--author", "a/b"][..], "author"),
        (&[][..], "empty"),
    ] {
        let (code, _, stderr) = discover(&hub, bad);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(stderr.contains(says), "{bad:?}: {stderr}");
    }
}

#[test]
fn a_rate_limited_listing_is_retried_and_a_next_link_to_another_host_is_refused() {
    let hub = FixtureHub::start();
    population(&hub, "acme", 12);
    hub.set_listing_page(5);
    hub.set_listing_faults(Faults { rate_limit: 1, retry_after_secs: 1, server_errors: 0, ..Faults::default() });
    let (code, stdout, stderr) = discover(&hub, &["--author", "acme"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines(&stdout).len(), 12);
    let statuses: Vec<u16> = hub.listing_hits().iter().map(|h| h.status).collect();
    assert_eq!(statuses, [429, 200, 200, 200], "the 429 is waited out and retried");

    hub.clear_log();
    hub.set_listing_faults(Faults { server_errors: 2, ..Faults::default() });
    let (code, stdout, stderr) = discover(&hub, &["--author", "acme"]);
    assert_eq!((code, lines(&stdout).len()), (0, 12), "{stderr}");
    assert_eq!(hub.listing_hits().len(), 5);

    hub.clear_log();
    hub.set_listing_link_base(&hub.cdn_url);
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(capcache(dir.path()).args([
        "discover",
        "--endpoint",
        &hub.url,
        "--author",
        "acme",
        "--token",
        "hf_listingsecret",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "nothing printed from a listing that failed: {stdout}");
    assert!(stderr.contains("not followed") && stderr.contains(&hub.cdn_url), "{stderr}");
    assert!(!stderr.contains("hf_listingsecret"));
    let log = hub.log();
    assert_eq!(log.len(), 1, "only the first page was asked for: {log:#?}");
    assert!(!log[0].cdn);
    assert_eq!(log[0].authorization.as_deref(), Some("Bearer hf_listingsecret"));
}

/// Models of the build world, listed by `discover: search=model-` in pages of 10.
fn discovered_world(n: usize) -> (FixtureHub, Vec<String>, tempfile::TempDir) {
    let (hub, ids) = world(n, Duration::ZERO);
    hub.set_listing_page(10);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("models.txt"), "# all of them\ndiscover: search=model-&limit=1000\n").unwrap();
    (hub, ids, dir)
}

#[test]
fn listed_models_cost_at_most_one_request_and_an_unchanged_rerun_only_the_listing_pages() {
    let (hub, ids, dir) = discovered_world(30);
    let (code, stdout, stderr) = run(build(dir.path(), &hub).args(["--json"]));
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["models"], 30);
    assert_eq!(summary["discovery"][0]["listed"], 30);
    assert_eq!(summary["discovery"][0]["line"], 2);
    assert_eq!(summary["listing_requests"], 3);
    let db = capcache::store::json::read(&dir.path().join("db.json")).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let r = &db.models[id];
        assert_eq!(r.parameters, per_dtype(&tensors(i)), "{id}");
        let hits = hub.hits_for(id);
        assert!(
            hits.iter().all(|h| !h.target.starts_with("/api/")),
            "{id}: the listing stood in for the API: {hits:#?}"
        );
        if layout(i) == 0 {
            assert_eq!(r.strategy, "hub-metadata", "{id}");
            assert!(hits.len() <= 1, "{id}: answered from the listing and config.json: {hits:#?}");
        } else {
            assert!(hits.len() < MAX_REQUESTS[layout(i)], "{id}: {hits:#?}");
        }
    }
    assert_eq!(hub.listing_hits().len(), 3);
    let first = std::fs::read(dir.path().join("db.json")).unwrap();

    hub.clear_log();
    let (code, stdout, stderr) = run(build(dir.path(), &hub).args(["--json"]));
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((summary["unchanged"].as_u64(), summary["requests"].as_u64()), (Some(30), Some(0)), "{summary}");
    let log = hub.log();
    assert_eq!(log.len(), 3, "only the listing pages: {log:#?}");
    assert!(log.iter().all(|h| h.model.is_none() && h.target.starts_with("/api/models?")));
    assert_eq!(std::fs::read(dir.path().join("db.json")).unwrap(), first, "byte-identical db.json");

    // A new commit upstream: that model alone is read again.
    hub.with_repo(&ids[4], |r| r.sha = "f".repeat(40));
    hub.clear_log();
    let (code, stdout, _) = run(build(dir.path(), &hub).args(["--json"]));
    assert_eq!(code, 0);
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["unchanged"], 29);
    let touched: std::collections::BTreeSet<String> = hub.log().into_iter().filter_map(|h| h.model).collect();
    assert_eq!(touched.into_iter().collect::<Vec<_>>(), [ids[4].clone()]);
    let db = capcache::store::json::read(&dir.path().join("db.json")).unwrap();
    assert_eq!(db.models[&ids[4]].revision, "f".repeat(40));
}

#[test]
fn listed_and_explicit_lines_resolve_once_and_bad_queries_name_their_line() {
    let (hub, ids, dir) = discovered_world(6);
    // ids[0] spelled in other case and ids[1] pinned: both also listed.
    let explicit0 = ids[0].to_ascii_uppercase().replace("MODEL", "Model");
    let list = format!(
        "{explicit0}\n{}@main\ndiscover: search=model-\ndiscover: author=org1&expand[]=config\ndiscover: author=org2&sort=oldest\n",
        ids[1]
    );
    std::fs::write(dir.path().join("models.txt"), list).unwrap();
    let (code, stdout, stderr) = run(build(dir.path(), &hub).args(["--json", "--discover", "search=model-&limit=2"]));
    assert_eq!(code, 1, "bad lines make the exit 1: {stderr}");
    assert!(stderr.contains("models.txt:4: skipped: discover: unknown key \"expand[]\""), "{stderr}");
    assert!(stderr.contains("models.txt:5: skipped: discover: sort="), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["models"], 6, "{summary}");
    assert_eq!(summary["invalid_lines"], 2);
    assert_eq!(summary["discovery"][1]["added"], 0, "--discover listed nothing new: {summary}");
    let db = capcache::store::json::read(&dir.path().join("db.json")).unwrap();
    assert!(db.models.contains_key(&explicit0) && !db.models.contains_key(&ids[0]), "one record, the list's spelling");
    assert_eq!(db.models[&explicit0].parameters, per_dtype(&tensors(0)), "read with the Hub's spelling");
    assert_eq!(db.models.len(), 6);
    // The pinned line asked the API for its revision; the listed ones did not.
    assert!(hub.hits_for(&ids[1]).iter().any(|h| h.target.starts_with("/api/models/")));
    assert!(hub.hits_for(&ids[2]).iter().all(|h| !h.target.starts_with("/api/models/")));

    // A listing that fails is reported with its line; the rest builds, and nothing is pruned.
    hub.set_listing_faults(Faults { server_errors: 1000, ..Faults::default() });
    let (code, _, stderr) = run(build(dir.path(), &hub).args(["--attempts", "1", "--prune", "--refresh"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("models.txt:3: discover search=model-: failed: model listing: server error HTTP 503"),
        "{stderr}"
    );
    assert!(stderr.contains("not pruning"), "{stderr}");
    assert_eq!(capcache::store::json::read(&dir.path().join("db.json")).unwrap().models.len(), 6);

    let mirror = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(capcache(dir.path())
        .args(["build", "--discover", "author=x", "--source"])
        .arg(mirror.path())
        .args(["--sqlite", "other.sqlite", "--db", "other.json"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("needs the Hub"), "{stderr}");
}

#[test]
fn sharded_builds_with_discovery_merge_to_the_unsharded_build() {
    let (hub, ids, dir) = discovered_world(24);
    let explicit = "org0/explicit";
    hub.add(explicit, support::world::repo(explicit, 1));
    std::fs::write(
        dir.path().join("models.txt"),
        format!("{explicit}\n{}\ndiscover: search=model-&sort=downloads\n", ids[3]),
    )
    .unwrap();
    let mut outputs = Vec::new();
    for k in 1..=3 {
        let (sqlite, db) = (format!("shard-{k}.sqlite"), format!("shard-{k}.json"));
        let (code, _, stderr) =
            run(build(dir.path(), &hub).args(["--shard", &format!("{k}/3"), "--sqlite", &sqlite, "--db", &db]));
        assert_eq!(code, 0, "{stderr}");
        let part = capcache::store::json::read(&dir.path().join(&db)).unwrap();
        assert!(!part.models.is_empty() && part.models.len() < 25, "shard {k}: {}", part.models.len());
        for id in part.models.keys() {
            assert_eq!(capcache::batch::shard_of(id, 3), k, "{id} is not shard {k}'s");
        }
        outputs.push(db);
    }
    let (code, _, stderr) = run(capcache(dir.path()).arg("merge").args(&outputs).args(["--db", "merged.json"]));
    assert_eq!(code, 0, "{stderr}");
    let whole = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("models.txt"), whole.path().join("models.txt")).unwrap();
    let (code, _, stderr) = run(&mut build(whole.path(), &hub));
    assert_eq!(code, 0, "{stderr}");
    let merged = std::fs::read_to_string(dir.path().join("merged.json")).unwrap();
    assert_eq!(merged, std::fs::read_to_string(whole.path().join("db.json")).unwrap());
    assert_eq!(capcache::store::json::read(&dir.path().join("merged.json")).unwrap().models.len(), 25);

    // A fresh shard store seeded from the merged cache it trusts starts from it: its models are unchanged.
    let (code, stdout, stderr) = run(build(dir.path(), &hub).args([
        "--shard",
        "2/3",
        "--sqlite",
        "fresh.sqlite",
        "--db",
        "fresh.json",
        "--seed",
        "merged.json",
        "--trust-seed",
        "--json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["unchanged"], summary["models"], "{summary}");
    // One HEAD for the explicit line the listing does not cover, if it is shard 2's; none for the rest.
    let unlisted = u64::from(capcache::batch::shard_of(explicit, 3) == 2);
    assert_eq!(summary["requests"], unlisted, "{summary}");
    let fresh = capcache::store::json::read(&dir.path().join("fresh.json")).unwrap();
    let shard2 = capcache::store::json::read(&dir.path().join("shard-2.json")).unwrap();
    assert_eq!(fresh.models.keys().collect::<Vec<_>>(), shard2.models.keys().collect::<Vec<_>>(), "only shard 2's");
    let (code, _, stderr) = run(build(dir.path(), &hub).args(["--seed", "nope.json", "--sqlite", "x.sqlite"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("--seed nope.json"), "{stderr}");
}
