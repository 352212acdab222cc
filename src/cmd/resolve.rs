//! `capcache resolve` (one model through the chain now, nothing written) and `capcache estimate`
//! (the config strategy on a local file).

use std::path::Path;

use anyhow::Context;
use capcache::id::{ModelId, check_revision};
use capcache::record::Record;
use capcache::{arch, summary, time};

use super::settings;
use crate::cli::{ChainArgs, SourceArgs};

/// Prints a record as `get` does: summary, or JSON with an `id` field.
pub fn print_record(id: &str, record: &Record, json: bool) -> anyhow::Result<()> {
    if json {
        let mut value = serde_json::to_value(record)?;
        value["id"] = id.into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", summary::record(id, record));
    }
    Ok(())
}

pub fn resolve(model: &str, revision: &str, json: bool, source: &SourceArgs, chain: &ChainArgs) -> anyhow::Result<u8> {
    let id = ModelId::parse(model)?;
    check_revision(revision)?;
    let src = settings::source(source)?;
    let opts = settings::chain(chain, source)?;
    match capcache::strategy::resolve(src.as_ref(), &id, revision, &opts, &time::now_rfc3339()) {
        Ok(record) => {
            print_record(id.as_str(), &record, json)?;
            Ok(0)
        }
        Err(failure) => {
            if json {
                let mut value = serde_json::to_value(&failure)?;
                value["id"] = id.as_str().into();
                println!("{}", serde_json::to_string_pretty(&value)?);
            }
            eprint!("could not resolve {}", summary::failure(id.as_str(), &failure));
            Ok(1)
        }
    }
}

pub fn estimate(path: &Path, json: bool, tensors: bool) -> anyhow::Result<u8> {
    let text = fs_err::read_to_string(path)?;
    let config: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    let est = arch::estimate(&config).with_context(|| format!("{}", path.display()))?;
    let architecture = arch::info::architecture(&config);
    let kv = arch::info::kv_cache_bytes_per_token(&architecture, &est.dtype);
    let record = Record {
        revision: "local".into(),
        strategy: capcache::record::Strategy::Config,
        exact: false,
        approximate: est.approximate,
        total: est.parameters.values().sum(),
        parameters: est.parameters.clone(),
        logical_parameters: est.logical,
        weight_bytes: est.weight_bytes,
        dtype: Some(est.dtype.clone()),
        files: vec![path.display().to_string()],
        architecture: Some(architecture),
        kv_cache_bytes_per_token: kv,
        cross_check: Default::default(),
        tried: vec![],
        warnings: vec![format!("estimated from config.json ({} family)", est.family)],
        made_with: Default::default(),
        resolved_at: time::now_rfc3339(),
    };
    print_record(&path.display().to_string(), &record, json)?;
    if tensors {
        let m = arch::model(&config)?;
        for p in &m.params {
            println!("  {:<48} {:>4} x {:?}", p.name, p.repeat, p.shape);
        }
    }
    Ok(0)
}
