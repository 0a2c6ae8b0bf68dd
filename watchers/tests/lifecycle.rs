//! Starting, failing to start and stopping: no hang, no leaked thread.
//! One test in this binary, so the thread count is this test's alone.

mod common;

use std::fs;

use common::{Harness, Subject, file_source, wait_until, yaml};
use config_reload::{StartError, WatchHealth};

fn threads() -> usize {
    fs::read_dir("/proc/self/task").unwrap().count()
}

fn start_and_stop<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.yaml"), yaml("v0")).unwrap();
    let baseline = threads();
    for _ in 0..10 {
        let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
        assert_eq!(harness.watch.health(), WatchHealth::Watching);
        assert_eq!(harness.message(), "v0");
        drop(harness);
        wait_until(
            format_args!("{} threads back to {baseline}", S::NAME),
            || threads() == baseline,
        );
    }

    // A bad initial config: one clear error naming the file, nothing left running.
    fs::write(dir.path().join("bad.yaml"), "message: [\n").unwrap();
    let started = common::builder::<S>(file_source(dir.path(), "bad.yaml")).start();
    match started {
        Err(StartError::InitialLoad(error)) => {
            assert!(
                error.path.ends_with("bad.yaml") && error.kind.to_string().contains("invalid YAML"),
                "{error}"
            );
        }
        Err(other) => panic!("expected the initial load to fail, got {other}"),
        Ok(_) => panic!("a broken initial config started"),
    }
    wait_until(
        format_args!(
            "{} threads back to {baseline} after a failed start",
            S::NAME
        ),
        || threads() == baseline,
    );

    // A directory that does not exist cannot be watched or loaded.
    let missing = dir.path().join("missing");
    let started = common::builder::<S>(file_source(&missing, "app.yaml")).start();
    let error = started
        .err()
        .expect("a missing directory fails to start")
        .to_string();
    assert!(error.contains("missing"), "{error}");
    wait_until(
        format_args!("{} threads back to {baseline}", S::NAME),
        || threads() == baseline,
    );
}

#[test]
fn every_strategy_starts_reports_and_stops_without_leaking_threads() {
    // The process's one watchdog thread starts with its first watch and
    // stays: start one before the counting begins.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.yaml"), yaml("v0")).unwrap();
    drop(Harness::<common::Poll>::start(file_source(
        dir.path(),
        "app.yaml",
    )));
    start_and_stop::<common::Notify>();
    start_and_stop::<common::Inotify>();
    start_and_stop::<common::Poll>();
}
