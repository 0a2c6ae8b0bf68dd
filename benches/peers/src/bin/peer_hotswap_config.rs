//! hotswap-config as its README and its `hot_reload` example show: a
//! builder with the config file and `with_file_watch(true)` (the default
//! 500 ms debounce), and every request reading `config.get()`.

use hotswap_config::prelude::*;
use serde::Deserialize;

#[derive(Debug, Deserialize, Clone)]
struct AppConfig {
    message: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = peers::PeerArgs::from_env();
    let config = HotswapConfig::builder()
        .with_file(&args.config)
        .with_file_watch(true)
        .build::<AppConfig>()
        .await?;
    peers::serve(&args.bind, move || Ok(config.get().message.clone()))
        .await
        .map_err(|error| ConfigError::Other(error.to_string()))
}
