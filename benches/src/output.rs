//! Where the benches write their [`Record`]s, and criterion's estimates
//! turned into records — once, for every criterion bench.
//!
//! A bench appends its records to the file named by `BENCH_RECORDS`, or to
//! `<target>/records/<bench>.jsonl`; `tools/results` points `BENCH_RECORDS`
//! at its own data directory. Criterion writes its estimates under
//! [`criterion_dir`]; [`CriterionRun`] reads back those written during this
//! run, so a filtered run reports only what it measured.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use records::Record;
use serde::Deserialize;

/// The target directory: `CARGO_TARGET_DIR`, else three levels above the
/// bench executable (`target/release/deps/<bench>-…`), as criterion finds it.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Where criterion writes: `CRITERION_HOME`, else `<target>/criterion`.
pub fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME").map_or_else(|| target_dir().join("criterion"), PathBuf::from)
}

/// The JSON-lines file `bench` appends its records to.
pub fn records_path(bench: &str) -> PathBuf {
    std::env::var_os("BENCH_RECORDS").map_or_else(
        || target_dir().join("records").join(format!("{bench}.jsonl")),
        PathBuf::from,
    )
}

/// Appends `records` to [`records_path`]`(bench)` and says where.
pub fn write(bench: &str, records: &[Record]) {
    if records.is_empty() {
        return;
    }
    let path = records_path(bench);
    match records::append(&path, records) {
        Ok(()) => eprintln!("{} records appended to {}", records.len(), path.display()),
        Err(error) => {
            eprintln!("cannot write records to {}: {error}", path.display());
            std::process::exit(1);
        }
    }
}

/// File times come from the kernel's coarse clock (a jiffy, up to 10 ms
/// behind): a file written just after the run starts may look older. No
/// bench finishes within a second of its start, so a second of slack takes
/// no stale estimate in.
const MTIME_GRANULARITY: Duration = Duration::from_secs(1);

/// A criterion run: the estimates it writes from now on become records.
pub struct CriterionRun {
    dir: PathBuf,
    started: SystemTime,
}

#[derive(Deserialize)]
struct BenchmarkFile {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct EstimatesFile {
    median: Estimate,
}

#[derive(Deserialize)]
struct SampleFile {
    iters: Vec<f64>,
}

impl CriterionRun {
    /// Starts watching [`criterion_dir`]; give the same directory to
    /// criterion with `Criterion::output_directory`.
    pub fn start() -> Self {
        Self::start_in(&criterion_dir())
    }

    fn start_in(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            started: SystemTime::now() - MTIME_GRANULARITY,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One record per benchmark measured since [`start`](Self::start): id
    /// `group/function/parameter` → group, scenario, subject (`-` for a
    /// two-part id), criterion's median in ns, `n` = samples. `metric`
    /// names the number from the scenario.
    pub fn records(&self, metric: impl Fn(&str) -> &'static str) -> io::Result<Vec<Record>> {
        let mut records = Vec::new();
        let mut pending = vec![self.dir.clone()];
        while let Some(dir) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            for entry in entries {
                let path = entry?.path();
                if path.file_name().is_some_and(|name| name == "new") {
                    if let Some(record) = self.record(&path, &metric)? {
                        records.push(record);
                    }
                } else if path.is_dir() {
                    pending.push(path);
                }
            }
        }
        records.sort_by(|a, b| (&a.scenario, &a.subject).cmp(&(&b.scenario, &b.subject)));
        Ok(records)
    }

    fn record(
        &self,
        new: &Path,
        metric: &impl Fn(&str) -> &'static str,
    ) -> io::Result<Option<Record>> {
        let estimates = new.join("estimates.json");
        let written = match fs::metadata(&estimates) {
            Ok(meta) => meta.modified()?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        if written < self.started {
            return Ok(None);
        }
        let id: BenchmarkFile = read_json(&new.join("benchmark.json"))?;
        let estimates: EstimatesFile = read_json(&estimates)?;
        let samples: SampleFile = read_json(&new.join("sample.json"))?;
        let (scenario, subject) = match (id.function_id, id.value_str) {
            (Some(function), Some(value)) => (function, value),
            (Some(function), None) => (function, "-".to_owned()),
            (None, value) => (value.unwrap_or_default(), "-".to_owned()),
        };
        let metric = metric(&scenario);
        Ok(Some(
            Record::new(
                id.group_id,
                scenario,
                subject,
                metric,
                estimates.median.point_estimate,
                "ns",
                samples.iters.len() as u64,
            )
            .with_provenance("source", "criterion median"),
        ))
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<T> {
    let text = fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {error}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_benchmark(root: &Path, dir: &str, id: &str, median: f64) {
        let new = root.join(dir).join("new");
        fs::create_dir_all(&new).unwrap();
        fs::write(new.join("benchmark.json"), id).unwrap();
        fs::write(
            new.join("estimates.json"),
            format!(
                r#"{{"mean":{{"point_estimate":9.0}},"median":{{"point_estimate":{median}}}}}"#
            ),
        )
        .unwrap();
        fs::write(
            new.join("sample.json"),
            r#"{"iters":[1.0,2.0,3.0],"times":[1,2,3]}"#,
        )
        .unwrap();
    }

    #[test]
    fn criterion_ids_become_group_scenario_subject() {
        let root = tempfile::tempdir().unwrap();
        let run = CriterionRun::start_in(root.path());
        write_benchmark(
            root.path(),
            "managers/read_2t/arcswap",
            r#"{"group_id":"managers","function_id":"read_2t","value_str":"arcswap"}"#,
            6.5,
        );
        write_benchmark(
            root.path(),
            "reload/size_1k",
            r#"{"group_id":"reload","function_id":"size_1k","value_str":null}"#,
            13e3,
        );
        let records = run
            .records(|scenario| {
                if scenario == "size_1k" {
                    "ns_per_reload"
                } else {
                    "ns_per_read"
                }
            })
            .unwrap();
        assert_eq!(
            records,
            vec![
                Record::new(
                    "managers",
                    "read_2t",
                    "arcswap",
                    "ns_per_read",
                    6.5,
                    "ns",
                    3
                )
                .with_provenance("source", "criterion median"),
                Record::new("reload", "size_1k", "-", "ns_per_reload", 13e3, "ns", 3)
                    .with_provenance("source", "criterion median"),
            ]
        );
    }

    #[test]
    fn estimates_older_than_the_run_are_not_reported() {
        let root = tempfile::tempdir().unwrap();
        write_benchmark(
            root.path(),
            "managers/read_1t/mutex",
            r#"{"group_id":"managers","function_id":"read_1t","value_str":"mutex"}"#,
            13.0,
        );
        let estimates = root
            .path()
            .join("managers/read_1t/mutex/new/estimates.json");
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(estimates)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        let run = CriterionRun::start_in(root.path());
        assert!(run.records(|_| "ns_per_read").unwrap().is_empty());
    }
}
