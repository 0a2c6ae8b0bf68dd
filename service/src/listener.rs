//! Accepting connections and serving each with hyper, within limits that a
//! slow or numerous client cannot push the process past.
//!
//! `axum::serve` sets no header-read timeout and no connection cap, and
//! logs no accept error: 10 000 clients that never finish their headers
//! held 187 MB and every file descriptor (issue 10). Here, per connection:
//!
//! - a **header-read timeout** and an **idle timeout** ([`timeouts`]): a
//!   request head must be complete within the first of its first byte (of
//!   the accept, for a connection's first request); a connection neither
//!   reading a head nor running a handler is closed the second after the
//!   last byte it wrote;
//! - a **cap** on open connections ([`slots`]), with a small reserve above
//!   it that serves only the operational paths, so a liveness probe is
//!   answered while the cap is reached;
//! - **accept errors** (`EMFILE`, ...) counted, logged once per streak and
//!   retried with a back-off ([`accept_errors`]).
//!
//! A request that arrives whole costs one relaxed atomic add (the dispatch
//! count), a clock read at its response's write and a few relaxed loads;
//! the rest of the accounting is per connection.

mod accept_errors;
mod connection;
mod http_metrics;
mod slots;
mod timeouts;

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tracing::{info, warn};

pub use http_metrics::HttpMetrics;

use accept_errors::AcceptErrors;
use connection::{ConnectionState, Serving};
use slots::{Lane, Slots};

/// The cap when `--max-connections` is not given, unless the file
/// descriptor limit is lower. 1 024 slow connections cost about 22 MB
/// (measured, docs/service.md), a third of the Deployment's 64 MiB memory
/// limit, and are far more than a tiny config's readers (probes, a
/// scraper, a few clients or a proxy's keep-alive pool) ever hold.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Connections accepted above the cap that serve only the operational
/// paths (the probes and `/metrics`). Kubelet probes and a scrape need
/// a handful; the rest lets a probe survive that many newer connections
/// arriving while its request is in flight (see [`slots`]).
pub const RESERVE: usize = 32;

/// File descriptors the process needs besides connections: stdio, the
/// listener, the runtime's epoll and wakers, inotify, the config reads.
const OTHER_FDS: usize = 64;

/// The listen backlog: connections the kernel completes before they are
/// accepted. std and mio ask for 128, which a burst overflows while the
/// accept loop is busy; the kernel then drops SYNs and a client (a probe)
/// waits a second for its retransmit. Linux caps it at
/// `net.core.somaxconn` (4096 by default since 5.4).
const BACKLOG: u32 = 1024;

/// Binds a listener on `addr` (`host:port`), trying each address it
/// resolves to, with a backlog of [`BACKLOG`].
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    }))
}

/// What bounds the connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections served in full.
    pub max_connections: usize,
    /// Connections above the cap that serve only the operational paths:
    /// [`RESERVE`], fewer where `RLIMIT_NOFILE` leaves less.
    pub reserve: usize,
    /// First byte (or accept) to the end of a request head.
    pub header_read_timeout: Duration,
    /// The last byte written to the next request's first byte, while no
    /// handler runs.
    pub idle_timeout: Duration,
}

impl Limits {
    /// `max_connections` as given, or the default lowered to what
    /// `RLIMIT_NOFILE` leaves for connections. A cap given above that limit
    /// is kept (the operator may raise the limit later) but warned about:
    /// past it, accepts fail with `EMFILE`.
    ///
    /// Fails, with the numbers, where the limit leaves no descriptor for a
    /// connection: such a process could not answer even its probes, and
    /// running it would only look alive.
    pub fn new(
        max_connections: Option<usize>,
        header_read_timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<Self, String> {
        let limit = open_files_limit();
        let (reserve, fds) = match limit {
            Some(limit) if limit < OTHER_FDS + RESERVE + 1 => {
                let (reserve, fit) = scarce(limit)?;
                (reserve, Some(fit))
            }
            Some(limit) => (RESERVE, Some(limit - OTHER_FDS - RESERVE)),
            None => (RESERVE, None),
        };
        let max_connections = match (max_connections, fds) {
            (Some(max), Some(fds)) if max > fds => {
                warn!(
                    max_connections = max,
                    open_files_limit = limit,
                    "the connection cap is above what RLIMIT_NOFILE leaves for connections: \
                     accepts will fail with EMFILE before it is reached"
                );
                max
            }
            (Some(max), _) => max,
            (None, Some(fds)) => DEFAULT_MAX_CONNECTIONS.min(fds).max(1),
            (None, None) => DEFAULT_MAX_CONNECTIONS,
        };
        Ok(Self {
            max_connections,
            reserve,
            header_read_timeout,
            idle_timeout,
        })
    }
}

/// `RLIMIT_NOFILE` too low for [`OTHER_FDS`] and the full reserve: what is
/// left beyond the descriptors open now, a few for config reads and one for
/// the accept that evicts a reserve connection, is shared, half to the
/// reserve first, so the probes are answered while any connection can be.
/// Said at start with the numbers: it is almost certainly a mistake in the
/// container's limits. Returns the reserve and the connections served in
/// full, or, where not even one connection fits, why the service cannot run.
fn scarce(limit: usize) -> Result<(usize, usize), String> {
    /// Descriptors kept for config reads, watches and wakers opened later,
    /// and for the accept that evicts a reserve connection.
    const HEADROOM: usize = 5;
    let open = std::fs::read_dir("/proc/self/fd").map_or(OTHER_FDS, |fds| fds.count() - 1);
    let spare = limit.saturating_sub(open + HEADROOM);
    let reserve = (spare / 2).clamp(1, RESERVE);
    let fit = spare.saturating_sub(reserve).max(1);
    if spare < 2 {
        return Err(format!(
            "RLIMIT_NOFILE {limit} leaves no descriptor for connections ({open} open before \
             the first accept, {HEADROOM} kept for config reads): not even a probe could be \
             answered; raise the limit (`ulimit -n`, the container runtime's nofile)"
        ));
    }
    {
        warn!(
            open_files_limit = limit,
            open_now = open,
            max_connections = fit,
            reserve,
            wanted = DEFAULT_MAX_CONNECTIONS + RESERVE,
            "RLIMIT_NOFILE leaves almost no descriptors for connections: serving at most \
             max_connections in full and reserve more for the probes and /metrics; raise the \
             limit (`ulimit -n`, the container runtime's nofile)"
        );
    }
    Ok((reserve, fit))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard one, as Go's runtime does
/// since 1.19: the soft default (often 1024) is a relic of `select(2)`,
/// which this process never calls, and the hard limit is what the operator
/// (or the container runtime) granted.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write only the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) == 0
            && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit);
        }
    }
}

/// The soft `RLIMIT_NOFILE`, if it is finite and fits a `usize`.
fn open_files_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    (read == 0 && limit.rlim_cur != libc::RLIM_INFINITY)
        .then(|| usize::try_from(limit.rlim_cur).ok())
        .flatten()
}

/// The connections still open once accepting stopped.
pub struct Open {
    graceful: GracefulShutdown,
}

impl Open {
    /// Asks every connection to finish its in-flight request and close
    /// (idle ones close at once); completes when all have.
    pub async fn drain(self) {
        self.graceful.shutdown().await;
    }
}

/// Accepts and serves `app` until `stop` completes; returns what `stop`
/// returned and the connections still open. The listener is closed on
/// return, so new connections are refused from then on.
pub async fn serve_until<T>(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    metrics: HttpMetrics,
    stop: impl Future<Output = T>,
) -> (T, Open) {
    info!(
        max_connections = limits.max_connections,
        reserve = limits.reserve,
        header_read_timeout = %humantime::format_duration(limits.header_read_timeout),
        idle_timeout = %humantime::format_duration(limits.idle_timeout),
        "connection limits"
    );
    let graceful = GracefulShutdown::new();
    let serving = Arc::new(Serving::new(app, &limits, metrics.clone()));
    let mut slots = Slots::new(limits.max_connections, limits.reserve, metrics.clone());
    let mut errors = AcceptErrors::new(metrics);
    let mut stop = pin!(stop);
    let stopped = loop {
        let accepted = tokio::select! {
            biased;
            stopped = &mut stop => break stopped,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                errors.accepted();
                stream
            }
            Err(error) => {
                if let Some(pause) = errors.failed(&error) {
                    tokio::select! {
                        biased;
                        stopped = &mut stop => break stopped,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
                continue;
            }
        };
        // Waits only while an evicted reserve connection closes.
        let slot = tokio::select! {
            biased;
            stopped = &mut stop => break stopped,
            slot = slots.admit() => slot,
        };
        let Some(slot) = slot else {
            // Every slot is answering a request: closing now tells the
            // client at once, where leaving it in the backlog would not.
            drop(stream);
            continue;
        };
        let lane = slot.lane();
        let state = Arc::new(ConnectionState::default());
        let task = tokio::spawn(connection::serve(
            stream,
            lane,
            Arc::clone(&serving),
            Arc::clone(&state),
            graceful.watcher(),
            slot,
        ));
        if lane == Lane::Reserve {
            slots.track_reserve(task.abort_handle(), state);
            // Let the connections just admitted read their requests before
            // more arrive to evict them.
            tokio::task::yield_now().await;
        }
    };
    drop(listener);
    (stopped, Open { graceful })
}
