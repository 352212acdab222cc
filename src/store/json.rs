//! Reading `db.json`: one streaming walk over the document (serde visitors over the `models` and
//! `failures` maps that hand each entry on, deserialized by a seed the caller picks, and skip
//! everything else), with the schema checked once the whole document is read. Everything that
//! reads a db.json goes through it: [`Text`] in memory for look-ups (an [`Index`] of raw entries,
//! decoded only when asked for, or the few fields a count needs), and [`for_each_entry`] from the
//! file in bounded memory for imports and validation (entries decoded as they are met).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::validate::{self, IdSet, Problem, RecordError};
use super::{StoreError, check_id};
use crate::record::{Db, Failure, Record, SCHEMA};

/// The two maps of a database document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Models,
    Failures,
}

/// Walks a database document, handing each entry of `models` and `failures` to `visit`, its value
/// deserialized by `seed(section)`, and skipping every other field. Returns the `schema` field,
/// for the caller to check once the whole document has been read. An error returned by `visit`
/// stops the walk; when an entry does not deserialize, its id is left in `failed_at`.
fn walk<'de, D, S, F>(
    de: D,
    seed: &dyn Fn(Section) -> S,
    visit: &mut F,
    failed_at: &mut Option<String>,
) -> Result<Option<serde_json::Value>, D::Error>
where
    D: Deserializer<'de>,
    S: DeserializeSeed<'de>,
    F: FnMut(Section, Cow<'de, str>, S::Value) -> Result<(), String>,
{
    Walk { section: None, seed, visit, failed_at }.deserialize(de)
}

/// The document (`section` none) or one of its maps of entries.
struct Walk<'f, S, F> {
    section: Option<Section>,
    seed: &'f dyn Fn(Section) -> S,
    visit: &'f mut F,
    failed_at: &'f mut Option<String>,
}

impl<'de, S, F> DeserializeSeed<'de> for Walk<'_, S, F>
where
    S: DeserializeSeed<'de>,
    F: FnMut(Section, Cow<'de, str>, S::Value) -> Result<(), String>,
{
    type Value = Option<serde_json::Value>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de, S, F> Visitor<'de> for Walk<'_, S, F>
where
    S: DeserializeSeed<'de>,
    F: FnMut(Section, Cow<'de, str>, S::Value) -> Result<(), String>,
{
    /// The document's `schema` field.
    type Value = Option<serde_json::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self.section {
            None => "a capcache database: an object with \"schema\", \"models\" and \"failures\"",
            Some(_) => "an object keyed by model id",
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if let Some(section) = self.section {
            while let Some(Key(id)) = map.next_key()? {
                let value = map.next_value_seed((self.seed)(section)).inspect_err(|_| {
                    *self.failed_at = Some(id.to_string());
                })?;
                (self.visit)(section, id, value).map_err(de::Error::custom)?;
            }
            return Ok(None);
        }
        let mut schema = None;
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            if matches!(&*key, "schema" | "models" | "failures") {
                if seen.contains(&key) {
                    return Err(de::Error::custom(format!("the key {key:?} appears twice in the document")));
                }
                seen.push(key.clone());
            }
            let section = match &*key {
                "schema" => {
                    schema = Some(map.next_value()?);
                    continue;
                }
                "models" => Section::Models,
                "failures" => Section::Failures,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let entries = Walk {
                section: Some(section),
                seed: self.seed,
                visit: &mut *self.visit,
                failed_at: &mut *self.failed_at,
            };
            map.next_value_seed(entries)?;
        }
        Ok(schema)
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

fn parse_error(path: &Path, e: &serde_json::Error) -> StoreError {
    StoreError::Parse { path: path.to_owned(), line: e.line(), column: e.column(), message: e.to_string() }
}

/// The schema field must be this capcache's.
fn check_schema(path: &Path, schema: Option<serde_json::Value>) -> Result<(), StoreError> {
    match schema.as_ref().and_then(serde_json::Value::as_u64) {
        Some(n) if n == u64::from(SCHEMA) => Ok(()),
        Some(found) => Err(StoreError::Schema { path: path.to_owned(), found, expected: SCHEMA }),
        None => Err(StoreError::Parse {
            path: path.to_owned(),
            line: 1,
            column: 1,
            message: "no numeric \"schema\" field: this is not a capcache database".into(),
        }),
    }
}

/// Decodes one entry's raw JSON, naming the file and the id when it does not fit the schema.
/// A key repeated in any object of the entry refuses it ([`validate::decode`]).
fn decode<'a, T: Deserialize<'a>>(path: &Path, id: &str, raw: &'a str) -> Result<T, StoreError> {
    validate::decode(raw).map_err(|message| StoreError::BadEntry { path: path.to_owned(), id: id.to_owned(), message })
}

/// Walks the document `open` makes a deserializer for, as [`walk`], and checks the schema and
/// the end of the text. An error from `visit` stops the walk and is returned. When an entry is
/// well-formed JSON that does not fit its type, a wrong schema is reported in its place (the
/// document is walked again for it).
fn walk_checked<'de, R, S, F>(
    path: &Path,
    open: &dyn Fn() -> Result<serde_json::Deserializer<R>, StoreError>,
    seed: &dyn Fn(Section) -> S,
    mut visit: F,
) -> Result<(), StoreError>
where
    R: serde_json::de::Read<'de>,
    S: DeserializeSeed<'de>,
    F: FnMut(Section, Cow<'de, str>, S::Value) -> Result<(), StoreError>,
{
    let mut stopped = None;
    let mut failed_at = None;
    let mut de = open()?;
    let (mut models, mut failures) = (IdSet::default(), IdSet::default());
    let walked = walk(
        &mut de,
        seed,
        &mut |section, id, value| {
            let ids = match section {
                Section::Models => &mut models,
                Section::Failures => &mut failures,
            };
            let mut unique = || {
                check_id(path, &id)?;
                if ids.insert(&id) {
                    return Ok(());
                }
                let error = RecordError { id: id.to_string(), problem: Problem::Duplicate };
                Err(StoreError::Invalid { path: path.to_owned(), error })
            };
            unique().and_then(|()| visit(section, id, value)).map_err(|e| {
                stopped = Some(e);
                "stopped".to_owned()
            })
        },
        &mut failed_at,
    );
    if let Some(e) = stopped {
        return Err(e);
    }
    let schema = match (walked, failed_at) {
        (Ok(schema), _) => schema,
        (Err(e), Some(id)) if e.classify() == serde_json::error::Category::Data => {
            // The entry may be another schema's: say so rather than what did not fit.
            let ignore = |_| PhantomData::<IgnoredAny>;
            if let Ok(schema) = walk(&mut open()?, &ignore, &mut |_, _, _| Ok(()), &mut None) {
                check_schema(path, schema)?;
            }
            return Err(StoreError::BadEntry { path: path.to_owned(), id, message: e.to_string() });
        }
        (Err(e), _) => return Err(parse_error(path, &e)),
    };
    de.end().map_err(|e| parse_error(path, &e))?;
    check_schema(path, schema)
}

/// One decoded entry of a database.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Model(Box<Record>),
    Failure(Failure),
}

/// Deserializes an entry as its section's type.
struct EntrySeed(Section);

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Entry;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Entry, D::Error> {
        let raw = Box::<RawValue>::deserialize(de)?;
        let entry = match self.0 {
            Section::Models => validate::decode(raw.get()).map(|r| Entry::Model(Box::new(r))),
            Section::Failures => validate::decode(raw.get()).map(Entry::Failure),
        };
        entry.map_err(de::Error::custom)
    }
}

/// Streams the database at `path` in bounded memory, calling `on` with each entry, decoded, in
/// file order. Every entry is checked ([`validate`], stored times against `now`): an entry under
/// an invalid or repeated id, with a repeated key, or one that lies refuses the file. Entries are
/// handed on before the schema (last in canonical order) is known: callers that keep them do so
/// in a transaction or a temp file they drop on error.
pub fn for_each_entry_at(
    path: &Path,
    now: u64,
    mut on: impl FnMut(String, Entry) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let open = || {
        let file = crate::file::open_regular(path, crate::file::MAX_STORE_BYTES)
            .map_err(|source| StoreError::Read { path: path.to_owned(), source })?;
        Ok(serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, file)))
    };
    walk_checked(path, &open, &EntrySeed, |_, id, entry| {
        let checked = match &entry {
            Entry::Model(r) => validate::check_record(&id, r, now),
            Entry::Failure(f) => validate::check_failure(&id, f, now),
        };
        checked.map_err(|error| StoreError::Invalid { path: path.to_owned(), error })?;
        on(id.into_owned(), entry)
    })
}

/// [`for_each_entry_at`] the system clock.
pub fn for_each_entry(path: &Path, on: impl FnMut(String, Entry) -> Result<(), StoreError>) -> Result<(), StoreError> {
    for_each_entry_at(path, validate::now(), on)
}

/// Reads a whole `db.json` into memory (for small files and tests; commands stream).
pub fn read(path: &Path) -> Result<Db, StoreError> {
    let mut db = Db::default();
    for_each_entry(path, |id, entry| {
        match entry {
            Entry::Model(r) => {
                db.models.insert(id, *r);
            }
            Entry::Failure(f) => {
                db.failures.insert(id, f);
            }
        }
        Ok(())
    })?;
    Ok(db)
}

/// A database's text in memory, for look-ups: the first [`Text::index`] is one pass over it, and
/// later ones reuse where its entries were found (a `get` looks up the record, then the failure).
pub struct Text {
    text: Cow<'static, str>,
    path: PathBuf,
    spans: OnceLock<Spans>,
}

/// Where a checked text's entries are: each `(id, raw JSON)` as byte ranges of the text (an id
/// with escapes, decoded, as its own string), per section, in file order.
#[derive(Default)]
struct Spans {
    models: Vec<(Span, Range<usize>)>,
    failures: Vec<(Span, Range<usize>)>,
}

/// An id: a range of the text, or, when the text spells it with escapes, decoded.
enum Span {
    At(Range<usize>),
    Decoded(String),
}

/// The entries of a [`Text`], `(id, raw JSON)` in file order, borrowed from it.
pub struct Index<'a> {
    models: Vec<(Cow<'a, str>, &'a str)>,
    failures: Vec<(Cow<'a, str>, &'a str)>,
}

impl Text {
    /// Database text; `path` names it in errors.
    pub fn new(text: Cow<'static, str>, path: &Path) -> Text {
        Text { text, path: path.to_owned(), spans: OnceLock::new() }
    }

    /// Reads a `db.json` (a regular file of at most [`crate::file::MAX_STORE_BYTES`]).
    pub fn read(path: &Path) -> Result<Text, StoreError> {
        let bytes = crate::file::read_regular(path, crate::file::MAX_STORE_BYTES)
            .map_err(|source| StoreError::Read { path: path.to_owned(), source })?;
        let text = String::from_utf8(bytes).map_err(|e| StoreError::Parse {
            path: path.to_owned(),
            line: 1,
            column: 1,
            message: format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        })?;
        Ok(Text::new(Cow::Owned(text), path))
    }

    /// Walks the text: each entry deserialized by `seed(section)`, handed to `visit`.
    pub fn walk<'a, S, F>(&'a self, seed: &dyn Fn(Section) -> S, visit: F) -> Result<(), StoreError>
    where
        S: DeserializeSeed<'a>,
        F: FnMut(Section, Cow<'a, str>, S::Value) -> Result<(), StoreError>,
    {
        walk_checked(&self.path, &|| Ok(serde_json::Deserializer::from_str(&self.text)), seed, visit)
    }

    /// Every entry, undecoded. The text is walked and checked once; later calls reuse the walk.
    pub fn index(&self) -> Result<Index<'_>, StoreError> {
        let spans = match self.spans.get() {
            Some(spans) => spans,
            None => {
                let spans = self.spans()?;
                self.spans.get_or_init(|| spans)
            }
        };
        let text: &str = &self.text;
        Ok(Index { models: entries(text, &spans.models), failures: entries(text, &spans.failures) })
    }

    /// One walk over the text: where each entry is.
    fn spans(&self) -> Result<Spans, StoreError> {
        let mut spans = Spans::default();
        let base = self.text.as_ptr() as usize;
        // Where a slice of the text starts in it (serde_json borrows ids without escapes and raw
        // values from the text it reads).
        let at = |s: &str| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let raw = |_| PhantomData::<&RawValue>;
        self.walk(&raw, |section, id, raw: &RawValue| {
            let id = match id {
                Cow::Borrowed(id) => Span::At(at(id)),
                Cow::Owned(id) => Span::Decoded(id),
            };
            match section {
                Section::Models => spans.models.push((id, at(raw.get()))),
                Section::Failures => spans.failures.push((id, at(raw.get()))),
            }
            Ok(())
        })?;
        Ok(spans)
    }

    /// What errors name this text by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decodes an entry of this text.
    pub fn decode<'a, T: Deserialize<'a>>(&self, id: &str, raw: &'a str) -> Result<T, StoreError> {
        decode(&self.path, id, raw)
    }
}

/// The entries at `spans` of `text`.
fn entries<'a>(text: &'a str, spans: &'a [(Span, Range<usize>)]) -> Vec<(Cow<'a, str>, &'a str)> {
    spans
        .iter()
        .map(|(id, raw)| {
            let id = match id {
                Span::At(r) => &text[r.clone()],
                Span::Decoded(s) => s.as_str(),
            };
            (Cow::Borrowed(id), &text[raw.clone()])
        })
        .collect()
}

impl<'a> Index<'a> {
    /// The entries of a section, `(id, raw JSON)`, in file order.
    pub fn entries(&self, section: Section) -> impl Iterator<Item = (&str, &'a str)> {
        let list = match section {
            Section::Models => &self.models,
            Section::Failures => &self.failures,
        };
        list.iter().map(|(id, raw)| (id.as_ref(), *raw))
    }

    /// The entry for `id`, matched ignoring ASCII case (as the Hub matches ids; a section holds
    /// each id once ignoring case, or its text is refused).
    pub fn find(&self, section: Section, id: &str) -> Option<(&str, &'a str)> {
        self.entries(section).find(|(k, _)| k.eq_ignore_ascii_case(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\"schema\": 1, \"extra\": [1, {\"models\": 2}], \"models\": {\"a/b\": {\"x\": 1}, \"C/D\": [2]}, \
                        \"failures\": {\"e/f\": {\"y\": \"z\"}}}";

    #[test]
    fn index_finds_entries_exactly_then_ignoring_case() {
        let text = Text::new(Cow::Borrowed(TEXT), Path::new("t.json"));
        let idx = text.index().unwrap();
        assert_eq!(idx.find(Section::Models, "a/b"), Some(("a/b", "{\"x\": 1}")));
        assert_eq!(idx.find(Section::Models, "c/d"), Some(("C/D", "[2]")));
        assert_eq!(idx.find(Section::Models, "e/f"), None);
        assert_eq!(idx.find(Section::Failures, "E/F"), Some(("e/f", "{\"y\": \"z\"}")));
        assert_eq!(idx.entries(Section::Models).count(), 2);
        // A second index reuses the first walk and answers alike, ids with escapes decoded.
        let escaped =
            Text::new(Cow::Borrowed("{\"schema\": 1, \"models\": {\"a\\/b\": 1, \"c/d\": 2}}"), Path::new("t"));
        for _ in 0..2 {
            let idx = escaped.index().unwrap();
            assert_eq!(idx.find(Section::Models, "a/b"), Some(("a/b", "1")));
            assert_eq!(idx.find(Section::Models, "C/D"), Some(("c/d", "2")));
            assert_eq!(idx.entries(Section::Failures).count(), 0);
        }
    }

    /// `text` in a file of a temp folder, and a walk over it that keeps nothing.
    fn stream(text: &str) -> Result<(), StoreError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, text).unwrap();
        for_each_entry(&path, |_, _| Ok(()))
    }

    #[test]
    fn wrong_or_missing_schema_and_bad_syntax_are_refused() {
        let p = Path::new("t.json");
        let schema2 = "{\"models\": {\"a/b\": 5}, \"schema\": 2}";
        assert!(matches!(Text::new(Cow::Borrowed(schema2), p).index(), Err(StoreError::Schema { found: 2, .. })));
        // The schema wins over an entry that does not decode, wherever the schema is.
        let err = stream(schema2).unwrap_err();
        assert!(matches!(err, StoreError::Schema { found: 2, .. }), "{err}");
        let no_schema = "{\"models\": {}}";
        assert!(matches!(Text::new(Cow::Borrowed(no_schema), p).index(), Err(StoreError::Parse { .. })));
        assert!(matches!(stream(no_schema), Err(StoreError::Parse { .. })));
        let truncated = "{\"schema\": 1, \"models\": {\"a/b\": ";
        let err = stream(truncated).unwrap_err();
        assert!(matches!(err, StoreError::Parse { line: 1, .. }), "{err}");
        let trailing = "{\"schema\": 1} x";
        assert!(matches!(Text::new(Cow::Borrowed(trailing), p).index(), Err(StoreError::Parse { .. })));
        assert!(matches!(stream(trailing), Err(StoreError::Parse { .. })));
    }

    #[test]
    fn a_bad_entry_is_named_and_an_error_from_the_caller_stops_the_walk() {
        let bad = "{\"schema\": 1, \"models\": {\"a/b\": {\"revision\": 5}}}";
        let err = stream(bad).unwrap_err();
        assert!(matches!(&err, StoreError::BadEntry { id, .. } if id == "a/b"), "{err}");
        assert!(err.to_string().contains("t.json") && err.to_string().contains("line 1"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        std::fs::write(&path, crate::store::embedded::TEXT).unwrap();
        let mut seen = 0;
        let err = for_each_entry(&path, |_, _| {
            seen += 1;
            Err(StoreError::Locked { path: path.clone(), lock: path.clone(), holder: "test".into() })
        })
        .unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert_eq!(seen, 1);
    }
}
