//! Hostile repositories whose attack is a count, not a byte (round 3 of the attacks): lists of
//! tens of thousands of names that a linear look-up or an unbounded note would turn into minutes of
//! CPU or megabytes of record. A test binary of their own: listing 100,000 files keeps the fixture
//! hub busy for seconds, which must not eat the deadlines of the timed corpus build in
//! `tests/hostile.rs`.

mod support;

use std::time::{Duration, Instant};

use capcache::id::ModelId;
use capcache::source::hub::{HubSettings, HubSource};
use capcache::strategy::{self, Limits, Options};
use support::hub::{FixtureHub, Repo};

const NOW: &str = "2026-11-26T03:00:00Z";

/// 80,000 diffusers components looked up among 100,000 listed files (43 s of CPU under a 5 s
/// timeout when each look-up scanned the list): hashed look-ups, the deadline checked in the loop.
#[test]
fn many_components_against_many_files_stay_under_the_model_timeout() {
    let id = "hostile/diffusers-80k-components";
    let mut index = serde_json::Map::new();
    for i in 0..80_000 {
        index.insert(format!("unet{i}"), serde_json::json!(["diffusers", "UNet2DConditionModel"]));
    }
    let mut repo = Repo::new(id).bytes("model_index.json", serde_json::Value::Object(index).to_string());
    for i in 0..99_999 {
        repo = repo.bytes(&format!("other{i}/weights.bin"), Vec::new());
    }
    let hub = FixtureHub::start();
    hub.add(id, repo);
    let client = HubSource::new(HubSettings::new(&hub.url)).unwrap();
    let opts =
        Options { limits: Limits { timeout: Some(Duration::from_secs(5)), max_bytes: 64 << 20 }, ..Options::default() };
    let started = Instant::now();
    let f = strategy::resolve(&client, &ModelId::parse(id).unwrap(), "main", &opts, NOW).expect_err(id);
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    assert_ne!(f.outcome, "internal-error", "{f:?}");
}

/// 95,000 GGUF file names: the record's notes name how many and the first few, not all of them
/// (27 MB in one record before), and so does a failure that lists them.
#[test]
fn thousands_of_gguf_names_are_counted_not_listed() {
    let id = "hostile/gguf-95k-names";
    let mut repo = Repo::new(id);
    for i in 0..95_000 {
        repo = repo.bytes(&format!("model-{i:05}-Q4_0.gguf"), Vec::new());
    }
    let hub = FixtureHub::start();
    hub.add(id, repo);
    let client = HubSource::new(HubSettings::new(&hub.url)).unwrap();
    // Time enough for the fixture hub to list 95,000 files in a debug build beside other tests.
    let opts = Options {
        limits: Limits { timeout: Some(Duration::from_secs(120)), max_bytes: 64 << 20 },
        ..Options::default()
    };
    let f = strategy::resolve(&client, &ModelId::parse(id).unwrap(), "main", &opts, NOW).expect_err(id);
    let all = serde_json::to_string(&f).unwrap();
    assert!(all.contains("95000 in all"), "{}", &all[..all.len().min(2000)]);
    assert!(all.len() < 10_000, "{} bytes of failure", all.len());
}
