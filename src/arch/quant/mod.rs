//! Everything capcache knows about quantized checkpoints, in one place: what a config's
//! `quantization_config` (or MLX's `quantization`) says ([`quantization`], [`scheme`]), the
//! stored layout a checkpoint of a scheme has ([`layout`]: what the config strategy predicts), and
//! how a stored tensor maps back to the parameters of the unquantized model ([`tensors`]: packed
//! values unpacked, scales / zero points / indices excluded), with exact integer arithmetic.
//!
//! Formats: GPTQ and AWQ (`qweight` in `I32`, 2 to 8 bits), compressed-tensors (pack-quantized
//! `weight_packed` in `I32`, NVFP4 / MXFP4 `weight_packed` in `U8` with two values a byte,
//! float- and int-quantized, block scales), FP8 with block scales (`weight_scale_inv`), MXFP4
//! (`*_blocks` / `*_scales`), bitsandbytes 4-bit (`U8` + `quant_state`) and 8-bit (`I8` + `SCB`),
//! and MLX (`U32` weights beside `scales` and `biases`); GGUF types by the precision a file name
//! declares ([`gguf`]).

pub mod gguf;
pub mod layout;
pub mod tensors;

use serde_json::Value;

use super::ArchError;
use super::cfg::Cfg;
use crate::record::Quantization;

/// A quantization scheme, as far as the stored layout goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheme {
    /// FP8 weights (`F8_E4M3`) with per-tensor, per-channel or block scales (block scales in
    /// `F32` as DeepSeek's `weight_scale_inv`, or at the model dtype as compressed-tensors'
    /// `weight_scale`).
    Fp8 { block: Option<(u64, u64)>, per_channel: bool, block_scales_at_model_dtype: bool },
    /// compressed-tensors int-quantized: `I8` weights with per-channel scales at the model dtype.
    Int8,
    /// GPTQ / AWQ: packed `I32` qweight, qzeros, `F16` scales, GPTQ `g_idx`.
    PackedInt { bits: u64, group: Option<u64>, g_idx: bool },
    /// compressed-tensors pack-quantized: `weight_packed` `I32`, `weight_scale`, `weight_shape`.
    CompressedPacked { bits: u64, group: Option<u64> },
    /// compressed-tensors NVFP4: `weight_packed` `U8` (two values a byte), `F8_E4M3` scales per 16
    /// values, an `F32` global scale for the weight and one for the input.
    Nvfp4,
    /// bitsandbytes 4-bit: `U8` weights with absmax blocks of 64.
    Bnb4,
    /// bitsandbytes 8-bit: `I8` weights with a per-row `SCB`.
    Bnb8,
    /// MXFP4 experts: `U8` blocks of 32 values in 16 bytes, one `U8` scale per block.
    Mxfp4,
}

/// The quantization object: the root's `quantization_config`, else the text config's, else MLX's
/// `quantization` (`{"group_size": 64, "bits": 4}`).
fn quantization_config<'a>(config: &'a Value) -> Result<Option<(Cfg<'a>, bool)>, ArchError> {
    let c = Cfg::new(config);
    if let Some(q) = c.sub("quantization_config")? {
        return Ok(Some((q, false)));
    }
    if let Some(q) = c.text()?.sub("quantization_config")? {
        return Ok(Some((q, false)));
    }
    match c.get("quantization") {
        Some(Value::Object(o)) if o.contains_key("bits") => Ok(c.sub("quantization")?.map(|q| (q, true))),
        _ => Ok(None),
    }
}

/// The config's own quantization object, verbatim (for the record's `quantization_config`).
pub fn config_object(config: &Value) -> Result<Option<Value>, ArchError> {
    Ok(quantization_config(config)?.map(|(q, _)| q.value().clone()))
}

/// A group size: -1 (no groups, as GPTQ writes it) or a positive size.
fn group_size_of(q: &Cfg, key: &str) -> Result<Option<i64>, ArchError> {
    if q.get(key).and_then(Value::as_i64) == Some(-1) {
        return Ok(Some(-1));
    }
    q.u(key)?.map(|g| i64::try_from(g).map_err(|_| ArchError::Overflow)).transpose()
}

/// `quantization_config`, summarized (`method` `mlx` for MLX's `quantization`).
pub fn quantization(config: &Value) -> Result<Option<Quantization>, ArchError> {
    let Some((q, mlx)) = quantization_config(config)? else { return Ok(None) };
    let method = if mlx { "mlx" } else { q.s("quant_method")?.unwrap_or("unknown") }.to_owned();
    let group = match q.sub("config_groups")? {
        Some(groups) => groups.first_sub()?,
        None => None,
    };
    let weights = match &group {
        Some(g) => g.sub("weights")?,
        None => None,
    };
    let mut bits = q.u_any(&["bits", "w_bit", "weight_bits"])?;
    if let (None, Some(w)) = (bits, &weights) {
        bits = w.u("num_bits")?;
    }
    if bits.is_none() && q.flag("load_in_4bit", false)? {
        bits = Some(4);
    }
    if bits.is_none() && q.flag("load_in_8bit", false)? {
        bits = Some(8);
    }
    let bits = bits.or(match method.as_str() {
        "fp8" | "fbgemm_fp8" => Some(8),
        "mxfp4" => Some(4),
        _ => None,
    });
    let mut group_size = None;
    for key in ["group_size", "q_group_size"] {
        if group_size.is_none() {
            group_size = group_size_of(&q, key)?;
        }
    }
    if let (None, Some(w)) = (group_size, &weights) {
        group_size = group_size_of(w, "group_size")?;
    }
    let format = q.s("format")?.map(str::to_owned);
    Ok(Some(Quantization { method, bits, group_size, format }))
}

/// FP8 `weight_block_size` `[rows, cols]`: two sizes of at least 1.
pub fn weight_block_size(config: &Value) -> Result<Option<(u64, u64)>, ArchError> {
    let Some((q, _)) = quantization_config(config)? else { return Ok(None) };
    match q.list("weight_block_size")?.as_deref() {
        None => Ok(None),
        Some([rows, cols]) => Ok(Some((*rows, *cols))),
        Some(_) => Err(q.invalid(
            "weight_block_size",
            q.get("weight_block_size").unwrap_or(&Value::Null),
            "expected two block sizes",
        )),
    }
}

/// The stored-layout scheme of a config's quantization (`None`: unquantized, or a scheme whose
/// layout is not predicted, such as MLX's).
pub fn scheme(config: &Value) -> Result<Option<Scheme>, ArchError> {
    let Some(q) = quantization(config)? else { return Ok(None) };
    let group = q.group_size.and_then(|g| u64::try_from(g).ok());
    let bits = q.bits.unwrap_or(4);
    let format = q.format.as_deref();
    let fp8 = |block, per_channel, block_scales_at_model_dtype| Scheme::Fp8 {
        block,
        per_channel,
        block_scales_at_model_dtype,
    };
    Ok(Some(match q.method.as_str() {
        "fp8" | "fbgemm_fp8" => fp8(weight_block_size(config)?, false, false),
        "gptq" => Scheme::PackedInt { bits, group, g_idx: true },
        "awq" => Scheme::PackedInt { bits, group, g_idx: false },
        "bitsandbytes" if bits == 8 => Scheme::Bnb8,
        "bitsandbytes" => Scheme::Bnb4,
        "mxfp4" => Scheme::Mxfp4,
        "compressed-tensors" if format == Some("pack-quantized") => Scheme::CompressedPacked { bits, group },
        "compressed-tensors" if format == Some("nvfp4-pack-quantized") => Scheme::Nvfp4,
        "compressed-tensors" if bits == 8 && format == Some("int-quantized") => Scheme::Int8,
        "compressed-tensors" if bits == 8 => match compressed_block(config)? {
            Some(block) => fp8(Some(block), false, true),
            None => fp8(None, true, false),
        },
        _ => return Ok(None),
    }))
}

/// The `block_structure` of a compressed-tensors config group whose weights use the `block`
/// strategy.
fn compressed_block(config: &Value) -> Result<Option<(u64, u64)>, ArchError> {
    let Some((q, _)) = quantization_config(config)? else { return Ok(None) };
    let Some(groups) = q.sub("config_groups")? else { return Ok(None) };
    let Some(weights) = groups.first_sub()?.map(|g| g.sub("weights")).transpose()?.flatten() else { return Ok(None) };
    if weights.s("strategy")? != Some("block") {
        return Ok(None);
    }
    match weights.list("block_structure")?.as_deref() {
        Some([rows, cols]) => Ok(Some((*rows, *cols))),
        _ => Err(weights.invalid(
            "block_structure",
            weights.get("block_structure").unwrap_or(&Value::Null),
            "expected two block sizes",
        )),
    }
}

/// What counting a checkpoint's tensors needs from its config's quantization: the bits of a
/// packed value (GPTQ, AWQ, compressed-tensors, MLX) when the tensors' shapes do not say it, and
/// MLX's group size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Packing {
    pub bits: Option<u64>,
    pub group: Option<u64>,
}

impl Packing {
    /// The packing a config declares (defaults when it declares none or is invalid: the record's
    /// warnings say why a config was not used).
    pub fn of(config: &Value) -> Packing {
        match quantization(config) {
            Ok(Some(q)) => Packing { bits: q.bits, group: q.group_size.and_then(|g| u64::try_from(g).ok()) },
            _ => Packing::default(),
        }
    }
}
