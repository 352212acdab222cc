//! Config-strategy throughput on one core: every fixture config (real published ones and the
//! written ones), counted over and over for a fixed time. Prints configs per second for counting a
//! parsed config, and for parsing + counting from bytes, as JSON on stdout.
//!
//!     cargo bench --bench config_count [-- SECONDS]

use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this is a one-pass smoke test.
    let benching = std::env::args().any(|a| a == "--bench");
    let secs: f64 = if benching { std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2.0) } else { 0.0 };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut texts = Vec::new();
    for sub in ["configs", "written"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if !p.file_name().unwrap().to_str().unwrap().starts_with("expected_") {
                texts.push(std::fs::read_to_string(p).unwrap());
            }
        }
    }
    // Read as Python's json reads them (the hybrid configs hold transformers' `Infinity`).
    let values: Vec<serde_json::Value> =
        texts.iter().map(|t| capcache::arch::json::parse(t.as_bytes()).unwrap()).collect();
    let budget = Duration::from_secs_f64(secs);
    let rate = |f: &dyn Fn(usize) -> u64| {
        let start = Instant::now();
        let mut n = 0usize;
        let mut sink = 0u64;
        loop {
            for i in 0..values.len() {
                sink = sink.wrapping_add(f(i));
            }
            n += values.len();
            if start.elapsed() >= budget {
                break;
            }
        }
        std::hint::black_box(sink);
        n as f64 / start.elapsed().as_secs_f64()
    };
    for (v, t) in values.iter().zip(&texts) {
        assert!(capcache::arch::estimate(v).is_ok(), "config does not count: {t}");
    }
    let counted = rate(&|i| capcache::arch::estimate(&values[i]).map(|e| e.logical).unwrap_or(0));
    let parsed = rate(&|i| {
        let v: serde_json::Value = capcache::arch::json::parse(texts[i].as_bytes()).unwrap();
        capcache::arch::estimate(&v).map(|e| e.logical).unwrap_or(0)
    });
    println!(
        "{}",
        serde_json::json!({"configs": values.len(), "count_per_sec": counted.round(), "parse_and_count_per_sec": parsed.round()})
    );
}
