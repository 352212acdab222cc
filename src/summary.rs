//! Human-readable output: a record as the summary `capcache get` and `capcache resolve` print, and
//! the number formatting it uses. Every text field (it came from a repository, or from a db.json
//! anyone may have written: ids, dtype names, architectures, file names, messages) is printed with
//! its control characters escaped ([`printable`]), so a hostile name can neither drive the terminal
//! nor fake a line.

use std::borrow::Cow;
use std::fmt::Write;

use crate::record::{Failure, Record};
use crate::text::printable;

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and a noun, plural unless `n` is 1: `1 model`, `2 models` (nouns taking an `s`).
pub fn count_of(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Bytes as `x.xx GiB (y.yy GB)`.
pub fn gib_gb(bytes: u64) -> String {
    format!("{:.2} GiB ({:.2} GB)", bytes as f64 / (1u64 << 30) as f64, bytes as f64 / 1e9)
}

/// The multi-line summary of one model's record.
pub fn record(id: &str, r: &Record) -> String {
    let mut s = String::new();
    let kind = if r.exact { "exact" } else { "estimate" };
    let _ = writeln!(s, "{}", printable(id));
    // A local folder's revision is its snapshot's name (the shipped db's: a hash of the files), never
    // a Hub commit: say so beside it.
    let local = if r.source == Some(crate::record::Origin::Local) { " (local snapshot, not a Hub commit)" } else { "" };
    let _ = writeln!(s, "  revision        {}{local}", printable(&r.revision));
    let _ = writeln!(s, "  strategy        {} ({kind})", r.strategy.label());
    let source = match (r.source, &r.endpoint) {
        (Some(o), Some(e)) => format!("{} ({})", o.label(), printable(e)),
        (Some(o), None) if o == crate::record::Origin::Hub => format!("{o} ({})", crate::source::DEFAULT_ENDPOINT),
        (Some(o), None) => o.label().into_owned(),
        (None, _) => "not recorded".into(),
    };
    let _ = writeln!(s, "  source          {source}");
    if let Some(a) = &r.adapter {
        let kind = a.peft_type.as_deref().map_or(Cow::Borrowed("PEFT"), printable);
        let base = a.base_model.as_deref().map_or(Cow::Borrowed("not named"), printable);
        let _ = writeln!(s, "  adapter         {kind}, not a model; base model {base}");
    }
    let dtypes: Vec<Cow<str>> = r.parameters.keys().map(|d| printable(d)).collect();
    let width = dtypes.iter().map(|d| d.len()).max().unwrap_or(0);
    for (i, (dtype, n)) in dtypes.iter().zip(r.parameters.values()).enumerate() {
        let label = if i == 0 { "parameters" } else { "" };
        let _ = writeln!(s, "  {label:<15} {dtype:<width$} {}", thousands(*n));
    }
    let _ = writeln!(s, "  total           {}", thousands(r.total));
    let _ = writeln!(s, "  logical params  {}", thousands(r.logical_parameters));
    if let Some(active) = r.active_parameters {
        let _ = writeln!(s, "  active params   {} (per token: the routed experts chosen)", thousands(active));
    }
    let _ = writeln!(s, "  weight memory   {}", gib_gb(r.weight_bytes));
    if let Some(dtype) = &r.dtype {
        let _ = writeln!(s, "  dtype           {}", printable(dtype));
    }
    match r.capacity.kv_cache_bytes_per_token {
        Some(kv) => {
            let _ = writeln!(s, "  KV cache        {} bytes/token ({:.1} KiB)", thousands(kv), kv as f64 / 1024.0);
        }
        None => {
            let _ = writeln!(s, "  KV cache        unknown (no usable config.json)");
        }
    }
    if let Some(a) = &r.architecture {
        let mut parts = Vec::new();
        if let Some(t) = &a.model_type {
            parts.push(t.clone());
        }
        parts.extend(a.architectures.iter().cloned());
        let num = |label: &str, v: Option<u64>| v.map(|v| format!("{label} {v}"));
        parts.extend(
            [
                num("layers", a.num_hidden_layers),
                num("hidden", a.hidden_size),
                num("heads", a.num_attention_heads),
                num("kv_heads", a.num_key_value_heads),
                num("head_dim", a.head_dim),
                num("vocab", a.vocab_size),
                num("max_pos", a.max_position_embeddings),
            ]
            .into_iter()
            .flatten(),
        );
        if a.tie_word_embeddings == Some(true) {
            parts.push("tied embeddings".into());
        }
        let _ = writeln!(s, "  architecture    {}", printable(&parts.join(", ")));
        if let Some(q) = &a.quantization {
            let bits = q.bits.map(|b| format!(" {b}-bit")).unwrap_or_default();
            let _ = writeln!(s, "  quantization    {}{bits}", printable(&q.method));
        }
        if let Some(m) = &a.moe {
            let per = m.experts_per_token.map(|k| format!(", {k} per token")).unwrap_or_default();
            let _ = writeln!(s, "  experts         {}{per}", m.num_experts);
        }
        if let Some(m) = &a.mla {
            let _ = writeln!(
                s,
                "  MLA             kv_lora_rank {}, qk_rope_head_dim {}",
                m.kv_lora_rank, m.qk_rope_head_dim
            );
        }
    }
    if !r.files.is_empty() {
        let _ = writeln!(s, "  files           {}", printable(&r.files.join(", ")));
    }
    for (source, n) in &r.cross_check {
        let _ = writeln!(s, "  cross-check     {source}: {}", thousands(*n));
    }
    for t in &r.tried {
        let msg = t.message.as_deref().map(|m| format!(" ({})", printable(m))).unwrap_or_default();
        let _ = writeln!(s, "  tried           {}: {}{msg}", t.strategy.label(), t.outcome.label());
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  warning         {}", printable(w));
    }
    let _ = writeln!(s, "  resolved at     {}", printable(&r.resolved_at));
    s
}

/// The summary of a failure.
pub fn failure(id: &str, f: &Failure) -> String {
    let mut s = format!("{}: {} ({})\n", printable(id), f.outcome.label(), printable(&f.message));
    for t in &f.tried {
        let msg = t.message.as_deref().map(|m| format!(": {}", printable(m))).unwrap_or_default();
        let _ = writeln!(s, "  {}: {}{msg}", t.strategy.label(), t.outcome.label());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixture_of_experts_shows_its_active_parameters_and_a_dense_model_none() {
        let db: crate::record::Db = serde_json::from_str(crate::store::embedded::TEXT).unwrap();
        let (moe, dense): (Vec<_>, Vec<_>) = db.models.iter().partition(|(_, r)| r.active_parameters.is_some());
        assert!(!moe.is_empty() && !dense.is_empty(), "the shipped db has both kinds");
        for (id, r) in moe {
            let n = thousands(r.active_parameters.unwrap());
            assert!(record(id, r).contains(&format!("  active params   {n} ")), "{id}");
        }
        for (id, r) in dense {
            assert!(!record(id, r).contains("active params"), "{id}");
        }
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(125239296), "125,239,296");
        assert_eq!(gib_gb(1 << 30), "1.00 GiB (1.07 GB)");
        assert_eq!(
            (count_of(1, "model"), count_of(0, "line"), count_of(2, "model")),
            ("1 model".into(), "0 lines".into(), "2 models".into())
        );
    }

    #[test]
    fn no_field_of_a_record_reaches_the_terminal_raw() {
        let db: crate::record::Db = serde_json::from_str(crate::store::embedded::TEXT).unwrap();
        let mut r = db.models.values().next().unwrap().clone();
        let evil = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\r\n  total           1";
        let n = r.parameters.values().sum();
        r.parameters = [(evil.to_owned(), n)].into();
        r.dtype = Some(evil.into());
        r.revision = evil.into();
        r.resolved_at = evil.into();
        let a = r.architecture.get_or_insert_with(Default::default);
        a.model_type = Some(evil.into());
        a.architectures = vec![evil.into()];
        r.adapter = Some(crate::record::Adapter { base_model: Some(evil.into()), peft_type: Some(evil.into()) });
        let text = record(evil, &r);
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("  total ")).count(), 1, "{text}");
        let f = crate::record::Failure {
            message: evil.into(),
            ..serde_json::from_str(r#"{"outcome":"not-found","message":"","at":""}"#).unwrap()
        };
        assert!(!failure(evil, &f).trim_end().chars().any(char::is_control));
    }
}
