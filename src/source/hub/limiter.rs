//! The per-host limit on Hub requests in flight: one counting semaphore per `host:port`, whose
//! permit is held from sending a request until its body is read (and, through
//! `Source::hold_slot`, by work done outside the client such as downloads).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

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
        *self.0.free.lock().expect("semaphore lock") += 1;
        self.0.cv.notify_one();
    }
}

impl HostLimiter {
    pub(super) fn new(per_host: usize) -> HostLimiter {
        HostLimiter { per_host, hosts: Mutex::new(HashMap::new()) }
    }

    pub(super) fn acquire(&self, host: &str, port: Option<u16>) -> Permit {
        let key = format!("{host}:{}", port.unwrap_or(0));
        let sem = Arc::clone(
            self.hosts
                .lock()
                .expect("limiter lock")
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore { free: Mutex::new(self.per_host), cv: Condvar::new() })),
        );
        let mut free = sem.free.lock().expect("semaphore lock");
        while *free == 0 {
            free = sem.cv.wait(free).expect("semaphore lock");
        }
        *free -= 1;
        drop(free);
        Permit(sem)
    }
}
