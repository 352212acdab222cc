//! Reading `config.json` values. Every getter validates what it returns: a value present with the
//! wrong JSON type, negative, fractional or outside its key's bound ([`limits::of`]) is an
//! [`ArchError::InvalidConfig`] naming the field by its path (`text_config.hidden_size`) and the
//! value; absent or `null` means "the transformers default" (`None`). Lists and strings are bounded
//! in length ([`limits::LIST_LEN`]), so nothing downstream loops in proportion to a config value.

use std::fmt::{self, Write as _};

use serde_json::Value;

use super::ArchError;
use super::limits::{self, LIST_LEN, SHOWN};

/// A view of one (sub-)config object and its path from the root.
#[derive(Debug, Clone)]
pub struct Cfg<'a> {
    v: &'a Value,
    path: String,
}

static ABSENT: Value = Value::Null;

/// A config value for an error message: its JSON text, cut after [`SHOWN`] characters.
pub fn shown(v: &Value) -> String {
    struct Capped(String);
    impl fmt::Write for Capped {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for ch in s.chars() {
                if self.0.len() >= SHOWN {
                    return Err(fmt::Error);
                }
                self.0.push(ch);
            }
            Ok(())
        }
    }
    let mut out = Capped(String::new());
    match write!(out, "{v}") {
        Ok(()) => out.0,
        Err(_) => out.0 + "...",
    }
}

impl<'a> Cfg<'a> {
    pub fn new(v: &'a Value) -> Cfg<'a> {
        Cfg { v, path: String::new() }
    }

    /// The JSON value of this view.
    pub fn value(&self) -> &'a Value {
        self.v
    }

    /// The path of `key` in this view (`text_config.hidden_size`).
    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// The error for `key`'s value `value`.
    pub fn invalid(&self, key: &str, value: &Value, why: impl Into<String>) -> ArchError {
        ArchError::InvalidConfig { field: self.field(key), value: shown(value), why: why.into() }
    }

    /// A non-null value, unvalidated.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.v.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` is present and non-null.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Whether `key` is present and explicitly `null` (for keys where null means "none", not "the
    /// default": DeepSeek's `q_lora_rank`).
    pub fn is_null(&self, key: &str) -> bool {
        self.v.get(key).is_some_and(Value::is_null)
    }

    /// `v` as an integer of `key`'s range (integral floats such as `4096.0` are integers).
    fn int(&self, key: &str, v: &Value) -> Result<u64, ArchError> {
        let lim = limits::of(key);
        let n = match v {
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => u,
                (None, Some(_), _) => return Err(self.invalid(key, v, "negative")),
                (None, None, Some(f)) if f < 0.0 => return Err(self.invalid(key, v, "negative")),
                (None, None, Some(f)) if f.fract() != 0.0 => return Err(self.invalid(key, v, "not an integer")),
                // Integral and at least 2^64 (as_u64 failed): beyond any bound.
                (None, None, Some(f)) if f >= 18_446_744_073_709_551_615.0 => u64::MAX,
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                (None, None, Some(f)) => f as u64,
                (None, None, None) => return Err(self.invalid(key, v, "not a number")),
            },
            _ => return Err(self.invalid(key, v, "expected an integer")),
        };
        if n > lim.max {
            return Err(self.invalid(key, v, format!("above {}, the bound on {}", lim.max, lim.what)));
        }
        if n < lim.min {
            return Err(self.invalid(key, v, format!("below {}, the least {} accepted", lim.min, lim.what)));
        }
        Ok(n)
    }

    /// An integer within `key`'s bounds.
    pub fn u(&self, key: &str) -> Result<Option<u64>, ArchError> {
        self.get(key).map(|v| self.int(key, v)).transpose()
    }

    /// The first present key of `keys`.
    pub fn u_any(&self, keys: &[&str]) -> Result<Option<u64>, ArchError> {
        match keys.iter().find(|k| self.has(k)) {
            Some(k) => self.u(k),
            None => Ok(None),
        }
    }

    /// `key`, else `default`.
    pub fn u_or(&self, key: &str, default: u64) -> Result<u64, ArchError> {
        Ok(self.u(key)?.unwrap_or(default))
    }

    /// The first present key of `keys`, else `default`.
    pub fn u_any_or(&self, keys: &[&str], default: u64) -> Result<u64, ArchError> {
        Ok(self.u_any(keys)?.unwrap_or(default))
    }

    /// An integer whose explicit `null` means "none" (a `sliding_window`), else `default` when absent.
    pub fn nullable(&self, key: &str, default: Option<u64>) -> Result<Option<u64>, ArchError> {
        if self.is_null(key) { Ok(None) } else { Ok(self.u(key)?.or(default)) }
    }

    /// A finite, non-negative number at most `max`.
    pub fn f(&self, key: &str, max: f64) -> Result<Option<f64>, ArchError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        match v.as_f64() {
            Some(f) if f < 0.0 => Err(self.invalid(key, v, "negative")),
            Some(f) if f <= max => Ok(Some(f)),
            Some(_) => Err(self.invalid(key, v, format!("above {max}"))),
            None => Err(self.invalid(key, v, "expected a number")),
        }
    }

    /// A boolean, else `default`.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, ArchError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.invalid(key, v, "expected true or false")),
        }
    }

    /// A string of at most [`LIST_LEN`] bytes.
    pub fn s(&self, key: &str) -> Result<Option<&'a str>, ArchError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() <= LIST_LEN => Ok(Some(s)),
            Some(v @ Value::String(_)) => Err(self.invalid(key, v, format!("longer than {LIST_LEN} characters"))),
            Some(v) => Err(self.invalid(key, v, "expected a string")),
        }
    }

    /// An array of at most [`LIST_LEN`] entries, unvalidated entries.
    pub fn array(&self, key: &str) -> Result<Option<&'a [Value]>, ArchError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) if a.len() <= LIST_LEN => Ok(Some(a)),
            Some(v @ Value::Array(_)) => Err(self.invalid(key, v, format!("more than {LIST_LEN} entries"))),
            Some(v) => Err(self.invalid(key, v, "expected a list")),
        }
    }

    /// An array of integers, each within `key`'s bounds.
    pub fn list(&self, key: &str) -> Result<Option<Vec<u64>>, ArchError> {
        let Some(a) = self.array(key)? else { return Ok(None) };
        a.iter().map(|v| self.int(key, v)).collect::<Result<_, _>>().map(Some)
    }

    /// An array of strings.
    pub fn strs(&self, key: &str) -> Result<Option<Vec<&'a str>>, ArchError> {
        let Some(a) = self.array(key)? else { return Ok(None) };
        a.iter()
            .map(|v| v.as_str().ok_or_else(|| self.invalid(key, v, "expected a list of strings")))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A sub-config object.
    pub fn sub(&self, key: &str) -> Result<Option<Cfg<'a>>, ArchError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.is_object() => Ok(Some(Cfg { v, path: self.field(key) })),
            Some(v) => Err(self.invalid(key, v, "expected an object")),
        }
    }

    /// The number of entries of the object `key` (`id2label`).
    pub fn entries(&self, key: &str) -> Result<Option<u64>, ArchError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(o)) => u64::try_from(o.len()).map(Some).map_err(|_| ArchError::Overflow),
            Some(v) => Err(self.invalid(key, v, "expected an object")),
        }
    }

    /// The first entry of this object, as a sub-config (`config_groups`' first group).
    pub fn first_sub(&self) -> Result<Option<Cfg<'a>>, ArchError> {
        let Some((key, _)) = self.v.as_object().and_then(|o| o.iter().next()) else { return Ok(None) };
        self.sub(key)
    }

    /// A sub-config object, or an empty one (every key at its default) when absent.
    pub fn sub_or_empty(&self, key: &str) -> Result<Cfg<'a>, ArchError> {
        Ok(self.sub(key)?.unwrap_or_else(|| Cfg { v: &ABSENT, path: self.field(key) }))
    }

    pub fn model_type(&self) -> Result<Option<&'a str>, ArchError> {
        self.s("model_type")
    }

    /// The text part of a multimodal config (`text_config`, else `llm_config`), or the config itself.
    pub fn text(&self) -> Result<Cfg<'a>, ArchError> {
        match self.sub("text_config")? {
            Some(t) => Ok(t),
            None => Ok(self.sub("llm_config")?.unwrap_or_else(|| self.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(v: Value, key: &str) -> String {
        Cfg::new(&v).sub("text_config").unwrap().unwrap().u(key).unwrap_err().to_string()
    }

    #[test]
    fn integers_are_validated_with_their_path() {
        let ok = json!({"hidden_size": 4096.0, "num_hidden_layers": null});
        let c = Cfg::new(&ok);
        assert_eq!(c.u("hidden_size").unwrap(), Some(4096));
        assert_eq!(c.u_or("num_hidden_layers", 7).unwrap(), 7);
        let e = err(json!({"text_config": {"hidden_size": "4096"}}), "hidden_size");
        assert_eq!(e, r#"config.json: text_config.hidden_size = "4096": expected an integer"#);
    }

    #[test]
    fn long_values_are_cut_in_errors() {
        let long = Value::String("x".repeat(1000));
        assert_eq!(shown(&long).len(), SHOWN + 3);
        assert!(shown(&long).ends_with("..."));
        assert_eq!(shown(&json!([1, 2])), "[1,2]");
    }
}
