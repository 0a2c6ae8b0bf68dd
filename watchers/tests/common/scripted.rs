//! A watcher that reports exactly what a test tells it to, nothing else:
//! the driver on its own, fed signal by signal.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use config_reload::watcher::{Running, Signals, Watcher};
use config_reload::{Builder, ConfigSource, WatchOptions};

pub struct Scripted;

/// The signals of every scripted watch, by directory, for the test to take.
static SCRIPTS: Mutex<Vec<(PathBuf, Signals)>> = Mutex::new(Vec::new());

impl Scripted {
    /// The signals of the scripted watch of `dir` (once per watch).
    pub fn signals(dir: &Path) -> Signals {
        let mut scripts = SCRIPTS.lock().unwrap();
        let index = scripts
            .iter()
            .position(|(watched, _)| watched == dir)
            .expect("the watch was established");
        scripts.swap_remove(index).1
    }
}

impl super::Subject for Scripted {
    const NAME: &'static str = "scripted";
    fn choose<T: Send + Sync + 'static>(builder: Builder<T>) -> Builder<T> {
        builder.watcher(Scripted)
    }
}

impl Watcher for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn establish(
        self: Box<Self>,
        source: &ConfigSource,
        _: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Running> {
        SCRIPTS
            .lock()
            .unwrap()
            .push((source.dir().to_path_buf(), signals));
        Ok(self)
    }
}
