//! A population of synthetic models of mixed layouts for build tests and benchmarks: Hub metadata,
//! a single safetensors file, three shards, a PyTorch checkpoint... each a tiny llama whose sizes
//! depend on its index.

use std::time::Duration;

use super::hub::{Faults, FixtureHub, Repo};
use super::{T, per_dtype, safetensors_file, t};

/// The tensors of model `i`.
pub fn tensors(i: usize) -> Vec<T> {
    let h = 64 + 8 * (i as u64 % 16);
    let mut v = vec![t("model.embed_tokens.weight", "BF16", &[1000 + i as u64, h])];
    for l in 0..2 {
        v.push(t(format!("model.layers.{l}.self_attn.q_proj.weight"), "BF16", &[h, h]));
        v.push(t(format!("model.layers.{l}.mlp.up_proj.weight"), "BF16", &[2 * h, h]));
        v.push(t(format!("model.layers.{l}.input_layernorm.weight"), "F32", &[h]));
    }
    v.push(t("lm_head.weight", "BF16", &[1000 + i as u64, h]));
    v
}

/// Layout of model `i`: 0 = Hub metadata, 1 = single file, 2 = three shards.
pub fn layout(i: usize) -> usize {
    i % 3
}

/// The most requests a model of each layout may cost on a first build: the API call, config.json,
/// then per weight file a `/resolve` redirect and the CDN read (and the index for shards).
pub const MIN_REQUESTS: [usize; 3] = [2, 4, 9];

pub fn id(i: usize) -> String {
    format!("org{}/model-{i}", i % 7)
}

pub fn repo(id: &str, i: usize) -> Repo {
    let ts = tensors(i);
    let config = r#"{"model_type":"llama","architectures":["LlamaForCausalLM"],"torch_dtype":"bfloat16"}"#;
    let repo = Repo::new(id).bytes("config.json", config);
    match layout(i) {
        0 => repo.bytes("model.safetensors", safetensors_file(&ts)).api_safetensors(&per_dtype(&ts)),
        1 => repo.bytes("model.safetensors", safetensors_file(&ts)),
        _ => {
            let mut repo = repo;
            let mut map = serde_json::Map::new();
            for (k, chunk) in ts.chunks(3).enumerate() {
                let name = format!("model-{:05}-of-00003.safetensors", k + 1);
                repo = repo.bytes(&name, safetensors_file(chunk));
                for t in chunk {
                    map.insert(t.name.clone(), name.clone().into());
                }
            }
            repo.bytes(
                "model.safetensors.index.json",
                serde_json::to_vec(&serde_json::json!({"weight_map": map})).unwrap(),
            )
        }
    }
}

/// `n` models on a new fixture hub, each answering after `latency`.
pub fn world(n: usize, latency: Duration) -> (FixtureHub, Vec<String>) {
    let hub = FixtureHub::start();
    let ids: Vec<String> = (0..n).map(id).collect();
    for (i, id) in ids.iter().enumerate() {
        hub.add(id, repo(id, i).faults(Faults { latency, ..Faults::default() }));
    }
    (hub, ids)
}
