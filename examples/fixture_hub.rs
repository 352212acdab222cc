//! The fixture hub as a standalone server on loopback, for benchmarks, demos and the Python tests:
//!
//!     cargo run --release --example fixture_hub -- --models 200 --latency-ms 20 --list models.txt
//!     cargo run --example fixture_hub -- --latency-ms 0 --repo org/model=DIR \
//!         --skeleton facebook/opt-125m=tests/fixtures/pytorch/opt-125m-skeleton \
//!         --gated org/model --token hf_secret --rate-limited org/other
//!
//! Serves `--models N` models of `--population mixed` (synthetic, three layouts) or `safetensors`
//! (Llama-3.3-70B FP8 in 30 shards with and without the Hub's metadata, and the real MiniLM, in turn;
//! see `tests/support/world.rs`); or, when `--dir`, `--repo` or `--skeleton` is given, only those:
//! the `{org}/{name}/` folders of `--dir`, one folder per `--repo ID=DIR`, a checkpoint skeleton
//! (config.json, head.bin, tail.bin, layout.json) per `--skeleton ID=DIR`. With `--hostile`, the
//! hostile corpus of `tests/support/hostile.rs` beside them. `--gated ID` makes a served repo's
//! files need `--token`; `--rate-limited ID` answers every request for ID with 429 and a
//! `Retry-After` of an hour. Any other id is not found. Prints its URL on the first line of stdout,
//! and runs until killed. `GET /_fixture/stats` gives requests and bytes served;
//! `GET /_fixture/reset` clears them.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::hub::{Faults, FixtureHub, Repo};

/// `ID=DIR`.
fn id_and_dir(arg: &str, value: String) -> (String, PathBuf) {
    let (id, dir) = value.split_once('=').unwrap_or_else(|| panic!("{arg} takes ID=DIR, got {value:?}"));
    (id.to_owned(), PathBuf::from(dir))
}

fn main() {
    let mut models = 200usize;
    let mut latency_ms = 20u64;
    let mut list = None;
    let mut dir = None;
    let mut hostile = false;
    let mut population = String::from("mixed");
    let mut repos: Vec<(String, Repo)> = Vec::new();
    let mut gated = Vec::new();
    let mut rate_limited = Vec::new();
    let mut token = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--models" => models = value().parse().expect("--models N"),
            "--latency-ms" => latency_ms = value().parse().expect("--latency-ms MS"),
            "--list" => list = Some(value()),
            "--dir" => dir = Some(PathBuf::from(value())),
            "--hostile" => hostile = true,
            "--population" => population = value(),
            "--repo" => {
                let (id, dir) = id_and_dir(&a, value());
                repos.push((id.clone(), Repo::from_dir(&id, &dir)));
            }
            "--skeleton" => {
                let (id, dir) = id_and_dir(&a, value());
                repos.push((id.clone(), support::skeleton_repo(&id, &dir)));
            }
            "--gated" => gated.push(value()),
            "--rate-limited" => rate_limited.push(value()),
            "--token" => token = Some(value()),
            other => panic!("unknown argument {other}; see the header of examples/fixture_hub.rs"),
        }
    }
    let latency = Duration::from_millis(latency_ms);
    let (hub, mut ids) = if dir.is_some() || !repos.is_empty() {
        let hub = FixtureHub::start();
        let mut ids = Vec::new();
        for org in dir.iter().flat_map(|d| std::fs::read_dir(d).expect("--dir")).flatten() {
            for name in std::fs::read_dir(org.path()).into_iter().flatten().flatten() {
                let id = format!("{}/{}", org.file_name().to_string_lossy(), name.file_name().to_string_lossy());
                repos.push((id.clone(), Repo::from_dir(&id, &name.path())));
            }
        }
        for (id, repo) in repos {
            hub.add(&id, repo.faults(Faults { latency, ..Faults::default() }));
            ids.push(id);
        }
        (hub, ids)
    } else if population == "safetensors" {
        support::world::safetensors_world(models, latency)
    } else {
        support::world::world(models, latency)
    };
    if hostile {
        for c in support::hostile::corpus() {
            hub.add(&c.id, c.repo);
            ids.push(c.id);
        }
    }
    for id in &gated {
        hub.with_repo(id, |r| r.faults.gated = true);
    }
    for id in &rate_limited {
        hub.with_repo(id, |r| {
            r.faults.rate_limit = u32::MAX;
            r.faults.retry_after_secs = 3600;
        });
    }
    if let Some(token) = token {
        hub.set_token(&token);
    }
    if let Some(path) = list {
        std::fs::write(path, ids.join("\n") + "\n").expect("write --list");
    }
    println!("{}", hub.url);
    std::io::Write::flush(&mut std::io::stdout()).expect("stdout");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
