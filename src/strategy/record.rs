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
        quant_bits: arch::info::quantization(config).and_then(|q| q.bits),
        tie_word_embeddings: arch::info::architecture(config).tie_word_embeddings.unwrap_or(false),
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
    let architecture = ctx.config.map(arch::info::architecture).or(from_weights);
    let dtype =
        ctx.config.and_then(arch::info::config_dtype).map(str::to_owned).or_else(|| dominant(&counts.parameters));
    // A block-quantized weight dtype (GGUF's Q4_K) is no KV cache dtype: use llama.cpp's default, F16.
    let kv_dtype =
        dtype.as_deref().filter(|d| crate::dtype::lookup(d).is_some_and(|i| i.block_elems == 1)).unwrap_or("F16");
    let kv = architecture.as_ref().and_then(|a| arch::info::kv_cache_bytes_per_token(a, kv_dtype));
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
        weight_bytes: counts.weight_bytes,
        dtype,
        files,
        architecture,
        kv_cache_bytes_per_token: kv,
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
