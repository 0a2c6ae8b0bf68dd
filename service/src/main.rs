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
//! `main` picks the manager design by name (the one type on the read path,
//! so each is its own monomorphic `run`) and passes the watcher as a value;
//! both lists come from the Cargo features (`build.rs`).
//!
//! Endpoints: `/` (the message) on `--bind`; `/healthz`, `/readyz`,
//! `/metrics` on `--admin-bind` (default `:9090`). SIGHUP
//! reloads now; SIGTERM/SIGINT drain in-flight requests, bounded by
//! `--shutdown-timeout`. See `docs/service.md`.

mod cli;
mod config;
mod listener;
mod logging;
mod metrics;
mod server;
mod shutdown;
mod sources;
mod startup;
mod variant;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use config_reload::Format;
use config_reload_managers::{Design, DesignVisitor};
use tracing::{info, warn};

use crate::cli::Cli;
use crate::listener::Port;
use crate::metrics::Metrics;
use crate::variant::{COMPILED_MANAGERS, COMPILED_WATCHERS};

#[tokio::main]
async fn main() -> ExitCode {
    match start().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            // One line: no log framing, no backtrace.
            eprintln!("service: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Chooses the variant, then serves it; why it could not start, if not.
async fn start() -> Result<(), String> {
    let cli = Cli::parse();
    listener::raise_open_files_limit();
    let watcher = variant::choose("watcher", cli.watcher.as_deref(), COMPILED_WATCHERS)?;
    let manager = variant::choose("manager", cli.manager.as_deref(), COMPILED_MANAGERS)?;
    logging::init(cli.log_format);
    // The manager is the one type on the read path: one monomorphic `serve`
    // per design, chosen by name; the watcher is a value.
    config_reload_managers::design::visit(manager, Serve { cli, watcher })
        .ok_or_else(|| format!("the {manager} manager is not in the managers crate"))?
        .await
}

/// `serve` for the design chosen at run time.
struct Serve {
    cli: Cli,
    watcher: &'static str,
}

impl DesignVisitor for Serve {
    type Output = Pin<Box<dyn Future<Output = Result<(), String>>>>;

    fn visit<D: Design>(self) -> Self::Output {
        Box::pin(serve::<D>(self.cli, self.watcher))
    }
}

/// Starts the watch, serves until SIGTERM/SIGINT, then drains and stops;
/// why it could not start, if not.
async fn serve<D: Design>(cli: Cli, watcher: &'static str) -> Result<(), String> {
    // Installed before anything is announced: a signal sent as soon as the
    // listening line appears must find its handler.
    let (stop, hangup) =
        shutdown::install().map_err(|error| format!("cannot install signal handlers: {error}"))?;
    let (source, builder) = sources::builder(&cli, watcher)
        .map_err(|error| format!("cannot choose a watcher: {error}"))?;
    let options = cli.watch_options();
    let metrics = Arc::new(Metrics::new(
        config_reload_managers::design::name::<D>(),
        watcher,
    ));
    let builder = builder
        .manager::<D>()
        // The service's config is YAML whatever the file is called.
        .format(Format::Yaml)
        .validate(crate::config::ServiceConfig::validate)
        .options(options.clone())
        .observer(Arc::clone(&metrics) as _);
    // Said before the first read: if the filesystem hangs there, this line
    // and the warning below are what an operator sees.
    info!(config = %cli.config.display(), "loading the initial config");
    let starting = tokio::task::spawn_blocking(move || builder.start());
    let watch = startup::wait_for(starting, options.stuck_after, &cli.config)
        .await
        .map_err(|error| format!("cannot start: {error}"))?
        .map_err(|error| format!("cannot start: {}", start_error(&error, &cli.config)))?;
    let watch = Arc::new(watch);
    let public = listener::bind(&cli.bind).await?;
    let admin = listener::bind(&cli.admin_bind).await?;
    // After binding: the descriptors open now are counted against the limit.
    let limits = listener::Limits::new(
        cli.max_connections,
        cli.header_read_timeout,
        cli.idle_timeout,
    )?;
    info!(
        version = env!("CARGO_PKG_VERSION"),
        manager = watch.manager(),
        watcher = watch.sources().iter().map(|(name, _)| *name).collect::<Vec<_>>().join("+"),
        config = %cli.config.display(),
        config_version = watch.get().version(),
        "service starting"
    );
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        && source.has_files()
        && !source.is_configmap_mount()
    {
        warn!(
            dir = %source.dir().display(),
            "running in Kubernetes but the config directory is not a ConfigMap volume (no ..data): \
             a subPath mount is never updated, so changes will not be seen"
        );
    }
    let local = |tcp: &tokio::net::TcpListener, bind: &str| {
        tcp.local_addr()
            .map_or_else(|_| bind.to_owned(), |addr| addr.to_string())
    };
    info!(
        addr = %local(&public, &cli.bind),
        admin_addr = %local(&admin, &cli.admin_bind),
        "listening"
    );
    info!(
        max_connections = limits.max_connections,
        admin_connections = limits.admin_connections,
        header_read_timeout = %humantime::format_duration(limits.header_read_timeout),
        idle_timeout = %humantime::format_duration(limits.idle_timeout),
        "connection limits"
    );

    let reloader = tokio::spawn(shutdown::reload_on_hangup(hangup, Arc::clone(&watch)));
    let state = server::AppState::new(
        Arc::clone(&watch),
        Arc::clone(&metrics),
        options.stuck_after,
    );
    let servers = [
        (
            limits.listener(public, Port::Public, metrics.http.clone()),
            server::router(state.clone()),
        ),
        (
            limits.listener(admin, Port::Admin, metrics.http.clone()),
            server::admin_router(state),
        ),
    ];
    let deadline = shutdown::serve(servers, stop, cli.shutdown_timeout).await;
    reloader.abort();
    let _ = reloader.await;
    shutdown::stop_watch(watch, deadline).await;
    Ok(())
}

/// The start-up error, naming the configured path even when the library
/// reports a resolved one (`..data/...`). One line: the library's own
/// reasons are, and so is `ServiceConfig::validate`'s (a validator of
/// another program's could put a newline in its message).
fn start_error(error: &config_reload::StartError, config: &std::path::Path) -> String {
    let (message, configured) = (error.to_string(), config.display().to_string());
    if message.contains(&configured) {
        message
    } else {
        format!("{configured}: {message}")
    }
}
