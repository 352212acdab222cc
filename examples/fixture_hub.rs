//! The fixture hub as a standalone server on loopback, for benchmarks and demos:
//!
//!     cargo run --release --example fixture_hub -- --models 200 --latency-ms 20 --list models.txt
//!
//! Serves `--models N` models of `--population mixed` (synthetic, three layouts) or `safetensors`
//! (Llama-3.3-70B FP8 in 30 shards with and without the Hub's metadata, and the real MiniLM, in turn;
//! see `tests/support/world.rs`), or the `{org}/{name}/` folders of `--dir`,
//! over the Hub protocol, with `--hostile` the hostile corpus of `tests/support/hostile.rs` beside
//! them, prints its URL on the first line of stdout, and runs until killed.
//! `GET /_fixture/stats` gives requests and bytes served; `GET /_fixture/reset` clears them.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

fn main() {
    let mut models = 200usize;
    let mut latency_ms = 20u64;
    let mut list = None;
    let mut dir = None;
    let mut hostile = false;
    let mut population = String::from("mixed");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--models" => models = value().parse().expect("--models N"),
            "--latency-ms" => latency_ms = value().parse().expect("--latency-ms MS"),
            "--list" => list = Some(value()),
            "--dir" => dir = Some(std::path::PathBuf::from(value())),
            "--hostile" => hostile = true,
            "--population" => population = value(),
            other => panic!("unknown argument {other}; see the header of examples/fixture_hub.rs"),
        }
    }
    let latency = Duration::from_millis(latency_ms);
    let (hub, mut ids) = match dir {
        Some(dir) => {
            let hub = support::hub::FixtureHub::start();
            let mut ids = Vec::new();
            for org in std::fs::read_dir(&dir).expect("--dir").flatten() {
                for name in std::fs::read_dir(org.path()).into_iter().flatten().flatten() {
                    let id = format!("{}/{}", org.file_name().to_string_lossy(), name.file_name().to_string_lossy());
                    let faults = support::hub::Faults { latency, ..Default::default() };
                    hub.add(&id, support::hub::Repo::from_dir(&id, &name.path()).faults(faults));
                    ids.push(id);
                }
            }
            (hub, ids)
        }
        None if population == "safetensors" => support::world::safetensors_world(models, latency),
        None => support::world::world(models, latency),
    };
    if hostile {
        for c in support::hostile::corpus() {
            hub.add(&c.id, c.repo);
            ids.push(c.id);
        }
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
