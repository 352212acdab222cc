//! Download progress: a byte bar with rate and ETA on a terminal, log lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use capcache::strategy::download::Progress;
use capcache::summary;

#[derive(Default)]
pub struct DownloadBar {
    state: Mutex<Option<(indicatif::ProgressBar, Instant, u64)>>,
}

impl Progress for DownloadBar {
    fn start(&self, model: &str, files: usize, bytes: u64) {
        eprintln!("downloading {model}: {files} files, {} ({})", summary::gib_gb(bytes), summary::thousands(bytes));
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(bytes);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}")
                    .expect("progress template"),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        *self.state.lock().expect("progress lock") = Some((bar, Instant::now(), bytes));
    }

    fn advance(&self, bytes: u64) {
        if let Some((bar, started, total)) = self.state.lock().expect("progress lock").as_ref() {
            bar.inc(bytes);
            if bar.is_hidden() {
                let done = bar.position();
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
                eprintln!(
                    "downloaded {} of {} bytes ({:.1} MB/s)",
                    summary::thousands(done),
                    summary::thousands(*total),
                    rate / 1e6
                );
            }
        }
    }

    fn finish(&self) {
        if let Some((bar, _, _)) = self.state.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}
