//! Assembling a record from a strategy's answer: dtype, architecture, KV cache, the config
//! cross-check, and notes.

use serde_json::Value;

use super::{Ctx, Found};
use crate::arch;
use crate::count::CountOptions;
use crate::record::{Record, Strategy, Tried};

/// Count options from the config: packed-weight bits, and whether the head is tied.
pub fn count_options(config: Option<&Value>) -> CountOptions {
    let Some(config) = config else { return CountOptions::default() };
    CountOptions {
        // An invalid config leaves the defaults; the record's warnings say why it was not used.
        quant_bits: arch::info::quantization(config).ok().flatten().and_then(|q| q.bits),
        tie_word_embeddings: arch::info::describe(config)
            .ok()
            .and_then(|d| d.architecture.tie_word_embeddings)
            .unwrap_or(false),
    }
}

/// The dominant dtype by elements.
fn dominant(parameters: &std::collections::BTreeMap<String, u64>) -> Option<String> {
    parameters.iter().max_by_key(|(_, n)| **n).map(|(d, _)| d.clone())
}

pub fn assemble(
    ctx: &Ctx,
    name: Strategy,
    found: Found,
    tried: Vec<Tried>,
    mut warnings: Vec<String>,
    now: &str,
) -> Record {
    let Found { counts, exact, approximate, files, architecture: from_weights } = found;
    warnings.extend(counts.notes.iter().cloned());
    // A config with invalid values is not used for facts (one warning says why).
    let (described, config_dtype) = match ctx
        .config
        .map(|c| -> Result<_, arch::ArchError> { Ok((arch::info::describe(c)?, arch::info::config_dtype(c)?)) })
    {
        Some(Ok((d, dtype))) => (Some(d), dtype),
        Some(Err(e)) => {
            warnings.push(format!("config.json not used for the architecture facts: {e}"));
            (None, None)
        }
        None => (None, None),
    };
    if name != Strategy::Config && described.as_ref().is_some_and(|d| d.approximate) {
        warnings.push("the architecture facts assume a generic decoder (unknown model_type)".into());
    }
    let (architecture, state) = match described {
        Some(d) => (Some(d.architecture), d.state_elements_per_sequence),
        None => (from_weights, None),
    };
    let dtype = config_dtype.map(str::to_owned).or_else(|| dominant(&counts.parameters));
    // A block-quantized weight dtype (GGUF's Q4_K) is no KV cache dtype: use llama.cpp's default, F16.
    let kv_dtype =
        dtype.as_deref().filter(|d| crate::dtype::lookup(d).is_some_and(|i| i.block_elems == 1)).unwrap_or("F16");
    let capacity = architecture.as_ref().map(|a| arch::info::capacity(a, state, kv_dtype)).unwrap_or_default();
    let mut cross_check = std::collections::BTreeMap::new();
    if name != Strategy::Config
        && let Some(config) = ctx.config
    {
        match arch::estimate(config) {
            Ok(est) => {
                cross_check.insert(Strategy::Config, est.logical);
                if est.logical != counts.logical {
                    let approx = if est.approximate { " (approximate: unknown architecture)" } else { "" };
                    warnings.push(format!(
                        "the config strategy counts {}{approx}, the checkpoint {}",
                        est.logical, counts.logical
                    ));
                }
            }
            Err(e) => warnings.push(format!("no config cross-check: {e}")),
        }
    }
    Record {
        revision: ctx.snap.sha.clone(),
        strategy: name,
        exact,
        approximate,
        parameters: counts.parameters,
        total: counts.total,
        logical_parameters: counts.logical,
        active_parameters: None,
        may_also_store: Vec::new(),
        weight_bytes: counts.weight_bytes,
        dtype,
        files,
        architecture,
        capacity,
        cross_check,
        tried,
        warnings,
        made_with: Default::default(),
        resolved_at: now.to_owned(),
    }
}

/// After `hub-metadata` answered: read the safetensors headers too and compare.
pub fn verify_with_headers(ctx: &Ctx, rec: &mut Record) {
    match super::safetensors::run(ctx) {
        Ok(found) => {
            rec.cross_check.insert(Strategy::Safetensors, found.counts.total);
            if found.counts.parameters != rec.parameters {
                rec.warnings.push(format!(
                    "the Hub metadata says {:?} but the safetensors headers say {:?}",
                    rec.parameters, found.counts.parameters
                ));
            }
            if rec.logical_parameters != found.counts.logical {
                rec.logical_parameters = found.counts.logical;
            }
            rec.weight_bytes = found.counts.weight_bytes;
            rec.files = found.files;
        }
        Err(miss) => rec.warnings.push(format!("could not verify against the headers: {}", miss.message)),
    }
}
