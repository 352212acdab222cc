//! Assembling a record from a strategy's answer: dtype, architecture, KV cache, active
//! parameters, the config cross-check, an adapter's base model, and notes.

use super::{Ctx, Found};
use crate::arch;
use crate::count::Counts;
use crate::record::{Architecture, Record, Strategy, Tried};

/// The dominant dtype by elements.
fn dominant(parameters: &std::collections::BTreeMap<String, u64>) -> Option<String> {
    parameters.iter().max_by_key(|(_, n)| **n).map(|(d, _)| d.clone())
}

/// A mixture-of-experts model's active parameters (none for a dense one); a warning says why an
/// MoE model has none.
fn active(counts: &Counts, architecture: Option<&Architecture>, warnings: &mut Vec<String>) -> Option<u64> {
    let moe = architecture?.moe.as_ref()?;
    let why = if counts.routed == 0 {
        "no routed-expert parameters were recognised"
    } else if moe.experts_per_token.is_none() {
        "the config does not say how many experts a token uses"
    } else {
        match crate::arch::active(counts.logical, counts.routed, moe.experts_per_token, moe.num_experts) {
            Some(n) => return Some(n),
            None => "its experts per token are not between 1 and the number of experts",
        }
    };
    warnings.push(format!("a mixture-of-experts model without active_parameters: {why}"));
    None
}

pub fn assemble(
    ctx: &Ctx,
    name: Strategy,
    found: Found,
    tried: Vec<Tried>,
    mut warnings: Vec<String>,
    now: &str,
) -> Record {
    let Found { counts, exact, approximate, files, architecture: from_weights, adapter } = found;
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
    // An adapter's numbers are its own tensors': the config (the base model's, if any) gives
    // neither their dtype nor a count to check them against, and they route no experts.
    let adapter = adapter.or_else(|| ctx.adapter.cloned());
    if let Some(a) = &adapter {
        let kind = a.peft_type.as_deref().map(|t| format!(" ({t})")).unwrap_or_default();
        let base = a.base_model.as_deref().map_or("an unnamed base model".into(), |b| format!("{b:?}"));
        warnings.push(format!(
            "an adapter{kind}, not a model: parameters count the adapter's own tensors, loaded on top of {base}'s"
        ));
    }
    let config_dtype = config_dtype.filter(|_| adapter.is_none());
    let active_parameters =
        if adapter.is_some() { None } else { active(&counts, architecture.as_ref(), &mut warnings) };
    let dtype = config_dtype.map(str::to_owned).or_else(|| dominant(&counts.parameters));
    // A block-quantized weight dtype (GGUF's Q4_K) is no KV cache dtype: use llama.cpp's default, F16.
    let kv_dtype =
        dtype.as_deref().filter(|d| crate::dtype::lookup(d).is_some_and(|i| i.block_elems == 1)).unwrap_or("F16");
    let capacity = architecture.as_ref().map(|a| arch::info::capacity(a, state, kv_dtype)).unwrap_or_default();
    let mut cross_check = std::collections::BTreeMap::new();
    if name != Strategy::Config
        && adapter.is_none()
        && let Some(config) = ctx.config
    {
        match arch::estimate(config) {
            Ok(est) => {
                cross_check.insert(Strategy::Config, est.logical);
                let approx = if est.approximate { " (approximate: unknown architecture)" } else { "" };
                if name == Strategy::HubMetadata {
                    // The Hub gives per-dtype totals only, so this record's logical count is the
                    // config's own: the estimate is checked against the Hub's stored total instead,
                    // which quantized weights (packed, with scales) make incomparable.
                    let quantized = matches!(arch::quant::quantization(config), Ok(Some(_)));
                    if !quantized && est.logical != counts.total {
                        warnings.push(format!(
                            "the config strategy counts {}{approx}, the Hub's metadata {} stored elements (tied weights stored twice, buffers, or extra tensors)",
                            est.logical, counts.total
                        ));
                    }
                } else if est.logical != counts.logical {
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
        source: Some(ctx.source.origin()),
        endpoint: ctx.source.endpoint(),
        strategy: name,
        exact,
        approximate,
        parameters: counts.parameters,
        total: counts.total,
        logical_parameters: counts.logical,
        active_parameters,
        may_also_store: counts.may_also_store,
        adapter,
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

/// The record of a `hub-metadata` answer checked against the safetensors headers (`--verify`).
/// When they agree, the Hub's record, with what the Hub cannot give (the logical count and the
/// routed experts behind `active_parameters`) read from the headers instead of estimated from the
/// config, and the headers' total beside it; when they disagree, the headers' record (every number
/// from the headers) with the Hub's total beside it and a warning saying so; when the headers
/// cannot be read, the Hub's record and why it was not verified.
pub fn verified(ctx: &Ctx, hub: Found, tried: Vec<Tried>, warnings: Vec<String>, now: &str) -> Record {
    let mut rec = assemble(ctx, Strategy::HubMetadata, hub, tried.clone(), warnings.clone(), now);
    match super::safetensors::run(ctx) {
        Ok(mut agreed) if agreed.counts.parameters == rec.parameters => {
            // The headers' counts are the Hub's where the Hub gives any (parameters, total, bytes).
            agreed.counts.notes.push(
                "the safetensors headers agree with the Hub metadata; logical_parameters and the routed experts are read from them (--verify)".into(),
            );
            let total = agreed.counts.total;
            let mut rec = assemble(ctx, Strategy::HubMetadata, agreed, tried, warnings, now);
            rec.cross_check.insert(Strategy::Safetensors, total);
            rec
        }
        Ok(found) => {
            let hub_parameters = std::mem::take(&mut rec.parameters);
            let mut headers = assemble(ctx, Strategy::Safetensors, found, tried, warnings, now);
            headers.cross_check.insert(Strategy::HubMetadata, rec.total);
            headers.warnings.push(format!(
                "the Hub metadata says {hub_parameters:?} but the safetensors headers say {:?}: every number here is from the headers (--verify)",
                headers.parameters
            ));
            headers
        }
        Err(miss) => {
            rec.warnings.push(format!("could not verify against the headers: {}", miss.message));
            rec
        }
    }
}
