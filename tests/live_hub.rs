//! Against the real Hugging Face Hub: ignored by default (CI has no network) and run on purpose with
//! `CAPCACHE_LIVE_HUB=1 cargo test --test live_hub -- --ignored`; without the variable it fails
//! rather than pass without checking anything. Checks the facts the design names for two real
//! models.

use std::collections::BTreeMap;

use capcache::id::ModelId;
use capcache::source::Source;
use capcache::source::hub::{HubSettings, HubSource};
use capcache::strategy::{self, Options};

#[test]
#[ignore = "needs the real Hub: CAPCACHE_LIVE_HUB=1 cargo test --test live_hub -- --ignored"]
fn real_hub_models_resolve_to_their_known_counts() {
    assert_eq!(
        std::env::var("CAPCACHE_LIVE_HUB").as_deref(),
        Ok("1"),
        "set CAPCACHE_LIVE_HUB=1 to run against huggingface.co (the test asks the real Hub)"
    );
    let hub = HubSource::new(HubSettings::new("https://huggingface.co")).unwrap();
    let resolve = |id: &str| {
        strategy::resolve(&hub, &ModelId::parse(id).unwrap(), "main", &Options::default(), "2026-11-26T00:00:00Z")
            .unwrap_or_else(|f| panic!("{id}: {f:?}"))
    };
    let opt = resolve("facebook/opt-125m");
    assert_eq!(opt.strategy, "pytorch");
    assert_eq!(opt.parameters, BTreeMap::from([("F16".to_owned(), 125_239_296)]));
    let minilm = resolve("sentence-transformers/all-MiniLM-L6-v2");
    assert_eq!(minilm.total, 22_713_728);
    assert!(hub.counters().bytes() < 2_000_000, "read {} bytes", hub.counters().bytes());
}
