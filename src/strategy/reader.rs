//! The one way strategies read a model's files: through the model's [`Budget`] (a wall-clock
//! deadline and a cap on the bytes read across all its files, shards and split parts, and on the
//! tensors parsed from them, at [`TENSOR_COST`] bytes each), either a
//! small file whole ([`Ctx::read_small`]) or a weight file by range through a [`FileReader`], the
//! [`ReadAt`] the format parsers pull bytes from; JSON read into a tree is charged per value
//! ([`Ctx::charge_json`]). A failed read keeps its typed cause, so the
//! strategy reports `rate-limited` or `too-large`, not a parser's "could not read".

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Ctx, Miss};
use crate::format::{Chunk, ReadAt, ReadError};
use crate::record::{Outcome, Severity};
use crate::source::{Deadline, SourceError};

/// What a parsed tensor holds in memory beyond its bytes in the file (its name, dtype and shape as
/// owned values, its places in the lists that check and count it), rounded up. Charged to the
/// model's budget, so that a header of many tiny tensors cannot cost several times what was read.
pub const TENSOR_COST: u64 = 256;

/// What a parsed JSON value holds in memory beyond its bytes in the file (a `serde_json::Value`,
/// its slot in an array or a map entry, its key), rounded up: a JSON file read into a tree is
/// charged this much per value on top of its bytes, so that `[0,0,0,...]` cannot cost many times
/// what was read.
pub const JSON_VALUE_COST: u64 = 64;

/// At most how many values (and keys) a JSON text holds, counted without parsing: one, plus one
/// per `,`, `:`, `[` and `{` outside strings. Pure, linear, and indifferent to whether the text is
/// valid JSON (or Python's, with `NaN`): a bound to charge before any tree is built.
pub fn json_values_at_most(bytes: &[u8]) -> u64 {
    let (mut n, mut in_string, mut escaped) = (1u64, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b',' | b':' | b'[' | b'{' => n += 1,
                _ => {}
            }
        }
    }
    n
}

/// What one model may spend.
#[derive(Debug)]
pub struct Budget {
    pub deadline: Deadline,
    /// The cap, for messages.
    cap: u64,
    left: AtomicU64,
}

impl Budget {
    pub fn new(deadline: Deadline, max_bytes: u64) -> Budget {
        Budget { deadline, cap: max_bytes, left: AtomicU64::new(max_bytes) }
    }

    /// Takes `n` bytes from the budget; false (taking nothing) when fewer are left.
    fn take(&self, n: u64) -> bool {
        self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(n)).is_ok()
    }

    /// Bytes not yet spent.
    fn left(&self) -> u64 {
        self.left.load(Ordering::Relaxed)
    }

    /// Takes up to `n` bytes, as many as are left; returns how many.
    fn take_up_to(&self, n: u64) -> u64 {
        let before = self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| Some(left - left.min(n)));
        before.unwrap_or(0).min(n)
    }

    fn exceeded(&self, id: &str, path: &str, n: u64) -> Miss {
        self.over(format!("{id}: reading {n} more bytes of {path}"))
    }

    /// The miss for `what` passing the budget.
    fn over(&self, what: String) -> Miss {
        Miss {
            outcome: Outcome::TooLarge,
            severity: Severity::Fatal,
            message: format!("{what} would pass the model's budget of {} bytes (--max-model-bytes)", self.cap),
        }
    }

    /// Returns bytes taken but not used.
    fn refund(&self, n: u64) {
        self.left.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes read so far.
    pub fn spent(&self) -> u64 {
        self.cap - self.left.load(Ordering::Relaxed).min(self.cap)
    }
}

impl Ctx<'_> {
    /// Reads a whole small file of at most `cap` bytes, charged to the budget.
    pub fn read_small(&self, path: &str, cap: u64) -> Result<Vec<u8>, Miss> {
        let allowed = self.budget.take_up_to(cap);
        let result = self.source.read_small(self.snap, path, allowed, self.budget.deadline);
        self.budget.refund(allowed - result.as_ref().map_or(0, |b| (b.len() as u64).min(allowed)));
        match result {
            Err(SourceError::TooLarge { size, .. }) if allowed < cap => {
                Err(self.budget.exceeded(self.snap.id.as_str(), path, size))
            }
            other => Ok(other?),
        }
    }

    /// The model's deadline, checked inside a loop over a count a file or a server chose: a miss
    /// (`timeout`) once it has passed, naming `what` the loop was doing.
    pub fn check_deadline(&self, what: &str) -> Result<(), Miss> {
        match self.budget.deadline.passed() {
            true => Err(SourceError::Deadline { id: self.snap.id.to_string(), path: what.into() }.into()),
            false => Ok(()),
        }
    }

    /// Charges the tree `bytes` (JSON from `path`) will become, at [`JSON_VALUE_COST`] a value, to
    /// the budget before it is parsed; or says the model is over it.
    pub fn charge_json(&self, path: &str, bytes: &[u8]) -> Result<(), Miss> {
        let values = json_values_at_most(bytes);
        match self.budget.take(values.saturating_mul(JSON_VALUE_COST)) {
            true => Ok(()),
            false => Err(self.budget.over(format!(
                "{}: the {values} JSON values of {path} (at {JSON_VALUE_COST} bytes each)",
                self.snap.id.as_str()
            ))),
        }
    }

    /// How many tensors the budget has left room for.
    pub fn tensors_left(&self) -> usize {
        usize::try_from(self.budget.left() / TENSOR_COST).unwrap_or(usize::MAX)
    }

    /// Charges `n` tensors parsed from `path` to the budget, or says the model is over it.
    pub fn charge_tensors(&self, path: &str, n: usize) -> Result<(), Miss> {
        let bytes = u64::try_from(n).unwrap_or(u64::MAX).saturating_mul(TENSOR_COST);
        if self.budget.take(bytes) { Ok(()) } else { Err(self.tensors_over(path, n)) }
    }

    /// The miss for `n` tensors of `path` that the budget has no room for.
    pub fn tensors_over(&self, path: &str, n: usize) -> Miss {
        self.budget.over(format!("{}: the {n} tensors of {path} (at {TENSOR_COST} bytes each)", self.snap.id.as_str()))
    }

    /// The sizes of files, without reading them.
    pub fn file_sizes(&self, paths: &[&str]) -> Result<Vec<u64>, Miss> {
        Ok(self.source.file_sizes(self.snap, paths, self.budget.deadline)?)
    }

    /// A range reader over one file of the snapshot.
    pub fn file<'c>(&'c self, path: &'c str) -> FileReader<'c> {
        FileReader { ctx: self, path, failure: RefCell::new(None) }
    }
}

/// One file, read by range through the model's budget.
pub struct FileReader<'c> {
    ctx: &'c Ctx<'c>,
    path: &'c str,
    /// Why the last read failed, typed.
    failure: RefCell<Option<Miss>>,
}

impl FileReader<'_> {
    /// The miss for a parser error `e`: the read's own failure when a read failed, else an invalid
    /// file.
    pub fn miss(&self, e: impl std::fmt::Display) -> Miss {
        self.failure.borrow_mut().take().unwrap_or_else(|| Miss::invalid(self.path, e))
    }

    fn fail(&self, miss: Miss) -> ReadError {
        let e = ReadError(miss.message.clone());
        *self.failure.borrow_mut() = Some(miss);
        e
    }
}

impl ReadAt for FileReader<'_> {
    fn read_at(&self, offset: u64, len: u64) -> Result<Chunk, ReadError> {
        let ctx = self.ctx;
        if !ctx.budget.take(len) {
            return Err(self.fail(ctx.budget.exceeded(ctx.snap.id.as_str(), self.path, len)));
        }
        let result = ctx.source.read_range(ctx.snap, self.path, offset, len, ctx.budget.deadline);
        ctx.budget.refund(len - result.as_ref().map_or(0, |r| (r.bytes.len() as u64).min(len)));
        result.map(|r| Chunk { bytes: r.bytes, file_size: r.file_size }).map_err(|e: SourceError| self.fail(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_are_bounded_without_parsing() {
        for (text, values) in
            [("{}", 2), ("[1,2,3]", 4), (r#"{"a":1,"b":[2,3]}"#, 7), (r#"{"a,b:[{":"\\","c":NaN}"#, 5)]
        {
            let parsed = json_values_at_most(text.as_bytes());
            assert_eq!(parsed, values, "{text}");
        }
        // Never fewer than serde_json's tree holds (values plus keys).
        let v: serde_json::Value = serde_json::from_str(r#"{"x":[[],[1,{"y":null}]],"z":"[,"}"#).unwrap();
        fn count(v: &serde_json::Value) -> u64 {
            1 + match v {
                serde_json::Value::Array(a) => a.iter().map(count).sum(),
                serde_json::Value::Object(o) => o.values().map(|v| 1 + count(v)).sum(),
                _ => 0,
            }
        }
        assert!(json_values_at_most(v.to_string().as_bytes()) >= count(&v));
    }
}
