//! An axum service that holds a `Watch` in its state, answers from the
//! config on every request (one lock-free read), and reacts to each publish
//! (here it logs it; a service would rebuild a client, resize a pool, ...).
//!
//! ```text
//! cargo run -p config-reload --example axum_service -- config/config.yaml 127.0.0.1:8080
//! curl localhost:8080/
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use config_reload::Watch;

#[derive(Debug, serde::Deserialize)]
struct AppConfig {
    message: String,
}

async fn message(State(config): State<Arc<Watch<AppConfig>>>) -> String {
    config.read(|current| format!("{} (version {})\n", current.message, current.version()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "config/config.yaml".to_owned());
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());

    // Starting reads the file: off the async threads.
    let config =
        Arc::new(tokio::task::spawn_blocking(move || Watch::<AppConfig>::file(path)).await??);

    let mut changes = config.subscribe();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let current = changes.borrow_and_update().clone();
            println!(
                "config version {}: {:?}",
                current.version(),
                current.message
            );
        }
    });

    let app = Router::new().route("/", get(message)).with_state(config);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
