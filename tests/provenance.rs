//! Where a record's numbers come from, and files that cannot back them: every record names its
//! source (the Hub, with a non-default endpoint, or a local folder, whose tried lines speak of the
//! folder); weights files without tensors, tensors held twice, diffusers components stored in
//! other forms, and adapter-only repositories never make an exact record of the wrong number.

mod support;

use std::collections::BTreeMap;

use capcache::id::ModelId;
use capcache::record::{Failure, Origin, Record, Strategy};
use capcache::source::Source;
use capcache::source::hub::{HubSettings, HubSource};
use capcache::source::local::LocalSource;
use capcache::strategy::{self, Options};
use support::hub::{FixtureHub, Repo};
use support::{per_dtype, safetensors_file, stored_zip, t};

const NOW: &str = "2026-11-26T03:00:00Z";

fn resolve_with(source: &dyn Source, id: &str) -> Result<Record, Failure> {
    strategy::resolve(source, &ModelId::parse(id).unwrap(), "main", &Options::default(), NOW)
}

fn resolve(hub: &FixtureHub, id: &str) -> Result<Record, Failure> {
    resolve_with(&HubSource::new(HubSettings::new(&hub.url)).unwrap(), id)
}

fn gpt2_tied() -> std::path::PathBuf {
    support::fixtures().join("pytorch/gpt2-tied")
}

#[test]
fn records_name_their_source_and_a_folder_is_called_a_folder() {
    let hub = FixtureHub::start();
    let ts = [t("w", "BF16", &[10, 10])];
    hub.add("o/m", Repo::new("o/m").bytes("model.safetensors", safetensors_file(&ts)));
    let r = resolve(&hub, "o/m").unwrap();
    assert_eq!(r.source, Some(Origin::Hub));
    assert_eq!(r.endpoint.as_deref(), Some(hub.url.trim_end_matches('/')), "not the default endpoint: named");
    let text = serde_json::to_value(&r).unwrap();
    assert_eq!(text["source"], "hub");
    let summary = capcache::summary::record("o/m", &r);
    assert!(summary.contains(&format!("revision        {}\n", r.revision)), "a Hub commit, as is: {summary}");
    // Credentials an endpoint URL carries never reach the record (records are published).
    let with_secret = hub.url.replacen("http://", "http://user:s3cret@", 1);
    let r = resolve_with(&HubSource::new(HubSettings::new(&with_secret)).unwrap(), "o/m").unwrap();
    assert_eq!(r.endpoint.as_deref(), Some(hub.url.trim_end_matches('/')));
    assert!(!serde_json::to_string(&r).unwrap().contains("s3cret"));

    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("facebook/opt-125m");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::copy(gpt2_tied().join("config.json"), model.join("config.json")).unwrap();
    let r = resolve_with(&LocalSource::new(dir.path()), "facebook/opt-125m").unwrap();
    assert_eq!((r.source, r.endpoint.as_deref()), (Some(Origin::Local), None));
    let lines: Vec<String> = r.tried.iter().map(|t| t.message.clone().unwrap_or_default()).collect();
    assert!(lines.iter().all(|l| !l.contains("repository") && !l.contains("for this revision")), "{lines:?}");
    assert!(lines.iter().any(|l| l == "no PyTorch weights in the folder"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "a local folder has no Hub metadata"), "{lines:?}");
    let summary = capcache::summary::record("facebook/opt-125m", &r);
    assert!(summary.contains("source          local"), "{summary}");
    let revision = format!("revision        {} (local snapshot, not a Hub commit)\n", r.revision);
    assert!(summary.contains(&revision), "a folder's revision is not presented as a Hub commit: {summary}");
}

#[test]
fn weight_files_without_tensors_make_no_exact_record() {
    let hub = FixtureHub::start();
    // A safetensors file whose header holds no tensor.
    hub.add("o/empty-st", Repo::new("o/empty-st").bytes("model.safetensors", safetensors_file(&[])));
    let f = resolve(&hub, "o/empty-st").unwrap_err();
    assert!(f.tried.iter().any(|t| t.strategy == Strategy::Safetensors && t.outcome == "invalid-file"), "{f:?}");
    assert!(f.tried.iter().any(|t| t.message.as_deref().unwrap_or("").contains("holds no tensors")), "{f:?}");
    // A checkpoint whose pickle is an empty dict: `torch.save({}, f)`.
    let pickle: &[u8] = b"\x80\x02}q\x00.";
    let zip = stored_zip(&[("archive/data.pkl", pickle), ("archive/version", b"3\n")], None);
    hub.add("o/empty-pt", Repo::new("o/empty-pt").bytes("pytorch_model.bin", zip));
    let f = resolve(&hub, "o/empty-pt").unwrap_err();
    let pt = f.tried.iter().find(|t| t.strategy == Strategy::Pytorch).unwrap();
    assert_eq!(pt.outcome, "invalid-file", "{f:?}");
    // With a config, the chain falls to an estimate: never an exact 0.
    let config = std::fs::read(gpt2_tied().join("config.json")).unwrap();
    hub.with_repo("o/empty-pt", |r| *r = r.clone().bytes("config.json", config));
    let r = resolve(&hub, "o/empty-pt").unwrap();
    assert!(!r.exact && r.total > 0, "{r:?}");
}

#[test]
fn tensors_held_twice_are_never_summed_into_an_exact_record() {
    let hub = FixtureHub::start();
    // Two byte-identical shards.
    let ts = [t("a", "F32", &[4, 4]), t("b", "F32", &[4])];
    let shard = safetensors_file(&ts);
    let index = serde_json::json!({"metadata": {}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}});
    hub.add(
        "o/twins",
        Repo::new("o/twins")
            .bytes("model.safetensors.index.json", index.to_string())
            .bytes("model-00001-of-00002.safetensors", shard.clone())
            .bytes("model-00002-of-00002.safetensors", shard),
    );
    let f = resolve(&hub, "o/twins").unwrap_err();
    let st = f.tried.iter().find(|t| t.strategy == Strategy::Safetensors).unwrap();
    assert_eq!(st.outcome, "invalid-file", "{f:?}");
    assert!(st.message.as_deref().unwrap().contains("count it twice"), "{f:?}");
    // The same tensor name in two different shards of one index.
    let one = safetensors_file(&[t("a", "F32", &[4, 4]), t("c", "F32", &[2])]);
    let two = safetensors_file(&[t("b", "F32", &[4]), t("c", "F32", &[2])]);
    let index = serde_json::json!({"metadata": {}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
        "c": "model-00001-of-00002.safetensors"}});
    hub.add(
        "o/overlap",
        Repo::new("o/overlap")
            .bytes("model.safetensors.index.json", index.to_string())
            .bytes("model-00001-of-00002.safetensors", one)
            .bytes("model-00002-of-00002.safetensors", two),
    );
    assert!(resolve(&hub, "o/overlap").is_err_and(|f| f.tried.iter().any(|t| t.outcome == "invalid-file")));
    // A root model.pt beside its EMA copy.
    let bin = std::fs::read(gpt2_tied().join("pytorch_model.bin")).unwrap();
    hub.add("o/ema", Repo::new("o/ema").bytes("model.pt", bin.clone()).bytes("model_ema.pt", bin.clone()));
    let f = resolve(&hub, "o/ema").unwrap_err();
    let pt = f.tried.iter().find(|t| t.strategy == Strategy::Pytorch).unwrap();
    assert!(pt.message.as_deref().unwrap().contains("model.pt"), "{f:?}");
    // One of them alone is an exact record.
    hub.add("o/one", Repo::new("o/one").bytes("model.pt", bin));
    let r = resolve(&hub, "o/one").unwrap();
    assert!(r.exact);
    let expected: BTreeMap<String, u64> = serde_json::from_value(
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(gpt2_tied().join("expected.json")).unwrap())
            .unwrap()["parameters"]
            .clone(),
    )
    .unwrap();
    assert_eq!(r.parameters, expected);
    let _ = per_dtype(&ts);
}

#[test]
fn an_adapter_only_repository_is_recorded_as_an_adapter_of_its_base_model() {
    let hub = FixtureHub::start();
    let lora = [
        t("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "BF16", &[8, 64]),
        t("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", "BF16", &[64, 8]),
    ];
    let adapter_config = r#"{"base_model_name_or_path": "meta-llama/Llama-3.1-8B", "peft_type": "LORA", "r": 8}"#;
    // The base model's config.json beside it, as some adapter repositories keep it.
    let base_config = std::fs::read(support::fixtures().join("configs/meta-llama__Llama-3.1-8B.json")).unwrap();
    hub.add(
        "o/lora",
        Repo::new("o/lora")
            .bytes("adapter_config.json", adapter_config)
            .bytes("adapter_model.safetensors", safetensors_file(&lora))
            .bytes("config.json", base_config.clone()),
    );
    let r = resolve(&hub, "o/lora").unwrap();
    assert_eq!((r.strategy, r.exact, r.total, r.logical_parameters), (Strategy::Safetensors, true, 1024, 1024));
    assert_eq!(r.parameters, per_dtype(&lora));
    let a = r.adapter.as_ref().expect("recorded as an adapter");
    assert_eq!((a.base_model.as_deref(), a.peft_type.as_deref()), (Some("meta-llama/Llama-3.1-8B"), Some("LORA")));
    assert!(r.cross_check.is_empty(), "the base model's config is no check of an adapter: {:?}", r.cross_check);
    assert_eq!(r.dtype.as_deref(), Some("BF16"), "the adapter's own dtype");
    assert!(r.warnings.iter().any(|w| w.contains("an adapter (LORA), not a model")), "{:?}", r.warnings);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["adapter"], serde_json::json!({"base_model": "meta-llama/Llama-3.1-8B", "peft_type": "LORA"}));
    let summary = capcache::summary::record("o/lora", &r);
    assert!(summary.contains("adapter         LORA, not a model; base model meta-llama/Llama-3.1-8B"), "{summary}");

    // The Hub's metadata of an adapter counts the adapter: its logical count is not the base model's estimate.
    hub.with_repo("o/lora", |r| *r = r.clone().api_safetensors(&per_dtype(&lora)));
    let r = resolve(&hub, "o/lora").unwrap();
    assert_eq!((r.strategy, r.total, r.logical_parameters), (Strategy::HubMetadata, 1024, 1024));
    assert!(r.adapter.is_some());

    // Adapter weights that cannot be read make no estimate of the base model in the adapter's name.
    hub.add(
        "o/lora-empty",
        Repo::new("o/lora-empty")
            .bytes("adapter_config.json", adapter_config)
            .bytes("adapter_model.safetensors", safetensors_file(&[]))
            .bytes("config.json", base_config.clone()),
    );
    let f = resolve(&hub, "o/lora-empty").unwrap_err();
    let config = f.tried.iter().find(|t| t.strategy == Strategy::Config).unwrap();
    assert!(config.message.as_deref().unwrap().contains("adapter-only"), "{f:?}");

    // A pickled adapter, whose config names its base in a hostile or a wrong form.
    let bin = std::fs::read(gpt2_tied().join("pytorch_model.bin")).unwrap();
    let evil = r#"{"base_model_name_or_path": "evil\u001b[2J\nbase", "peft_type": ["LORA"]}"#;
    hub.add(
        "o/lora-bin",
        Repo::new("o/lora-bin").bytes("adapter_config.json", evil).bytes("adapter_model.bin", bin.clone()),
    );
    let r = resolve(&hub, "o/lora-bin").unwrap();
    assert_eq!((r.strategy, r.files.as_slice()), (Strategy::Pytorch, ["adapter_model.bin".to_owned()].as_slice()));
    let a = r.adapter.as_ref().unwrap();
    assert_eq!((a.base_model.as_deref(), a.peft_type.as_deref()), (Some("evil\u{1b}[2J\nbase"), None));
    assert!(r.warnings.iter().any(|w| w.contains("peft_type is not a string")), "{:?}", r.warnings);
    let summary = capcache::summary::record("o/lora-bin", &r);
    assert!(summary.contains("adapter         PEFT, not a model; base model evil\\u{1b}[2J\\nbase"), "{summary}");
    let long = format!(r#"{{"base_model_name_or_path": "{}"}}"#, "x".repeat(513));
    hub.with_repo("o/lora-bin", |r| *r = r.clone().bytes("adapter_config.json", long));
    let r = resolve(&hub, "o/lora-bin").unwrap();
    assert_eq!(r.adapter.as_ref().unwrap().base_model, None, "over the cap: not kept");

    // A diffusers LoRA (no adapter_config.json): an adapter of an unnamed base, never the model.
    hub.add("o/sd-lora", Repo::new("o/sd-lora").bytes("pytorch_lora_weights.safetensors", safetensors_file(&lora)));
    hub.add("o/sd-lora-bin", Repo::new("o/sd-lora-bin").bytes("pytorch_lora_weights.bin", bin.clone()));
    for id in ["o/sd-lora", "o/sd-lora-bin"] {
        let r = resolve(&hub, id).unwrap();
        assert_eq!(r.adapter, Some(capcache::record::Adapter::default()), "{id}: {r:?}");
        assert!(r.warnings.iter().any(|w| w.contains("the base model is unknown")), "{id}: {:?}", r.warnings);
    }

    // A model's weights beside an adapter make a model, and the adapter is not summed into it.
    hub.add(
        "o/merged",
        Repo::new("o/merged")
            .bytes("adapter_config.json", adapter_config)
            .bytes("adapter_model.safetensors", safetensors_file(&lora))
            .bytes("adapter_model.bin", bin.clone())
            .bytes("model.pt", bin),
    );
    let r = resolve(&hub, "o/merged").unwrap();
    assert_eq!((r.adapter.as_ref(), r.files.as_slice()), (None, ["model.pt".to_owned()].as_slice()), "{r:?}");
}

#[test]
fn diffusers_components_stored_as_variants_or_pickles_are_counted_or_named() {
    let hub = FixtureHub::start();
    let index = r#"{"_class_name": "StableDiffusionPipeline", "text_encoder": ["transformers", "CLIPTextModel"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "scheduler": ["diffusers", "PNDMScheduler"], "tokenizer": ["transformers", "CLIPTokenizer"]}"#;
    let text_encoder = [t("text_model.embeddings.token_embedding.weight", "F32", &[20, 25])];
    let (unet_a, unet_b) =
        ([t("conv_in.weight", "F16", &[32, 4, 3, 3])], [t("conv_out.weight", "F16", &[4, 32, 3, 3])]);
    let unet_index = serde_json::json!({"metadata": {}, "weight_map": {
        "conv_in.weight": "diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
        "conv_out.weight": "diffusion_pytorch_model.fp16-00002-of-00002.safetensors"}});
    let vae_bin = std::fs::read(gpt2_tied().join("pytorch_model.bin")).unwrap();
    let pipeline = Repo::new("o/pipeline")
        .bytes("model_index.json", index)
        .bytes("text_encoder/model.safetensors", safetensors_file(&text_encoder))
        .bytes("unet/diffusion_pytorch_model.safetensors.index.fp16.json", unet_index.to_string())
        .bytes("unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors", safetensors_file(&unet_a))
        .bytes("unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors", safetensors_file(&unet_b))
        .bytes("unet/diffusion_pytorch_model.non_ema.safetensors", safetensors_file(&[t("x", "F32", &[1])]))
        .bytes("vae/diffusion_pytorch_model.bin", vae_bin.clone())
        .bytes("scheduler/scheduler_config.json", "{}")
        .bytes("tokenizer/vocab.json", "{}");
    hub.add("o/pipeline", pipeline.clone());
    let r = resolve(&hub, "o/pipeline").unwrap();
    // 500 + 2 x 1,152 + gpt2-tied's 140,288: every component, the unet's shards once each.
    let vae = 140_288;
    assert_eq!((r.strategy, r.exact), (Strategy::Safetensors, true));
    assert_eq!(r.total, 500 + 2 * 1_152 + vae, "{r:?}");
    assert_eq!(r.parameters, BTreeMap::from([("F16".to_owned(), 2_304), ("F32".to_owned(), 500 + vae)]));
    assert_eq!(
        r.files,
        [
            "text_encoder/model.safetensors",
            "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
            "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
            "vae/diffusion_pytorch_model.bin",
        ]
    );
    assert!(
        r.warnings.iter().any(|w| w.contains("unet: its fp16 variant counted") && w.contains("non_ema")),
        "{:?}",
        r.warnings
    );
    // With default weights beside the variant, the default is counted and the variant is not added.
    let unet = [t("conv_in.weight", "F32", &[32, 4, 3, 3]), t("conv_out.weight", "F32", &[4, 32, 3, 3])];
    hub.add(
        "o/pipeline-default",
        pipeline.clone().bytes("unet/diffusion_pytorch_model.safetensors", safetensors_file(&unet)),
    );
    let r = resolve(&hub, "o/pipeline-default").unwrap();
    assert_eq!(r.parameters, BTreeMap::from([("F32".to_owned(), 500 + 2_304 + vae)]));
    assert!(r.warnings.iter().all(|w| !w.contains("variant")), "{:?}", r.warnings);
    // A component in a form no strategy reads: no exact record of the rest, and the failure names it.
    let mut onnx = pipeline;
    onnx.files.retain(|path, _| !path.starts_with("vae/"));
    hub.add("o/pipeline-onnx", onnx.bytes("vae/model.onnx", vec![0u8; 64]));
    let f = resolve(&hub, "o/pipeline-onnx").unwrap_err();
    let st = f.tried.iter().find(|t| t.strategy == Strategy::Safetensors).unwrap();
    assert_eq!(st.outcome, "invalid-file", "{f:?}");
    assert!(st.message.as_deref().unwrap().contains("vae (vae/model.onnx)"), "{f:?}");
    assert!(f.message.contains("vae/model.onnx"), "the failure says what was left out: {f:?}");

    // A single diffusers model at the root (a ControlNet), stored only as its fp16 variant.
    let config = r#"{"_class_name": "ControlNetModel", "_diffusers_version": "0.30.0"}"#;
    let net = [t("conv_in.weight", "F16", &[32, 4, 3, 3])];
    hub.add(
        "o/controlnet",
        Repo::new("o/controlnet")
            .bytes("config.json", config)
            .bytes("diffusion_pytorch_model.fp16.safetensors", safetensors_file(&net)),
    );
    let r = resolve(&hub, "o/controlnet").unwrap();
    assert_eq!((r.strategy, r.exact, r.total), (Strategy::Safetensors, true, 1_152), "{r:?}");
    assert!(r.warnings.iter().any(|w| w.contains("the model: its fp16 variant counted")), "{:?}", r.warnings);
    // Its default .bin beside an fp16 .bin: the default, once (not both summed).
    hub.add(
        "o/vae-bins",
        Repo::new("o/vae-bins")
            .bytes("config.json", config)
            .bytes("diffusion_pytorch_model.bin", vae_bin.clone())
            .bytes("diffusion_pytorch_model.fp16.bin", vae_bin),
    );
    let r = resolve(&hub, "o/vae-bins").unwrap();
    assert_eq!((r.total, r.files.as_slice()), (vae, ["diffusion_pytorch_model.bin".to_owned()].as_slice()));
}

/// A GGUF v3 file of F32 tensors with string metadata.
fn gguf_file(kv: &[(&str, &str)], tensors: &[(&str, &[u64])]) -> Vec<u8> {
    let string = |v: &mut Vec<u8>, s: &str| {
        v.extend_from_slice(&(s.len() as u64).to_le_bytes());
        v.extend_from_slice(s.as_bytes());
    };
    let mut v = b"GGUF".to_vec();
    v.extend_from_slice(&3u32.to_le_bytes());
    v.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    v.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (k, value) in kv {
        string(&mut v, k);
        v.extend_from_slice(&8u32.to_le_bytes());
        string(&mut v, value);
    }
    let mut offset = 0u64;
    for (name, dims) in tensors {
        string(&mut v, name);
        v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| v.extend_from_slice(&d.to_le_bytes()));
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&offset.to_le_bytes());
        offset += (dims.iter().product::<u64>() * 4).div_ceil(32) * 32;
    }
    v.resize(v.len().div_ceil(32) * 32 + offset as usize, 0);
    v
}

#[test]
fn a_gguf_adapter_is_recorded_as_an_adapter() {
    let hub = FixtureHub::start();
    let kv = [("general.architecture", "llama"), ("general.type", "adapter"), ("adapter.type", "lora")];
    let tensors: [(&str, &[u64]); 2] =
        [("blk.0.attn_q.weight.lora_a", &[64, 8]), ("blk.0.attn_q.weight.lora_b", &[8, 64])];
    hub.add("o/lora-gguf", Repo::new("o/lora-gguf").bytes("lora-f32.gguf", gguf_file(&kv, &tensors)));
    let r = resolve(&hub, "o/lora-gguf").unwrap();
    assert_eq!((r.strategy, r.total), (Strategy::Gguf, 1024));
    let a = r.adapter.as_ref().expect("the file says it is an adapter");
    assert_eq!((a.base_model.as_deref(), a.peft_type.as_deref()), (None, Some("lora")));
    assert!(r.warnings.iter().any(|w| w.contains("the base model is unknown")), "{:?}", r.warnings);
    // Beside PEFT's own files, adapter_config.json names the base.
    let config = r#"{"base_model_name_or_path": "meta-llama/Llama-3.2-1B", "peft_type": "LORA"}"#;
    hub.with_repo("o/lora-gguf", |r| *r = r.clone().bytes("adapter_config.json", config));
    let r = resolve(&hub, "o/lora-gguf").unwrap();
    let a = r.adapter.as_ref().unwrap();
    assert_eq!((a.base_model.as_deref(), a.peft_type.as_deref()), (Some("meta-llama/Llama-3.2-1B"), Some("LORA")));
    // An adapter_config.json over its cap costs the base model's name, not the record.
    let huge = format!(r#"{{"base_model_name_or_path": "x", "pad": "{}"}}"#, " ".repeat(2 << 20));
    hub.with_repo("o/lora-gguf", |r| *r = r.clone().bytes("adapter_config.json", huge));
    let r = resolve(&hub, "o/lora-gguf").unwrap();
    assert_eq!(r.adapter.as_ref().map(|a| a.base_model.clone()), Some(None), "{r:?}");
    assert!(r.warnings.iter().any(|w| w.starts_with("adapter_config.json unusable")), "{:?}", r.warnings);
    // A model's GGUF is no adapter.
    let model = [("general.architecture", "llama"), ("general.type", "model")];
    hub.add("o/model-gguf", Repo::new("o/model-gguf").bytes("m-f32.gguf", gguf_file(&model, &tensors)));
    assert_eq!(resolve(&hub, "o/model-gguf").unwrap().adapter, None);
}
