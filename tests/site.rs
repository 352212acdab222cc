//! `capcache site` in a real browser: the binary writes a site from a db.json, headless Chromium
//! opens it from `file://` (no server, no flags that relax file access), runs its JavaScript, and
//! the tests read the document as a person would see it (`--dump-dom`).
//!
//! Chromium comes from Debian's packages: scripts/test.sh installs it, and when it is missing these
//! tests try `apt-get install chromium` themselves. Only when that is impossible do they skip, with
//! a loud message (and fail instead when CAPCACHE_BROWSER_TESTS=require, as in CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn capcache() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capcache"))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM").map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(p);
    }
    ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"].iter().find_map(|n| on_path(n))
}

/// Chromium, installed from Debian's packages when missing (as root, where apt-get exists).
fn chromium() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(p) = find_chromium() {
                return Some(p);
            }
            let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
            if root && on_path("apt-get").is_some() {
                eprintln!("site tests: chromium is missing; installing it with apt-get");
                let _ = Command::new("sh")
                    .args([
                        "-c",
                        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
                    ])
                    .stdout(Stdio::null())
                    .status();
            }
            find_chromium()
        })
        .as_deref()
}

/// Chromium, or `None` after a loud message (a panic when the browser tests are required).
fn browser() -> Option<&'static Path> {
    let found = chromium();
    if found.is_none() {
        let msg = "chromium is not installed and could not be installed (apt-get install chromium): \
                   the site's browser tests did NOT run";
        if std::env::var("CAPCACHE_BROWSER_TESTS").as_deref() == Ok("require") {
            panic!("{msg}");
        }
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                   SKIPPED: {msg}\n\
                   !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    }
    found
}

/// The document of `page` (a file in `site` plus its query) after its scripts ran.
fn dom(chromium: &Path, site: &Path, page: &str) -> String {
    dom_with(chromium, site, page, &[])
}

/// [`dom`] with more Chromium flags (a window size, a colour scheme).
fn dom_with(chromium: &Path, site: &Path, page: &str, flags: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}/{page}", site.display());
    let mut child = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        out
    });
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("chromium did not finish with {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = reader.join().unwrap();
    assert!(out.contains("</html>"), "chromium printed no document for {url}: {out:.500}");
    out
}

/// The text inside the element with `id` (markup inside it removed).
fn text_of(dom: &str, id: &str) -> String {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no element #{id} in {dom:.3000}"));
    let start = at + dom[at..].find('>').unwrap() + 1;
    let tag_start = dom[..at].rfind('<').unwrap() + 1;
    let tag: String = dom[tag_start..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let end = start + dom[start..].find(&format!("</{tag}>")).unwrap();
    strip_tags(&dom[start..end])
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
}

/// 1234567 -> "1,234,567", as the pages print counts.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The model ids listed in the catalog's results.
fn listed(dom: &str) -> Vec<String> {
    let start = dom.find("id=\"results\"").expect("a results table");
    let end = start + dom[start..].find("</tbody>").unwrap();
    dom[start..end]
        .split("<th scope=\"row\">")
        .skip(1)
        .map(|row| strip_tags(&row[..row.find("</th>").unwrap()]))
        .collect()
}

const EVIL: &str = "</script><script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">";

fn model(params: u64, kv: u64, heads: u64, kv_heads: u64, moe: bool) -> Value {
    json!({
        "revision": "27dcfa74d334bc871f3234de431e71c6eeba5dd6",
        "strategy": "safetensors", "exact": true,
        "parameters": {"BF16": params - 1000, "F32": 1000}, "total": params,
        "logical_parameters": params, "weight_bytes": 2 * params + 2000, "dtype": "BF16",
        "files": ["model.safetensors"],
        "architecture": {
            "model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 32,
            "hidden_size": 4096, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
            "head_dim": 128, "vocab_size": 128256, "max_position_embeddings": 131072,
            "tie_word_embeddings": false, "quantization": null,
            "moe": if moe { json!({"num_experts": 8, "experts_per_token": 2}) } else { Value::Null },
            "mla": null
        },
        "kv_cache_bytes_per_token": kv, "kv_cache_elements_per_token": kv / 2,
        "tried": [{"strategy": "hub-metadata", "outcome": "absent", "message": "no Hub safetensors metadata"}],
        "resolved_at": "2026-11-26T03:00:00Z"
    })
}

/// A small site: two dense models, an MoE with the newer fields, a hostile record, a failure.
fn small_site(dir: &Path) -> (PathBuf, Value) {
    let mut moe = model(46_702_792_704, 131_072, 32, 8, true);
    moe["active_parameters"] = json!(12_879_921_152u64);
    moe["source"] = json!("hub");
    moe["strategy"] = json!("config");
    moe["exact"] = json!(false);
    moe["may_also_store"] = json!([{"what": "tied lm_head stored", "parameters": 131_072_000}]);
    let mut evil = model(1_000_000, 2048, 12, 12, false);
    evil["dtype"] = json!(EVIL);
    evil["parameters"] = json!({EVIL: 999_000, "F32": 1000});
    evil["architecture"]["model_type"] = json!(EVIL);
    evil["tried"][0]["message"] = json!(EVIL);
    evil["warnings"] = json!([EVIL]);
    evil["files"] = json!([EVIL]);
    let db = json!({
        "schema": 1,
        "models": {
            "meta-llama/Llama-3.1-8B": model(8_030_261_248, 131_072, 32, 8, false),
            "Qwen/Qwen2.5-7B-Instruct": model(7_615_616_512, 57_344, 28, 4, false),
            "Qwen/Qwen3-0.6B": model(596_049_920, 114_688, 16, 8, false),
            "mistralai/Mixtral-8x7B-v0.1": moe,
            "evil/model": evil,
        },
        "failures": {"gated/model": {"outcome": "gated", "message": "a token with access is needed", "at": "2026-11-26T03:00:00Z"}}
    });
    let db_path = dir.join("db.json");
    std::fs::write(&db_path, serde_json::to_string_pretty(&db).unwrap()).unwrap();
    let site = dir.join("site");
    let out = capcache().arg("site").arg(&site).arg("--db").arg(&db_path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (site, db)
}

/// The documents of several pages, three browsers at a time.
fn doms(chromium: &Path, site: &Path, pages: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for group in pages.chunks(3) {
        std::thread::scope(|s| {
            let running: Vec<_> = group.iter().map(|p| s.spawn(move || dom(chromium, site, p))).collect();
            out.extend(running.into_iter().map(|h| h.join().unwrap()));
        });
    }
    out
}

#[test]
fn the_site_shows_models_searches_calculates_and_says_what_is_missing() {
    let Some(chromium) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (site, db) = small_site(dir.path());
    let llama = &db["models"]["meta-llama/Llama-3.1-8B"];
    let evil_url = "index.html?model=%3Cimg%20src=x%20onerror=alert(1)%3E";
    let pages = doms(
        chromium,
        &site,
        &[
            "index.html?model=meta-llama/Llama-3.1-8B&ctx=1024&batch=1",
            "index.html?model=META-LLAMA/llama-3.1-8b&ctx=8192",
            "index.html?model=meta-llama/Llama-3.1-8B&ctx=8192&batch=4&kv=fp8&gpu=16",
            "index.html?model=mistralai/Mixtral-8x7B-v0.1",
            "index.html",
            "index.html?q=qwen",
            "index.html?moe=yes",
            "index.html?exact=estimate",
            "index.html?org=qwen&q=0.6",
            "index.html?model=nobody/nothing",
            "index.html?model=gated/model",
            "index.html?model=evil/model",
            evil_url,
        ],
    );
    let [page, case, fp8, moe, all, qwen, moe_only, estimates, org, nobody, gated, evil, evil_id] = &pages[..] else {
        unreachable!()
    };

    // The model page shows its numbers.
    assert_eq!(text_of(page, "model-id"), "meta-llama/Llama-3.1-8B");
    assert_eq!(text_of(page, "total"), grouped(llama["total"].as_u64().unwrap()));
    assert_eq!(text_of(page, "logical"), grouped(llama["logical_parameters"].as_u64().unwrap()));
    assert!(text_of(page, "parameters").contains(&grouped(llama["parameters"]["BF16"].as_u64().unwrap())));
    assert!(text_of(page, "card-weights").contains(&grouped(llama["weight_bytes"].as_u64().unwrap())));
    assert!(text_of(page, "card-kv").contains("131,072 bytes"), "{}", text_of(page, "card-kv"));
    // 32 heads and 8 KV heads: the degrees dividing both.
    assert!(text_of(page, "tp").contains("1, 2, 4, 8."), "{}", text_of(page, "tp"));
    assert_eq!(text_of(page, "revision"), llama["revision"].as_str().unwrap());
    assert!(text_of(page, "tried").contains("no Hub safetensors metadata"));
    assert!(page.contains("<title>meta-llama/Llama-3.1-8B · capcache</title>"));
    // Ids match ignoring case, as on the Hub.
    assert_eq!(text_of(case, "model-id"), "meta-llama/Llama-3.1-8B");

    // The calculator: weights + KV per token x context x batch, from the address.
    let weights = llama["weight_bytes"].as_u64().unwrap();
    let gpus = text_of(fp8, "gpus");
    let (short, long, fp8) = (text_of(page, "need"), text_of(case, "need"), text_of(fp8, "need"));
    assert_ne!(short, long);
    assert!(short.contains(&format!("({} bytes)", grouped(weights + 131_072 * 1024))), "{short}");
    assert!(long.contains(&format!("({} bytes)", grouped(weights + 131_072 * 8192))), "{long}");
    assert!(fp8.contains(&format!("({} bytes)", grouped(weights + 65_536 * 8192 * 4))), "{fp8}");
    // How many 16 GiB GPUs that takes, and the tensor-parallel degree (dividing 32 and 8) to use.
    let n = (weights + 65_536 * 8192 * 4).div_ceil(16 << 30);
    let tp = [1, 2, 4, 8].into_iter().find(|d| *d >= n).unwrap();
    assert_eq!(
        gpus,
        format!(
            "With 16 GiB GPUs: at least {n} GPUs; the smallest tensor-parallel degree that fits and divides the heads is {tp}."
        )
    );
    assert!(text_of(page, "calculator").contains("Weights: "), "the chart's legend");

    // The MoE page: active parameters, source and the estimate's caveats, when the record type
    // carries them through (fields other engineers add to the record).
    assert!(moe.contains(">MoE<"));
    let shards: String = std::fs::read_dir(site.join("data/m"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    if shards.contains("\"active_parameters\"") {
        assert_eq!(text_of(moe, "active"), "12,879,921,152");
    }
    if shards.contains("\"may_also_store\"") {
        assert!(text_of(moe, "may-also-store").contains("tied lm_head stored: 131,072,000 parameters"));
    }
    if shards.contains("\"source\"") {
        assert_eq!(text_of(moe, "source"), "hub");
    }

    // The search narrows the list; filters too; ?q= fills the box.
    assert_eq!(listed(all).len(), 5, "{:?}", listed(all));
    assert_eq!(listed(qwen), ["Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen3-0.6B"]);
    assert!(qwen.contains("value=\"qwen\""));
    assert_eq!(text_of(qwen, "count"), "2 models match.");
    assert_eq!(listed(moe_only), ["mistralai/Mixtral-8x7B-v0.1"]);
    assert_eq!(listed(estimates), ["mistralai/Mixtral-8x7B-v0.1"]);
    assert_eq!(listed(org), ["Qwen/Qwen3-0.6B"]);

    // A model not in the cache, and one whose build failed, say so.
    assert!(text_of(nobody, "not-found").contains("No model named nobody/nothing is in this cache"), "{nobody:.2000}");
    assert!(text_of(gated, "not-found").contains("could not count it: gated"));

    // Hostile text shows as text and runs nothing: no element from it, the title untouched.
    assert!(evil.contains("<title>evil/model · capcache</title>"), "{evil:.1000}");
    assert!(!evil.contains("<img"), "an element from the data: {evil}");
    assert!(evil.contains("&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x"));
    assert!(!evil_id.contains("<img"), "{evil_id}");
    assert!(text_of(evil_id, "not-found").contains("<img src=x onerror=alert(1)>"));
}

/// The checks of tests/site/a11y-check.js on `page` of `site`, read back from the document.
fn a11y_report(chromium: &Path, site: &Path, page: &str, flags: &[&str]) -> Value {
    let dom = dom_with(chromium, site, page, flags);
    let text = text_of(&dom, "a11y-report").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{page}: the report is not JSON ({e}): {text}"))
}

#[test]
fn the_site_works_from_the_keyboard_with_enough_contrast_in_both_schemes_and_on_a_narrow_screen() {
    let Some(chromium) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (site, _) = small_site(dir.path());
    // The harness: the site's own page with the checking script loaded after site.js (the page's
    // Content-Security-Policy allows scripts from its own folder only, so it is a file there).
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    let harness = index.replace(
        "<script src=\"site.js\" defer></script>",
        "<script src=\"site.js\" defer></script><script src=\"a11y-check.js\" defer></script>",
    );
    assert_ne!(harness, index, "index.html loads site.js as the harness expects");
    std::fs::write(site.join("a11y.html"), harness).unwrap();
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/site/a11y-check.js"), site.join("a11y-check.js"))
        .unwrap();
    let pages = [
        "a11y.html",
        "a11y.html?q=qwen&moe=no",
        "a11y.html?model=mistralai/Mixtral-8x7B-v0.1&ctx=8192&batch=4&kv=fp8&gpu=16",
        "a11y.html?model=nobody/nothing",
        "a11y.html?model=gated/model",
    ];
    // The light scheme on a desktop window, the dark one on a phone's.
    let schemes: [(&str, &[&str], bool); 2] = [
        ("light", &["--window-size=1280,900"], false),
        ("dark", &["--window-size=360,800", "--force-dark-mode", "--blink-settings=preferredColorScheme=0"], true),
    ];
    for (scheme, flags, dark) in schemes {
        for page in pages {
            let r = a11y_report(chromium, &site, page, flags);
            let at = format!("{page} ({scheme}): {r}");
            assert_eq!(r["dark"], dark, "the colour scheme asked for: {at}");
            assert!(r["texts"].as_u64().unwrap() >= 5, "text was checked: {at}");
            assert!(r["controls"].as_u64().unwrap() >= 2, "controls were checked: {at}");
            for list in ["lowContrast", "unlabeled", "unfocusable", "noFocusStyle", "positiveTabindex", "pointerOnly"] {
                assert_eq!(r[list], json!([]), "{list}: {at}");
            }
            assert!(
                r["scrollWidth"].as_u64().unwrap() <= r["width"].as_u64().unwrap(),
                "nothing scrolls sideways at {} px: {at}",
                r["width"]
            );
        }
    }
}

#[test]
fn a_site_of_100000_models_opens_a_model_deep_in_the_list() {
    let Some(chromium) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000u64;
    let db_path = dir.path().join("db.json");
    let mut text = String::from("{\"schema\": 1, \"failures\": {}, \"models\": {");
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        let mut m = model(1_000_000_000 + i, 4096 * (i % 7 + 1), 32, 8, i % 10 == 0);
        m["revision"] = json!(format!("{i:040x}"));
        text.push_str(&format!("\"org{}/model-{i:06}\":{}", i % 1000, m));
    }
    text.push_str("}}");
    std::fs::write(&db_path, &text).unwrap();
    let site = dir.path().join("site");
    let started = Instant::now();
    let out = capcache().arg("site").arg(&site).arg("--db").arg(&db_path).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "100,000 models: {} bytes of db.json, site {written} in {:?} (debug build)",
        text.len(),
        started.elapsed()
    );
    assert_eq!(written["models"], n);
    assert!(written["bytes"].as_u64().unwrap() <= 2 * text.len() as u64);

    let deep = 99_876u64;
    let id = format!("org{}/model-{deep:06}", deep % 1000);
    let page = dom(chromium, &site, &format!("index.html?model={id}&ctx=2048"));
    assert_eq!(text_of(&page, "model-id"), id);
    assert_eq!(text_of(&page, "total"), grouped(1_000_000_000 + deep));
    let kv = 4096 * (deep % 7 + 1);
    assert!(
        text_of(&page, "need").contains(&format!("({} bytes)", grouped(2 * (1_000_000_000 + deep) + 2000 + kv * 2048)))
    );

    // The catalog finds it by part of its id, across every chunk.
    let page = dom(chromium, &site, "index.html?q=model-09987");
    let found = listed(&page);
    assert_eq!(found.len(), 10, "{found:?}");
    assert!(found.contains(&id));
    assert_eq!(text_of(&page, "count"), "10 models match.");
}

/// Every file of a folder, by path relative to it, with its bytes.
fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_sqlite_store_and_its_db_json_make_the_same_site_and_the_embedded_db_makes_one_too() {
    let dir = tempfile::tempdir().unwrap();
    let (site, db) = small_site(dir.path());
    let sqlite = dir.path().join("c.sqlite");
    let out = capcache()
        .arg("import")
        .arg("--db")
        .arg(dir.path().join("db.json"))
        .arg("--sqlite")
        .arg(&sqlite)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let from_sqlite = dir.path().join("from-sqlite");
    let out = capcache().arg("site").arg(&from_sqlite).arg("--db").arg(&sqlite).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(tree(&site) == tree(&from_sqlite), "the two sites differ");
    assert!(tree(&site).len() > 5);

    // Writing again over a site replaces it; a folder of other things is refused, untouched.
    let out = capcache().arg("site").arg(&site).arg("--db").arg(&sqlite).output().unwrap();
    assert!(out.status.success());
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let out = capcache().arg("site").arg(&other).arg("--db").arg(&sqlite).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to write into it"));
    assert_eq!(tree(&other).len(), 1);

    // An entry under something that is not a model id refuses the db, as every reader does.
    let mut bad = db.clone();
    bad["models"]["<img src=x>/x"] = bad["models"]["evil/model"].clone();
    std::fs::write(dir.path().join("bad.json"), bad.to_string()).unwrap();
    let out = capcache()
        .arg("site")
        .arg(dir.path().join("bad-site"))
        .arg("--db")
        .arg(dir.path().join("bad.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid id"));

    // No --db, no CAPCACHE_DB, no ./db.json: the copy built into the binary.
    let empty = tempfile::tempdir().unwrap();
    let out = capcache()
        .current_dir(empty.path())
        .env_remove("CAPCACHE_DB")
        .env("HOME", empty.path())
        .env("XDG_CACHE_HOME", empty.path())
        .env("XDG_DATA_HOME", empty.path())
        .args(["site", "embedded", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written: Value = serde_json::from_slice(&out.stdout).unwrap();
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/db.json")).unwrap())
            .unwrap();
    assert_eq!(written["models"], shipped["models"].as_object().unwrap().len());
    assert!(empty.path().join("embedded/index.html").is_file());
    assert!(db["models"].as_object().unwrap().len() == 5);
}
