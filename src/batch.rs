//! The parallel build: resolve every model of a list through the strategy chain (a rayon pool of
//! `jobs` workers sharing one source), keep each result in the SQLite store as soon as it is known,
//! and skip models whose commit has not changed since their record was made (one request each,
//! whatever the layout: a `HEAD` of a file the record was read from; none for a model whose commit
//! the Hub listing gave).
//!
//! Never worse: a failure never erases a model's earlier record, and a record is replaced only by
//! one at least as good (exact over estimate over approximate) at the same commit, or by any record
//! of another commit; a worse result at an unchanged commit fails the model for this run instead.
//! Records remember the options that made them, so a build with options that could do better
//! (`--verify`, `--allow-download`, another `--gguf`) re-resolves them without `--refresh`.
//! Unchanged facts keep their timestamps so an unchanged upstream gives a byte-identical export.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;

use crate::id::check_repo_path;
use crate::list::Entry;
use crate::record::{Failure, Outcome, Record, Severity, Strategy};
use crate::source::{Deadline, Source};
use crate::store::StoreError;
use crate::store::sqlite::{SqliteStore, Stored};
use crate::strategy::{self, Options};
use crate::time;

/// The most models resolved at once.
pub const MAX_JOBS: usize = 256;

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Models resolved at once (1 to [`MAX_JOBS`]).
    pub jobs: usize,
    /// Re-resolve every model even when its commit is unchanged.
    pub refresh: bool,
    /// Re-resolve models last resolved longer ago than this (seconds).
    pub max_age: Option<u64>,
    /// Stop starting new models after the first failure.
    pub fail_fast: bool,
    /// Stop starting new models once this is set (an interrupt): those in flight finish.
    pub cancel: Option<Arc<AtomicBool>>,
    pub chain: Options,
    /// The time stamped on new records and failures (RFC 3339).
    pub now: String,
}

/// What happened to one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// Resolved (new or changed facts) by this strategy.
    Resolved(Strategy),
    /// Resolved again with the same facts.
    Same(Strategy),
    /// Commit unchanged since the record was made: nothing read but the commit.
    Unchanged,
    /// Failed with this outcome and message (an earlier record, if any, is kept).
    Failed(Outcome, String),
    /// Not started (a failure or an interrupt stopped the build).
    Skipped,
}

/// One finished model, for progress reporting.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub id: &'a str,
    pub finished: &'a Finished,
}

/// The end-of-build summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub models: usize,
    pub resolved_by_strategy: BTreeMap<Strategy, u64>,
    pub unchanged: u64,
    pub failed_by_outcome: BTreeMap<Outcome, u64>,
    pub skipped: u64,
    pub requests: u64,
    pub bytes: u64,
    pub wall_seconds: f64,
}

impl Summary {
    pub fn failed(&self) -> u64 {
        self.failed_by_outcome.values().sum()
    }
}

/// Resolves `entries` into `store`. Store errors (disk full, corrupt store) abort the build; a
/// model's own trouble, a panic included, is that model's failure.
pub fn build(
    source: &dyn Source,
    entries: &[Entry],
    store: &Mutex<SqliteStore>,
    opts: &BuildOptions,
    on_done: &(dyn Fn(Event) + Sync),
) -> Result<Summary, StoreError> {
    let start = Instant::now();
    let (req0, bytes0) = (source.counters().requests(), source.counters().bytes());
    let stop = AtomicBool::new(false);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.jobs.clamp(1, MAX_JOBS)).build().expect("thread pool");
    let outcomes: Vec<Result<Finished, StoreError>> = pool.install(|| {
        entries
            .par_iter()
            .with_max_len(1)
            .map(|entry| {
                let id = entry.id.as_str();
                let cancelled = opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
                if cancelled || stop.load(Ordering::Relaxed) {
                    let f = Finished::Skipped;
                    on_done(Event { id, finished: &f });
                    return Ok(f);
                }
                let span = tracing::info_span!("model", id = %entry.id);
                let _guard = span.enter();
                let f = catch_unwind(AssertUnwindSafe(|| one(source, entry, store, opts))).unwrap_or_else(|_| {
                    Ok(Finished::Failed(Outcome::InternalError, format!("{id}: capcache panicked; this is a bug")))
                })?;
                if matches!(f, Finished::Failed(..)) && opts.fail_fast {
                    stop.store(true, Ordering::Relaxed);
                }
                on_done(Event { id, finished: &f });
                Ok(f)
            })
            .collect()
    });
    let mut s = Summary { models: entries.len(), ..Summary::default() };
    for o in outcomes {
        match o? {
            Finished::Resolved(st) | Finished::Same(st) => *s.resolved_by_strategy.entry(st).or_default() += 1,
            Finished::Unchanged => s.unchanged += 1,
            Finished::Failed(outcome, _) => *s.failed_by_outcome.entry(outcome).or_default() += 1,
            Finished::Skipped => s.skipped += 1,
        }
    }
    s.requests = source.counters().requests() - req0;
    s.bytes = source.counters().bytes() - bytes0;
    s.wall_seconds = start.elapsed().as_secs_f64();
    Ok(s)
}

fn lock(store: &Mutex<SqliteStore>) -> std::sync::MutexGuard<'_, SqliteStore> {
    store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the chain with `chain`'s options could make a better record than `r` at the same commit.
fn could_improve(r: &Record, chain: &Options) -> bool {
    let made = &r.made_with;
    (chain.verify && !made.verify && r.strategy == Strategy::HubMetadata)
        || (chain.allows_download() && !made.allow_download && !r.exact)
        || (chain.gguf != made.gguf && r.strategy == Strategy::Gguf)
}

/// Whether a stored record needs no more than its commit checked: one this store resolved (an
/// imported one not trusted has no `checked_at`), fresh enough, that these options cannot improve.
fn settled(s: &Stored, opts: &BuildOptions) -> bool {
    let fresh = match opts.max_age {
        None => time::parse_rfc3339(&s.checked_at).is_some(),
        Some(max) => {
            let now = time::parse_rfc3339(&opts.now).unwrap_or(0);
            time::parse_rfc3339(&s.checked_at).is_some_and(|t| now.saturating_sub(t) <= max)
        }
    };
    !opts.refresh && fresh && !could_improve(&s.record, &opts.chain)
}

/// One model: the commit check, the chain, the never-worse rule, the store.
fn one(
    source: &dyn Source,
    entry: &Entry,
    store: &Mutex<SqliteStore>,
    opts: &BuildOptions,
) -> Result<Finished, StoreError> {
    let id = entry.id.as_str();
    let revision = entry.revision.as_deref().unwrap_or("main");
    let stored = lock(store).get(id)?;
    let old_failure = lock(store).get_failure(id)?;
    // A record whose commit is unchanged upstream costs one cheap request and nothing else (no
    // request when the Hub listing gave the commit).
    if let Some(s) = stored.as_ref().filter(|s| settled(s, opts)) {
        let deadline = opts.chain.limits.timeout.map_or(Deadline::NONE, Deadline::after);
        let commit = match &entry.listed {
            Some(listed) => Ok(listed.sha.clone()),
            None => {
                let probe =
                    s.record.files.first().filter(|f| check_repo_path(f).is_ok()).map_or("config.json", String::as_str);
                source.commit(&entry.id, revision, probe, deadline)
            }
        };
        if commit.is_ok_and(|sha| sha == s.record.revision) {
            if old_failure.is_some() {
                lock(store).clear_failure(id)?;
            }
            return Ok(Finished::Unchanged);
        }
    }
    let resolved = match &entry.listed {
        Some(listed) => strategy::resolve_snapshot(source, listed, &opts.chain, &opts.now),
        None => strategy::resolve(source, &entry.id, revision, &opts.chain, &opts.now),
    };
    let failure = match resolved {
        Ok(mut record) => match stored.as_ref().filter(|s| s.record.revision == record.revision) {
            Some(s) if record.quality() < s.record.quality() => worse(&s.record, record, &opts.now),
            _ => {
                let same = stored.as_ref().is_some_and(|s| s.record.same_facts(&record));
                if let (true, Some(s)) = (same, &stored) {
                    record.resolved_at.clone_from(&s.record.resolved_at);
                }
                let strategy = record.strategy;
                lock(store).put_record(id, &record, &opts.now)?;
                return Ok(if same { Finished::Same(strategy) } else { Finished::Resolved(strategy) });
            }
        },
        Err(failure) => failure,
    };
    let mut failure = failure;
    if let Some(old) = &old_failure
        && old.same_facts(&failure)
    {
        failure.at.clone_from(&old.at);
    }
    tracing::info!(model = id, outcome = %failure.outcome, "{}", failure.message);
    lock(store).put_failure(id, &failure)?;
    Ok(Finished::Failed(failure.outcome, failure.message))
}

/// The failure that keeps `kept` when this run could only make the worse `new` at the same commit.
fn worse(kept: &Record, new: Record, now: &str) -> Failure {
    let why = new.tried.iter().find(|t| t.outcome.severity() != Severity::Absent);
    let (outcome, reason) = match why {
        Some(t) => (t.outcome, format!("{}: {}", t.strategy, t.message.as_deref().unwrap_or(t.outcome.as_str()))),
        None => (Outcome::Unresolved, format!("only {} answered", new.strategy)),
    };
    Failure {
        outcome,
        message: format!(
            "kept the earlier {} record of this commit: this run could only make a worse one ({reason})",
            kept.strategy
        ),
        at: now.into(),
        tried: new.tried,
    }
}

/// The stable shard (1-based `k` of `n`) an id belongs to: FNV-1a of the id, mod `n`.
pub fn shard_of(id: &str, n: u64) -> u64 {
    crate::fnv::fnv1a(id.as_bytes()) % n.max(1) + 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn shards_are_stable_and_cover_everything() {
        let ids: Vec<String> = (0..1000).map(|i| format!("org/model-{i}")).collect();
        let mut counts = [0u32; 4];
        for id in &ids {
            let k = super::shard_of(id, 4);
            assert!((1..=4).contains(&k));
            assert_eq!(k, super::shard_of(id, 4));
            counts[(k - 1) as usize] += 1;
        }
        assert!(counts.iter().all(|c| *c > 150), "{counts:?}");
        assert_eq!(super::shard_of("facebook/opt-125m", 1), 1);
    }
}
