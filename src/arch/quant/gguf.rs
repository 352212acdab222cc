//! GGUF quantization types as file names declare them: which of a repository's GGUF sets holds the
//! highest precision (`Model-F16.gguf` before `Model-Q8_0.gguf` before `Model-Q4_K_M.gguf`).

use crate::dtype;

/// Bits per weight of the quantization a file name declares (`...Q4_K_M.gguf` -> Q4_K), 0 if none.
pub fn precision(name: &str) -> f64 {
    let upper = name.to_uppercase();
    dtype::TABLE
        .iter()
        .filter(|d| d.ggml_id.is_some())
        .filter(|d| {
            upper.match_indices(d.name).any(|(i, m)| {
                let before = upper.get(..i).and_then(|s| s.chars().next_back());
                let after = upper.get(i.saturating_add(m.len())..).and_then(|s| s.chars().next());
                !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_digit())
            })
        })
        .map(|d| d.block_bytes as f64 * 8.0 / d.block_elems as f64)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_from_names() {
        assert!(precision("Llama-3-8B-F16") > precision("Llama-3-8B-Q8_0"));
        assert!(precision("Llama-3-8B-Q8_0") > precision("Llama-3-8B-Q4_K_M"));
        assert!(precision("x-BF16") >= precision("x-F16"));
        assert_eq!(precision("model"), 0.0);
        assert_eq!(precision("x-Q4_K_M"), 4.5);
    }
}
