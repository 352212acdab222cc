//! The per-host limit on Hub requests in flight: one counting semaphore per `host:port`, whose
//! permit is held from sending a request until its body is read (a download's too). A wait for a
//! permit ends at the request's deadline; a lock a panicking thread held is taken over, not a
//! reason to fail every later request (the counts it guards are whole at every point).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Bounds requests in flight per host.
pub(super) struct HostLimiter {
    pub(super) per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

struct Semaphore {
    free: Mutex<usize>,
    cv: Condvar,
}

/// Returned to its semaphore on drop.
pub(super) struct Permit(Arc<Semaphore>);

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.cv.notify_one();
    }
}

impl HostLimiter {
    pub(super) fn new(per_host: usize) -> HostLimiter {
        HostLimiter { per_host, hosts: Mutex::new(HashMap::new()) }
    }

    /// A slot for `host:port`, waiting for one until `until` at the latest (`None`: none came
    /// free in time).
    pub(super) fn acquire(&self, host: &str, port: Option<u16>, until: Instant) -> Option<Permit> {
        let key = format!("{host}:{}", port.unwrap_or(0));
        let sem = Arc::clone(
            self.hosts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore { free: Mutex::new(self.per_host), cv: Condvar::new() })),
        );
        let mut free = sem.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            free = sem.cv.wait_timeout(free, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        *free -= 1;
        drop(free);
        Some(Permit(sem))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_limiter_waits_until_a_deadline_and_takes_over_poisoned_locks() {
        let l = HostLimiter::new(1);
        let far = Instant::now() + Duration::from_secs(30);
        let permit = l.acquire("h", Some(1), far).unwrap();
        // Threads panic while holding the host map's lock and the semaphore's.
        std::thread::scope(|s| {
            let sem = &permit.0;
            assert!(
                s.spawn(|| {
                    let _g = sem.free.lock().unwrap();
                    panic!("boom")
                })
                .join()
                .is_err()
            );
            assert!(
                s.spawn(|| {
                    let _g = l.hosts.lock().unwrap();
                    panic!("boom")
                })
                .join()
                .is_err()
            );
        });
        let started = Instant::now();
        assert!(l.acquire("h", Some(1), Instant::now() + Duration::from_millis(100)).is_none(), "the slot is held");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(permit);
        assert!(l.acquire("h", Some(1), far).is_some(), "a poisoned lock is no reason to fail");
    }
}
