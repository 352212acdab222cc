//! The config strategy against transformers' own counts: for every fixture config (the real
//! published configs of `fixtures/configs`, and the configs written from transformers' config
//! classes in `fixtures/written`), `logical_parameters` must equal `transformers_count` exactly,
//! and for every mixture-of-experts config `active_parameters` must equal transformers' model
//! counted with its routed experts scaled by k/E (`written/expected_active.json`). A published
//! stored total is the estimate's `total` plus some of what `may_also_store` lists. And a config
//! with invalid values never stops the record the weights give.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Expected {
    transformers_count: u64,
}

/// A fixture config, read as Python's json reads it (the hybrid configs hold `Infinity`).
fn read(path: &Path) -> serde_json::Value {
    capcache::arch::json::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn check(expected: &str, config_dir: &str, file_of: fn(&str) -> String, at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: BTreeMap<String, Expected> =
        serde_json::from_str(&std::fs::read_to_string(dir.join(expected)).unwrap()).unwrap();
    assert!(expected.len() >= at_least);
    let mut failures = Vec::new();
    for (id, e) in &expected {
        let path = dir.join(config_dir).join(file_of(id));
        let config = read(&path);
        match capcache::arch::estimate(&config) {
            Ok(est) if est.logical == e.transformers_count && !est.approximate => {}
            Ok(est) => failures.push(format!(
                "{id}: {} (family {}, approximate {}), transformers says {} (diff {})",
                est.logical,
                est.family,
                est.approximate,
                e.transformers_count,
                i128::from(est.logical) - i128::from(e.transformers_count)
            )),
            Err(err) => failures.push(format!("{id}: {err}")),
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn published_configs_match_transformers_exactly() {
    check("expected_counts.json", "configs", |id| format!("{}.json", id.replace('/', "__")), 23);
}

#[test]
fn written_configs_of_the_other_families_match_transformers_exactly() {
    check("written/expected_counts.json", "written", |name| format!("{name}.json"), 29);
}

#[test]
fn every_registered_family_has_a_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = std::collections::BTreeSet::new();
    for sub in ["configs", "written"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() == "expected_counts.json" {
                continue;
            }
            if path.file_name().unwrap().to_str().unwrap().starts_with("expected_") {
                continue;
            }
            let v = read(&path);
            seen.insert(v["model_type"].as_str().unwrap().to_owned());
            if let Some(t) = v.get("text_config").and_then(|t| t.get("model_type")).and_then(|t| t.as_str()) {
                seen.insert(t.to_owned());
            }
        }
    }
    let missing: Vec<_> = capcache::arch::supported().filter(|t| !seen.contains(*t)).collect();
    assert!(missing.is_empty(), "families without a fixture: {missing:?}");
}

#[test]
fn unknown_types_are_approximate_or_unsupported() {
    let generic: serde_json::Value = serde_json::json!({
        "model_type": "brand_new", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 128, "vocab_size": 100
    });
    let est = capcache::arch::estimate(&generic).unwrap();
    assert!(est.approximate);
    assert_eq!(est.logical, 100 * 64 * 2 + 2 * (4 * 64 * 64 + 3 * 64 * 128 + 2 * 64) + 64);
    let odd = serde_json::json!({"model_type": "speech_thing", "d_conv": 3});
    let err = capcache::arch::estimate(&odd).unwrap_err();
    assert!(err.to_string().contains("speech_thing"), "{err}");
}

#[test]
fn an_invalid_config_beside_exact_weights_is_a_warning_not_a_crash() {
    // A FP8 block size of 0 once divided by zero in the config cross-check after the weights were read.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("org/fp8");
    std::fs::create_dir_all(&model).unwrap();
    let config = serde_json::json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
        "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 10,
        "quantization_config": {"quant_method": "fp8", "weight_block_size": [0, 128]}});
    std::fs::write(model.join("config.json"), config.to_string()).unwrap();
    let tensors = [support::t("model.embed_tokens.weight", "BF16", &[10, 64])];
    std::fs::write(model.join("model.safetensors"), support::safetensors_file(&tensors)).unwrap();
    let source = capcache::source::local::LocalSource::new(dir.path());
    let id = capcache::id::ModelId::parse("org/fp8").unwrap();
    let opts = capcache::strategy::Options::default();
    let r = capcache::strategy::resolve(&source, &id, "main", &opts, "2026-01-01T00:00:00Z").unwrap();
    assert!(r.exact);
    assert_eq!(r.total, 640);
    let why = "quantization_config.weight_block_size = 0: below 1";
    assert!(r.warnings.iter().any(|w| w.starts_with("no config cross-check") && w.contains(why)), "{:?}", r.warnings);

    // Alone, the config strategy misses with `invalid-config`, naming the field and the value.
    std::fs::remove_file(model.join("model.safetensors")).unwrap();
    let failure = capcache::strategy::resolve(&source, &id, "main", &opts, "2026-01-01T00:00:00Z").unwrap_err();
    let config_try = failure.tried.iter().find(|t| t.strategy == "config").unwrap();
    assert_eq!(config_try.outcome, "invalid-config");
    assert!(config_try.message.as_deref().unwrap().contains(why), "{failure:?}");
}

/// The architecture block and capacity facts of a fixture config, at its own dtype.
fn facts(path: &str) -> (capcache::record::Architecture, capcache::record::Capacity) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let config = read(&dir.join(path));
    let d = capcache::arch::info::describe(&config).unwrap();
    let dtype = capcache::arch::info::config_dtype(&config).unwrap().unwrap();
    let capacity = capcache::arch::info::capacity(&d.architecture, d.state_elements_per_sequence, dtype);
    (d.architecture, capacity)
}

fn layer_types(json: serde_json::Value) -> Option<capcache::record::LayerTypes> {
    Some(serde_json::from_value(json).unwrap())
}

#[test]
fn kv_cache_of_a_sliding_window_model() {
    // Gemma 2 2B: 26 layers alternating sliding (window 4096) and full; 4 KV heads of 256.
    let (a, cap) = facts("configs/google__gemma-2-2b-it.json");
    assert_eq!(a.layer_types, layer_types(serde_json::json!({"sliding_attention": 13, "full_attention": 13})));
    assert_eq!(a.sliding_window, Some(4096));
    assert_eq!(cap.kv_cache_elements_per_token, Some(26 * 2 * 4 * 256));
    assert_eq!(cap.kv_cache_bytes_per_token, Some(26 * 2 * 4 * 256 * 2));
    assert_eq!((cap.state_elements_per_sequence, cap.state_bytes_per_sequence), (Some(0), Some(0)));
    // Mistral 7B v0.1: every layer slides over 4096 tokens.
    let (a, _) = facts("configs/mistralai__Mistral-7B-v0.1.json");
    assert_eq!(a.layer_types, layer_types(serde_json::json!({"sliding_attention": 32})));
    assert_eq!(a.sliding_window, Some(4096));
}

#[test]
fn kv_cache_of_a_multi_head_latent_attention_model() {
    // DeepSeek-V2-Lite: 27 layers caching kv_lora_rank 512 + qk_rope_head_dim 64 per token.
    let (a, cap) = facts("configs/deepseek-ai__DeepSeek-V2-Lite.json");
    assert_eq!(a.layer_types, layer_types(serde_json::json!({"full_attention": 27})));
    assert_eq!(cap.kv_cache_elements_per_token, Some(27 * (512 + 64)));
    assert_eq!(cap.kv_cache_bytes_per_token, Some(27 * (512 + 64) * 2));
}

#[test]
fn kv_cache_and_recurrent_state_of_hybrid_models() {
    // Nemotron-H "M-M*-ME": one attention layer (2 KV heads of 64), three Mamba-2 layers
    // (16 heads of 64, 2 groups, state 64, kernel 4), MLP and MoE layers without a mixer.
    let (a, cap) = facts("written/nemotron_h-pattern.json");
    assert_eq!(a.num_hidden_layers, Some(7));
    assert_eq!(a.layer_types, layer_types(serde_json::json!({"full_attention": 1, "mamba": 3})));
    assert_eq!(cap.kv_cache_elements_per_token, Some(2 * 2 * 64));
    let conv = (16 * 64 + 2 * 2 * 64) * 4;
    let ssm = 16 * 64 * 64;
    assert_eq!(cap.state_elements_per_sequence, Some(3 * (conv + ssm)));
    assert_eq!(cap.state_bytes_per_sequence, Some(3 * (conv + ssm) * 2));
    // Qwen3-Next: 2 of 8 layers full attention (2 KV heads of 128), 6 Gated DeltaNet layers
    // (8 key heads and 16 value heads of 64, kernel 4).
    let (a, cap) = facts("written/qwen3_next-small.json");
    assert_eq!(a.layer_types, layer_types(serde_json::json!({"full_attention": 2, "linear_attention": 6})));
    assert_eq!(cap.kv_cache_elements_per_token, Some(2 * 2 * 2 * 128));
    let conv = (2 * 8 * 64 + 16 * 64) * 4;
    let recurrent = 16 * 64 * 64;
    assert_eq!(cap.state_elements_per_sequence, Some(6 * (conv + recurrent)));
}

#[derive(serde::Deserialize)]
struct ExpectedActive {
    transformers_count: u64,
    transformers_active: u64,
    transformers_routed: u64,
}

#[test]
fn active_parameters_of_every_moe_config_match_transformers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: BTreeMap<String, ExpectedActive> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("written/expected_active.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    for (path, e) in &expected {
        let est = capcache::arch::estimate(&read(&dir.join(path))).unwrap();
        let got = (est.logical, est.active, est.routed);
        if got != (e.transformers_count, Some(e.transformers_active), e.transformers_routed) {
            failures.push(format!(
                "{path}: (total, active, routed) {got:?}, transformers ({}, {}, {})",
                e.transformers_count, e.transformers_active, e.transformers_routed
            ));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    // The families the acceptance names, a multimodal MoE among them.
    let families: std::collections::BTreeSet<String> =
        expected.keys().map(|path| read(&dir.join(path))["model_type"].as_str().unwrap().to_owned()).collect();
    for family in
        ["mixtral", "qwen3_moe", "qwen3_next", "deepseek_v2", "deepseek_v3", "llama4", "gpt_oss", "olmoe", "jamba"]
    {
        assert!(families.contains(family), "no MoE fixture of {family}: {families:?}");
    }
    assert!(families.contains("qwen3_vl_moe") && families.contains("llama4"), "multimodal MoE: {families:?}");
    // Dense configs have none.
    for sub in ["configs", "written"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let key = format!("{sub}/{}", path.file_name().unwrap().to_str().unwrap());
            if key.contains("expected_") || expected.contains_key(&key) {
                continue;
            }
            let est = capcache::arch::estimate(&read(&path)).unwrap();
            assert_eq!(est.active, None, "{key} is dense");
        }
    }
}

#[test]
fn active_parameters_beside_published_figures() {
    let active = |path: &str| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        capcache::arch::estimate(&read(&dir.join(path))).unwrap().active.unwrap()
    };
    // Mixtral-8x7B "12.9B active", Qwen3-30B-A3B "3.3B", DeepSeek-V3 "37B" (its 671B config).
    assert_eq!(active("configs/mistralai__Mixtral-8x7B-v0.1.json"), 12_879_925_248);
    assert_eq!(active("written/qwen3_moe-30b-a3b.json"), 3_353_032_704);
    assert_eq!(active("written/deepseek_v3-671b.json"), 37_552_282_624);
}

#[derive(serde::Deserialize)]
struct Published {
    hub_safetensors_total: Option<u64>,
}

#[test]
fn a_published_stored_total_is_the_estimate_plus_some_of_what_may_also_be_stored() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: BTreeMap<String, Published> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected_counts.json")).unwrap()).unwrap();
    let mut checked = 0;
    let mut extra = 0;
    for (id, e) in &expected {
        let Some(hub) = e.hub_safetensors_total else { continue };
        let config = read(&dir.join("configs").join(format!("{}.json", id.replace('/', "__"))));
        if capcache::arch::quant::quantization(&config).unwrap().is_some() {
            continue;
        }
        let est = capcache::arch::estimate(&config).unwrap();
        let total: u64 = est.parameters.values().sum();
        let subsets = 1u32 << est.may_also_store.len();
        let fits = (0..subsets).any(|mask| {
            let more: u64 =
                est.may_also_store.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, (_, n))| n).sum();
            total + more == hub
        });
        assert!(fits, "{id}: Hub {hub}, estimate {total}, may also store {:?}", est.may_also_store);
        checked += 1;
        extra += usize::from(total != hub);
    }
    assert!(checked >= 8 && extra >= 3, "{checked} checked, {extra} with extra tensors");
}

#[test]
fn may_also_store_names_the_tied_head_the_masks_and_the_rotary_buffers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let est = |name: &str| capcache::arch::estimate(&read(&dir.join("configs").join(name))).unwrap();
    let gpt2 = est("openai-community__gpt2.json");
    assert!(gpt2.may_also_store.contains(&("tied lm_head stored", 50257 * 768)), "{:?}", gpt2.may_also_store);
    assert!(gpt2.may_also_store.contains(&("causal-mask buffers (h.N.attn.bias)", 12 * 1024 * 1024)));
    let qwen3 = est("Qwen__Qwen3-0.6B.json");
    assert_eq!(qwen3.may_also_store, vec![("tied lm_head stored", 151936 * 1024)]);
    let llama2 = est("meta-llama__Llama-2-7b-hf.json");
    assert_eq!(llama2.may_also_store, vec![("rotary inv_freq (layers.N.self_attn.rotary_emb.inv_freq)", 32 * 64)]);
}

#[test]
fn python_json_constants_and_disagreeing_layer_lists_are_read_as_transformers_reads_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/written");
    for family in ["mamba2", "bamba", "falcon_h1", "nemotron_h", "granitemoehybrid"] {
        let text = std::fs::read_to_string(dir.join(format!("{family}-time-step-limit.json"))).unwrap();
        assert!(text.contains("Infinity"), "{family}: the fixture keeps transformers' Infinity");
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_err(), "not standard JSON");
    }
    // (Their counts are checked against transformers with the other written configs.) A config
    // whose attention_types expands past num_layers, with no saved attention_layers, is refused
    // as transformers refuses it.
    let mut neo = read(&dir.join("gpt_neo-saved-attention-layers.json"));
    neo.as_object_mut().unwrap().remove("attention_layers");
    let err = capcache::arch::estimate(&neo).unwrap_err();
    assert!(
        err.to_string().contains("attention_types") && err.to_string().contains("6 layers for num_layers 4"),
        "{err}"
    );
}

#[derive(serde::Deserialize)]
struct Crafted {
    parameters: BTreeMap<String, u64>,
    total: u64,
    logical: u64,
    active: Option<u64>,
}

#[test]
fn crafted_checkpoints_of_every_packed_layout_count_as_transformers_counts_the_unquantized_model() {
    // scripts/make-weight-fixtures.py --packed: each layout the quantizers write (GPTQ and AWQ at
    // 2-8 bits, compressed-tensors, NVFP4, block FP8, MXFP4, bitsandbytes, MLX), a tied head and
    // buffers stored, MoE experts per expert and fused; the truth is transformers' count of the
    // model without its quantization.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let source = capcache::source::local::LocalSource::new(&root);
    let opts = capcache::strategy::Options::default();
    let mut cases: Vec<String> = std::fs::read_dir(root.join("packed"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "{cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let e: Crafted = serde_json::from_str(
            &std::fs::read_to_string(root.join("packed").join(case).join("expected.json")).unwrap(),
        )
        .unwrap();
        let id = capcache::id::ModelId::parse(&format!("packed/{case}")).unwrap();
        let r = capcache::strategy::resolve(&source, &id, "main", &opts, "2026-01-01T00:00:00Z").unwrap();
        let want = (true, e.total, &e.parameters, e.logical, e.active, Some(&e.logical));
        let got = (
            r.exact,
            r.total,
            &r.parameters,
            r.logical_parameters,
            r.active_parameters,
            r.cross_check.get(&capcache::record::Strategy::Config),
        );
        if got != want {
            failures.push(format!(
                "{case}: (exact, total, parameters, logical, active, config) {got:?}, want {want:?}; {:?}",
                r.warnings
            ));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_config_strategy_predicts_the_stored_layout_of_the_crafted_checkpoints() {
    // Every crafted layout's stored elements per dtype, from its config alone; a checkpoint that
    // stores a tied head or buffers is the prediction plus some of `may_also_store`. Not predicted
    // (the record says only what a config can): bitsandbytes' quant_state blobs, and MLX.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packed");
    let mut predicted = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let case = dir.file_name().unwrap().to_str().unwrap().to_owned();
        if case.starts_with("bnb-") || case.starts_with("mlx-") {
            continue;
        }
        let e: Crafted = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let est = capcache::arch::estimate(&read(&dir.join("config.json"))).unwrap();
        let total: u64 = est.parameters.values().sum();
        if est.parameters != e.parameters {
            let subsets = 1u32 << est.may_also_store.len();
            let fits = (0..subsets).any(|mask| {
                let more: u64 = est
                    .may_also_store
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, (_, n))| n)
                    .sum();
                total + more == e.total
            });
            assert!(
                fits && total < e.total,
                "{case}: stored {:?}, predicted {:?} and {:?}",
                e.parameters,
                est.parameters,
                est.may_also_store
            );
        }
        predicted += 1;
    }
    assert!(predicted >= 25, "{predicted}");
}
