//! The hub-metadata and safetensors strategies against the fixture hub: a real published
//! checkpoint, a 70B-scale sharded FP8 checkpoint served from its headers, GPTQ and AWQ layouts,
//! and malformed files.

mod support;

use std::collections::BTreeMap;

use capcache::id::ModelId;
use capcache::record::Strategy;
use capcache::source::hub::{HubSettings, HubSource};
use capcache::strategy::{self, Options};
use support::hub::{FixtureHub, Repo};
use support::world::{llama70b_fp8, sharded_repo};
use support::{T, per_dtype, safetensors_file, t};

fn client(hub: &FixtureHub) -> HubSource {
    HubSource::new(HubSettings::new(&hub.url)).unwrap()
}

fn resolve(hub: &FixtureHub, id: &str, opts: &Options) -> Result<capcache::record::Record, capcache::record::Failure> {
    strategy::resolve(&client(hub), &ModelId::parse(id).unwrap(), "main", opts, "2026-11-26T03:00:00Z")
}

#[test]
fn real_minilm_resolves_from_its_header_in_two_resolve_requests() {
    let hub = FixtureHub::start();
    let id = "sentence-transformers/all-MiniLM-L6-v2";
    hub.add(id, Repo::from_dir(id, &support::minilm_dir()));
    let r = resolve(&hub, id, &Options::default()).unwrap();
    assert_eq!(r.strategy, "safetensors");
    assert_eq!(r.parameters, BTreeMap::from([("F32".to_owned(), 22_713_216), ("I64".to_owned(), 512)]));
    assert_eq!(r.total, 22_713_728);
    assert_eq!(r.logical_parameters, 22_713_216, "position_ids is a buffer");
    assert_eq!(r.weight_bytes, 22_713_216 * 4 + 512 * 8);
    assert_eq!(r.cross_check.get(&Strategy::Config), Some(&22_713_216));
    assert_eq!(r.tried[0].strategy, "hub-metadata");
    assert_eq!(r.tried[0].outcome, "absent");
    assert_eq!(r.revision, support::hub::sha_of(id));
    let resolves: Vec<_> = hub.hits_for(id).into_iter().filter(|h| !h.cdn && h.target.contains("/resolve/")).collect();
    assert!(resolves.len() <= 2, "{resolves:#?}");
    assert!(hub.bytes_for(id) < 200_000, "read {} bytes of a 90 MB file", hub.bytes_for(id));
}

#[test]
fn fp8_70b_in_30_shards_resolves_exactly_with_one_range_request_per_shard() {
    let tensors = llama70b_fp8();
    let expected = per_dtype(&tensors);
    let id = "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic";
    let hub = FixtureHub::start();
    hub.add(id, sharded_repo(id, &tensors, 30));
    let r = resolve(&hub, id, &Options::default()).unwrap();
    assert_eq!(r.strategy, "safetensors");
    assert_eq!(r.parameters, expected);
    assert!(r.parameters["F8_E4M3"] > 60_000_000_000);
    assert_eq!(r.files.len(), 30);
    assert_eq!(r.logical_parameters, 70_553_706_496, "scales excluded: the unquantized Llama 70B count");
    assert_eq!(r.cross_check[&Strategy::Config], r.logical_parameters);
    assert_eq!(r.weight_bytes, expected["F8_E4M3"] + 2 * expected["BF16"]);
    assert_eq!(r.architecture.as_ref().unwrap().quantization.as_ref().unwrap().method, "compressed-tensors");
    for i in 1..=30 {
        let shard = format!("model-{i:05}-of-00030.safetensors");
        let reads: Vec<_> = hub.hits_for(id).into_iter().filter(|h| h.cdn && h.target.contains(&shard)).collect();
        assert_eq!(reads.len(), 1, "{shard}: {reads:#?}");
    }
    assert!(hub.bytes_for(id) < 1_000_000, "{} bytes", hub.bytes_for(id));

    // With the Hub's metadata, one API call answers and no shard is read.
    hub.with_repo(id, |r| *r = r.clone().api_safetensors(&expected));
    hub.clear_log();
    let r = resolve(&hub, id, &Options::default()).unwrap();
    assert_eq!(r.strategy, "hub-metadata");
    assert_eq!(r.parameters, expected);
    assert_eq!(r.logical_parameters, 70_553_706_496);
    assert!(hub.hits_for(id).iter().all(|h| !h.cdn), "no weight file read");

    // --verify reads the headers too and agrees.
    let verify = Options { verify: true, ..Options::default() };
    let r = resolve(&hub, id, &verify).unwrap();
    assert_eq!(r.cross_check[&Strategy::Safetensors], r.total);
    assert!(r.warnings.iter().all(|w| !w.contains("headers say")), "{:?}", r.warnings);
}

/// A tiny llama quantized with `layout` ("gptq" or "awq") at 4 bits, group 128.
fn quantized_llama(layout: &str) -> (Vec<T>, String) {
    let (h, inter, layers, heads, vocab, g) = (256u64, 512u64, 2, 4, 1000u64, 128u64);
    let mut v = vec![t("model.embed_tokens.weight", "F16", &[vocab, h]), t("lm_head.weight", "F16", &[vocab, h])];
    for i in 0..layers {
        for (name, out, inp) in [
            ("self_attn.q_proj", h, h),
            ("self_attn.k_proj", h, h),
            ("self_attn.v_proj", h, h),
            ("self_attn.o_proj", h, h),
            ("mlp.gate_proj", inter, h),
            ("mlp.up_proj", inter, h),
            ("mlp.down_proj", h, inter),
        ] {
            let p = format!("model.layers.{i}.{name}");
            if layout == "gptq" {
                v.push(t(format!("{p}.qweight"), "I32", &[inp / 8, out]));
                v.push(t(format!("{p}.qzeros"), "I32", &[inp / g, out / 8]));
                v.push(t(format!("{p}.scales"), "F16", &[inp / g, out]));
                v.push(t(format!("{p}.g_idx"), "I32", &[inp]));
            } else {
                v.push(t(format!("{p}.qweight"), "I32", &[inp, out / 8]));
                v.push(t(format!("{p}.qzeros"), "I32", &[inp / g, out / 8]));
                v.push(t(format!("{p}.scales"), "F16", &[inp / g, out]));
            }
        }
        v.push(t(format!("model.layers.{i}.input_layernorm.weight"), "F16", &[h]));
        v.push(t(format!("model.layers.{i}.post_attention_layernorm.weight"), "F16", &[h]));
    }
    v.push(t("model.norm.weight", "F16", &[h]));
    let quant = if layout == "gptq" {
        r#"{"quant_method":"gptq","bits":4,"group_size":128,"desc_act":false}"#
    } else {
        r#"{"quant_method":"awq","bits":4,"group_size":128,"version":"gemm","zero_point":true}"#
    };
    let config = format!(
        r#"{{"model_type":"llama","architectures":["LlamaForCausalLM"],"hidden_size":{h},"intermediate_size":{inter},
        "num_hidden_layers":{layers},"num_attention_heads":{heads},"vocab_size":{vocab},"torch_dtype":"float16",
        "quantization_config":{quant}}}"#
    );
    (v, config)
}

#[test]
fn gptq_and_awq_count_raw_storage_and_unpacked_logical_parameters() {
    let (h, inter, layers, vocab) = (256u64, 512u64, 2u64, 1000u64);
    let unquantized = 2 * vocab * h + layers * (4 * h * h + 3 * h * inter + 2 * h) + h;
    for layout in ["gptq", "awq"] {
        let (tensors, config) = quantized_llama(layout);
        let id = format!("test/tiny-llama-{layout}");
        let hub = FixtureHub::start();
        hub.add(
            &id,
            Repo::new(&id).bytes("config.json", config.clone()).bytes("model.safetensors", safetensors_file(&tensors)),
        );
        let r = resolve(&hub, &id, &Options::default()).unwrap();
        assert_eq!(r.parameters, per_dtype(&tensors), "{layout}");
        assert_eq!(r.logical_parameters, unquantized, "{layout}");
        let est = capcache::arch::estimate(&serde_json::from_str(&config).unwrap()).unwrap();
        assert_eq!(est.logical, unquantized);
        assert_eq!(r.cross_check[&Strategy::Config], unquantized);
        assert_eq!(r.architecture.unwrap().quantization.unwrap().bits, Some(4));
        // The config strategy predicts the stored layout of the same checkpoint.
        let predicted: u64 = est.parameters.values().sum();
        assert_eq!(predicted, r.total, "{layout}: predicted {:?} vs stored {:?}", est.parameters, r.parameters);
    }
}

fn bad_file(json: &str, declared_len: Option<u64>, data: usize) -> Vec<u8> {
    let mut v = declared_len.unwrap_or(json.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v.extend(std::iter::repeat_n(0u8, data));
    v
}

#[test]
fn malformed_checkpoints_each_fail_with_their_own_clear_error() {
    let ok = r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("past-end", bad_file(ok, Some(5000), 4), "runs past the end"),
        ("over-cap", bad_file(ok, Some(200_000_000), 4), "over the 100000000-byte limit"),
        ("bad-json", bad_file("{\"a\": [", None, 0), "not valid JSON"),
        (
            "overlap",
            bad_file(
                r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}"#,
                None,
                6,
            ),
            "starts at byte 2 of the data section, expected 4",
        ),
        (
            "out-of-range",
            bad_file(r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, None, 2),
            "end at byte 4 of the data section, but it is 2 bytes long",
        ),
        ("shape", bad_file(r#"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}"#, None, 4), "needs 6 bytes"),
    ];
    let hub = FixtureHub::start();
    let only = Options { strategies: vec![Strategy::Safetensors], ..Options::default() };
    for (name, bytes, says) in cases {
        let id = format!("bad/{name}");
        hub.add(&id, Repo::new(&id).bytes("model.safetensors", bytes));
        let f = resolve(&hub, &id, &only).unwrap_err();
        assert_eq!(f.outcome, "invalid-file", "{name}: {f:?}");
        assert!(f.message.contains(says) && f.message.contains("model.safetensors"), "{name}: {}", f.message);
    }
    let id = "bad/index-traversal";
    let index = r#"{"weight_map":{"a":"../x.safetensors"}}"#;
    hub.add(id, Repo::new(id).bytes("model.safetensors.index.json", index));
    let f = resolve(&hub, id, &only).unwrap_err();
    assert!(f.message.contains("unsafe shard") && f.message.contains("../x.safetensors"), "{}", f.message);
    assert!(hub.hits_for(id).iter().all(|h| !h.target.contains("x.safetensors")), "the shard was not requested");
}

#[test]
fn gated_and_missing_models_fail_with_their_outcome() {
    let hub = FixtureHub::start();
    let gated = support::hub::Faults { gated: true, ..Default::default() };
    hub.add(
        "org/gated",
        Repo::new("org/gated")
            .bytes("config.json", "{}")
            .bytes("model.safetensors", safetensors_file(&[t("a", "F16", &[2])]))
            .faults(gated),
    );
    let f = resolve(&hub, "org/gated", &Options::default()).unwrap_err();
    assert_eq!(f.outcome, "gated");
    assert!(f.message.contains("token"));
    let f = resolve(&hub, "org/none", &Options::default()).unwrap_err();
    assert_eq!(f.outcome, "not-found");

    // The Hub metadata of a gated repo is public: it still answers, and says what it could not read.
    let params = BTreeMap::from([("F16".to_owned(), 2u64)]);
    hub.with_repo("org/gated", |r| *r = r.clone().api_safetensors(&params));
    let r = resolve(&hub, "org/gated", &Options::default()).unwrap();
    assert_eq!((r.strategy.as_str(), &r.parameters), ("hub-metadata", &params));
    assert!(r.warnings.iter().any(|w| w.contains("gated")), "{:?}", r.warnings);
}

#[test]
fn other_repo_layouts_are_read_too() {
    let hub = FixtureHub::start();
    let a = [t("w", "F16", &[4, 4])];
    let b = [t("x", "F32", &[8]), t("y", "BF16", &[2, 3])];
    let c = [t("dense.linear.weight", "F32", &[16, 32])];
    let mut expected = per_dtype(&a);
    for (k, v) in per_dtype(&b) {
        *expected.entry(k).or_default() += v;
    }
    // diffusers: components in folders, one of them sharded.
    let unet_index = serde_json::json!({"weight_map": {"x": "diffusion_pytorch_model-00001-of-00001.safetensors", "y": "diffusion_pytorch_model-00001-of-00001.safetensors"}});
    hub.add(
        "d/diffusers",
        Repo::new("d/diffusers")
            .bytes("model_index.json", r#"{"_class_name": "StableDiffusionPipeline", "text_encoder": ["transformers", "CLIPTextModel"], "unet": ["diffusers", "UNet2DConditionModel"], "scheduler": ["diffusers", "PNDMScheduler"]}"#)
            .bytes("text_encoder/model.safetensors", safetensors_file(&a))
            .bytes("unet/diffusion_pytorch_model.safetensors.index.json", serde_json::to_vec(&unet_index).unwrap())
            .bytes("unet/diffusion_pytorch_model-00001-of-00001.safetensors", safetensors_file(&b)),
    );
    let r = resolve(&hub, "d/diffusers", &Options::default()).unwrap();
    assert_eq!(r.parameters, expected);
    assert_eq!(r.files, ["text_encoder/model.safetensors", "unet/diffusion_pytorch_model-00001-of-00001.safetensors"]);

    // sentence-transformers with a Dense module.
    let modules = r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                      {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                      {"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#;
    hub.add(
        "s/st-dense",
        Repo::new("s/st-dense")
            .bytes("modules.json", modules)
            .bytes("model.safetensors", safetensors_file(&a))
            .bytes("1_Pooling/config.json", "{}")
            .bytes("2_Dense/model.safetensors", safetensors_file(&c)),
    );
    let r = resolve(&hub, "s/st-dense", &Options::default()).unwrap();
    assert_eq!(r.files, ["model.safetensors", "2_Dense/model.safetensors"]);
    assert_eq!(r.total, 16 + 16 * 32);
    // The same Dense folder listed a hundred times, and named by the root index too: counted once.
    let dense = r#"{"path":"2_Dense","type":"sentence_transformers.models.Dense"}"#;
    let repeated = format!("[{}]", vec![dense; 100].join(","));
    let index = serde_json::json!({"weight_map": {"w": "model.safetensors", "dense.linear.weight": "2_Dense/model.safetensors"}});
    hub.add(
        "s/st-repeated",
        Repo::new("s/st-repeated")
            .bytes("modules.json", repeated)
            .bytes("model.safetensors.index.json", serde_json::to_vec(&index).unwrap())
            .bytes("model.safetensors", safetensors_file(&a))
            .bytes("2_Dense/model.safetensors", safetensors_file(&c)),
    );
    let r = resolve(&hub, "s/st-repeated", &Options::default()).unwrap();
    assert_eq!(r.files, ["2_Dense/model.safetensors", "model.safetensors"]);
    assert_eq!(r.total, 16 + 16 * 32);

    // Mistral's consolidated file, and an adapter repo.
    hub.add("m/consolidated", Repo::new("m/consolidated").bytes("consolidated.safetensors", safetensors_file(&b)));
    assert_eq!(resolve(&hub, "m/consolidated", &Options::default()).unwrap().parameters, per_dtype(&b));
    hub.add(
        "p/adapter",
        Repo::new("p/adapter")
            .bytes("adapter_config.json", "{}")
            .bytes("adapter_model.safetensors", safetensors_file(&c)),
    );
    assert_eq!(resolve(&hub, "p/adapter", &Options::default()).unwrap().files, ["adapter_model.safetensors"]);
}

#[test]
fn hub_metadata_is_cross_checked_against_the_config_estimate_not_the_estimate_against_itself() {
    // The Hub gives per-dtype totals only, so a hub-metadata record's logical count is the config
    // strategy's: the cross-check must compare the estimate with the Hub's own total.
    let hub = FixtureHub::start();
    let id = "sentence-transformers/all-MiniLM-L6-v2";
    let agrees = BTreeMap::from([("F32".to_owned(), 22_713_216u64)]);
    hub.add(id, Repo::from_dir(id, &support::minilm_dir()).api_safetensors(&agrees));
    let r = resolve(&hub, id, &Options::default()).unwrap();
    assert_eq!(r.strategy, "hub-metadata");
    assert_eq!((r.logical_parameters, r.cross_check[&Strategy::Config]), (22_713_216, 22_713_216));
    assert!(r.warnings.iter().all(|w| !w.contains("config strategy counts")), "{:?}", r.warnings);
    let more = BTreeMap::from([("F32".to_owned(), 22_713_216u64), ("I64".to_owned(), 512)]);
    hub.with_repo(id, |r| *r = r.clone().api_safetensors(&more));
    let r = resolve(&hub, id, &Options::default()).unwrap();
    assert_eq!((r.strategy.as_str(), r.total, r.logical_parameters), ("hub-metadata", 22_713_728, 22_713_216));
    assert!(
        r.warnings.iter().any(|w| w.contains("config strategy counts 22713216") && w.contains("22713728 stored")),
        "the Hub's total differs from the estimate: {:?}",
        r.warnings
    );
}

#[test]
fn hub_metadata_that_disagrees_with_the_headers_is_recorded_not_hidden() {
    let hub = FixtureHub::start();
    let ts = [t("w", "BF16", &[10, 10])];
    let wrong = BTreeMap::from([("BF16".to_owned(), 99u64)]);
    hub.add(
        "o/disagree",
        Repo::new("o/disagree").bytes("model.safetensors", safetensors_file(&ts)).api_safetensors(&wrong),
    );
    // Without --verify the Hub's word is the record.
    let r = resolve(&hub, "o/disagree", &Options::default()).unwrap();
    assert_eq!((r.strategy, r.total), (Strategy::HubMetadata, 99));
    // With it, every number comes from the headers, never a mix, and the record says the Hub disagreed.
    let r = resolve(&hub, "o/disagree", &Options { verify: true, ..Options::default() }).unwrap();
    assert_eq!(r.strategy, "safetensors");
    assert_eq!(r.parameters, per_dtype(&ts), "the headers' counts");
    assert_eq!((r.total, r.logical_parameters, r.weight_bytes), (100, 100, 200), "all from the headers");
    assert_eq!(r.files, ["model.safetensors"]);
    assert_eq!(r.cross_check[&Strategy::HubMetadata], 99, "and what the Hub said beside it");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("the Hub metadata says") && w.contains("every number here is from the headers")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_checkpoint_storing_a_tied_head_is_counted_once_and_the_difference_stated() {
    // Qwen3-0.6B's real config ties lm_head, but its checkpoint stores it: the Hub says 751,632,384.
    let config = std::fs::read_to_string(support::fixtures().join("configs/Qwen__Qwen3-0.6B.json")).unwrap();
    let hub = FixtureHub::start();
    let hub_total = BTreeMap::from([("BF16".to_owned(), 751_632_384u64)]);
    hub.add("Qwen/Qwen3-0.6B", Repo::new("Qwen/Qwen3-0.6B").bytes("config.json", config).api_safetensors(&hub_total));
    let r = resolve(&hub, "Qwen/Qwen3-0.6B", &Options::default()).unwrap();
    assert_eq!(r.total, 751_632_384);
    assert_eq!(r.logical_parameters, 596_049_920, "transformers' count");
    assert!(r.warnings.iter().any(|w| w.contains("751632384") && w.contains("596049920")), "{:?}", r.warnings);
}

#[test]
fn a_transient_error_fails_the_model_instead_of_falling_back_to_an_estimate() {
    let hub = FixtureHub::start();
    let ts = [t("w", "BF16", &[10, 10])];
    let config = r#"{"model_type":"llama","hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":10}"#;
    let faults = support::hub::Faults { cdn_errors: 1000, ..Default::default() };
    hub.add(
        "o/flaky",
        Repo::new("o/flaky")
            .bytes("config.json", config)
            .bytes("model.safetensors", safetensors_file(&ts))
            .faults(faults),
    );
    let mut settings = HubSettings::new(&hub.url);
    settings.retry.max_attempts = 2;
    settings.retry.base_delay = std::time::Duration::from_millis(5);
    let client = HubSource::new(settings).unwrap();
    let f =
        strategy::resolve(&client, &ModelId::parse("o/flaky").unwrap(), "main", &Options::default(), "t").unwrap_err();
    assert_eq!(f.outcome, "server-error", "{f:?}");
    assert!(f.tried.iter().all(|t| t.strategy != "config"), "no estimate replaces the exact answer: {:?}", f.tried);
}

#[test]
fn verify_takes_the_routed_experts_from_the_headers_when_the_hub_metadata_lies() {
    // A crafted Mixtral (scripts/make-weight-fixtures.py --packed; transformers' own count and
    // active parameters in expected.json) whose Hub metadata and config both say the experts are
    // half as wide as the checkpoint holds them: the Hub's record takes its logical and routed
    // counts from that config, the headers' from the tensors.
    let dir = support::fixtures().join("packed/mixtral-per-expert");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    config["intermediate_size"] = 16.into();
    let hub = FixtureHub::start();
    let id = "o/moe-lies";
    let lie = BTreeMap::from([("F16".to_owned(), 70_000u64)]);
    hub.add(id, Repo::from_dir(id, &dir).bytes("config.json", config.to_string()).api_safetensors(&lie));
    let trusting = resolve(&hub, id, &Options::default()).unwrap();
    assert_eq!((trusting.strategy, trusting.total), (Strategy::HubMetadata, 70_000));
    let (logical, active) = (expected["logical"].as_u64().unwrap(), expected["active"].as_u64().unwrap());
    assert_ne!(trusting.active_parameters, Some(active), "the config's routed experts are not the checkpoint's");
    let r = resolve(&hub, id, &Options { verify: true, ..Options::default() }).unwrap();
    assert_eq!(r.strategy, "safetensors");
    assert_eq!(r.total, expected["total"].as_u64().unwrap());
    assert_eq!(r.logical_parameters, logical, "from the headers");
    assert_eq!(r.active_parameters, Some(active), "routed experts from the headers too: {:?}", r.warnings);
    assert_eq!(r.cross_check[&Strategy::HubMetadata], 70_000);
    assert!(r.warnings.iter().any(|w| w.contains("every number here is from the headers")), "{:?}", r.warnings);

    // When the Hub's stored counts agree with the headers, the record stays the Hub's, and what
    // the Hub cannot say (the logical count, the routed experts) is read from the headers too,
    // not estimated from the config.
    let truth: BTreeMap<String, u64> = serde_json::from_value(expected["parameters"].clone()).unwrap();
    hub.with_repo(id, |r| *r = r.clone().api_safetensors(&truth));
    let trusting = resolve(&hub, id, &Options::default()).unwrap();
    assert_ne!(trusting.active_parameters, Some(active), "without --verify: the config's routed experts");
    let r = resolve(&hub, id, &Options { verify: true, ..Options::default() }).unwrap();
    assert_eq!((r.strategy, r.total), (Strategy::HubMetadata, expected["total"].as_u64().unwrap()));
    assert_eq!((r.logical_parameters, r.active_parameters), (logical, Some(active)), "{:?}", r.warnings);
    assert_eq!(r.cross_check[&Strategy::Safetensors], r.total);
    assert!(r.warnings.iter().all(|w| !w.contains("logical_parameters from the config")), "{:?}", r.warnings);
}
