//! axum's [`Listener`] with a cap: a connection holds a permit for as long
//! as it is open, and one accepted at the cap is closed at once (the client
//! knows now, where one left in the backlog would wait for a slot and a
//! connect timeout). Failed accepts are counted, logged once per streak and
//! retried after a back-off ([`AcceptErrors`]).
//!
//! [`CountHeads`] is the make-service that tells each connection's
//! [`TimedIo`] when hyper has dispatched a request head.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::serve::{IncomingStream, Listener};
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_service::Service;
use tracing::{info, warn};

use super::accept_errors::AcceptErrors;
use super::http_metrics::{HttpMetrics, Port};
use super::timeouts::{Bounds, ConnectionState, TimedIo};
use config_reload::streak::{Ended, Report, Streak};

/// How long the cap must not be reached before "below the cap again" is
/// logged: slow clients timed out in waves make the cap come and go.
const CAP_QUIET: Duration = Duration::from_secs(10);

/// A TCP listener that admits at most `max` connections at once.
pub struct Capped {
    tcp: TcpListener,
    port: Port,
    max: usize,
    permits: Arc<Semaphore>,
    bounds: Bounds,
    metrics: HttpMetrics,
    errors: AcceptErrors,
    over_cap: Streak,
}

impl Capped {
    pub(super) fn new(
        tcp: TcpListener,
        port: Port,
        max: usize,
        bounds: Bounds,
        metrics: HttpMetrics,
    ) -> Self {
        metrics.set_max(port, max);
        Self {
            tcp,
            port,
            max,
            permits: Arc::new(Semaphore::new(max)),
            bounds,
            errors: AcceptErrors::new(metrics.clone()),
            metrics,
            over_cap: Streak::default(),
        }
    }

    fn at_cap(&mut self) {
        self.metrics.rejected(self.port);
        match self.over_cap.event(Instant::now()) {
            Report::Started => warn!(
                port = self.port.label(),
                max_connections = self.max,
                "connection cap reached: new connections are closed at once until some close"
            ),
            Report::Ongoing { count, lasted } => warn!(
                port = self.port.label(),
                rejected = count,
                lasted = %humantime::format_duration(Duration::from_secs(lasted.as_secs())),
                "connection cap still reached"
            ),
            Report::Quiet => {}
        }
    }

    fn below_cap(&mut self) {
        // Checked first: an admission costs a branch, not a clock read.
        if !self.over_cap.is_on() {
            return;
        }
        if let Some(Ended { count, lasted }) = self.over_cap.end_if_quiet(Instant::now(), CAP_QUIET)
        {
            info!(
                port = self.port.label(),
                rejected = count,
                lasted = %humantime::format_duration(Duration::from_secs(lasted.as_secs())),
                "below the connection cap again"
            );
        }
    }
}

impl Listener for Capped {
    type Io = TimedIo<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, peer) = match self.tcp.accept().await {
                Ok(accepted) => {
                    self.errors.accepted();
                    accepted
                }
                Err(error) => {
                    if let Some(pause) = self.errors.failed(&error) {
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
                self.at_cap();
                continue; // `stream` is dropped: closed at once.
            };
            self.below_cap();
            let slot = Slot::new(self.port, self.metrics.clone(), permit);
            let state = Arc::new(ConnectionState::new(Some(slot)));
            return (TimedIo::new(stream, self.bounds, state), peer);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A connection's place under the cap; released (and the gauge lowered)
/// when the connection's state is dropped.
pub(super) struct Slot {
    open: Gauge,
    metrics: HttpMetrics,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn new(port: Port, metrics: HttpMetrics, permit: OwnedSemaphorePermit) -> Self {
        metrics.accepted(port);
        let open = metrics.open(port);
        open.inc();
        Self {
            open,
            metrics,
            _permit: permit,
        }
    }

    pub fn metrics(&self) -> &HttpMetrics {
        &self.metrics
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Before the permit goes: the gauge never shows more than the cap.
        self.open.dec();
    }
}

/// axum's make-service for a [`Capped`] listener: `app`, with each request
/// head counted into its connection's state as hyper dispatches it.
#[derive(Clone)]
pub struct CountHeads(pub Router);

impl Service<IncomingStream<'_, Capped>> for CountHeads {
    type Response = Counted;
    type Error = Infallible;
    type Future = Ready<Result<Counted, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, incoming: IncomingStream<'_, Capped>) -> Self::Future {
        ready(Ok(Counted {
            app: self.0.clone(),
            state: incoming.io().state(),
        }))
    }
}

/// One connection's service. A clone (per request, by axum) is two
/// reference counts.
#[derive(Clone)]
pub struct Counted {
    app: Router,
    state: Arc<ConnectionState>,
}

impl Service<Request> for Counted {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.state.dispatched_one();
        self.app.call(request)
    }
}
