//! Populations of models for build tests and benchmarks: `mixed`, synthetic tiny llamas whose sizes
//! depend on their index, in three layouts (Hub metadata, a single safetensors file, three shards);
//! `formats`, the same three layouts beside a real OPT-125m `.bin` (served from its skeleton) and a
//! real GGUF file (`tiny-q8_0.gguf`), one model in five each; `safetensors`, real-sized checkpoints
//! in turn (Llama-3.3-70B FP8 in 30 shards served from its
//! headers, the same with the Hub's metadata, and the real all-MiniLM-L6-v2).

use std::time::Duration;

use super::hub::{Faults, FixtureHub, Repo};
use super::{T, per_dtype, safetensors_header, t};

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
pub const MAX_REQUESTS: [usize; 3] = [2, 4, 9];

pub fn id(i: usize) -> String {
    format!("org{}/model-{i}", i % 7)
}

pub fn repo(id: &str, i: usize) -> Repo {
    let ts = tensors(i);
    let config = r#"{"model_type":"llama","architectures":["LlamaForCausalLM"],"torch_dtype":"bfloat16"}"#;
    let repo = Repo::new(id).bytes("config.json", config);
    // Headers only (the fixture hub serves zeros for the data): ten thousand models fit in memory.
    let file = |ts: &[T]| safetensors_header(ts);
    match layout(i) {
        0 => {
            let (head, len) = file(&ts);
            repo.sparse("model.safetensors", head, len).api_safetensors(&per_dtype(&ts))
        }
        1 => {
            let (head, len) = file(&ts);
            repo.sparse("model.safetensors", head, len)
        }
        _ => {
            let mut repo = repo;
            let mut map = serde_json::Map::new();
            for (k, chunk) in ts.chunks(3).enumerate() {
                let name = format!("model-{:05}-of-00003.safetensors", k + 1);
                let (head, len) = file(chunk);
                repo = repo.sparse(&name, head, len);
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

/// `n` models of the `formats` population on a new fixture hub, each answering after `latency`:
/// model `i` is `mixed`'s model `i` when `i % 5 < 3`, the OPT-125m `.bin` when it is 3, and the GGUF
/// file when it is 4 (the big files are shared, not copied, between the models).
pub fn formats_world(n: usize, latency: Duration) -> (FixtureHub, Vec<String>) {
    let hub = FixtureHub::start();
    let opt = super::skeleton_repo("template/opt", &super::fixtures().join("pytorch/opt-125m-skeleton"));
    let gguf = std::fs::read(super::fixtures().join("gguf/tiny-q8_0.gguf")).unwrap();
    let gguf = Repo::new("template/gguf").bytes("model.gguf", gguf);
    let faults = Faults { latency, ..Faults::default() };
    let ids: Vec<String> = (0..n).map(id).collect();
    for (i, id) in ids.iter().enumerate() {
        let repo = match i % 5 {
            3 | 4 => {
                let mut repo = if i % 5 == 3 { &opt } else { &gguf }.clone();
                repo.sha = super::hub::sha_of(id);
                repo
            }
            _ => repo(id, i),
        };
        hub.add(id, repo.faults(faults.clone()));
    }
    (hub, ids)
}

/// `n` models of the `safetensors` population on a new fixture hub, each answering after `latency`.
pub fn safetensors_world(n: usize, latency: Duration) -> (FixtureHub, Vec<String>) {
    let hub = FixtureHub::start();
    let tensors = llama70b_fp8();
    let fp8 = sharded_repo("template/fp8", &tensors, 30);
    let with_api = fp8.clone().api_safetensors(&per_dtype(&tensors));
    let minilm = Repo::from_dir("template/minilm", &super::minilm_dir());
    let faults = Faults { latency, ..Faults::default() };
    let ids: Vec<String> = (0..n).map(id).collect();
    for (i, id) in ids.iter().enumerate() {
        let mut repo = [&fp8, &with_api, &minilm][i % 3].clone();
        repo.sha = super::hub::sha_of(id);
        hub.add(id, repo.faults(faults.clone()));
    }
    (hub, ids)
}

/// Llama-3.3-70B-Instruct-FP8-dynamic's tensors: FP8 linears with per-channel BF16 scales.
pub fn llama70b_fp8() -> Vec<T> {
    let (h, inter, layers, heads, kv, vocab, hd) = (8192, 28672, 80, 64, 8, 128256, 128);
    let mut v = vec![t("model.embed_tokens.weight", "BF16", &[vocab, h])];
    for i in 0..layers {
        let linears = [
            ("self_attn.q_proj", heads * hd, h),
            ("self_attn.k_proj", kv * hd, h),
            ("self_attn.v_proj", kv * hd, h),
            ("self_attn.o_proj", h, heads * hd),
            ("mlp.gate_proj", inter, h),
            ("mlp.up_proj", inter, h),
            ("mlp.down_proj", h, inter),
        ];
        for (name, out, inp) in linears {
            v.push(t(format!("model.layers.{i}.{name}.weight"), "F8_E4M3", &[out, inp]));
            v.push(t(format!("model.layers.{i}.{name}.weight_scale"), "BF16", &[out, 1]));
        }
        v.push(t(format!("model.layers.{i}.input_layernorm.weight"), "BF16", &[h]));
        v.push(t(format!("model.layers.{i}.post_attention_layernorm.weight"), "BF16", &[h]));
    }
    v.push(t("model.norm.weight", "BF16", &[h]));
    v.push(t("lm_head.weight", "BF16", &[vocab, h]));
    v
}

pub const LLAMA70B_FP8_CONFIG: &str = r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":8192,
 "intermediate_size":28672,"num_hidden_layers":80,"num_attention_heads":64,"num_key_value_heads":8,"vocab_size":128256,
 "max_position_embeddings":131072,"tie_word_embeddings":false,"torch_dtype":"bfloat16","rms_norm_eps":1e-05,
 "quantization_config":{"quant_method":"compressed-tensors","format":"float-quantized","ignore":["lm_head"],
  "config_groups":{"group_0":{"targets":["Linear"],"weights":{"num_bits":8,"type":"float","strategy":"channel"},
  "input_activations":{"num_bits":8,"type":"float","strategy":"token","dynamic":true}}}}}"#;

pub fn sharded_repo(id: &str, tensors: &[T], shards: usize) -> Repo {
    let per = tensors.len().div_ceil(shards);
    let mut repo = Repo::new(id).bytes("config.json", LLAMA70B_FP8_CONFIG);
    let mut weight_map = serde_json::Map::new();
    for (i, chunk) in tensors.chunks(per).enumerate() {
        let name = format!("model-{:05}-of-{shards:05}.safetensors", i + 1);
        let (head, len) = safetensors_header(chunk);
        repo = repo.sparse(&name, head, len);
        for t in chunk {
            weight_map.insert(t.name.clone(), name.clone().into());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    repo.bytes("model.safetensors.index.json", serde_json::to_vec(&index).unwrap())
}
