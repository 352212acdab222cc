//! `capcache build`: the model list and its Hub listing queries, the lock, the SQLite store
//! (seeded from the published cache), the parallel build with progress, the periodic export (on a
//! thread of its own) and the final one, both streamed and atomic, the summary, the exit code.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use capcache::batch::{self, BuildOptions, Event, Finished, Summary};
use capcache::discover::listing::{self, BUILD_FIELDS};
use capcache::discover::query::ListingQuery;
use capcache::list::{Entry, ModelList, parse_list};
use capcache::source::hub::HubSource;
use capcache::store::publish::{Stamp, publish_again};
use capcache::store::sqlite::SqliteStore;
use capcache::store::{import, json, lock};
use capcache::{summary, text, time};

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

/// The model list, after reporting its bad lines.
fn read_list(path: &Path) -> anyhow::Result<ModelList> {
    let bytes = match fs_err::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no model list at {}: write one model id a line there (`org/name`, optionally `@revision`), or give --models FILE",
            path.display()
        ),
        read => read.context("cannot read the model list")?,
    };
    let list = parse_list(bytes);
    for b in &list.bad {
        eprintln!("{}:{}: skipped: {}", path.display(), b.line, b.error);
    }
    Ok(list)
}

/// What one listing query gave.
#[derive(serde::Serialize)]
struct Discovered {
    query: String,
    /// Its line in the model list (absent for `--discover`).
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    listed: usize,
    /// Listed models that were not in the list already.
    added: usize,
    pages: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs the list's `discover:` lines, then the `--discover` queries, joining their models to the
/// entries. A query that fails is reported (with its line) and the rest go on.
fn discover(hub: Option<&HubSource>, list: &mut ModelList, flags: &[ListingQuery], models: &Path) -> Vec<Discovered> {
    let queries = list.discover.iter().map(|d| (Some(d.line), &d.query)).chain(flags.iter().map(|q| (None, q)));
    let mut out = Vec::new();
    for (line, query) in queries {
        let place = match line {
            Some(n) => format!("{}:{n}: discover", models.display()),
            None => "--discover".to_owned(),
        };
        let mut d = Discovered { query: query.to_string(), line, listed: 0, added: 0, pages: 0, error: None };
        let result = match hub {
            Some(hub) => listing::list(hub, query, BUILD_FIELDS).map_err(|e| e.to_string()),
            None => Err(settings::NO_LISTING.to_owned()),
        };
        match result {
            Ok(found) => {
                d.listed = found.models.len();
                d.pages = found.pages;
                d.added = capcache::list::join(&mut list.entries, &found.models, line.unwrap_or(0));
                let more = if found.truncated { " (the listing has more: give limit=N)" } else { "" };
                let pages = if d.pages == 1 { "1 page".to_owned() } else { format!("{} pages", d.pages) };
                eprintln!(
                    "{place} {}: {} listed ({pages}), {} not in the list already{more}",
                    d.query, d.listed, d.added
                );
            }
            Err(e) => {
                eprintln!("{place} {}: failed: {e}", d.query);
                d.error = Some(e);
            }
        }
        out.push(d);
    }
    out
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
    let flag_queries = args
        .discover
        .iter()
        .map(|q| ListingQuery::parse(q).with_context(|| format!("--discover {q}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut list = read_list(&args.models)?;
    // Outputs first: a db.json we could not write would otherwise be found out only after every
    // model was resolved.
    check_writable(&args.db)?;
    // Refuse before any work when the db.json we would export to is not ours to replace (when it
    // seeds the store, the seeding reads it whole anyway).
    // Stored times are checked against the later of the clock and --now.
    let clock = time::now_unix().max(time::parse_rfc3339(&now).unwrap_or(0));
    if args.seed.is_some() && args.db.exists() {
        json::for_each_entry_at(&args.db, clock, |_, _| Ok(()))?;
    }
    let source = settings::source(&args.source)?;
    if !flag_queries.is_empty() && source.hub().is_none() {
        bail!("--discover lists models on the Hub: {}", settings::NO_LISTING);
    }
    let _lock = lock::acquire(&args.sqlite, &now)?;
    let mut store = SqliteStore::open(&args.sqlite)?;
    store.set_now(clock);
    store.trust_imports(args.trust_seed);
    // A fresh store starts from the last published cache: the records and failures of this shard
    // it lacks, streamed.
    let mine = |id: &str| shard.is_none_or(|(k, n)| batch::shard_of(id, n) == k);
    match &args.seed {
        Some(seed) => {
            import::import_any(&mut store, seed, &mine).with_context(|| format!("--seed {}", seed.display()))?;
        }
        None if args.db.exists() => {
            import::import_any(&mut store, &args.db, &mine)?;
        }
        None => {}
    }
    let store = Mutex::new(store);

    let requests0 = source.as_ref().counters().requests();
    let discovered = discover(source.hub(), &mut list, &flag_queries, &args.models);
    let listing_requests = source.as_ref().counters().requests() - requests0;
    let discovery_failed = discovered.iter().filter(|d| d.error.is_some()).count();
    let bad_lines = list.bad.len() + discovery_failed;
    let entries: Vec<Entry> = match shard {
        Some((k, n)) => list.entries.into_iter().filter(|e| batch::shard_of(e.id.as_str(), n) == k).collect(),
        None => list.entries,
    };

    let interrupt = super::interrupt::Interrupt::install()?;
    let opts = BuildOptions {
        jobs: args.jobs,
        refresh: args.refresh,
        max_age,
        fail_fast: args.fail_on_error,
        cancel: Some(interrupt.stop.clone()),
        chain,
        now,
    };
    let progress = Progress::new(entries.len() as u64);
    let periodic = Periodic::new(args.export_every, entries.len());
    let (summary, (export_error, mut last)) = std::thread::scope(|scope| {
        let exporter = (args.export_every > 0).then(|| scope.spawn(|| periodic.run(&args.sqlite, &args.db)));
        let on_done = |ev: Event| {
            progress.record(&ev);
            periodic.finished_one();
        };
        let summary = batch::build(source.as_ref(), &entries, &store, &opts, &on_done);
        periodic.stop();
        let exported = match exporter {
            Some(h) => h.join().unwrap_or_else(|_| (Some(anyhow::anyhow!("the exporter panicked")), None)),
            None => (None, None),
        };
        (summary, exported)
    });
    let summary = summary?;
    progress.finish();
    let mut store = store.into_inner().unwrap_or_else(|p| p.into_inner());
    if args.prune && discovery_failed > 0 {
        eprintln!("warning: not pruning: {discovery_failed} listing queries failed, so the list is incomplete");
    } else if args.prune {
        prune(&mut store, &entries, shard)?;
    }
    if let Some(e) = export_error {
        eprintln!("warning: a periodic export failed: {}", super::error_text(&e));
    }
    let changed = publish_again(&args.db, &mut last, |w| store.write_canonical(w))
        .with_context(|| {
            format!(
                "every result is kept in {sqlite}: `capcache export --sqlite {sqlite} --db PATH` writes them \
                 to a db.json you can write",
                sqlite = args.sqlite.display()
            )
        })?
        .changed;
    let run = Run { db: &args.db, changed, bad_lines, discovered: &discovered, listing_requests };
    report(&summary, &run, args.json)?;
    if let Some((signal, code)) = interrupt.signal() {
        let finished = summary.models as u64 - summary.skipped;
        eprintln!(
            "interrupted by {signal}: {finished} of {} models finished, their records kept in {} and {}; \
             run the same command again to resume (finished models cost one request each)",
            summary.models,
            args.sqlite.display(),
            args.db.display()
        );
        return Ok(code);
    }
    Ok(if summary.failed() > 0 || summary.skipped > 0 || bad_lines > 0 { 1 } else { 0 })
}

/// Fails unless a db.json can be published at `db`: a file (or nothing yet) in a folder where a
/// temp file can be created and renamed, as [`publish`] does.
fn check_writable(db: &Path) -> anyhow::Result<()> {
    if db.is_dir() {
        bail!("--db {}: is a folder; give the path of a db.json file", db.display());
    }
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".capcache-check.")
        .tempfile_in(dir)
        .with_context(|| format!("--db {}: cannot write into {}", db.display(), dir.display()))?;
    Ok(())
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

    /// The exporter thread; returns the first export error, and what the last export left at `db`.
    fn run(&self, sqlite: &Path, db: &Path) -> (Option<anyhow::Error>, Option<Stamp>) {
        let mut first_error = None;
        let mut exported_at = 0;
        let mut not_before = Instant::now();
        let mut last = None;
        loop {
            let mut s = self.lock();
            loop {
                let (finished, stop) = *s;
                if stop {
                    return (first_error, last);
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
                .and_then(|store| publish_again(db, &mut last, |w| store.write_canonical(w)))
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

/// What the build did besides the models: the export, bad lines, the listing queries.
struct Run<'a> {
    db: &'a Path,
    changed: bool,
    /// Unusable lines of the list, and listing queries that failed.
    bad_lines: usize,
    discovered: &'a [Discovered],
    listing_requests: u64,
}

fn report(s: &Summary, run: &Run, json_out: bool) -> anyhow::Result<()> {
    if json_out {
        let mut v = serde_json::to_value(s)?;
        v["db"] = run.db.display().to_string().into();
        v["db_changed"] = run.changed.into();
        v["invalid_lines"] = run.bad_lines.into();
        v["discovery"] = serde_json::to_value(run.discovered)?;
        v["listing_requests"] = run.listing_requests.into();
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let resolved: u64 = s.resolved_by_strategy.values().sum();
    eprintln!(
        "{} in {:.1}s: {resolved} resolved, {} unchanged, {} failed{}",
        summary::count_of(s.models as u64, "model"),
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
    if s.skipped > 0 {
        eprintln!("  not started: {} (a failure with --fail-on-error, or an interrupt)", s.skipped);
    }
    let bad_list_lines = run.bad_lines - run.discovered.iter().filter(|d| d.error.is_some()).count();
    if bad_list_lines > 0 {
        eprintln!(
            "  {} of the model list skipped (reported above with their line numbers)",
            summary::count_of(bad_list_lines as u64, "line")
        );
    }
    for d in run.discovered.iter().filter(|d| d.error.is_some()) {
        eprintln!("  listing query failed: {}", d.query);
    }
    eprintln!("  {} requests, {} bytes read", summary::thousands(s.requests), summary::thousands(s.bytes));
    if !run.discovered.is_empty() {
        let listed: usize = run.discovered.iter().map(|d| d.listed).sum();
        eprintln!(
            "  {} listing queries: {listed} models listed, {} requests",
            run.discovered.len(),
            summary::thousands(run.listing_requests)
        );
    }
    // Not "unchanged": the periodic exports of a long or interrupted build may have written it.
    eprintln!("  {} {}", run.db.display(), if run.changed { "written" } else { "already up to date" });
    // Once, not per model: what to do when models failed on the way to the Hub.
    if let Some(step) = s.failed_by_outcome.keys().find_map(|o| super::resolve::next_step(*o)) {
        eprintln!("{step} The failed models keep their earlier records; the next run tries them again.");
    }
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
            let line = format!("failed {}: {outcome}: {}", ev.id, text::printable(message));
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
