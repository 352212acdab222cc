//! `capcache resolve` (one model through the chain now, nothing written) and `capcache estimate`
//! (the config strategy on a local file). The Python package calls the same functions.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use capcache::id::{ModelId, check_revision};
use capcache::record::{Failure, Outcome, Record};
use capcache::{arch, summary, time};
use serde_json::Value;

use super::settings;
use crate::cli::{ChainArgs, SourceArgs};

/// A record as `get --json` prints it: the record with an `id` field.
pub fn record_value(id: &str, record: &Record) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(record)?;
    value["id"] = id.into();
    Ok(value)
}

/// A failure as `resolve --json` prints it: the failure with an `id` field.
pub fn failure_value(id: &str, failure: &Failure) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(failure)?;
    value["id"] = id.into();
    Ok(value)
}

/// Prints a record as `get` does: summary, or JSON with an `id` field.
pub fn print_record(id: &str, record: &Record, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(&record_value(id, record)?)?)?;
    } else {
        out!("{}", summary::record(id, record))?;
    }
    Ok(())
}

/// Runs the chain for one model as `capcache resolve` does: the id and revision checked, the
/// source and the strategy options from the flags and the environment. `Err` for unusable input;
/// the failure when no strategy answered.
pub fn resolve_record(
    model: &str,
    revision: &str,
    source: &SourceArgs,
    chain: &ChainArgs,
) -> anyhow::Result<(ModelId, Result<Record, Failure>)> {
    let id = ModelId::parse(model)?;
    check_revision(revision)?;
    let src = settings::source(source)?;
    let opts = settings::chain(chain, source)?;
    let outcome = capcache::strategy::resolve(src.as_ref(), &id, revision, &opts, &time::now_rfc3339());
    Ok((id, outcome))
}

pub fn resolve(model: &str, revision: &str, json: bool, source: &SourceArgs, chain: &ChainArgs) -> anyhow::Result<u8> {
    let (id, outcome) = resolve_record(model, revision, source, chain)?;
    match outcome {
        Ok(record) => {
            print_record(id.as_str(), &record, json)?;
            Ok(0)
        }
        Err(failure) => {
            if json {
                outln!("{}", serde_json::to_string_pretty(&failure_value(id.as_str(), &failure)?)?)?;
            }
            eprint!("could not resolve {}", summary::failure(id.as_str(), &failure));
            if let Some(step) = next_step(failure.outcome) {
                eprintln!("{step}");
            }
            Ok(1)
        }
    }
}

/// What to do about a failure whose cause is not the model but the way to the Hub (the other
/// outcomes' messages say what to do themselves: a gated model's names the token). `resolve`
/// prints it after a failure, and every command after an error from the Hub client.
pub fn next_step(outcome: Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::NetworkError | Outcome::Timeout | Outcome::ServerError | Outcome::RateLimited => Some(
            "The Hub could not be reached or answered: check the network (behind a proxy set HTTPS_PROXY; \
             for a mirror, HF_ENDPOINT) or try again later. `capcache get` answers from the cache with no network.",
        ),
        _ => None,
    }
}

/// The largest `config.json` `estimate` reads.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The bytes of a `config.json` file, or of a model folder's; with the path read.
pub fn read_config(path: &Path) -> anyhow::Result<(Vec<u8>, PathBuf)> {
    let file = if path.is_dir() { path.join("config.json") } else { path.to_owned() };
    if path.is_dir() && !file.is_file() {
        bail!("{}: the folder has no config.json", path.display());
    }
    // A regular file under the cap, opened without waiting (a FIFO or /dev/zero is refused at once).
    let bytes = capcache::file::read_regular(&file, MAX_CONFIG_BYTES)
        .with_context(|| format!("cannot read {}", file.display()))?;
    Ok((bytes, file))
}

/// The record `capcache estimate` prints: the chain's `config` strategy on the `config.json` text
/// `config`, which `origin` names in errors.
pub fn estimate_record(config: Vec<u8>, origin: &str) -> anyhow::Result<Record> {
    capcache::strategy::estimate::estimate(config, &time::now_rfc3339())
        .map_err(|f| anyhow!("{origin}: {} ({})", f.message, f.outcome))
}

pub fn estimate(path: &Path, json: bool, tensors: bool) -> anyhow::Result<u8> {
    let (bytes, file) = read_config(path)?;
    let origin = file.display().to_string();
    let record = estimate_record(bytes.clone(), &origin)?;
    let tensors = match tensors {
        true => {
            let config: Value =
                capcache::arch::json::parse(&bytes).with_context(|| format!("{origin} is not valid JSON"))?;
            Some(arch::model(&config)?.params)
        }
        false => None,
    };
    if json {
        let mut value = record_value(&origin, &record)?;
        if let Some(params) = &tensors {
            value["tensors"] = params
                .iter()
                .map(|p| serde_json::json!({"name": p.name, "repeat": p.repeat, "shape": p.shape}))
                .collect();
        }
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        print_record(&origin, &record, false)?;
        for p in tensors.iter().flatten() {
            outln!("  {:<48} {:>4} x {:?}", p.name, p.repeat, p.shape)?;
        }
    }
    Ok(0)
}
