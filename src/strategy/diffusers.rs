//! The weight files of a diffusers pipeline (`model_index.json`: one folder per component), chosen
//! as diffusers loads them by default: a component's safetensors (sharded or single), else its
//! PyTorch `.bin`; a component stored only as a variant (`diffusion_pytorch_model.fp16.safetensors`,
//! `model.safetensors.index.fp16.json`, `pytorch_model.fp16.bin`) counts that variant, and the
//! record says so. A component whose folder holds weights in no form read here (ONNX, Flax,
//! `.ckpt`) makes the strategy miss, naming it: a pipeline is never counted without one of its
//! parts. Folders without weights (schedulers, tokenizers) are no components to count. A single
//! diffusers model stored at the root (`diffusion_pytorch_model.*`) is chosen the same way.

use std::collections::{BTreeSet, HashMap};

use super::safetensors::{WeightFile, shards_of};
use super::{Ctx, Miss};
use crate::id::check_repo_path;

/// A stored form of a component's weights, in diffusers' order of preference.
struct Form {
    /// The file name's stem (`diffusion_pytorch_model`, `model`, `pytorch_model`).
    stem: &'static str,
    /// `.safetensors` or `.bin`.
    ext: &'static str,
}

const SAFETENSORS: &[Form] =
    &[Form { stem: "diffusion_pytorch_model", ext: ".safetensors" }, Form { stem: "model", ext: ".safetensors" }];
const PICKLES: &[Form] =
    &[Form { stem: "diffusion_pytorch_model", ext: ".bin" }, Form { stem: "pytorch_model", ext: ".bin" }];

/// File endings of weights in forms this strategy does not read.
const OTHER_WEIGHTS: &[&str] = &[".ckpt", ".pt", ".pth", ".onnx", ".onnx_data", ".msgpack", ".h5", ".pb", ".gguf"];

/// Weight files to count, and notes on the variants counted.
pub type Weights = (Vec<WeightFile>, Vec<String>);

/// The files to count for the pipeline, and notes on the variants counted.
pub fn weight_files(ctx: &Ctx) -> Result<Weights, Miss> {
    let bytes = ctx.read_small("model_index.json", 1 << 20)?;
    ctx.charge_json("model_index.json", &bytes)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Miss::invalid("model_index.json", e))?;
    let components: Vec<&String> =
        v.as_object().map(|o| o.iter().filter(|(_, v)| v.is_array()).map(|(k, _)| k).collect()).unwrap_or_default();
    // Each folder's files, listed once (a pipeline may name tens of thousands of components).
    let mut folders: HashMap<&str, Vec<&str>> = HashMap::new();
    for f in &ctx.snap.files {
        if let Some((dir, name)) = f.split_once('/')
            && !name.contains('/')
        {
            folders.entry(dir).or_default().push(name);
        }
    }
    let (mut files, mut notes, mut left_out) = (Vec::new(), Vec::new(), Vec::new());
    for comp in components {
        ctx.check_deadline("model_index.json's components")?;
        if check_repo_path(comp).is_err() || comp.contains('/') {
            continue;
        }
        let names = folders.get(comp.as_str()).map_or(&[][..], Vec::as_slice);
        match component(ctx, comp, names)? {
            Chosen::Files(f, note) => {
                files.extend(f);
                notes.extend(note);
            }
            Chosen::Unreadable(what) => left_out.push(format!("{comp} ({})", crate::names::some(&what))),
            Chosen::NoWeights => {}
        }
    }
    if !left_out.is_empty() {
        return Err(Miss::invalid(
            "model_index.json",
            format!(
                "the pipeline's {} {} stored in no form capcache reads: counting the rest would leave {} out",
                crate::names::some(&left_out),
                if left_out.len() == 1 { "is" } else { "are" },
                if left_out.len() == 1 { "it" } else { "them" },
            ),
        ));
    }
    Ok((files, notes))
}

enum Chosen {
    Files(Vec<WeightFile>, Option<String>),
    /// Weight files in forms not read here.
    Unreadable(Vec<String>),
    NoWeights,
}

/// `dir`'s files' prefix (`""` for the root).
fn prefix(dir: &str) -> String {
    if dir.is_empty() { String::new() } else { format!("{dir}/") }
}

/// A diffusers model stored at the root (a VAE, a ControlNet: `diffusion_pytorch_model.*` beside
/// its `config.json`, no `model_index.json`), chosen as a component's weights are; `None` when the
/// root holds no such file.
pub fn root_weights(ctx: &Ctx) -> Result<Option<Weights>, Miss> {
    let names: Vec<&str> = ctx.snap.files.iter().map(String::as_str).filter(|f| !f.contains('/')).collect();
    if !names.iter().any(|n| n.starts_with("diffusion_pytorch_model.")) {
        return Ok(None);
    }
    match component(ctx, "", &names)? {
        Chosen::Files(files, note) => Ok(Some((files, note.into_iter().collect()))),
        Chosen::Unreadable(what) => {
            Err(Miss::invalid(&crate::names::some(&what), "a diffusers model stored in no form capcache reads"))
        }
        Chosen::NoWeights => Ok(None),
    }
}

/// The weights of one component folder `dir` (`""`: the root) holding `names`.
fn component(ctx: &Ctx, dir: &str, names: &[&str]) -> Result<Chosen, Miss> {
    for form in SAFETENSORS.iter().chain(PICKLES) {
        let index = format!("{}{}.index.json", form.stem, form.ext);
        let single = format!("{}{}", form.stem, form.ext);
        if let Some(files) = stored(ctx, dir, form, &index, &single)? {
            return Ok(Chosen::Files(files, None));
        }
    }
    for form in SAFETENSORS.iter().chain(PICKLES) {
        let variants: BTreeSet<&str> = names.iter().filter_map(|n| variant(n, form)).collect();
        let Some(first) = variants.first() else { continue };
        let index = format!("{}{}.index.{first}.json", form.stem, form.ext);
        let single = format!("{}.{first}{}", form.stem, form.ext);
        if let Some(files) = stored(ctx, dir, form, &index, &single)? {
            let others: Vec<&str> = variants.iter().skip(1).copied().collect();
            let besides = match others.is_empty() {
                true => String::new(),
                false => format!("; also stored as {}", crate::names::some(&others)),
            };
            let whose = if dir.is_empty() { "the model" } else { dir };
            let note = format!("{whose}: its {first} variant counted (no default weights{besides})");
            return Ok(Chosen::Files(files, Some(note)));
        }
    }
    let weights = |n: &&&str| {
        [".safetensors", ".bin"].iter().chain(OTHER_WEIGHTS).any(|e| n.ends_with(e))
            || (n.contains(".safetensors.index") || n.contains(".bin.index"))
    };
    let other: Vec<String> = names.iter().filter(weights).map(|n| format!("{}{n}", prefix(dir))).collect();
    Ok(if other.is_empty() { Chosen::NoWeights } else { Chosen::Unreadable(other) })
}

/// The files of `form` in `dir`: the shards `index` names, else `single`, else none.
fn stored(ctx: &Ctx, dir: &str, form: &Form, index: &str, single: &str) -> Result<Option<Vec<WeightFile>>, Miss> {
    let pickle = form.ext == ".bin";
    let index = format!("{}{index}", prefix(dir));
    if ctx.snap.has(&index) {
        let mut shards = shards_of(ctx, &index)?;
        for s in &mut shards {
            s.pickle = pickle;
        }
        return Ok(Some(shards));
    }
    let single = format!("{}{single}", prefix(dir));
    Ok(ctx.snap.has(&single).then(|| vec![WeightFile { path: single, tensors: None, pickle }]))
}

/// The variant a file of `form` is stored as: `{stem}.{variant}{ext}`, or the sharded index
/// `{stem}{ext}.index.{variant}.json`.
fn variant<'n>(name: &'n str, form: &Form) -> Option<&'n str> {
    let v = match name.strip_prefix(form.stem)?.strip_prefix('.')? {
        rest if rest.ends_with(form.ext) => rest.strip_suffix(form.ext)?,
        rest => rest.strip_prefix(&form.ext[1..])?.strip_prefix(".index.")?.strip_suffix(".json")?,
    };
    let word = !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    word.then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_read_from_single_files_and_sharded_indexes() {
        let st = &SAFETENSORS[0];
        assert_eq!(variant("diffusion_pytorch_model.fp16.safetensors", st), Some("fp16"));
        assert_eq!(variant("diffusion_pytorch_model.safetensors.index.bf16.json", st), Some("bf16"));
        assert_eq!(variant("diffusion_pytorch_model.safetensors", st), None);
        assert_eq!(variant("diffusion_pytorch_model.safetensors.index.json", st), None);
        assert_eq!(variant("diffusion_pytorch_model.fp16-00001-of-00002.safetensors", st), None, "a shard");
        assert_eq!(variant("diffusion_pytorch_model.a.b.safetensors", st), None);
        assert_eq!(variant("pytorch_model.fp16.bin", &PICKLES[1]), Some("fp16"));
        assert_eq!(variant("model.fp16.safetensors", &SAFETENSORS[1]), Some("fp16"));
    }
}
