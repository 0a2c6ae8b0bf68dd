//! The shared driver on its own, fed by a scripted strategy: what each
//! signal makes it do, whatever strategy sent it.

mod common;

use config_reload::watcher::{Change, Signals};

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{Harness, Scripted, TestConfig, file_source, wait_until, yaml};
use config_reload::DecodeError;
use config_reload::testing::rename_replace;
use config_reload::{Debounce, Decode, Files, ReloadOutcome, Trigger, WatchHealth, WatchOptions};

fn start(options: WatchOptions) -> (tempfile::TempDir, Harness<Scripted>, Signals) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.yaml"), yaml("v0")).unwrap();
    let harness =
        Harness::<Scripted>::start_with(file_source(dir.path(), "app.yaml"), options, |builder| {
            builder
        });
    let signals = Scripted::signals(dir.path());
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
    let (dir, harness, signals) = start(common::options());
    let pause = Duration::from_millis(100);
    // An in-place write waits for its writer's close.
    signals.change(Change::Write);
    std::thread::sleep(pause);
    fs::write(dir.path().join("app.yaml"), yaml("v1")).unwrap();
    signals.change(Change::Commit);
    harness.wait_for("v1");
    let took = last_published_took(&harness);
    assert!(
        took >= pause,
        "took {took:?}, the first event was {pause:?} earlier"
    );
}

/// The `took` of the last publish an event caused. The manager holds a new
/// config a moment before its report reaches the observer, so this waits
/// for the report.
fn last_published_took(harness: &Harness<Scripted>) -> Duration {
    let published = || {
        let reports = harness.recorder.reports.lock().unwrap();
        reports
            .iter()
            .rfind(|report| {
                report.trigger == Trigger::Event
                    && matches!(report.outcome, ReloadOutcome::Published { .. })
            })
            .map(|report| report.took)
    };
    wait_until("the publish reported", || published().is_some());
    published().expect("a publish was reported")
}

/// A gate the test opens and closes, and how many decodes reached it.
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    wake: Condvar,
    entered: AtomicUsize,
}

impl Gate {
    fn set_closed(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.wake.notify_all();
    }

    fn pass(&self) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let _open = self
            .wake
            .wait_while(self.closed.lock().unwrap(), |closed| *closed)
            .unwrap();
    }

    fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }
}

/// A decoder that blocks while its gate is closed: a reload in progress the
/// test controls.
struct Gated(Arc<Gate>);

impl Decode<TestConfig> for Gated {
    fn decode(&self, files: &Files) -> Result<TestConfig, DecodeError> {
        self.0.pass();
        common::decode_test_config(files)
    }
}

/// A watch whose decoder the test can hold.
struct GatedWatch {
    dir: tempfile::TempDir,
    harness: Harness<Scripted>,
    signals: Signals,
    gate: Arc<Gate>,
}

/// A test that fails with the gate closed must not hang its drop.
impl Drop for GatedWatch {
    fn drop(&mut self) {
        self.gate.set_closed(false);
    }
}

fn start_gated(options: WatchOptions) -> GatedWatch {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.yaml"), yaml("v0")).unwrap();
    let gate = Arc::new(Gate::default());
    let harness = Harness::<Scripted>::start_decoding(
        file_source(dir.path(), "app.yaml"),
        Gated(Arc::clone(&gate)),
        options,
    );
    let signals = Scripted::signals(dir.path());
    GatedWatch {
        dir,
        harness,
        signals,
        gate,
    }
}

/// `took` counts from when the strategy read the event, not from when the
/// driver got to it: here the driver is busy in another reload for a while
/// after the event, and that wait is part of what the change waited.
#[test]
fn took_counts_from_when_the_event_was_read_not_when_the_driver_got_to_it() {
    let gated = start_gated(common::options());
    let (dir, harness, signals, gate) = (&gated.dir, &gated.harness, &gated.signals, &gated.gate);
    gate.set_closed(true);
    fs::write(dir.path().join("app.yaml"), yaml("v1")).unwrap();
    harness.watch.reload_now();
    wait_until("the manual reload is decoding", || gate.entered() >= 2);
    // The event arrives while the driver is busy.
    fs::write(dir.path().join("app.yaml"), yaml("v2")).unwrap();
    signals.change(Change::Commit);
    let busy = Duration::from_millis(200);
    std::thread::sleep(busy);
    gate.set_closed(false);
    harness.wait_for("v2");
    let took = last_published_took(harness);
    assert!(
        took >= busy,
        "took {took:?}, but the event waited {busy:?} for the driver"
    );
}

/// A reload stuck in a read (a hung filesystem) is visible while it lasts.
#[test]
fn a_stuck_reload_is_visible_while_it_runs() {
    let gated = start_gated(common::options());
    let (dir, harness, signals, gate) = (&gated.dir, &gated.harness, &gated.signals, &gated.gate);
    assert_eq!(harness.watch.reload_running_for(), None);
    gate.set_closed(true);
    fs::write(dir.path().join("app.yaml"), yaml("v1")).unwrap();
    signals.change(Change::Commit);
    wait_until("the reload is decoding", || gate.entered() >= 2);
    let first = harness.watch.reload_running_for().expect("a reload runs");
    std::thread::sleep(Duration::from_millis(50));
    let later = harness.watch.reload_running_for().expect("a reload runs");
    assert!(later > first, "{later:?} after {first:?}");
    assert_eq!(harness.message(), "v0", "the last good config is served");
    gate.set_closed(false);
    harness.wait_for("v1");
    wait_until("no reload runs", || {
        harness.watch.reload_running_for().is_none()
    });
}

/// A write whose writer never closes is published after the timeout, and
/// says why.
#[test]
fn an_unclosed_write_is_published_after_the_timeout_with_its_trigger() {
    let debounce = Debounce {
        unclosed_write_timeout: Duration::from_millis(200),
        ..Debounce::default()
    };
    let (dir, harness, signals) = start(WatchOptions {
        debounce,
        ..common::options()
    });
    fs::write(dir.path().join("app.yaml"), yaml("v1")).unwrap();
    signals.change(Change::Write);
    harness.wait_for("v1");
    assert_eq!(
        harness.recorder.publish_triggers(),
        [Trigger::UnclosedWrite]
    );
}

/// While a write waits for its close, the resync does not read the file:
/// it would read it half written.
#[test]
fn the_resync_waits_while_a_write_is_open() {
    let (dir, harness, signals) = start(WatchOptions {
        resync_interval: Some(Duration::from_millis(10)),
        ..common::options()
    });
    signals.change(Change::Write);
    fs::write(dir.path().join("app.yaml"), yaml("half")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(harness.history(), ["v0"], "the resync read an open write");
    fs::write(dir.path().join("app.yaml"), yaml("whole")).unwrap();
    signals.change(Change::Commit);
    harness.wait_for("whole");
    assert_eq!(harness.history(), ["v0", "whole"]);
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
    fn decode(&self, files: &Files) -> Result<TestConfig, DecodeError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        common::decode_test_config(files)
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
    let harness = Harness::<Scripted>::start_decoding(
        file_source(dir.path(), "app.yaml"),
        Counting(Arc::clone(&decodes)),
        options,
    );
    // Renamed in whole: a 20 ms resync must never catch a write half done
    // (no event tells it one is open), or it reports that as a failure too.
    rename_replace(&path, yaml("v1").as_bytes()).unwrap();
    harness.wait_for("v1");
    // Counted a moment after the publish.
    wait_until("the resync's find counted", || {
        harness.recorder.resync_changes.load(Ordering::SeqCst) == 1
    });
    assert_eq!(harness.recorder.publish_triggers(), [Trigger::Resync]);

    rename_replace(&path, b"message: [broken\n").unwrap();
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
    rename_replace(&path, yaml("v2").as_bytes()).unwrap();
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
