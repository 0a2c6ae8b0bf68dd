//! The common tutorial pattern around notify-debouncer-full: the config in
//! an `ArcSwap`, the debouncer from the crate's documentation (its example's
//! 2 s timeout, no tick rate) watching the config file, and a reload
//! whenever a batch of debounced events arrives (whatever their kinds). A
//! reload that fails is printed and the old config stays.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Config {
    message: String,
}

fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
    serde_saphyr::from_str(&text).map_err(|error| error.to_string())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = peers::PeerArgs::from_env();
    let initial = load(&args.config).expect("the initial config loads");
    let config = Arc::new(ArcSwap::from_pointee(initial));

    let reloaded = Arc::clone(&config);
    let path = args.config.clone();
    let mut debouncer = new_debouncer(
        Duration::from_secs(2),
        None,
        move |result: DebounceEventResult| match result {
            Ok(_events) => match load(&path) {
                Ok(new) => reloaded.store(Arc::new(new)),
                Err(error) => eprintln!("reload failed: {error}"),
            },
            Err(errors) => errors.iter().for_each(|error| eprintln!("{error:?}")),
        },
    )
    .expect("the debouncer starts");
    debouncer
        .watch(&args.config, RecursiveMode::NonRecursive)
        .expect("the config file is watched");

    peers::serve(&args.bind, move || Ok(config.load().message.clone())).await
}
