//! The site's data files: how a record, a catalog row and the metadata are encoded into the
//! JavaScript files the pages load with `<script src>` (so the site works from `file://`, where
//! pages may not `fetch` local files), and which shard an id lives in.
//!
//! Every text in the data comes from a database anyone may have written. It reaches the page only
//! as JSON string literals inside these files, with `<`, `>`, `&`, U+2028 and U+2029 escaped, and
//! the pages put it into the document as text, never as markup.

use serde::Serialize;

/// The function every data file calls with its name and value (defined by `site.js`).
pub const CALLBACK: &str = "capcacheData";

/// FNV-1a (32 bits) of the id with ASCII letters lowercased, so that a link with another case
/// finds the same shard, as ids match on the Hub. `site.js` computes the same hash.
pub fn id_hash(id: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The number of record shards for `models` entries: a power of two giving about
/// [`PER_SHARD`] entries a shard, at least one.
pub fn shard_count(entries: usize) -> u32 {
    let wanted = entries.div_ceil(PER_SHARD).max(1);
    u32::try_from(wanted.next_power_of_two()).unwrap_or(1 << 31).min(MAX_SHARDS)
}

/// Entries a record shard holds on average (a model page loads one shard).
pub const PER_SHARD: usize = 64;
/// At most this many shard files, whatever the database's size.
pub const MAX_SHARDS: u32 = 1 << 16;
/// Catalog rows per catalog chunk (the first screen needs the first chunk only).
pub const CHUNK_ROWS: usize = 2000;

/// The shard of an id among `shards` (a power of two).
pub fn shard_of(id: &str, shards: u32) -> u32 {
    id_hash(id) & (shards - 1)
}

/// The name of shard `k`: its file is `data/{name}.js`.
pub fn shard_name(k: u32) -> String {
    format!("m/{k:04x}")
}

/// The name of catalog chunk `k`.
pub fn chunk_name(k: usize) -> String {
    format!("c/{k:04}")
}

/// Compact JSON text (made safe for a script by [`data_file`]).
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("site data serializes to JSON")
}

/// JSON text safe inside a `<script>` file and inside HTML: the characters that could end a
/// script element or a JavaScript line are written as `\u` escapes (they can only occur inside
/// JSON strings, where the escape means the same character).
pub fn script_json<T: Serialize + ?Sized>(value: &T) -> String {
    let text = serde_json::to_string(value).expect("site data serializes to JSON");
    escape_script_json(&text)
}

/// See [`script_json`].
pub fn escape_script_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A whole data file: `capcacheData("name", JSON.parse('JSON'));`. Parsed as JSON rather than
/// run as an object literal: a key such as `__proto__` from a hostile record stays a plain key,
/// and engines parse JSON faster than literals. The JSON is a single-quoted literal, in which its
/// many double quotes need no escape.
pub fn data_file(name: &str, json: &str) -> String {
    format!("{CALLBACK}({}, JSON.parse({}));\n", script_json(name), js_string(json))
}

/// A single-quoted JavaScript string literal of `text`, safe inside a script and inside HTML.
pub fn js_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '<' => out.push_str("\\x3c"),
            '>' => out.push_str("\\x3e"),
            '&' => out.push_str("\\x26"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_ascii_case_and_spreads() {
        assert_eq!(id_hash("Meta-Llama/Llama-3.1-8B"), id_hash("meta-llama/llama-3.1-8b"));
        assert_ne!(id_hash("a/b"), id_hash("a/c"));
        // The FNV-1a reference value for "a".
        assert_eq!(id_hash("a"), 0xe40c_292c);
        let shards = shard_count(100_000);
        assert_eq!(shards, 2048);
        let mut used = std::collections::BTreeSet::new();
        for i in 0..10_000 {
            used.insert(shard_of(&format!("org{}/model-{i}", i % 97), shards));
        }
        assert!(used.len() > 1900, "{} of {shards} shards used", used.len());
    }

    #[test]
    fn shard_counts_are_powers_of_two() {
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(64), 1);
        assert_eq!(shard_count(65), 2);
        assert_eq!(shard_count(usize::MAX / 2), MAX_SHARDS);
    }

    #[test]
    fn script_json_escapes_what_could_end_a_script() {
        let s = script_json("</script><img src=x onerror=alert(1)>&\u{2028}\u{2029}\"");
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'), "{s}");
        assert!(!s.contains('\u{2028}') && !s.contains('\u{2029}'), "{s}");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "</script><img src=x onerror=alert(1)>&\u{2028}\u{2029}\"");
    }
}
