//! What changed between two databases: ids added, removed, and for each id in both whose facts
//! differ, what changed (total, strategy, revision, exactness, and the names of any other fields).
//! A record that went from exact to an estimate is a regression. Pure: takes two [`Db`]s.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::{Db, Record, Strategy};

/// An old and a new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair<T> {
    pub old: T,
    pub new: T,
}

impl<T: PartialEq> Pair<T> {
    fn of(old: T, new: T) -> Option<Pair<T>> {
        (old != new).then_some(Pair { old, new })
    }
}

/// What changed in one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Pair<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Pair<Strategy>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<Pair<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<Pair<bool>>,
    /// Exact before, an estimate now.
    pub regression: bool,
    /// The other top-level fields whose values differ (`resolved_at` never counts).
    pub fields: Vec<String>,
}

/// The difference between two databases' models. Ids are compared exactly, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<Change>,
}

impl Diff {
    pub fn regressions(&self) -> usize {
        self.changed.iter().filter(|c| c.regression).count()
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The difference from `old` to `new`.
pub fn diff(old: &Db, new: &Db) -> Diff {
    let mut d = Diff::default();
    for (id, n) in &new.models {
        match old.models.get(id) {
            None => d.added.push(id.clone()),
            Some(o) if !o.same_facts(n) => d.changed.push(change(id, o, n)),
            Some(_) => {}
        }
    }
    d.removed = old.models.keys().filter(|id| !new.models.contains_key(*id)).cloned().collect();
    d
}

fn change(id: &str, o: &Record, n: &Record) -> Change {
    const NAMED: [&str; 5] = ["total", "strategy", "revision", "exact", "resolved_at"];
    let fields = |r: &Record| match serde_json::to_value(r) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().collect::<BTreeMap<_, _>>(),
        _ => BTreeMap::new(),
    };
    let (a, b) = (fields(o), fields(n));
    let mut names: Vec<String> = a.keys().chain(b.keys()).filter(|k| !NAMED.contains(&k.as_str())).cloned().collect();
    names.sort();
    names.dedup();
    names.retain(|k| a.get(k) != b.get(k));
    Change {
        id: id.to_owned(),
        total: Pair::of(o.total, n.total),
        strategy: Pair::of(o.strategy, n.strategy),
        revision: Pair::of(o.revision.clone(), n.revision.clone()),
        exact: Pair::of(o.exact, n.exact),
        regression: o.exact && !n.exact,
        fields: names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(total: u64, strategy: Strategy, exact: bool, revision: &str) -> Record {
        let mut db: Db = serde_json::from_str(crate::store::embedded::TEXT).unwrap();
        let mut r = db.models.pop_first().unwrap().1;
        r.parameters = [("F16".to_owned(), total)].into();
        r.total = total;
        r.strategy = strategy;
        r.exact = exact;
        r.revision = revision.to_owned();
        r
    }

    #[test]
    fn added_removed_changed_and_a_regression() {
        let mut old = Db::default();
        let mut new = Db::default();
        old.models.insert("a/gone".into(), record(1, Strategy::Safetensors, true, "r1"));
        old.models.insert("a/same".into(), record(2, Strategy::Safetensors, true, "r1"));
        let mut restamped = record(2, Strategy::Safetensors, true, "r1");
        restamped.resolved_at = "2030-01-01T00:00:00Z".into();
        new.models.insert("a/same".into(), restamped);
        old.models.insert("a/worse".into(), record(10, Strategy::Pytorch, true, "r1"));
        new.models.insert("a/worse".into(), record(12, Strategy::Config, false, "r2"));
        let mut better = record(5, Strategy::Config, false, "r1");
        old.models.insert("a/better".into(), better.clone());
        better.exact = true;
        better.strategy = Strategy::HubMetadata;
        better.dtype = Some("BF16".into());
        new.models.insert("a/better".into(), better);
        new.models.insert("a/new".into(), record(3, Strategy::Gguf, true, "r1"));

        let d = diff(&old, &new);
        assert_eq!(d.added, ["a/new"]);
        assert_eq!(d.removed, ["a/gone"]);
        assert_eq!(d.changed.len(), 2);
        let better = &d.changed[0];
        assert_eq!(better.id, "a/better");
        assert!(!better.regression);
        assert_eq!(better.total, None);
        assert_eq!(better.strategy, Some(Pair { old: Strategy::Config, new: Strategy::HubMetadata }));
        assert_eq!(better.fields, ["dtype"]);
        let worse = &d.changed[1];
        assert!(worse.regression);
        assert_eq!(worse.total, Some(Pair { old: 10, new: 12 }));
        assert_eq!(worse.revision, Some(Pair { old: "r1".into(), new: "r2".into() }));
        assert_eq!(worse.fields, ["parameters"]);
        assert_eq!(d.regressions(), 1);
        assert!(diff(&new, &new).is_empty());
    }
}
