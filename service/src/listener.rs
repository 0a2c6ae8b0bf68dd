//! Serving on `axum::serve`, within limits that a slow or numerous client
//! cannot push the process past.
//!
//! `axum::serve` alone sets no header-read timeout and no connection cap:
//! 10 000 clients that never finish their headers held 187 MB and every
//! file descriptor (issue 10). axum takes a custom [`Listener`]
//! (`axum::serve::Listener`), and that is where the rest goes:
//!
//! - a **cap** on open connections ([`Capped`]): one accepted at the cap is
//!   closed at once;
//! - **accept errors** (`EMFILE`, ...) counted, logged once per streak and
//!   retried with a back-off ([`accept_errors`]; axum's own listener
//!   sleeps a second and logs every failure);
//! - a **header-read timeout** and an **idle timeout** ([`timeouts`]), in
//!   the I/O the listener hands to axum: neither is configurable through
//!   `axum::serve`.
//!
//! The probes and `/metrics` have a listener of their own (`--admin-bind`)
//! with a small cap of its own: public traffic cannot crowd them out.
//!
//! [`Listener`]: axum::serve::Listener

mod accept_errors;
mod capped;
mod http_metrics;
mod timeouts;

use std::future::{Future, IntoFuture};
use std::io;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpSocket};
use tracing::warn;

pub use capped::Capped;
pub use http_metrics::{HttpMetrics, Port};

use capped::CountHeads;
use timeouts::Bounds;

/// The cap when `--max-connections` is not given, unless the file
/// descriptor limit is lower. 1 024 slow connections cost about 22 MB
/// (measured, docs/service.md), a third of the Deployment's 64 MiB memory
/// limit, and are far more than a tiny config's readers (probes, a
/// scraper, a few clients or a proxy's keep-alive pool) ever hold.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The admin port's cap: kubelet probes and a scrape need a handful.
pub const ADMIN_CONNECTIONS: usize = 32;

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
/// resolves to, with a backlog of [`BACKLOG`]; fails with why, naming it.
pub async fn bind(addr: &str) -> Result<TcpListener, String> {
    try_bind(addr)
        .await
        .map_err(|error| format!("cannot listen on {addr}: {error}"))
}

async fn try_bind(addr: &str) -> io::Result<TcpListener> {
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
    /// Open connections on the admin port: [`ADMIN_CONNECTIONS`], fewer
    /// where `RLIMIT_NOFILE` leaves less.
    pub admin_connections: usize,
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
        let (admin_connections, fds) = match limit {
            Some(limit) if limit < OTHER_FDS + ADMIN_CONNECTIONS + 1 => {
                let (admin, fit) = scarce(limit)?;
                (admin, Some(fit))
            }
            Some(limit) => (
                ADMIN_CONNECTIONS,
                Some(limit - OTHER_FDS - ADMIN_CONNECTIONS),
            ),
            None => (ADMIN_CONNECTIONS, None),
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
            admin_connections,
            header_read_timeout,
            idle_timeout,
        })
    }

    /// A listener for `port` on `tcp`, under this port's cap and both
    /// timeouts.
    pub fn listener(&self, tcp: TcpListener, port: Port, metrics: HttpMetrics) -> Capped {
        let max = match port {
            Port::Public => self.max_connections,
            Port::Admin => self.admin_connections,
        };
        let bounds = Bounds {
            header_read: self.header_read_timeout,
            idle: self.idle_timeout,
        };
        Capped::new(tcp, port, max, bounds, metrics)
    }
}

/// `RLIMIT_NOFILE` too low for [`OTHER_FDS`] and the full admin cap: what
/// is left beyond the descriptors open now, a few for config reads and one
/// for the accept that closes a connection over the cap, is shared, half to
/// the admin port first, so the probes are answered while any connection
/// can be. Said at start with the numbers: it is almost certainly a mistake
/// in the container's limits. Returns the admin cap and the public one, or,
/// where not even one connection fits, why the service cannot run.
fn scarce(limit: usize) -> Result<(usize, usize), String> {
    /// Descriptors kept for config reads, watches and wakers opened later,
    /// and for the accept that closes a connection over the cap.
    const HEADROOM: usize = 5;
    let open = std::fs::read_dir("/proc/self/fd").map_or(OTHER_FDS, |fds| fds.count() - 1);
    let spare = limit.saturating_sub(open + HEADROOM);
    let admin = (spare / 2).clamp(1, ADMIN_CONNECTIONS);
    let fit = spare.saturating_sub(admin).max(1);
    if spare < 2 {
        return Err(format!(
            "RLIMIT_NOFILE {limit} leaves no descriptor for connections ({open} open before \
             the first accept, {HEADROOM} kept for config reads): not even a probe could be \
             answered; raise the limit (`ulimit -n`, the container runtime's nofile)"
        ));
    }
    warn!(
        open_files_limit = limit,
        open_now = open,
        max_connections = fit,
        admin_connections = admin,
        wanted = DEFAULT_MAX_CONNECTIONS + ADMIN_CONNECTIONS,
        "RLIMIT_NOFILE leaves almost no descriptors for connections: serving at most \
         max_connections on the public port and admin_connections on the admin port; \
         raise the limit (`ulimit -n`, the container runtime's nofile)"
    );
    Ok((admin, fit))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard one, as Go's runtime does
/// since 1.19: the soft default (often 1024) is a relic of `select(2)`,
/// which this process never calls, and the hard limit is what the operator
/// (or the container runtime) granted. Where it fails, the soft limit stays
/// and [`Limits::new`] works within it.
pub fn raise_open_files_limit() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
}

/// The soft `RLIMIT_NOFILE`, if it is finite and fits a `usize`.
fn open_files_limit() -> Option<usize> {
    let (soft, _) = rlimit::Resource::NOFILE.get().ok()?;
    (soft != rlimit::INFINITY)
        .then(|| usize::try_from(soft).ok())
        .flatten()
}

/// Serves `app` on `listener` until `stop` completes, then stops accepting
/// (closing the listener) and completes once every connection has
/// finished its in-flight request; idle ones close at once.
pub fn serve(
    listener: Capped,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = io::Result<()>> + Send + 'static {
    axum::serve(listener, CountHeads(app))
        .with_graceful_shutdown(stop)
        .into_future()
}
