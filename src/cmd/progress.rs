//! Download progress: one line per model downloading (bytes, rate, ETA) on a terminal; otherwise a
//! log line per model when it starts, every 10 seconds while it runs, and when it ends.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capcache::strategy::download::{Progress, ProgressLine};
use capcache::summary;

pub struct DownloadBar {
    /// The lines of the models downloading now (terminal only).
    lines: Option<indicatif::MultiProgress>,
}

impl Default for DownloadBar {
    fn default() -> Self {
        DownloadBar { lines: std::io::stderr().is_terminal().then(indicatif::MultiProgress::new) }
    }
}

impl Progress for DownloadBar {
    fn start(&self, model: &str, files: usize, bytes: u64) -> Arc<dyn ProgressLine> {
        eprintln!(
            "downloading {model}: {files} files, {} ({} bytes)",
            summary::gib_gb(bytes),
            summary::thousands(bytes)
        );
        match &self.lines {
            Some(lines) => {
                let bar = lines.add(indicatif::ProgressBar::new(bytes));
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix:30!} {bar:30} {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}",
                    )
                    .expect("progress template"),
                );
                bar.set_prefix(model.to_owned());
                Arc::new(Bar(bar))
            }
            None => Arc::new(LogLine {
                model: model.to_owned(),
                total: bytes,
                started: Instant::now(),
                state: Mutex::new((0, Instant::now())),
            }),
        }
    }
}

struct Bar(indicatif::ProgressBar);

impl ProgressLine for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A model's download as log lines.
struct LogLine {
    model: String,
    total: u64,
    started: Instant,
    /// Bytes so far, and when the last line was written.
    state: Mutex<(u64, Instant)>,
}

impl LogLine {
    fn say(&self, done: u64) {
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        eprintln!(
            "downloaded {} of {} bytes of {} ({:.1} MB/s)",
            summary::thousands(done),
            summary::thousands(self.total),
            self.model,
            rate / 1e6
        );
    }
}

impl ProgressLine for LogLine {
    fn advance(&self, bytes: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += bytes;
        if state.1.elapsed() >= Duration::from_secs(10) {
            state.1 = Instant::now();
            self.say(state.0);
        }
    }
    fn finish(&self) {
        self.say(self.state.lock().unwrap_or_else(|p| p.into_inner()).0);
    }
}
