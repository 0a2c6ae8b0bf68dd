//! The load benchmark's config writer (`cargo run -p benches --bin load`):
//! updates a ConfigMap-style volume exactly as the kubelet does
//! (`config_reload::testing::KubeletVolume`), at a steady rate or one update at a
//! time while measuring how long the service takes to serve it. Results are
//! `records` lines on stdout (subject `-`: the load benchmark names it).
//!
//! ```text
//! load_writer init    /tmp/mount                       # first projection of config.yaml
//! load_writer write   /tmp/mount --rate 100 --seconds 12 --addr 127.0.0.1:40123
//! load_writer latency /tmp/mount --addr 127.0.0.1:40123 --updates 200
//! load_writer api-latency /tmp/kubeconfig --updates 200    # then the service's address on stdin
//! ```

#[path = "../tests/common/http.rs"]
mod http;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use apiserver_emu::ApiServer;
use clap::{Parser, Subcommand};
use config_reload::testing::KubeletVolume;
use records::Record;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Projects the first version of `config.yaml`.
    Init { mount: PathBuf },
    /// Projects a new version `--rate` times a second for `--seconds`; with
    /// `--addr` (the service's admin port), reports how many it applied
    /// (its `config_reloads_total{result="success"}` before and after).
    Write {
        mount: PathBuf,
        #[arg(long, default_value_t = 100)]
        rate: u32,
        #[arg(long, default_value_t = 12)]
        seconds: u64,
        #[arg(long)]
        addr: Option<SocketAddr>,
    },
    /// Projects `--updates` versions one by one; for each, the time from the
    /// `..data` commit to the first `GET /` that serves it.
    Latency {
        mount: PathBuf,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 200)]
        updates: u32,
    },
    /// The same through the Kubernetes API: starts an emulated API server
    /// (`apiserver-emu`: none can run here), writes a kubeconfig reaching
    /// it to `kubeconfig` and creates the ConfigMap `API_CONFIGMAP` in
    /// namespace `API_NAMESPACE`, prints `ready`, reads the address of a
    /// service started with that kubeconfig from stdin, then updates the
    /// ConfigMap `--updates` times: for each, the time from the API
    /// server's commit to the first `GET /` that serves it.
    ApiLatency {
        kubeconfig: PathBuf,
        #[arg(long, default_value_t = 200)]
        updates: u32,
    },
}

/// The ConfigMap and namespace `api-latency` serves (the load benchmark
/// starts the service with them).
const API_CONFIGMAP: &str = "config-reload";
const API_NAMESPACE: &str = "load";

fn message(tag: &str, n: u64) -> String {
    format!("load writer {tag} {n}")
}

fn project(volume: &KubeletVolume, message: &str) -> std::io::Result<()> {
    volume
        .project(&[("config.yaml", format!("message: {message:?}\n"))])
        .map(drop)
}

/// The service's count of applied reloads: every `config_reloads_total`
/// series with `result="success"`, whatever its other labels.
fn reloads_applied(addr: SocketAddr) -> std::io::Result<f64> {
    let metrics = http::get(addr, "/metrics")?.text();
    let successes: Vec<f64> = metrics
        .lines()
        .filter_map(|line| {
            let (series, value) = line
                .strip_prefix("config_reloads_total{")?
                .rsplit_once(' ')?;
            let labels = series.strip_suffix('}')?;
            labels
                .split(',')
                .any(|label| label == "result=\"success\"")
                .then(|| value.parse().ok())?
        })
        .collect();
    if successes.is_empty() {
        return Err(std::io::Error::other(
            "no config_reloads_total{result=\"success\"} series",
        ));
    }
    Ok(successes.iter().sum())
}

fn print(record: Record) {
    println!("{}", record.to_line());
}

fn main() -> std::io::Result<()> {
    match Args::parse().command {
        Command::Init { mount } => project(&KubeletVolume::new(mount), &message("init", 0)),
        Command::Write {
            mount,
            rate,
            seconds,
            addr,
        } => {
            let before = addr.map(reloads_applied).transpose()?;
            let volume = KubeletVolume::new(mount);
            let period = Duration::from_secs(1) / rate;
            let start = Instant::now();
            let mut written = 0_u64;
            // Paced against the start, so a slow write does not lower the rate.
            while start.elapsed() < Duration::from_secs(seconds) {
                project(&volume, &message("write", written))?;
                written += 1;
                if let Some(wait) = (period * u32::try_from(written).unwrap_or(u32::MAX))
                    .checked_sub(start.elapsed())
                {
                    thread::sleep(wait);
                }
            }
            let took = start.elapsed().as_secs_f64();
            if let (Some(addr), Some(before)) = (addr, before) {
                // The last update's reload may still be in flight.
                thread::sleep(Duration::from_millis(500));
                let applied = reloads_applied(addr)? - before;
                print(Record::new(
                    "load",
                    "reloading",
                    "-",
                    "reloads_applied",
                    applied,
                    "count",
                    written,
                ));
            }
            eprintln!("wrote {written} updates in {took:.1}s");
            Ok(())
        }
        Command::Latency {
            mount,
            addr,
            updates,
        } => {
            let volume = KubeletVolume::new(mount);
            latency(addr, updates, "reload_latency", |payload| {
                Ok(volume
                    .project_timed(payload)?
                    .expect("every update has new content"))
            })
        }
        Command::ApiLatency {
            kubeconfig,
            updates,
        } => {
            let api = ApiServer::start()?;
            api.write_kubeconfig(&kubeconfig, API_NAMESPACE)?;
            let yaml = format!("message: {:?}\n", message("init", 0));
            api.apply(API_NAMESPACE, API_CONFIGMAP, &[("config.yaml", yaml)]);
            println!("ready");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let addr = line.trim().parse().map_err(std::io::Error::other)?;
            latency(addr, updates, "api_reload_latency", |payload| {
                Ok(api.apply(API_NAMESPACE, API_CONFIGMAP, payload).0)
            })
        }
    }
}

/// Commits `updates` new versions with `commit` (returning the instant of
/// the commit), one at a time; for each, the time from the commit to the
/// first `GET /` at `addr` that serves it. Prints p50, p99 and max as
/// `load/<scenario>/-` records.
fn latency(
    addr: SocketAddr,
    updates: u32,
    scenario: &str,
    mut commit: impl FnMut(&[(&str, String)]) -> std::io::Result<Instant>,
) -> std::io::Result<()> {
    let mut took = Vec::new();
    for n in 0..u64::from(updates) {
        let expected = message("latency", n);
        let committed = commit(&[("config.yaml", format!("message: {expected:?}\n"))])?;
        loop {
            let reply = http::get(addr, "/")?;
            if reply.body == expected.as_bytes() {
                took.push(committed.elapsed());
                break;
            }
            if committed.elapsed() > Duration::from_secs(10) {
                eprintln!("update {n} not served within 10 s");
                std::process::exit(1);
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    took.sort();
    // Nearest rank, as the watchers bench computes its percentiles.
    let at = |quantile: f64| {
        let rank = (quantile * took.len() as f64).ceil() as usize;
        took[rank.clamp(1, took.len()) - 1].as_secs_f64()
    };
    let n = took.len() as u64;
    for (metric, quantile) in [
        ("latency_p50", 0.5),
        ("latency_p99", 0.99),
        ("latency_max", 1.0),
    ] {
        print(Record::new(
            "load",
            scenario,
            "-",
            metric,
            at(quantile),
            "s",
            n,
        ));
    }
    Ok(())
}
