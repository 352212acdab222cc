//! The provenance of the shipped db.json: `data/configs/SOURCES.tsv` lists every config.json copy
//! that scripts/build-shipped-db.sh builds from, with where it was copied from, and the shipped db
//! holds exactly those models (plus the one real checkpoint). Every copy is listed, its bytes hash
//! to the recorded sha256, and no commit id is made up: a commit is 40 hex digits of a named
//! repository and path, or `-` with a note saying why there is none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use capcache::update::sha256_hex;

const HEADER: [&str; 8] = ["file", "hub_id", "source_repository", "commit", "path", "sha256", "hub_revision", "note"];
/// The folders whose `*.json` files are config copies the shipped db is built from.
const COPY_DIRS: [&str; 2] = ["data/configs", "tests/fixtures/configs"];
/// Built from a real checkpoint (scripts/fetch-fixtures.sh), not from a listed config copy.
const CHECKPOINT_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug)]
struct Row {
    line: usize,
    fields: BTreeMap<&'static str, String>,
}

impl Row {
    fn get(&self, name: &str) -> &str {
        &self.fields[name]
    }
}

fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty manifest")?.split('\t').collect();
    if header != HEADER {
        return Err(format!("header is {header:?}, want {HEADER:?}"));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split('\t').collect();
        if cells.len() != HEADER.len() {
            return Err(format!("line {}: {} fields, want {}", i + 2, cells.len(), HEADER.len()));
        }
        let fields = HEADER.iter().zip(cells).map(|(h, c)| (*h, c.to_string())).collect();
        rows.push(Row { line: i + 2, fields });
    }
    Ok(rows)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_repo_id(s: &str) -> bool {
    let mut parts = s.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// Every problem of one manifest row, checked against the files under `root`.
fn row_problems(root: &Path, row: &Row) -> Vec<String> {
    let mut out = Vec::new();
    let mut bad = |what: String| out.push(format!("line {}: {what}", row.line));
    let (file, id) = (row.get("file"), row.get("hub_id"));
    if !is_repo_id(id) {
        bad(format!("hub_id {id:?} is not owner/name"));
    }
    let named = COPY_DIRS.iter().any(|d| file == format!("{d}/{}.json", id.replacen('/', "__", 1)));
    if !named {
        bad(format!("{file} is not <copy dir>/{}.json", id.replacen('/', "__", 1)));
    }
    match std::fs::read(root.join(file)) {
        Ok(bytes) => {
            let have = sha256_hex(&bytes);
            if have != row.get("sha256") {
                bad(format!("{file} has sha256 {have}, the manifest says {}", row.get("sha256")));
            }
        }
        Err(e) => bad(format!("{file}: {e}")),
    }
    let (repo, commit, path, note) =
        (row.get("source_repository"), row.get("commit"), row.get("path"), row.get("note"));
    if commit == "-" {
        if repo != "-" || note.trim().is_empty() {
            bad("a copy with no commit names no repository and says why in its note".into());
        }
    } else if !is_hex(commit, 40) || !is_repo_id(repo) || path == "-" || path.is_empty() {
        bad(format!("commit {commit:?} must be 40 lowercase hex digits of a named repository {repo:?} and path"));
    }
    let revision = row.get("hub_revision");
    if revision != "-" && !is_hex(revision, 40) {
        bad(format!("hub_revision {revision:?} is neither - nor 40 lowercase hex digits"));
    }
    if path.is_empty() {
        bad("path is empty (write - when there is none)".into());
    }
    out
}

/// Every problem of the manifest as a whole: its rows, duplicate ids, and copies it does not list.
fn problems(root: &Path, text: &str) -> Vec<String> {
    let rows = match parse(text) {
        Ok(rows) => rows,
        Err(e) => return vec![e],
    };
    let mut out: Vec<String> = rows.iter().flat_map(|r| row_problems(root, r)).collect();
    let mut ids = BTreeSet::new();
    for r in &rows {
        if !ids.insert(r.get("hub_id").to_lowercase()) {
            out.push(format!("line {}: {} is listed twice", r.line, r.get("hub_id")));
        }
    }
    let listed: BTreeSet<&str> = rows.iter().map(|r| r.get("file")).collect();
    for dir in COPY_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for entry in entries {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let file = format!("{dir}/{name}");
            if name.ends_with(".json") && !listed.contains(file.as_str()) {
                out.push(format!("{file} is not listed in data/configs/SOURCES.tsv"));
            }
        }
    }
    out
}

fn manifest() -> String {
    std::fs::read_to_string(root().join("data/configs/SOURCES.tsv")).unwrap()
}

#[test]
fn every_copy_is_listed_with_its_hash_and_an_honest_origin() {
    let problems = problems(&root(), &manifest());
    assert!(problems.is_empty(), "data/configs/SOURCES.tsv:\n{}", problems.join("\n"));
}

#[test]
fn the_shipped_db_holds_exactly_the_listed_models_as_local_estimates() {
    let rows = parse(&manifest()).unwrap();
    let db = capcache::store::json::read(&root().join("db.json")).unwrap();
    let mut want: BTreeSet<String> = rows.iter().map(|r| r.get("hub_id").to_string()).collect();
    want.insert(CHECKPOINT_ID.to_string());
    let have: BTreeSet<String> = db.models.keys().cloned().collect();
    assert_eq!(have, want, "rebuild db.json with scripts/build-shipped-db.sh");
    for (id, r) in &db.models {
        assert_eq!(r.source, Some(capcache::record::Origin::Local), "{id}");
        assert_eq!(r.exact, id == CHECKPOINT_ID, "{id}: only the real checkpoint is exact");
    }
}

/// The checks above catch what they claim to: each kind of wrong manifest is reported.
#[test]
fn a_wrong_manifest_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let copies = dir.path().join("data/configs");
    std::fs::create_dir_all(&copies).unwrap();
    std::fs::write(copies.join("org__model.json"), b"{}\n").unwrap();
    std::fs::write(copies.join("org__unlisted.json"), b"{}\n").unwrap();
    let sha = sha256_hex(b"{}\n");
    let header = HEADER.join("\t");
    let row = |cells: [&str; 8]| format!("{header}\n{}\n", cells.join("\t"));
    let file = "data/configs/org__model.json";
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let good = row([file, "org/model", "owner/repo", commit, "cfg/config.json", &sha, "-", ""]);
    assert_eq!(
        problems(dir.path(), &good),
        ["data/configs/org__unlisted.json is not listed in data/configs/SOURCES.tsv"]
    );
    std::fs::remove_file(copies.join("org__unlisted.json")).unwrap();
    assert!(problems(dir.path(), &good).is_empty());
    let cases = [
        (row([file, "org/model", "owner/repo", commit, "p", &"0".repeat(64), "-", ""]), "has sha256"),
        (row([file, "org/model", "owner/repo", "0123abc", "p", &sha, "-", ""]), "40 lowercase hex"),
        (row([file, "org/model", "owner/repo", &commit.to_uppercase(), "p", &sha, "-", ""]), "40 lowercase hex"),
        (row([file, "org/model", "-", commit, "p", &sha, "-", ""]), "named repository"),
        (row([file, "org/model", "-", "-", "p", &sha, "-", " "]), "says why"),
        (row([file, "org/other", "owner/repo", commit, "p", &sha, "-", ""]), "is not <copy dir>/org__other.json"),
        (row([file, "org/model", "owner/repo", commit, "p", &sha, "main", ""]), "hub_revision"),
        (format!("{}{file}\torg/model\n", good), "2 fields"),
        (format!("{}{}", good, good.lines().nth(1).unwrap()), "listed twice"),
        ("file\thub_id\n".to_string(), "header"),
    ];
    for (text, want) in cases {
        let got = problems(dir.path(), &text);
        assert!(got.iter().any(|p| p.contains(want)), "{text:?}: want {want:?} in {got:?}");
    }
}
