//! The fixture hub as a standalone server on loopback, for benchmarks, demos and the Python tests.
//! `cargo run --example fixture_hub -- --help` prints [`HELP`].

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::hub::{Faults, FixtureHub, Repo};

const HELP: &str = "\
fixture_hub: a loopback server that speaks the Hugging Face Hub protocol over synthetic or local
models (tests/support/hub.rs), for benchmarks, demos and the Python tests.

  cargo run --release --example fixture_hub -- --models 200 --latency-ms 20 --list /tmp/fixture-models.txt
  cargo run --example fixture_hub -- --latency-ms 0 --repo org/model=DIR \\
      --skeleton facebook/opt-125m=tests/fixtures/pytorch/opt-125m-skeleton \\
      --gated org/model --token hf_secret --rate-limited org/other

Options:
  --models N            serve N synthetic models (default 200)
  --population P        `mixed` (three safetensors layouts, the default), `formats` (those, a real
                        OPT-125m `.bin` and a real GGUF file, one model in five each) or
                        `safetensors` (Llama-3.3-70B FP8 in 30 shards with and without the Hub's
                        metadata, and the real MiniLM, in turn)
  --latency-ms MS       added to every request (default 20)
  --list PATH           write the served ids there, one a line (a models.txt); PATH must not exist
  --dir DIR             serve only the {org}/{name}/ folders of DIR
  --repo ID=DIR         serve only DIR as ID (repeatable)
  --dataset ID=DIR      also serve DIR as the dataset repository ID (`capcache update`; repeatable)
  --skeleton ID=DIR     serve a checkpoint skeleton (config.json, head.bin, tail.bin, layout.json)
  --hostile             add the hostile corpus of tests/support/hostile.rs
  --gated ID            ID's files need --token
  --token T             the token gated repositories accept
  --rate-limited ID     answer every request for ID with 429 and a Retry-After of an hour
  --cdn-url URL         redirect to the CDN at URL (a front for it) instead of its own listener
  -h, --help            print this

Any other id is not found. Prints its URL on the first line of stdout, its CDN listener's URL on the
second, and runs until killed.
GET /_fixture/stats gives requests and bytes served; GET /_fixture/reset clears them.
";

/// Ends the process with a usage error (exit 2).
fn usage(message: &str) -> ! {
    eprintln!("fixture_hub: {message} (see --help)");
    std::process::exit(2)
}

/// `ID=DIR`.
fn id_and_dir(arg: &str, value: String) -> (String, PathBuf) {
    let (id, dir) = value.split_once('=').unwrap_or_else(|| usage(&format!("{arg} takes ID=DIR, got {value:?}")));
    (id.to_owned(), PathBuf::from(dir))
}

/// A number argument.
fn number<T: std::str::FromStr>(arg: &str, value: String) -> T {
    value.parse().unwrap_or_else(|_| usage(&format!("{arg} takes a number, got {value:?}")))
}

fn main() {
    let mut models = 200usize;
    let mut latency_ms = 20u64;
    let mut list = None;
    let mut dir = None;
    let mut hostile = false;
    let mut population = String::from("mixed");
    let mut repos: Vec<(String, Repo)> = Vec::new();
    let mut datasets: Vec<(String, Repo)> = Vec::new();
    let mut gated = Vec::new();
    let mut rate_limited = Vec::new();
    let mut token = None;
    let mut cdn_url = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return;
            }
            "--models" => models = number(&a, value()),
            "--latency-ms" => latency_ms = number(&a, value()),
            "--list" => list = Some(value()),
            "--dir" => dir = Some(PathBuf::from(value())),
            "--hostile" => hostile = true,
            "--population" => population = value(),
            "--repo" => {
                let (id, dir) = id_and_dir(&a, value());
                repos.push((id.clone(), Repo::from_dir(&id, &dir)));
            }
            "--dataset" => {
                let (id, dir) = id_and_dir(&a, value());
                datasets.push((id.clone(), Repo::from_dir(&format!("datasets/{id}"), &dir)));
            }
            "--skeleton" => {
                let (id, dir) = id_and_dir(&a, value());
                repos.push((id.clone(), support::skeleton_repo(&id, &dir)));
            }
            "--gated" => gated.push(value()),
            "--rate-limited" => rate_limited.push(value()),
            "--token" => token = Some(value()),
            "--cdn-url" => cdn_url = Some(value()),
            other => usage(&format!("unknown argument {other:?}")),
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
    } else {
        match population.as_str() {
            "safetensors" => support::world::safetensors_world(models, latency),
            "formats" => support::world::formats_world(models, latency),
            "mixed" => support::world::world(models, latency),
            other => usage(&format!("--population takes mixed, formats or safetensors, got {other:?}")),
        }
    };
    for (id, repo) in datasets {
        hub.add_dataset(&id, repo);
    }
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
    if let Some(url) = cdn_url {
        hub.set_cdn_base(&url);
    }
    if let Some(path) = list {
        // Never over a file that exists: `--list models.txt` in the checkout would replace the
        // project's own list.
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, (ids.join("\n") + "\n").as_bytes()));
        if let Err(e) = written {
            usage(&format!("--list {path}: {e} (give a path that does not exist yet)"));
        }
    }
    println!("{}\n{}", hub.url, hub.cdn_url);
    std::io::Write::flush(&mut std::io::stdout()).expect("stdout");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
