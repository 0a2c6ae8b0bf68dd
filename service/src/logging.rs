//! tracing, wired once: `RUST_LOG` filters (default `info`), `--log-format`
//! chooses text or JSON lines, on stdout (stderr is kept for the one-line
//! start-up error).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber.
pub fn init(format: LogFormat) {
    // kube-rs logs every failed request at ERROR on its own; the kube
    // source reports the same failure once per streak (`config watch broke`).
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,kube_client::client::builder=off"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}
