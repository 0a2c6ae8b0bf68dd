//! The shared driver on its own, fed by a scripted strategy: what each
//! signal makes it do, whatever strategy sent it.

mod common;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, TestConfig, file_source, wait_until, yaml};
use watchers::{
    Change, ConfigSource, Debounce, Decode, Files, ReloadOutcome, Signals, Strategy, Trigger,
    WatchHealth, WatchOptions, YamlFile,
};

/// Reports exactly what the test tells it to, nothing else.
struct Scripted;

/// The signals of every scripted watch, by directory.
static SCRIPTS: Mutex<Vec<(PathBuf, Signals)>> = Mutex::new(Vec::new());

impl Strategy for Scripted {
    const NAME: &'static str = "scripted";

    fn establish(source: &ConfigSource, _: &WatchOptions, signals: Signals) -> io::Result<Self> {
        SCRIPTS.lock().unwrap().push((source.dir.clone(), signals));
        Ok(Self)
    }
}

fn signals_for(dir: &Path) -> Signals {
    let scripts = SCRIPTS.lock().unwrap();
    scripts
        .iter()
        .find(|(watched, _)| watched == dir)
        .map(|(_, signals)| signals.clone())
        .unwrap()
}

fn start(options: WatchOptions) -> (tempfile::TempDir, Harness<Scripted>, Signals) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.yaml"), yaml("v0")).unwrap();
    let harness = Harness::<Scripted>::start_with(
        file_source(dir.path(), "app.yaml"),
        YamlFile::new(),
        options,
    );
    let signals = signals_for(dir.path());
    (dir, harness, signals)
}

#[test]
fn an_overflow_reloads_everything_and_is_reported() {
    let (dir, harness, signals) = start(common::options());
    fs::write(dir.path().join("app.yaml"), yaml("v1")).unwrap();
    signals.overflow();
    harness.wait_for("v1");
    assert_eq!(harness.recorder.publish_triggers(), [Trigger::Overflow]);
    assert!(harness.recorder.watch_errors.lock().unwrap()[0].contains("overflow"));
}

/// `took` starts at the first event of a reload, not at the last one.
#[test]
fn took_counts_from_the_first_event() {
    // A quiet window long enough that the write waits for the commit.
    let debounce = Debounce {
        quiet: Duration::from_secs(60),
        max_delay: Duration::from_secs(60),
    };
    let (dir, harness, signals) = start(WatchOptions {
        debounce,
        ..common::options()
    });
    let pause = Duration::from_millis(100);
    signals.change(Change::Write);
    std::thread::sleep(pause);
    fs::write(dir.path().join("app.yaml"), yaml("v1")).unwrap();
    signals.change(Change::Commit);
    harness.wait_for("v1");
    let reports = harness.recorder.reports.lock().unwrap();
    let published = reports
        .iter()
        .rfind(|report| matches!(report.outcome, ReloadOutcome::Published { .. }))
        .unwrap();
    assert!(
        published.took >= pause,
        "took {:?}, the first event was {pause:?} earlier",
        published.took
    );
}

#[test]
fn every_raw_event_is_counted() {
    let (_dir, harness, signals) = start(common::options());
    for _ in 0..5 {
        signals.change(Change::Commit);
    }
    assert_eq!(harness.recorder.events.load(Ordering::SeqCst), 5);
}

#[test]
fn health_follows_what_the_strategy_reports() {
    let (_dir, harness, signals) = start(common::options());
    assert_eq!(harness.watch.health(), WatchHealth::Watching);
    signals.degraded("directory gone");
    assert_eq!(
        harness.watch.health(),
        WatchHealth::Degraded("directory gone".into())
    );
    signals.watching();
    assert_eq!(harness.watch.health(), WatchHealth::Watching);
    signals.stopped("gave up");
    assert_eq!(
        harness.watch.health(),
        WatchHealth::Stopped("gave up".into())
    );
    let errors = harness.recorder.watch_errors.lock().unwrap().clone();
    assert_eq!(
        errors,
        ["directory gone", "gave up"],
        "each problem told to the observer"
    );
}

/// A YAML decoder that counts its calls: how a test sees resyncs happen.
struct Counting(Arc<AtomicUsize>);

impl Decode<TestConfig> for Counting {
    fn decode(&self, files: &Files) -> Result<TestConfig, String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        YamlFile::<TestConfig>::new().decode(files)
    }
}

/// With no event at all, the resync finds the change, publishes it and
/// counts it; a broken file met by resync after resync is reported once.
#[test]
fn the_resync_finds_unannounced_changes_and_reports_a_failure_once() {
    let options = WatchOptions {
        resync_interval: Some(Duration::from_millis(20)),
        ..common::options()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, yaml("v0")).unwrap();
    let decodes = Arc::new(AtomicUsize::new(0));
    let harness = Harness::<Scripted>::start_with(
        file_source(dir.path(), "app.yaml"),
        Counting(Arc::clone(&decodes)),
        options,
    );
    fs::write(&path, yaml("v1")).unwrap();
    harness.wait_for("v1");
    assert_eq!(harness.recorder.resync_changes.load(Ordering::SeqCst), 1);
    assert_eq!(harness.recorder.publish_triggers(), [Trigger::Resync]);

    fs::write(&path, "message: [broken\n").unwrap();
    harness.wait_for_failure("invalid YAML");
    let seen = decodes.load(Ordering::SeqCst);
    wait_until("five more resyncs decoded the broken file", || {
        decodes.load(Ordering::SeqCst) >= seen + 5
    });
    assert_eq!(
        harness.recorder.failures().len(),
        1,
        "{:?}",
        harness.recorder.failures()
    );
    fs::write(&path, yaml("v2")).unwrap();
    harness.wait_for("v2");
    assert_eq!(
        harness.recorder.unchanged(),
        0,
        "background checks that found nothing stay quiet"
    );
}

#[test]
fn a_manual_reload_reports_even_when_nothing_changed() {
    let (_dir, harness, _signals) = start(common::options());
    harness.watch.reload_now();
    wait_until("the manual reload reported", || {
        harness.recorder.unchanged() == 1
    });
}
