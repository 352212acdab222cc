//! `capcache build`: the model list, the lock, the SQLite store, the parallel build with progress,
//! periodic and final atomic exports of db.json, the summary, the exit code.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use capcache::batch::{self, BuildOptions, Event, Finished, Summary};
use capcache::id::{Entry, parse_list};
use capcache::store::sqlite::SqliteStore;
use capcache::store::{json, lock};
use capcache::{summary, time};

use super::settings;
use crate::cli::BuildArgs;

fn parse_shard(s: &str) -> anyhow::Result<(u64, u64)> {
    let (k, n) = s.split_once('/').context("--shard takes K/N, for example 1/4")?;
    let (k, n): (u64, u64) = (k.trim().parse().context("--shard K")?, n.trim().parse().context("--shard N")?);
    if n == 0 || k == 0 || k > n {
        bail!("--shard {s}: K must be between 1 and N");
    }
    Ok((k, n))
}

/// The entries of the list (this shard's), after reporting bad lines.
fn read_list(path: &Path, shard: Option<(u64, u64)>) -> anyhow::Result<(Vec<Entry>, usize)> {
    let text = fs_err::read_to_string(path).context("cannot read the model list")?;
    let (entries, bad) = parse_list(&text);
    for b in &bad {
        eprintln!("{}:{}: skipped: {}", path.display(), b.line, b.error);
    }
    let entries = match shard {
        Some((k, n)) => entries.into_iter().filter(|e| batch::shard_of(e.id.as_str(), n) == k).collect(),
        None => entries,
    };
    Ok((entries, bad.len()))
}

pub fn build(args: &BuildArgs) -> anyhow::Result<u8> {
    let now = match &args.now {
        Some(t) => {
            time::parse_rfc3339(t).with_context(|| format!("--now {t}: expected YYYY-MM-DDTHH:MM:SSZ"))?;
            t.clone()
        }
        None => time::now_rfc3339(),
    };
    let max_age = args
        .max_age
        .as_deref()
        .map(|d| time::parse_duration(d).with_context(|| format!("--max-age {d}: expected a duration like 12h or 7d")))
        .transpose()?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let chain = settings::chain(&args.chain, &args.source)?;
    let (entries, bad_lines) = read_list(&args.models, shard)?;
    // Refuse before any work when the db.json we would export to is not ours to replace.
    let published = json::read_or_empty(&args.db)?;
    let source = settings::source(&args.source)?;
    let _lock = lock::acquire(&args.sqlite, &now)?;
    let mut store = SqliteStore::open(&args.sqlite)?;
    seed_from_published(&mut store, &published)?;
    let store = Mutex::new(store);

    let opts =
        BuildOptions { jobs: args.jobs, refresh: args.refresh, max_age, fail_fast: args.fail_on_error, chain, now };
    let progress = Progress::new(entries.len() as u64);
    let done = AtomicUsize::new(0);
    let export_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let on_done = |ev: Event| {
        progress.record(&ev);
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if args.export_every > 0 && n.is_multiple_of(args.export_every) && n < entries.len() {
            let result = store.lock().map_err(|_| anyhow::anyhow!("store lock poisoned")).and_then(|s| Ok(s.export()?));
            if let Err(e) = result.and_then(|db| Ok(json::write(&args.db, &db)?)) {
                export_error.lock().expect("error slot").get_or_insert(e);
            }
        }
    };
    let summary = batch::build(source.as_ref(), &entries, &store, &opts, &on_done)?;
    progress.finish();
    let mut store = store.into_inner().unwrap_or_else(|p| p.into_inner());
    if args.prune {
        prune(&mut store, &entries, shard)?;
    }
    if let Some(e) = export_error.into_inner().expect("error slot") {
        eprintln!("warning: a periodic export failed: {e:#}");
    }
    let db = store.export()?;
    let changed = json::write(&args.db, &db)?;
    report(&summary, &args.db, changed, bad_lines, args.json)?;
    Ok(if summary.failed() > 0 || summary.skipped > 0 || bad_lines > 0 { 1 } else { 0 })
}

/// Loads records of the published db.json that the store lacks (a fresh machine starts from the
/// shipped cache), never replacing what the store has.
fn seed_from_published(store: &mut SqliteStore, published: &capcache::record::Db) -> anyhow::Result<()> {
    let have: std::collections::HashSet<String> = store.ids()?.into_iter().collect();
    let mut missing = capcache::record::Db::default();
    for (id, r) in &published.models {
        if !have.contains(id) {
            missing.models.insert(id.clone(), r.clone());
        }
    }
    if !missing.models.is_empty() {
        store.import(&missing)?;
    }
    Ok(())
}

fn prune(store: &mut SqliteStore, entries: &[Entry], shard: Option<(u64, u64)>) -> anyhow::Result<()> {
    let keep: std::collections::HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    for id in store.ids()? {
        let mine = shard.is_none_or(|(k, n)| batch::shard_of(&id, n) == k);
        if mine && !keep.contains(id.as_str()) {
            eprintln!("pruned {id}");
            store.remove(&id)?;
        }
    }
    Ok(())
}

fn report(s: &Summary, db: &Path, changed: bool, bad_lines: usize, json_out: bool) -> anyhow::Result<()> {
    if json_out {
        let mut v = serde_json::to_value(s)?;
        v["db"] = db.display().to_string().into();
        v["db_changed"] = changed.into();
        v["invalid_lines"] = bad_lines.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let resolved: u64 = s.resolved_by_strategy.values().sum();
    eprintln!(
        "{} models in {:.1}s: {resolved} resolved, {} unchanged, {} failed{}",
        s.models,
        s.wall_seconds,
        s.unchanged,
        s.failed(),
        if s.skipped > 0 { format!(", {} not started", s.skipped) } else { String::new() }
    );
    for (st, n) in &s.resolved_by_strategy {
        eprintln!("  resolved by {st:<14} {n}");
    }
    for (o, n) in &s.failed_by_outcome {
        eprintln!("  failed: {o:<18} {n}");
    }
    eprintln!("  {} requests, {} bytes read", summary::thousands(s.requests), summary::thousands(s.bytes));
    eprintln!("  {} {}", db.display(), if changed { "written" } else { "unchanged" });
    Ok(())
}

/// A progress bar on a terminal; a log line every 10 seconds otherwise (cron).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: AtomicU64,
    failed: AtomicU64,
    start: Instant,
    last_line: Mutex<Instant>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} models  {per_sec}  eta {eta}  {msg}")
                    .expect("progress template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            total,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            start: Instant::now(),
            last_line: Mutex::new(Instant::now()),
        }
    }

    fn record(&self, ev: &Event) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Finished::Failed(outcome, message) = ev.finished {
            let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            let line = format!("failed {}: {outcome}: {}", ev.id, summary::printable(message));
            match &self.bar {
                Some(bar) => {
                    bar.println(line);
                    bar.set_message(format!("{failed} failed"));
                }
                None => eprintln!("{line}"),
            }
        }
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => {
                let mut last = self.last_line.lock().expect("progress lock");
                if last.elapsed() >= Duration::from_secs(10) || done == self.total {
                    *last = Instant::now();
                    let rate = done as f64 / self.start.elapsed().as_secs_f64().max(1e-3);
                    eprintln!(
                        "progress: {done}/{} models, {} failed, {rate:.1} models/s",
                        self.total,
                        self.failed.load(Ordering::Relaxed)
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
