//! The conventions Hugging Face and command-line users expect, each checked on the binary: the
//! HF environment variables, ids matched ignoring case, several ids and `-`, JSON errors,
//! `--json` everywhere, file modes that follow the umask, no colour codes in piped logs,
//! completions, the man page, `capcache env` and `--version`.

mod support;

use std::path::Path;

use support::hub::{Faults, FixtureHub, Repo};
use support::{capcache, run};

const MINILM: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A SQLite store holding the embedded db.json, made with `capcache import`.
fn sqlite_copy(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("embedded.json"), capcache::store::embedded::TEXT).unwrap();
    let (code, _, stderr) = run(capcache(dir).args(["import", "--db", "embedded.json", "--sqlite", "copy.sqlite"]));
    assert_eq!(code, 0, "{stderr}");
    dir.join("copy.sqlite")
}

#[test]
fn get_matches_ids_ignoring_case_in_db_json_and_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_copy(dir.path());
    for db in [None, Some(dir.path().join("embedded.json")), Some(sqlite)] {
        let mut c = capcache(dir.path());
        c.args(["get", "FACEBOOK/OPT-125M", "--json"]);
        if let Some(db) = &db {
            c.arg("--db").arg(db);
        }
        let (code, stdout, stderr) = run(&mut c);
        assert_eq!(code, 0, "{db:?}: {stderr}");
        let v = json(&stdout);
        assert_eq!(v["id"], "facebook/opt-125m", "the stored id is printed: {db:?}");
        assert_eq!(v["total"], 125_239_296);
    }
}

#[test]
fn get_takes_several_ids_and_stdin_and_prints_json_errors_for_misses() {
    let dir = tempfile::tempdir().unwrap();
    // One id, a miss: a JSON error object, exit 1.
    let (code, stdout, _) = run(capcache(dir.path()).args(["get", "facebook/opt-125", "--json"]));
    assert_eq!(code, 1);
    let v = json(&stdout);
    assert_eq!((v["id"].as_str(), v["error"].as_str()), (Some("facebook/opt-125"), Some("not-found")));
    assert_eq!(v["did_you_mean"][0], "facebook/opt-125m");
    assert!(v["message"].as_str().unwrap().contains("not in"), "{v}");

    // Several ids: an array in the order asked, records and errors alike.
    let (code, stdout, _) =
        run(capcache(dir.path()).args(["get", "--json", "facebook/opt-125m", "nobody/nothing", MINILM]));
    assert_eq!(code, 1);
    let v = json(&stdout);
    let ids: Vec<&str> = v.as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["facebook/opt-125m", "nobody/nothing", MINILM]);
    assert_eq!(v[0]["total"], 125_239_296);
    assert_eq!(v[1]["error"], "not-found");
    assert_eq!(v[2]["strategy"], "safetensors");

    // `-`: ids on stdin, a models.txt as it is (comments, revisions); a bad line is an error
    // object and exit 2.
    let list = format!("# my models\nFacebook/OPT-125m@main\n\n{MINILM}  # exact\nnot an id\n");
    let (code, stdout, _) = run(capcache(dir.path()).args(["get", "--json", "-"]).write_stdin(list.clone()));
    assert_eq!(code, 2);
    let v = json(&stdout);
    assert_eq!(v.as_array().unwrap().len(), 3, "{v}");
    assert_eq!(v[0]["id"], "facebook/opt-125m");
    assert_eq!(v[1]["id"], MINILM);
    assert_eq!((v[2]["id"].as_str(), v[2]["error"].as_str()), (Some("not an id"), Some("invalid-id")));
    let (code, stdout, stderr) =
        run(capcache(dir.path()).args(["get", "-"]).write_stdin(format!("facebook/opt-125m\n{MINILM}\n")));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("facebook/opt-125m\n") && stdout.contains(&format!("\n\n{MINILM}\n")), "{stdout}");
    // A single `-` still prints an array.
    let (_, stdout, _) = run(capcache(dir.path()).args(["get", "--json", "-"]).write_stdin("facebook/opt-125m\n"));
    assert!(json(&stdout).is_array());
}

#[test]
fn json_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_copy(dir.path());
    let d = dir.path();
    let (code, stdout, _) =
        run(capcache(d).args(["import", "--db", "embedded.json", "--sqlite", "copy.sqlite", "--json"]));
    assert_eq!(code, 0);
    let models = json(capcache::store::embedded::TEXT)["models"].as_object().unwrap().len() as u64;
    assert_eq!(json(&stdout)["kept"], models, "a second import keeps what the store has");
    let (code, stdout, _) =
        run(capcache(d).arg("export").arg("--sqlite").arg(&sqlite).args(["--db", "out.json", "--json"]));
    assert_eq!(code, 0);
    let v = json(&stdout);
    assert_eq!((v["models"].as_u64(), v["changed"].as_bool()), (Some(models), Some(true)));
    let (code, stdout, _) =
        run(capcache(d).args(["merge", "out.json", "copy.sqlite", "--db", "merged.json", "--json"]));
    assert_eq!(code, 0);
    let v = json(&stdout);
    assert_eq!(v["models"], models);
    assert_eq!(v["conflicts"].as_array().map(Vec::len), Some(0));
    for args in [&["list", "--json"][..], &["stats", "--json"], &["env", "--json"], &["get", "--json", MINILM]] {
        let (code, stdout, stderr) = run(capcache(d).args(args));
        assert_eq!(code, 0, "{args:?}: {stderr}");
        json(&stdout);
    }
}

/// Runs the binary under `umask`, through the shell.
fn under_umask(dir: &Path, umask: &str, args: &[&str]) {
    let mut c = support::shell(dir, &format!("umask {umask} && exec \"$0\" \"$@\""));
    c.arg(assert_cmd::cargo::cargo_bin("capcache")).args(args);
    let (code, _, stderr) = run(&mut c);
    assert_eq!(code, 0, "{args:?}: {stderr}");
}

fn mode(path: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
}

#[test]
fn written_files_follow_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sqlite_copy(d);
    std::fs::write(d.join("models.txt"), "").unwrap();
    for (umask, want) in [("022", 0o644), ("027", 0o640)] {
        let out = |name: &str| format!("{name}-{umask}.json");
        under_umask(d, umask, &["export", "--sqlite", "copy.sqlite", "--db", &out("export")]);
        under_umask(d, umask, &["merge", "copy.sqlite", "--db", &out("merge")]);
        under_umask(d, umask, &["build", "--source", ".", "--sqlite", "copy.sqlite", "--db", &out("build")]);
        for name in ["export", "merge", "build"] {
            assert_eq!(mode(&d.join(out(name))), want, "{name} under umask {umask}");
        }
    }
}

#[test]
fn piped_logs_have_no_colour_codes() {
    let hub = FixtureHub::start();
    let dir = tempfile::tempdir().unwrap();
    for no_color in [None, Some("1")] {
        let mut c = capcache(dir.path());
        c.env("RUST_LOG", "debug").args(["resolve", "org/missing", "--endpoint", &hub.url]);
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let (code, _, stderr) = run(&mut c);
        assert_eq!(code, 1);
        assert!(stderr.contains("DEBUG") || stderr.contains("WARN"), "logs were written: {stderr}");
        assert!(!stderr.contains('\x1b'), "colour codes in a pipe: {stderr:?}");
    }
}

#[test]
fn completions_and_man_page() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [("bash", "_capcache()"), ("zsh", "#compdef capcache"), ("fish", "complete -c capcache")] {
        let (code, stdout, stderr) = run(capcache(dir.path()).args(["completions", shell]));
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains(marker), "{shell}: {stdout}");
        assert!(stdout.contains("merge") && stdout.contains("--json"), "{shell} completes subcommands and flags");
    }
    let (code, stdout, _) = run(capcache(dir.path()).arg("man"));
    assert_eq!(code, 0);
    assert!(stdout.starts_with(".ie") || stdout.contains(".TH capcache"), "{stdout}");
    assert!(stdout.contains(".SH NAME") && stdout.contains("capcache\\-get"), "{stdout}");
}

#[test]
fn env_and_version_name_the_db_the_settings_and_where_the_token_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let embedded = json(capcache::store::embedded::TEXT);
    let models = embedded["models"].as_object().unwrap().len() as u64;
    let (code, stdout, _) = run(capcache(d).arg("--version"));
    assert_eq!(code, 0);
    assert!(stdout.contains(&format!("embedded db.json: {models} models")), "{stdout}");
    assert!(stdout.contains("2026-"), "the embedded db's date: {stdout}");

    // XDG_CACHE_HOME moves HF_HOME, and the token file and hub cache with it.
    let xdg = d.join("xdg");
    std::fs::create_dir_all(xdg.join("huggingface")).unwrap();
    std::fs::write(xdg.join("huggingface/token"), "hf_fileSECRET\n").unwrap();
    let (code, stdout, _) = run(capcache(d).env_remove("HF_HOME").env("XDG_CACHE_HOME", &xdg).args(["env", "--json"]));
    assert_eq!(code, 0);
    assert!(!stdout.contains("SECRET"), "the token is never printed");
    let v = json(&stdout);
    assert_eq!(v["hf_home"]["path"], xdg.join("huggingface").to_str().unwrap());
    assert_eq!(v["hub_cache"]["path"], xdg.join("huggingface/hub").to_str().unwrap());
    assert_eq!(v["token"]["from"], "file");
    assert_eq!(v["token"]["path"], xdg.join("huggingface/token").to_str().unwrap());
    assert_eq!((v["db"]["kind"].as_str(), v["db"]["models"].as_u64()), (Some("embedded"), Some(models)));
    assert_eq!(v["endpoint"]["url"], "https://huggingface.co");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));

    let (_, stdout, _) = run(capcache(d)
        .env("HUGGING_FACE_HUB_TOKEN", "hf_envSECRET")
        .env("HF_HUB_CACHE", "~/hubcache")
        .args(["env", "--json"]));
    let v = json(&stdout);
    assert_eq!(v["token"]["from"], "HUGGING_FACE_HUB_TOKEN");
    let home = std::env::var("HOME").unwrap();
    assert_eq!(v["hub_cache"]["path"], format!("{home}/hubcache"), "~ expanded");
    let (_, stdout, _) = run(capcache(d)
        .env("HF_TOKEN", "hf_envSECRET")
        .env("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
        .env("HF_HUB_OFFLINE", "1")
        .args(["env", "--json"]));
    let v = json(&stdout);
    assert!(v["token"]["from"].is_null() && v["token"]["note"].as_str().unwrap().contains("DISABLE"), "{v}");
    assert_eq!(v["offline"], true);

    // A db file: its kind, count and age; the text form says the same.
    std::fs::write(d.join("db.json"), capcache::store::embedded::TEXT).unwrap();
    let (_, stdout, _) = run(capcache(d).args(["env", "--json"]));
    let v = json(&stdout);
    assert_eq!((v["db"]["kind"].as_str(), v["db"]["chosen_by"].as_str()), (Some("json"), Some("./db.json")));
    assert!(v["db"]["age_seconds"].as_u64().unwrap() < 600, "{v}");
    let (code, stdout, _) = run(capcache(d).env("HF_TOKEN", "hf_envSECRET").arg("env"));
    assert_eq!(code, 0);
    assert!(stdout.contains(&format!("{models} models")) && stdout.contains("token        from HF_TOKEN"), "{stdout}");
    assert!(!stdout.contains("SECRET"));
}

#[test]
fn the_older_token_variable_and_the_xdg_token_file_reach_the_hub_unless_implicit_tokens_are_disabled() {
    let hub = FixtureHub::start();
    hub.add(MINILM, Repo::from_dir(MINILM, &support::minilm_dir()).faults(Faults { gated: true, ..Faults::default() }));
    let token = "hf_conventionSECRET";
    hub.set_token(token);
    let dir = tempfile::tempdir().unwrap();
    let resolve = |c: &mut assert_cmd::Command, extra: &[&str]| {
        let (code, stdout, stderr) =
            run(c.args(["resolve", MINILM, "--strategies", "safetensors", "--endpoint", &hub.url]).args(extra));
        assert!(!stdout.contains("SECRET") && !stderr.contains("SECRET"));
        code
    };
    assert_eq!(resolve(capcache(dir.path()).env("HUGGING_FACE_HUB_TOKEN", token), &[]), 0);
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("huggingface")).unwrap();
    std::fs::write(xdg.join("huggingface/token"), token).unwrap();
    assert_eq!(resolve(capcache(dir.path()).env_remove("HF_HOME").env("XDG_CACHE_HOME", &xdg), &[]), 0);
    let mut disabled = capcache(dir.path());
    disabled.env("HUGGING_FACE_HUB_TOKEN", token).env("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1");
    assert_eq!(resolve(&mut disabled, &[]), 1, "no implicit token: the gated repo is refused");
    let mut disabled = capcache(dir.path());
    disabled.env("HUGGING_FACE_HUB_TOKEN", token).env("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1");
    assert_eq!(resolve(&mut disabled, &["--token", token]), 0, "an explicit --token is still sent");
}
