//! Serving one connection: hyper's HTTP/1 server with both timeouts, the
//! app (or, in the reserve lane, only its operational paths), graceful
//! shutdown, and the reason the server closed it counted.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use axum::Router;
use axum::http::header::{CONNECTION, RETRY_AFTER};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use tokio::net::TcpStream;
use tracing::debug;

use super::Limits;
use super::http_metrics::HttpMetrics;
use super::slots::{Lane, Slot};
use super::timeouts::{Bounds, TimedIo, Timeout};
use crate::server::OPERATIONAL_PATHS;

/// What a connection's timeouts and its service share.
#[derive(Debug, Default)]
pub(super) struct ConnectionState {
    /// Request heads handed to the service so far.
    dispatched: AtomicU64,
    /// Which timeout closed the connection: 0 (none), 1 (header-read) or
    /// 2 (idle).
    closed_for: AtomicU8,
}

impl ConnectionState {
    pub fn dispatched(&self) -> u64 {
        self.dispatched.load(Ordering::Relaxed)
    }

    /// A head was complete and handed to the service.
    pub fn dispatched_one(&self) {
        self.dispatched.fetch_add(1, Ordering::Relaxed);
    }

    pub fn timed_out(&self, timeout: Timeout) {
        let code = match timeout {
            Timeout::HeaderRead => 1,
            Timeout::Idle => 2,
        };
        self.closed_for.store(code, Ordering::Relaxed);
    }

    /// Which timeout closed the connection, if one did.
    pub fn closed_for(&self) -> Option<Timeout> {
        match self.closed_for.load(Ordering::Relaxed) {
            1 => Some(Timeout::HeaderRead),
            2 => Some(Timeout::Idle),
            _ => None,
        }
    }
}

/// What every connection is served with.
pub(super) struct Serving {
    app: Router,
    busy: Router,
    main: http1::Builder,
    reserve: http1::Builder,
    bounds: Bounds,
    metrics: HttpMetrics,
}

impl Serving {
    pub fn new(app: Router, limits: &Limits, metrics: HttpMetrics) -> Self {
        let mut main = http1::Builder::new();
        // Both timeouts are TimedIo's: hyper's own header-read timer would
        // bound idle time with it, and cost a timer a request.
        main.header_read_timeout(None).keep_alive(true);
        let mut reserve = main.clone();
        // One request per reserve connection: the slot is back at once.
        reserve.keep_alive(false);
        Self {
            app,
            busy: Router::new().fallback(busy),
            main,
            reserve,
            bounds: Bounds {
                header_read: limits.header_read_timeout,
                idle: limits.idle_timeout,
            },
            metrics,
        }
    }
}

/// What a reserve connection answers outside the operational paths.
async fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (CONNECTION, HeaderValue::from_static("close")),
            (RETRY_AFTER, HeaderValue::from_static("1")),
        ],
        "busy: the connection limit is reached, try again\n",
    )
        .into_response()
}

/// Serves `stream` until it closes, holding `slot` for as long.
pub(super) async fn serve(
    stream: TcpStream,
    lane: Lane,
    serving: Arc<Serving>,
    state: Arc<ConnectionState>,
    graceful: Watcher,
    slot: Slot,
) {
    let io = TokioIo::new(TimedIo::new(stream, serving.bounds, Arc::clone(&state)));
    let builder = match lane {
        Lane::Main => &serving.main,
        Lane::Reserve => &serving.reserve,
    };
    let service = Dispatch {
        serving: Arc::clone(&serving),
        state: Arc::clone(&state),
        lane,
    };
    let served = graceful.watch(builder.serve_connection(io, service)).await;
    // hyper ends a connection that timed out before a request's first
    // byte without an error: the state says it.
    if let Some(timeout) = state.closed_for() {
        serving.metrics.closed(timeout.into());
    }
    if let Err(error) = served {
        debug!(%error, "connection ended with an error");
    }
    drop(slot);
}

/// Counts the head, then routes it.
struct Dispatch {
    serving: Arc<Serving>,
    state: Arc<ConnectionState>,
    lane: Lane,
}

impl hyper::service::Service<Request<Incoming>> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.state.dispatched_one();
        let router =
            if self.lane == Lane::Reserve && !OPERATIONAL_PATHS.contains(&request.uri().path()) {
                &self.serving.busy
            } else {
                &self.serving.app
            };
        // A `Router` clone is one reference count, as in `axum::serve`.
        tower_service::Service::call(&mut router.clone(), request)
    }
}
