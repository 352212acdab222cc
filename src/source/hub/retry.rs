//! Retries of transient Hub failures: bounded attempts, exponential backoff with jitter, the
//! waits a `429` asks for (`Retry-After` / `RateLimit`) honoured up to a cap, and no wait past the
//! model's deadline.

use std::time::Duration;

use tracing::warn;

use super::super::{Deadline, SourceError};

/// How transient failures are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff; doubles each attempt, with jitter.
    pub base_delay: Duration,
    /// Longest backoff between attempts.
    pub max_delay: Duration,
    /// Longest wait a `429` may ask for before capcache gives up on that request.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_wait: Duration::from_secs(120),
        }
    }
}

/// Runs `op` with retries for retryable errors; never waits past the deadline.
pub(super) fn with_retry<T>(
    policy: &RetryPolicy,
    id: &str,
    what: &str,
    deadline: Deadline,
    mut op: impl FnMut() -> Result<T, SourceError>,
) -> Result<T, SourceError> {
    let mut attempt = 0u32;
    loop {
        match op() {
            Err(e) if e.is_retryable() && attempt + 1 < policy.max_attempts => {
                let wait = match &e {
                    SourceError::RateLimited { retry_after: Some(d), .. } => {
                        if *d > policy.max_wait {
                            return Err(e);
                        }
                        *d + jitter(Duration::from_millis(100))
                    }
                    _ => backoff(policy, attempt),
                };
                if deadline.remaining().is_some_and(|left| left <= wait) {
                    return Err(e);
                }
                warn!(model = id, path = what, error = %e, wait_ms = wait.as_millis() as u64, "retrying");
                std::thread::sleep(wait);
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy.base_delay.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(policy.max_delay);
    capped / 2 + jitter(capped / 2)
}

/// A pseudo-random duration in `[0, max)`, from the clock and thread (no RNG crate needed).
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    let nanos = max.as_nanos().max(1) as u64;
    Duration::from_nanos(h.finish() % nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        for a in 0..40 {
            assert!(backoff(&p, a) <= p.max_delay);
        }
    }
}
