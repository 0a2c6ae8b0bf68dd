//! The load benchmark of the service (not a test): `GET /` under wrk against
//! every manager (inotify watcher) and against a minimal axum floor
//! (`service/examples/floor.rs`: an `ArcSwap` read, no logging, no metrics),
//! alternating floor/service in the same run, quiet and while a
//! kubelet-style writer (`service/examples/load_writer.rs`) swaps `..data`
//! `--rate` times a second; then the reload latency over HTTP of the first
//! manager, from the kubelet's `..data` rename and, watching the ConfigMap
//! through the Kubernetes API instead (an emulated API server:
//! `apiserver-emu`), from the API server's commit. Every server binds `127.0.0.1:0` and the benchmark reads the
//! address it logs, so no port is fixed. Results are appended as records
//! (`load/...`, named in the `records` crate's docs) to `--out`.
//!
//! ```text
//! cargo run --release -p benches --bin load                     # every manager, 3 pairs of 10 s runs (~15 min)
//! cargo run -p benches --bin load -- --quick                    # arcswap, 1 pair of 1 s runs, debug builds
//! cargo run --release -p benches --bin load -- --managers arcswap,mutex --pairs 5
//! ```

use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use benches::load::{Pair, WRK_SCRIPT, WrkRun, pair_records};
use clap::Parser;
use config_reload_managers::design;
use records::Record;

#[derive(Parser)]
struct Args {
    /// The JSON-lines file to append the records to.
    #[arg(long, default_value = "target/records/load.jsonl")]
    out: PathBuf,
    /// One manager, one pair of 1 s runs, 20 latency updates, debug builds
    /// (those `cargo test --workspace --all-features` left): checks the
    /// pipeline, not the speed.
    #[arg(long)]
    quick: bool,
    /// The managers to run (default: every design,
    /// `config_reload_managers::design::NAMES`).
    #[arg(long, value_delimiter = ',')]
    managers: Vec<String>,
    /// Alternating floor/service pairs per manager.
    #[arg(long, default_value_t = 3)]
    pairs: usize,
    /// Seconds of each wrk run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 64)]
    connections: u32,
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Kubelet-style updates per second while reloading.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    #[arg(long, default_value_t = 200)]
    latency_updates: u32,
}

/// The binaries the benchmark runs, built once in release mode.
struct Binaries {
    service: PathBuf,
    floor: PathBuf,
    load_writer: PathBuf,
}

fn main() {
    let mut args = Args::parse();
    if args.managers.is_empty() {
        args.managers = design::NAMES.iter().map(|&name| name.to_owned()).collect();
    }
    if args.quick {
        args.managers.truncate(1);
        (args.pairs, args.seconds, args.latency_updates) = (1, 1, 20);
    }
    if let Err(error) = run(&args) {
        eprintln!("load benchmark: {error}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let binaries = build(if args.quick { "dev" } else { "release" })?;
    let work = tempfile::tempdir().map_err(|error| format!("temporary directory: {error}"))?;
    let mount = work.path().join("mount");
    let script = work.path().join("summary.lua");
    std::fs::write(&script, WRK_SCRIPT)
        .map_err(|error| format!("{}: {error}", script.display()))?;
    checked(Command::new(&binaries.load_writer).arg("init").arg(&mount))?;
    let wrk = Wrk { script, args };
    let provenance = format!(
        "wrk -t{} -c{} -d{}s, {} alternating pairs, {} updates/s while reloading, watcher inotify, {} cores",
        args.threads,
        args.connections,
        args.seconds,
        args.pairs,
        args.rate,
        thread::available_parallelism().map_or(1, usize::from)
    );
    let mut records = Vec::new();

    let floor = Server::start(Command::new(&binaries.floor).arg("127.0.0.1:0"), "floor")?;
    for manager in &args.managers {
        let service = Server::service(&binaries.service, &mount, manager)?;
        let mut pairs = Vec::new();
        let mut applied = Record::new(
            "load",
            "reloading",
            manager,
            "reloads_applied",
            0.0,
            "count",
            0,
        );
        for round in 1..=args.pairs {
            let quiet = (wrk.run(floor.addr)?, wrk.run(service.addr)?);
            // The writer runs through the floor's run and the service's.
            let writer = Command::new(&binaries.load_writer)
                .arg("write")
                .arg(&mount)
                .args(["--rate", &args.rate.to_string()])
                .args(["--seconds", &(2 * args.seconds + 2).to_string()])
                .args(["--addr", &service.admin.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|error| format!("load_writer: {error}"))?;
            thread::sleep(Duration::from_millis(500));
            let writing = (wrk.run(floor.addr)?, wrk.run(service.addr)?);
            for record in finish(writer, "load_writer write")? {
                applied.value += record.value;
                applied.n += record.n;
            }
            let pair = Pair {
                floor: quiet.0,
                service: quiet.1,
                floor_writing: writing.0,
                service_writing: writing.1,
            };
            eprintln!(
                "  {manager} pair {round}/{}: floor {:.0}, service {:.0} req/s; while writing: floor {:.0}, service {:.0}",
                args.pairs,
                quiet.0.requests_per_s(),
                quiet.1.requests_per_s(),
                writing.0.requests_per_s(),
                writing.1.requests_per_s()
            );
            pairs.push(pair);
        }
        records.extend(pair_records(manager, &pairs));
        records.push(applied);
        records.push(peak_rss(&service, manager)?);
    }
    records.push(peak_rss(&floor, "floor")?);
    drop(floor);

    let manager = &args.managers[0];
    let service = Server::service(&binaries.service, &mount, manager)?;
    let latency = finish(
        Command::new(&binaries.load_writer)
            .arg("latency")
            .arg(&mount)
            .args(["--addr", &service.addr.to_string()])
            .args(["--updates", &args.latency_updates.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("load_writer: {error}"))?,
        "load_writer latency",
    )?;
    drop(service);
    let api_latency = api_latency(&binaries, manager, work.path(), args.latency_updates)?;
    records.extend(latency.into_iter().chain(api_latency).map(|record| Record {
        subject: manager.clone(),
        ..record
    }));

    let records: Vec<Record> = records
        .into_iter()
        .map(|record| record.with_provenance("setup", &provenance))
        .collect();
    records::append(&args.out, &records)
        .map_err(|error| format!("{}: {error}", args.out.display()))?;
    eprintln!(
        "{} records appended to {}",
        records.len(),
        args.out.display()
    );
    Ok(())
}

/// Builds the service (every manager and watcher, chosen with `--manager`
/// and `--watcher`: the build the test suite makes too) and the two
/// examples with cargo `profile`, in the invoking target directory.
fn build(profile: &str) -> Result<Binaries, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the service, the floor and the writer ({profile}) ...");
    let output = Command::new(cargo)
        .args([
            "build",
            "--profile",
            profile,
            "-p",
            "service",
            "--all-features",
            "--bin",
            "service",
        ])
        .args(["--example", "floor", "--example", "load_writer"])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!("cargo build failed ({})", output.status));
    }
    let mut found = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(name), Some(executable)) = (
            message
                .pointer("/target/name")
                .and_then(|name| name.as_str()),
            message.get("executable").and_then(|path| path.as_str()),
        ) {
            found.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    let mut take = |name: &str| {
        found
            .remove(name)
            .ok_or_else(|| format!("cargo built no `{name}`"))
    };
    Ok(Binaries {
        service: take("service")?,
        floor: take("floor")?,
        load_writer: take("load_writer")?,
    })
}

/// The reload latency through the Kubernetes API: `load_writer
/// api-latency` hosts the emulated API server and updates the ConfigMap;
/// the service watches it through the API alone (no file at `--config`).
fn api_latency(
    binaries: &Binaries,
    manager: &str,
    work: &Path,
    updates: u32,
) -> Result<Vec<Record>, String> {
    const WHAT: &str = "load_writer api-latency";
    let kubeconfig = work.join("kubeconfig");
    let mut writer = Command::new(&binaries.load_writer)
        .arg("api-latency")
        .arg(&kubeconfig)
        .args(["--updates", &updates.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("{WHAT}: {error}"))?;
    let mut stdout = BufReader::new(writer.stdout.take().expect("stdout is piped"));
    let mut ready = String::new();
    stdout
        .read_line(&mut ready)
        .map_err(|error| format!("{WHAT}: {error}"))?;
    if ready.trim() != "ready" {
        return Err(format!("{WHAT} did not start its API server: {ready:?}"));
    }
    let service = Server::start(
        Command::new(&binaries.service)
            .arg("--config")
            .arg(work.join("no-volume/config.yaml"))
            .args([
                "--bind",
                "127.0.0.1:0",
                "--admin-bind",
                "127.0.0.1:0",
                "--watcher",
                "kube",
                "--manager",
                manager,
            ])
            // The ConfigMap and namespace load_writer serves.
            .args(["--configmap", "config-reload", "--namespace", "load"])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "warn,service=info,service::metrics=warn"),
        &format!("service ({manager}, kube)"),
    )?;
    writeln!(
        writer.stdin.take().expect("stdin is piped"),
        "{}",
        service.addr
    )
    .map_err(|error| format!("{WHAT}: {error}"))?;
    finish_reading(writer, stdout, WHAT)
}

/// wrk with the summary script, as configured.
struct Wrk<'a> {
    script: PathBuf,
    args: &'a Args,
}

impl Wrk<'_> {
    fn run(&self, addr: SocketAddr) -> Result<WrkRun, String> {
        let output = Command::new("wrk")
            .arg(format!("-t{}", self.args.threads))
            .arg(format!("-c{}", self.args.connections))
            .arg(format!("-d{}s", self.args.seconds))
            .arg("-s")
            .arg(&self.script)
            .arg(format!("http://{addr}/"))
            .stderr(Stdio::inherit())
            .output()
            .map_err(|error| format!("wrk: {error}"))?;
        if !output.status.success() {
            return Err(format!("wrk failed ({})", output.status));
        }
        WrkRun::parse(&String::from_utf8_lossy(&output.stdout))
    }
}

/// A server process on a port it picked, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// The service's admin port (`/metrics`); the floor has one port.
    admin: SocketAddr,
}

impl Server {
    /// Starts `command` and waits for the address in its `listening` line.
    fn start(command: &mut Command, what: &str) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("{what}: {error}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        // Drains stdout for the process's life, so it never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let addrs = listening_addrs(&line);
                if let Some(&addr) = addrs.first() {
                    let _ = sender.send((addr, *addrs.last().unwrap_or(&addr)));
                }
            }
        });
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut server = Self {
            child,
            addr: unbound,
            admin: unbound,
        };
        (server.addr, server.admin) = receiver
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| format!("{what} logged no listening address within 60 s"))?;
        Ok(server)
    }

    fn service(binary: &Path, mount: &Path, manager: &str) -> Result<Self, String> {
        Self::start(
            Command::new(binary)
                .arg("--config")
                .arg(mount.join("config.yaml"))
                .args([
                    "--bind",
                    "127.0.0.1:0",
                    "--admin-bind",
                    "127.0.0.1:0",
                    "--watcher",
                    "inotify",
                    "--manager",
                    manager,
                ])
                // The listening line, not a line per reload.
                .env("RUST_LOG", "warn,service=info,service::metrics=warn"),
            &format!("service ({manager})"),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `listening addr=127.0.0.1:1234 admin_addr=127.0.0.1:1235` (the
/// service) or `listening on 127.0.0.1:1234` (the floor): every address.
fn listening_addrs(line: &str) -> Vec<SocketAddr> {
    line.split_once("listening")
        .map_or_else(Vec::new, |(_, rest)| {
            rest.split(|c: char| c.is_whitespace() || c == '=' || c == '"')
                .filter_map(|word| word.parse().ok())
                .collect()
        })
}

/// `load/-/<subject>`: the process's peak resident set (`VmHWM`).
fn peak_rss(server: &Server, subject: &str) -> Result<Record, String> {
    let path = format!("/proc/{}/status", server.child.id());
    let status = std::fs::read_to_string(&path).map_err(|error| format!("{path}: {error}"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{path} has no VmHWM"))?;
    Ok(Record::new(
        "load",
        "-",
        subject,
        "peak_rss",
        kib * 1024.0,
        "bytes",
        1,
    ))
}

/// Waits for `child` and parses the records it printed.
fn finish(mut child: Child, what: &str) -> Result<Vec<Record>, String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    finish_reading(child, stdout, what)
}

/// [`finish`], the child's stdout read from `stdout` (its unread rest).
fn finish_reading(
    mut child: Child,
    mut stdout: impl Read,
    what: &str,
) -> Result<Vec<Record>, String> {
    let mut text = String::new();
    stdout
        .read_to_string(&mut text)
        .map_err(|error| format!("{what}: {error}"))?;
    let status = child.wait().map_err(|error| format!("{what}: {error}"))?;
    if !status.success() {
        return Err(format!("{what} failed ({status})"));
    }
    text.lines()
        .map(|line| Record::from_line(line).map_err(|error| format!("{what}: `{line}`: {error}")))
        .collect()
}

fn checked(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|error| format!("{command:?}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_of_both_servers() {
        let service = "2026-11-30T11:00:00Z  INFO service: listening addr=127.0.0.1:40123 \
                       admin_addr=127.0.0.1:40124";
        let addr = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert_eq!(
            listening_addrs(service),
            [addr("127.0.0.1:40123"), addr("127.0.0.1:40124")]
        );
        assert_eq!(
            listening_addrs("listening on 127.0.0.1:5555"),
            [addr("127.0.0.1:5555")]
        );
        assert!(listening_addrs("service starting manager=arcswap").is_empty());
    }
}
