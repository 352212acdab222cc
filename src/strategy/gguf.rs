//! `gguf`: GGUF files' headers by range: tensor infos give elements per ggml type, and bytes from
//! each type's block size. Split sets (`name-00001-of-00003.gguf`) are read whole; `mmproj-*` files
//! (vision projectors) are skipped. When a repo has several quantizations, `--gguf NAME` picks one
//! (a substring of the file name, e.g. `Q4_K_M`); by default the highest precision present wins.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::{Ctx, Found, Miss};
use crate::count::{self, CountOptions};
use crate::dtype;
use crate::format::{TensorInfo, gguf};
use crate::record::{Architecture, Mla, Moe};
use crate::source::{Snapshot, Source};

const FIRST_READ: u64 = 256 << 10;

/// The file set a GGUF model is stored in (one file, or the parts of a split).
fn set_name(file: &str) -> String {
    let base = file.strip_suffix(".gguf").unwrap_or(file);
    match base.rsplit_once("-of-") {
        Some((head, total)) if total.len() == 5 && total.bytes().all(|b| b.is_ascii_digit()) => {
            match head.rsplit_once('-') {
                Some((name, part)) if part.len() == 5 && part.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
                _ => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    }
}

/// Bits per weight of the quantization a file name declares (`...Q4_K_M.gguf` -> Q4_K), 0 if none.
fn precision(name: &str) -> f64 {
    let upper = name.to_uppercase();
    dtype::TABLE
        .iter()
        .filter(|d| d.ggml_id.is_some())
        .filter(|d| {
            upper.match_indices(d.name).any(|(i, m)| {
                let before = upper[..i].chars().next_back();
                let after = upper[i + m.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_digit())
            })
        })
        .map(|d| d.block_bytes as f64 * 8.0 / d.block_elems as f64)
        .fold(0.0, f64::max)
}

/// The chosen file set: its name, its files, and the names of the other sets.
pub fn choose(ctx: &Ctx, prefer: Option<&str>) -> Result<(String, Vec<String>, Vec<String>), Miss> {
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in ctx.snap.files.iter().filter(|f| f.ends_with(".gguf")) {
        let base = f.rsplit('/').next().unwrap_or(f);
        if base.to_lowercase().starts_with("mmproj") {
            continue;
        }
        sets.entry(set_name(f)).or_default().push(f.clone());
    }
    if sets.is_empty() {
        return Err(Miss::absent("no GGUF files in the repository"));
    }
    let chosen = match prefer {
        Some(p) => sets.keys().find(|k| k.to_lowercase().contains(&p.to_lowercase())).cloned().ok_or_else(|| {
            Miss::absent(format!(
                "no GGUF file matches {p:?} (have: {})",
                sets.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?,
        None => sets
            .keys()
            .max_by(|a, b| precision(a).total_cmp(&precision(b)).then_with(|| b.cmp(a)))
            .cloned()
            .expect("at least one set"),
    };
    let files = sets.remove(&chosen).expect("chosen set exists");
    Ok((chosen, files, sets.into_keys().collect()))
}

pub fn run(ctx: &Ctx, prefer: Option<&str>) -> Result<Found, Miss> {
    let (chosen, files, others) = choose(ctx, prefer)?;
    let parsed: Vec<gguf::Header> =
        files.par_iter().map(|f| read_header(ctx.source, ctx.snap, f)).collect::<Result<_, Miss>>()?;
    let first_metadata = parsed.first().map(|h| h.metadata.clone()).unwrap_or_default();
    let headers: Vec<Vec<TensorInfo>> = parsed.into_iter().map(|h| h.tensors).collect();
    let mut counts =
        count::count(headers.iter().flatten(), CountOptions::default()).map_err(|e| Miss::invalid(&chosen, e))?;
    if !others.is_empty() {
        counts.notes.push(format!(
            "GGUF {chosen} chosen (highest precision, or --gguf); also in the repo: {}",
            others.join(", ")
        ));
    }
    Ok(Found { architecture: architecture(&first_metadata, &headers), ..Found::exact(counts, files) })
}

fn read_header(source: &dyn Source, snap: &Snapshot, path: &str) -> Result<gguf::Header, Miss> {
    let first = source.read_range(snap, path, 0, FIRST_READ)?;
    let size = first.file_size;
    let mut err = None;
    let mut read = |off: u64, len: u64| -> Result<Vec<u8>, String> {
        if off + len <= first.bytes.len() as u64 {
            return Ok(first.bytes[off as usize..(off + len) as usize].to_vec());
        }
        source.read_range(snap, path, off, len).map(|r| r.bytes).map_err(|e| {
            let text = e.to_string();
            err = Some(e);
            text
        })
    };
    match gguf::parse(&mut read, size, FIRST_READ) {
        Ok(h) => Ok(h),
        Err(gguf::GgufError::Read(_)) if err.is_some() => Err(err.expect("checked").into()),
        Err(e) => Err(Miss::invalid(path, e)),
    }
}

/// The architecture block from GGUF metadata (`general.architecture`, `{arch}.block_count`, ...).
fn architecture(meta: &[(String, String)], tensors: &[Vec<TensorInfo>]) -> Option<Architecture> {
    let get = |k: &str| meta.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let arch = get("general.architecture")?.to_owned();
    let num = |k: &str| get(&format!("{arch}.{k}")).and_then(|v| v.parse::<u64>().ok());
    let heads = num("attention.head_count");
    let hidden = num("embedding_length");
    let vocab = num("vocab_size").or_else(|| {
        tensors.iter().flatten().find(|t| t.name == "token_embd.weight").and_then(|t| t.shape.get(1).copied())
    });
    let experts = num("expert_count").filter(|n| *n > 0);
    let mla = match (num("attention.kv_lora_rank"), num("rope.dimension_count")) {
        (Some(kv_lora_rank), Some(qk_rope_head_dim)) => Some(Mla { kv_lora_rank, qk_rope_head_dim }),
        _ => None,
    };
    Some(Architecture {
        model_type: Some(arch.clone()),
        architectures: Vec::new(),
        num_hidden_layers: num("block_count"),
        hidden_size: hidden,
        num_attention_heads: heads,
        num_key_value_heads: num("attention.head_count_kv").or(heads),
        head_dim: num("attention.key_length").or_else(|| Some(hidden? / heads.filter(|h| *h > 0)?)),
        vocab_size: vocab,
        max_position_embeddings: num("context_length"),
        intermediate_size: num("feed_forward_length").or_else(|| num("expert_feed_forward_length")),
        tie_word_embeddings: Some(!tensors.iter().flatten().any(|t| t.name == "output.weight")),
        quantization: None,
        moe: experts.map(|num_experts| Moe {
            num_experts,
            experts_per_token: num("expert_used_count"),
            num_shared_experts: num("expert_shared_count"),
            moe_intermediate_size: num("expert_feed_forward_length"),
        }),
        mla,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sets_and_precision_from_names() {
        assert_eq!(set_name("m/Model-Q4_K_M-00002-of-00003.gguf"), "m/Model-Q4_K_M");
        assert_eq!(set_name("model-f16.gguf"), "model-f16");
        assert!(precision("Llama-3-8B-F16") > precision("Llama-3-8B-Q8_0"));
        assert!(precision("Llama-3-8B-Q8_0") > precision("Llama-3-8B-Q4_K_M"));
        assert!(precision("x-BF16") >= precision("x-F16"));
        assert_eq!(precision("model"), 0.0);
        assert_eq!(precision("x-Q4_K_M"), 4.5);
    }
}
