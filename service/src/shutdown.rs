//! Signals: SIGHUP reloads, SIGTERM/SIGINT drain and stop, within a bound.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use config_reload_managers::Design;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

use crate::listener::{self, Capped};
use crate::server::ServiceWatch;

/// SIGTERM (Kubernetes, systemd) and SIGINT (Ctrl-C).
pub struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// Installs every handler at once, so none of them can miss an early signal.
pub fn install() -> io::Result<(StopSignals, Signal)> {
    let stop = StopSignals {
        terminate: signal(SignalKind::terminate())?,
        interrupt: signal(SignalKind::interrupt())?,
    };
    Ok((stop, signal(SignalKind::hangup())?))
}

/// Reloads on every SIGHUP, whatever the watcher saw.
pub async fn reload_on_hangup<D: Design>(mut hangup: Signal, watch: Arc<ServiceWatch<D>>) {
    while hangup.recv().await.is_some() {
        info!("SIGHUP: reloading the config now");
        watch.reload_now();
    }
}

/// Serves every `(listener, app)` until a stop signal, then stops accepting
/// and lets in-flight requests finish for at most `drain_timeout` (axum's
/// graceful shutdown alone would wait for ever on a stalled connection).
/// Returns the moment by which everything must have stopped.
pub async fn serve<const N: usize>(
    servers: [(Capped, Router); N],
    stop: StopSignals,
    drain_timeout: Duration,
) -> Instant {
    let (stopping, stopped) = watch::channel(());
    let serving = servers.map(|(listener, app)| {
        let mut stopped = stopped.clone();
        let stop = async move {
            let _ = stopped.changed().await;
        };
        tokio::spawn(listener::serve(listener, app, stop))
    });
    let signal = stop.recv().await;
    let signalled = Instant::now();
    info!(signal, timeout = %humantime::format_duration(drain_timeout), "stopping: draining in-flight requests");
    drop(stopping);
    let drained = async {
        for server in serving {
            let _ = server.await;
        }
    };
    if tokio::time::timeout(drain_timeout, drained).await.is_err() {
        warn!("in-flight requests did not finish within the shutdown timeout: exiting anyway");
    }
    signalled + drain_timeout
}

/// Drops the watch (which joins its threads) on a plain thread, waiting at
/// most until `deadline`: a stuck watcher thread must not hold up the exit.
pub async fn stop_watch<W: Send + Sync + 'static>(watch: Arc<W>, deadline: Instant) {
    let (stopped, watch_stopped) = oneshot::channel();
    std::thread::spawn(move || {
        drop(watch);
        let _ = stopped.send(());
    });
    // Never less than a moment, so a drain that used the whole timeout
    // still gives the threads a chance to stop cleanly.
    let bound = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    if tokio::time::timeout(bound, watch_stopped).await.is_err() {
        warn!("the config watch did not stop in time: exiting anyway");
    }
}
