//! Reading `config.json` values: typed getters with the spellings real configs use, `null` treated
//! as absent, and sub-configs (`text_config`, `vision_config`).

use serde_json::Value;

use super::ArchError;

/// A view of one (sub-)config object.
#[derive(Clone, Copy)]
pub struct Cfg<'a> {
    v: &'a Value,
}

impl<'a> Cfg<'a> {
    pub fn new(v: &'a Value) -> Cfg<'a> {
        Cfg { v }
    }

    pub fn raw(&self) -> &'a Value {
        self.v
    }

    /// A non-null value.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.v.get(key).filter(|v| !v.is_null())
    }

    /// A non-negative integer (also accepts integral floats like `4096.0`).
    pub fn u(&self, key: &str) -> Option<u64> {
        let v = self.get(key)?;
        v.as_u64().or_else(|| v.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1e19).map(|f| f as u64))
    }

    /// The first present key of `keys`.
    pub fn u_any(&self, keys: &[&str]) -> Option<u64> {
        keys.iter().find_map(|k| self.u(k))
    }

    /// `key`, else `default`.
    pub fn u_or(&self, key: &str, default: u64) -> u64 {
        self.u(key).unwrap_or(default)
    }

    /// A required integer.
    pub fn req(&self, key: &str) -> Result<u64, ArchError> {
        self.u(key).ok_or_else(|| ArchError::Missing(key.to_owned()))
    }

    pub fn f(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }

    pub fn b(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }

    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.b(key).unwrap_or(default)
    }

    pub fn s(&self, key: &str) -> Option<&'a str> {
        self.get(key)?.as_str()
    }

    /// An array of integers.
    pub fn list(&self, key: &str) -> Option<Vec<u64>> {
        self.get(key)?.as_array().map(|a| a.iter().filter_map(Value::as_u64).collect())
    }

    /// A sub-config object.
    pub fn sub(&self, key: &str) -> Option<Cfg<'a>> {
        self.get(key).filter(|v| v.is_object()).map(Cfg::new)
    }

    pub fn model_type(&self) -> Option<&'a str> {
        self.s("model_type")
    }

    /// The text part of a multimodal config (`text_config`, else `llm_config`), or the config itself.
    pub fn text(&self) -> Cfg<'a> {
        self.sub("text_config").or_else(|| self.sub("llm_config")).unwrap_or(*self)
    }
}
