//! Runs the benchmarks, each writing where the report reads: criterion
//! under `<data>/criterion` (`CRITERION_HOME`), the watchers bench under
//! `<data>/watchers-bench` (it derives that from `CARGO_TARGET_DIR` at run
//! time), Go's and the load script's stdout under `<data>/results-raw/`.
//! The bench executables are built once by cargo and run directly, so a
//! quick run can point them at a temporary directory without rebuilding.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Deserialize;

use crate::error::{Error, parse_json};

/// Where the workspace is and where results go.
pub struct Layout {
    pub workspace: PathBuf,
    /// Cargo's target directory (builds).
    pub target: PathBuf,
    /// Where results are written and read: the target directory, or a
    /// temporary one in quick mode.
    pub data: PathBuf,
}

impl Layout {
    pub fn criterion(&self) -> PathBuf {
        self.data.join("criterion")
    }

    pub fn watchers(&self) -> PathBuf {
        self.data.join("watchers-bench")
    }

    pub fn raw(&self) -> PathBuf {
        self.data.join("results-raw")
    }

    pub fn go_output(&self) -> PathBuf {
        self.raw().join("go-bench.txt")
    }

    pub fn load_output(&self) -> PathBuf {
        self.raw().join("load.md")
    }
}

/// How long each bench measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    /// Each bench's own defaults.
    Full,
    /// Fractions of a second: the pipeline is exercised, the numbers mean little.
    Quick,
}

/// Criterion's command-line knobs for a quick run.
const QUICK_CRITERION: &[&str] = &["--warm-up-time", "0.1", "--measurement-time", "0.2"];

pub fn bench_commands(length: Length) -> crate::report::BenchCommands {
    let quick = length == Length::Quick;
    let criterion = if quick {
        format!(" -- {}", QUICK_CRITERION.join(" "))
    } else {
        String::new()
    };
    crate::report::BenchCommands {
        managers: format!("cargo bench --bench managers{criterion}"),
        go: format!(
            "cd benches/go && go test -run '^$' -bench . -cpu 1,2,8 -benchtime {}",
            go_benchtime(length)
        ),
        watchers: format!(
            "{}cargo bench --bench watchers{criterion}",
            if quick {
                "WATCHERS_BENCH_UPDATES=10 WATCHERS_BENCH_IDLE_SECS=1 "
            } else {
                ""
            }
        ),
        load: format!(
            "{}bash benches/load/run.sh",
            if quick {
                "MANAGERS=arcswap PAIRS=1 DURATION=1s LATENCY_UPDATES=20 "
            } else {
                ""
            }
        ),
    }
}

fn go_benchtime(length: Length) -> &'static str {
    match length {
        Length::Full => "1s",
        Length::Quick => "20ms",
    }
}

/// Runs everything; a tool that is not installed (Go, wrk) is skipped and
/// its reason returned, any other failure is an error.
pub fn run_all(layout: &Layout, length: Length) -> Result<Skips, Error> {
    fs::create_dir_all(layout.raw()).map_err(|source| Error::io(&layout.raw(), source))?;
    let executables = build_benches(layout)?;
    let criterion_args: &[&str] = match length {
        Length::Full => &[],
        Length::Quick => QUICK_CRITERION,
    };
    for bench in ["managers", "watchers"] {
        let executable = executables
            .get(bench)
            .ok_or_else(|| Error::Run(format!("cargo built no `{bench}` bench")))?;
        let mut command = Command::new(executable);
        command
            .arg("--bench")
            .args(criterion_args)
            .current_dir(layout.workspace.join("benches"))
            .env("CRITERION_HOME", layout.criterion())
            .env("CARGO_TARGET_DIR", &layout.data);
        if length == Length::Quick && bench == "watchers" {
            command
                .env("WATCHERS_BENCH_UPDATES", "10")
                .env("WATCHERS_BENCH_IDLE_SECS", "1");
        }
        run(&format!("{bench} bench"), &mut command, None)?;
    }
    Ok(Skips {
        go: run_go(layout, length)?,
        load: run_load(layout, length)?,
    })
}

/// Why an optional part did not run.
#[derive(Debug, Default)]
pub struct Skips {
    pub go: Option<String>,
    pub load: Option<String>,
}

#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    target: Option<CargoTarget>,
    executable: Option<String>,
}

#[derive(Deserialize)]
struct CargoTarget {
    name: String,
    kind: Vec<String>,
}

/// `cargo bench --no-run` and the executable of each bench target.
fn build_benches(layout: &Layout) -> Result<HashMap<String, PathBuf>, Error> {
    let mut command = Command::new(env_or("CARGO", "cargo"));
    command
        .args([
            "bench",
            "-p",
            "benches",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(&layout.workspace)
        .env("CARGO_TARGET_DIR", &layout.target);
    let output = run("build the benches", &mut command, None)?;
    bench_executables(&output)
}

/// The bench executables named in cargo's JSON messages.
pub fn bench_executables(messages: &str) -> Result<HashMap<String, PathBuf>, Error> {
    let mut found = HashMap::new();
    for line in messages
        .lines()
        .filter(|line| line.contains("\"executable\":\""))
    {
        let message: CargoMessage =
            parse_json(line).map_err(|reason| Error::Run(format!("cargo's output: {reason}")))?;
        if let (Some(target), Some(executable)) = (message.target, message.executable)
            && message.reason == "compiler-artifact"
            && target.kind.iter().any(|kind| kind == "bench")
        {
            found.insert(target.name, PathBuf::from(executable));
        }
    }
    Ok(found)
}

fn run_go(layout: &Layout, length: Length) -> Result<Option<String>, Error> {
    let dir = layout.workspace.join("benches/go");
    if !dir.join("go.mod").is_file() {
        return Ok(Some("benches/go has no Go module in this checkout.".into()));
    }
    if !on_path("go") {
        return Ok(Some(
            "`go` is not installed, so Go's managers are not on these axes.".into(),
        ));
    }
    let mut command = Command::new("go");
    command
        .args([
            "test",
            "-run",
            "^$",
            "-bench",
            ".",
            "-cpu",
            "1,2,8",
            "-benchtime",
            go_benchtime(length),
        ])
        .current_dir(&dir);
    run("Go benchmarks", &mut command, Some(&layout.go_output()))?;
    Ok(None)
}

fn run_load(layout: &Layout, length: Length) -> Result<Option<String>, Error> {
    let script = layout.workspace.join("benches/load/run.sh");
    if !script.is_file() {
        return Ok(Some("benches/load/run.sh is not in this checkout.".into()));
    }
    if !on_path("wrk") {
        return Ok(Some(
            "`wrk` is not installed (`apt-get install wrk`), so the service was not load-tested."
                .into(),
        ));
    }
    let mut command = Command::new("bash");
    command
        .arg(&script)
        .current_dir(&layout.workspace)
        .env("CARGO_TARGET_DIR", &layout.target);
    if length == Length::Quick {
        command
            .env("MANAGERS", "arcswap")
            .env("PAIRS", "1")
            .env("DURATION", "1s")
            .env("LATENCY_UPDATES", "20");
    }
    run("load benchmark", &mut command, Some(&layout.load_output()))?;
    Ok(None)
}

/// Runs `command` with stderr shown; its stdout is returned and, with
/// `save`, written there too.
fn run(what: &str, command: &mut Command, save: Option<&Path>) -> Result<String, Error> {
    eprintln!("==> {what}: {command:?}");
    let started = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| Error::Run(format!("{what}: cannot start: {error}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if let Some(path) = save {
        fs::write(path, &stdout).map_err(|source| Error::io(path, source))?;
    } else if !stdout.trim_start().starts_with('{') {
        // A bench's own report: show it as it would appear under cargo.
        print!("{stdout}");
    }
    if !output.status.success() {
        return Err(Error::Run(format!("{what} failed ({})", output.status)));
    }
    eprintln!("    {what}: {:.0?}", started.elapsed());
    Ok(stdout)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_executables_come_from_bench_artifacts_only() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/benches#0.1.0","target":{"kind":["lib"],"crate_types":["lib"],"name":"benches","src_path":"/w/benches/src/lib.rs"},"filenames":["/t/libbenches.rlib"],"executable":null,"fresh":true}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/benches#0.1.0","target":{"kind":["bench"],"crate_types":["bin"],"name":"managers","src_path":"/w/benches/benches/managers.rs"},"filenames":["/t/release/deps/managers-1a"],"executable":"/t/release/deps/managers-1a","fresh":true}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
            "\n"
        );
        let executables = bench_executables(messages).unwrap();
        assert_eq!(executables.len(), 1);
        assert_eq!(
            executables["managers"],
            PathBuf::from("/t/release/deps/managers-1a")
        );
    }

    #[test]
    fn quick_commands_say_how_short_they_were() {
        let commands = bench_commands(Length::Quick);
        assert!(commands.managers.contains("--measurement-time 0.2"));
        assert!(commands.watchers.starts_with("WATCHERS_BENCH_UPDATES=10"));
        assert!(commands.load.contains("DURATION=1s"));
        assert!(
            !bench_commands(Length::Full)
                .managers
                .contains("measurement-time")
        );
    }
}
