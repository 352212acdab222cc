//! Ctrl-C (SIGINT) and SIGTERM during a build. The first signal stops the build from starting new
//! models: those in flight finish, every finished record is already committed to the SQLite store,
//! db.json is exported, one line says what was kept and that a rerun resumes, and the process exits
//! with the shell's code for the signal (130, 143). A second signal ends the process at once with
//! that code (nothing finished is lost: each record was committed when it was made).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The signals a build answers, with the exit code each one ends it with (128 + the number).
#[cfg(unix)]
const SIGNALS: [(i32, &str, u8); 2] =
    [(signal_hook::consts::SIGINT, "SIGINT", 130), (signal_hook::consts::SIGTERM, "SIGTERM", 143)];

/// Whether a stop was asked for, and by which signal.
pub struct Interrupt {
    /// Set by the first signal; the build polls it before each model.
    pub stop: Arc<AtomicBool>,
    /// The index in [`SIGNALS`] of the signal that arrived, plus one (0: none yet).
    which: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Installs the handlers (on Unix; elsewhere the default handling stays and nothing is caught).
    pub fn install() -> anyhow::Result<Interrupt> {
        let it = Interrupt { stop: Arc::new(AtomicBool::new(false)), which: Arc::new(AtomicUsize::new(0)) };
        #[cfg(unix)]
        for (i, (signal, _, code)) in SIGNALS.iter().enumerate() {
            // Registered first, so that it sees the flag as the previous signal left it: the second
            // signal exits, the first only sets the flag below.
            signal_hook::flag::register_conditional_shutdown(*signal, i32::from(*code), Arc::clone(&it.stop))?;
            signal_hook::flag::register(*signal, Arc::clone(&it.stop))?;
            signal_hook::flag::register_usize(*signal, Arc::clone(&it.which), i + 1)?;
        }
        Ok(it)
    }

    /// The signal that stopped the build, by name and exit code.
    pub fn signal(&self) -> Option<(&'static str, u8)> {
        if !self.stop.load(Ordering::Relaxed) {
            return None;
        }
        #[cfg(unix)]
        {
            let i = self.which.load(Ordering::Relaxed);
            Some(SIGNALS.get(i.wrapping_sub(1)).map_or(("a signal", 130), |(_, name, code)| (*name, *code)))
        }
        #[cfg(not(unix))]
        Some(("a signal", 130))
    }
}
