//! `gguf`: GGUF files' headers by range: tensor infos give elements per ggml type, and bytes from
//! each type's block size. A split set (`name-00001-of-00003.gguf`) is read whole and must be
//! complete and consistent: every part from 1 to N present once, each saying `split.no` and
//! `split.count` as its name does; parts of sets with different N are different sets. `mmproj-*`
//! files (vision projectors) are skipped. When a repo has several sets, `--gguf NAME` picks one (a
//! substring of its name, e.g. `Q4_K_M`); by default the highest precision present wins, and a
//! tie or an ambiguous `--gguf` is refused rather than guessed.

use std::collections::BTreeMap;

use super::checkpoint::{self, EachFile};
use super::{Ctx, Found, Miss};
use crate::arch::quant::gguf::precision;
use crate::count::{self, CountOptions};
use crate::format::{TensorInfo, gguf};
use crate::record::{Architecture, Mla, Moe};

const FIRST_READ: u64 = 256 << 10;
/// The most parts a split set may have.
const MAX_PARTS: u32 = 1000;

/// Where a file belongs: its set's name, and for a part of a split, `(part, parts)` (1-based).
fn set_of(file: &str) -> (String, Option<(u32, u32)>) {
    let base = file.strip_suffix(".gguf").unwrap_or(file);
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((head, total)) = base.rsplit_once("-of-")
        && digits(total)
        && let Some((name, part)) = head.rsplit_once('-')
        && digits(part)
    {
        let (part, total): (u32, u32) = (part.parse().unwrap_or(0), total.parse().unwrap_or(0));
        return (format!("{name}-of-{total:05}"), Some((part, total)));
    }
    (base.to_owned(), None)
}

/// One file set: its files by part number (a single file is part 1 of 1).
struct Set {
    parts: BTreeMap<u32, String>,
    /// N for a split set, `None` for a single file.
    total: Option<u32>,
}

impl Set {
    /// Checks that every part from 1 to N is present exactly once; returns the files in order.
    fn files(&self, name: &str) -> Result<Vec<String>, Miss> {
        if let Some(n) = self.total {
            let bad = |what: String| Miss::invalid(name, format!("GGUF split set {what}"));
            if n == 0 || n > MAX_PARTS {
                return Err(bad(format!("declares {n} parts (1 to {MAX_PARTS} allowed)")));
            }
            let missing: Vec<u32> = (1..=n).filter(|k| !self.parts.contains_key(k)).take(10).collect();
            if !missing.is_empty() {
                return Err(bad(format!("is incomplete: of {n} parts, {missing:?} are missing")));
            }
            if let Some(k) = self.parts.keys().find(|k| **k == 0 || **k > n) {
                return Err(bad(format!("has a part {k} of {n}")));
            }
        }
        Ok(self.parts.values().cloned().collect())
    }
}

/// The chosen file set: its name, its files (in part order), and the names of the other sets.
pub fn choose(ctx: &Ctx, prefer: Option<&str>) -> Result<(String, Vec<String>, Vec<String>), Miss> {
    let mut sets: BTreeMap<String, Set> = BTreeMap::new();
    for f in ctx.snap.files.iter().filter(|f| f.ends_with(".gguf")) {
        ctx.check_deadline("the GGUF files")?;
        let base = f.rsplit('/').next().unwrap_or(f);
        if base.to_lowercase().starts_with("mmproj") {
            continue;
        }
        let (name, part) = set_of(f);
        let set = sets.entry(name).or_insert(Set { parts: BTreeMap::new(), total: part.map(|(_, n)| n) });
        let k = part.map_or(1, |(k, _)| k);
        if set.parts.insert(k, f.clone()).is_some() {
            return Err(Miss::invalid(f, "two files claim the same part of a GGUF set"));
        }
    }
    if sets.is_empty() {
        return Err(Miss::absent(format!("no GGUF files in {}", ctx.place())));
    }
    let names: Vec<&String> = sets.keys().collect();
    let list = |v: &[&String]| crate::names::some(v);
    let chosen = match prefer {
        Some(p) => {
            let p = p.to_lowercase();
            let hits: Vec<&String> = names.iter().copied().filter(|k| k.to_lowercase().contains(&p)).collect();
            match hits.as_slice() {
                [] => return Err(Miss::absent(format!("no GGUF file matches {p:?} (have: {})", list(&names)))),
                [one] => (*one).clone(),
                many => match many.iter().find(|k| k.to_lowercase() == p) {
                    Some(exact) => (*exact).clone(),
                    None => {
                        return Err(Miss::invalid(
                            "--gguf",
                            format!("{p:?} matches several GGUF sets ({}); give more of the name", list(many)),
                        ));
                    }
                },
            }
        }
        None => {
            let best = names.iter().map(|k| precision(k)).fold(0.0, f64::max);
            let top: Vec<&String> = names.iter().copied().filter(|k| precision(k) == best).collect();
            if top.len() > 1 {
                return Err(Miss::invalid(
                    "GGUF files",
                    format!("several GGUF sets of the same precision ({}); choose one with --gguf", list(&top)),
                ));
            }
            top[0].clone()
        }
    };
    let files = sets[&chosen].files(&chosen)?;
    let others = sets.into_keys().filter(|k| *k != chosen).collect();
    Ok((chosen, files, others))
}

pub fn run(ctx: &Ctx, prefer: Option<&str>) -> Result<Found, Miss> {
    let (chosen, files, others) = choose(ctx, prefer)?;
    let parsed: Vec<gguf::Header> = ctx.each_file(&files, |f| read_header(ctx, f))?;
    check_split_metadata(&files, &parsed)?;
    let first_metadata = parsed.first().map(|h| h.metadata.clone()).unwrap_or_default();
    let headers: Vec<Vec<TensorInfo>> = parsed.into_iter().map(|h| h.tensors).collect();
    checkpoint::check(&files, &headers, EachFile::MayBeEmpty)?;
    let mut counts =
        count::count(headers.iter().flatten(), CountOptions::default()).map_err(|e| Miss::invalid(&chosen, e))?;
    if !others.is_empty() {
        counts.notes.push(format!(
            "GGUF {chosen} chosen (highest precision, or --gguf); also in the repo: {}",
            crate::names::some(&others)
        ));
    }
    let adapter = super::adapter::of_gguf(ctx, &first_metadata)?.map(|(a, warning)| {
        counts.notes.extend(warning);
        a
    });
    Ok(Found { architecture: architecture(&first_metadata, &headers), adapter, ..Found::exact(counts, files) })
}

/// Each part says, in its own metadata, the place its name gives it: `split.no` (0-based) and
/// `split.count`; a single file is not part of a larger split; `split.tensors.count` adds up.
fn check_split_metadata(files: &[String], parsed: &[gguf::Header]) -> Result<(), Miss> {
    let n = parsed.len() as u64;
    let mut tensors = 0u64;
    for (k, (file, h)) in files.iter().zip(parsed).enumerate() {
        let num = |key: &str| {
            h.get(key).map(|v| v.parse::<u64>().map_err(|_| Miss::invalid(file, format!("{key} is {v:?}"))))
        };
        let count = num("split.count").transpose()?;
        let no = num("split.no").transpose()?;
        let ok = if n == 1 {
            count.is_none_or(|c| c == 1) && no.is_none_or(|x| x == 0)
        } else {
            count == Some(n) && no == Some(k as u64)
        };
        if !ok {
            return Err(Miss::invalid(
                file,
                format!(
                    "its metadata says part {} of {} but it is read as part {} of {n}",
                    no.map_or("?".into(), |x| (x + 1).to_string()),
                    count.map_or("?".into(), |c| c.to_string()),
                    k + 1
                ),
            ));
        }
        tensors += h.tensors.len() as u64;
        if let Some(total) = num("split.tensors.count").transpose()?
            && n > 1
            && k + 1 == files.len()
            && total != tensors
        {
            return Err(Miss::invalid(
                file,
                format!("the split set declares {total} tensors but its parts hold {tensors}"),
            ));
        }
    }
    Ok(())
}

fn read_header(ctx: &Ctx, path: &str) -> Result<gguf::Header, Miss> {
    let file = ctx.file(path);
    let header = gguf::parse(&file, FIRST_READ).map_err(|e| file.miss(e))?;
    ctx.charge_tensors(path, header.tensors.len())?;
    Ok(header)
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
        layer_types: None,
        sliding_window: None,
        attention_chunk_size: None,
        quantization: None,
        quantization_config: None,
        torch_dtype: None,
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
    fn split_sets_from_names() {
        assert_eq!(set_of("m/Model-Q4_K_M-00002-of-00003.gguf"), ("m/Model-Q4_K_M-of-00003".into(), Some((2, 3))));
        assert_eq!(set_of("model-f16.gguf"), ("model-f16".into(), None));
    }
}
