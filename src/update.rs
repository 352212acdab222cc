//! Installing the newest published db for a user: a Hugging Face dataset repository holds
//! `db.json` and `db.json.sha256` (the nightly publishes them); [`update`] installs them into a
//! folder the caller names, and remembers beside them what it installed (`publication.json`).
//!
//! An unchanged publication (same commit, or a new commit with the same checksum) costs one API
//! request and no download of db.json. A db.json is installed only when it matches its checksum,
//! loads as a store (schema, ids, every record checked as every store read checks them), and is no
//! older than the installed one (by its newest record); then it replaces the installed one
//! atomically (a temp file in the same folder, fsync, rename). Anything refused leaves the
//! installed db as it was.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::ModelId;
use crate::record::Db;
use crate::source::hub::{HubSource, encode};
use crate::source::{Deadline, SourceError};
use crate::store::{StoreError, json, validate};

/// The published database's file name, in the dataset repository and in the install folder.
pub const DB_FILE: &str = "db.json";
/// Its checksum, in `sha256sum` format.
pub const SUMS_FILE: &str = "db.json.sha256";
/// What was installed, beside the db.
pub const STATE_FILE: &str = "publication.json";
/// The largest db.json downloaded.
pub const MAX_DB_BYTES: u64 = 1 << 30;
const MAX_SUMS_BYTES: u64 = 64 << 10;
const MAX_INFO_BYTES: u64 = 32 << 20;
const MAX_STATE_BYTES: u64 = 64 << 10;

/// Errors of an update. Every refusal says the installed db was kept.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("invalid dataset repository {repo:?}: {message}")]
    BadRepo { repo: String, message: String },
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("the dataset repository {repo} answered with no usable commit: {message}")]
    Malformed { repo: String, message: String },
    #[error("{SUMS_FILE} of {repo} at {commit} has no `sha256  {DB_FILE}` line; the installed db is kept")]
    NoChecksum { repo: String, commit: String },
    #[error(
        "{DB_FILE} of {repo} at {commit} does not match {SUMS_FILE} (expected {expected}, got {actual}); the installed db is kept"
    )]
    Checksum { repo: String, commit: String, expected: String, actual: String },
    #[error("{DB_FILE} of {repo} at {commit} is refused: {source}; the installed db is kept")]
    Invalid { repo: String, commit: String, source: Box<StoreError> },
    #[error(
        "{DB_FILE} of {repo} at {commit} is older than the installed one (newest record {published}, installed {installed}); the installed db is kept"
    )]
    Older { repo: String, commit: String, published: String, installed: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// What is installed: the publication's repository, commit and checksum, and the db's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub repo: String,
    pub commit: String,
    pub sha256: String,
    pub models: u64,
    pub failures: u64,
    /// The newest `resolved_at` (or failure `at`) in the db: its age.
    pub newest: Option<String>,
    /// When this capcache installed it (or last found it unchanged at a new commit).
    pub installed_at: String,
}

/// What [`update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The installed db is the published one; db.json was not downloaded.
    Unchanged(Installed),
    /// A newer db was installed over `previous`.
    Installed { previous: Option<Installed>, now: Installed },
}

/// The API's answer about a dataset revision (only what is used).
#[derive(Deserialize)]
struct DatasetInfo {
    sha: String,
}

/// The install folder's files.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

/// What the folder says is installed (`None`: nothing, or a state file that does not parse).
pub fn installed(dir: &Path) -> Option<Installed> {
    if !db_path(dir).is_file() {
        return None;
    }
    let bytes = read_capped(&dir.join(STATE_FILE), MAX_STATE_BYTES).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(std::io::Error::other(format!("larger than {cap} bytes")));
    }
    Ok(bytes)
}

/// Installs the newest db of the dataset repository `repo` (`org/name`) at `revision` into `dir`
/// (created if missing). `now` stamps the install (RFC 3339).
pub fn update(
    hub: &HubSource,
    repo: &str,
    revision: &str,
    dir: &Path,
    now: &str,
    deadline: Deadline,
) -> Result<Outcome, UpdateError> {
    let repo = ModelId::parse(repo)
        .map_err(|e| UpdateError::BadRepo { repo: repo.to_owned(), message: e.to_string() })?
        .as_str()
        .to_owned();
    let what = format!("datasets/{repo}");
    let info =
        hub.get_bytes(&what, &format!("/api/datasets/{repo}/revision/{}", encode(revision)), MAX_INFO_BYTES, deadline)?;
    let info: DatasetInfo = serde_json::from_slice(&info)
        .map_err(|e| UpdateError::Malformed { repo: repo.clone(), message: e.to_string() })?;
    let commit = info.sha;
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        let message = format!("its sha {:?} is not a 40-digit hex commit", commit.chars().take(64).collect::<String>());
        return Err(UpdateError::Malformed { repo, message });
    }
    let previous = installed(dir);
    if let Some(p) = previous.as_ref().filter(|p| p.repo == repo && p.commit == commit) {
        return Ok(Outcome::Unchanged(p.clone()));
    }
    let file = |name: &str| format!("/datasets/{repo}/resolve/{commit}/{name}");
    let sums = hub.get_bytes(&what, &file(SUMS_FILE), MAX_SUMS_BYTES, deadline)?;
    let expected = checksum_of(&sums, DB_FILE)
        .ok_or_else(|| UpdateError::NoChecksum { repo: repo.clone(), commit: commit.clone() })?;
    if let Some(p) = previous.as_ref().filter(|p| p.repo == repo && p.sha256 == expected) {
        // A new commit (CHANGES.md, the SQLite store) with the same db: nothing to download.
        let now_state = Installed { commit, installed_at: now.to_owned(), ..p.clone() };
        write_state(dir, &now_state)?;
        return Ok(Outcome::Unchanged(now_state));
    }
    let body = hub.get_bytes(&what, &file(DB_FILE), MAX_DB_BYTES, deadline)?;
    let actual = sha256_hex(&body);
    if actual != expected {
        return Err(UpdateError::Checksum { repo, commit, expected, actual });
    }
    std::fs::create_dir_all(dir).map_err(|source| UpdateError::Write { path: dir.to_owned(), source })?;
    let temp = write_temp(dir, &body)?;
    drop(body);
    // Every entry is checked as every store read checks it (store::validate).
    let db = json::read(temp.path()).map_err(|e| UpdateError::Invalid {
        repo: repo.clone(),
        commit: commit.clone(),
        source: Box::new(e),
    })?;
    let newest = newest(&db);
    let installed_newest = match &previous {
        Some(p) => p.newest.clone(),
        None => installed_db_newest(dir),
    };
    if let Some(old) = installed_newest
        && newest.as_deref().and_then(validate::time_of) < validate::time_of(&old)
    {
        let published = newest.unwrap_or_else(|| "none".into());
        return Err(UpdateError::Older { repo, commit, published, installed: old });
    }
    let now_state = Installed {
        repo,
        commit,
        sha256: actual,
        models: db.models.len() as u64,
        failures: db.failures.len() as u64,
        newest,
        installed_at: now.to_owned(),
    };
    let target = db_path(dir);
    temp.persist(&target).map_err(|e| UpdateError::Write { path: target.clone(), source: e.error })?;
    sync_dir(dir);
    write_state(dir, &now_state)?;
    Ok(Outcome::Installed { previous, now: now_state })
}

/// The newest time stamp of the db.json in `dir` when no state says it (installed by hand).
fn installed_db_newest(dir: &Path) -> Option<String> {
    let db = json::read(&db_path(dir)).ok()?;
    newest(&db)
}

/// The newest `resolved_at` or failure `at` of a db.
pub fn newest(db: &Db) -> Option<String> {
    let times = db.models.values().map(|r| &r.resolved_at).chain(db.failures.values().map(|f| &f.at));
    times.max_by_key(|t| validate::time_of(t)).cloned()
}

/// The checksum `sums` (sha256sum's output: `HEX  NAME` or `HEX *NAME` per line) gives `name`.
pub fn checksum_of(sums: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(sums).ok()?;
    text.lines().find_map(|line| {
        let (hex, rest) = line.split_once(' ')?;
        let file = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
        (file == name && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| hex.to_ascii_lowercase())
    })
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256sum`'s line for a file.
pub fn sums_line(bytes: &[u8], name: &str) -> String {
    format!("{}  {name}\n", sha256_hex(bytes))
}

fn write_temp(dir: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, UpdateError> {
    let io = |source| UpdateError::Write { path: dir.to_owned(), source };
    let mut temp = tempfile::Builder::new().prefix(".db.json.").suffix(".tmp").tempfile_in(dir).map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    Ok(temp)
}

fn write_state(dir: &Path, state: &Installed) -> Result<(), UpdateError> {
    let mut text = serde_json::to_string_pretty(state).expect("the state serializes");
    text.push('\n');
    let temp = write_temp(dir, text.as_bytes())?;
    let path = dir.join(STATE_FILE);
    temp.persist(&path).map_err(|e| UpdateError::Write { path, source: e.error })?;
    sync_dir(dir);
    Ok(())
}

/// Makes a rename in `dir` durable (best effort: not every system can open a folder).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sum_lines() {
        let hex = sha256_hex(b"abc");
        assert_eq!(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(checksum_of(sums_line(b"abc", "db.json").as_bytes(), "db.json"), Some(hex.clone()));
        let upper = format!("{}  other\n{} *db.json\n", hex, hex.to_uppercase());
        assert_eq!(checksum_of(upper.as_bytes(), "db.json"), Some(hex.clone()));
        for bad in [format!("{hex} db.json"), format!("{}  db.json", &hex[1..]), format!("{hex}  db.json.x")] {
            assert_eq!(checksum_of(bad.as_bytes(), "db.json"), None, "{bad}");
        }
    }
}
