//! The record schema (`db.json` schema 1, DESIGN.md section 3): one model's capacity facts, the
//! failures map, and the whole database document.
//!
//! The types serialize with serde; the canonical text form (sorted keys, 2-space indent, trailing
//! newline) is produced by [`Db::to_canonical_json`] so that an unchanged database is byte-identical.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema version this build reads and writes.
pub const SCHEMA: u32 = 1;

/// The whole published database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Db {
    pub schema: u32,
    #[serde(default)]
    pub models: BTreeMap<String, Record>,
    #[serde(default)]
    pub failures: BTreeMap<String, Failure>,
}

impl Default for Db {
    fn default() -> Self {
        Db { schema: SCHEMA, models: BTreeMap::new(), failures: BTreeMap::new() }
    }
}

impl Db {
    /// Canonical text: keys sorted at every level, 2-space indent, trailing newline.
    pub fn to_canonical_json(&self) -> String {
        // Going through `Value` (a BTreeMap without serde_json's preserve_order) sorts every object.
        let value = serde_json::to_value(self).expect("records serialize to JSON");
        let mut text = serde_json::to_string_pretty(&value).expect("JSON values print");
        text.push('\n');
        text
    }
}

/// One model's facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The commit sha the facts were read at.
    pub revision: String,
    /// The strategy that produced `parameters` (`hub-metadata`, `safetensors`, `pytorch`, `gguf`,
    /// `config`, `download`).
    pub strategy: String,
    /// Whether `parameters` were read from the checkpoint (true) or predicted from the config (false).
    pub exact: bool,
    /// Set when the config strategy did not know the architecture and assumed a generic decoder.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approximate: bool,
    /// Stored tensor elements per dtype name.
    pub parameters: BTreeMap<String, u64>,
    /// Sum of `parameters`.
    pub total: u64,
    /// The unquantized parameter count as transformers reports it.
    pub logical_parameters: u64,
    /// Bytes of the stored weights.
    pub weight_bytes: u64,
    /// The checkpoint's main dtype.
    pub dtype: Option<String>,
    /// Weight files read.
    pub files: Vec<String>,
    /// Facts from `config.json` (null when no config was readable).
    pub architecture: Option<Architecture>,
    /// KV cache bytes per token at the model dtype (null without a usable config).
    pub kv_cache_bytes_per_token: Option<u64>,
    /// Other counts beside the winning one, by source (`config`, `hub-metadata`, `safetensors`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cross_check: BTreeMap<String, u64>,
    /// Strategies tried before the one that won, and why each did not.
    #[serde(default)]
    pub tried: Vec<Tried>,
    /// Things a reader should know: unknown dtypes, disagreements, approximations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// When this record last changed (RFC 3339, UTC).
    pub resolved_at: String,
}

impl Record {
    /// True when `other` states the same facts (everything but `resolved_at`).
    pub fn same_facts(&self, other: &Record) -> bool {
        let mut a = self.clone();
        a.resolved_at.clone_from(&other.resolved_at);
        a == *other
    }
}

/// Architecture facts a KV-cache / parallelism planner needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    pub num_hidden_layers: Option<u64>,
    pub hidden_size: Option<u64>,
    pub num_attention_heads: Option<u64>,
    pub num_key_value_heads: Option<u64>,
    pub head_dim: Option<u64>,
    pub vocab_size: Option<u64>,
    pub max_position_embeddings: Option<u64>,
    /// The MLP width, normalised across families (`intermediate_size`, OPT's `ffn_dim`, GPT-2's
    /// `n_inner` or its `4 * n_embd` default, `d_ff`, `ffn_hidden_size`; for MoE models without
    /// one, the expert width). Tensor-parallel planners need it to divide evenly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate_size: Option<u64>,
    pub tie_word_embeddings: Option<bool>,
    pub quantization: Option<Quantization>,
    pub moe: Option<Moe>,
    pub mla: Option<Mla>,
}

/// `quantization_config`, summarized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantization {
    pub method: String,
    pub bits: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// Mixture-of-experts facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moe {
    pub num_experts: u64,
    pub experts_per_token: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_shared_experts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_intermediate_size: Option<u64>,
}

/// Multi-head latent attention (DeepSeek V2/V3) facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mla {
    pub kv_lora_rank: u64,
    pub qk_rope_head_dim: u64,
}

/// One strategy that did not produce the record, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tried {
    pub strategy: String,
    /// A short machine-readable outcome: `absent`, `gated`, `not-found`, `error`, `skipped`, ...
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A model that could not be resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub outcome: String,
    pub message: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<Tried>,
}

impl Failure {
    /// True when `other` states the same failure (everything but `at`).
    pub fn same_facts(&self, other: &Failure) -> bool {
        self.outcome == other.outcome && self.message == other.message && self.tried == other.tried
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_ends_with_newline() {
        let mut db = Db::default();
        db.failures.insert(
            "b/b".into(),
            Failure { outcome: "gated".into(), message: "m".into(), at: "t".into(), tried: vec![] },
        );
        let text = db.to_canonical_json();
        assert!(text.ends_with("}\n"));
        let failures = text.find("\"failures\"").unwrap();
        let models = text.find("\"models\"").unwrap();
        let schema = text.find("\"schema\"").unwrap();
        assert!(failures < models && models < schema, "{text}");
        assert!(text.contains("\n  \"schema\": 1"), "2-space indent: {text}");
    }
}
