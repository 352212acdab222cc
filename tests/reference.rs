//! The differential test: capcache's parsers against the reference readers (safetensors 0.8's
//! `safe_open`, gguf-py's `GGUFReader`, `torch.load(weights_only=True)`), over the committed corpus
//! `tests/fixtures/reference/` that `scripts/make-reference-corpus.py` made with those libraries,
//! their answers recorded in `answers.json`. No reference library is needed here.
//!
//! Acceptance, file by file:
//! - where both read a file, the elements per dtype are equal;
//! - where the reference refuses a file, capcache refuses it too, unless the difference is a row of
//!   the README's table "Where capcache differs from the reference readers";
//! - where capcache refuses a file the reference reads, the reason is a row of that table.
//!
//! Set `REFERENCE_CORPUS` to a freshly generated corpus folder to run the same check on it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use capcache::format::{TensorInfo, gguf, pytorch, safetensors};
use serde_json::Value;

type Counts = BTreeMap<String, u64>;

fn counts(tensors: &[TensorInfo]) -> Counts {
    let mut c = Counts::new();
    for t in tensors {
        *c.entry(t.dtype.clone()).or_default() += t.elements().expect("elements fit");
    }
    c
}

/// capcache's answer for one file: its counts, or its error.
fn capcache(format: &str, bytes: &[u8]) -> Result<Counts, String> {
    match format {
        "safetensors" => safetensors::parse_prefix(bytes, bytes.len() as u64, usize::MAX)
            .map(|h| counts(&h.tensors))
            .map_err(|e| e.to_string()),
        "gguf" => gguf::parse_bytes(bytes).map(|h| counts(&h.tensors)).map_err(|e| e.to_string()),
        "pytorch" => pytorch::read(&bytes).map(|t| counts(&t)).map_err(|e| e.to_string()),
        other => panic!("unknown format {other}"),
    }
}

/// The README table's row a refusal of capcache's falls under, by its message.
fn refusal_row(format: &str, error: &str) -> Option<&'static str> {
    let rows: &[(&str, &str, &str)] = &[
        ("pytorch", "holds no tensor", "no-tensors"),
        ("pytorch", "a sparse tensor", "sparse-meta-quantized"),
        ("pytorch", "a meta tensor", "sparse-meta-quantized"),
        ("pytorch", "a quantized tensor", "sparse-meta-quantized"),
        ("pytorch", "data.pkl's CRC-32", "pickle-crc"),
        ("gguf", "is not a multiple of the alignment", "ggml-offsets"),
        ("gguf", "overlap in the data section", "ggml-offsets"),
        ("gguf", "run past the end of the", "ggml-offsets"),
        ("gguf", "metadata arrays nested more than", "nested-arrays"),
        ("gguf", "dimensions (at most", "caps"),
    ];
    rows.iter().find(|(f, m, _)| *f == format && error.contains(m)).map(|(_, _, row)| *row)
}

fn reference_counts(answer: &Value) -> Counts {
    answer["counts"]
        .as_object()
        .expect("counts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
        .collect()
}

#[test]
fn capcache_agrees_with_the_reference_readers() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("REFERENCE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tests/fixtures/reference"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(dir.join("answers.json")).unwrap()).unwrap();
    let files = doc["files"].as_array().unwrap();
    assert!(files.len() >= 200, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    // Per format: files, both read, both refuse, differences the table explains.
    let mut tally: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for f in files {
        let (name, format) = (f["file"].as_str().unwrap(), f["format"].as_str().unwrap());
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let reference = &f["reference"];
        let ours = capcache(format, &bytes);
        let t = tally.entry(format.to_owned()).or_default();
        t[0] += 1;
        let ref_ok = reference["ok"].as_bool().unwrap();
        match (&ours, ref_ok) {
            (Ok(c), true) => {
                if reference.get("special").is_some() {
                    failures
                        .push(format!("{name}: the reference found {} but capcache counted it", reference["special"]));
                } else if *c != reference_counts(reference) {
                    failures.push(format!("{name}: capcache {c:?}, the reference {}", reference["counts"]));
                } else {
                    t[1] += 1;
                }
            }
            (Err(_), false) => t[2] += 1,
            (Ok(c), false) => {
                // Row `record-bytes`: a byte changed inside a record torch reads and capcache never
                // does (a tensor's data or its local header, or a small bookkeeping record such as
                // `byteorder`); where torch's mmap load reads the file, its counts are capcache's.
                let mmap = &f["modes"]["mmap"];
                let region = f["mutation"]["region"].as_str().unwrap_or("");
                let in_records =
                    region.split('+').all(|r| matches!(r, "record-data" | "record-header" | "bookkeeping"));
                let mmap_agrees = mmap["ok"] != true || *c == reference_counts(mmap);
                if in_records && mmap_agrees && readme.contains("| `record-bytes`") {
                    t[3] += 1;
                } else {
                    failures.push(format!(
                        "{name}: the reference refuses it ({}), capcache reads {c:?}",
                        reference["error"].as_str().unwrap_or("")
                    ));
                }
            }
            (Err(e), true) => match refusal_row(format, e) {
                Some(row) if readme.contains(&format!("| `{row}`")) => t[3] += 1,
                _ => failures.push(format!("{name}: the reference reads it, capcache refuses it: {e}")),
            },
        }
    }
    for (format, [n, both, neither, table]) in &tally {
        println!(
            "{format}: {n} files; both read {both}, both refuse {neither}, differences in the README's table {table}"
        );
    }
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}

/// The recorded answers are the reference's at pinned versions, and the files are the ones it read.
#[test]
fn the_corpus_is_what_the_generator_recorded() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
    let doc: Value = serde_json::from_slice(&std::fs::read(root.join("answers.json")).unwrap()).unwrap();
    assert_eq!(doc["versions"]["safetensors"], "0.8.0");
    assert_eq!(doc["versions"]["gguf"], "0.19.0");
    assert!(doc["versions"]["torch"].as_str().unwrap().starts_with("2.15.0"));
    for f in doc["files"].as_array().unwrap() {
        let bytes = std::fs::read(root.join(f["file"].as_str().unwrap())).unwrap();
        assert!(!f["sha256"].as_str().unwrap().is_empty());
        assert!(bytes.len() < 1 << 20, "{} is larger than a corpus file should be", f["file"]);
    }
}
