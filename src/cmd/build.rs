//! `capcache build`: the model list, the lock, the SQLite store, the parallel build with progress,
//! the periodic export (on a thread of its own) and the final one, both streamed and atomic, the
//! summary, the exit code.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use capcache::batch::{self, BuildOptions, Event, Finished, Summary};
use capcache::id::{Entry, parse_list};
use capcache::store::import::import;
use capcache::store::lock;
use capcache::store::publish::publish;
use capcache::store::sqlite::SqliteStore;
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
    let (entries, bad_lines) = read_list(&args.models, shard)?;
    let source = settings::source(&args.source)?;
    let chain = settings::chain(&args.chain, &args.source)?;
    let _lock = lock::acquire(&args.sqlite, &now)?;
    let mut store = SqliteStore::open(&args.sqlite)?;
    // A fresh machine starts from the published cache (the records and failures the store
    // lacks). This also refuses, before any work, a db.json we would export to that is not ours
    // to replace.
    if args.db.exists() {
        import(&mut store, &args.db, true)?;
    }
    let store = Mutex::new(store);

    let opts =
        BuildOptions { jobs: args.jobs, refresh: args.refresh, max_age, fail_fast: args.fail_on_error, chain, now };
    let progress = Progress::new(entries.len() as u64);
    let periodic = Periodic::new(args.export_every, entries.len());
    let (summary, export_error) = std::thread::scope(|scope| {
        let exporter = (args.export_every > 0).then(|| scope.spawn(|| periodic.run(&args.sqlite, &args.db)));
        let on_done = |ev: Event| {
            progress.record(&ev);
            periodic.finished_one();
        };
        let summary = batch::build(source.as_ref(), &entries, &store, &opts, &on_done);
        periodic.stop();
        let export_error =
            exporter.and_then(|h| h.join().unwrap_or_else(|_| Some(anyhow::anyhow!("the exporter panicked"))));
        (summary, export_error)
    });
    let summary = summary?;
    progress.finish();
    let mut store = store.into_inner().unwrap_or_else(|p| p.into_inner());
    if args.prune {
        prune(&mut store, &entries, shard)?;
    }
    if let Some(e) = export_error {
        eprintln!("warning: a periodic export failed: {e:#}");
    }
    let changed = publish(&args.db, |w| store.write_canonical(w))?.changed;
    report(&summary, &args.db, changed, bad_lines, args.json)?;
    Ok(if summary.failed() > 0 || summary.skipped > 0 || bad_lines > 0 { 1 } else { 0 })
}

/// The periodic export of db.json during a build: one thread of its own (never a worker), one
/// export at a time, each a streamed snapshot of the SQLite store read through its own read-only
/// connection. It runs once `every` more models have finished, but no sooner after the previous
/// export than nine times that export's duration, so exporting takes at most a tenth of the
/// build's time however large the store grows. The final export runs after the workers stop.
struct Periodic {
    every: usize,
    total: usize,
    /// Models finished, and whether the workers are done.
    state: Mutex<(usize, bool)>,
    wake: Condvar,
}

impl Periodic {
    fn new(every: usize, total: usize) -> Periodic {
        Periodic { every, total, state: Mutex::new((0, false)), wake: Condvar::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, bool)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A model finished.
    fn finished_one(&self) {
        let mut s = self.lock();
        s.0 += 1;
        if self.every > 0 && s.0.is_multiple_of(self.every) {
            self.wake.notify_one();
        }
    }

    /// The workers are done: the thread exits.
    fn stop(&self) {
        self.lock().1 = true;
        self.wake.notify_one();
    }

    /// The exporter thread; returns the first export error.
    fn run(&self, sqlite: &Path, db: &Path) -> Option<anyhow::Error> {
        let mut first_error = None;
        let mut exported_at = 0;
        let mut not_before = Instant::now();
        loop {
            let mut s = self.lock();
            loop {
                let (finished, stop) = *s;
                if stop {
                    return first_error;
                }
                let due = finished >= exported_at + self.every && finished < self.total;
                let wait = not_before.saturating_duration_since(Instant::now());
                if due && wait.is_zero() {
                    exported_at = finished;
                    break;
                }
                s = if due {
                    self.wake.wait_timeout(s, wait).unwrap_or_else(|p| p.into_inner()).0
                } else {
                    self.wake.wait(s).unwrap_or_else(|p| p.into_inner())
                };
            }
            drop(s);
            let started = Instant::now();
            let result = SqliteStore::open_read_only(sqlite)
                .and_then(|store| publish(db, |w| store.write_canonical(w)))
                .map_err(anyhow::Error::from);
            not_before = Instant::now() + started.elapsed() * 9;
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
    }
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
