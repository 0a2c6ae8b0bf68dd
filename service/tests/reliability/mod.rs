//! What the reliability suites add to `common`: the size of a run, the
//! process's peak memory, waiting for a logged and counted rejection, and
//! running the binary as another user.

#![allow(dead_code)] // each reliability test binary uses its own subset

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::common::{self, Reply, Service};

/// `config_reloads_total{result="failure"}`.
pub const FAILURES: &str = "config_reloads_total{result=\"failure\"}";
/// `config_watch_errors_total`.
pub const WATCH_ERRORS: &str = "config_watch_errors_total";

/// How much of a long run the normal test run does: `RELIABILITY_SCALE`
/// (default 1) multiplies `base`, so CI stays quick and a soak run is one
/// variable away.
pub fn scaled(base: u64) -> u64 {
    let scale = std::env::var("RELIABILITY_SCALE")
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(1);
    base * scale.max(1)
}

/// `message: "..."` as YAML.
pub fn yaml(message: &str) -> String {
    format!("message: {message:?}\n")
}

/// The peak resident set size (`VmHWM`) of a process, in bytes.
pub fn peak_rss_bytes(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is mounted");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .expect("VmHWM in /proc/<pid>/status")
}

/// The failure count and the log's length before an input is put in
/// place, so a rejection is matched only against what came after it.
pub struct Before {
    pub failures: f64,
    log_lines: usize,
}

/// Marks the service's state before a write.
pub fn before(service: &Service) -> Before {
    Before {
        failures: service.metric(FAILURES),
        log_lines: service.log().len(),
    }
}

/// Waits until a reload was rejected after `before`, counted, and logged
/// with a reason containing `reason` (case-insensitive); returns the line.
pub fn wait_rejected(service: &Service, before: &Before, reason: &str) -> String {
    service.wait_for_metric_above(FAILURES, before.failures);
    let reason = reason.to_lowercase();
    common::eventually(&format!("a rejection logged with {reason:?}"), || {
        let log = service.log();
        log.iter()
            .skip(before.log_lines)
            .find(|line| line.contains("config rejected") && line.to_lowercase().contains(&reason))
            .cloned()
            .ok_or_else(|| log.last().cloned().unwrap_or_default())
    })
}

/// Asserts what a rejected reload must leave behind: `good` still served,
/// the service ready, the failure visible as the last reload's result.
pub fn assert_still_serving(service: &Service, good: &str, what: &str) {
    let reply = service.message();
    assert_eq!(
        (reply.status, reply.text()),
        (200, good.to_owned()),
        "{what}: the last good config is served"
    );
    let ready = service.get("/readyz").expect("GET /readyz answers");
    assert_eq!(ready.status, 200, "{what}: still ready: {}", ready.text());
    assert_eq!(
        service.metric("config_last_reload_successful"),
        0.0,
        "{what}: reported as failed"
    );
}

/// The uid and gid the container image runs as: an unprivileged user for
/// whom file modes are enforced (root bypasses them).
pub const UNPRIVILEGED: u32 = 65532;

/// The service binary run as [`UNPRIVILEGED`] through `setpriv`, or the
/// reason it cannot be.
///
/// `common::Service` builds its own `Command`, so it cannot be wrapped;
/// this is the smallest part of it needed to talk to such a process.
pub struct UnprivilegedService {
    child: Child,
    pub addr: SocketAddr,
    /// The admin port: the probes and `/metrics`.
    pub admin: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl UnprivilegedService {
    /// Starts `service --config <config> --watcher <watcher> ...` as
    /// [`UNPRIVILEGED`]. `Err` says why that is impossible here.
    pub fn start(config: &Path, watcher: &str) -> Result<Self, String> {
        Self::start_with(config, watcher, &[])
    }

    /// As [`UnprivilegedService::start`], with more `--flag value` pairs.
    pub fn start_with(
        config: &Path,
        watcher: &str,
        flags: &[(&str, &str)],
    ) -> Result<Self, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: cannot switch to another uid".into());
        }
        if Command::new("setpriv").arg("--version").output().is_err() {
            return Err("setpriv (util-linux) is not installed".into());
        }
        let id = UNPRIVILEGED.to_string();
        let mut child = Command::new("setpriv")
            .args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_service"))
            .args([
                "--config",
                &config.display().to_string(),
                "--watcher",
                watcher,
            ])
            .args([
                "--manager",
                "arcswap",
                "--bind",
                "127.0.0.1:0",
                "--admin-bind",
                "127.0.0.1:0",
                "--poll-interval",
                "100ms",
            ])
            .args(flags.iter().flat_map(|(flag, value)| [*flag, *value]))
            .env_clear()
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("setpriv did not start: {error}"))?;
        let (addr_sender, addr) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let collected = Arc::clone(&log);
        thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(addrs) = common::listening_addr(&line) {
                    let _ = addr_sender.send(addrs);
                }
                collected.lock().unwrap().push(line);
            }
        });
        let (addr, admin) = addr.recv_timeout(common::DEADLINE).map_err(|_| {
            format!(
                "the unprivileged service never listened: {:?}",
                child.try_wait()
            )
        })?;
        Ok(Self {
            child,
            addr,
            admin,
            log,
        })
    }

    /// [`UnprivilegedService::start_with`], or `None` with the reason
    /// printed (the test then passes without running).
    pub fn start_or_skip(config: &Path, watcher: &str, flags: &[(&str, &str)]) -> Option<Self> {
        Self::start_with(config, watcher, flags)
            .inspect_err(|reason| {
                eprintln!("skipped: cannot run the service as uid {UNPRIVILEGED}: {reason}");
            })
            .ok()
    }

    pub fn get(&self, path: &str) -> Reply {
        let addr = if common::ADMIN_PATHS.contains(&path) {
            self.admin
        } else {
            self.addr
        };
        common::get(addr, path).expect("the service answers")
    }

    pub fn metric(&self, series: &str) -> f64 {
        common::metric(&self.get("/metrics").text(), series).unwrap_or(0.0)
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `GET /` serves `expected`.
    pub fn wait_for_message(&self, expected: &str) {
        common::eventually(&format!("GET / to serve {expected:?}"), || {
            let reply = self.get("/");
            if reply.status == 200 && reply.text() == expected {
                Ok(())
            } else {
                Err(reply.text())
            }
        });
    }
}

impl Drop for UnprivilegedService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sleeps between polls of something the test cannot wait on otherwise
/// (never as an assertion).
pub fn pause() {
    thread::sleep(Duration::from_millis(20));
}
