//! The parallel build: resolve every model of a list through the strategy chain (a rayon pool of
//! `jobs` workers sharing one source), keep each result in the SQLite store as soon as it is known,
//! and skip models whose commit has not changed since their record was made (one request each; none
//! for a model whose commit the Hub listing gave).
//! A failure never erases a model's earlier good record; unchanged facts keep their timestamps so
//! an unchanged upstream gives a byte-identical export.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use crate::id::Entry;
use crate::record::Failure;
use crate::source::Source;
use crate::store::StoreError;
use crate::store::sqlite::SqliteStore;
use crate::strategy::{self, Options};
use crate::time;

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Models resolved at once.
    pub jobs: usize,
    /// Re-resolve every model even when its commit is unchanged.
    pub refresh: bool,
    /// Re-resolve models last resolved longer ago than this (seconds).
    pub max_age: Option<u64>,
    /// Stop starting new models after the first failure.
    pub fail_fast: bool,
    pub chain: Options,
    /// The time stamped on new records and failures (RFC 3339).
    pub now: String,
}

/// What happened to one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Resolved (new or changed facts) by this strategy.
    Resolved(String),
    /// Resolved again with the same facts.
    Same(String),
    /// Commit unchanged since the record was made: nothing read but the commit.
    Unchanged,
    /// Failed with this outcome (an earlier record, if any, is kept).
    Failed(String, String),
    /// Not started (a failure stopped the build).
    Skipped,
}

/// One finished model, for progress reporting.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub id: &'a str,
    pub outcome: &'a Outcome,
}

/// The end-of-build summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub models: usize,
    pub resolved_by_strategy: BTreeMap<String, u64>,
    pub unchanged: u64,
    pub failed_by_outcome: BTreeMap<String, u64>,
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

/// Resolves `entries` into `store`. Store errors (disk full, corrupt store) abort the build.
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
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.jobs.max(1)).build().expect("thread pool");
    let outcomes: Vec<Result<Outcome, StoreError>> = pool.install(|| {
        entries
            .par_iter()
            .with_max_len(1)
            .map(|entry| {
                if stop.load(Ordering::Relaxed) {
                    let o = Outcome::Skipped;
                    on_done(Event { id: entry.id.as_str(), outcome: &o });
                    return Ok(o);
                }
                let span = tracing::info_span!("model", id = %entry.id);
                let _guard = span.enter();
                let o = one(source, entry, store, opts)?;
                if matches!(o, Outcome::Failed(..)) && opts.fail_fast {
                    stop.store(true, Ordering::Relaxed);
                }
                on_done(Event { id: entry.id.as_str(), outcome: &o });
                Ok(o)
            })
            .collect()
    });
    let mut s = Summary { models: entries.len(), ..Summary::default() };
    for o in outcomes {
        match o? {
            Outcome::Resolved(st) | Outcome::Same(st) => *s.resolved_by_strategy.entry(st).or_default() += 1,
            Outcome::Unchanged => s.unchanged += 1,
            Outcome::Failed(outcome, _) => *s.failed_by_outcome.entry(outcome).or_default() += 1,
            Outcome::Skipped => s.skipped += 1,
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

/// One model: the commit check, the chain, the store.
fn one(
    source: &dyn Source,
    entry: &Entry,
    store: &Mutex<SqliteStore>,
    opts: &BuildOptions,
) -> Result<Outcome, StoreError> {
    let id = entry.id.as_str();
    let revision = entry.revision.as_deref().unwrap_or("main");
    let stored = lock(store).get(id)?;
    let old_failure = lock(store).get_failure(id)?;
    let fresh = |checked_at: &str| match opts.max_age {
        None => true,
        Some(max) => {
            let now = time::parse_rfc3339(&opts.now).unwrap_or(0);
            time::parse_rfc3339(checked_at).is_some_and(|t| now.saturating_sub(t) <= max)
        }
    };
    let fail = |e: crate::source::SourceError| Failure {
        outcome: e.outcome().into(),
        message: e.to_string(),
        at: opts.now.clone(),
        tried: vec![],
    };
    // A record whose commit is unchanged upstream costs one cheap request and nothing else (no
    // request when the Hub listing gave the commit).
    if let Some(s) = &stored
        && !opts.refresh
        && fresh(&s.checked_at)
        && entry
            .listed
            .as_ref()
            .map_or_else(|| source.commit(&entry.id, revision), |l| Ok(l.sha.clone()))
            .is_ok_and(|sha| sha == s.record.revision)
    {
        if old_failure.is_some() {
            lock(store).clear_failure(id)?;
        }
        return Ok(Outcome::Unchanged);
    }
    let result = entry
        .listed
        .clone()
        .map_or_else(|| source.snapshot(&entry.id, revision), Ok)
        .map_err(fail)
        .and_then(|snap| strategy::resolve_snapshot(source, &snap, &opts.chain, &opts.now));
    match result {
        Ok(mut record) => {
            let same = stored.as_ref().is_some_and(|s| s.record.same_facts(&record));
            if let (true, Some(s)) = (same, &stored) {
                record.resolved_at.clone_from(&s.record.resolved_at);
            }
            let strategy = record.strategy.clone();
            lock(store).put_record(id, &record, &opts.now)?;
            Ok(if same { Outcome::Same(strategy) } else { Outcome::Resolved(strategy) })
        }
        Err(mut failure) => {
            if let Some(old) = &old_failure
                && old.same_facts(&failure)
            {
                failure.at.clone_from(&old.at);
            }
            tracing::warn!(model = id, outcome = %failure.outcome, "{}", failure.message);
            lock(store).put_failure(id, &failure)?;
            Ok(Outcome::Failed(failure.outcome, failure.message))
        }
    }
}

/// The stable shard (1-based `k` of `n`) an id belongs to: FNV-1a of the id, mod `n`.
pub fn shard_of(id: &str, n: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % n.max(1) + 1
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
