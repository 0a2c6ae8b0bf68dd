//! The peers: the config-reload designs users really pick, each a small
//! HTTP server written from its own documentation with its defaults, and
//! the harness (`peer-harness`) that drives them and this project's service
//! through the same updates and bad files. See `README.md` beside this
//! crate for the subjects, the work, and the records it writes.
//!
//! Every subject speaks one protocol: `--config PATH --bind ADDR`, prints
//! `listening on ADDR` once bound (so `127.0.0.1:0` works), and serves the
//! current config's `message` as the exact body of `GET /`. This library is
//! that protocol's Rust half, shared by the Rust peers so each peer's file
//! holds only what its library's documentation shows.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

/// The command line every peer takes.
#[derive(Debug, clap::Parser)]
pub struct PeerArgs {
    /// The YAML config to serve.
    #[arg(long)]
    pub config: PathBuf,
    /// The address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: String,
}

impl PeerArgs {
    /// Parses the process's arguments, exiting with usage on error.
    pub fn from_env() -> Self {
        <Self as clap::Parser>::parse()
    }
}

/// Serves `GET /` with the body `message()` returns (`Err` becomes a 500
/// carrying the error), after printing `listening on ADDR` on stdout.
pub async fn serve<F>(bind: &str, message: F) -> io::Result<()>
where
    F: Fn() -> Result<String, String> + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("listening on {}", listener.local_addr()?);
    let message = Arc::new(message);
    let app = Router::new().route(
        "/",
        get(move || {
            let message = Arc::clone(&message);
            async move {
                match message() {
                    Ok(body) => (StatusCode::OK, body),
                    Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error),
                }
            }
        }),
    );
    axum::serve(listener, app).await
}
