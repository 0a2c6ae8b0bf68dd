//! The Kubernetes API source, measured against the emulated API server
//! (`apiserver-emu`): no real API server runs here, so the numbers are this
//! crate's and kube-rs's cost on a loopback socket, not a cluster's.
//!
//! ```text
//! cargo bench -p config-reload --features testing,kube --bench kube -- [--out FILE.jsonl] [--quick]
//! ```
//!
//! - **latency**: from the emulated server's commit of a ConfigMap update to
//!   the new value being what `Watch::get()` returns (taken in the publish
//!   hook, which runs once the manager holds it), p50/p99/max over
//!   `UPDATES` updates; beside it, the same for the kubelet's volume
//!   watched by inotify (the `..data` rename to the same point), in the
//!   same run.
//! - **idle**: one watch of the API doing nothing for 60 s (2 s with
//!   `--quick`): long enough to include the watches the server ends every
//!   22–30 s and their re-issue; the wake-ups per second (context
//!   switches) and CPU time of its threads, and the resident memory it
//!   added (RSS after start minus before).
//!
//! Records (group `kube`) are appended to `--out` (default
//! `watchers/benches/results/kube.jsonl`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use apiserver_emu::ApiServer;
use config_reload::testing::KubeletVolume;
use config_reload::{ConfigSource, Current, Format, KubeSource, Watch, WatcherKind};
use records::Record;

#[derive(serde::Deserialize)]
struct Config {
    message: String,
}

const NAMESPACE: &str = "bench";
const KEY: &str = "config.yaml";

fn yaml(message: &str) -> String {
    format!("message: {message:?}\n")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let out = args
        .iter()
        .position(|arg| arg == "--out")
        .and_then(|at| args.get(at + 1))
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results/kube.jsonl"),
            PathBuf::from,
        );
    let updates = if quick { 50 } else { 500 };
    let idle = Duration::from_secs(if quick { 2 } else { 60 });

    let server = ApiServer::start().expect("the emulated API server starts");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, NAMESPACE).unwrap();
    let provenance = |record: Record| {
        record
            .with_provenance(
                "command",
                "cargo bench -p config-reload --features testing,kube --bench kube",
            )
            .with_provenance("server", "apiserver-emu (emulated, loopback)")
    };
    let mut records = Vec::new();

    // First, in a process that has run no watch yet: its memory is then
    // the watch's, not what the allocator kept from an earlier one.
    let idle = idle_cost(&server, &kubeconfig, idle);
    let api = api_latency(&server, &kubeconfig, updates);
    records.extend(latency_records("api", &api).into_iter().map(provenance));
    let volume = volume_latency(updates);
    records.extend(
        latency_records("volume-inotify", &volume)
            .into_iter()
            .map(provenance),
    );
    records.extend(idle.records().into_iter().map(provenance));

    println!("| subject | p50 | p99 | max | n |");
    println!("|---|---|---|---|---|");
    for (subject, samples) in [
        ("api (emulated server → Watch::get)", &api),
        ("volume, inotify (..data rename → Watch::get)", &volume),
    ] {
        let (p50, p99, max) = summary(samples);
        println!(
            "| {subject} | {:.3} ms | {:.3} ms | {:.3} ms | {} |",
            p50 * 1e3,
            p99 * 1e3,
            max * 1e3,
            samples.len()
        );
    }
    println!(
        "idle API watch over {:?}: {:.2} wake-ups/s, {:.4} % of a core, RSS +{} KiB",
        idle.period,
        idle.wakeups_per_second(),
        idle.cpu_share() * 100.0,
        idle.rss_delta / 1024
    );
    records::append(&out, &records).expect("records written");
    println!("{} records appended to {}", records.len(), out.display());
}

/// Seconds from each update's commit to its publish, through the API.
fn api_latency(server: &ApiServer, kubeconfig: &Path, updates: usize) -> Vec<f64> {
    let name = "latency";
    let apply = |message: &str| server.apply(NAMESPACE, name, &[(KEY, yaml(message))]).0;
    apply("0");
    let (published, arrivals) = mpsc::channel();
    let watch = Watch::<Config>::builder(ConfigSource::kube(
        KubeSource::configmap(name).kubeconfig(kubeconfig).key(KEY),
    ))
    .format(Format::Yaml)
    .on_publish(move |current: &Current<Config>| {
        let _ = published.send((Instant::now(), current.message.clone()));
    })
    .start()
    .expect("the API watch starts");
    measure(
        updates,
        &arrivals,
        |n| apply(&n.to_string()),
        || watch.get().message.clone(),
    )
}

/// Seconds from each kubelet `..data` rename to its publish, by inotify.
fn volume_latency(updates: usize) -> Vec<f64> {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[(KEY, yaml("0"))]).unwrap();
    let (published, arrivals) = mpsc::channel();
    let watch = Watch::<Config>::builder(ConfigSource::file(mount.path().join(KEY)))
        .watcher(WatcherKind::Inotify)
        .on_publish(move |current: &Current<Config>| {
            let _ = published.send((Instant::now(), current.message.clone()));
        })
        .start()
        .expect("the volume watch starts");
    let update = |n: usize| {
        volume
            .project_timed(&[(KEY, yaml(&n.to_string()))])
            .unwrap()
            .expect("a new payload")
    };
    measure(updates, &arrivals, update, || watch.get().message.clone())
}

/// Runs `update(n)` (which returns its commit instant) for n in
/// 1..=updates, each waiting for its publish, then checks `get` serves it.
fn measure(
    updates: usize,
    arrivals: &mpsc::Receiver<(Instant, String)>,
    mut update: impl FnMut(usize) -> Instant,
    get: impl Fn() -> String,
) -> Vec<f64> {
    // The initial publish.
    arrivals.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut samples = Vec::with_capacity(updates);
    for n in 1..=updates {
        let committed = update(n);
        let expected = n.to_string();
        loop {
            let (at, message) = arrivals
                .recv_timeout(Duration::from_secs(10))
                .expect("published within 10 s");
            if message == expected {
                samples.push(at.duration_since(committed).as_secs_f64());
                assert_eq!(get(), expected, "Watch::get serves what was published");
                break;
            }
        }
        // Each update on its own, not a burst.
        std::thread::sleep(Duration::from_millis(2));
    }
    samples
}

fn summary(samples: &[f64]) -> (f64, f64, f64) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), sorted[sorted.len() - 1])
}

fn latency_records(subject: &str, samples: &[f64]) -> Vec<Record> {
    let (p50, p99, max) = summary(samples);
    let n = samples.len() as u64;
    [
        ("latency_p50", p50),
        ("latency_p99", p99),
        ("latency_max", max),
    ]
    .into_iter()
    .map(|(metric, value)| Record::new("kube", "update", subject, metric, value, "s", n))
    .collect()
}

struct Idle {
    period: Duration,
    switches: u64,
    cpu_seconds: f64,
    rss_delta: u64,
}

impl Idle {
    fn wakeups_per_second(&self) -> f64 {
        self.switches as f64 / self.period.as_secs_f64()
    }

    fn cpu_share(&self) -> f64 {
        self.cpu_seconds / self.period.as_secs_f64()
    }

    fn records(&self) -> Vec<Record> {
        let n = self.period.as_secs();
        vec![
            Record::new(
                "kube",
                "idle",
                "api",
                "wakeups_per_s",
                self.wakeups_per_second(),
                "count",
                n,
            ),
            Record::new(
                "kube",
                "idle",
                "api",
                "cpu_share",
                self.cpu_share(),
                "ratio",
                n,
            ),
            Record::new(
                "kube",
                "idle",
                "api",
                "rss_delta",
                self.rss_delta as f64,
                "bytes",
                1,
            ),
        ]
    }
}

/// One API watch started, settled, then left alone for `period`: what its
/// threads (`watchers-*`) cost meanwhile, and the memory it added.
fn idle_cost(server: &ApiServer, kubeconfig: &Path, period: Duration) -> Idle {
    let name = "idle";
    server.apply(NAMESPACE, name, &[(KEY, yaml("idle"))]);
    let before = rss();
    let watch = Watch::<Config>::builder(ConfigSource::kube(
        KubeSource::configmap(name).kubeconfig(kubeconfig).key(KEY),
    ))
    .format(Format::Yaml)
    .start()
    .expect("the API watch starts");
    std::thread::sleep(Duration::from_millis(500));
    let after = rss();
    let (switches_0, cpu_0) = watch_threads();
    std::thread::sleep(period);
    let (switches_1, cpu_1) = watch_threads();
    drop(watch);
    Idle {
        period,
        switches: switches_1 - switches_0,
        cpu_seconds: cpu_1 - cpu_0,
        rss_delta: after.saturating_sub(before),
    }
}

/// Context switches (voluntary and not) and CPU seconds of every thread
/// whose name starts with `watchers-`.
fn watch_threads() -> (u64, f64) {
    let ticks = 100.0; // USER_HZ on Linux.
    let (mut switches, mut cpu) = (0, 0.0);
    for task in fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("watchers-") {
            continue;
        }
        let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(count) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                switches += count.trim().parse::<u64>().unwrap_or(0);
            }
        }
        let stat = fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // After the parenthesised name: state is field 3, utime 14, stime 15.
        if let Some((_, rest)) = stat.rsplit_once(')') {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let time = |index: usize| {
                fields
                    .get(index)
                    .and_then(|f| f.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            cpu += (time(11) + time(12)) / ticks;
        }
    }
    (switches, cpu)
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}
