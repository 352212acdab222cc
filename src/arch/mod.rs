//! The config strategy's core: a model's parameter tensors from `config.json` alone, the Rust
//! counterpart of instantiating the model on the meta device. An architecture registry keyed by
//! `model_type` lists each family's tensors with the transformers config class defaults; the
//! count must equal transformers' own `num_parameters()`. Unknown model types with the standard
//! decoder keys get a generic decoder estimate marked approximate; others are unsupported.
//! Also the `architecture` block and KV-cache size of a record ([`info`]), and all that is known
//! about quantized checkpoints ([`quant`]).
//!
//! Config values are validated as they are read ([`cfg`], bounds in [`limits`]) and all arithmetic
//! on them is checked ([`checked`]; unchecked integer arithmetic is denied in this module).
#![deny(clippy::arithmetic_side_effects)]

pub mod cfg;
pub mod checked;
pub mod decoder;
pub mod families;
pub mod info;
pub mod json;
pub mod kinds;
pub mod limits;
pub mod model;
pub mod quant;

use std::collections::BTreeMap;

use serde_json::Value;

use self::cfg::Cfg;
use self::families::{bert, gpt, hybrid, llama, moe, qwen_vl, ssm, t5, vision};
use self::model::Model;
use crate::dtype;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchError {
    #[error("unsupported architecture: model_type {0:?} is not known and the config lacks the standard decoder keys")]
    Unsupported(String),
    #[error("config.json has no model_type")]
    NoModelType,
    /// A value of the wrong JSON type, negative, fractional or out of its bound.
    #[error("config.json: {field} = {value}: {why}")]
    InvalidConfig { field: String, value: String, why: String },
    #[error("config.json: sizes computed from the config overflow 64 bits")]
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
    ("cohere2", llama::cohere2),
    ("olmo3", llama::olmo3),
    ("arcee", llama::arcee),
    ("apertus", llama::apertus),
    ("exaone4", llama::exaone4),
    ("seed_oss", llama::seed_oss),
    ("ernie4_5", llama::ernie4_5),
    ("phi", llama::phi),
    ("persimmon", llama::persimmon),
    ("mixtral", moe::mixtral),
    ("qwen2_moe", moe::qwen2_moe),
    ("qwen3_moe", moe::qwen3_moe),
    ("granitemoe", moe::granitemoe),
    ("olmoe", moe::olmoe),
    ("phimoe", moe::phimoe),
    ("glm4_moe", moe::glm4_moe),
    ("ernie4_5_moe", moe::ernie4_5_moe),
    ("minimax", moe::minimax),
    ("deepseek_v2", |c| moe::deepseek(c, false)),
    ("deepseek_v3", |c| moe::deepseek(c, true)),
    ("gpt_oss", moe::gpt_oss),
    ("llama4_text", moe::llama4_text),
    ("gpt2", gpt::gpt2),
    ("gpt_bigcode", gpt::gpt_bigcode),
    ("gpt_neo", gpt::gpt_neo),
    ("codegen", gpt::codegen),
    ("gpt_neox", gpt::gpt_neox),
    ("gptj", gpt::gptj),
    ("opt", gpt::opt),
    ("bloom", gpt::bloom),
    ("falcon", gpt::falcon),
    ("mpt", gpt::mpt),
    ("mamba", ssm::mamba),
    ("mamba2", ssm::mamba2),
    ("jamba", ssm::jamba),
    ("bamba", ssm::bamba),
    ("falcon_h1", ssm::falcon_h1),
    ("zamba2", ssm::zamba2),
    ("nemotron_h", ssm::nemotron_h),
    ("granitemoehybrid", ssm::granitemoehybrid),
    ("qwen3_next", hybrid::qwen3_next),
    ("lfm2", hybrid::lfm2),
    ("bert", bert::bert),
    ("t5", t5::t5),
    ("llava", vision::llava),
    ("gemma3", vision::gemma3),
    ("llama4", vision::llama4),
    ("mistral3", vision::mistral3),
    ("internvl", vision::internvl),
    ("idefics3", vision::idefics3),
    ("paligemma", vision::paligemma),
    ("qwen2_vl", qwen_vl::qwen2_vl),
    ("qwen2_vl_text", llama::qwen2_vl_text),
    ("qwen2_5_vl", qwen_vl::qwen2_5_vl),
    ("qwen2_5_vl_text", llama::qwen2_vl_text),
    ("qwen3_vl", qwen_vl::qwen3_vl),
    ("qwen3_vl_text", llama::qwen3_vl_text),
    ("qwen3_vl_moe", qwen_vl::qwen3_vl_moe),
    ("qwen3_vl_moe_text", moe::qwen3_vl_moe_text),
];

/// Model types with a family module.
pub fn supported() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().map(|(t, _)| *t)
}

/// Lists the model of a config.
pub fn model(config: &Value) -> Result<Model, ArchError> {
    let c = Cfg::new(config);
    let model_type = c.model_type()?.ok_or(ArchError::NoModelType)?;
    dispatch(&c, model_type)
}

/// The model of family `model_type` (the generic decoder for an unknown one).
pub(crate) fn dispatch(c: &Cfg, model_type: &str) -> Result<Model, ArchError> {
    match FAMILIES.iter().find(|(t, _)| *t == model_type) {
        Some((_, build)) => build(c),
        None => llama::generic(c, model_type),
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
    /// Of `logical`, the routed experts' parameters (0 for a dense model).
    pub routed: u64,
    /// MoE models: the parameters one token uses ([`active`]).
    pub active: Option<u64>,
    /// What a checkpoint may store beyond the predicted layout: the tied head stored anyway,
    /// buffers older transformers saved.
    pub may_also_store: Vec<(&'static str, u64)>,
}

/// The parameters one token uses: `logical - routed x (1 - k/E)`, i.e. `logical - routed +
/// routed x k / E` in 128-bit integers, the quotient rounded down (exact when the routed
/// parameters are E equal experts). `None` when k or E is unknown, k is 0 or above E.
pub fn active(logical: u64, routed: u64, per_token: Option<u64>, experts: u64) -> Option<u64> {
    let k = per_token.filter(|k| *k >= 1 && *k <= experts)?;
    let used = u128::from(routed).checked_mul(u128::from(k))?.checked_div(u128::from(experts))?;
    u64::try_from(u128::from(logical.checked_sub(routed)?).checked_add(used)?).ok()
}

/// Runs the config strategy on a parsed `config.json`.
pub fn estimate(config: &Value) -> Result<Estimate, ArchError> {
    let m = model(config)?;
    let logical = m.total()?;
    let dtype = info::config_dtype(config)?.unwrap_or("F32").to_owned();
    let scheme = quant::scheme(config)?;
    let parameters = quant::layout::stored_layout(&m, &dtype, scheme.as_ref())?;
    let weight_bytes = parameters.iter().try_fold(0u64, |acc, (d, n)| {
        let bytes = dtype::lookup(d).and_then(|i| i.bytes_for(*n)).ok_or(ArchError::Overflow)?;
        acc.checked_add(bytes).ok_or(ArchError::Overflow)
    })?;
    let routed = checked::sum(
        m.params
            .iter()
            .filter(|p| matches!(p.role, model::Role::Experts | model::Role::ExpertBias))
            .map(|p| p.elements().ok_or(ArchError::Overflow))
            .collect::<Result<Vec<u64>, ArchError>>()?,
    )?;
    let active = m
        .facts
        .moe
        .as_ref()
        .and_then(|moe| active(logical, routed, moe.experts_per_token, moe.num_experts).filter(|_| routed > 0));
    let mut may_also_store = Vec::new();
    // The head a tied model may store anyway: the shape of the embedding table, the first
    // [vocab, width] parameter.
    if m.tied
        && let Some(vocab) = m.facts.vocab
        && let Some(embed) = m.params.iter().find(|p| p.shape.len() == 2 && p.shape[0] == vocab)
    {
        may_also_store.push(("tied lm_head stored", embed.elements().ok_or(ArchError::Overflow)?));
    }
    may_also_store.extend(m.buffers.iter().copied().filter(|(_, n)| *n > 0));
    Ok(Estimate {
        logical,
        parameters,
        weight_bytes,
        dtype,
        family: m.family,
        approximate: m.approximate,
        routed,
        active,
        may_also_store,
    })
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use serde_json::json;

    use super::*;

    fn invalid(field: &str, value: &str, why: &str) -> ArchError {
        ArchError::InvalidConfig { field: field.into(), value: value.into(), why: why.into() }
    }

    fn llama(key: &str, value: Value) -> Value {
        let mut c = json!({"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
                           "num_attention_heads": 4, "intermediate_size": 512, "vocab_size": 100});
        c[key] = value;
        c
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error_naming_its_path() {
        assert_eq!(
            estimate(&llama("hidden_size", json!("4096"))),
            Err(invalid("hidden_size", "\"4096\"", "expected an integer"))
        );
        assert_eq!(
            estimate(&llama("attention_bias", json!("yes"))),
            Err(invalid("attention_bias", "\"yes\"", "expected true or false"))
        );
        let llava = json!({"model_type": "llava", "text_config": {"model_type": "llama", "hidden_size": [4096]}});
        assert_eq!(estimate(&llava), Err(invalid("text_config.hidden_size", "[4096]", "expected an integer")));
        assert_eq!(
            estimate(&json!({"model_type": "llava", "vision_config": 7})),
            Err(invalid("vision_config", "7", "expected an object"))
        );
        assert_eq!(estimate(&json!({"model_type": 5})), Err(invalid("model_type", "5", "expected a string")));
    }

    #[test]
    fn a_negative_value_is_an_error() {
        assert_eq!(estimate(&llama("hidden_size", json!(-1))), Err(invalid("hidden_size", "-1", "negative")));
    }

    #[test]
    fn a_fractional_value_is_an_error() {
        assert_eq!(
            estimate(&llama("hidden_size", json!(4096.5))),
            Err(invalid("hidden_size", "4096.5", "not an integer"))
        );
        // An integral float is an integer.
        assert_eq!(estimate(&llama("hidden_size", json!(256.0))), estimate(&llama("hidden_size", json!(256))));
    }

    #[test]
    fn a_value_past_its_bound_is_an_error() {
        assert_eq!(
            estimate(&llama("num_hidden_layers", json!(1025))),
            Err(invalid("num_hidden_layers", "1025", "above 1024, the bound on layer counts and indices"))
        );
        assert_eq!(
            estimate(&llama("num_key_value_heads", json!(0))),
            Err(invalid("num_key_value_heads", "0", "below 1, the least head counts accepted"))
        );
    }

    #[test]
    fn an_overflowing_product_is_an_error() {
        // Each value within its bound, the stacked experts of all layers past 64 bits.
        let c = json!({"model_type": "qwen3_moe", "hidden_size": 1 << 20, "num_hidden_layers": 1000,
                       "num_experts": 1 << 16, "moe_intermediate_size": 1 << 22});
        assert_eq!(estimate(&c), Err(ArchError::Overflow));
    }

    #[test]
    fn a_zero_block_size_is_an_error_not_a_division_by_zero() {
        let mut c = llama("torch_dtype", json!("bfloat16"));
        c["quantization_config"] = json!({"quant_method": "fp8", "weight_block_size": [0, 128]});
        assert_eq!(
            estimate(&c),
            Err(invalid(
                "quantization_config.weight_block_size",
                "0",
                "below 1, the least quantization block sizes accepted"
            ))
        );
        c["quantization_config"]["weight_block_size"] = json!([128]);
        assert_eq!(
            estimate(&c),
            Err(invalid("quantization_config.weight_block_size", "[128]", "expected two block sizes"))
        );
    }

    #[test]
    fn a_huge_layer_count_returns_at_once() {
        let c = json!({"model_type": "qwen2_moe", "num_hidden_layers": 1e15});
        assert_eq!(
            estimate(&c),
            Err(invalid(
                "num_hidden_layers",
                "1000000000000000.0",
                "above 1024, the bound on layer counts and indices"
            ))
        );
        let c = json!({"model_type": "qwen3_moe", "num_hidden_layers": 1e300});
        assert!(matches!(estimate(&c), Err(ArchError::InvalidConfig { field, .. }) if field == "num_hidden_layers"));
    }

    #[test]
    fn a_huge_list_returns_at_once() {
        let list: Vec<u64> = (0..200_000).collect();
        let c = json!({"model_type": "qwen2_moe", "mlp_only_layers": list});
        assert_eq!(
            estimate(&c),
            Err(invalid(
                "mlp_only_layers",
                "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,...",
                "more than 16384 entries"
            ))
        );
    }

    #[test]
    fn sparse_layers_are_counted_as_transformers_does() {
        // 6 layers, every 2nd sparse (1, 3, 5), 3 dense-only: duplicates and indices past the end
        // change nothing.
        let base = json!({"model_type": "qwen2_moe", "num_hidden_layers": 6, "decoder_sparse_step": 2,
                          "mlp_only_layers": [0, 3]});
        let mut noisy = base.clone();
        noisy["mlp_only_layers"] = json!([3, 0, 3, 3, 700]);
        assert_eq!(estimate(&base).unwrap().logical, estimate(&noisy).unwrap().logical);
        let m = model(&base).unwrap();
        let experts = m.params.iter().find(|p| p.name == "mlp.experts.down_proj").unwrap();
        assert_eq!(experts.repeat, 2);
    }
}

#[cfg(test)]
mod active_tests {
    use super::active;

    #[test]
    fn active_is_the_shared_part_plus_k_of_e_routed_rounded_down() {
        // 100 shared + 8 experts of 10, 2 used: 100 + 80 * 2 / 8.
        assert_eq!(active(180, 80, Some(2), 8), Some(120));
        // Not a multiple of E: routed * k / E rounded down, in 128 bits.
        assert_eq!(active(1000, 1000, Some(3), 7), Some(428));
        assert_eq!(active(u64::MAX, u64::MAX, Some(3), 7), u64::try_from(u128::from(u64::MAX) * 3 / 7).ok());
        assert_eq!(active(180, 80, None, 8), None);
        assert_eq!(active(180, 80, Some(9), 8), None);
        assert_eq!(active(180, 80, Some(0), 8), None);
    }
}
