//! The pytorch and gguf strategies against the fixture hub: checkpoints written by torch and by the
//! gguf package (`scripts/make-weight-fixtures.py`), an OPT-125m-shaped checkpoint served from its
//! skeleton, the central-directory fallback, and hostile files.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use capcache::id::ModelId;
use capcache::record::Strategy;
use capcache::record::{Failure, Record};
use capcache::source::hub::{HubSettings, HubSource};
use capcache::strategy::{self, Options};
use support::hub::{FixtureHub, Repo};
use support::{stored_zip, stored_zip_with};

fn resolve(hub: &FixtureHub, id: &str, opts: &Options) -> Result<Record, Failure> {
    let client = HubSource::new(HubSettings::new(&hub.url)).unwrap();
    strategy::resolve(&client, &ModelId::parse(id).unwrap(), "main", opts, "2026-11-26T03:00:00Z")
}

fn expected(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap()
}

fn params(v: &serde_json::Value) -> BTreeMap<String, u64> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn torch_checkpoints_resolve_to_the_counts_torch_reports() {
    let hub = FixtureHub::start();
    for case in ["gpt2-tied", "llama-bf16", "llama-sharded", "llama-legacy"] {
        let dir = support::fixtures().join("pytorch").join(case);
        let id = format!("fixtures/{case}");
        hub.add(&id, Repo::from_dir(&id, &dir));
        let r = resolve(&hub, &id, &Options::default()).unwrap_or_else(|f| panic!("{case}: {f:?}"));
        assert_eq!(r.strategy, "pytorch", "{case}");
        assert_eq!(r.parameters, params(&expected(&dir)["parameters"]), "{case}");
        assert!(r.exact);
        assert_eq!(r.tried.iter().map(|t| t.outcome.as_str()).collect::<Vec<_>>(), ["absent", "absent"], "{case}");
        // Each weight file: one range read at its head, and one at its tail for the central
        // directory unless the first read held the whole file; no more than the reads' sizes.
        for file in &r.files {
            let reads: Vec<_> =
                hub.hits_for(&id).into_iter().filter(|h| h.cdn && h.target.contains(file.as_str())).collect();
            assert!((1..=2).contains(&reads.len()), "{case} {file}: {reads:#?}");
            let bytes: u64 = reads.iter().map(|h| h.bytes).sum();
            assert!(bytes <= 256 << 10, "{case} {file}: {bytes} bytes");
        }
    }
    let sharded = resolve(&hub, "fixtures/llama-sharded", &Options::default()).unwrap();
    assert_eq!(sharded.files.len(), 3);
    let tied = resolve(&hub, "fixtures/gpt2-tied", &Options::default()).unwrap();
    assert_eq!(
        tied.cross_check[&Strategy::Config],
        tied.logical_parameters,
        "tied weights counted once, as transformers does"
    );
}

#[test]
fn opt_125m_resolves_from_a_few_hundred_kilobytes() {
    let hub = FixtureHub::start();
    let id = "facebook/opt-125m";
    let dir = support::fixtures().join("pytorch/opt-125m-skeleton");
    hub.add(id, support::skeleton_repo(id, &dir));
    let r = resolve(&hub, id, &Options::default()).unwrap();
    assert_eq!(r.strategy, "pytorch");
    assert_eq!(r.parameters, BTreeMap::from([("F16".to_owned(), 125_239_296)]));
    assert_eq!(r.logical_parameters, 125_239_296);
    assert_eq!(r.weight_bytes, 250_478_592);
    assert_eq!(r.cross_check[&Strategy::Config], 125_239_296);
    assert_eq!(r.capacity.kv_cache_bytes_per_token, Some(36_864));
    assert!(
        hub.bytes_for(id) < 400_000,
        "read {} bytes of a {}-byte file",
        hub.bytes_for(id),
        support::skeleton_layout(&dir).1
    );
}

/// data.pkl of a real torch checkpoint.
fn real_data_pkl() -> Vec<u8> {
    let bin = std::fs::read(support::fixtures().join("pytorch/llama-bf16/pytorch_model.bin")).unwrap();
    let name_len = u16::from_le_bytes([bin[26], bin[27]]) as usize;
    let extra_len = u16::from_le_bytes([bin[28], bin[29]]) as usize;
    let start = 30 + name_len + extra_len;
    // The pickle ends at the STOP opcode before the next local header.
    let next = bin[start..].windows(4).position(|w| w == b"PK\x03\x04" || w == b"PK\x07\x08").unwrap();
    bin[start..start + next].to_vec()
}

#[test]
fn data_pkl_is_found_through_the_central_directory_when_it_is_not_first() {
    let pkl = real_data_pkl();
    let dir = support::fixtures().join("pytorch/llama-bf16");
    let hub = FixtureHub::start();
    // A local header with a long extra field too: its data starts past the first guess.
    // Each storage has its record, of its size (zeros).
    let records: BTreeMap<String, Vec<u8>> = capcache::format::pickle::parse(&pkl)
        .unwrap()
        .tensors()
        .unwrap()
        .into_iter()
        .map(|t| (format!("archive/data/{}", t.storage_key), vec![0u8; t.storage_bytes as usize]))
        .collect();
    for (id, extra) in [("x/cd", 0), ("x/cd-long-extra", 3000)] {
        let mut entries: Vec<(&str, &[u8])> = vec![("archive/version", b"3\n"), ("archive/data.pkl", &pkl)];
        entries.extend(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        let zip = stored_zip_with(&entries, None, extra);
        hub.add(id, Repo::new(id).bytes("pytorch_model.bin", zip));
        let r = resolve(&hub, id, &Options { strategies: vec![Strategy::Pytorch], ..Options::default() }).unwrap();
        assert_eq!(r.parameters, params(&expected(&dir)["parameters"]), "{id}");
    }
}

#[test]
fn hostile_checkpoints_fail_clearly() {
    let only = |n| Options { strategies: vec![n], ..Options::default() };
    let hub = FixtureHub::start();
    let system = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.".to_vec();
    let mut bomb = vec![0x80, 0x02];
    bomb.extend(std::iter::repeat_n(b']', 200_000));
    bomb.extend(std::iter::repeat_n(b'a', 199_999));
    bomb.push(b'.');
    let pkl = real_data_pkl();
    let mut zip64 = stored_zip(&[("archive/version", b"3\n")], None);
    let n = zip64.len();
    zip64[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes()); // cd offset in ZIP64
    let mut locator = b"PK\x06\x07\0\0\0\0".to_vec();
    locator.extend_from_slice(&(1u64 << 50).to_le_bytes());
    locator.extend_from_slice(&1u32.to_le_bytes());
    zip64.splice(n - 22..n - 22, locator);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("os-system", stored_zip(&[("archive/data.pkl", &system)], None), "os.system"),
        ("bomb", stored_zip(&[("archive/data.pkl", &bomb)], None), "nested too deep"),
        ("cd-lies", stored_zip(&[("archive/version", b"3\n"), ("archive/data.pkl", &pkl)], Some(1 << 30)), "runs past"),
        ("zip64-past-end", zip64, "ZIP64 end record"),
        ("not-torch", b"hello, this is not a checkpoint".to_vec(), "not a PyTorch checkpoint"),
    ];
    for (name, bytes, says) in cases {
        let id = format!("bad/{name}");
        hub.add(&id, Repo::new(&id).bytes("pytorch_model.bin", bytes));
        let f = resolve(&hub, &id, &only(Strategy::Pytorch)).unwrap_err();
        assert_eq!(f.outcome, "invalid-file", "{name}: {f:?}");
        assert!(f.message.contains(says) && f.message.contains("pytorch_model.bin"), "{name}: {}", f.message);
    }
    let mut huge = b"GGUF".to_vec();
    huge.extend_from_slice(&3u32.to_le_bytes());
    huge.extend_from_slice(&(1u64 << 60).to_le_bytes());
    huge.extend_from_slice(&0u64.to_le_bytes());
    let mut long = b"GGUF".to_vec();
    long.extend_from_slice(&3u32.to_le_bytes());
    long.extend_from_slice(&0u64.to_le_bytes());
    long.extend_from_slice(&1u64.to_le_bytes());
    long.extend_from_slice(&(1u64 << 60).to_le_bytes());
    for (name, bytes, says) in [("gguf-count", huge, "over the limit"), ("gguf-string", long, "over the limit")] {
        let id = format!("bad/{name}");
        hub.add(&id, Repo::new(&id).bytes("model.gguf", bytes));
        let f = resolve(&hub, &id, &only(Strategy::Gguf)).unwrap_err();
        assert!(f.message.contains(says), "{name}: {}", f.message);
    }
}

#[test]
fn gguf_files_resolve_to_what_the_gguf_package_reports() {
    let dir = support::fixtures().join("gguf");
    let exp = expected(&dir);
    let sum = |files: &[&str], key: &str| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for f in files {
            for (k, v) in exp[*f][key].as_object().unwrap() {
                *m.entry(k.clone()).or_default() += v.as_u64().unwrap();
            }
        }
        m
    };
    let hub = FixtureHub::start();
    let single = std::fs::read(dir.join("tiny-q8_0.gguf")).unwrap();
    hub.add("g/single", Repo::new("g/single").bytes("tiny-Q8_0.gguf", single.clone()));
    let r = resolve(&hub, "g/single", &Options::default()).unwrap();
    assert_eq!(r.strategy, "gguf");
    assert_eq!(r.parameters, sum(&["tiny-q8_0.gguf"], "parameters"));
    assert_eq!(r.weight_bytes, sum(&["tiny-q8_0.gguf"], "bytes").values().sum::<u64>());
    // No config.json: the architecture comes from the GGUF metadata, the KV cache at llama.cpp's F16.
    let a = r.architecture.as_ref().unwrap();
    assert_eq!(a.model_type.as_deref(), Some("llama"));
    assert_eq!((a.num_hidden_layers, a.hidden_size, a.num_attention_heads), (Some(2), Some(256), Some(4)));
    assert_eq!((a.num_key_value_heads, a.head_dim, a.vocab_size), (Some(2), Some(64), Some(1000)));
    assert_eq!(a.max_position_embeddings, Some(2048));
    assert_eq!(r.capacity.kv_cache_bytes_per_token, Some(2 * 2 * 64 * 2 * 2));

    let parts = ["tiny-split-00001-of-00002.gguf", "tiny-split-00002-of-00002.gguf"];
    let mut split = Repo::new("g/split");
    for p in parts {
        split = split.bytes(p, std::fs::read(dir.join(p)).unwrap());
    }
    hub.add("g/split", split);
    let r = resolve(&hub, "g/split", &Options::default()).unwrap();
    assert_eq!(r.files.len(), 2);
    assert_eq!(r.parameters, sum(&parts, "parameters"));
    assert_eq!(r.weight_bytes, sum(&parts, "bytes").values().sum::<u64>());

    // Several quantizations: the highest precision by default, --gguf to choose; mmproj skipped.
    hub.add(
        "g/many",
        Repo::new("g/many")
            .bytes("model-Q4_K_M.gguf", single.clone())
            .bytes("model-Q8_0.gguf", single.clone())
            .bytes("mmproj-model-f16.gguf", single.clone()),
    );
    let r = resolve(&hub, "g/many", &Options::default()).unwrap();
    assert_eq!(r.files, ["model-Q8_0.gguf"]);
    assert!(r.warnings.iter().any(|w| w.contains("model-Q4_K_M")), "{:?}", r.warnings);
    let r = resolve(&hub, "g/many", &Options { gguf: Some("q4_k_m".into()), ..Options::default() }).unwrap();
    assert_eq!(r.files, ["model-Q4_K_M.gguf"]);
    assert!(hub.hits_for("g/many").iter().all(|h| !h.target.contains("mmproj")));
    // The header is read by range, not the whole file.
    let reads: Vec<_> = hub.hits_for("g/single").into_iter().filter(|h| h.cdn).collect();
    assert!(reads.iter().map(|h| h.bytes).sum::<u64>() < single.len() as u64, "{reads:#?}");
}
