//! Where and when results were measured, printed under every figure so a
//! number is never read without its machine.

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    pub cores: usize,
    pub cpu_model: String,
    /// RFC 3339, UTC, to the second.
    pub date: String,
    /// Short hash, with `+ changes` when the work tree differs from it.
    pub commit: String,
    /// The command that produced the report.
    pub command: String,
}

impl Provenance {
    pub fn of_this_machine(workspace: &Path, command: String) -> Self {
        Self {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model: std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|cpuinfo| cpu_model(&cpuinfo))
                .unwrap_or_else(|| "unknown CPU".into()),
            date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            commit: commit(workspace),
            command,
        }
    }

    /// One line for under a figure: where, when, and the commands that
    /// measured it.
    pub fn caption(&self, bench_commands: &[&str]) -> String {
        let commands: Vec<String> = bench_commands
            .iter()
            .map(|command| format!("`{command}`"))
            .collect();
        format!(
            "{} cores, {} · {} · commit {} · `{}` (runs {})",
            self.cores,
            self.cpu_model,
            self.date,
            self.commit,
            self.command,
            commands.join(" and ")
        )
    }
}

/// The first `model name` of a `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

fn commit(workspace: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(workspace)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let Some(hash) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if !changes.is_empty() => format!("{hash} + uncommitted changes"),
        _ => hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_is_the_first_model_name() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) Processor")
        );
        assert_eq!(cpu_model("processor: 0\n"), None);
    }

    #[test]
    fn caption_names_machine_date_commit_and_commands() {
        let provenance = Provenance {
            cores: 2,
            cpu_model: "Xeon".into(),
            date: "2026-11-26T16:30:00Z".into(),
            commit: "abc123".into(),
            command: "cargo run -p results --release -- all".into(),
        };
        let caption = provenance.caption(&["cargo bench --bench managers", "go test"]);
        for part in [
            "2 cores",
            "Xeon",
            "2026-11-26T16:30:00Z",
            "abc123",
            "-- all",
            "--bench managers",
        ] {
            assert!(caption.contains(part), "{part} missing from {caption}");
        }
    }
}
