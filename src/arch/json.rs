//! `config.json` read as transformers reads it: Python's `json` module, which writes and accepts
//! the bare constants `NaN`, `Infinity` and `-Infinity` (transformers saves Mamba-2 layers'
//! `"time_step_limit": [0.0, Infinity]` so). Standard JSON has no such values, and serde_json's
//! `Value` cannot hold them: outside strings, each becomes the string of its name
//! (`"Infinity"`), which keeps the config's meaning for a reader and makes any use of it as a
//! size an error naming the field. Everything else is serde_json's strict parse.

use serde_json::Value;

/// The Python constants, longest first (`-Infinity` before `Infinity`).
const CONSTANTS: &[&[u8]] = &[b"-Infinity", b"Infinity", b"NaN"];

/// Parses a `config.json` as Python's `json.loads` does.
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(strict) => match quote_constants(bytes) {
            Some(quoted) => serde_json::from_slice(&quoted),
            None => Err(strict),
        },
    }
}

/// `bytes` with each bare `NaN` / `Infinity` / `-Infinity` outside strings quoted, or `None` if
/// there is none.
fn quote_constants(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len().saturating_add(64));
    let (mut in_string, mut escaped, mut found) = (false, false, false);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i = i.saturating_add(1);
            continue;
        }
        if b == b'"' {
            in_string = true;
        }
        let rest = bytes.get(i..).unwrap_or_default();
        let constant = CONSTANTS.iter().find(|c| {
            rest.starts_with(c)
                && !rest.get(c.len()).is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'_')
                && !out.last().is_some_and(|p| p.is_ascii_alphanumeric() || *p == b'_' || *p == b'.')
        });
        match constant {
            Some(c) => {
                out.push(b'"');
                out.extend_from_slice(c);
                out.push(b'"');
                found = true;
                i = i.saturating_add(c.len());
            }
            None => {
                out.push(b);
                i = i.saturating_add(1);
            }
        }
    }
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn python_constants_outside_strings_become_their_names() {
        let text =
            br#"{"time_step_limit": [0.0, Infinity], "lo": -Infinity, "x": NaN, "s": "NaN Infinity \" Infinity"}"#;
        assert_eq!(
            parse(text).unwrap(),
            json!({"time_step_limit": [0.0, "Infinity"], "lo": "-Infinity", "x": "NaN", "s": "NaN Infinity \" Infinity"})
        );
    }

    #[test]
    fn other_invalid_json_stays_invalid() {
        for bad in [&b"{\"a\": Infinityx}"[..], b"{\"a\": xNaN}", b"{\"a\": nan}", b"{\"a\": 1,}", b"{\"a\": inf}"] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(b"{\"a\": 1}").unwrap(), json!({"a": 1}));
    }
}
