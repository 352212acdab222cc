//! `capcache resolve` (one model through the chain now, nothing written) and `capcache estimate`
//! (the config strategy on a local file). The Python package calls the same functions.

use std::path::Path;

use anyhow::Context;
use capcache::id::{ModelId, check_revision};
use capcache::record::{Failure, Record};
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
            Ok(1)
        }
    }
}

/// A `config.json` file, parsed.
pub fn read_config(path: &Path) -> anyhow::Result<Value> {
    let text = fs_err::read_to_string(path)?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// The record `capcache estimate` prints: the config strategy on `config`, which `origin` names.
pub fn estimate_record(config: &Value, origin: &str) -> anyhow::Result<Record> {
    let est = arch::estimate(config).with_context(|| origin.to_owned())?;
    let described = arch::info::describe(config).with_context(|| origin.to_owned())?;
    let capacity = arch::info::capacity(&described.architecture, described.state_elements_per_sequence, &est.dtype);
    Ok(Record {
        revision: "local".into(),
        strategy: capcache::record::Strategy::Config,
        exact: false,
        approximate: est.approximate,
        total: est.parameters.values().sum(),
        parameters: est.parameters.clone(),
        logical_parameters: est.logical,
        active_parameters: None,
        may_also_store: Vec::new(),
        weight_bytes: est.weight_bytes,
        dtype: Some(est.dtype.clone()),
        files: vec![origin.to_owned()],
        architecture: Some(described.architecture),
        capacity,
        cross_check: Default::default(),
        tried: vec![],
        warnings: vec![format!("estimated from config.json ({} family)", est.family)],
        made_with: Default::default(),
        resolved_at: time::now_rfc3339(),
    })
}

pub fn estimate(path: &Path, json: bool, tensors: bool) -> anyhow::Result<u8> {
    let config = read_config(path)?;
    let origin = path.display().to_string();
    let record = estimate_record(&config, &origin)?;
    print_record(&origin, &record, json)?;
    if tensors {
        let m = arch::model(&config)?;
        for p in &m.params {
            outln!("  {:<48} {:>4} x {:?}", p.name, p.repeat, p.shape)?;
        }
    }
    Ok(0)
}
