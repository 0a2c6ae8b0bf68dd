//! The HTTP side against slow and numerous clients (issue 10), on the real
//! binary and real sockets: slow-loris clients capped and timed out while
//! the probes on the admin port answer, an idle keep-alive connection closed, accept errors
//! (`EMFILE`) counted, logged once per streak and recovered from, and
//! `/metrics` in the format the scraper asks for, checked by `promtool`.

#![cfg(all(watcher_inotify, manager_arcswap))]

mod common;
mod reliability;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{DEADLINE, Flags, Service};

/// A request head that never ends.
const PARTIAL_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: slow\r\n";

const OPEN_PUBLIC: &str = "http_connections_open{port=\"public\"}";
const OPEN_ADMIN: &str = "http_connections_open{port=\"admin\"}";
const MAX_PUBLIC: &str = "http_connections_max{port=\"public\"}";
const MAX_ADMIN: &str = "http_connections_max{port=\"admin\"}";
const HEADER_TIMEOUTS: &str = "http_connections_closed_total{reason=\"header_timeout\"}";
const IDLE_TIMEOUTS: &str = "http_connections_closed_total{reason=\"idle_timeout\"}";
const REJECTED: &str = "http_connections_rejected_total{port=\"public\"}";
const EMFILE: &str = "http_accept_errors_total{kind=\"emfile\"}";

/// A service on a fresh config; the temp dir lives as long as it.
fn start(flags: impl FnOnce(Flags) -> Flags) -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, reliability::yaml("hello")).unwrap();
    let service = Service::start(&flags(Flags::new(&path, "inotify")));
    (dir, service)
}

/// The slow-loris attack of issue 10: many connections that send part of a
/// request head and then nothing, renewed when the server times them out so
/// the cap stays full. Throughout, `/healthz` on the admin port must answer
/// 200 (a liveness probe must not kill a pod that is merely busy), the open
/// connections must stay within each port's cap, every slow connection must
/// be closed by the server, and the memory must stay bounded.
#[test]
fn slow_clients_are_capped_and_timed_out_while_probes_answer() {
    let wanted = 10_000;
    let clients = slow_client_budget(wanted);
    let (_dir, service) = start(|flags| {
        flags
            .set("--header-read-timeout", "1s")
            .set("--idle-timeout", "60s")
    });
    let header_timeout = Duration::from_secs(1);
    let probe = Prober::start(service.admin);

    let mut slow = SlowClients::new(service.addr);
    let flood = Instant::now();
    slow.open(clients);
    eprintln!(
        "opened {} slow connections in {:.1?} ({} connects failed), {} still open",
        slow.opened,
        flood.elapsed(),
        slow.connect_failures,
        slow.open_count()
    );
    // Keep the cap full: renew what the server closed after holding it for
    // a header timeout, as a slow-loris does; what it closed at once (over
    // the cap) is given up.
    let hold = Instant::now();
    while hold.elapsed() < Duration::from_secs(4) {
        slow.sweep(Some(header_timeout / 2));
        thread::sleep(Duration::from_millis(50));
    }
    let held = slow.open_count();
    // Then let go: the server must close every one of them by itself.
    common::eventually("the server to close every slow connection", || {
        slow.sweep(None);
        match slow.open_count() {
            0 => Ok(()),
            open => Err(format!("{open} still open")),
        }
    });
    let probes = probe.stop();

    let peak = reliability::peak_rss_bytes(service.pid());
    eprintln!(
        "peak RSS {:.1} MiB after {} slow connections ({} renewed, {held} open at the end of the hold)",
        peak as f64 / f64::from(1 << 20),
        slow.opened,
        slow.renewed
    );
    assert!(
        peak < 64 << 20,
        "peak RSS {peak} bytes: slow connections are not bounded"
    );

    let (cap, admin_cap) = (service.metric(MAX_PUBLIC), service.metric(MAX_ADMIN));
    eprintln!(
        "cap {cap} + admin {admin_cap}; probes: {} answered, highest open seen public {} admin {}; \
         closed: {} header timeouts, {} over the cap",
        probes.answered,
        probes.most_public,
        probes.most_admin,
        service.metric(HEADER_TIMEOUTS),
        service.metric(REJECTED)
    );
    assert!(
        probes.failures.is_empty(),
        "/healthz failed while the cap was full: {:?}",
        probes.failures
    );
    assert!(cap >= 1.0 && admin_cap >= 1.0, "the limits are exported");
    assert!(
        probes.most_public <= cap && probes.most_admin <= admin_cap,
        "more connections open than a port's cap"
    );
    assert_eq!(
        probes.most_public, cap,
        "the cap was never full: the probes proved nothing"
    );
    assert!(probes.answered_at_cap > 0, "no probe answered at the cap");
    assert!(
        service.metric(HEADER_TIMEOUTS) >= cap,
        "the slow connections holding the cap were not closed for the header timeout"
    );
    assert_eq!(service.message().status, 200, "serving after the attack");
}

/// A connection kept alive after a response is closed once idle for
/// `--idle-timeout`, and not after the shorter `--header-read-timeout`.
#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (_dir, service) = start(|flags| {
        flags
            .set("--header-read-timeout", "1s")
            .set("--idle-timeout", "5s")
    });
    let mut connection = KeepAlive::connect(service.addr);
    assert_eq!(connection.get("/").unwrap().0, 200);
    // Idle for twice the header-read timeout: still open.
    thread::sleep(Duration::from_secs(2));
    assert_eq!(
        connection
            .get("/")
            .expect("still open after the header-read timeout")
            .0,
        200
    );
    let idle = Instant::now();
    assert!(
        connection.closed_by_server(),
        "an idle keep-alive connection was never closed"
    );
    eprintln!("closed after {:.1?} idle", idle.elapsed());
    assert_eq!(service.metric(IDLE_TIMEOUTS), 1.0);
}

/// The service's file descriptors exhausted by idle connections (its
/// `RLIMIT_NOFILE` set to 64 in the child, the cap above that): accept
/// fails with `EMFILE`. Each failure is counted; the log gets one line when
/// the streak starts and one when it ends, not one per failure; the process
/// keeps serving the connections it has and accepts again once they go.
#[test]
fn accept_errors_are_counted_logged_once_per_streak_and_recovered_from() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, reliability::yaml("hello")).unwrap();
    let flags = Flags::new(&path, "inotify")
        .set("--max-connections", "1000")
        .set("--header-read-timeout", "60s")
        .set("--idle-timeout", "60s");
    let service = Service::spawn_with(&flags, |command| limit_open_files(command, 64)).listening();
    // Opened first: the way to read /metrics while nothing can be accepted.
    let mut scrape = KeepAlive::connect(service.admin);
    let failures = |scrape: &mut KeepAlive| {
        let (status, body) = scrape.get("/metrics").expect("the kept connection answers");
        assert_eq!(status, 200);
        common::metric(&body, EMFILE).unwrap_or(0.0)
    };
    // ...and used once, so the service has accepted it before the idle
    // connections take every descriptor (the handshake alone does not).
    assert_eq!(failures(&mut scrape), 0.0);

    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(service.addr).expect("the kernel completes the handshake"))
        .collect();
    // The back-off doubles from 5 ms to 1 s: 10 failures take about 2.3 s.
    let counted = common::eventually("accept failures counted", || match failures(&mut scrape) {
        count if count >= 10.0 => Ok(count),
        count => Err(count.to_string()),
    });
    let lines = |text: &str| {
        service
            .log()
            .iter()
            .filter(|line| line.contains(text))
            .count()
    };
    let about_failures = || {
        lines("cannot accept connections: retrying")
            + lines("still cannot accept")
            + lines("accepting connections again")
    };
    eprintln!(
        "{counted} accept failures, {} log lines about them",
        about_failures()
    );
    assert_eq!(
        about_failures(),
        1,
        "one line while the streak lasts: {:#?}",
        service.log()
    );

    drop(idle);
    common::eventually("a new connection served", || match service.get("/") {
        Ok(reply) if reply.status == 200 => Ok(()),
        other => Err(format!("{other:?}")),
    });
    // Accepting the backlog the clients left may start a short streak
    // again: each streak gets one line as it starts and one as it ends.
    common::eventually("the end of every streak logged", || {
        let (started, ended) = (
            lines("cannot accept connections: retrying"),
            lines("accepting connections again"),
        );
        if ended >= 1 && ended == started {
            Ok(())
        } else {
            Err(format!("{started} started, {ended} ended"))
        }
    });
    assert_eq!(
        lines("still cannot accept"),
        0,
        "no reminder within a minute"
    );
    assert!(service.metric(EMFILE) >= counted);
    assert!(
        service
            .log()
            .iter()
            .any(|line| line.contains("above what RLIMIT_NOFILE leaves")),
        "the cap above the limit was warned about at start-up"
    );
}

/// Without an `Accept` asking for OpenMetrics, `/metrics` is the Prometheus
/// text format 0.0.4, which `promtool check metrics` accepts; asked for
/// OpenMetrics (as Prometheus's scraper does), it is OpenMetrics, ending in
/// `# EOF`.
#[test]
fn metrics_are_prometheus_text_unless_openmetrics_is_asked_for() {
    let (_dir, service) = start(|flags| flags);
    service.wait_for_message("hello");

    for accept in [None, Some("*/*"), Some("text/plain;version=0.0.4")] {
        let reply = get_with_accept(service.admin, "/metrics", accept);
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8"),
            "Accept: {accept:?}"
        );
        let text = reply.text();
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            text.contains("# TYPE build_info gauge\n")
                && text.contains("# TYPE config_reloads_total counter\n"),
            "info as a gauge, counters named with _total:\n{text}"
        );
        promtool_accepts(&text);
    }

    let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,\
                      application/openmetrics-text;version=0.0.1;q=0.4,\
                      text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    for accept in ["application/openmetrics-text", prometheus] {
        let reply = get_with_accept(service.admin, "/metrics", Some(accept));
        assert_eq!(
            reply.header("content-type"),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            "Accept: {accept}"
        );
        let text = reply.text();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# TYPE build info\n"), "{text}");
    }
}

/// Runs `promtool check metrics` on `text`; skips, saying so, without it.
fn promtool_accepts(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            eprintln!(
                "skipped promtool check: cannot run promtool ({error}); Debian's prometheus package has it"
            );
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `GET path` with an optional `Accept`, `Connection: close`.
fn get_with_accept(addr: SocketAddr, path: &str, accept: Option<&str>) -> common::Reply {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let accept = accept.map_or_else(String::new, |accept| format!("Accept: {accept}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let (head, body) = split_head(&raw).expect("an HTTP response");
    common::Reply {
        status: status(head),
        headers: head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect(),
        body: body.to_vec(),
    }
}

fn split_head(raw: &[u8]) -> Option<(&str, &[u8])> {
    let end = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    Some((std::str::from_utf8(&raw[..end]).ok()?, &raw[end + 4..]))
}

fn status(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// One kept-alive connection, for several requests in a row.
struct KeepAlive {
    stream: TcpStream,
}

impl KeepAlive {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        Self { stream }
    }

    /// `GET path`: the status and the body (every response of the service
    /// has a `Content-Length`).
    fn get(&mut self, path: &str) -> io::Result<(u16, String)> {
        write!(self.stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")?;
        let mut raw = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            if let Some((head, body)) = split_head(&raw) {
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .expect("a Content-Length");
                if body.len() >= length {
                    return Ok((status(head), String::from_utf8_lossy(body).into_owned()));
                }
            }
            match self.stream.read(&mut chunk)? {
                0 => return Err(ErrorKind::UnexpectedEof.into()),
                read => raw.extend_from_slice(&chunk[..read]),
            }
        }
    }

    /// Waits (up to the deadline) for the server to close the connection.
    fn closed_by_server(&mut self) -> bool {
        match self.stream.read(&mut [0; 64]) {
            Ok(read) => read == 0,
            Err(error) => error.kind() == ErrorKind::ConnectionReset,
        }
    }
}

/// Connections that send [`PARTIAL_HEAD`] and then nothing.
struct SlowClients {
    addr: SocketAddr,
    /// Each open one, with when it was opened.
    open: Vec<(TcpStream, Instant)>,
    opened: usize,
    renewed: usize,
    connect_failures: usize,
}

impl SlowClients {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            open: Vec::new(),
            opened: 0,
            renewed: 0,
            connect_failures: 0,
        }
    }

    /// Opens `count` more; drops the ones the server closes meanwhile, so
    /// a connection it evicts at once is not taken for one it held.
    fn open(&mut self, count: usize) {
        for opened in 1..=count {
            self.open_one();
            if opened % 256 == 0 {
                self.sweep(None);
            }
        }
    }

    fn open_one(&mut self) {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)) else {
            self.connect_failures += 1;
            return;
        };
        self.opened += 1;
        // The server may have closed it already (evicted): that is seen
        // at the next sweep.
        let _ = stream.write_all(PARTIAL_HEAD);
        stream.set_nonblocking(true).unwrap();
        self.open.push((stream, Instant::now()));
    }

    fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Drops the connections the server closed; renews those it held for
    /// at least `renew_after`, if given.
    fn sweep(&mut self, renew_after: Option<Duration>) {
        let mut renew = 0;
        self.open.retain_mut(|(stream, opened)| {
            let closed = match stream.read(&mut [0; 256]) {
                Ok(0) => true,
                Ok(_) => false,
                Err(error) => error.kind() != ErrorKind::WouldBlock,
            };
            if closed && renew_after.is_some_and(|after| opened.elapsed() >= after) {
                renew += 1;
            }
            !closed
        });
        self.renewed += renew;
        self.open(renew);
    }
}

/// What the prober saw.
#[derive(Default)]
struct Probes {
    answered: usize,
    answered_at_cap: usize,
    failures: Vec<String>,
    most_public: f64,
    most_admin: f64,
}

/// Probes `/healthz` and samples the open-connection gauges over fresh
/// connections to the admin port, as a kubelet and a scraper would, until
/// stopped.
struct Prober {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Probes>,
}

impl Prober {
    fn start(addr: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                let mut probes = Probes::default();
                let cap = common::get(addr, "/metrics")
                    .ok()
                    .and_then(|reply| common::metric(&reply.text(), MAX_PUBLIC));
                while !stop.load(Ordering::Relaxed) {
                    let at_cap = match common::get(addr, "/metrics") {
                        Ok(reply) if reply.status == 200 => {
                            let text = reply.text();
                            let public = common::metric(&text, OPEN_PUBLIC).unwrap_or(0.0);
                            let admin = common::metric(&text, OPEN_ADMIN).unwrap_or(0.0);
                            probes.most_public = probes.most_public.max(public);
                            probes.most_admin = probes.most_admin.max(admin);
                            Some(public) == cap
                        }
                        _ => false,
                    };
                    match common::get(addr, "/healthz") {
                        Ok(reply) if reply.status == 200 => {
                            probes.answered += 1;
                            probes.answered_at_cap += usize::from(at_cap);
                        }
                        Ok(reply) => probes.failures.push(format!("status {}", reply.status)),
                        Err(error) => probes.failures.push(error.to_string()),
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                probes
            }
        });
        Self { stop, thread }
    }

    fn stop(self) -> Probes {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the prober does not panic")
    }
}

/// A descriptor limit too small for the usual budget and the admin port's
/// cap: said at start with the numbers; where a few connections fit (32),
/// with 20 idle clients holding every public one `/healthz` still answers
/// on the admin port (which keeps half of what is left); where none does
/// (`prlimit --nofile=16`, about what the process holds before it serves),
/// start-up fails with one line saying so, rather than a process that looks
/// alive and answers nothing.
#[test]
fn a_tiny_descriptor_limit_is_reported_and_probes_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, reliability::yaml("hello")).unwrap();
    let flags = Flags::new(&path, "inotify");
    let said = |service: &Service, text: &str| {
        let log = service.log();
        assert!(
            log.iter().any(|line| line.contains(text)),
            "{text:?} not in {log:?}"
        );
    };

    let service = Service::spawn_with(&flags, |command| limit_open_files(command, 32)).listening();
    said(&service, "RLIMIT_NOFILE leaves almost no descriptors");
    said(&service, "open_files_limit=32");
    let _idle: Vec<TcpStream> = (0..20)
        .filter_map(|_| TcpStream::connect(service.addr).ok())
        .collect();
    for _ in 0..5 {
        let health = common::eventually("/healthz answering", || {
            service.get("/healthz").map_err(|error| error.to_string())
        });
        assert_eq!(health.status, 200);
    }
    drop(service);

    let (status, _stdout, stderr) =
        Service::spawn_with(&flags, |command| limit_open_files(command, 16)).exit();
    assert!(
        !status.success(),
        "a service that could answer nothing does not run"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(
        stderr.contains("RLIMIT_NOFILE 16 leaves no descriptor for connections")
            && stderr.contains("open before the first accept"),
        "{stderr:?}"
    );
}

/// A low soft limit under a higher hard one (1024 under 524288 is common)
/// is raised at start, as Go's runtime does: the hard limit is what the
/// operator granted.
#[test]
fn a_low_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, reliability::yaml("hello")).unwrap();
    let service = Service::spawn_with(&Flags::new(&path, "inotify"), |command| {
        limit_open_files_to(command, 32, 4096)
    })
    .listening();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", service.pid())).unwrap();
    let open_files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["4096", "4096"],
        "{open_files}"
    );
    let log = service.log();
    assert!(
        !log.iter().any(|line| line.contains("RLIMIT_NOFILE leaves")),
        "{log:?}"
    );
}

/// How many slow connections this process can hold: `wanted`, or fewer
/// (said why) if `RLIMIT_NOFILE` cannot be raised that far. The service
/// inherits the raised limit.
fn slow_client_budget(wanted: usize) -> usize {
    // The tests running beside this one, the prober, pipes, the binary.
    const OTHER_FDS: u64 = 512;
    let needed = wanted as u64 + OTHER_FDS;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write only the struct given.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit);
        if limit.rlim_cur < needed {
            let raised = libc::rlimit {
                rlim_cur: needed.max(limit.rlim_cur),
                rlim_max: needed.max(limit.rlim_max),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) == 0 {
                limit = raised;
            } else if limit.rlim_cur < limit.rlim_max {
                // Not allowed past the hard limit: up to it, then.
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit);
            }
            libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit);
        }
    }
    let budget = usize::try_from(limit.rlim_cur.saturating_sub(OTHER_FDS))
        .unwrap_or(usize::MAX)
        .min(wanted);
    if budget < wanted {
        eprintln!(
            "scaled down to {budget} slow connections: RLIMIT_NOFILE is {} and cannot be raised",
            limit.rlim_cur
        );
    }
    budget
}

/// Sets the child's `RLIMIT_NOFILE` (soft and hard) to `limit`.
fn limit_open_files(command: &mut Command, limit: u64) {
    limit_open_files_to(command, limit, limit);
}

/// Sets the child's soft and hard `RLIMIT_NOFILE`.
fn limit_open_files_to(command: &mut Command, soft: u64, hard: u64) {
    // SAFETY: setrlimit is async-signal-safe; the closure touches no other
    // state of the forked child.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
}
