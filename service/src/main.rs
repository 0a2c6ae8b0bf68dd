//! Serve the live config over HTTP, reloading it when its file changes.
//!
//! One manager (how the config is shared with request handlers) and one
//! watcher (how changes are noticed) are compiled in by Cargo features; the
//! default pair is `arcswap` + `inotify`:
//!
//! ```text
//! cargo run                                   # arcswap + inotify, serves config/config.yaml on :8080
//! cargo run --features inotify,arcswap        # the same pair, named
//! cargo run -p service --no-default-features --features poll,mutex -- --bind 127.0.0.1:9000
//! curl -i localhost:8080/                     # the message, X-Config-Version, ETag
//! ```
//!
//! Endpoints: `/` (the message), `/healthz`, `/readyz`, `/metrics`. SIGHUP
//! reloads now; SIGTERM/SIGINT drain in-flight requests, bounded by
//! `--shutdown-timeout`. See `docs/service.md`.

mod cli;
mod config;
mod listener;
mod logging;
mod metrics;
mod observer;
mod server;
mod shutdown;
mod startup;
mod streak;
mod variant;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use managers::ConfigManager;
use tracing::{info, warn};
use watchers::{ConfigSource, Loaded, Strategy, Watch, YamlFile};

use crate::cli::Cli;
use crate::config::ServiceConfig;
use crate::metrics::{Metrics, one_line};
use crate::observer::ReloadObserver;
use crate::server::ServiceWatch;
use crate::variant::{ManagerKind, WatcherKind};

/// Dispatches on the manager for one strategy: one monomorphic `run` per pair, so the
/// read path has no dynamic dispatch. A macro rather than a generic fn so
/// every pair's bounds are checked on the concrete types.
macro_rules! with_manager {
    ($strategy:ty, $manager:expr, $cli:expr) => {
        match $manager {
            #[cfg(manager_mutex)]
            ManagerKind::Mutex => {
                run::<$strategy, managers::MutexManager<Loaded<ServiceConfig>>>($cli).await
            }
            #[cfg(manager_rwlock)]
            ManagerKind::RwLock => {
                run::<$strategy, managers::RwLockManager<Loaded<ServiceConfig>>>($cli).await
            }
            #[cfg(manager_arcswap)]
            ManagerKind::ArcSwap => {
                run::<$strategy, managers::ArcSwapManager<Loaded<ServiceConfig>>>($cli).await
            }
            #[cfg(manager_channel)]
            ManagerKind::Channel => {
                run::<$strategy, managers::ChannelManager<Loaded<ServiceConfig>>>($cli).await
            }
            #[cfg(manager_watch)]
            ManagerKind::Watch => {
                run::<$strategy, managers::WatchManager<Loaded<ServiceConfig>>>($cli).await
            }
        }
    };
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (watcher, manager) = match (variant::choose(cli.watcher), variant::choose(cli.manager)) {
        (Ok(watcher), Ok(manager)) => (watcher, manager),
        (Err(error), _) => return fail(format_args!("cannot choose a watcher: {error}")),
        (_, Err(error)) => return fail(format_args!("cannot choose a manager: {error}")),
    };
    logging::init(cli.log_format);
    match watcher {
        #[cfg(watcher_notify)]
        WatcherKind::Notify => with_manager!(watchers::NotifyWatcher, manager, cli),
        #[cfg(watcher_inotify)]
        WatcherKind::Inotify => with_manager!(watchers::InotifyWatcher, manager, cli),
        #[cfg(watcher_poll)]
        WatcherKind::Poll => with_manager!(watchers::PollWatcher, manager, cli),
    }
}

/// Starts the watch, serves until SIGTERM/SIGINT, then drains and stops.
async fn run<S, M>(cli: Cli) -> ExitCode
where
    S: Strategy,
    M: ConfigManager<Loaded<ServiceConfig>>,
    ServiceWatch<S, M>: Send + Sync,
{
    // Installed before anything is announced: a signal sent as soon as the
    // listening line appears must find its handler.
    let (stop, hangup) = match shutdown::install() {
        Ok(signals) => signals,
        Err(error) => return fail(format_args!("cannot install signal handlers: {error}")),
    };
    let metrics = Arc::new(Metrics::new(M::NAME, S::NAME));
    let source = ConfigSource::file(&cli.config);
    let observer = Arc::new(ReloadObserver::new(Arc::clone(&metrics)));
    // Said before the first read: if the filesystem hangs there, this line
    // and the warning below are what an operator sees.
    info!(config = %cli.config.display(), "loading the initial config");
    let starting = tokio::task::spawn_blocking({
        let (source, options) = (source.clone(), cli.watch_options());
        move || Watch::<S, ServiceConfig, M>::start(source, YamlFile::new(), options, observer)
    });
    let started = match startup::wait_for(starting, cli.stuck_reload_after, &cli.config).await {
        Ok(started) => started,
        Err(error) => return fail(format_args!("cannot start: {error}")),
    };
    let watch = match started {
        Ok(watch) => Arc::new(watch),
        Err(error) => {
            return fail(format_args!(
                "cannot start: {}",
                start_error(&error, &cli.config)
            ));
        }
    };
    let listener = match listener::bind(&cli.bind).await {
        Ok(listener) => listener,
        Err(error) => return fail(format_args!("cannot listen on {}: {error}", cli.bind)),
    };

    info!(
        version = env!("CARGO_PKG_VERSION"),
        manager = M::NAME,
        watcher = S::NAME,
        config = %cli.config.display(),
        config_version = watch.manager().version(),
        "service starting"
    );
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() && !source.is_configmap_mount() {
        warn!(
            dir = %source.dir.display(),
            "running in Kubernetes but the config directory is not a ConfigMap volume (no ..data): \
             a subPath mount is never updated, so changes will not be seen"
        );
    }
    let addr = listener
        .local_addr()
        .map_or_else(|_| cli.bind.clone(), |addr| addr.to_string());
    info!(%addr, "listening");

    let reloader = tokio::spawn(shutdown::reload_on_hangup(hangup, Arc::clone(&watch)));
    let limits = listener::Limits::new(
        cli.max_connections,
        cli.header_read_timeout,
        cli.idle_timeout,
    );
    let http_metrics = metrics.http.clone();
    let app = server::router(Arc::clone(&watch), metrics, cli.stuck_reload_after);
    let deadline = shutdown::serve(
        listener,
        app,
        limits,
        http_metrics,
        stop,
        cli.shutdown_timeout,
    )
    .await;
    reloader.abort();
    let _ = reloader.await;
    shutdown::stop_watch(watch, deadline).await;
    ExitCode::SUCCESS
}

/// The start-up error on one line, naming the configured path even when the
/// watchers crate reports a resolved one (`..data/...`).
fn start_error(error: &watchers::StartError, config: &std::path::Path) -> String {
    let error = error.to_string();
    let message = one_line(&error);
    let configured = config.display().to_string();
    if message.contains(&configured) {
        message.to_owned()
    } else {
        format!("{configured}: {message}")
    }
}

/// The one line a failed start-up prints: no log framing, no backtrace.
fn fail(message: std::fmt::Arguments<'_>) -> ExitCode {
    eprintln!("service: {message}");
    ExitCode::FAILURE
}
