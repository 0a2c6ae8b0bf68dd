//! Measures the Kubernetes API source under each network and server fault
//! of docs/kube.md's failure-modes table, through the real service binary
//! with its default options, against the emulated API server
//! (`apiserver-emu`: no real one can run here). For each fault: when it
//! began, when the service first said so (`config_source_up{source="kube"}`
//! 0, or `/readyz`'s body), when the change made at the fault's start was
//! served, and what `/readyz` and the metrics said meanwhile. Prints one
//! Markdown table row per fault.
//!
//! ```text
//! cargo build --release -p service --features kube,inotify,arcswap
//! cargo run --release -p service --example kube_faults -- target/release/service
//! ```
//!
//! Takes about three minutes: the silent watch waits for the default 45 s
//! silence timeout, the held watch for three quiet watches of 22–30 s.

#[path = "../tests/common/http.rs"]
mod http;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use apiserver_emu::{ApiServer, TooLarge};
use config_reload::testing::KubeletVolume;

const NAMESPACE: &str = "default";
const NAME: &str = "app";
const KEY: &str = "config.yaml";
/// How often the service is looked at.
const SAMPLE: Duration = Duration::from_millis(50);
/// How long a fault is followed before it is given up on.
const GIVE_UP: Duration = Duration::from_secs(180);

fn yaml(message: &str) -> String {
    format!("message: {message:?}\n")
}

/// The service, killed on drop.
struct Service {
    child: Child,
    addr: SocketAddr,
    /// The admin port: `/readyz`, `/metrics`.
    admin: SocketAddr,
}

impl Service {
    fn start(binary: &Path, kubeconfig: &Path, config: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(binary)
            .env_clear()
            .env("RUST_LOG", "info")
            .env("KUBECONFIG", kubeconfig)
            .args([
                "--bind",
                "127.0.0.1:0",
                "--admin-bind",
                "127.0.0.1:0",
                "--watcher",
                "kube",
                "--configmap",
                NAME,
            ])
            .args(["--key", KEY, "--namespace", NAMESPACE, "--config"])
            .arg(config)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the service starts");
        let (sender, receiver) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let field = |name: &str| {
                    let (_, rest) = line.split_once(&format!(" {name}="))?;
                    rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
                };
                if line.contains("listening")
                    && let (Some(addr), Some(admin)) = (field("addr"), field("admin_addr"))
                {
                    let _ = sender.send((addr, admin));
                }
            }
        });
        let (addr, admin) = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the service listens");
        Self { child, addr, admin }
    }

    fn message(&self) -> String {
        http::get(self.addr, "/").map_or_else(|_| String::new(), |reply| reply.text())
    }

    fn ready(&self) -> String {
        http::get(self.admin, "/readyz").map_or_else(|_| String::new(), |reply| reply.text())
    }

    fn metric(&self, series: &str) -> Option<f64> {
        let text = http::get(self.admin, "/metrics").ok()?.text();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    fn wait_for(&self, message: &str) {
        let start = Instant::now();
        while self.message() != message {
            assert!(start.elapsed() < GIVE_UP, "never served {message:?}");
            thread::sleep(SAMPLE);
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What was seen while a fault went on.
struct Seen {
    detected: Option<Duration>,
    served: Option<Duration>,
    up_again: Option<Duration>,
    ready_bodies: Vec<String>,
    source_up_zero: bool,
    watch_errors: f64,
    disagree: bool,
}

/// Follows the service from `began` for at least `until`, until `expected`
/// is served and, if `recovers`, the source is up again.
fn follow(
    service: &Service,
    began: Instant,
    expected: &str,
    until: Duration,
    recovers: bool,
) -> Seen {
    let mut seen = Seen {
        detected: None,
        served: None,
        up_again: None,
        ready_bodies: Vec::new(),
        source_up_zero: false,
        watch_errors: 0.0,
        disagree: false,
    };
    while began.elapsed() < GIVE_UP {
        let up = service.metric("config_source_up{source=\"kube\"}");
        let ready = service.ready();
        let degraded = ready.contains("degraded") || up == Some(0.0);
        if degraded {
            seen.source_up_zero |= up == Some(0.0);
            seen.detected.get_or_insert(began.elapsed());
        } else if seen.detected.is_some() && seen.up_again.is_none() {
            seen.up_again = Some(began.elapsed());
        }
        // Once per kind of body: the durations in it change every second.
        let body = ready.trim().to_owned();
        let kind = |body: &str| body.replace(|c: char| c.is_ascii_digit(), "");
        if !seen
            .ready_bodies
            .iter()
            .any(|seen| kind(seen) == kind(&body))
        {
            seen.ready_bodies.push(body);
        }
        seen.disagree |= service.metric("config_sources_disagree") == Some(1.0);
        if seen.served.is_none() && service.message() == expected {
            seen.served = Some(began.elapsed());
        }
        let settled = seen.served.is_some()
            && (!recovers || seen.detected.is_none() || seen.up_again.is_some());
        if settled && began.elapsed() >= until {
            break;
        }
        thread::sleep(SAMPLE);
    }
    // Counted from the service's start: each fault has a service of its own.
    seen.watch_errors = service.metric("config_watch_errors_total").unwrap_or(0.0);
    seen
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
}

fn row(fault: &str, seen: &Seen) {
    let bodies: Vec<String> = seen
        .ready_bodies
        .iter()
        .map(|body| format!("`{}`", body.replace('\n', " ").replace('|', "\\|")))
        .collect();
    println!(
        "| {fault} | {} | {} | {} | {} | source_up 0: {}; watch errors +{}; sources_disagree: {} |",
        seconds(seen.detected),
        seconds(seen.served),
        seconds(seen.up_again),
        bodies.join(" → "),
        if seen.source_up_zero { "yes" } else { "no" },
        seen.watch_errors,
        if seen.disagree { "1" } else { "0" },
    );
}

/// An emulated API server with `app` at `v0`, a kubeconfig reaching it and
/// the service watching it through the API alone.
struct Setup {
    server: ApiServer,
    service: Service,
    _dir: tempfile::TempDir,
}

fn setup(binary: &Path, extra: &[&str]) -> Setup {
    let server = ApiServer::start().expect("the emulated API server starts");
    server.apply(NAMESPACE, NAME, &[(KEY, yaml("v0"))]);
    let dir = tempfile::tempdir().expect("a temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig, NAMESPACE)
        .expect("a kubeconfig");
    let service = Service::start(
        binary,
        &kubeconfig,
        &dir.path().join("absent/config.yaml"),
        extra,
    );
    service.wait_for("v0");
    while server.open_watches() == 0 {
        thread::sleep(SAMPLE);
    }
    Setup {
        server,
        service,
        _dir: dir,
    }
}

/// A backup of the server, then five writes the service serves: its
/// resourceVersion is then well above anything the backup holds.
fn moved_past_a_backup(server: &ApiServer, service: &Service) -> apiserver_emu::Snapshot {
    let backup = server.snapshot();
    for n in 1..=5 {
        server.apply(NAMESPACE, NAME, &[(KEY, yaml(&format!("v{n}")))]);
    }
    service.wait_for("v5");
    backup
}

fn main() {
    let binary = PathBuf::from(std::env::args().nth(1).expect("the service binary's path"));
    println!(
        "| fault | detected after | change served after | source up again after | `/readyz` said | metrics |"
    );
    println!("|---|---|---|---|---|---|");

    let Setup {
        server, service, ..
    } = setup(&binary, &[]);
    let began = Instant::now();
    server.silence_watches();
    server.apply(NAMESPACE, NAME, &[(KEY, yaml("v1"))]);
    row(
        "watch connection silent (no FIN, no RST)",
        &follow(&service, began, "v1", Duration::ZERO, true),
    );
    drop((service, server));

    let Setup {
        server, service, ..
    } = setup(&binary, &[]);
    let backup = moved_past_a_backup(&server, &service);
    let began = Instant::now();
    server.restore(&backup);
    server.apply(NAMESPACE, NAME, &[(KEY, yaml("restored"))]);
    server.drop_watches();
    row(
        "etcd restored, re-watch answered 504 Too large resource version",
        &follow(&service, began, "restored", Duration::ZERO, true),
    );
    drop((service, server));

    let Setup {
        server, service, ..
    } = setup(&binary, &[]);
    let backup = moved_past_a_backup(&server, &service);
    server.set_too_large(TooLarge::Hold);
    let began = Instant::now();
    server.restore(&backup);
    server.apply(NAMESPACE, NAME, &[(KEY, yaml("restored"))]);
    row(
        "etcd restored under a held watch (no error, blind)",
        &follow(&service, began, "restored", Duration::ZERO, true),
    );
    drop((service, server));

    let Setup {
        server, service, ..
    } = setup(&binary, &[]);
    let began = Instant::now();
    server.error_event(500, "InternalError", "etcdserver: request timed out");
    server.apply(NAMESPACE, NAME, &[(KEY, yaml("v1"))]);
    row(
        "one `ERROR` event (500 etcdserver: request timed out)",
        &follow(&service, began, "v1", Duration::from_secs(2), true),
    );
    drop((service, server));

    let Setup {
        server, service, ..
    } = setup(&binary, &[]);
    server.end_watches_at_once(true);
    let watches_before = server.requests().iter().filter(|r| r.is_watch()).count();
    let began = Instant::now();
    server.end_watches();
    server.apply(NAMESPACE, NAME, &[(KEY, yaml("v1"))]);
    let seen = follow(&service, began, "v1", Duration::from_secs(30), false);
    let watches = server.requests().iter().filter(|r| r.is_watch()).count() - watches_before;
    row(
        &format!(
            "every watch ended at once by the server ({watches} watch requests in {:.0} s)",
            began.elapsed().as_secs_f64()
        ),
        &seen,
    );
    drop((service, server));

    // The volume beside the API, 1,000 versions behind it.
    let server = ApiServer::start().expect("the emulated API server starts");
    server.apply(NAMESPACE, NAME, &[(KEY, yaml("v0"))]);
    let dir = tempfile::tempdir().expect("a temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig, NAMESPACE)
        .expect("a kubeconfig");
    let volume = KubeletVolume::new(dir.path());
    volume.project(&[(KEY, yaml("v0"))]).expect("a projection");
    let service = Service::start(
        &binary,
        &kubeconfig,
        &dir.path().join(KEY),
        &["--volume-lag", "10s"],
    );
    service.wait_for("v0");
    for n in 1..=1000 {
        server.apply(NAMESPACE, NAME, &[(KEY, yaml(&format!("v{n}")))]);
    }
    service.wait_for("v1000");
    let began = Instant::now();
    volume.project(&[(KEY, yaml("v1"))]).expect("a projection");
    let seen = follow(&service, began, "v1000", Duration::from_secs(15), true);
    let rolled_back = service.message() != "v1000";
    row(
        &format!(
            "volume 1,000 versions behind the API (`--volume-lag 10s`){}",
            if rolled_back {
                ": ROLLED BACK"
            } else {
                ": never rolled back"
            }
        ),
        &seen,
    );
}
