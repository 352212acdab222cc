//! Merging stores (sharded builds) in bounded memory: a k-way merge over each store's id-ordered
//! streams, failures then records, straight into the canonical writer. Never worse: of two records
//! of one commit the better wins (exact over estimate over approximate), then the newer; of two
//! commits the newer record wins. Records that state different facts are reported; for each
//! failure the newest wins. Times are compared as times (every input is checked on reading,
//! [`super::validate`]). Ties are broken by the values themselves (the greater text), never by the
//! order of the inputs: the same stores merge to the same bytes in any order.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::canonical::CanonicalWriter;
use super::sqlite::SqliteStore;
use super::validate::time_of;
use super::{StoreError, import, is_sqlite};
use crate::record::Record;
use crate::stale;

/// The stores to merge: SQLite stores read in place, db.json files imported into scratch stores
/// in a temp folder (removed with this value), so that every input is an id-ordered stream
/// whatever the order of its file.
pub struct Inputs {
    pub stores: Vec<SqliteStore>,
    _scratch: tempfile::TempDir,
}

/// Opens `paths` for a merge; the scratch folder goes in `dir` (beside the output, not in a
/// memory-backed /tmp), named after this host and process, and those of killed merges there are removed.
pub fn open_inputs(paths: &[PathBuf], dir: &Path) -> Result<Inputs, StoreError> {
    stale::sweep(dir, SCRATCH_PREFIX, "");
    let scratch = tempfile::Builder::new()
        .prefix(&stale::owner_prefix(SCRATCH_PREFIX))
        .tempdir_in(dir)
        .map_err(|source| StoreError::Write { path: dir.to_owned(), source })?;
    let mut stores = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        if is_sqlite(path) {
            stores.push(SqliteStore::open_read_only(path)?);
        } else {
            let mut s = SqliteStore::open(&scratch.path().join(format!("input-{i}.sqlite")))?;
            import::import(&mut s, path, &|_| true)?;
            stores.push(s);
        }
    }
    Ok(Inputs { stores, _scratch: scratch })
}

/// The start of a merge's scratch folder name.
const SCRATCH_PREFIX: &str = ".capcache-merge.";

/// Merges `inputs` into `out`. `on_conflict(id, kept, other)` hears of each record that
/// disagrees with the one kept; returns how many did.
pub fn merge<W: Write>(
    inputs: &[SqliteStore],
    out: &mut CanonicalWriter<W>,
    on_conflict: &mut dyn FnMut(&str, &Record, &Record),
) -> Result<u64, StoreError> {
    kway(inputs.iter().map(SqliteStore::failures).collect(), |id, failures| {
        let newest =
            failures.into_iter().max_by(|a, b| time_of(&a.at).cmp(&time_of(&b.at)).then_with(|| text(a).cmp(&text(b))));
        out.failure(&id, &newest.expect("at least one failure per id"))
    })?;
    let mut conflicts = 0;
    kway(inputs.iter().map(SqliteStore::models).collect(), |id, records| {
        let mut records = records.into_iter();
        let mut kept = records.next().expect("at least one record per id");
        for r in records {
            if kept.same_facts(&r) {
                continue;
            }
            conflicts += 1;
            if wins(&r, &kept) {
                on_conflict(&id, &r, &kept);
                kept = r;
            } else {
                on_conflict(&id, &kept, &r);
            }
        }
        out.model(&id, &kept)
    })?;
    Ok(conflicts)
}

/// Whether `a` beats `b`: at one commit better (exact over estimate), else newer; across commits
/// newer, else better; else the greater JSON text.
fn wins(a: &Record, b: &Record) -> bool {
    let (ta, tb) = (time_of(&a.resolved_at), time_of(&b.resolved_at));
    if a.revision == b.revision {
        (a.quality(), ta, text(a)) > (b.quality(), tb, text(b))
    } else {
        (ta, a.quality(), text(a)) > (tb, b.quality(), text(b))
    }
}

/// A value's JSON text, a total order for breaking ties.
fn text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("records serialize")
}

/// Walks id-ordered streams together: `emit` gets each id once, with its values from every
/// stream that has it, in stream order.
fn kway<T, I>(
    mut streams: Vec<I>,
    mut emit: impl FnMut(String, Vec<T>) -> Result<(), StoreError>,
) -> Result<(), StoreError>
where
    I: Iterator<Item = Result<(String, T), StoreError>>,
{
    let mut heads: Vec<Option<(String, T)>> =
        streams.iter_mut().map(|s| s.next().transpose()).collect::<Result<_, _>>()?;
    while let Some(id) = heads.iter().flatten().map(|(id, _)| id).min().cloned() {
        let mut values = Vec::new();
        for (head, stream) in heads.iter_mut().zip(streams.iter_mut()) {
            if head.as_ref().is_some_and(|(h, _)| *h == id) {
                let (_, v) = std::mem::replace(head, stream.next().transpose()?).expect("checked above");
                values.push(v);
            }
        }
        emit(id, values)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::record::{Db, Failure};
    use crate::store::sqlite::tests::sample;

    #[test]
    fn kway_visits_each_id_once_in_order_with_every_streams_values() {
        let s = |ids: &[&str]| -> std::vec::IntoIter<Result<(String, usize), StoreError>> {
            ids.iter().enumerate().map(|(i, id)| Ok((id.to_string(), i))).collect::<Vec<_>>().into_iter()
        };
        let mut seen = Vec::new();
        kway(vec![s(&["a", "c", "d"]), s(&[]), s(&["b", "c"]), s(&["d"])], |id, v| {
            seen.push((id, v.len()));
            Ok(())
        })
        .unwrap();
        let want: Vec<(String, usize)> = [("a", 1), ("b", 1), ("c", 2), ("d", 2)].map(|(a, n)| (a.into(), n)).into();
        assert_eq!(seen, want);
    }

    #[test]
    fn newest_wins_conflicts_are_reported_and_the_result_is_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = SqliteStore::open(&dir.path().join("a.sqlite")).unwrap();
        let mut b = SqliteStore::open(&dir.path().join("b.sqlite")).unwrap();
        let old = sample("r1");
        let mut new = sample("r2");
        new.resolved_at = "2026-12-01T00:00:00Z".into();
        a.put_record("x/both", &old, "t").unwrap();
        b.put_record("x/both", &new, "t").unwrap();
        a.put_record("x/same", &old, "t").unwrap();
        b.put_record("x/same", &old, "t").unwrap();
        a.put_record("x/only-a", &old, "t").unwrap();
        b.put_record("y/only-b", &new, "t").unwrap();
        let f = |at: &str| Failure {
            outcome: crate::record::Outcome::Gated,
            message: at.into(),
            at: at.into(),
            tried: vec![],
        };
        a.put_failure("z/f", &f("2026-11-02T00:00:00Z")).unwrap();
        b.put_failure("z/f", &f("2026-11-01T00:00:00Z")).unwrap();

        let mut w = CanonicalWriter::new(Vec::new(), Path::new("<memory>")).unwrap();
        let mut reported = Vec::new();
        let n = merge(&[a, b], &mut w, &mut |id, kept, other| {
            reported.push((id.to_owned(), kept.revision.clone(), other.revision.clone()));
        })
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(reported, vec![("x/both".to_owned(), "r2".to_owned(), "r1".to_owned())]);
        let want = Db {
            models: BTreeMap::from([
                ("x/both".into(), new.clone()),
                ("x/same".into(), old.clone()),
                ("x/only-a".into(), old),
                ("y/only-b".into(), new),
            ]),
            failures: BTreeMap::from([("z/f".into(), f("2026-11-02T00:00:00Z"))]),
            ..Db::default()
        };
        assert_eq!(String::from_utf8(w.finish().unwrap()).unwrap(), want.to_canonical_json());
    }

    #[test]
    fn ties_are_broken_by_the_records_not_by_the_order_of_the_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let exact = sample("r1");
        let mut estimate = sample("r1");
        estimate.exact = false;
        let mut other = sample("r1");
        other.logical_parameters += 1;
        let mut outputs = Vec::new();
        for (i, order) in
            [[&exact, &estimate, &other], [&other, &exact, &estimate], [&estimate, &other, &exact]].iter().enumerate()
        {
            let stores: Vec<SqliteStore> = order
                .iter()
                .enumerate()
                .map(|(k, r)| {
                    let mut s = SqliteStore::open(&dir.path().join(format!("{i}-{k}.sqlite"))).unwrap();
                    s.put_record("x/tie", r, "t").unwrap();
                    s
                })
                .collect();
            let mut w = CanonicalWriter::new(Vec::new(), Path::new("<memory>")).unwrap();
            merge(&stores, &mut w, &mut |_, _, _| {}).unwrap();
            outputs.push(String::from_utf8(w.finish().unwrap()).unwrap());
        }
        assert!(outputs.windows(2).all(|w| w[0] == w[1]), "{outputs:#?}");
        assert!(!outputs[0].contains("\"exact\": false"), "an exact record beats an estimate of the same time");
    }

    #[test]
    fn at_one_commit_quality_ranks_before_date_and_dates_are_times() {
        let dir = tempfile::tempdir().unwrap();
        let exact = sample("r1");
        let mut later_estimate = sample("r1");
        later_estimate.exact = false;
        later_estimate.resolved_at = "2026-11-27T00:00:00Z".into();
        assert!(wins(&exact, &later_estimate) && !wins(&later_estimate, &exact));
        // Of two commits the newer wins, even an estimate; "+02:00" is earlier than its text says.
        let mut new_commit = later_estimate.clone();
        new_commit.revision = "r2".into();
        assert!(wins(&new_commit, &exact));
        let mut text_later = sample("r3");
        text_later.resolved_at = "2026-11-26T04:00:00+02:00".into();
        assert!(wins(&exact, &text_later), "02:00Z is before 03:00Z");
        let mut s = SqliteStore::open(&dir.path().join("a.sqlite")).unwrap();
        s.put_record("x/y", &later_estimate, "t").unwrap();
        let mut t = SqliteStore::open(&dir.path().join("b.sqlite")).unwrap();
        t.put_record("x/y", &exact, "t").unwrap();
        let mut w = CanonicalWriter::new(Vec::new(), Path::new("<memory>")).unwrap();
        merge(&[s, t], &mut w, &mut |_, _, _| {}).unwrap();
        assert!(!String::from_utf8(w.finish().unwrap()).unwrap().contains("\"exact\": false"));
    }
}
