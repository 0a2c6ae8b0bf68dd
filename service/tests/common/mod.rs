//! Running the real `service` binary and talking to it over real sockets.

#![allow(dead_code)] // each test binary uses its own subset

mod http;

pub use http::{Reply, get};

use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any expected state may take to appear: generous, the machine is
/// shared and noisy.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `check` until it returns `Some`, or panics after [`DEADLINE`]
/// saying what was awaited and what was last seen.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if start.elapsed() > DEADLINE => {
                panic!("timed out waiting for {what}; last seen: {last}")
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The service's command with a clean environment: no flag comes from the
/// environment the tests run in.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_service"));
    command.env_clear().env("RUST_LOG", "info");
    command
}

/// A service's flags: sensible test defaults, each replaceable.
#[derive(Clone)]
pub struct Flags(Vec<(String, String)>);

impl Flags {
    /// `config` served with `watcher` and the arcswap manager on a free port.
    pub fn new(config: &Path, watcher: &str) -> Self {
        Self(vec![
            ("--config".into(), config.display().to_string()),
            ("--watcher".into(), watcher.into()),
            ("--manager".into(), "arcswap".into()),
            ("--bind".into(), "127.0.0.1:0".into()),
            ("--admin-bind".into(), "127.0.0.1:0".into()),
            // Only the poll watcher reads it; keeps its tests quick.
            ("--poll-interval".into(), "100ms".into()),
        ])
    }

    /// Sets (or replaces) one flag.
    pub fn set(mut self, flag: &str, value: &str) -> Self {
        self.0.retain(|(existing, _)| existing != flag);
        self.0.push((flag.into(), value.into()));
        self
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: &str) -> bool {
        self.0.iter().any(|(existing, _)| existing == flag)
    }

    fn args(&self) -> impl Iterator<Item = &String> {
        self.0.iter().flat_map(|(flag, value)| [flag, value])
    }
}

/// A running service, killed when dropped.
pub struct Service {
    child: Child,
    /// The public port: `/`.
    pub addr: SocketAddr,
    /// The admin port: `/healthz`, `/readyz`, `/metrics`.
    pub admin: SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts the binary without waiting for it.
    pub fn spawn(flags: &Flags) -> Starting {
        Self::spawn_with(flags, |_| {})
    }

    /// Starts the binary after `customize` has adjusted its command (e.g.
    /// a resource limit set in the child), without waiting for it.
    pub fn spawn_with(flags: &Flags, customize: impl FnOnce(&mut Command)) -> Starting {
        let mut command = command();
        customize(&mut command);
        Self::spawn_command(command, flags)
    }

    /// Starts the binary through `wrapper` (a program and its arguments
    /// that end by running the binary with the arguments after it, as
    /// `unshare ... sh -c '...; exec "$0" "$@"'` does).
    pub fn spawn_wrapped(wrapper: &[&str], flags: &Flags) -> Starting {
        let mut command = Command::new(wrapper[0]);
        command
            .args(&wrapper[1..])
            .arg(env!("CARGO_BIN_EXE_service"))
            .env_clear()
            .env("RUST_LOG", "info");
        Self::spawn_command(command, flags)
    }

    fn spawn_command(mut command: Command, flags: &Flags) -> Starting {
        let mut child = command
            .args(flags.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the service binary starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (addr_sender, addr) = mpsc::channel();
        let lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let collected = Arc::clone(&stdout);
        thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(addr) = listening_addr(&line) {
                    let _ = addr_sender.send(addr);
                }
                collected.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            text
        });
        Starting {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    /// Starts the binary and waits until it listens.
    pub fn start(flags: &Flags) -> Self {
        Self::spawn(flags).listening()
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("a pid fits an i32")
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        assert_eq!(
            unsafe { libc::kill(self.pid(), signal) },
            0,
            "kill({signal})"
        );
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        eventually("the service to exit", || match self.child.try_wait() {
            Ok(Some(status)) => Ok(status),
            other => Err(format!("{other:?}")),
        })
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// `GET path` on the port that serves it: the admin port for the
    /// probes and `/metrics`, as a kubelet or a scraper would.
    pub fn get(&self, path: &str) -> io::Result<Reply> {
        get(self.port_of(path), path)
    }

    /// The address serving `path`.
    pub fn port_of(&self, path: &str) -> SocketAddr {
        if ADMIN_PATHS.contains(&path) {
            self.admin
        } else {
            self.addr
        }
    }

    /// `GET /` as text, panicking on a transport error.
    pub fn message(&self) -> Reply {
        self.get("/").expect("GET / answers")
    }

    /// Waits until `GET /` serves exactly `expected`; returns that reply.
    pub fn wait_for_message(&self, expected: &str) -> Reply {
        eventually(&format!("GET / to serve {expected:?}"), || {
            let reply = self.get("/").map_err(|error| error.to_string())?;
            if reply.status == 200 && reply.body == expected.as_bytes() {
                Ok(reply)
            } else {
                Err(format!(
                    "{} {:?}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ))
            }
        })
    }

    /// One sample of `/metrics`, or 0 when the series is not there yet.
    pub fn metric(&self, series: &str) -> f64 {
        let reply = self.get("/metrics").expect("GET /metrics answers");
        metric(&reply.text(), series).unwrap_or(0.0)
    }

    /// Waits until `series` is above `floor`.
    pub fn wait_for_metric_above(&self, series: &str, floor: f64) -> f64 {
        eventually(&format!("{series} > {floor}"), || {
            let value = self.metric(series);
            if value > floor {
                Ok(value)
            } else {
                Err(value.to_string())
            }
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The paths served on the admin port.
pub const ADMIN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// A spawned service that has not announced its address yet.
pub struct Starting {
    child: Child,
    addr: mpsc::Receiver<(SocketAddr, SocketAddr)>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: thread::JoinHandle<String>,
}

impl Starting {
    /// Every log line so far, before the service listens.
    pub fn log(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("a pid fits an i32")
    }

    /// Waits for the listening line; panics with stderr if the process exits.
    pub fn listening(mut self) -> Service {
        let (addr, admin) = eventually("the listening line", || {
            if let Ok(addr) = self.addr.try_recv() {
                return Ok(addr);
            }
            match self.child.try_wait() {
                Ok(Some(status)) => panic!("the service exited ({status}) before listening"),
                _ => Err("no listening line yet".to_owned()),
            }
        });
        Service {
            child: self.child,
            addr,
            admin,
            stdout: self.stdout,
        }
    }

    /// Waits for the process to exit on its own: (status, stdout, stderr).
    pub fn exit(mut self) -> (ExitStatus, String, String) {
        let status = eventually("the service to exit", || match self.child.try_wait() {
            Ok(Some(status)) => Ok(status),
            other => Err(format!("{other:?}")),
        });
        let stderr = self.stderr.join().expect("the stderr reader ends");
        // The stdout reader may still be draining the pipe: give it the deadline too.
        let stdout = self.stdout.lock().unwrap().join("\n");
        (status, stdout, stderr)
    }
}

/// The addresses in the "listening" log line: `addr=127.0.0.1:1234
/// admin_addr=127.0.0.1:1235` (text) or `"addr":"127.0.0.1:1234",
/// "admin_addr":"..."` (JSON).
pub fn listening_addr(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    if !line.contains("listening") {
        return None;
    }
    let field = |name: &str| {
        let (_, rest) = line
            .split_once(&format!(" {name}="))
            .or_else(|| line.split_once(&format!("\"{name}\":\"")))?;
        rest.split(|c: char| c.is_whitespace() || c == '"')
            .next()?
            .parse()
            .ok()
    };
    Some((field("addr")?, field("admin_addr")?))
}

/// The sum of every sample of `name` whose labels include those given
/// (`name{labels}`, any order): `config_reloads_total{result="failure"}`
/// adds up the failures of every kind.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    let (name, wanted) = labels(series);
    let samples: Vec<f64> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (line_name, line_labels) = labels(series);
            (line_name == name && wanted.iter().all(|label| line_labels.contains(label)))
                .then(|| value.parse().ok())
                .flatten()
        })
        .collect();
    (!samples.is_empty()).then(|| samples.iter().sum())
}

/// `name{a="1",b="2"}` as its name and its `a="1"` pairs.
fn labels(series: &str) -> (&str, Vec<&str>) {
    match series.split_once('{') {
        Some((name, rest)) => (
            name,
            rest.trim_end_matches('}')
                .split(',')
                .filter(|pair| !pair.is_empty())
                .collect(),
        ),
        None => (series, Vec::new()),
    }
}
