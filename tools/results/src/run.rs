//! Runs every benchmark, each appending its records to `<records>/<part>.jsonl`,
//! and records how each part was run (or why it was skipped) and on what
//! machine in `<records>/results.jsonl`, so a re-render from saved records
//! says the same. A part that fails or outlives its time limit is reported
//! and the next one runs; only a failed build of the benches stops everything.

use std::collections::HashMap;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use records::Record;

/// Where the workspace is, where cargo builds, and where records go.
pub struct Layout {
    pub workspace: PathBuf,
    pub target: PathBuf,
    pub records: PathBuf,
    /// Criterion's own files (`CRITERION_HOME`).
    pub criterion: PathBuf,
}

impl Layout {
    fn part(&self, part: &str) -> PathBuf {
        self.records.join(format!("{part}.jsonl"))
    }
}

/// Criterion's knobs for a quick run, each one argument (`--name=value`):
/// the watchers bench takes its first argument not starting with `-` as an
/// id filter, so a lone value would filter out everything.
const QUICK_CRITERION: &[&str] = &[
    "--warm-up-time=0.1",
    "--measurement-time=0.2",
    "--nresamples=1000",
    "--noplot",
];

/// A quick watchers run: few updates, one second idle.
const QUICK_WATCHERS: &[(&str, &str)] = &[
    ("WATCHERS_BENCH_UPDATES", "10"),
    ("WATCHERS_BENCH_IDLE_SECS", "1"),
];

/// The API source's bench (watchers/benches/kube.rs) against the emulated
/// API server; its feature is off in a plain `cargo bench`.
const KUBE_BENCH: &[&str] = &[
    "-p",
    "config-reload",
    "--features",
    "testing,kube",
    "--bench",
    "kube",
    "--",
];

/// Runs every part; returns what failed.
pub fn run_all(layout: &Layout, quick: bool, command: &str) -> Result<Vec<String>, String> {
    fs::create_dir_all(&layout.records)
        .map_err(|error| format!("{}: {error}", layout.records.display()))?;
    let mut results = machine(&layout.workspace, command, quick);
    let executables = build_benches(layout)?;
    let mut failures = Vec::new();
    let quick_flag: &[&str] = if quick { &["--quick"] } else { &[] };
    for part in crate::report::PARTS {
        let out = layout.part(part);
        if let Err(error) = fs::remove_file(&out)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            return Err(format!("{}: {error}", out.display()));
        }
        let prepared = match part {
            "managers" | "watchers" => bench(layout, &executables, part, quick),
            "go" => go(layout, &out, quick),
            "load" if !on_path("wrk") => Err(
                "`wrk` is not installed (`apt-get install wrk`), so the service was not load-tested.".into(),
            ),
            // Quick: debug builds, as the test suite left them.
            "load" if quick => Ok(cargo_run(layout, &["run", "-p", "benches", "--bin", "load", "--"], &out, quick_flag)),
            "load" => Ok(cargo_run(layout, &["run", "--release", "-p", "benches", "--bin", "load", "--"], &out, quick_flag)),
            // Quick: the dev profile, whose dependencies the tests built.
            "kube" => {
                let profile: &[&str] = if quick { &["--profile", "dev"] } else { &[] };
                Ok(cargo_run(layout, &[&["bench"], profile, KUBE_BENCH].concat(), &out, quick_flag))
            }
            "peers" if !has_package(layout, "peers") => Err(
                "package `peers` (the peer harness, benches/peers) is not in this workspace, so no peer was run.".into(),
            ),
            _ => Ok(cargo_run(layout, &["run", "--release", "-p", "peers", "--bin", "peer-harness", "--"], &out, quick_flag)),
        };
        let record = |metric: &str, text: String| {
            Record::new("results", part, "-", metric, 0.0, "", 1).with_text(text)
        };
        match prepared {
            Err(reason) => {
                eprintln!("==> {part}: skipped: {reason}");
                results.push(record("skipped", reason));
            }
            Ok((mut process, shown)) => {
                results.push(record("command", shown));
                let limit = Duration::from_secs(if quick { 10 * 60 } else { 60 * 60 });
                if let Err(error) = run(part, &mut process, limit) {
                    failures.push(error);
                }
            }
        }
    }
    let path = layout.part("results");
    let _ = fs::remove_file(&path);
    records::append(&path, &results).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(failures)
}

/// `results/-/machine`: where, when, from which commit, by which command.
fn machine(workspace: &Path, command: &str, quick: bool) -> Vec<Record> {
    let cpu = fs::read_to_string("/proc/cpuinfo").ok().and_then(|info| {
        let line = info.lines().find(|line| line.starts_with("model name"))?;
        Some(line.split_once(':')?.1.trim().to_owned())
    });
    let load = fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .ok();
    let cores = thread::available_parallelism().map_or(1, usize::from);
    let facts = [
        ("cores", Some(cores.to_string())),
        ("cpu", cpu.or(Some("unknown CPU".into()))),
        (
            "date",
            Some(humantime::format_rfc3339_seconds(SystemTime::now()).to_string()),
        ),
        ("commit", Some(commit(workspace))),
        ("command", Some(command.to_owned())),
        ("load", load),
        ("quick", quick.then(|| "yes".to_owned())),
    ];
    facts
        .into_iter()
        .filter_map(|(metric, text)| {
            Some(Record::new("results", "-", "machine", metric, 0.0, "", 1).with_text(text?))
        })
        .collect()
}

/// The short hash, with `+ uncommitted changes` when the tree differs from it.
fn commit(workspace: &Path) -> String {
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args(args)
            .current_dir(workspace)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    match (
        git(&["rev-parse", "--short=12", "HEAD"]),
        git(&["status", "--porcelain", "--untracked-files=no"]),
    ) {
        (None, _) => "unknown (not a git checkout)".into(),
        (Some(hash), Some(changes)) if !changes.is_empty() => {
            format!("{hash} + uncommitted changes")
        }
        (Some(hash), _) => hash,
    }
}

/// A criterion bench executable, writing its records to its part's file.
fn bench(
    layout: &Layout,
    executables: &HashMap<String, PathBuf>,
    part: &str,
    quick: bool,
) -> Result<(Command, String), String> {
    let executable = executables
        .get(part)
        .ok_or(format!("cargo built no `{part}` bench"))?;
    let mut command = Command::new(executable);
    command
        .arg("--bench")
        .current_dir(layout.workspace.join("benches"))
        .env("CRITERION_HOME", &layout.criterion)
        .env("BENCH_RECORDS", layout.part(part));
    let mut shown = format!("cargo bench --bench {part}");
    if quick {
        command.args(QUICK_CRITERION);
        if part == "watchers" {
            command.envs(QUICK_WATCHERS.iter().copied());
            let env: Vec<String> = QUICK_WATCHERS
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            shown = format!("{} {shown}", env.join(" "));
        }
        shown = format!("{shown} -- {}", QUICK_CRITERION.join(" "));
    }
    Ok((command, shown))
}

fn go(layout: &Layout, out: &Path, quick: bool) -> Result<(Command, String), String> {
    let dir = layout.workspace.join("benches/go");
    if !on_path("go") {
        return Err("`go` is not installed, so Go's managers are not on these axes.".into());
    }
    let (benchtime, repeats) = if quick { ("20ms", "1") } else { ("1s", "3") };
    let mut command = Command::new("go");
    command
        .args([
            "test",
            "-run",
            "^TestRecords$",
            "-timeout",
            "60m",
            "-records",
        ])
        .arg(out)
        .args(["-repeats", repeats, "-benchtime", benchtime])
        .current_dir(dir);
    let shown = format!(
        "cd benches/go && go test -run '^TestRecords$' -records <file> -repeats {repeats} -benchtime {benchtime}"
    );
    Ok((command, shown))
}

/// `cargo run <args> --out <out> [extra]`.
fn cargo_run(layout: &Layout, args: &[&str], out: &Path, extra: &[&str]) -> (Command, String) {
    let mut command = Command::new(cargo());
    command
        .args(args)
        .arg("--out")
        .arg(out)
        .args(extra)
        .current_dir(&layout.workspace)
        .env("CARGO_TARGET_DIR", &layout.target);
    let shown = format!("cargo {} --out <file> {}", args.join(" "), extra.join(" "));
    (command, shown.trim_end().to_owned())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Is `package` a member of the workspace?
fn has_package(layout: &Layout, package: &str) -> bool {
    let output = Command::new(cargo())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(&layout.workspace)
        .stderr(Stdio::inherit())
        .output();
    output.is_ok_and(|output| {
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_default();
        metadata["packages"]
            .as_array()
            .is_some_and(|packages| packages.iter().any(|p| p["name"] == package))
    })
}

/// `cargo bench --workspace --no-run` and the executable of each bench target.
fn build_benches(layout: &Layout) -> Result<HashMap<String, PathBuf>, String> {
    let mut command = Command::new(cargo());
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
    Ok(bench_executables(&run(
        "build the benches",
        &mut command,
        Duration::from_secs(3600),
    )?))
}

/// The bench executables named in cargo's JSON messages.
pub fn bench_executables(messages: &str) -> HashMap<String, PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact"
                && message["target"]["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k == "bench"))
        })
        .filter_map(|message| {
            let name = message["target"]["name"].as_str()?.to_owned();
            Some((name, PathBuf::from(message["executable"].as_str()?)))
        })
        .collect()
}

/// Runs `command` with stderr shown, killing it after `limit`; returns its
/// stdout (a bench's own report is passed through).
fn run(what: &str, command: &mut Command, limit: Duration) -> Result<String, String> {
    eprintln!("==> {what}: {command:?}");
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| format!("{what}: cannot start: {error}"))?;
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
            .map_err(|error| format!("{what}: {error}"))?
        {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{what} did not finish within {} and was killed",
                humantime::format_duration(limit)
            ));
        }
        thread::sleep(Duration::from_millis(200));
    };
    let stdout = String::from_utf8_lossy(&drain.join().unwrap_or_default()).into_owned();
    if !stdout.trim_start().starts_with('{') {
        print!("{stdout}");
    }
    if !status.success() {
        return Err(format!("{what} failed ({status})"));
    }
    eprintln!("    {what}: {:.0?}", started.elapsed());
    Ok(stdout)
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
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"benches"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"kind":["bench"],"name":"managers"},"executable":"/t/release/deps/managers-1a"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
            "\n"
        );
        let executables = bench_executables(messages);
        assert_eq!(executables.len(), 1);
        assert_eq!(
            executables["managers"],
            PathBuf::from("/t/release/deps/managers-1a")
        );
    }

    #[test]
    fn a_failing_part_says_so() {
        let error = run("false", &mut Command::new("false"), Duration::from_secs(60)).unwrap_err();
        assert!(error.contains("false failed"), "{error}");
    }

    #[test]
    fn a_part_that_outlives_its_limit_is_killed() {
        let mut command = Command::new("sleep");
        command.arg("600");
        let error = run("sleeper", &mut command, Duration::from_millis(300)).unwrap_err();
        assert!(error.contains("did not finish within"), "{error}");
    }

    #[test]
    fn a_package_not_in_the_workspace_is_absent() {
        let layout = Layout {
            workspace: Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
            target: PathBuf::new(),
            records: PathBuf::new(),
            criterion: PathBuf::new(),
        };
        assert!(has_package(&layout, "records"));
        assert!(!has_package(&layout, "no-such-package"));
    }
}
