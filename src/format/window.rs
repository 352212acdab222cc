//! "Read a prefix, then grow": the one way the format parsers pull bytes through a [`ReadAt`]. A
//! [`Window`] holds a run of the file's bytes; asking for bytes it lacks reads only the missing
//! ones (at least the current chunk, which doubles with each read up to [`MAX_CHUNK`], so a header
//! of unknown length costs few requests), extending the run when the request starts inside it and
//! starting a new run when it starts past it (GGUF skips arrays it does not need without reading
//! them). Requests past the end of the file are reported, never padded.

use super::{ReadAt, ReadError};

/// The largest single read a window makes on its own (a caller asking for more gets what it asks).
pub const MAX_CHUNK: u64 = 8 << 20;

/// A run of a file's bytes, grown on demand.
pub struct Window<'r> {
    r: &'r dyn ReadAt,
    file_size: u64,
    buf: Vec<u8>,
    buf_start: u64,
    chunk: u64,
}

impl<'r> Window<'r> {
    /// Reads `first_len` bytes at `start` (fewer at the end of the file).
    pub fn open(r: &'r dyn ReadAt, start: u64, first_len: u64) -> Result<Window<'r>, ReadError> {
        let first = r.read_at(start, first_len)?;
        Ok(Window { r, file_size: first.file_size, buf: first.bytes, buf_start: start, chunk: first_len.max(64) })
    }

    /// The size of the whole file.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// The bytes held, from [`Window::start`] on.
    pub fn held(&self) -> &[u8] {
        &self.buf
    }

    /// The file offset of the first byte held.
    pub fn start(&self) -> u64 {
        self.buf_start
    }

    fn end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    /// Bytes `[at, at + n)`, or `None` when they run past the end of the file. Bytes before `at`
    /// are kept only while the run is extended (`at` inside it); `keep_from` (an offset at or
    /// before `at`) lets a caller that re-parses from an earlier point keep those bytes.
    pub fn get(&mut self, at: u64, n: u64, keep_from: Option<u64>) -> Result<Option<&[u8]>, ReadError> {
        let Some(end) = at.checked_add(n).filter(|e| *e <= self.file_size) else { return Ok(None) };
        if at < self.buf_start || end > self.end() {
            let base = keep_from.unwrap_or(at).min(at);
            if base >= self.buf_start && base <= self.end() {
                // Extend: keep [base, end of run), read from the end of the run.
                self.buf.drain(..(base - self.buf_start) as usize);
                self.buf_start = base;
                let from = self.end();
                let want = (end - from).max(self.chunk).min(self.file_size - from);
                let more = self.r.read_at(from, want)?;
                self.buf.extend_from_slice(&more.bytes);
            } else {
                let want = n.max(self.chunk).min(self.file_size - at);
                self.buf = self.r.read_at(at, want)?.bytes;
                self.buf_start = at;
            }
            self.chunk = self.chunk.saturating_mul(2).min(MAX_CHUNK);
            if end > self.end() {
                return Ok(None); // the reader returned less than the file size promised
            }
        }
        let from = (at - self.buf_start) as usize;
        Ok(Some(&self.buf[from..from + n as usize]))
    }

    /// Bytes `[at, at + n)` when the run already holds them (no read).
    pub fn held_at(&self, at: u64, n: u64) -> Option<&[u8]> {
        let from = at.checked_sub(self.buf_start)?;
        let to = from.checked_add(n)?;
        self.buf.get(usize::try_from(from).ok()?..usize::try_from(to).ok()?)
    }

    /// The bytes held from `at` to the end of the run (empty when `at` is outside it).
    pub fn held_from(&self, at: u64) -> &[u8] {
        at.checked_sub(self.buf_start)
            .and_then(|from| usize::try_from(from).ok())
            .and_then(|from| self.buf.get(from..))
            .unwrap_or_default()
    }

    /// Reads the next chunk after the run (keeping the run), up to `limit` bytes held in all.
    /// False when nothing more can be read (end of file or of `limit`).
    pub fn grow(&mut self, limit: u64) -> Result<bool, ReadError> {
        let have = self.buf.len() as u64;
        let room = limit.min(self.file_size.saturating_sub(self.buf_start));
        if have >= room {
            return Ok(false);
        }
        let want = self.chunk.max(have).min(room - have);
        let more = self.r.read_at(self.end(), want)?;
        self.chunk = self.chunk.saturating_mul(2).min(MAX_CHUNK);
        if more.bytes.is_empty() {
            return Ok(false);
        }
        self.buf.extend_from_slice(&more.bytes);
        Ok(true)
    }

    /// Drops the first `n` bytes held (a caller done with them).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.buf_start += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A reader over a slice that counts its reads.
    struct Counting<'a>(&'a [u8], Cell<usize>);
    impl ReadAt for Counting<'_> {
        fn read_at(&self, offset: u64, len: u64) -> Result<super::super::Chunk, ReadError> {
            self.1.set(self.1.get() + 1);
            self.0.read_at(offset, len)
        }
    }

    #[test]
    fn extends_skips_and_stops_at_the_end() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let r = Counting(&data, Cell::new(0));
        let mut w = Window::open(&r, 0, 100).unwrap();
        assert_eq!(w.get(90, 20, None).unwrap().unwrap(), &data[90..110]);
        assert_eq!(r.1.get(), 2, "the missing bytes in one read");
        assert_eq!(w.get(5000, 4, None).unwrap().unwrap(), &data[5000..5004]);
        assert_eq!(w.start(), 5000, "a request past the run starts a new one");
        assert!(w.get(9_999, 2, None).unwrap().is_none());
        let mut p = Window::open(&r, 0, 64).unwrap();
        while p.grow(1000).unwrap() {}
        assert_eq!(p.held(), &data[..1000]);
        p.consume(10);
        assert_eq!((p.start(), p.held().len()), (10, 990));
    }
}
