//! The records of one run, looked up by name, and the order things are shown
//! in: known names first in a fixed order, anything else after them sorted,
//! so an unknown subject or scenario still renders, always in the same place.

use std::collections::BTreeMap;
use std::path::Path;

use records::Record;

/// `(group, scenario, subject, metric)`.
type Key = (String, String, String, String);

/// Every record read, the last one of a name winning (a later run appended
/// after an earlier one replaces it).
#[derive(Default)]
pub struct Data {
    records: BTreeMap<Key, Record>,
}

impl Data {
    pub fn new(records: impl IntoIterator<Item = Record>) -> Self {
        let records = records
            .into_iter()
            .map(|record| {
                let key = (
                    record.group.clone(),
                    record.scenario.clone(),
                    record.subject.clone(),
                    record.metric.clone(),
                );
                (key, record)
            })
            .collect();
        Self { records }
    }

    /// Every `*.jsonl` file of `dir`, in name order.
    pub fn read_dir(dir: &Path) -> std::io::Result<Self> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()?;
        paths.retain(|path| path.extension().is_some_and(|ext| ext == "jsonl"));
        paths.sort();
        let mut all = Vec::new();
        for path in paths {
            all.extend(records::read(&path)?);
        }
        Ok(Self::new(all))
    }

    pub fn get(&self, group: &str, scenario: &str, subject: &str, metric: &str) -> Option<&Record> {
        self.records.get(&(
            group.to_owned(),
            scenario.to_owned(),
            subject.to_owned(),
            metric.to_owned(),
        ))
    }

    pub fn value(&self, group: &str, scenario: &str, subject: &str, metric: &str) -> Option<f64> {
        self.get(group, scenario, subject, metric)
            .map(|record| record.value)
            .filter(|value| value.is_finite())
    }

    pub fn text(&self, group: &str, scenario: &str, subject: &str, metric: &str) -> Option<&str> {
        self.get(group, scenario, subject, metric)?.text.as_deref()
    }

    /// Every record of `group`.
    pub fn group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records
            .values()
            .filter(move |record| record.group == group)
    }
}

/// The distinct `names`, those in `known` first in its order, then the rest
/// sorted by `rank` and name.
pub fn ordered<'a, K: Ord>(
    names: impl IntoIterator<Item = &'a str>,
    known: &[&str],
    rank: impl Fn(&str) -> K,
) -> Vec<String> {
    let mut found: Vec<&str> = names.into_iter().collect();
    found.sort_by_key(|name| {
        let position = known.iter().position(|known| known == name);
        (position.is_none(), position, rank(name), name.to_string())
    });
    found.dedup();
    found.into_iter().map(str::to_owned).collect()
}

/// The median (the mean of the middle two for an even count); `None` for none.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_first_then_the_rest_sorted() {
        let names = ["zeta", "b", "alpha", "a", "b"];
        assert_eq!(
            ordered(names, &["b", "a"], |_| ()),
            ["b", "a", "alpha", "zeta"]
        );
    }

    #[test]
    fn a_later_record_of_the_same_name_wins() {
        let data = Data::new([
            Record::new("g", "s", "x", "m", 1.0, "s", 1),
            Record::new("g", "s", "x", "m", 2.0, "s", 1),
        ]);
        assert_eq!(data.value("g", "s", "x", "m"), Some(2.0));
        assert_eq!(data.value("g", "s", "y", "m"), None);
    }
}
