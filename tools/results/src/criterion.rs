//! Criterion's saved results: every benchmark leaves a `new/benchmark.json`
//! (its id) and a `new/estimates.json` (its statistics) under the criterion
//! directory, whatever the id's characters became as folder names.

use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, parse_json, read_text};

/// One benchmark's time per iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// `group/…/function`, as the bench named it.
    pub id: String,
    /// Criterion's median estimate, in nanoseconds: the median resists the
    /// outliers a shared 2-core machine produces better than the mean.
    pub nanos: f64,
}

#[derive(Deserialize)]
struct BenchmarkFile {
    full_id: String,
}

#[derive(Deserialize)]
struct EstimatesFile {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// Every measurement under `criterion_dir` whose id starts with `prefix`,
/// sorted by id. A missing directory is no results, not an error.
pub fn read_all(criterion_dir: &Path, prefix: &str) -> Result<Vec<Measurement>, Error> {
    let mut found = Vec::new();
    if criterion_dir.is_dir() {
        collect(criterion_dir, prefix, &mut found)?;
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

fn collect(dir: &Path, prefix: &str, found: &mut Vec<Measurement>) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|source| Error::io(dir, source))?;
    for entry in entries {
        let path = entry.map_err(|source| Error::io(dir, source))?.path();
        if !path.is_dir() {
            continue;
        }
        let benchmark = path.join("benchmark.json");
        let estimates = path.join("estimates.json");
        if path.file_name().is_some_and(|name| name == "new") && benchmark.is_file() {
            let measurement = parse(&read_text(&benchmark)?, &read_text(&estimates)?)
                .map_err(|reason| Error::parse(&path, reason))?;
            if measurement.id.starts_with(prefix) {
                found.push(measurement);
            }
        } else {
            collect(&path, prefix, found)?;
        }
    }
    Ok(())
}

/// One benchmark from the text of its two files.
pub fn parse(benchmark_json: &str, estimates_json: &str) -> Result<Measurement, String> {
    let benchmark: BenchmarkFile = parse_json(benchmark_json)?;
    let estimates: EstimatesFile = parse_json(estimates_json)?;
    Ok(Measurement {
        id: benchmark.full_id,
        nanos: estimates.median.point_estimate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCHMARK: &str = r#"{"group_id":"managers","function_id":"mutex","value_str":null,"throughput":null,"full_id":"managers/read_2/mutex","directory_name":"managers/read_2/mutex","title":"managers/read_2/mutex"}"#;
    const ESTIMATES: &str = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":4.1,"upper_bound":5.2},"point_estimate":4.6,"standard_error":0.02},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":4.0,"upper_bound":4.9},"point_estimate":4.5e0,"standard_error":0.01},"median_abs_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":0.1,"upper_bound":0.2},"point_estimate":0.15,"standard_error":0.01},"slope":null,"std_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":0.1,"upper_bound":0.3},"point_estimate":0.2,"standard_error":0.01}}"#;

    #[test]
    fn parse_takes_the_full_id_and_the_median() {
        let measurement = parse(BENCHMARK, ESTIMATES).unwrap();
        assert_eq!(measurement.id, "managers/read_2/mutex");
        assert_eq!(measurement.nanos, 4.5);
    }

    #[test]
    fn parse_says_what_is_missing() {
        let error = parse(BENCHMARK, r#"{"mean":{"point_estimate":1.0}}"#).unwrap_err();
        assert!(error.contains("median"), "{error}");
    }

    #[test]
    fn read_all_walks_nested_folders_and_filters_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        for (folder, id) in [
            ("managers/read_2/mutex", "managers/read_2/mutex"),
            ("reload/size_1k", "reload/size_1k"),
        ] {
            let new = dir.path().join(folder).join("new");
            fs::create_dir_all(&new).unwrap();
            fs::write(
                new.join("benchmark.json"),
                BENCHMARK.replace("managers/read_2/mutex", id),
            )
            .unwrap();
            fs::write(new.join("estimates.json"), ESTIMATES).unwrap();
            // criterion keeps the previous run beside it; it must be ignored.
            let base = dir.path().join(folder).join("base");
            fs::create_dir_all(&base).unwrap();
            fs::write(base.join("benchmark.json"), BENCHMARK).unwrap();
        }
        let managers = read_all(dir.path(), "managers/").unwrap();
        assert_eq!(managers.len(), 1);
        assert_eq!(managers[0].id, "managers/read_2/mutex");
        assert_eq!(read_all(dir.path(), "").unwrap().len(), 2);
        assert!(read_all(&dir.path().join("absent"), "").unwrap().is_empty());
    }
}
