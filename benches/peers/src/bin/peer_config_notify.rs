//! The `config` crate with notify, as its `examples/watch.rs` shows: a
//! global `RwLock<Config>`, a notify watcher on the settings file, and on
//! every `Modify` event `refresh()`, which rebuilds the config with
//! `.build().unwrap()` on the main thread (so a bad file ends the process).
//! Requests read `message` with `get_string`; an error is a 500.

use std::path::{Path, PathBuf};
use std::sync::mpsc::channel;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use config::{Config, File};
use notify::{Event, RecommendedWatcher, RecursiveMode, Watcher};

static SETTINGS_PATH: OnceLock<PathBuf> = OnceLock::new();

fn main() {
    let args = peers::PeerArgs::from_env();
    SETTINGS_PATH.set(args.config).expect("set once");
    settings();

    // The example's loop owns the main thread; the server runs beside it.
    let bind = args.bind;
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .expect("a runtime")
            .block_on(peers::serve(&bind, || {
                settings()
                    .read()
                    .unwrap()
                    .get_string("message")
                    .map_err(|error| error.to_string())
            }))
            .expect("the server runs");
    });
    watch();
}

fn watch() -> ! {
    let (tx, rx) = channel();
    let mut watcher: RecommendedWatcher = Watcher::new(
        tx,
        notify::Config::default().with_poll_interval(Duration::from_secs(2)),
    )
    .unwrap();
    watcher
        .watch(Path::new(settings_path()), RecursiveMode::NonRecursive)
        .unwrap();

    loop {
        match rx.recv() {
            Ok(Ok(Event {
                kind: notify::event::EventKind::Modify(_),
                ..
            })) => {
                println!(" * settings written; refreshing configuration ...");
                refresh();
            }
            Err(e) => println!("watch error: {e:?}"),
            _ => {}
        }
    }
}

fn settings_path() -> &'static Path {
    SETTINGS_PATH.get().expect("set in main")
}

fn settings() -> &'static RwLock<Config> {
    static CONFIG: OnceLock<RwLock<Config>> = OnceLock::new();
    CONFIG.get_or_init(|| RwLock::new(load()))
}

fn refresh() {
    *settings().write().unwrap() = load();
}

fn load() -> Config {
    Config::builder()
        .add_source(File::with_name(&settings_path().to_string_lossy()))
        .build()
        .unwrap()
}
