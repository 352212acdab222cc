//! Adapter-only repositories: a PEFT adapter (`adapter_model.safetensors` or `adapter_model.bin`,
//! described by `adapter_config.json`; diffusers' `pytorch_lora_weights.*`) with no weights of a
//! model of its own. Its tensors are loaded on top of a base model, so the record counts them as
//! an adapter's and names the base (`base_model_name_or_path`); the repository's `config.json`,
//! if any, describes the base model, so it neither estimates nor cross-checks the adapter. A
//! repository holding a model's weights beside an adapter is the model (its adapter files are not
//! summed into it). A GGUF file whose metadata says it is an adapter is recorded as one too.

use serde_json::Value;

use super::{Ctx, Miss};
use crate::record::Adapter;

/// An adapter's weight files, as PEFT names them, and as diffusers names a pipeline's LoRA.
pub const WEIGHTS: &[&str] =
    &["adapter_model.safetensors", "adapter_model.bin", "pytorch_lora_weights.safetensors", "pytorch_lora_weights.bin"];

/// The largest `adapter_config.json` read (PEFT writes about 1 KB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The longest text field kept from `adapter_config.json` (a Hub id is at most 96 characters; a
/// path on the publisher's machine may be longer).
pub const MAX_FIELD: usize = 512;

/// Whether a root file may hold a model's weights (training state and adapter files aside).
fn model_weights(path: &str) -> bool {
    let other = !path.contains('/') && [".safetensors", ".gguf"].iter().any(|e| path.ends_with(e));
    !WEIGHTS.contains(&path) && (other || super::pytorch::root_checkpoint(path))
}

/// The adapter an adapter-only repository holds (`None` for any other): what `adapter_config.json`
/// says of it, and why that file could not be used (a warning) when it could not.
pub fn read(ctx: &Ctx) -> Result<Option<(Adapter, Option<String>)>, Miss> {
    let snap = ctx.snap;
    if !WEIGHTS.iter().any(|w| snap.has(w))
        || snap.has("model_index.json")
        || snap.has("model.safetensors.index.json")
        || snap.has("pytorch_model.bin.index.json")
        || snap.files.iter().any(|f| model_weights(f))
    {
        return Ok(None);
    }
    if !snap.has("adapter_config.json") {
        return Ok(Some((
            Adapter::default(),
            Some("adapter_config.json is missing: the base model is unknown".into()),
        )));
    }
    from_config(ctx).map(Some)
}

/// What the repository's `adapter_config.json` says of its adapter, and why it could not be used
/// (a warning) when it could not.
pub fn from_config(ctx: &Ctx) -> Result<(Adapter, Option<String>), Miss> {
    let bytes = ctx.read_small("adapter_config.json", MAX_CONFIG_BYTES)?;
    ctx.charge_json("adapter_config.json", &bytes)?;
    Ok(match crate::arch::json::parse(&bytes) {
        Ok(v) => describe(&v),
        Err(e) => (Adapter::default(), Some(format!("adapter_config.json unusable: {e}"))),
    })
}

/// The adapter a GGUF file holds when its metadata says it is one (`general.type` `adapter`, as
/// llama.cpp's `convert_lora_to_gguf.py` writes it), described by the repository's
/// `adapter_config.json` when it has one, else by the file (`adapter.type`, e.g. `lora`).
pub fn of_gguf(ctx: &Ctx, metadata: &[(String, String)]) -> Result<Option<(Adapter, Option<String>)>, Miss> {
    let get = |key: &str| metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if get("general.type") != Some("adapter") {
        return Ok(None);
    }
    let (mut adapter, warning) = match ctx.snap.has("adapter_config.json") {
        true => match from_config(ctx) {
            Ok(described) => described,
            Err(miss) if miss.stops() => return Err(miss),
            Err(miss) => (Adapter::default(), Some(format!("adapter_config.json unusable: {}", miss.message))),
        },
        false => (Adapter::default(), Some("no adapter_config.json: the base model is unknown".into())),
    };
    if adapter.peft_type.is_none() {
        adapter.peft_type = get("adapter.type").filter(|t| t.len() <= MAX_FIELD).map(str::to_owned);
    }
    Ok(Some((adapter, warning)))
}

/// The adapter `adapter_config.json` describes, and a warning for each field it gives in a form
/// that cannot be kept (not a string, too long).
fn describe(v: &Value) -> (Adapter, Option<String>) {
    let mut problems = Vec::new();
    let mut field = |name: &str| match v.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= MAX_FIELD => Some(s.clone()),
        Some(Value::String(s)) => {
            problems.push(format!("its {name} is {} bytes long, over {MAX_FIELD}", s.len()));
            None
        }
        Some(_) => {
            problems.push(format!("its {name} is not a string"));
            None
        }
    };
    let adapter = Adapter { base_model: field("base_model_name_or_path"), peft_type: field("peft_type") };
    let warning = (!problems.is_empty()).then(|| format!("adapter_config.json: {} (not kept)", problems.join("; ")));
    (adapter, warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_kept_only_as_short_strings() {
        let v = serde_json::json!({"base_model_name_or_path": "meta-llama/Llama-3.1-8B", "peft_type": "LORA", "r": 8});
        let (a, w) = describe(&v);
        assert_eq!(
            (a.base_model.as_deref(), a.peft_type.as_deref(), w),
            (Some("meta-llama/Llama-3.1-8B"), Some("LORA"), None)
        );
        let v = serde_json::json!({"base_model_name_or_path": 7, "peft_type": "x".repeat(MAX_FIELD + 1)});
        let (a, w) = describe(&v);
        assert_eq!(a, Adapter::default());
        let w = w.unwrap();
        assert!(w.contains("base_model_name_or_path is not a string") && w.contains("over 512"), "{w}");
        assert_eq!(describe(&serde_json::json!({"base_model_name_or_path": null})), (Adapter::default(), None));
    }

    #[test]
    fn model_weights_beside_an_adapter_make_a_model() {
        for model in ["model.safetensors", "pytorch_model.bin", "model.pt", "m.gguf"] {
            assert!(model_weights(model), "{model}");
        }
        for not in [
            "adapter_model.safetensors",
            "adapter_model.bin",
            "pytorch_lora_weights.bin",
            "training_args.bin",
            "rng_state_0.pth",
            "x/model.safetensors",
            "config.json",
        ] {
            assert!(!model_weights(not), "{not}");
        }
    }
}
