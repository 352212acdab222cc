//! A model's parameter tensors as an architecture module lists them (templated per layer with a
//! repeat count, so listing costs no allocation per layer), the dimensions the family resolved
//! on the way ([`Facts`]), and the stored layout a quantized checkpoint of it would have.

use std::collections::BTreeMap;

use super::ArchError;
use super::checked::Checked;
use crate::record::{LayerTypes, Mla, Moe};

/// What a parameter is, for the stored-layout prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A 2-D linear weight inside a block: quantized by weight-only and FP8 schemes.
    Linear,
    /// Stacked expert weights `[experts, out, in]`: quantized like linears (and by MXFP4).
    Experts,
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

/// A quantization scheme, as far as the stored layout goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheme {
    /// FP8 weights (`F8_E4M3`) with per-tensor, per-channel or block scales.
    Fp8 { block: Option<(u64, u64)>, per_channel: bool },
    /// GPTQ / AWQ: packed `I32` qweight, qzeros, `F16` scales, GPTQ `g_idx`.
    PackedInt { bits: u64, group: Option<u64>, g_idx: bool },
    /// compressed-tensors pack-quantized: `weight_packed` `I32`, `weight_scale`, `weight_shape`.
    CompressedPacked { bits: u64, group: Option<u64> },
    /// bitsandbytes 4-bit: `U8` weights with absmax blocks of 64.
    Bnb4,
    /// bitsandbytes 8-bit: `I8` weights with a per-row `SCB`.
    Bnb8,
    /// MXFP4 experts: `U8` blocks of 32 values in 16 bytes, one `U8` scale per block.
    Mxfp4,
}

fn put(map: &mut BTreeMap<String, u64>, dtype: &str, n: u64) -> Result<(), ArchError> {
    let slot = map.entry(dtype.to_owned()).or_default();
    *slot = slot.plus(n)?;
    Ok(())
}

/// The stored elements per dtype of a checkpoint of `model` saved at `dtype` with `scheme`.
pub fn stored_layout(model: &Model, dtype: &str, scheme: Option<&Scheme>) -> Result<BTreeMap<String, u64>, ArchError> {
    let mut out = BTreeMap::new();
    for p in &model.params {
        let n = p.elements().ok_or(ArchError::Overflow)?;
        let quantized = match (scheme, p.role) {
            (_, Role::Other) | (None, _) => false,
            (Some(Scheme::Mxfp4), role) => role == Role::Experts,
            _ => true,
        };
        let Some(scheme) = scheme.filter(|_| quantized) else {
            put(&mut out, dtype, n)?;
            continue;
        };
        // Every quantized tensor is a stack of `mats` matrices of `rows x cols`.
        let (rows, cols) = match p.shape.as_slice() {
            [.., o, i] => (*o, *i),
            _ => (n, 1),
        };
        let mats = n.over(rows.times(cols)?.max(1))?;
        let groups = |group: Option<u64>| cols.over_ceil(group.unwrap_or(cols).max(1));
        match scheme {
            Scheme::Fp8 { block, per_channel } => {
                put(&mut out, "F8_E4M3", n)?;
                match block {
                    Some((bo, bi)) => {
                        put(&mut out, "F32", mats.times(rows.over_ceil(*bo)?)?.times(cols.over_ceil(*bi)?)?)?
                    }
                    None if *per_channel => put(&mut out, dtype, mats.times(rows)?)?,
                    None => put(&mut out, "F32", mats)?,
                }
            }
            Scheme::PackedInt { bits, group, g_idx } => {
                let g = groups(*group)?;
                let packed = rows.times(cols)?.times(*bits)?.over(32)?;
                let zeros = g.times(rows)?.times(*bits)?.over(32)?;
                put(&mut out, "I32", mats.times(packed.plus(zeros)?)?)?;
                put(&mut out, "F16", mats.times(g)?.times(rows)?)?;
                if *g_idx {
                    put(&mut out, "I32", mats.times(cols)?)?;
                }
            }
            Scheme::CompressedPacked { bits, group } => {
                put(&mut out, "I32", n.times(*bits)?.over(32)?)?;
                put(&mut out, dtype, mats.times(groups(*group)?)?.times(rows)?)?;
                put(&mut out, "I64", mats.times(2)?)?;
            }
            Scheme::Bnb4 => {
                put(&mut out, "U8", n.div_ceil(2))?;
                put(&mut out, "F32", n.div_ceil(64).plus(mats.times(16)?)?)?;
            }
            Scheme::Bnb8 => {
                put(&mut out, "I8", n)?;
                put(&mut out, "F32", mats.times(rows)?)?;
            }
            Scheme::Mxfp4 => put(&mut out, "U8", n.over(2)?.plus(n.div_ceil(32))?)?,
        }
    }
    Ok(out)
}
