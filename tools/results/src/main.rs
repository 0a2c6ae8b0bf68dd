//! One command that regenerates the research results: it runs the managers,
//! watchers, Go and service-load benchmarks and writes `docs/results.md`
//! (a decision guide, then one section per question with its tables) and
//! the SVG plots under `docs/img/`.
//!
//! ```text
//! cargo run -p results --release -- all                # run everything (~15 min), write docs/
//! cargo run -p results --release -- all --from-saved   # only re-read saved results, write docs/
//! cargo run -p results --release -- all --quick        # short runs into a temporary directory, check
//! cargo run -p results --release -- check docs         # is docs/results.md complete?
//! ```
//!
//! `--quick` is for CI: every bench runs for a fraction of a second, the
//! report and plots go to a temporary directory, and the run fails unless
//! every section has its table and every figure is a well-formed SVG.

mod check;
mod criterion;
mod error;
mod format;
mod go_results;
mod load_results;
mod managers_results;
mod plot;
mod provenance;
mod report;
mod runner;
mod watcher_results;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{Error, read_text};
use crate::report::{Inputs, NO_RESULTS, SKIPPED};
use crate::runner::{Layout, Length};

#[derive(Parser)]
#[command(about = "Runs the benchmarks and regenerates docs/results.md and docs/img/")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every benchmark, then write docs/results.md and docs/img/.
    All {
        /// Short measurements into a temporary directory, then check the output.
        #[arg(long, conflicts_with = "from_saved")]
        quick: bool,
        /// Run nothing: read the results the last full run saved under the target directory.
        #[arg(long)]
        from_saved: bool,
        /// With --quick: keep the temporary directory and print where it is.
        #[arg(long, requires = "quick")]
        keep: bool,
    },
    /// Check that a docs directory holds a complete report.
    Check {
        #[arg(default_value = "docs")]
        docs: PathBuf,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::All {
            quick,
            from_saved,
            keep,
        } => all(quick, from_saved, keep),
        Command::Check { docs } => report_problems(&check::check_output(&docs)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// This crate is `tools/results` in the workspace.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from)
}

fn all(quick: bool, from_saved: bool, keep: bool) -> Result<ExitCode, Error> {
    let workspace =
        fs::canonicalize(workspace()).map_err(|source| Error::io(&workspace(), source))?;
    let target = target_dir(&workspace);
    let scratch = tempfile::Builder::new()
        .prefix("results-quick")
        .tempdir()
        .map_err(|source| Error::io(&std::env::temp_dir(), source))?;
    let (data, docs) = if quick {
        (scratch.path().join("data"), scratch.path().join("docs"))
    } else {
        (target.clone(), workspace.join("docs"))
    };
    let layout = Layout {
        workspace: workspace.clone(),
        target,
        data,
    };
    let length = if quick { Length::Quick } else { Length::Full };
    let mut failures = Vec::new();
    if !from_saved {
        let outcome = runner::run_all(&layout, length)?;
        save_skip(&layout, "go", outcome.go_skipped.as_deref())?;
        save_skip(&layout, "load", outcome.load_skipped.as_deref())?;
        failures = outcome.failures;
    }

    let command = format!(
        "cargo run -p results --release -- all{}{}",
        if quick { " --quick" } else { "" },
        if from_saved { " --from-saved" } else { "" }
    );
    let provenance = provenance::Provenance::of_this_machine(&workspace, command);
    let inputs = gather(&layout, &workspace, quick)?;
    let report = report::build(&inputs, &provenance, &runner::bench_commands(length));
    write(&docs, &report)?;
    eprintln!(
        "wrote {} and {} figures",
        docs.join("results.md").display(),
        report.figures.len()
    );

    let mut problems = failures;
    problems.extend(check::check_output(&docs));
    let code = report_problems(&problems)?;
    if keep {
        let kept = scratch.keep();
        eprintln!("kept {}", kept.display());
    }
    Ok(code)
}

fn report_problems(problems: &[String]) -> Result<ExitCode, Error> {
    if problems.is_empty() {
        eprintln!(
            "report complete: every section has its table, every figure is a well-formed SVG"
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("report incomplete:");
    for problem in problems {
        eprintln!("  - {problem}");
    }
    Ok(ExitCode::FAILURE)
}

/// Remembers why a part was skipped, so `--from-saved` says the same.
fn save_skip(layout: &Layout, part: &str, reason: Option<&str>) -> Result<(), Error> {
    let path = layout.raw().join(format!("{part}.skipped"));
    match reason {
        Some(reason) => fs::write(&path, reason).map_err(|source| Error::io(&path, source)),
        None => match fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(&path, error))
            }
            _ => Ok(()),
        },
    }
}

fn saved_skip(layout: &Layout, part: &str) -> Option<String> {
    fs::read_to_string(layout.raw().join(format!("{part}.skipped"))).ok()
}

/// Reads every saved result into the report's inputs.
fn gather(layout: &Layout, workspace: &Path, quick: bool) -> Result<Inputs, Error> {
    let mut managers =
        managers_results::from_criterion(&criterion::read_all(&layout.criterion(), "managers/")?);
    let go_missing = match (saved_skip(layout, "go"), layout.saved_go_output()) {
        (Some(reason), _) => Some(reason),
        (None, Some(path)) => {
            let benchmarks = go_results::parse(&read_text(&path)?);
            if benchmarks.is_empty() {
                return Err(Error::parse(&path, "no benchmark lines"));
            }
            managers.extend(managers_results::from_go(&benchmarks));
            None
        }
        (None, None) => Some(format!(
            "no saved Go output at {}.",
            layout.go_output().display()
        )),
    };
    let load = match saved_skip(layout, "load") {
        Some(reason) => Err(format!("{SKIPPED} {reason}")),
        None if layout.load_output().is_file() => {
            let text = read_text(&layout.load_output())?;
            Ok(load_results::parse(&text)
                .map_err(|reason| Error::parse(&layout.load_output(), reason))?)
        }
        None => Err(format!(
            "{NO_RESULTS} no saved load output at {}.",
            layout.load_output().display()
        )),
    };
    Ok(Inputs {
        managers,
        go_missing,
        reload: criterion::read_all(&layout.criterion(), "reload/")?,
        watchers: watcher_results::read_all(&layout.watchers())?,
        load,
        reliability: fs::read_to_string(workspace.join("docs/reliability.md")).ok(),
        quick,
    })
}

fn write(docs: &Path, report: &report::Report) -> Result<(), Error> {
    let img = docs.join("img");
    fs::create_dir_all(&img).map_err(|source| Error::io(&img, source))?;
    for (name, svg) in &report.figures {
        let path = img.join(name);
        fs::write(&path, svg).map_err(|source| Error::io(&path, source))?;
    }
    let path = docs.join("results.md");
    fs::write(&path, &report.markdown).map_err(|source| Error::io(&path, source))
}
