//! The opt-in download strategy against the fixture hub: a model whose server ignores byte ranges
//! (its header is longer than a first read, so a range past offset 0 is needed and refused), fetched
//! through hf-hub into a temporary HF_HOME, counted exactly, not fetched again, refused when too
//! large before any byte moves, and named in the failure when downloads are off.

#![cfg(feature = "download")]

mod support;

use std::path::Path;

use assert_cmd::Command;
use support::hub::{Faults, FixtureHub, Repo};
use support::{per_dtype, run, safetensors_file, t};

const ID: &str = "org/no-ranges";
const TOKEN: &str = "hf_downloadSECRET99";

/// 2,500 small tensors: a header of about 200 KB, longer than any first read.
fn many() -> Vec<support::T> {
    (0..2500).map(|i| t(format!("model.layers.{i}.self_attn.rotary_projection.weight"), "F32", &[16])).collect()
}

fn setup() -> (FixtureHub, Vec<support::T>) {
    let mut tensors = vec![t("a.weight", "BF16", &[512, 1024]), t("b.weight", "F32", &[1024]), t("c", "I64", &[3])];
    tensors.extend(many());
    let hub = FixtureHub::start();
    hub.set_token(TOKEN);
    hub.add(
        ID,
        Repo::new(ID)
            .bytes("model.safetensors", safetensors_file(&tensors))
            .bytes("README.md", "# a model")
            .faults(Faults { ignore_range: true, ..Faults::default() }),
    );
    (hub, tensors)
}

/// `capcache resolve` with `home` as its `HF_HOME` (the HF cache is `home/hub`) and the token.
fn capcache(home: &Path, hub: &FixtureHub) -> Command {
    let mut c = support::capcache(home);
    c.env("HF_HOME", home).env("HF_TOKEN", TOKEN).args(["resolve", ID, "--json", "--endpoint", &hub.url]);
    c
}

/// Whole-file GETs (no Range header) that reached the file's bytes.
fn downloads(hub: &FixtureHub) -> usize {
    hub.hits_for(ID).iter().filter(|h| h.cdn && h.method == "GET" && h.range.is_none()).count()
}

#[test]
fn without_permission_the_failure_names_the_flag() {
    let (hub, _) = setup();
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(&mut capcache(home.path(), &hub));
    assert_eq!(code, 1, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["outcome"], "range-unsupported");
    assert!(v["message"].as_str().unwrap().contains("--allow-download"), "{v}");
    assert!(
        v["tried"].as_array().unwrap().iter().any(|t| t["strategy"] == "download" && t["outcome"] == "not-allowed"),
        "{v}"
    );
    assert_eq!(downloads(&hub), 0);
}

#[test]
fn allowed_downloads_go_to_the_hf_cache_count_exactly_and_happen_once() {
    let (hub, tensors) = setup();
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(capcache(home.path(), &hub).arg("--allow-download"));
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["strategy"], "download");
    assert_eq!(v["exact"], true);
    assert_eq!(
        serde_json::from_value::<std::collections::BTreeMap<String, u64>>(v["parameters"].clone()).unwrap(),
        per_dtype(&tensors)
    );
    let sha = support::hub::sha_of(ID);
    let cached = home.path().join("hub/models--org--no-ranges/snapshots").join(&sha).join("model.safetensors");
    assert!(cached.exists(), "{} missing", cached.display());
    assert_eq!(downloads(&hub), 1);
    assert!(!stdout.contains("SECRET") && !stderr.contains("SECRET"));
    assert!(hub.hits_for(ID).iter().filter(|h| h.cdn).all(|h| h.authorization.is_none()), "token sent to the CDN");
    let incomplete = walk(home.path()).into_iter().filter(|p| p.to_string_lossy().ends_with(".incomplete")).count();
    assert_eq!(incomplete, 0);

    // Once in the cache, the files are read there: the headers answer, no weight byte moves.
    hub.clear_log();
    let (code, stdout, _) = run(capcache(home.path(), &hub).arg("--allow-download"));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["strategy"], "safetensors", "{v}");
    assert!(hub.hits_for(ID).iter().all(|h| !h.cdn), "no weight file requested: {:#?}", hub.hits_for(ID));
}

#[test]
fn too_large_downloads_are_refused_before_any_byte() {
    let (hub, _) = setup();
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, _) = run(capcache(home.path(), &hub).args(["--allow-download", "--max-download-bytes", "1000"]));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let tried = v["tried"].as_array().unwrap();
    let dl = tried.iter().find(|t| t["strategy"] == "download").unwrap();
    assert_eq!(dl["outcome"], "download-too-large");
    assert!(dl["message"].as_str().unwrap().contains("--max-download-bytes"), "{dl}");
    assert_eq!(downloads(&hub), 0);
    assert!(!home.path().join("hub").exists() || walk(&home.path().join("hub")).is_empty());
}

#[test]
fn delete_after_download_removes_only_what_it_fetched() {
    let (hub, _) = setup();
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(capcache(home.path(), &hub).args(["--allow-download", "--delete-after-download"]));
    assert_eq!(code, 0, "{stderr}");
    let files: Vec<_> = walk(&home.path().join("hub"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("model.safetensors"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
    // A file that was already cached stays.
    run(capcache(home.path(), &hub).arg("--allow-download"));
    let (code, _, _) = run(capcache(home.path(), &hub).args(["--allow-download", "--delete-after-download"]));
    assert_eq!(code, 0);
    let sha = support::hub::sha_of(ID);
    assert!(home.path().join("hub/models--org--no-ranges/snapshots").join(sha).join("model.safetensors").exists());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn an_interrupted_download_leaves_no_file_under_its_real_name() {
    let hub = FixtureHub::start();
    let mut tensors = vec![t("big.weight", "BF16", &[4096, 1024])]; // 8 MiB
    tensors.extend(many());
    hub.add(
        ID,
        Repo::new(ID).bytes("model.safetensors", safetensors_file(&tensors)).faults(Faults {
            ignore_range: true,
            throttle: Some(256 << 10), // 8 MiB take half a minute: the interrupt lands mid-body
            ..Faults::default()
        }),
    );
    let home = tempfile::tempdir().unwrap();
    let mut child = support::capcache_std(home.path())
        .env("HF_HOME", home.path())
        .args(["resolve", ID, "--allow-download", "--endpoint", &hub.url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let partial = loop {
        // The download has begun (hf-hub may buffer its first bytes; the body takes seconds more).
        if let Some(p) = walk(home.path()).into_iter().find(|p| p.to_string_lossy().ends_with(".incomplete")) {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "the download never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    // SIGTERM, not SIGINT: a test run started in the background by a non-interactive shell
    // inherits SIGINT ignored, and resolve (rightly) keeps a disposition it inherited.
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    let snapshot = home
        .path()
        .join("hub/models--org--no-ranges/snapshots")
        .join(support::hub::sha_of(ID))
        .join("model.safetensors");
    assert!(!snapshot.exists(), "a half-written file stands where the complete one is expected");
    let blob = partial.to_string_lossy().trim_end_matches(".incomplete").to_owned();
    assert!(!Path::new(&blob).exists(), "the blob was completed after the interrupt");

    hub.set_faults(ID, Faults { ignore_range: true, ..Faults::default() });
    let (code, stdout, stderr) = run(support::capcache(home.path()).env("HF_HOME", home.path()).args([
        "resolve",
        ID,
        "--json",
        "--allow-download",
        "--endpoint",
        &hub.url,
    ]));
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["total"], 4096 * 1024 + 2500 * 16, "a rerun completes the download and counts it");
}

#[test]
fn a_server_that_sends_more_than_it_listed_is_cut_off() {
    let hub = FixtureHub::start();
    let mut tensors = vec![t("big.weight", "BF16", &[4096, 1024])]; // 8 MiB, listed as 300 KB
    tensors.extend(many());
    hub.add(
        ID,
        Repo::new(ID).bytes("model.safetensors", safetensors_file(&tensors)).faults(Faults {
            ignore_range: true,
            listed_size: Some(300_000),
            throttle: Some(4 << 20),
            ..Faults::default()
        }),
    );
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(capcache(home.path(), &hub).arg("--allow-download"));
    assert_eq!(code, 1, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let dl = v["tried"].as_array().unwrap().iter().find(|t| t["strategy"] == "download").unwrap().clone();
    assert_eq!(dl["outcome"], "download-too-large", "{v}");
    assert!(dl["message"].as_str().unwrap().contains("more than the 300000 bytes it listed"), "{dl}");
    let sent: u64 = hub.hits_for(ID).iter().filter(|h| h.cdn && h.range.is_none()).map(|h| h.bytes).sum();
    assert!(sent < 4 << 20, "the transfer was not cut off: {sent} bytes sent");
    let sha = support::hub::sha_of(ID);
    let snapshot = home.path().join("hub/models--org--no-ranges/snapshots").join(sha).join("model.safetensors");
    assert!(!snapshot.exists(), "nothing stands under the real name");
}

/// Every path under `root` but those under `except`, with what it holds (a file's bytes, a link's
/// target, a folder).
fn tree(root: &Path, except: &Path) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.starts_with(except) {
                continue;
            }
            let kind = e.file_type().unwrap();
            let what = if kind.is_symlink() {
                format!("link to {}", std::fs::read_link(&p).unwrap().display())
            } else if kind.is_dir() {
                stack.push(p.clone());
                "folder".into()
            } else {
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()
            };
            out.insert(p, what);
        }
    }
    out
}

/// A download from a lying mirror whose ETags and X-Repo-Commit hold `../` paths: HF_HOME gets a
/// blob named by the bytes' SHA-256 (or nothing, for another commit), and nothing outside it
/// changes: not the working folder, not a file beside HF_HOME.
#[test]
fn server_names_never_become_paths_outside_the_cache() {
    let evil = "../../../../../../outside/pwned";
    for (faults, succeeds) in [
        (Faults { ignore_range: true, etag: Some(format!("\"{evil}\"")), ..Faults::default() }, true),
        (
            Faults { ignore_range: true, etag: Some(evil.into()), repo_commit: Some(evil.into()), ..Faults::default() },
            false,
        ),
        (Faults { ignore_range: true, repo_commit: Some("f".repeat(40)), ..Faults::default() }, false),
        // An LFS ETag that is a SHA-256, of other bytes: the download is refused, not stored.
        (Faults { ignore_range: true, etag: Some(format!("\"{}\"", "ab".repeat(32))), ..Faults::default() }, false),
    ] {
        let (hub, tensors) = setup();
        hub.set_faults(ID, faults.clone());
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let outside = root.path().join("outside");
        let cwd = root.path().join("cwd");
        for d in [&home, &outside, &cwd] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(outside.join("pwned"), "the user's file").unwrap();
        std::os::unix::fs::symlink(outside.join("pwned"), outside.join("link")).unwrap();
        let before = tree(root.path(), &home);
        let (code, stdout, stderr) = run(capcache(&home, &hub).current_dir(&cwd).arg("--allow-download"));
        assert_eq!(tree(root.path(), &home), before, "something outside HF_HOME changed ({faults:?})");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
        let model = home.join("hub/models--org--no-ranges");
        if succeeds {
            assert_eq!(code, 0, "{stderr}");
            assert_eq!(v["strategy"], "download");
            assert_eq!(v["total"].as_u64(), Some(per_dtype(&tensors).values().sum()));
            let blobs: Vec<String> = std::fs::read_dir(model.join("blobs"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(blobs.len(), 1, "{blobs:?}");
            assert!(blobs[0].len() == 64 && blobs[0].bytes().all(|b| b.is_ascii_hexdigit()), "{blobs:?}");
        } else {
            assert_eq!(code, 1, "{stderr}");
            let dl = v["tried"].as_array().unwrap().iter().find(|t| t["strategy"] == "download").unwrap().clone();
            assert_eq!(dl["outcome"], "download-failed", "{v}");
            let files: Vec<_> = walk(&model).into_iter().filter(|p| !p.is_dir()).collect();
            assert!(files.is_empty(), "nothing is stored from a refused download: {files:?}");
        }
    }
}

/// After a download the cache names the commit `main` resolved to (`refs/main`), as
/// huggingface_hub leaves it: offline, capcache (and transformers) find the model by its branch
/// with no request at all.
#[test]
fn after_a_download_the_model_resolves_offline_with_no_request() {
    let (hub, tensors) = setup();
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(capcache(home.path(), &hub).arg("--allow-download"));
    assert_eq!(code, 0, "{stderr}");
    let refs = home.path().join("hub/models--org--no-ranges/refs/main");
    assert_eq!(std::fs::read_to_string(&refs).unwrap(), support::hub::sha_of(ID));
    hub.clear_log();
    let (code, stdout, stderr) = run(capcache(home.path(), &hub).env("HF_HUB_OFFLINE", "1"));
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["revision"], support::hub::sha_of(ID).as_str());
    assert_eq!(v["total"].as_u64(), Some(per_dtype(&tensors).values().sum()));
    assert!(hub.log().is_empty(), "requests made offline: {:#?}", hub.log());
}

/// A download is one of the model's requests: it stops at the model's deadline, stores nothing,
/// and says so.
#[test]
fn a_download_stops_at_the_model_deadline() {
    let hub = FixtureHub::start();
    let mut tensors = vec![t("big.weight", "BF16", &[4096, 1024])]; // 8 MiB at 512 KiB/s: 16 s
    tensors.extend(many());
    hub.add(
        ID,
        Repo::new(ID).bytes("model.safetensors", safetensors_file(&tensors)).faults(Faults {
            ignore_range: true,
            throttle: Some(512 << 10),
            ..Faults::default()
        }),
    );
    let home = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = run(capcache(home.path(), &hub).args(["--allow-download", "--model-timeout", "3s"]));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(code, 1, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["outcome"], "timeout", "{v}");
    let files: Vec<_> = walk(&home.path().join("hub")).into_iter().collect();
    assert!(files.is_empty(), "nothing stored: {files:?}");
}
