//! A model's parameter tensors as an architecture module lists them (templated per layer with a
//! repeat count, so listing costs no allocation per layer), the dimensions the family resolved
//! on the way ([`Facts`]). The stored layout of a quantized checkpoint of it is
//! [`super::quant::layout`]'s.

use super::ArchError;
use super::checked::Checked;
use crate::record::{LayerTypes, Mla, Moe};

/// What a parameter is, for the stored-layout prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A 2-D linear weight inside a block: quantized by weight-only and FP8 schemes.
    Linear,
    /// Stacked routed-expert weights `[experts, out, in]`: quantized like linears (and by MXFP4).
    Experts,
    /// Other routed-expert parameters (gpt-oss's expert biases `[experts, out]`): not quantized.
    ExpertBias,
    /// Everything else: embeddings, norms, biases, routers, heads.
    Other,
}

/// One parameter tensor (times `repeat`, e.g. once per layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub shape: Vec<u64>,
    pub repeat: u64,
    pub role: Role,
}

impl Param {
    pub fn elements(&self) -> Option<u64> {
        self.shape.iter().try_fold(self.repeat, |acc, d| acc.checked_mul(*d))
    }
}

/// The parameter list of one model.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub params: Vec<Param>,
    /// The family module that listed it (`llama`, `gpt2`, ..., or `generic-decoder`).
    pub family: &'static str,
    /// True when the family is not known and a generic decoder was assumed.
    pub approximate: bool,
    /// Whether the output head is tied to the input embeddings (listed once).
    pub tied: bool,
    /// Buffers a checkpoint of this family may store although transformers no longer saves
    /// them (causal masks, rotary `inv_freq`): what, and how many elements.
    pub buffers: Vec<(&'static str, u64)>,
    /// The dimensions the family used, for the record's architecture block and capacity facts.
    pub facts: Facts,
}

/// What a family resolved from the config (its values, else the config class defaults): the one
/// source of the record's architecture block and KV-cache / state facts. For a multimodal model,
/// its text model's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub layers: Option<u64>,
    pub hidden: Option<u64>,
    /// Attention heads, and the key/value heads and head dimension of the attention layers.
    pub heads: Option<u64>,
    pub kv_heads: Option<u64>,
    pub head_dim: Option<u64>,
    /// The MLP width (for MoE models the config's `intermediate_size`, else the expert width).
    pub intermediate: Option<u64>,
    pub vocab: Option<u64>,
    pub positions: Option<u64>,
    pub moe: Option<Moe>,
    pub mla: Option<Mla>,
    pub layer_types: LayerTypes,
    pub sliding_window: Option<u64>,
    pub attention_chunk_size: Option<u64>,
    /// Recurrent state elements per sequence, all layers (0 without recurrent layers).
    pub state_elements: u64,
}

impl Model {
    pub fn new(family: &'static str) -> Model {
        Model { family, ..Model::default() }
    }

    /// Adds `repeat` tensors of `shape` (skipped when `repeat` is 0 or a dimension is 0).
    pub fn add(&mut self, name: &'static str, shape: &[u64], repeat: u64, role: Role) {
        if repeat > 0 && !shape.contains(&0) {
            self.params.push(Param { name, shape: shape.to_vec(), repeat, role });
        }
    }

    /// A linear layer `[out, in]` with an optional bias `[out]`.
    pub fn linear(&mut self, name: &'static str, out: u64, inp: u64, bias: bool, repeat: u64) {
        self.add(name, &[out, inp], repeat, Role::Linear);
        if bias {
            self.add(name, &[out], repeat, Role::Other);
        }
    }

    /// Total parameters, checked.
    pub fn total(&self) -> Result<u64, ArchError> {
        self.params.iter().try_fold(0u64, |acc, p| p.elements().ok_or(ArchError::Overflow)?.plus(acc))
    }
}
