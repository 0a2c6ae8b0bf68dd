//! The command line. Every flag is also an environment variable, so a
//! Kubernetes Deployment can set any of them without a command override.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use config_reload::WatchOptions;

use clap::builder::PossibleValuesParser;

use crate::variant::{COMPILED_MANAGERS, COMPILED_WATCHERS};

/// Serve the `message` of a YAML config over HTTP, reloading it when the
/// file changes.
#[derive(Debug, Parser)]
#[command(name = "service", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SERVICE_VARIANT"), ")"))]
pub struct Cli {
    /// The YAML config to serve (relative to the working directory).
    #[arg(long, env = "CONFIG_FILE", default_value = "config/config.yaml")]
    pub config: PathBuf,

    /// The address to listen on (`127.0.0.1:0` picks a free port; the bound
    /// address is logged).
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0:8080")]
    pub bind: String,

    /// The address serving `/healthz`, `/readyz` and `/metrics`, for the
    /// kubelet and the scraper: a port of its own, so public traffic cannot
    /// crowd out the probes.
    #[arg(long, env = "ADMIN_BIND", default_value = "0.0.0.0:9090")]
    pub admin_bind: String,

    /// Log lines as human-readable text or as JSON objects.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How often the poll watcher checks the file.
    #[arg(long, env = "POLL_INTERVAL", default_value_t = shown(library().poll_interval))]
    pub poll_interval: humantime::Duration,

    /// An in-place write whose writer never closes the file is reloaded after
    /// this long without another write.
    #[arg(long, env = "UNCLOSED_WRITE_TIMEOUT", default_value_t = shown(library().debounce.unclosed_write_timeout))]
    pub unclosed_write_timeout: humantime::Duration,

    /// The poll watcher reloads an in-place change once the file stayed the
    /// same for this long.
    #[arg(long, env = "POLL_SETTLE", default_value_t = shown(library().debounce.poll_settle))]
    pub poll_settle: humantime::Duration,

    /// A reload running longer than this is logged (once) and shown in
    /// `/readyz`'s body: its filesystem may be hung.
    #[arg(long, env = "STUCK_RELOAD_AFTER", default_value_t = shown(library().stuck_after))]
    pub stuck_reload_after: humantime::Duration,

    /// Re-read and compare the config this often, to catch changes no event
    /// announced (`0` turns it off).
    #[arg(long, env = "RESYNC_INTERVAL", default_value_t = shown(library().resync_interval.unwrap_or_default()))]
    pub resync_interval: humantime::Duration,

    /// Reject a config larger than this many bytes without reading it.
    #[arg(long, env = "MAX_CONFIG_BYTES", default_value_t = library().max_config_bytes)]
    pub max_config_bytes: u64,

    /// On SIGTERM/SIGINT, wait at most this long for in-flight requests.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Close a connection whose request head is not complete this long
    /// after its first byte (after the accept, for its first request).
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub header_read_timeout: Duration,

    /// Close a connection that is neither reading a request head nor
    /// running a handler this long after the last byte it wrote.
    #[arg(long, env = "IDLE_TIMEOUT", default_value = "75s", value_parser = positive_duration)]
    pub idle_timeout: Duration,

    /// Serve at most this many connections on the public port at once; one
    /// more is closed at accept [default: 1024, fewer if RLIMIT_NOFILE is
    /// lower].
    #[arg(long, env = "MAX_CONNECTIONS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: Option<usize>,

    /// Which config manager to use (only needed when several are compiled in).
    #[arg(long, env = "MANAGER", value_parser = PossibleValuesParser::new(COMPILED_MANAGERS))]
    pub manager: Option<String>,

    /// The ConfigMap to watch through the Kubernetes API as well (with
    /// `--watcher kube`, this or `--secret` is required): the API decides
    /// while it can deliver, the volume carries on when it cannot.
    #[arg(long, env = "CONFIGMAP", conflicts_with = "secret")]
    pub configmap: Option<String>,

    /// The Secret to watch through the Kubernetes API instead of a
    /// ConfigMap: the same, for a Secret's `data`. Its content never
    /// appears in a log line, a metric or an error.
    #[arg(long, env = "SECRET")]
    pub secret: Option<String>,

    /// The object's namespace [default: the pod's own, from its service
    /// account, else the kubeconfig context's].
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,

    /// The object's key holding the config [default: the file name of
    /// `--config`, which is what the volume names it].
    #[arg(long, env = "CONFIGMAP_KEY")]
    pub key: Option<String>,

    /// How long an API watch may send nothing (no event, no bookmark, no
    /// end) before its connection is presumed dead and the object listed
    /// again [default: the library's, 45s].
    #[arg(long, env = "KUBE_SILENCE_TIMEOUT", value_parser = positive_duration)]
    pub kube_silence_timeout: Option<Duration>,

    /// Beside the volume: how far behind the API the volume may be before a
    /// disagreement is reported, and how long the API must have been
    /// unable to deliver before the volume is served alone [default: the
    /// library's, 2m].
    #[arg(long, env = "VOLUME_LAG", value_parser = humantime::parse_duration)]
    pub volume_lag: Option<Duration>,

    /// Which watcher to use (only needed when several are compiled in):
    /// `inotify`, `notify`, `poll`, or `kube` (the API, plus the volume at
    /// `--config` when it is there).
    #[arg(long, env = "WATCHER", value_parser = PossibleValuesParser::new(COMPILED_WATCHERS))]
    pub watcher: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A humantime duration above zero: a timeout of zero would close every
/// connection at once.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be more than zero".to_owned()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(error.to_string()),
    }
}

/// The watchers crate's defaults: the flags' defaults are read from here,
/// never restated.
fn library() -> WatchOptions {
    WatchOptions::default()
}

fn shown(duration: Duration) -> humantime::Duration {
    duration.into()
}

impl Cli {
    /// The watch options the flags say.
    pub fn watch_options(&self) -> WatchOptions {
        let mut options = library();
        options.debounce.unclosed_write_timeout = *self.unclosed_write_timeout;
        options.debounce.poll_settle = *self.poll_settle;
        options.resync_interval = Some(*self.resync_interval).filter(|every| !every.is_zero());
        options.poll_interval = *self.poll_interval;
        options.max_config_bytes = self.max_config_bytes;
        options.stuck_after = *self.stuck_reload_after;
        options
    }
}
