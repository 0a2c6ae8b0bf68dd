//! The floor of the load benchmark: the least an axum server can do to
//! answer `GET /` from a config that can be swapped — an `ArcSwap` read and
//! the body handed over without a copy. No logging, no metrics, no watcher.
//! The load benchmark (`cargo run -p benches --bin load`) compares the
//! service with it.
//!
//! ```text
//! cargo run --release -p service --example floor -- 127.0.0.1:0   # prints the port it got
//! ```

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

async fn message(State(current): State<Arc<ArcSwap<Bytes>>>) -> impl IntoResponse {
    let body = Bytes::clone(&current.load());
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let current = Arc::new(ArcSwap::from_pointee(Bytes::from_static(
        b"Hello from a hot-reloaded config!",
    )));
    let app = Router::new().route("/", get(message)).with_state(current);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
