//! Lists of names a repository or a server chose (file sets, dtypes), shortened for the notes and
//! messages a record keeps: the count and the first few, each cut to a bounded length, so that a
//! repository of 95,000 GGUF files cannot put megabytes of names into one record.

/// Names quoted in one list at most.
pub const MAX_NAMED: usize = 10;
/// Characters of one name quoted at most.
const MAX_NAME_CHARS: usize = 120;

/// `a, b, c`, or with more than [`MAX_NAMED`] names, the first of them and `... and N more (M in
/// all)`; a name longer than [`MAX_NAME_CHARS`] is cut and ends in `...`.
pub fn some<S: AsRef<str>>(names: &[S]) -> String {
    let mut out: Vec<String> = names.iter().take(MAX_NAMED).map(|n| cut(n.as_ref())).collect();
    if names.len() > MAX_NAMED {
        out.push(format!("... and {} more ({} in all)", names.len() - MAX_NAMED, names.len()));
    }
    out.join(", ")
}

fn cut(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME_CHARS) {
        Some((at, _)) => format!("{}...", &name[..at]),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_capped_to_a_count_and_the_first_names() {
        assert_eq!(some(&["a", "b"]), "a, b");
        let many: Vec<String> = (0..95_000).map(|i| format!("model-{i}.gguf")).collect();
        let s = some(&many);
        assert!(s.starts_with("model-0.gguf, model-1.gguf"), "{s}");
        assert!(s.ends_with("... and 94990 more (95000 in all)"), "{s}");
        assert!(s.len() < 300, "{}", s.len());
        let long = "é".repeat(1000);
        assert_eq!(some(&[long.as_str()]).chars().count(), MAX_NAME_CHARS + 3);
    }
}
