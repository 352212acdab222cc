//! Checks on what a store holds, applied wherever one is read (look-ups, imports, merges, seeds,
//! updates): a store is a file anyone may hand over, so its records are checked as input is.
//!
//! - ids are model ids ([`ModelId::parse`]) and unique in their section ignoring ASCII case (as
//!   the Hub matches them): one id, one answer, in db.json and SQLite alike;
//! - an entry's JSON repeats no key at any depth ([`decode`]): a reader never picks one of two
//!   answers;
//! - `total` is the sum of `parameters` (checked arithmetic); `weight_bytes` agrees with the
//!   dtypes' sizes (exactly for whole-byte dtypes; within the per-tensor rounding of sub-byte and
//!   block-quantized ones; a dtype this capcache does not know is not checked);
//! - `resolved_at` and a failure's `at` are RFC 3339 date-times, no later than [`MAX_SKEW`] past
//!   the reader's clock; they are compared as times ([`time_of`]), never as text.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::id::{IdError, ModelId, check_revision, quote};
use crate::record::{Failure, Record};
use crate::{dtype, time};

/// How far past the reader's clock a stored time may be (clocks of build machines disagree).
pub const MAX_SKEW: u64 = 86_400;

/// Why a stored entry is refused. Names the entry's id (quoted, cut when long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the entry for {}: {problem}", quote(.id))]
pub struct RecordError {
    pub id: String,
    pub problem: Problem,
}

/// What is wrong with an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{0}")]
    BadId(IdError),
    #[error("its id appears more than once (ids are unique ignoring case): one id, two answers")]
    Duplicate,
    #[error("{0}")]
    DuplicateKey(String),
    #[error("total {total} is not the sum of its parameters ({sum})")]
    Total { total: u64, sum: u64 },
    #[error("its parameters add up to more than 64 bits")]
    Overflow,
    #[error("weight_bytes {weight_bytes} does not agree with its parameters' dtypes ({min} to {max} bytes)")]
    WeightBytes { weight_bytes: u64, min: u64, max: u64 },
    #[error("{field} {} is not an RFC 3339 date-time", quote(.value))]
    Time { field: &'static str, value: String },
    #[error("{field} {value} is more than a day in the future")]
    Future { field: &'static str, value: String },
    #[error("{0}")]
    Revision(IdError),
}

/// Seconds since the epoch of a stored time, if it is an RFC 3339 date-time; the order of stored
/// times (a time that does not parse sorts first).
pub fn time_of(s: &str) -> Option<u64> {
    time::parse_any_rfc3339(s)
}

/// The clock a reader checks stored times against: the system's.
pub fn now() -> u64 {
    time::now_unix()
}

fn err(id: &str, problem: Problem) -> RecordError {
    RecordError { id: id.to_owned(), problem }
}

/// Checks a stored time field: RFC 3339, not past `now` + [`MAX_SKEW`].
fn check_time(id: &str, field: &'static str, value: &str, now: u64) -> Result<(), RecordError> {
    let t = time_of(value).ok_or_else(|| err(id, Problem::Time { field, value: value.to_owned() }))?;
    if t > now.saturating_add(MAX_SKEW) {
        return Err(err(id, Problem::Future { field, value: value.to_owned() }));
    }
    Ok(())
}

/// Checks one record of a store read at `now` (seconds since the epoch): its id is a model id,
/// its counts add up, its bytes agree with its dtypes, its revision and time are well formed.
/// Uniqueness across a store is [`Checker`]'s.
pub fn check_record(id: &str, r: &Record, now: u64) -> Result<(), RecordError> {
    ModelId::parse(id).map_err(|e| err(id, Problem::BadId(e)))?;
    check_revision(&r.revision).map_err(|e| err(id, Problem::Revision(e)))?;
    let sum = r.parameters.values().try_fold(0u64, |acc, n| acc.checked_add(*n)).ok_or(err(id, Problem::Overflow))?;
    if sum != r.total {
        return Err(err(id, Problem::Total { total: r.total, sum }));
    }
    if let Some((min, max)) = weight_bytes_range(r)
        && !(min..=max).contains(&r.weight_bytes)
    {
        return Err(err(id, Problem::WeightBytes { weight_bytes: r.weight_bytes, min, max }));
    }
    check_time(id, "resolved_at", &r.resolved_at, now)
}

/// The bytes `r.parameters` may take: from every dtype's elements in whole blocks, to each element
/// in a block of its own (a sub-byte or block-quantized tensor rounds up to its block, and a record
/// does not say how many tensors it had). `None` when a dtype is unknown here (a newer capcache
/// may know its size) or the sums overflow.
fn weight_bytes_range(r: &Record) -> Option<(u64, u64)> {
    let (mut min, mut max) = (0u64, 0u64);
    for (name, n) in &r.parameters {
        let d = dtype::lookup(name)?;
        min = min.checked_add(d.bytes_for(*n)?)?;
        let most = if d.block_elems == 1 { d.bytes_for(*n)? } else { n.checked_mul(d.block_bytes)? };
        max = max.checked_add(most)?;
    }
    Some((min, max))
}

/// Checks one failure of a store read at `now`: its id and its time.
pub fn check_failure(id: &str, f: &Failure, now: u64) -> Result<(), RecordError> {
    ModelId::parse(id).map_err(|e| err(id, Problem::BadId(e)))?;
    check_time(id, "at", &f.at, now)
}

/// Ids seen in one section, ignoring ASCII case, in bounded memory: 16 bytes an id (two keyed
/// 64-bit hashes of the lowercased id; a false match, refusing a valid store, has odds of about
/// n^2 / 2^129, and cannot be aimed at without the keys).
#[derive(Debug)]
pub struct IdSet {
    keys: (RandomState, RandomState),
    seen: HashSet<u128, BuildHasherDefault<Prehashed>>,
}

impl Default for IdSet {
    fn default() -> IdSet {
        IdSet { keys: (RandomState::new(), RandomState::new()), seen: HashSet::default() }
    }
}

impl IdSet {
    /// Adds `id`; false when it (ignoring ASCII case) was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        // The id lowercased once, on the stack unless it is long, and hashed whole (a write per
        // byte costs more than the rest of a db.json look-up's id checks).
        let mut buf = [0u8; 128];
        let long;
        let lower: &[u8] = match buf.get_mut(..id.len()) {
            Some(b) => {
                b.copy_from_slice(id.as_bytes());
                b.make_ascii_lowercase();
                b
            }
            None => {
                long = id.to_ascii_lowercase();
                long.as_bytes()
            }
        };
        let hash = |k: &RandomState| {
            let mut h = k.build_hasher();
            h.write(lower);
            h.write_usize(lower.len());
            h.finish()
        };
        let key = u128::from(hash(&self.keys.0)) << 64 | u128::from(hash(&self.keys.1));
        self.seen.insert(key)
    }
}

/// The hasher of [`IdSet`]'s table: its keys are keyed hashes already, so their low 64 bits
/// serve as they are.
#[derive(Debug, Default)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only u128 keys are hashed here; any other input still spreads.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Checks a whole store entry by entry, in any order: every entry as [`check_record`] and
/// [`check_failure`] do, and each id once per section ignoring case.
#[derive(Debug, Default)]
pub struct Checker {
    now: u64,
    models: IdSet,
    failures: IdSet,
}

impl Checker {
    /// A checker of stored times against `now` (seconds since the epoch).
    pub fn new(now: u64) -> Checker {
        Checker { now, ..Checker::default() }
    }

    /// Checks the next record.
    pub fn model(&mut self, id: &str, r: &Record) -> Result<(), RecordError> {
        check_record(id, r, self.now)?;
        if !self.models.insert(id) {
            return Err(err(id, Problem::Duplicate));
        }
        Ok(())
    }

    /// Checks the next failure.
    pub fn failure(&mut self, id: &str, f: &Failure) -> Result<(), RecordError> {
        check_failure(id, f, self.now)?;
        if !self.failures.insert(id) {
            return Err(err(id, Problem::Duplicate));
        }
        Ok(())
    }
}

/// Checks a whole database in memory (as [`Checker`] does a stream).
pub fn check_db(db: &crate::record::Db, now: u64) -> Result<(), RecordError> {
    let mut c = Checker::new(now);
    db.models.iter().try_for_each(|(id, r)| c.model(id, r))?;
    db.failures.iter().try_for_each(|(id, f)| c.failure(id, f))
}

/// Decodes one stored entry's JSON text, refusing a key repeated in any object of it (serde would
/// keep one of the two silently).
pub fn decode<'a, T: Deserialize<'a>>(raw: &'a str) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_str(raw);
    de::DeserializeSeed::deserialize(NoDuplicateKeys, &mut de).map_err(|e| e.to_string())?;
    serde_json::from_str(raw).map_err(|e| e.to_string())
}

/// Walks any JSON value, failing at the first object that repeats a key.
struct NoDuplicateKeys;

impl<'de> de::DeserializeSeed<'de> for NoDuplicateKeys {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicateKeys {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicateKeys)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys: HashSet<std::borrow::Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if keys.contains(&key) {
                return Err(de::Error::custom(format!("the key {} appears twice in one object", quote(&key))));
            }
            map.next_value_seed(NoDuplicateKeys)?;
            keys.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::tests::sample;

    const NOW: u64 = 1_795_665_600; // 2026-11-26T03:00:00Z

    #[test]
    fn a_sound_record_passes_and_each_lie_is_named() {
        let id = "a/b";
        check_record(id, &sample("r"), NOW).unwrap();
        let lie = |f: &dyn Fn(&mut Record)| {
            let mut r = sample("r");
            f(&mut r);
            check_record(id, &r, NOW).unwrap_err().problem
        };
        assert_eq!(lie(&|r| r.total += 1), Problem::Total { total: 22713729, sum: 22713728 });
        assert_eq!(lie(&|r| r.parameters.insert("U8".into(), u64::MAX).map(drop).unwrap_or(())), Problem::Overflow);
        assert!(matches!(lie(&|r| r.weight_bytes -= 1), Problem::WeightBytes { .. }));
        assert!(matches!(lie(&|r| r.resolved_at = "zzzz".into()), Problem::Time { field: "resolved_at", .. }));
        assert!(matches!(lie(&|r| r.resolved_at = "2026-11-28T03:00:01Z".into()), Problem::Future { .. }));
        assert!(matches!(lie(&|r| r.revision = "../x".into()), Problem::Revision(_)));
        // A day of skew is allowed; another RFC 3339 spelling is a time like any.
        let mut r = sample("r");
        r.resolved_at = "2026-11-27T05:00:00.5+02:00".into();
        check_record(id, &r, NOW).unwrap();
        assert!(matches!(check_record("", &r, NOW).unwrap_err().problem, Problem::BadId(_)));
    }

    #[test]
    fn weight_bytes_follow_the_dtypes_and_unknown_dtypes_are_not_checked() {
        let mut r = sample("r");
        r.parameters = [("Q4_K".to_owned(), 512u64), ("F16".to_owned(), 3)].into();
        r.total = 515;
        r.weight_bytes = 2 * 144 + 6;
        check_record("a/b", &r, NOW).unwrap();
        // Rounding per tensor may add up to a block each, never less than the whole blocks.
        r.weight_bytes = 3 * 144 + 6;
        check_record("a/b", &r, NOW).unwrap();
        r.weight_bytes = 144 + 6;
        assert!(check_record("a/b", &r, NOW).is_err());
        r.parameters.insert("FP3_NEW".into(), 10);
        r.total += 10;
        r.weight_bytes = 7;
        check_record("a/b", &r, NOW).unwrap();
    }

    #[test]
    fn ids_are_unique_ignoring_case_per_section() {
        let mut c = Checker::new(NOW);
        c.model("Case/Model", &sample("r")).unwrap();
        let e = c.model("case/model", &sample("r")).unwrap_err();
        assert_eq!(e.problem, Problem::Duplicate);
        assert!(e.to_string().contains("\"case/model\""), "{e}");
        let f = Failure {
            outcome: crate::record::Outcome::Gated,
            message: "m".into(),
            at: "2026-11-26T03:00:00Z".into(),
            tried: vec![],
        };
        c.failure("case/MODEL", &f).unwrap();
        assert!(c.failure("Case/model", &f).is_err());
        let bad_at = Failure { at: "yesterday".into(), ..f };
        assert!(matches!(Checker::new(NOW).failure("x/y", &bad_at).unwrap_err().problem, Problem::Time { .. }));
    }

    #[test]
    fn a_repeated_key_at_any_depth_is_refused() {
        assert!(decode::<serde_json::Value>("{\"a\": {\"b\": [1, {\"c\": 1, \"d\": 2}]}}").is_ok());
        for raw in ["{\"a\": 1, \"a\": 2}", "{\"x\": [{\"p\": {\"F32\": 1, \"F32\": 5}}]}"] {
            let e = decode::<serde_json::Value>(raw).unwrap_err();
            assert!(e.contains("appears twice"), "{e}");
        }
    }
}
