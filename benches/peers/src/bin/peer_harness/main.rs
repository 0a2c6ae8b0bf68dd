//! `peer-harness`: every subject (the peers and this project's service)
//! through the same updates, bad files and idle time, on the same machine in
//! one run, written as `records` lines (group `peers`).
//!
//! ```text
//! cargo run -p peers --release --bin peer-harness -- --out FILE.jsonl [--quick] [--only a,b,...]
//! ```
//!
//! The scenarios, metrics and units are listed in `benches/peers/README.md`.

mod binaries;
mod open_watch;
mod poller;
mod process;
mod procfs;
mod runs;
mod subjects;
mod verdict;
mod versions;
mod workload;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use records::Record;

use crate::binaries::Layout;
use crate::runs::{Settings, SubjectRun};
use crate::subjects::Subject;
use records::registry::{BadInput, Pattern};

/// Run the peers and the service through the same config changes.
#[derive(Debug, Parser)]
#[command(name = "peer-harness")]
struct Cli {
    /// The JSON-lines file records are appended to.
    #[arg(long)]
    out: PathBuf,
    /// CI mode: every subject once through kubelet-after and rename-replace;
    /// exits non-zero unless every subject has its records.
    #[arg(long)]
    quick: bool,
    /// Only these subjects (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Updates per pattern [default: 3, quick: 1].
    #[arg(long)]
    rounds: Option<u32>,
}

const GROUP: &str = "peers";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("peer-harness: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let subjects = subjects::select(&cli.only)?;
    let layout = Layout::current()?;
    let programs = binaries::build(&subjects, &layout)?;
    let sources = versions::Sources::read(&layout.root)?;
    let settings = Settings::new(cli.quick, cli.rounds);
    let patterns: &[Pattern] = if cli.quick {
        &workload::QUICK
    } else {
        Pattern::ALL
    };
    let bad_inputs: &[BadInput] = if cli.quick { &[] } else { BadInput::ALL };
    let mut out = Output::new(cli.out.clone(), command_line());
    let mut runs: HashMap<&str, SubjectRun<'_>> = subjects
        .iter()
        .map(|subject| {
            let run = SubjectRun::new(
                subject,
                &programs[&subject.name],
                &layout.log_dir(),
                &settings,
            );
            (subject.name.as_str(), run)
        })
        .collect();
    let mut failures = Vec::new();

    // Pattern by pattern, every subject in turn: noise on the shared machine
    // spreads over all subjects instead of landing on one.
    for pattern in patterns {
        for subject in &subjects {
            eprintln!("peer-harness: {} / {}", subject.name, pattern.name());
            match runs
                .get_mut(subject.name.as_str())
                .expect("every subject has a run")
                .pattern(*pattern)
            {
                Ok(records) => out.write(records)?,
                Err(error) => {
                    failures.push(format!("{} / {}: {error}", subject.name, pattern.name()))
                }
            }
        }
    }
    for bad in bad_inputs {
        for subject in &subjects {
            eprintln!("peer-harness: {} / {}", subject.name, bad.name());
            match runs[subject.name.as_str()].bad_input(*bad) {
                Ok(records) => out.write(records)?,
                Err(error) => failures.push(format!("{} / {}: {error}", subject.name, bad.name())),
            }
        }
    }
    for subject in &subjects {
        if !cli.quick {
            eprintln!("peer-harness: {} / idle", subject.name);
            match runs[subject.name.as_str()].idle() {
                Ok(records) => out.write(records)?,
                Err(error) => failures.push(format!("{} / idle: {error}", subject.name)),
            }
        }
        out.write(runs[subject.name.as_str()].peak_rss())?;
        out.write(version_record(subject, &sources)?)?;
    }

    let missing = missing_records(&out.written, &subjects, patterns, bad_inputs, !cli.quick);
    for failure in &failures {
        eprintln!("peer-harness: failed: {failure}");
    }
    for gap in &missing {
        eprintln!("peer-harness: missing record: {gap}");
    }
    if missing.is_empty() {
        eprintln!(
            "peer-harness: {} records appended to {}",
            out.written.len(),
            cli.out.display()
        );
        Ok(())
    } else {
        Err(format!("{} records missing (see above)", missing.len()))
    }
}

/// The `version` record of `subject`.
fn version_record(subject: &Subject, sources: &versions::Sources) -> Result<Vec<Record>, String> {
    let described = sources.describe(subject)?;
    Ok(vec![
        Record::new(GROUP, "-", &subject.name, "version", 0.0, "text", 1)
            .with_text(described.text)
            .with_provenance("source", described.source),
    ])
}

/// Appends records as they come, so an interrupted run keeps what it had.
struct Output {
    path: PathBuf,
    command: String,
    written: Vec<Record>,
}

impl Output {
    fn new(path: PathBuf, command: String) -> Self {
        Self {
            path,
            command,
            written: Vec::new(),
        }
    }

    fn write(&mut self, records: Vec<Record>) -> Result<(), String> {
        let records: Vec<Record> = records
            .into_iter()
            .map(|record| record.with_provenance("command", &self.command))
            .collect();
        records::append(&self.path, &records)
            .map_err(|error| format!("{}: {error}", self.path.display()))?;
        self.written.extend(records);
        Ok(())
    }
}

/// How this harness was invoked, as the records' `command` provenance.
fn command_line() -> String {
    let mut args = std::env::args();
    args.next();
    std::iter::once("peer-harness".to_owned())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every `(subject, scenario, metric)` a complete run has and `written`
/// lacks.
fn missing_records(
    written: &[Record],
    subjects: &[Subject],
    patterns: &[Pattern],
    bad_inputs: &[BadInput],
    idle: bool,
) -> Vec<String> {
    let have: BTreeSet<(&str, &str, &str)> = written
        .iter()
        .map(|r| (r.subject.as_str(), r.scenario.as_str(), r.metric.as_str()))
        .collect();
    let mut missing = Vec::new();
    for subject in subjects {
        let mut expected: Vec<(&str, &str)> = vec![("-", "peak_rss"), ("-", "version")];
        expected.extend(patterns.iter().map(|p| (p.name(), "detected")));
        expected.extend(
            bad_inputs
                .iter()
                .flat_map(|b| [(b.name(), "verdict"), (b.name(), "recovers")]),
        );
        if idle {
            expected.extend([("idle", "wakeups_per_s"), ("idle", "cpu_per_s")]);
        }
        for (scenario, metric) in expected {
            if !have.contains(&(subject.name.as_str(), scenario, metric)) {
                missing.push(format!("{} / {scenario} / {metric}", subject.name));
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_without_its_records_is_reported_missing() {
        let subjects = subjects::select(&["seed".into()]).unwrap();
        let complete = [
            ("-", "peak_rss"),
            ("-", "version"),
            ("kubelet-after", "detected"),
            ("rename-replace", "detected"),
        ]
        .map(|(scenario, metric)| Record::new(GROUP, scenario, "seed", metric, 1.0, "count", 1));
        assert!(missing_records(&complete, &subjects, &workload::QUICK, &[], false).is_empty());
        let missing = missing_records(&complete[1..], &subjects, &workload::QUICK, &[], false);
        assert_eq!(missing, ["seed / - / peak_rss"]);
    }
}
