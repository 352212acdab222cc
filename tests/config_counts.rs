//! The config strategy against transformers' own counts: for every fixture config (the real
//! published configs of `fixtures/configs`, and the configs written from transformers' config
//! classes in `fixtures/written`), `logical_parameters` must equal `transformers_count` exactly.
//! And a config with invalid values never stops the record the weights give.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Expected {
    transformers_count: u64,
}

fn check(expected: &str, config_dir: &str, file_of: fn(&str) -> String, at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: BTreeMap<String, Expected> =
        serde_json::from_str(&std::fs::read_to_string(dir.join(expected)).unwrap()).unwrap();
    assert!(expected.len() >= at_least);
    let mut failures = Vec::new();
    for (id, e) in &expected {
        let path = dir.join(config_dir).join(file_of(id));
        let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
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
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
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
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(path)).unwrap()).unwrap();
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
