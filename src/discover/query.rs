//! The query of the Hub's model listing (`GET /api/models`), as `discover:` lines of a model list,
//! `capcache build --discover QUERY` and `capcache discover` flags give it: known keys only, values
//! decoded, checked and percent-encoded again here, `limit` bounded. Pure: no I/O.

use std::fmt;
use std::str::FromStr;

/// The most models one query may list.
pub const MAX_LIMIT: u64 = 10_000;
/// The longest value accepted for a key.
const MAX_VALUE: usize = 200;
/// The most `filter` or `apps` values in one query.
const MAX_REPEATS: usize = 16;

/// The keys a query may use, as the Hub spells them.
pub const KEYS: &[&str] = &["author", "search", "filter", "pipeline_tag", "apps", "gated", "sort", "limit"];

/// A listing sort key (most first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Downloads,
    Likes,
    TrendingScore,
    LastModified,
    CreatedAt,
}

impl Sort {
    /// The wire names, in the order `Sort::ALL` lists them.
    const NAMES: [(&str, Sort); 5] = [
        ("downloads", Sort::Downloads),
        ("likes", Sort::Likes),
        ("trendingScore", Sort::TrendingScore),
        ("lastModified", Sort::LastModified),
        ("createdAt", Sort::CreatedAt),
    ];

    pub fn as_str(self) -> &'static str {
        Sort::NAMES.iter().find(|(_, s)| *s == self).map(|(n, _)| *n).expect("every sort key has a name")
    }
}

impl FromStr for Sort {
    type Err = ();
    /// The wire name, or huggingface_hub's snake-case spelling of it (`trending_score`).
    fn from_str(s: &str) -> Result<Sort, ()> {
        let folded: String = s.chars().filter(|c| *c != '_').collect();
        Sort::NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(&folded)).map(|(_, v)| *v).ok_or(())
    }
}

/// Why a listing query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is empty: give at least one of {}", KEYS.join(", "))]
    Empty,
    #[error("{0:?} is not `key=value`")]
    Shape(String),
    #[error("unknown key {0:?}: known keys are {keys} (capcache chooses `expand[]` and pages itself)", keys = KEYS.join(", "))]
    UnknownKey(String),
    #[error("`{0}` given more than once")]
    Repeated(&'static str),
    #[error("`{key}` given more than {MAX_REPEATS} times")]
    TooMany { key: &'static str },
    #[error("{key}={value:?}: {why}")]
    Value { key: &'static str, value: String, why: &'static str },
}

/// A validated listing query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingQuery {
    pub author: Option<String>,
    pub search: Option<String>,
    /// Tags; all must match.
    pub filter: Vec<String>,
    pub pipeline_tag: Option<String>,
    pub apps: Vec<String>,
    pub gated: Option<bool>,
    pub sort: Option<Sort>,
    /// Models listed in all, across pages (`None`: up to [`MAX_LIMIT`]).
    pub limit: Option<u64>,
}

impl ListingQuery {
    /// Builds a query from `(key, value)` pairs whose values are already decoded (flags).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Result<ListingQuery, QueryError> {
        let mut q = ListingQuery::default();
        let mut any = false;
        for (key, value) in pairs {
            q.set(key, value)?;
            any = true;
        }
        if any { Ok(q) } else { Err(QueryError::Empty) }
    }

    /// Parses the listing's own query string (`author=RedHatAI&sort=downloads&limit=500`); values
    /// may be percent-encoded, `+` is a space.
    pub fn parse(text: &str) -> Result<ListingQuery, QueryError> {
        let text = text.trim().trim_start_matches('?');
        let mut pairs = Vec::new();
        for part in text.split('&').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| QueryError::Shape(part.to_owned()))?;
            let key = decode(k.trim()).ok_or_else(|| QueryError::Shape(part.to_owned()))?;
            let key = KEYS.iter().find(|known| **known == key).ok_or(QueryError::UnknownKey(key))?;
            let value = decode(v.trim()).ok_or(QueryError::Value {
                key,
                value: v.to_owned(),
                why: "is not valid percent-encoded UTF-8",
            })?;
            pairs.push((*key, value));
        }
        ListingQuery::from_pairs(pairs)
    }

    fn set(&mut self, key: &str, value: String) -> Result<(), QueryError> {
        let key = *KEYS.iter().find(|k| **k == key).ok_or_else(|| QueryError::UnknownKey(key.to_owned()))?;
        let bad = |why| QueryError::Value { key, value: value.clone(), why };
        if value.is_empty() {
            return Err(bad("is empty"));
        }
        if value.len() > MAX_VALUE {
            return Err(bad("is longer than 200 bytes"));
        }
        if value.chars().any(char::is_control) {
            return Err(bad("contains control characters"));
        }
        let single = |slot: &mut Option<String>| {
            if slot.is_some() {
                return Err(QueryError::Repeated(key));
            }
            *slot = Some(value.clone());
            Ok(())
        };
        match key {
            "author" => {
                let ok = value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !ok {
                    return Err(bad("is not a user or organization name (letters, digits, '-', '_', '.')"));
                }
                single(&mut self.author)?;
            }
            "search" => single(&mut self.search)?,
            "pipeline_tag" => single(&mut self.pipeline_tag)?,
            "filter" | "apps" => {
                let list = if key == "filter" { &mut self.filter } else { &mut self.apps };
                if list.len() >= MAX_REPEATS {
                    return Err(QueryError::TooMany { key });
                }
                list.push(value);
            }
            "gated" => {
                let v = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("expected true or false")),
                };
                if self.gated.replace(v).is_some() {
                    return Err(QueryError::Repeated(key));
                }
            }
            "sort" => {
                let s = value
                    .parse::<Sort>()
                    .map_err(|()| bad("expected downloads, likes, trendingScore, lastModified or createdAt"))?;
                if self.sort.replace(s).is_some() {
                    return Err(QueryError::Repeated(key));
                }
            }
            "limit" => {
                let n = value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or(bad("expected a number of models from 1 to 10000"))?;
                if self.limit.replace(n).is_some() {
                    return Err(QueryError::Repeated(key));
                }
            }
            _ => unreachable!("every key of KEYS is handled"),
        }
        Ok(())
    }

    /// The filter and sort parameters, percent-encoded (without `limit`, which is the page size on
    /// the wire).
    pub fn wire_params(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |k: &str, v: &str| out.push(format!("{k}={}", encode(v)));
        if let Some(v) = &self.author {
            push("author", v);
        }
        if let Some(v) = &self.search {
            push("search", v);
        }
        for v in &self.filter {
            push("filter", v);
        }
        if let Some(v) = &self.pipeline_tag {
            push("pipeline_tag", v);
        }
        for v in &self.apps {
            push("apps", v);
        }
        if let Some(v) = self.gated {
            push("gated", if v { "true" } else { "false" });
        }
        if let Some(v) = self.sort {
            push("sort", v.as_str());
        }
        out
    }
}

impl fmt::Display for ListingQuery {
    /// The canonical query string, `limit` included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut params = self.wire_params();
        if let Some(n) = self.limit {
            params.push(format!("limit={n}"));
        }
        f.write_str(&params.join("&"))
    }
}

/// Percent-decodes a query component (`+` is a space); `None` for a broken escape or bytes that are
/// not UTF-8.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes a value (the Hub source's rule: everything but RFC 3986 unreserved characters).
fn encode(s: &str) -> String {
    crate::source::hub::encode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_listing_query_and_encodes_it_again() {
        let q = ListingQuery::parse("author=RedHatAI&sort=downloads&limit=500").unwrap();
        assert_eq!(q.author.as_deref(), Some("RedHatAI"));
        assert_eq!(q.sort, Some(Sort::Downloads));
        assert_eq!(q.limit, Some(500));
        assert_eq!(q.to_string(), "author=RedHatAI&sort=downloads&limit=500");

        let q = ListingQuery::parse(
            "?search=llama+3&filter=license%3Aapache-2.0&filter=gguf&gated=false&sort=trending_score",
        )
        .unwrap();
        assert_eq!(q.search.as_deref(), Some("llama 3"));
        assert_eq!(q.filter, ["license:apache-2.0", "gguf"]);
        assert_eq!(q.sort, Some(Sort::TrendingScore));
        assert_eq!(
            q.wire_params().join("&"),
            "search=llama%203&filter=license%3Aapache-2.0&filter=gguf&gated=false&sort=trendingScore"
        );
        // Whatever the input, the value cannot break out of its parameter.
        let q = ListingQuery::parse("search=a%26expand%5B%5D%3Dconfig").unwrap();
        assert_eq!(q.wire_params(), ["search=a%26expand%5B%5D%3Dconfig"]);
    }

    #[test]
    fn refuses_unknown_keys_bad_values_and_unbounded_limits() {
        let err = |s: &str| ListingQuery::parse(s).unwrap_err();
        assert!(matches!(err("expand[]=config"), QueryError::UnknownKey(k) if k == "expand[]"));
        assert!(matches!(err("cursor=abc"), QueryError::UnknownKey(_)));
        assert!(matches!(err("author"), QueryError::Shape(_)));
        assert!(matches!(err(""), QueryError::Empty));
        assert!(matches!(err("limit=0"), QueryError::Value { key: "limit", .. }));
        assert!(matches!(err("limit=10001"), QueryError::Value { key: "limit", .. }));
        assert!(matches!(err("limit=-5"), QueryError::Value { key: "limit", .. }));
        assert!(matches!(err("sort=random"), QueryError::Value { key: "sort", .. }));
        assert!(matches!(err("gated=yes"), QueryError::Value { key: "gated", .. }));
        assert!(matches!(err("author=a/b"), QueryError::Value { key: "author", .. }));
        assert!(matches!(err("author=a&author=b"), QueryError::Repeated("author")));
        assert!(matches!(err("search=%zz"), QueryError::Value { key: "search", .. }));
        assert!(matches!(err("search=%ff"), QueryError::Value { key: "search", .. }));
        assert!(matches!(err("search=a%0Ab"), QueryError::Value { key: "search", .. }));
        assert!(matches!(err(&format!("search={}", "x".repeat(201))), QueryError::Value { key: "search", .. }));
        assert!(matches!(err(&"filter=t&".repeat(17)), QueryError::TooMany { key: "filter" }));
        assert_eq!(ListingQuery::parse("limit=10000").unwrap().limit, Some(MAX_LIMIT));
    }

    #[test]
    fn flags_go_through_the_same_checks() {
        let q = ListingQuery::from_pairs([("pipeline_tag", "text-generation".to_owned()), ("apps", "vllm".into())])
            .unwrap();
        assert_eq!(q.to_string(), "pipeline_tag=text-generation&apps=vllm");
        assert!(ListingQuery::from_pairs([("limit", "0".to_owned())]).is_err());
        assert!(matches!(ListingQuery::from_pairs([]), Err(QueryError::Empty)));
        for s in Sort::NAMES.map(|(n, _)| n) {
            assert_eq!(s.parse::<Sort>().unwrap().as_str(), s);
        }
    }
}
