//! One command that regenerates the research results: it runs every
//! benchmark — the managers and watchers criterion benches, the Kubernetes
//! API source against the emulated API server, the Go managers, the service
//! under load, the peer harness — each writing records
//! (`benches/records`), and renders docs/results.md and the SVG plots under
//! docs/img/ from those records alone.
//!
//! ```text
//! cargo run -p results --release -- all                # run everything (~70 min on 2 cores), records to docs/records/, write docs/
//! cargo run -p results --release -- all --from-saved   # only re-render docs/ from docs/records/
//! cargo run -p results --release -- all --quick        # short runs into a temporary directory, checked (CI)
//! cargo run -p results --release -- check docs         # is docs/results.md complete?
//! ```
//!
//! `--quick` is for CI: every bench runs for a fraction of a second, the
//! records, report and plots go to a temporary directory, and the run fails
//! unless every part ran (or was skipped for a tool or package that is not
//! there), every section has its table and every figure is a well-formed SVG.

mod check;
mod data;
mod format;
mod kube;
mod peers;
mod plot;
mod report;
mod run;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
        /// Run nothing: re-render from the records in docs/records/.
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
        Command::Check { docs } => Ok(report_problems(&check::check_output(&docs))),
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        ExitCode::FAILURE
    })
}

fn all(quick: bool, from_saved: bool, keep: bool) -> Result<ExitCode, String> {
    // This crate is `tools/results` in the workspace.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace =
        fs::canonicalize(&manifest).map_err(|error| format!("{}: {error}", manifest.display()))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    let scratch = tempfile::Builder::new()
        .prefix("results-quick")
        .disable_cleanup(keep)
        .tempdir()
        .map_err(|error| format!("temporary directory: {error}"))?;
    let (records, docs) = if quick {
        (scratch.path().join("records"), scratch.path().join("docs"))
    } else {
        (workspace.join("docs/records"), workspace.join("docs"))
    };
    let mut problems = Vec::new();
    if !from_saved {
        let layout = run::Layout {
            criterion: if quick {
                scratch.path().join("criterion")
            } else {
                target.join("criterion")
            },
            workspace,
            target,
            records: records.clone(),
        };
        let command = format!(
            "cargo run -p results --release -- all{}",
            if quick { " --quick" } else { "" }
        );
        problems = run::run_all(&layout, quick, &command)?;
    }

    let data = data::Data::read_dir(&records)
        .map_err(|error| format!("{}: {error}", records.display()))?;
    let report =
        report::render(&data).map_err(|error| format!("rendering the template: {error:#}"))?;
    let img = docs.join("img");
    fs::create_dir_all(&img).map_err(|error| format!("{}: {error}", img.display()))?;
    for (name, svg) in &report.figures {
        fs::write(img.join(name), svg).map_err(|error| format!("{name}: {error}"))?;
    }
    // A figure not drawn this time (a section without records) must not
    // survive from an earlier run.
    let drawn: Vec<&str> = report
        .figures
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    for name in report::SECTIONS.iter().flat_map(|(_, figures)| *figures) {
        if !drawn.contains(name) {
            let _ = fs::remove_file(img.join(name));
        }
    }
    fs::write(docs.join("results.md"), &report.markdown)
        .map_err(|error| format!("results.md: {error}"))?;
    eprintln!(
        "wrote {} and {} figures",
        docs.join("results.md").display(),
        report.figures.len()
    );

    problems.extend(check::check_output(&docs));
    if keep {
        eprintln!("kept {}", scratch.path().display());
    }
    Ok(report_problems(&problems))
}

fn report_problems(problems: &[String]) -> ExitCode {
    if problems.is_empty() {
        eprintln!(
            "report complete: every part ran or said why not, every section has its table, every figure is a well-formed SVG"
        );
        return ExitCode::SUCCESS;
    }
    eprintln!("report incomplete:");
    for problem in problems {
        eprintln!("  - {problem}");
    }
    ExitCode::FAILURE
}
