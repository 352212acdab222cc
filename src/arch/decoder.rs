//! Building blocks shared by the decoder families: dimensions with each family's defaults,
//! attention (MHA/GQA/MQA, biases, q/k norms), gated and plain MLPs, norms, embeddings and head.

use super::ArchError;
use super::cfg::Cfg;
use super::checked::Checked;
use super::kinds::{self, Kind};
use super::model::{Facts, Model, Role};

/// A family's config defaults (transformers' config class defaults) for the standard keys.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub vocab: u64,
    pub hidden: u64,
    pub inter: u64,
    pub layers: u64,
    pub heads: u64,
    /// `None`: as many KV heads as attention heads.
    pub kv: Option<u64>,
    /// `None`: hidden / heads.
    pub head_dim: Option<u64>,
    pub tie: bool,
    /// `max_position_embeddings`.
    pub positions: Option<u64>,
}

impl Defaults {
    /// Vocabulary, hidden size, intermediate size, layers, heads; as many KV heads as heads,
    /// head_dim = hidden / heads, untied head.
    pub const fn new(vocab: u64, hidden: u64, inter: u64, layers: u64, heads: u64) -> Defaults {
        Defaults { vocab, hidden, inter, layers, heads, kv: None, head_dim: None, tie: false, positions: None }
    }
    pub const fn kv(self, kv: u64) -> Defaults {
        Defaults { kv: Some(kv), ..self }
    }
    pub const fn head_dim(self, head_dim: u64) -> Defaults {
        Defaults { head_dim: Some(head_dim), ..self }
    }
    pub const fn tied(self) -> Defaults {
        Defaults { tie: true, ..self }
    }
    pub const fn positions(self, positions: u64) -> Defaults {
        Defaults { positions: Some(positions), ..self }
    }
}

/// The standard dimensions of a decoder.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub vocab: u64,
    pub hidden: u64,
    pub inter: u64,
    pub layers: u64,
    pub heads: u64,
    pub kv: u64,
    pub head_dim: u64,
    pub positions: Option<u64>,
}

impl Dims {
    /// The facts of a decoder whose every layer attends over the whole context and has an MLP of
    /// `inter` (families adjust what differs).
    pub fn facts(&self) -> Result<Facts, ArchError> {
        Ok(Facts {
            layers: Some(self.layers),
            hidden: Some(self.hidden),
            heads: Some(self.heads),
            kv_heads: Some(self.kv),
            head_dim: Some(self.head_dim),
            intermediate: Some(self.inter),
            vocab: Some(self.vocab),
            positions: self.positions,
            layer_types: kinds::all(Kind::Full, self.layers)?,
            ..Facts::default()
        })
    }
}

/// Reads the standard keys, falling back to `d`.
pub fn dims(c: &Cfg, d: &Defaults) -> Result<Dims, ArchError> {
    let hidden = c.u_or("hidden_size", d.hidden)?;
    let heads = c.u_or("num_attention_heads", d.heads)?;
    let head_dim = match (c.u("head_dim")?, d.head_dim) {
        (Some(h), _) | (None, Some(h)) => h,
        (None, None) => hidden.over(heads)?,
    };
    let kv = match c.u("num_key_value_heads")? {
        Some(kv) => kv,
        None if c.is_null("num_key_value_heads") => heads,
        None => d.kv.unwrap_or(heads),
    };
    Ok(Dims {
        vocab: c.u_or("vocab_size", d.vocab)?,
        hidden,
        inter: c.u_or("intermediate_size", d.inter)?,
        layers: c.u_or("num_hidden_layers", d.layers)?,
        heads,
        kv,
        head_dim,
        positions: match c.u("max_position_embeddings")? {
            Some(p) => Some(p),
            None => d.positions,
        },
    })
}

/// `tie_word_embeddings`, else the family default.
pub fn tied(c: &Cfg, default: bool) -> Result<bool, ArchError> {
    c.flag("tie_word_embeddings", default)
}

/// Normalization layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// A weight only (RMSNorm, or LayerNorm without bias).
    Weight,
    /// LayerNorm with weight and bias.
    WeightBias,
}

/// Adds `repeat` norms of width `dim`.
pub fn norm(m: &mut Model, name: &'static str, dim: u64, kind: Norm, repeat: u64) {
    m.add(name, &[dim], repeat, Role::Other);
    if kind == Norm::WeightBias {
        m.add(name, &[dim], repeat, Role::Other);
    }
}

/// Query/key normalization inside attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkNorm {
    None,
    /// One RMSNorm of `head_dim` for q and one for k (Qwen3, Gemma3).
    PerHead,
    /// RMSNorm over all heads: `heads * head_dim` and `kv * head_dim` (OLMo2).
    Full,
    /// LayerNorm weights `[heads, head_dim]` and `[kv, head_dim]` (Cohere, StableLM).
    Stacked,
    /// One LayerNorm with bias of `head_dim` for q and one for k (Phi, Persimmon).
    PerHeadBias,
}

/// Attention projections and their biases.
#[derive(Debug, Clone, Copy)]
pub struct Attn {
    pub q_bias: bool,
    pub kv_bias: bool,
    pub o_bias: bool,
    pub qk_norm: QkNorm,
}

impl Attn {
    pub const NO_BIAS: Attn = Attn { q_bias: false, kv_bias: false, o_bias: false, qk_norm: QkNorm::None };

    pub fn all_bias(bias: bool) -> Attn {
        Attn { q_bias: bias, kv_bias: bias, o_bias: bias, qk_norm: QkNorm::None }
    }

    pub fn qk_norm(self, qk_norm: QkNorm) -> Attn {
        Attn { qk_norm, ..self }
    }
}

/// q/k/v/o projections for `repeat` layers.
pub fn attention(m: &mut Model, d: &Dims, a: Attn, repeat: u64) -> Result<(), ArchError> {
    let (q, kv) = (d.heads.times(d.head_dim)?, d.kv.times(d.head_dim)?);
    m.linear("self_attn.q_proj", q, d.hidden, a.q_bias, repeat);
    m.linear("self_attn.k_proj", kv, d.hidden, a.kv_bias, repeat);
    m.linear("self_attn.v_proj", kv, d.hidden, a.kv_bias, repeat);
    m.linear("self_attn.o_proj", d.hidden, q, a.o_bias, repeat);
    match a.qk_norm {
        QkNorm::None => {}
        QkNorm::PerHead => {
            m.add("self_attn.q_norm", &[d.head_dim], repeat, Role::Other);
            m.add("self_attn.k_norm", &[d.head_dim], repeat, Role::Other);
        }
        QkNorm::Full => {
            m.add("self_attn.q_norm", &[q], repeat, Role::Other);
            m.add("self_attn.k_norm", &[kv], repeat, Role::Other);
        }
        QkNorm::Stacked => {
            m.add("self_attn.q_norm", &[d.heads, d.head_dim], repeat, Role::Other);
            m.add("self_attn.k_norm", &[d.kv, d.head_dim], repeat, Role::Other);
        }
        QkNorm::PerHeadBias => {
            norm(m, "self_attn.q_layernorm", d.head_dim, Norm::WeightBias, repeat);
            norm(m, "self_attn.k_layernorm", d.head_dim, Norm::WeightBias, repeat);
        }
    }
    Ok(())
}

/// gate/up/down MLP.
pub fn gated_mlp(m: &mut Model, hidden: u64, inter: u64, bias: bool, repeat: u64) {
    m.linear("mlp.gate_proj", inter, hidden, bias, repeat);
    m.linear("mlp.up_proj", inter, hidden, bias, repeat);
    m.linear("mlp.down_proj", hidden, inter, bias, repeat);
}

/// up/down MLP.
pub fn plain_mlp(m: &mut Model, hidden: u64, inter: u64, bias: bool, repeat: u64) {
    m.linear("mlp.fc_in", inter, hidden, bias, repeat);
    m.linear("mlp.fc_out", hidden, inter, bias, repeat);
}

/// Input embeddings and, unless tied, the output head.
pub fn embed_and_head(m: &mut Model, vocab: u64, hidden: u64, tied: bool, head_bias: bool) {
    m.add("embed_tokens", &[vocab, hidden], 1, Role::Other);
    m.tied = tied;
    if !tied {
        m.add("lm_head", &[vocab, hidden], 1, Role::Other);
    }
    if head_bias {
        m.add("lm_head.bias", &[vocab], 1, Role::Other);
    }
}
