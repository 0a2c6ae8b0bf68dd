//! What a watch costs in threads: one, where the built-in inotify and poll
//! watchers run (notify: four), plus one watchdog for the whole process;
//! dropping it joins its own.
//! One test in its own binary, so no other test's threads are counted.

use std::fs;
use std::time::{Duration, Instant};

use config_reload::{ConfigSource, Watch, WatcherKind};

#[derive(serde::Deserialize)]
struct Config {
    #[allow(dead_code)]
    message: String,
}

fn threads() -> usize {
    fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_watch_adds_one_thread_and_the_process_one_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "message: hello\n").unwrap();
    let before = threads();

    let first = Watch::<Config>::file(&path).unwrap();
    let with_one = threads();
    assert_eq!(
        with_one - before,
        2,
        "the first watch: its thread and the process's watchdog"
    );

    let mut more = Vec::new();
    for kind in WatcherKind::available() {
        let count = threads();
        more.push(
            Watch::<Config>::builder(ConfigSource::file(&path))
                .watcher(kind)
                .start()
                .unwrap(),
        );
        let added = threads() - count;
        // notify runs its own event thread, and the watch a thread that
        // forwards its events and one that watches the mount table.
        let own = if kind == WatcherKind::Notify { 4 } else { 1 };
        assert_eq!(added, own, "{kind}: threads for one more watch");
    }

    drop(first);
    drop(more);
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads() > before + 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(threads(), before + 1, "only the process's watchdog stays");
}
