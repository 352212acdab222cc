//! Pure parsers over bytes: safetensors headers, shard index files, PyTorch zip/pickle checkpoints,
//! GGUF headers. No I/O here; strategies fetch the bytes (by range) and hand them in.

pub mod gguf;
pub mod index;
pub mod pickle;
pub mod safetensors;
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
