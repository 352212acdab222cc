//! The config strategy's core: a model's parameter tensors from `config.json` alone, the Rust
//! counterpart of instantiating the model on the meta device. An architecture registry keyed by
//! `model_type` lists each family's tensors with the transformers config class defaults; the
//! count must equal transformers' own `num_parameters()`. Unknown model types with the standard
//! decoder keys get a generic decoder estimate marked approximate; others are unsupported.
//! Also the `architecture` block and KV-cache size of a record ([`info`]).

pub mod cfg;
pub mod decoder;
pub mod families;
pub mod info;
pub mod model;

use std::collections::BTreeMap;

use serde_json::Value;

use self::cfg::Cfg;
use self::families::{bert, gpt, llama, moe, vision};
use self::model::{Model, Scheme};
use crate::dtype;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchError {
    #[error("unsupported architecture: model_type {0:?} is not known and the config lacks the standard decoder keys")]
    Unsupported(String),
    #[error("config.json has no model_type")]
    NoModelType,
    #[error("config.json lacks {0:?}, which this architecture needs")]
    Missing(String),
    #[error("config.json: {0}")]
    Invalid(String),
    #[error("parameter counts overflow 64 bits")]
    Overflow,
}

type Builder = fn(&Cfg) -> Result<Model, ArchError>;

/// The registry: `model_type` -> family.
const FAMILIES: &[(&str, Builder)] = &[
    ("llama", llama::llama),
    ("mistral", llama::mistral),
    ("qwen2", llama::qwen2),
    ("qwen3", llama::qwen3),
    ("granite", llama::granite),
    ("olmo2", llama::olmo2),
    ("phi3", llama::phi3),
    ("gemma", llama::gemma),
    ("gemma2", llama::gemma2),
    ("gemma3_text", llama::gemma3_text),
    ("starcoder2", llama::starcoder2),
    ("stablelm", llama::stablelm),
    ("cohere", llama::cohere),
    ("mixtral", moe::mixtral),
    ("qwen2_moe", moe::qwen2_moe),
    ("qwen3_moe", moe::qwen3_moe),
    ("granitemoe", moe::granitemoe),
    ("deepseek_v2", |c| moe::deepseek(c, false)),
    ("deepseek_v3", |c| moe::deepseek(c, true)),
    ("gpt_oss", moe::gpt_oss),
    ("llama4_text", moe::llama4_text),
    ("gpt2", gpt::gpt2),
    ("gpt_neox", gpt::gpt_neox),
    ("gptj", gpt::gptj),
    ("opt", gpt::opt),
    ("bloom", gpt::bloom),
    ("falcon", gpt::falcon),
    ("mpt", gpt::mpt),
    ("bert", bert::bert),
    ("llava", vision::llava),
    ("gemma3", vision::gemma3),
    ("llama4", vision::llama4),
];

/// Model types with a family module.
pub fn supported() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().map(|(t, _)| *t)
}

/// Lists the model of a config.
pub fn model(config: &Value) -> Result<Model, ArchError> {
    let c = Cfg::new(config);
    let model_type = c.model_type().ok_or(ArchError::NoModelType)?;
    dispatch(&c, model_type)
}

/// The text model of a multimodal config (`default_type` when it names none).
pub(crate) fn text_model(c: &Cfg, default_type: &str) -> Result<Model, ArchError> {
    dispatch(c, c.model_type().unwrap_or(default_type))
}

fn dispatch(c: &Cfg, model_type: &str) -> Result<Model, ArchError> {
    match FAMILIES.iter().find(|(t, _)| *t == model_type) {
        Some((_, build)) => build(c),
        None => llama::generic(c).map_err(|e| match e {
            ArchError::Missing(_) => ArchError::Unsupported(model_type.to_owned()),
            other => other,
        }),
    }
}

/// What the config strategy predicts.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Parameters as transformers counts them (tied weights once, unquantized).
    pub logical: u64,
    /// Predicted stored elements per dtype.
    pub parameters: BTreeMap<String, u64>,
    pub weight_bytes: u64,
    pub dtype: String,
    pub family: &'static str,
    pub approximate: bool,
}

/// Runs the config strategy on a parsed `config.json`.
pub fn estimate(config: &Value) -> Result<Estimate, ArchError> {
    let m = model(config)?;
    let logical = m.total()?;
    let dtype = info::config_dtype(config).unwrap_or("F32").to_owned();
    let scheme = scheme(config);
    let parameters = model::stored_layout(&m, &dtype, scheme.as_ref())?;
    let weight_bytes = parameters.iter().try_fold(0u64, |acc, (d, n)| {
        let bytes = dtype::lookup(d).and_then(|i| i.bytes_for(*n)).ok_or(ArchError::Overflow)?;
        acc.checked_add(bytes).ok_or(ArchError::Overflow)
    })?;
    Ok(Estimate { logical, parameters, weight_bytes, dtype, family: m.family, approximate: m.approximate })
}

/// The stored-layout scheme of a `quantization_config`.
pub fn scheme(config: &Value) -> Option<Scheme> {
    let q = info::quantization(config)?;
    let group = q.group_size.and_then(|g| u64::try_from(g).ok());
    let bits = q.bits.unwrap_or(4);
    Some(match q.method.as_str() {
        "fp8" | "fbgemm_fp8" => {
            let block = config
                .get("quantization_config")
                .and_then(|c| c.get("weight_block_size"))
                .and_then(|b| b.as_array())
                .and_then(|b| Some((b.first()?.as_u64()?, b.get(1)?.as_u64()?)));
            Scheme::Fp8 { block, per_channel: false }
        }
        "gptq" => Scheme::PackedInt { bits, group, g_idx: true },
        "awq" => Scheme::PackedInt { bits, group, g_idx: false },
        "bitsandbytes" if bits == 8 => Scheme::Bnb8,
        "bitsandbytes" => Scheme::Bnb4,
        "mxfp4" => Scheme::Mxfp4,
        "compressed-tensors" if q.format.as_deref() == Some("pack-quantized") => {
            Scheme::CompressedPacked { bits, group }
        }
        "compressed-tensors" if bits == 8 => Scheme::Fp8 { block: None, per_channel: true },
        _ => return None,
    })
}
