//! Runs the benchmarks, each writing where the report reads: criterion
//! under `<data>/criterion` (`CRITERION_HOME`), the watchers bench under
//! `<data>/watchers-bench` (it derives that from `CARGO_TARGET_DIR` at run
//! time), Go's and the load script's stdout under `<data>/results-raw/`.
//! The bench executables are built once by cargo and run directly, so a
//! quick run can point them at a temporary directory without rebuilding.

use std::collections::HashMap;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

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

    /// Where saved Go results are looked for: this tool's, then
    /// `benches/compare.sh`'s.
    pub fn saved_go_output(&self) -> Option<PathBuf> {
        [self.go_output(), self.data.join("managers-go-bench.txt")]
            .into_iter()
            .find(|path| path.is_file())
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

/// Criterion's command-line knobs for a quick run, each one argument
/// (`--name=value`): the watchers bench takes its first argument not
/// starting with `-` as an id filter, so a lone value would filter out
/// everything.
const QUICK_CRITERION: &[&str] = &[
    "--warm-up-time=0.1",
    "--measurement-time=0.2",
    "--nresamples=1000",
    "--noplot",
];

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
            "cd benches/go && go test -run '^$' -bench . -benchtime {} -count {}",
            go_benchtime(length),
            go_count(length)
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

/// Repeats of each Go benchmark; the report takes their median.
fn go_count(length: Length) -> &'static str {
    match length {
        Length::Full => "3",
        Length::Quick => "1",
    }
}

fn go_benchtime(length: Length) -> &'static str {
    match length {
        Length::Full => "1s",
        Length::Quick => "20ms",
    }
}

/// What running the benches left: parts skipped for a missing tool, and
/// parts that failed (the report is still written from the others).
#[derive(Debug, Default)]
pub struct Outcome {
    pub go_skipped: Option<String>,
    pub load_skipped: Option<String>,
    pub failures: Vec<String>,
}

/// Runs everything. A tool that is not installed (Go, wrk) skips its part;
/// a bench that fails or outlives its time limit is recorded and the next
/// one runs; only a failed build stops everything.
pub fn run_all(layout: &Layout, length: Length) -> Result<Outcome, Error> {
    fs::create_dir_all(layout.raw()).map_err(|source| Error::io(&layout.raw(), source))?;
    let executables = build_benches(layout)?;
    let criterion_args: &[&str] = match length {
        Length::Full => &[],
        Length::Quick => QUICK_CRITERION,
    };
    let mut outcome = Outcome::default();
    for bench in ["managers", "watchers"] {
        let Some(executable) = executables.get(bench) else {
            outcome
                .failures
                .push(format!("cargo built no `{bench}` bench"));
            continue;
        };
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
        if let Err(error) = run(&format!("{bench} bench"), &mut command, None, limit(length)) {
            outcome.failures.push(error.to_string());
        }
    }
    match run_go(layout, length) {
        Ok(skipped) => outcome.go_skipped = skipped,
        Err(error) => outcome.failures.push(error.to_string()),
    }
    match run_load(layout, length) {
        Ok(skipped) => outcome.load_skipped = skipped,
        Err(error) => outcome.failures.push(error.to_string()),
    }
    Ok(outcome)
}

/// How long one part may run before it is taken for hung and killed.
fn limit(length: Length) -> Duration {
    match length {
        Length::Full => Duration::from_secs(45 * 60),
        Length::Quick => Duration::from_secs(6 * 60),
    }
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
        // `--workspace`, as CI builds them: the same feature set, so CI's
        // earlier `cargo bench --workspace --no-run` leaves nothing to build.
        .args([
            "bench",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(&layout.workspace)
        .env("CARGO_TARGET_DIR", &layout.target);
    let output = run(
        "build the benches",
        &mut command,
        None,
        Duration::from_secs(60 * 60),
    )?;
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
            "-benchtime",
            go_benchtime(length),
            "-count",
            go_count(length),
        ])
        .current_dir(&dir);
    run(
        "Go benchmarks",
        &mut command,
        Some(&layout.go_output()),
        limit(length),
    )?;
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
    run(
        "load benchmark",
        &mut command,
        Some(&layout.load_output()),
        limit(length),
    )?;
    Ok(None)
}

/// Runs `command` with stderr shown, killing it after `limit`; its stdout
/// is returned and, with `save`, written there too.
fn run(
    what: &str,
    command: &mut Command,
    save: Option<&Path>,
    limit: Duration,
) -> Result<String, Error> {
    eprintln!("==> {what}: {command:?}");
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| Error::Run(format!("{what}: cannot start: {error}")))?;
    // Drained on its own thread so a chatty child never blocks on a full pipe.
    let mut pipe = child.stdout.take().expect("stdout is piped");
    let drain = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    });
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|error| Error::Run(format!("{what}: {error}")))?
        {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Run(format!(
                "{what} did not finish within {} and was killed",
                humantime::format_duration(limit)
            )));
        }
        thread::sleep(Duration::from_millis(200));
    };
    let stdout = String::from_utf8_lossy(&drain.join().unwrap_or_default()).into_owned();
    if let Some(path) = save {
        fs::write(path, &stdout).map_err(|source| Error::io(path, source))?;
    } else if !stdout.trim_start().starts_with('{') {
        // A bench's own report: show it as it would appear under cargo.
        print!("{stdout}");
    }
    if !status.success() {
        return Err(Error::Run(format!("{what} failed ({status})")));
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
    fn run_returns_stdout_and_saves_it() {
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("out.txt");
        let mut command = Command::new("echo");
        command.arg("| manager |");
        let stdout = run("echo", &mut command, Some(&saved), Duration::from_secs(60)).unwrap();
        assert_eq!(stdout, "| manager |\n");
        assert_eq!(fs::read_to_string(saved).unwrap(), stdout);
    }

    #[test]
    fn a_failing_part_says_so() {
        let error = run(
            "false",
            &mut Command::new("false"),
            None,
            Duration::from_secs(60),
        )
        .unwrap_err();
        assert!(error.to_string().contains("false failed"), "{error}");
    }

    #[test]
    fn a_part_that_outlives_its_limit_is_killed() {
        let mut command = Command::new("sleep");
        command.arg("600");
        let error = run("sleeper", &mut command, None, Duration::from_millis(300)).unwrap_err();
        assert!(
            error.to_string().contains("did not finish within"),
            "{error}"
        );
    }

    #[test]
    fn quick_commands_say_how_short_they_were() {
        let commands = bench_commands(Length::Quick);
        assert!(commands.managers.contains("--measurement-time=0.2"));
        // No argument a bench could take for an id filter.
        assert!(QUICK_CRITERION.iter().all(|arg| arg.starts_with("--")));
        assert!(commands.watchers.starts_with("WATCHERS_BENCH_UPDATES=10"));
        assert!(commands.load.contains("DURATION=1s"));
        assert!(
            !bench_commands(Length::Full)
                .managers
                .contains("measurement-time")
        );
    }
}
