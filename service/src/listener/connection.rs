//! Serving one connection: hyper's HTTP/1 server with both timeouts, the
//! app (or, in the reserve lane, only its operational paths), graceful
//! shutdown, and the reason the server closed it counted.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::http::header::{CONNECTION, RETRY_AFTER};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use tokio::net::TcpStream;
use tracing::debug;

use super::Limits;
use super::head_timeout::HeadTimeout;
use super::http_metrics::{Closed, HttpMetrics};
use super::slots::{Lane, Slot};
use crate::server::OPERATIONAL_PATHS;

/// What a connection's reader and its service share.
#[derive(Debug, Default)]
pub(super) struct ConnectionState {
    /// Request heads dispatched to the service so far.
    heads: AtomicU64,
    /// Set when the header-read timeout closed the connection.
    head_timed_out: AtomicBool,
}

impl ConnectionState {
    pub fn heads(&self) -> u64 {
        self.heads.load(Ordering::Relaxed)
    }

    /// A head was complete and handed to the service.
    pub fn dispatched(&self) {
        self.heads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn head_timed_out(&self) {
        self.head_timed_out.store(true, Ordering::Relaxed);
    }

    pub fn timed_out(&self) -> bool {
        self.head_timed_out.load(Ordering::Relaxed)
    }
}

/// What every connection is served with.
pub(super) struct Serving {
    app: Router,
    busy: Router,
    main: http1::Builder,
    reserve: http1::Builder,
    header_read_timeout: std::time::Duration,
    metrics: HttpMetrics,
}

impl Serving {
    pub fn new(app: Router, limits: &Limits, metrics: HttpMetrics) -> Self {
        let mut main = http1::Builder::new();
        // hyper's header-read timer runs whenever it waits for a head, so
        // it is the idle bound; HeadTimeout adds the header-read one.
        main.timer(TokioTimer::new())
            .header_read_timeout(limits.idle_timeout)
            .keep_alive(true);
        let mut reserve = main.clone();
        // One request per reserve connection: the slot is back at once.
        reserve.keep_alive(false);
        Self {
            app,
            busy: Router::new().fallback(busy),
            main,
            reserve,
            header_read_timeout: limits.header_read_timeout,
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
    let io = TokioIo::new(HeadTimeout::new(
        stream,
        serving.header_read_timeout,
        Arc::clone(&state),
    ));
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
    // hyper ends a connection that timed out before its first byte
    // without an error: the reader's flag says it.
    if state.timed_out() {
        serving.metrics.closed(Closed::HeaderTimeout);
    } else if let Err(error) = &served
        && error.is_timeout()
    {
        serving.metrics.closed(Closed::IdleTimeout);
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
        self.state.dispatched();
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
