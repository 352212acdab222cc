//! The strategy chain: for one model, try each strategy in order (the cheapest exact one first),
//! keep why each that did not answer failed, cross-check the winner against the config strategy,
//! and assemble the record.
//!
//! One model is isolated from the rest of a run: it has a wall-clock deadline and a byte budget
//! ([`Limits`], enforced by [`reader`]), and a panic while resolving it becomes its
//! `internal-error` failure instead of taking the process down.

mod adapter;
mod checkpoint;
mod config;
mod diffusers;
#[cfg(feature = "download")]
pub mod download;
pub mod estimate;
mod fanout;
mod gguf;
mod hub_metadata;
mod pytorch;
pub mod reader;
mod record;
mod safetensors;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use serde_json::Value;

use self::reader::Budget;
use crate::count::{CountOptions, Counts};
use crate::id::ModelId;
use crate::record::{Adapter, Failure, MadeWith, Origin, Outcome, Record, Severity, Strategy, Tried};
use crate::source::{Deadline, Snapshot, Source, SourceError};

/// The largest `config.json` read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// What one model may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock time for the whole model, every request and retry included (`None`: no limit).
    pub timeout: Option<Duration>,
    /// Bytes read for the model across all its files (headers, pickles, indexes, configs).
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { timeout: Some(Duration::from_secs(120)), max_bytes: 256 << 20 }
    }
}

/// How to resolve.
#[derive(Debug, Clone)]
pub struct Options {
    /// Strategies to try, in chain order.
    pub strategies: Vec<Strategy>,
    /// Also read safetensors headers when the Hub metadata answered, and compare.
    pub verify: bool,
    /// Which GGUF file set to read when a repo has several (a substring of its name).
    pub gguf: Option<String>,
    /// Settings of the `download` strategy; `None`: downloads are not allowed.
    #[cfg(feature = "download")]
    pub download: Option<download::Settings>,
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strategies: Strategy::ALL.to_vec(),
            verify: false,
            gguf: None,
            #[cfg(feature = "download")]
            download: None,
            limits: Limits::default(),
        }
    }
}

impl Options {
    /// Whether downloads are allowed.
    pub fn allows_download(&self) -> bool {
        #[cfg(feature = "download")]
        return self.download.is_some();
        #[cfg(not(feature = "download"))]
        false
    }

    /// The options a record made with these remembers.
    pub fn made_with(&self) -> MadeWith {
        MadeWith { verify: self.verify, allow_download: self.allows_download(), gguf: self.gguf.clone() }
    }
}

/// What one strategy needs.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub source: &'a dyn Source,
    pub snap: &'a Snapshot,
    /// The revision asked for (a branch, tag or the commit itself), which `snap` pins.
    pub revision: &'a str,
    pub config: Option<&'a Value>,
    /// The adapter an adapter-only repository holds (its tensors are the adapter's, its
    /// `config.json` the base model's).
    pub adapter: Option<&'a Adapter>,
    pub count: CountOptions,
    pub budget: &'a Budget,
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
    /// The adapter the weight files themselves say they are (a GGUF adapter).
    pub adapter: Option<Adapter>,
}

impl Ctx<'_> {
    /// What holds the model's files, for messages: "the repository" on the Hub, "the folder" in a
    /// local one.
    pub fn place(&self) -> &'static str {
        match self.source.origin() {
            Origin::Hub => "the repository",
            Origin::Local | Origin::Other(_) => "the folder",
        }
    }
}

impl Found {
    /// An exact answer read from weight files.
    pub fn exact(counts: Counts, files: Vec<String>) -> Found {
        Found { counts, exact: true, approximate: false, files, architecture: None, adapter: None }
    }
}

/// Why a strategy did not answer, and what the chain should do about it.
#[derive(Debug, Clone)]
pub struct Miss {
    pub outcome: Outcome,
    pub severity: Severity,
    pub message: String,
}

impl Miss {
    /// A miss with its outcome's usual severity.
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Miss {
        Miss { outcome, severity: outcome.severity(), message: message.into() }
    }
    /// Nothing for this strategy in the repository.
    pub fn absent(message: impl Into<String>) -> Miss {
        Miss::new(Outcome::Absent, message)
    }
    /// A file this strategy reads is malformed or lies about itself.
    pub fn invalid(file: &str, e: impl fmt::Display) -> Miss {
        Miss::new(Outcome::InvalidFile, format!("{file}: {e}"))
    }
    /// Stops the chain.
    fn stops(&self) -> bool {
        matches!(self.severity, Severity::Transient | Severity::Fatal)
    }
    fn tried(self, strategy: Strategy) -> Tried {
        Tried { strategy, outcome: self.outcome, message: Some(self.message) }
    }
}

impl From<SourceError> for Miss {
    fn from(e: SourceError) -> Miss {
        Miss::new(e.outcome(), e.to_string())
    }
}

fn run(name: Strategy, ctx: &Ctx, opts: &Options) -> Result<Found, Miss> {
    match name {
        Strategy::HubMetadata => hub_metadata::run(ctx),
        Strategy::Safetensors => safetensors::run(ctx),
        Strategy::Pytorch => pytorch::run(ctx),
        Strategy::Gguf => gguf::run(ctx, opts.gguf.as_deref()),
        #[cfg(feature = "download")]
        Strategy::Download => match &opts.download {
            Some(settings) => download::run(ctx, settings, opts.gguf.as_deref()),
            None => Err(Miss::absent("downloads are not allowed")),
        },
        #[cfg(not(feature = "download"))]
        Strategy::Download => Err(Miss::new(Outcome::NotAllowed, "this capcache was built without downloads")),
        Strategy::Config => config::run(ctx),
        Strategy::Other(name) => Err(Miss::absent(format!("this capcache has no strategy {name}"))),
    }
}

/// Resolves one model: pins the revision, reads `config.json`, runs the chain; within the model's
/// limits, a panic becoming its failure.
pub fn resolve(
    source: &dyn Source,
    id: &ModelId,
    revision: &str,
    opts: &Options,
    now: &str,
) -> Result<Record, Failure> {
    let budget = budget(opts);
    isolated(id.as_str(), now, || {
        let snap = source.snapshot(id, revision, budget.deadline).map_err(|e| failure(Miss::from(e), vec![], now))?;
        chain(source, &snap, revision, opts, now, &budget)
    })
}

/// Runs the chain on a snapshot pinned already from a listing (the default branch, `main`),
/// isolated as [`resolve`] is.
pub fn resolve_snapshot(source: &dyn Source, snap: &Snapshot, opts: &Options, now: &str) -> Result<Record, Failure> {
    let budget = budget(opts);
    isolated(snap.id.as_str(), now, || chain(source, snap, "main", opts, now, &budget))
}

fn budget(opts: &Options) -> Budget {
    let deadline = opts.limits.timeout.map_or(Deadline::NONE, Deadline::after);
    Budget::new(deadline, opts.limits.max_bytes)
}

/// Runs `f`, turning a panic into an `internal-error` failure of model `id`.
fn isolated(id: &str, now: &str, f: impl FnOnce() -> Result<Record, Failure>) -> Result<Record, Failure> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        tracing::error!(model = id, "capcache panicked: {what}");
        Err(Failure {
            outcome: Outcome::InternalError,
            message: format!("{id}: capcache panicked ({what}); this is a bug, please report it"),
            at: now.into(),
            tried: vec![],
        })
    })
}

fn failure(miss: Miss, tried: Vec<Tried>, now: &str) -> Failure {
    Failure { outcome: miss.outcome, message: miss.message, at: now.into(), tried }
}

/// The chain on a pinned snapshot.
fn chain(
    source: &dyn Source,
    snap: &Snapshot,
    revision: &str,
    opts: &Options,
    now: &str,
    budget: &Budget,
) -> Result<Record, Failure> {
    let mut tried = Vec::new();
    let mut warnings = Vec::new();
    let base = Ctx { source, snap, revision, config: None, adapter: None, count: CountOptions::default(), budget };
    // A gated repo's files need a token, but its Hub metadata is public: the chain goes on so that
    // `hub-metadata` can still answer, and the first file read stops it.
    let mut config_fatal = None;
    // Why an unusable config.json was not used: the config strategy's own line says so.
    let mut config_miss = None;
    let config = match read_config(&base) {
        Ok(c) => c,
        Err(miss) if miss.severity == Severity::Transient => return Err(failure(miss, tried, now)),
        Err(miss) => {
            warnings.push(format!("config.json unusable: {}", miss.message));
            config_miss = Some(miss.clone());
            if miss.severity == Severity::Fatal {
                config_fatal = Some(miss);
            }
            None
        }
    };
    let adapter = match adapter::read(&base) {
        Ok(a) => a,
        Err(miss) if miss.severity == Severity::Transient => return Err(failure(miss, tried, now)),
        Err(miss) => {
            warnings.push(format!("adapter_config.json unusable: {}", miss.message));
            if miss.severity == Severity::Fatal {
                config_fatal.get_or_insert(miss);
            }
            Some((Adapter::default(), None))
        }
    };
    warnings.extend(adapter.as_ref().and_then(|(_, w)| w.clone()));
    let adapter = adapter.map(|(a, _)| a);
    // An adapter's tensors are its own: the base model's config neither ties nor packs them.
    let count = if adapter.is_some() { CountOptions::default() } else { CountOptions::from_config(config.as_ref()) };
    let ctx = Ctx { config: config.as_ref(), adapter: adapter.as_ref(), count, ..base };
    let mut stopped = None;
    for &name in &opts.strategies {
        if name == Strategy::Download && !opts.allows_download() {
            // Only worth a word when a range read failed because the server ignores ranges.
            if tried.iter().any(|t: &Tried| t.outcome == Outcome::RangeUnsupported) {
                tried.push(Tried {
                    strategy: name,
                    outcome: Outcome::NotAllowed,
                    message: Some(
                        "the server ignores byte ranges; pass --allow-download to fetch and count the weights".into(),
                    ),
                });
            }
            continue;
        }
        let result = match &config_miss {
            Some(miss) if name == Strategy::Config => Err(miss.clone()),
            _ => run(name, &ctx, opts),
        };
        match result {
            Ok(found) => {
                let mut rec = if opts.verify && name == Strategy::HubMetadata {
                    record::verified(&ctx, found, tried, warnings, now)
                } else {
                    record::assemble(&ctx, name, found, tried, warnings, now)
                };
                rec.made_with = opts.made_with();
                return Ok(rec);
            }
            Err(miss) => {
                tracing::debug!(model = %snap.id, strategy = %name, outcome = %miss.outcome, "{}", miss.message);
                if miss.stops() {
                    stopped = Some(miss.clone());
                    tried.push(miss.tried(name));
                    break;
                }
                tried.push(miss.tried(name));
            }
        }
    }
    let main = stopped.or(config_fatal).unwrap_or_else(|| {
        tried
            .iter()
            .find(|t| t.outcome.severity() != Severity::Absent)
            .map(|t| Miss::new(t.outcome, t.message.clone().unwrap_or_default()))
            .unwrap_or_else(|| Miss::new(Outcome::Unresolved, "no strategy could count this model's parameters"))
    });
    Err(failure(main, tried, now))
}

/// `config.json`, parsed (`None` when the repo has none).
fn read_config(ctx: &Ctx) -> Result<Option<Value>, Miss> {
    if !ctx.snap.has("config.json") {
        return Ok(None);
    }
    let bytes = ctx.read_small("config.json", MAX_CONFIG_BYTES)?;
    ctx.charge_json("config.json", &bytes)?;
    crate::arch::json::parse(&bytes)
        .map(Some)
        .map_err(|e| Miss::new(Outcome::InvalidConfig, format!("config.json: {e}")))
}
