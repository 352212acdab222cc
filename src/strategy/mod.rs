//! The strategy chain: for one model, try each strategy in order (the cheapest exact one first),
//! keep why each that did not answer failed, cross-check the winner against the config strategy,
//! and assemble the record.

mod config;
pub mod download;
mod gguf;
mod hub_metadata;
mod pytorch;
mod record;
mod safetensors;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::count::{CountOptions, Counts};
use crate::id::ModelId;
use crate::record::{Failure, Record, Tried};
use crate::source::{Snapshot, Source, SourceError};

/// The largest `config.json` read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A strategy's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Name {
    HubMetadata,
    Safetensors,
    Pytorch,
    Gguf,
    Download,
    Config,
}

impl Name {
    /// Every strategy, in chain order. `download` runs only when allowed, and then before `config`:
    /// whoever allows a download wants an exact count.
    pub const ALL: &[Name] =
        &[Name::HubMetadata, Name::Safetensors, Name::Pytorch, Name::Gguf, Name::Download, Name::Config];

    pub fn as_str(self) -> &'static str {
        match self {
            Name::HubMetadata => "hub-metadata",
            Name::Safetensors => "safetensors",
            Name::Pytorch => "pytorch",
            Name::Gguf => "gguf",
            Name::Download => "download",
            Name::Config => "config",
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Name {
    type Err = String;
    fn from_str(s: &str) -> Result<Name, String> {
        Name::ALL.iter().copied().find(|n| n.as_str() == s).ok_or_else(|| {
            let all: Vec<_> = Name::ALL.iter().map(|n| n.as_str()).collect();
            format!("unknown strategy {s:?}; known: {}", all.join(", "))
        })
    }
}

/// How to resolve.
#[derive(Debug, Clone)]
pub struct Options {
    /// Strategies to try, in chain order.
    pub strategies: Vec<Name>,
    /// Also read safetensors headers when the Hub metadata answered, and compare.
    pub verify: bool,
    /// Which GGUF file set to read when a repo has several (a substring of its name).
    pub gguf: Option<String>,
    /// Settings of the `download` strategy; `None`: downloads are not allowed.
    pub download: Option<download::Settings>,
}

impl Default for Options {
    fn default() -> Self {
        Options { strategies: Name::ALL.to_vec(), verify: false, gguf: None, download: None }
    }
}

/// What one strategy needs.
pub struct Ctx<'a> {
    pub source: &'a dyn Source,
    pub snap: &'a Snapshot,
    pub config: Option<&'a Value>,
    pub count: CountOptions,
}

/// A strategy's answer.
#[derive(Debug, Clone)]
pub struct Found {
    pub counts: Counts,
    pub exact: bool,
    pub approximate: bool,
    pub files: Vec<String>,
    /// Architecture facts the weight files themselves carry (GGUF metadata), for repos without a
    /// `config.json`.
    pub architecture: Option<crate::record::Architecture>,
}

impl Found {
    /// An exact answer read from weight files.
    pub fn exact(counts: Counts, files: Vec<String>) -> Found {
        Found { counts, exact: true, approximate: false, files, architecture: None }
    }
}

/// Why a strategy did not answer.
#[derive(Debug, Clone)]
pub struct Miss {
    /// `absent` (nothing for it in this repo), or an error outcome (`gated`, `invalid-file`, ...).
    pub outcome: String,
    pub message: String,
    /// Stop the chain: the model cannot be read (gated, not found), or a transient error outlasted
    /// the retries, and a cheaper answer now would replace a better one.
    pub fatal: bool,
    /// A transient error (rate limit, server error, network): the model is retried on the next run.
    pub transient: bool,
}

impl Miss {
    pub fn absent(message: impl Into<String>) -> Miss {
        Miss { outcome: "absent".into(), message: message.into(), fatal: false, transient: false }
    }
    pub fn invalid(file: &str, e: impl fmt::Display) -> Miss {
        Miss { outcome: "invalid-file".into(), message: format!("{file}: {e}"), fatal: false, transient: false }
    }
}

impl From<SourceError> for Miss {
    fn from(e: SourceError) -> Miss {
        let transient = e.is_transient();
        Miss {
            outcome: e.outcome().into(),
            message: e.to_string(),
            fatal: transient || e.is_fatal_for_model(),
            transient,
        }
    }
}

fn run(name: Name, ctx: &Ctx, opts: &Options) -> Result<Found, Miss> {
    match name {
        Name::HubMetadata => hub_metadata::run(ctx),
        Name::Safetensors => safetensors::run(ctx),
        Name::Pytorch => pytorch::run(ctx),
        Name::Gguf => gguf::run(ctx, opts.gguf.as_deref()),
        Name::Download => match &opts.download {
            Some(settings) => download::run(ctx, settings, opts.gguf.as_deref()),
            None => Err(Miss::absent("downloads are not allowed")),
        },
        Name::Config => config::run(ctx),
    }
}

/// Resolves one model: pins the revision, reads `config.json`, runs the chain.
pub fn resolve(
    source: &dyn Source,
    id: &ModelId,
    revision: &str,
    opts: &Options,
    now: &str,
) -> Result<Record, Failure> {
    let fail =
        |e: SourceError| Failure { outcome: e.outcome().into(), message: e.to_string(), at: now.into(), tried: vec![] };
    let snap = source.snapshot(id, revision).map_err(fail)?;
    resolve_snapshot(source, &snap, opts, now)
}

/// Runs the chain on a pinned snapshot.
pub fn resolve_snapshot(source: &dyn Source, snap: &Snapshot, opts: &Options, now: &str) -> Result<Record, Failure> {
    let mut tried = Vec::new();
    let mut warnings = Vec::new();
    // A gated repo's files need a token, but its Hub metadata is public: the chain goes on so that
    // `hub-metadata` can still answer, and the first file read stops it.
    let mut config_fatal = None;
    let config = match read_config(source, snap) {
        Ok(c) => c,
        Err(miss) if miss.transient => {
            return Err(Failure { outcome: miss.outcome, message: miss.message, at: now.into(), tried });
        }
        Err(miss) => {
            warnings.push(format!("config.json unusable: {}", miss.message));
            if miss.fatal {
                config_fatal = Some(miss);
            }
            None
        }
    };
    let count = record::count_options(config.as_ref());
    let ctx = Ctx { source, snap, config: config.as_ref(), count };
    for &name in &opts.strategies {
        if name == Name::Download && opts.download.is_none() {
            // Only worth a word when a range read failed because the server ignores ranges.
            if tried.iter().any(|t: &Tried| t.outcome == "range-unsupported") {
                tried.push(Tried {
                    strategy: name.to_string(),
                    outcome: "not-allowed".into(),
                    message: Some(
                        "the server ignores byte ranges; pass --allow-download to fetch and count the weights".into(),
                    ),
                });
            }
            continue;
        }
        match run(name, &ctx, opts) {
            Ok(found) => {
                let mut rec = record::assemble(&ctx, name, found, tried, warnings, now);
                if opts.verify && name == Name::HubMetadata {
                    record::verify_with_headers(&ctx, &mut rec);
                }
                return Ok(rec);
            }
            Err(miss) => {
                let fatal = miss.fatal;
                tracing::debug!(model = %snap.id, strategy = %name, outcome = %miss.outcome, "{}", miss.message);
                tried.push(Tried { strategy: name.to_string(), outcome: miss.outcome, message: Some(miss.message) });
                if fatal {
                    break;
                }
            }
        }
    }
    let main = config_fatal
        .map(|m| (m.outcome, m.message))
        .or_else(|| {
            tried
                .iter()
                .find(|t| !matches!(t.outcome.as_str(), "absent" | "not-allowed"))
                .map(|t| (t.outcome.clone(), t.message.clone().unwrap_or_default()))
        })
        .unwrap_or_else(|| ("unresolved".into(), "no strategy could count this model's parameters".into()));
    Err(Failure { outcome: main.0, message: main.1, at: now.into(), tried })
}

/// `config.json`, parsed (`None` when the repo has none).
fn read_config(source: &dyn Source, snap: &Snapshot) -> Result<Option<Value>, Miss> {
    if !snap.has("config.json") {
        return Ok(None);
    }
    let bytes = source.read_small(snap, "config.json", MAX_CONFIG_BYTES)?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| Miss::invalid("config.json", e))
}
