//! Pure parsers over bytes or a range reader: safetensors headers, shard index files, PyTorch
//! zip/pickle checkpoints, GGUF headers. No I/O here: a parser that needs more than one read pulls
//! bytes through [`ReadAt`], which the strategies implement over a source (with the model's byte
//! budget and deadline), and tests and fuzzers implement over a slice.

pub mod gguf;
pub mod index;
pub mod pickle;
pub mod pytorch;
pub mod safetensors;
pub mod window;
pub mod zip;

/// A tensor as a checkpoint declares it: name, stored dtype name, shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// The stored dtype (safetensors names; ggml names for GGUF). Unknown names are kept as-is.
    pub dtype: String,
    pub shape: Vec<u64>,
}

impl TensorInfo {
    /// Number of elements (a scalar is 1); `None` on overflow.
    pub fn elements(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |acc, d| acc.checked_mul(*d))
    }
}

/// Bytes read at an offset, with the size of the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub file_size: u64,
}

/// Why a read failed. The reader keeps the typed cause for its caller; parsers only pass it on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReadError(pub String);

/// Random access to one file, as a parser needs it.
pub trait ReadAt {
    /// Up to `len` bytes at `offset` (fewer only at the end of the file), and the file's size.
    fn read_at(&self, offset: u64, len: u64) -> Result<Chunk, ReadError>;
}

/// A file held in memory (tests, fuzzers, local tools).
impl ReadAt for &[u8] {
    fn read_at(&self, offset: u64, len: u64) -> Result<Chunk, ReadError> {
        let size = self.len() as u64;
        let start = offset.min(size);
        let end = offset.saturating_add(len).min(size);
        Ok(Chunk { bytes: self[start as usize..end as usize].to_vec(), file_size: size })
    }
}
