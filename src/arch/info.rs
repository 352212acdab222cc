//! The record's `architecture` block and capacity facts (KV cache per token, recurrent state per
//! sequence) from `config.json`, for every strategy: the dimensions come from the family's own
//! resolution ([`super::model::Facts`], the text model's for multimodal configs), the
//! quantization and dtype from the config as written.

use serde_json::Value;

use super::ArchError;
use super::cfg::Cfg;
use super::model::Facts;
use super::quant;
use crate::dtype;
use crate::record::{Architecture, Capacity};

/// The checkpoint dtype the config declares (`torch_dtype`, or `dtype` in newer configs), as a
/// safetensors dtype name. A name torch does not know is an error.
pub fn config_dtype(config: &Value) -> Result<Option<&'static str>, ArchError> {
    let c = Cfg::new(config);
    let t = c.text()?;
    for (view, key) in [(&c, "torch_dtype"), (&c, "dtype"), (&t, "torch_dtype"), (&t, "dtype")] {
        if let Some(name) = view.s(key)? {
            return match dtype::from_torch_name(name) {
                Some(d) => Ok(Some(d)),
                None => Err(view.invalid(key, &Value::from(name), "not a torch dtype name")),
            };
        }
    }
    Ok(None)
}

/// What a config says about a model beyond its parameters: the record's architecture block and
/// the recurrent state per sequence, both from the dimensions its family resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub architecture: Architecture,
    /// `None` when the architecture is unknown.
    pub state_elements_per_sequence: Option<u64>,
    /// The family is not known and a generic decoder was assumed.
    pub approximate: bool,
}

/// The `architecture` block of a config and its recurrent state. An unknown architecture leaves
/// the dimensions null; a config with invalid values is an error.
pub fn describe(config: &Value) -> Result<Described, ArchError> {
    let root = Cfg::new(config);
    let text = root.text()?;
    let model = match super::model(config) {
        Ok(m) => Some(m),
        Err(ArchError::Unsupported(_) | ArchError::NoModelType) => None,
        Err(e) => return Err(e),
    };
    let f = model.as_ref().map(|m| &m.facts);
    let get = |pick: fn(&Facts) -> Option<u64>| f.and_then(pick);
    let torch_dtype = match root.s("torch_dtype")?.or(root.s("dtype")?) {
        Some(d) => Some(d),
        None => text.s("torch_dtype")?.or(text.s("dtype")?),
    };
    let architecture = Architecture {
        model_type: root.model_type()?.map(str::to_owned),
        architectures: root.strs("architectures")?.unwrap_or_default().into_iter().map(str::to_owned).collect(),
        num_hidden_layers: get(|f| f.layers),
        hidden_size: get(|f| f.hidden),
        num_attention_heads: get(|f| f.heads),
        num_key_value_heads: get(|f| f.kv_heads),
        head_dim: get(|f| f.head_dim),
        intermediate_size: get(|f| f.intermediate),
        vocab_size: get(|f| f.vocab),
        max_position_embeddings: get(|f| f.positions),
        tie_word_embeddings: model.as_ref().map(|m| m.tied),
        layer_types: f.map(|f| f.layer_types.clone()),
        sliding_window: get(|f| f.sliding_window),
        attention_chunk_size: get(|f| f.attention_chunk_size),
        quantization: quant::quantization(config)?,
        quantization_config: quant::config_object(config)?,
        torch_dtype: torch_dtype.map(str::to_owned),
        moe: f.and_then(|f| f.moe.clone()),
        mla: f.and_then(|f| f.mla.clone()),
    };
    Ok(Described {
        architecture,
        state_elements_per_sequence: f.map(|f| f.state_elements),
        approximate: model.is_some_and(|m| m.approximate),
    })
}

/// The KV cache and recurrent state of a model with architecture `a` (and `state_elements` per
/// sequence), priced at `dtype`. The KV cache counts the layers that keep one: with
/// `layer_types`, the attention layers; else every layer (GGUF metadata). MLA:
/// `layers * (kv_lora_rank + qk_rope_head_dim)`, else `layers * 2 * head_dim * kv_heads`.
pub fn capacity(a: &Architecture, state_elements: Option<u64>, dtype: &str) -> Capacity {
    let bytes = dtype::lookup(dtype).filter(|d| d.block_elems == 1).map(|d| d.block_bytes);
    let priced = |n: Option<u64>| n?.checked_mul(bytes?);
    let kv = kv_elements(a);
    Capacity {
        kv_cache_bytes_per_token: priced(kv),
        kv_cache_elements_per_token: kv,
        state_bytes_per_sequence: priced(state_elements),
        state_elements_per_sequence: state_elements,
    }
}

fn kv_elements(a: &Architecture) -> Option<u64> {
    let layers = match &a.layer_types {
        Some(t) => t.full_attention.checked_add(t.sliding_attention)?.checked_add(t.chunked_attention)?,
        None => a.num_hidden_layers?,
    };
    if layers == 0 {
        return Some(0);
    }
    let per_layer = match &a.mla {
        Some(m) => m.kv_lora_rank.checked_add(m.qk_rope_head_dim)?,
        None => a.head_dim?.checked_mul(a.num_key_value_heads?)?.checked_mul(2)?,
    };
    layers.checked_mul(per_layer)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn opt_125m_kv_cache_matches_the_design_example() {
        let cfg: Value = serde_json::from_str(
            r#"{"model_type":"opt","architectures":["OPTForCausalLM"],"num_hidden_layers":12,"hidden_size":768,
                "num_attention_heads":12,"vocab_size":50272,"max_position_embeddings":2048,"torch_dtype":"float16"}"#,
        )
        .unwrap();
        let d = describe(&cfg).unwrap();
        let a = &d.architecture;
        assert_eq!((a.num_key_value_heads, a.head_dim, a.tie_word_embeddings), (Some(12), Some(64), Some(true)));
        assert_eq!((a.intermediate_size, a.torch_dtype.as_deref()), (Some(3072), Some("float16")));
        let cap = capacity(a, d.state_elements_per_sequence, config_dtype(&cfg).unwrap().unwrap());
        assert_eq!(cap.kv_cache_bytes_per_token, Some(36864));
        assert_eq!(cap.kv_cache_elements_per_token, Some(18432));
        assert_eq!((cap.state_elements_per_sequence, cap.state_bytes_per_sequence), (Some(0), Some(0)));
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/configs/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn intermediate_size_under_each_family_name() {
        let width = |c: &Value| describe(c).unwrap().architecture.intermediate_size;
        let opt = fixture("facebook__opt-125m");
        assert_eq!(width(&opt), opt["ffn_dim"].as_u64());
        let gpt2 = fixture("openai-community__gpt2");
        assert!(gpt2["n_inner"].is_null(), "GPT-2 leaves n_inner to its default");
        assert_eq!(width(&gpt2), gpt2["n_embd"].as_u64().map(|h| 4 * h));
        let llama = fixture("meta-llama__Llama-3.1-8B");
        assert_eq!(width(&llama), llama["intermediate_size"].as_u64());
        // MoE: the config's own intermediate_size (Qwen3-MoE's dense width, its class default when
        // the config leaves it out), the expert width beside it.
        let moe: Value = serde_json::json!({"model_type": "qwen3_moe", "num_experts": 8, "moe_intermediate_size": 768});
        let a = describe(&moe).unwrap().architecture;
        assert_eq!((a.intermediate_size, a.moe.unwrap().moe_intermediate_size), (Some(6144), Some(768)));
    }

    #[test]
    fn mla_and_moe_and_quantization() {
        let cfg: Value = serde_json::from_str(
            r#"{"model_type":"deepseek_v3","num_hidden_layers":61,"kv_lora_rank":512,"qk_rope_head_dim":64,
                "n_routed_experts":256,"num_experts_per_tok":8,"n_shared_experts":1,
                "quantization_config":{"quant_method":"fp8","weight_block_size":[128,128]}}"#,
        )
        .unwrap();
        let a = describe(&cfg).unwrap().architecture;
        assert_eq!(capacity(&a, None, "BF16").kv_cache_bytes_per_token, Some(61 * 576 * 2));
        assert_eq!(a.moe.as_ref().unwrap().num_experts, 256);
        assert_eq!(a.quantization.as_ref().unwrap().bits, Some(8));
        assert_eq!(a.quantization_config.as_ref().unwrap()["weight_block_size"], serde_json::json!([128, 128]));
    }

    #[test]
    fn multimodal_text_dimensions_take_the_text_model_defaults() {
        // llava-1.5-7b's text_config names only the vocabulary and positions: Llama 2 7B's defaults.
        let cfg: Value = serde_json::from_str(
            r#"{"model_type":"llava","text_config":{"model_type":"llama","max_position_embeddings":4096,"vocab_size":32064,
                "torch_dtype":"float16"}}"#,
        )
        .unwrap();
        let a = describe(&cfg).unwrap().architecture;
        assert_eq!((a.num_hidden_layers, a.num_attention_heads, a.hidden_size), (Some(32), Some(32), Some(4096)));
        assert_eq!((a.intermediate_size, a.vocab_size), (Some(11008), Some(32064)));
        assert_eq!(a.torch_dtype.as_deref(), Some("float16"));
    }

    #[test]
    fn unknown_architectures_keep_the_config_facts_and_leave_dimensions_null() {
        let cfg: Value = serde_json::json!({"model_type": "speech_thing", "d_conv": 3, "torch_dtype": "bfloat16"});
        let d = describe(&cfg).unwrap();
        assert_eq!(d.architecture.model_type.as_deref(), Some("speech_thing"));
        assert_eq!((d.architecture.num_hidden_layers, d.state_elements_per_sequence), (None, None));
        assert_eq!(capacity(&d.architecture, None, "BF16"), Capacity::default());
    }
}
