//! The stored layout of a quantized checkpoint, predicted from the model's parameter list: for
//! each quantized tensor, the packed weights and the scales, zero points and indices its scheme
//! stores beside them, per dtype. Linear and expert weights are quantized; embeddings, norms,
//! biases, routers and heads are not (MXFP4 quantizes the experts only).

use std::collections::BTreeMap;

use super::Scheme;
use crate::arch::ArchError;
use crate::arch::checked::Checked;
use crate::arch::model::{Model, Role};

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
            (_, Role::Other | Role::ExpertBias) | (None, _) => false,
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
            Scheme::Fp8 { block, per_channel, block_scales_at_model_dtype } => {
                put(&mut out, "F8_E4M3", n)?;
                match block {
                    Some((bo, bi)) => {
                        let scales = if *block_scales_at_model_dtype { dtype } else { "F32" };
                        put(&mut out, scales, mats.times(rows.over_ceil(*bo)?)?.times(cols.over_ceil(*bi)?)?)?
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
                    // Fused gate/up experts are two linears to a quantizer: two g_idx.
                    let linears = if p.name.ends_with("gate_up_proj") { 2 } else { 1 };
                    put(&mut out, "I32", mats.times(cols)?.times(linears)?)?;
                }
            }
            Scheme::Int8 => {
                put(&mut out, "I8", n)?;
                put(&mut out, dtype, mats.times(rows)?)?;
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
            Scheme::Nvfp4 => {
                put(&mut out, "U8", n.over_ceil(2)?)?;
                put(&mut out, "F8_E4M3", mats.times(rows)?.times(cols.over_ceil(16)?)?)?;
                put(&mut out, "F32", mats.times(2)?)?;
            }
            Scheme::Mxfp4 => put(&mut out, "U8", n.over(2)?.plus(n.div_ceil(32))?)?,
        }
    }
    Ok(out)
}
