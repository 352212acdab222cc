//! Reading a model's files side by side: as many at once as the source can have in flight (the
//! Hub's per-host limit, not the number of cores: the work is waiting on the network), on scoped
//! threads of their own so that no thread pool's size caps it. The first failure stops the rest
//! from starting.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{Ctx, Miss};

impl Ctx<'_> {
    /// `f` over a model's files, as many at once as the source allows in flight.
    pub fn each_file<I: Sync, T: Send>(
        &self,
        files: &[I],
        f: impl Fn(&I) -> Result<T, Miss> + Sync,
    ) -> Result<Vec<T>, Miss> {
        map(files, self.source.parallelism(), f)
    }
}

/// `f` over `items`, at most `width` at once; the results in order, or the first failure.
pub fn map<I: Sync, T: Send>(
    items: &[I],
    width: usize,
    f: impl Fn(&I) -> Result<T, Miss> + Sync,
) -> Result<Vec<T>, Miss> {
    let width = width.clamp(1, items.len().max(1));
    if width == 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Vec<Mutex<Option<Result<T, Miss>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..width {
            s.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                }
            });
        }
    });
    let mut out = Vec::with_capacity(items.len());
    let mut first_error = None;
    for slot in results {
        match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn runs_side_by_side_keeps_order_and_stops_at_a_failure() {
        let items: Vec<u32> = (0..32).collect();
        let started = Instant::now();
        let out = map(&items, 16, |i| {
            std::thread::sleep(Duration::from_millis(50));
            Ok(i * 2)
        })
        .unwrap();
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(started.elapsed() < Duration::from_millis(50 * 8), "{:?}", started.elapsed());
        let calls = AtomicUsize::new(0);
        let e = map(&items, 2, |i| {
            calls.fetch_add(1, Ordering::Relaxed);
            // The others take a while, so the failure lands before one thread could run them all
            // (instant items let the other thread finish the list while the failing one waits).
            if *i == 3 {
                Err(Miss::absent("three"))
            } else {
                std::thread::sleep(Duration::from_millis(10));
                Ok(*i)
            }
        })
        .unwrap_err();
        assert_eq!(e.message, "three");
        assert!(calls.load(Ordering::Relaxed) < 32, "the rest did not start");
    }
}
