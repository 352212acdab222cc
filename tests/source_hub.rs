//! The real Hub client against the fixture hub, for every protocol scenario and fault.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use capcache::id::ModelId;
use capcache::source::hub::{HubSettings, HubSource, RetryPolicy, Token};
use capcache::source::{Deadline, Source, SourceError};
use support::hub::{Faults, FixtureHub, Repo};

const TOKEN: &str = "hf_fixtureSECRETtoken123";

fn client(hub: &FixtureHub, token: Option<&str>) -> HubSource {
    let mut s = HubSettings::new(&hub.url);
    s.token = token.map(Token::new);
    s.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_wait: Duration::from_secs(5),
    };
    HubSource::new(s).unwrap()
}

fn blob(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn id(s: &str) -> ModelId {
    ModelId::parse(s).unwrap()
}

fn hub_with(model: &str, faults: Faults) -> FixtureHub {
    let hub = FixtureHub::start();
    hub.add(
        model,
        Repo::new(model)
            .bytes("config.json", b"{\"model_type\": \"llama\"}".to_vec())
            .bytes("model.safetensors", blob(300_000))
            .faults(faults),
    );
    hub
}

#[test]
fn snapshot_pins_the_sha_and_ranges_follow_the_cdn_redirect_without_the_token() {
    let hub = hub_with("org/m", Faults::default());
    hub.with_repo("org/m", |r| r.api_safetensors = Some(serde_json::json!({"parameters": {"F32": 5}, "total": 5})));
    let c = client(&hub, Some(TOKEN));
    let snap = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap();
    assert_eq!(snap.sha, support::hub::sha_of("org/m"));
    assert_eq!(snap.files, vec!["config.json", "model.safetensors"]);
    assert_eq!(snap.hub_parameters, Some(BTreeMap::from([("F32".to_owned(), 5)])));

    let r = c.read_range(&snap, "model.safetensors", 1000, 5000, Deadline::NONE).unwrap();
    assert_eq!(r.bytes, blob(300_000)[1000..6000]);
    assert_eq!(r.file_size, 300_000);
    let r2 = c.read_range(&snap, "model.safetensors", 299_990, 100, Deadline::NONE).unwrap();
    assert_eq!(r2.bytes.len(), 10, "a range past the end is cut at the end of the file");
    assert_eq!(c.read_small(&snap, "config.json", 1000, Deadline::NONE).unwrap(), b"{\"model_type\": \"llama\"}");

    let log = hub.log();
    for h in &log {
        if h.cdn {
            assert!(h.authorization.is_none(), "token sent to the CDN host: {h:?}");
        } else {
            assert_eq!(h.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
        }
        if h.target.contains("/resolve/") {
            assert!(h.target.contains(&snap.sha), "file read not pinned to the sha: {}", h.target);
        }
    }
    let cdn: Vec<_> = log.iter().filter(|h| h.cdn).collect();
    assert_eq!(cdn.len(), 2, "one CDN request per range, each through a fresh /resolve");
    assert_eq!(log.iter().filter(|h| h.status == 302).count(), 2);
}

#[test]
fn gated_needs_a_token_with_access() {
    let hub = hub_with("org/gated", Faults { gated: true, ..Faults::default() });
    hub.set_token(TOKEN);
    let anon = client(&hub, None);
    let snap = anon.snapshot(&id("org/gated"), "main", Deadline::NONE).unwrap(); // metadata stays public
    let e = anon.read_small(&snap, "config.json", 1000, Deadline::NONE).unwrap_err();
    assert!(matches!(e, SourceError::Gated { .. }), "{e}");
    assert!(e.to_string().contains("token"), "{e}");
    let wrong = client(&hub, Some("hf_wrong"));
    assert!(matches!(wrong.read_small(&snap, "config.json", 1000, Deadline::NONE), Err(SourceError::Gated { .. })));
    let right = client(&hub, Some(TOKEN));
    assert!(right.read_small(&snap, "config.json", 1000, Deadline::NONE).is_ok());
}

#[test]
fn not_found_outcomes_are_distinct() {
    let hub = hub_with("org/m", Faults::default());
    hub.add("org/gone", Repo::new("org/gone").faults(Faults { missing: true, ..Faults::default() }));
    let c = client(&hub, None);
    assert!(matches!(c.snapshot(&id("org/gone"), "main", Deadline::NONE), Err(SourceError::RepoNotFound { .. })));
    assert!(matches!(c.snapshot(&id("org/never"), "main", Deadline::NONE), Err(SourceError::RepoNotFound { .. })));
    let e = c.snapshot(&id("org/m"), "v9", Deadline::NONE).unwrap_err();
    assert!(matches!(e, SourceError::RevisionNotFound { .. }), "{e}");
    let snap = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap();
    assert!(matches!(c.read_small(&snap, "nope.json", 10, Deadline::NONE), Err(SourceError::EntryNotFound { .. })));
    assert_eq!(e.outcome().as_str(), "revision-not-found");
}

#[test]
fn rate_limits_are_waited_out_as_the_server_says() {
    for header in [false, true] {
        let hub = hub_with(
            "org/m",
            Faults { rate_limit: 2, rate_limit_header: header, retry_after_secs: 1, ..Faults::default() },
        );
        let c = client(&hub, None);
        let t = std::time::Instant::now();
        let snap = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap();
        assert!(t.elapsed() >= Duration::from_secs(2), "did not wait what the 429 asked ({header})");
        assert_eq!(snap.files.len(), 2);
        assert_eq!(hub.log().iter().filter(|h| h.status == 429).count(), 2);
    }
}

#[test]
fn retries_stop_and_report_the_typed_error() {
    let hub = hub_with("org/m", Faults { rate_limit: 100, retry_after_secs: 0, ..Faults::default() });
    let c = client(&hub, None);
    let e = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap_err();
    assert!(matches!(e, SourceError::RateLimited { .. }), "{e}");
    assert_eq!(hub.log().len(), 4, "max_attempts requests, then stop");

    let hub = hub_with("org/m", Faults { rate_limit: 1, retry_after_secs: 3600, ..Faults::default() });
    let e = client(&hub, None).snapshot(&id("org/m"), "main", Deadline::NONE).unwrap_err();
    assert!(e.to_string().contains("3600"), "a wait over the cap is reported, not slept: {e}");

    let hub = hub_with("org/m", Faults { server_errors: 100, ..Faults::default() });
    let e = client(&hub, None).snapshot(&id("org/m"), "main", Deadline::NONE).unwrap_err();
    assert!(matches!(e, SourceError::Server { status: 503, .. }), "{e}");
    assert_eq!(hub.log().len(), 4);

    let hub = hub_with("org/m", Faults { server_errors: 2, ..Faults::default() });
    assert!(client(&hub, None).snapshot(&id("org/m"), "main", Deadline::NONE).is_ok());
}

#[test]
fn resets_and_truncated_bodies_are_retried() {
    for faults in [Faults { resets: 2, ..Faults::default() }, Faults { truncations: 2, ..Faults::default() }] {
        let hub = hub_with("org/m", Faults::default());
        let c = client(&hub, None);
        let snap = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap();
        hub.set_faults("org/m", faults.clone());
        let r = c.read_range(&snap, "model.safetensors", 0, 200_000, Deadline::NONE).unwrap();
        assert_eq!(r.bytes, blob(300_000)[..200_000], "{faults:?}");
        assert_eq!(hub.log().iter().filter(|h| h.cdn).count(), 3, "{faults:?}");
        // small files too
        hub.set_faults("org/m", faults.clone());
        assert_eq!(c.read_small(&snap, "config.json", 1000, Deadline::NONE).unwrap().len(), 23);
    }
}

#[test]
fn an_ignored_range_is_read_from_the_start_or_detected_and_the_body_not_read() {
    let hub = hub_with("org/m", Faults::default());
    hub.with_repo("org/m", |r| *r = r.clone().bytes("model.safetensors", blob(20_000_000)));
    let c = client(&hub, None);
    let snap = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap();
    hub.set_faults("org/m", Faults { ignore_range: true, ..Faults::default() });
    // From offset 0, the bytes wanted are the first of the whole body: read them and hang up.
    let before = c.counters().bytes();
    let r = c.read_range(&snap, "model.safetensors", 0, 100_000, Deadline::NONE).unwrap();
    assert_eq!((r.bytes.as_slice(), r.file_size), (&blob(100_000)[..], 20_000_000));
    assert!(c.counters().bytes() - before < 1 << 20, "read about what was asked, not the file");
    // From anywhere else, the answer is unusable: no body read, no retry.
    let before = c.counters().bytes();
    let e = c.read_range(&snap, "model.safetensors", 1000, 100_000, Deadline::NONE).unwrap_err();
    assert!(matches!(e, SourceError::RangeIgnored { .. }), "{e}");
    assert!(e.to_string().contains("--allow-download"));
    assert_eq!(c.counters().bytes() - before, 0, "no body bytes read from a 200");
    // The server logs the request once its (aborted) write ends.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let late = || -> Vec<_> {
        hub.log()
            .into_iter()
            .filter(|h| h.cdn && h.range.as_deref().is_some_and(|r| r.starts_with("bytes=1000-")))
            .collect()
    };
    while late().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let cdn = late();
    assert_eq!(cdn.len(), 1, "not retried");
    assert!(cdn[0].bytes < 20_000_000, "the client hung up instead of streaming the file");
}

#[test]
fn wrong_content_range_and_changing_etag_are_errors() {
    let hub = hub_with("org/m", Faults::default());
    let c = client(&hub, None);
    let snap = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap();
    hub.set_faults("org/m", Faults { wrong_content_range: true, ..Faults::default() });
    let e = c.read_range(&snap, "model.safetensors", 10, 100, Deadline::NONE).unwrap_err();
    assert!(matches!(e, SourceError::Malformed { .. }), "{e}");
    hub.set_faults("org/m", Faults { etag_changes: true, ..Faults::default() });
    c.read_range(&snap, "model.safetensors", 0, 100, Deadline::NONE).unwrap();
    let e = c.read_range(&snap, "model.safetensors", 100, 100, Deadline::NONE).unwrap_err();
    assert!(matches!(e, SourceError::EtagChanged { .. }), "{e}");
}

#[test]
fn tree_listing_follows_link_pagination() {
    let hub = FixtureHub::start();
    let mut repo = Repo::new("org/many");
    for i in 0..7 {
        repo = repo.bytes(&format!("f{i}.json"), vec![0u8; i]);
    }
    hub.add("org/many", repo);
    hub.set_tree_page(3);
    let c = client(&hub, None);
    let snap = c.snapshot(&id("org/many"), "main", Deadline::NONE).unwrap();
    let tree = c.list_tree(&snap, Deadline::NONE).unwrap();
    assert_eq!(tree.len(), 7);
    assert_eq!(tree[6].size, 6);
    assert_eq!(hub.log().iter().filter(|h| h.target.contains("/tree/")).count(), 3);
    assert_eq!(c.file_size(&snap, "f5.json", Deadline::NONE).unwrap(), 5);
    hub.clear_log();
    assert_eq!(c.file_sizes(&snap, &["f6.json", "f2.json", "f4.json"], Deadline::NONE).unwrap(), [6, 2, 4]);
    let heads: Vec<_> =
        hub.log().into_iter().filter(|h| h.method == "HEAD" && !h.target.ends_with("f5.json")).collect();
    assert!(heads.is_empty(), "sizes from the listing, no HEAD per file: {heads:#?}");
    // A next-page link back to a page already read ends the listing at once, as an error.
    hub.set_tree_loops();
    hub.clear_log();
    let e = c.list_tree(&snap, Deadline::NONE).unwrap_err();
    assert!(e.to_string().contains("leads back to a page already read"), "{e}");
    assert_eq!(hub.log().iter().filter(|h| h.target.contains("/tree/")).count(), 1);
}

#[test]
fn the_token_appears_in_no_error_message() {
    let hub = hub_with("org/gated", Faults { gated: true, ..Faults::default() });
    let c = client(&hub, Some(TOKEN));
    let snap = c.snapshot(&id("org/gated"), "main", Deadline::NONE).unwrap();
    let mut errors = vec![c.read_small(&snap, "config.json", 100, Deadline::NONE).unwrap_err()];
    errors.push(c.snapshot(&id("org/none"), "main", Deadline::NONE).unwrap_err());
    hub.set_faults("org/gated", Faults { server_errors: 100, ..Faults::default() });
    errors.push(c.read_small(&snap, "config.json", 100, Deadline::NONE).unwrap_err());
    for e in errors {
        assert!(!format!("{e} {e:?}").contains("SECRET"), "{e:?}");
    }
    let dead = client(&FixtureHub::start(), Some(TOKEN));
    let mut s = HubSettings::new("http://127.0.0.1:9");
    s.token = Some(Token::new(TOKEN));
    s.retry.max_attempts = 1;
    let e = HubSource::new(s).unwrap().snapshot(&id("org/x"), "main", Deadline::NONE).unwrap_err();
    assert!(matches!(e, SourceError::Network { .. }), "{e}");
    assert!(!format!("{e} {e:?}").contains("SECRET"));
    drop(dead);
}

#[test]
fn a_shared_limit_bounds_requests_in_flight_per_host() {
    let hub = hub_with("org/m", Faults { latency: Duration::from_millis(50), ..Faults::default() });
    let mut s = HubSettings::new(&hub.url);
    s.max_in_flight = 3;
    let c = HubSource::new(s).unwrap();
    let snap = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..12 {
            scope.spawn(|| c.read_small(&snap, "config.json", 1000, Deadline::NONE).unwrap());
        }
    });
    assert_eq!(hub.max_in_flight(), 3, "12 concurrent reads, at most 3 at once, and the limit was reached");
}

#[test]
fn a_body_that_drips_is_cut_off_by_the_request_deadline_and_the_model_deadline() {
    let hub = hub_with("org/m", Faults::default());
    let mut s = HubSettings::new(&hub.url);
    s.request_timeout = Duration::from_secs(2);
    s.retry.max_attempts = 1;
    let c = HubSource::new(s).unwrap();
    let snap = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap();
    hub.set_faults("org/m", Faults { throttle: Some(1), ..Faults::default() });
    // One byte a second never trips a per-read timeout; the request's total deadline stops it.
    let started = std::time::Instant::now();
    let e = c.read_range(&snap, "model.safetensors", 0, 1000, Deadline::NONE).unwrap_err();
    assert!(matches!(&e, SourceError::Network { message, .. } if message.contains("longer than 2s")), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // A model deadline nearer than the request's ends it sooner, as a timeout of the model.
    let started = std::time::Instant::now();
    let e = c.read_range(&snap, "model.safetensors", 0, 1000, Deadline::after(Duration::from_secs(1))).unwrap_err();
    assert!(matches!(e, SourceError::Deadline { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_millis(1800), "{:?}", started.elapsed());
}

#[test]
fn a_token_never_goes_over_plain_http_to_another_host_unless_asked() {
    for (endpoint, ok) in [
        ("http://10.1.2.3:8080", false),
        ("http://mirror.example.com", false),
        ("http://127.0.0.1:9", true),
        ("http://localhost:9", true),
        ("http://[::1]:9", true),
        ("https://mirror.example.com", true),
    ] {
        let mut s = HubSettings::new(endpoint);
        s.token = Some(Token::new(TOKEN));
        match HubSource::new(s.clone()) {
            Ok(_) => assert!(ok, "{endpoint}: accepted"),
            Err(e) => {
                assert!(!ok, "{endpoint}: {e}");
                assert!(e.contains("--allow-insecure-token") && !e.contains("SECRET"), "{e}");
                s.allow_insecure_token = true;
                assert!(HubSource::new(s).is_ok(), "{endpoint}: refused although allowed");
            }
        }
        // Without a token there is nothing to protect.
        assert!(HubSource::new(HubSettings::new(endpoint)).is_ok());
    }
}

#[test]
fn an_endpoint_with_a_query_or_fragment_is_refused_before_any_request() {
    for endpoint in ["https://mirror.example.com/hf?key=SECRET", "https://mirror.example.com/hf#SECRET"] {
        let e = HubSource::new(HubSettings::new(endpoint)).err().unwrap_or_else(|| panic!("{endpoint}: accepted"));
        assert!(e.contains("https://mirror.example.com/hf: it may not have a query"), "{e}");
        assert!(!e.contains("SECRET"), "the query is not echoed: {e}");
    }
    assert!(HubSource::new(HubSettings::new("https://mirror.example.com/hf/")).is_ok(), "a path prefix is fine");
}

#[test]
fn waiting_for_a_host_slot_stops_at_the_model_deadline() {
    let hub = hub_with("org/m", Faults { latency: Duration::from_secs(3), ..Faults::default() });
    let mut s = HubSettings::new(&hub.url);
    s.max_in_flight = 1;
    let c = HubSource::new(s).unwrap();
    let snap = c.snapshot(&id("org/m"), "main", Deadline::NONE).unwrap();
    std::thread::scope(|scope| {
        // One slow read holds the only slot for three seconds.
        scope.spawn(|| c.read_small(&snap, "config.json", 1000, Deadline::NONE).unwrap());
        std::thread::sleep(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let e = c.read_small(&snap, "config.json", 1000, Deadline::after(Duration::from_millis(300))).unwrap_err();
        assert!(matches!(e, SourceError::Deadline { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2), "waited {:?} for a slot", started.elapsed());
    });
}
