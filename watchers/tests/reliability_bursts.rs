//! Bursts: thousands of updates as fast as each writer can make them, for
//! every strategy and three writers (the kubelet, an editor's
//! rename-replace, an in-place rewrite). The last write is what ends up
//! published, never a half-written or invalid one, and the number of
//! intermediate reloads (published versions) is reported.
//!
//! The normal run writes 300 updates per case (`RELIABILITY_SCALE=N`
//! multiplies it); the `#[ignore]`d tests write the full 10 000.

#![cfg(all(
    feature = "testing",
    feature = "notify",
    feature = "inotify",
    feature = "poll"
))]

mod common;

use common::{Harness, Subject, file_source, yaml};
use watchers::testing::{KubeletVolume, rename_replace, write_in_place};
use watchers::{ReloadOutcome, Trigger};

/// 300 updates, times `RELIABILITY_SCALE`.
fn normal_run() -> usize {
    let scale = std::env::var("RELIABILITY_SCALE")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_usize);
    300 * scale.max(1)
}

/// How a burst writes the config.
#[derive(Clone, Copy, Debug)]
enum Writer {
    Kubelet,
    RenameReplace,
    InPlace,
}

/// Writes `updates` configs with `writer` as fast as it can, then waits for
/// the last one; asserts every published message was written, in order.
fn burst<S: Subject>(writer: Writer, updates: usize) {
    let dir = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(dir.path());
    let path = dir.path().join("app.yaml");
    let write = |message: &str| match writer {
        Writer::Kubelet => {
            volume.project(&[("app.yaml", yaml(message))]).unwrap();
        }
        Writer::RenameReplace => rename_replace(&path, yaml(message).as_bytes()).unwrap(),
        Writer::InPlace => write_in_place(&path, yaml(message).as_bytes()).unwrap(),
    };
    write("start");
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    let message = |update: usize| format!("burst {update}");
    for update in 0..updates {
        write(&message(update));
    }
    let last = message(updates - 1);
    harness.wait_for(&last);

    let history = harness.history();
    let mut previous = None;
    for published in &history[1..] {
        let update: usize = published
            .strip_prefix("burst ")
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("published {published:?}, which was never written whole"));
        assert!(
            previous < Some(update),
            "published out of order: {history:?}"
        );
        previous = Some(update);
    }
    let reloads = published_reloads(&harness);
    let failures = harness.recorder.failures();
    eprintln!(
        "{} {writer:?}: {updates} updates -> {reloads} published reloads, {} failed reads, {} events",
        S::NAME,
        failures.len(),
        harness
            .recorder
            .events
            .load(std::sync::atomic::Ordering::SeqCst)
    );
    assert_eq!(reloads, history.len() - 1, "every publish was reported");
    if !matches!(writer, Writer::InPlace) {
        // Atomic writers never expose a partial file.
        assert!(failures.is_empty(), "{failures:?}");
    }
}

/// Published outcomes after the initial load.
fn published_reloads<S: Subject>(harness: &Harness<S>) -> usize {
    let reports = harness.recorder.reports.lock().unwrap();
    reports
        .iter()
        .filter(|report| report.trigger != Trigger::Initial)
        .filter(|report| matches!(report.outcome, ReloadOutcome::Published { .. }))
        .count()
}

macro_rules! bursts {
    ($($module:ident => $strategy:ty),* $(,)?) => {$(
        mod $module {
            use super::*;
            type S = $strategy;
            #[test] fn kubelet_burst_ends_with_the_last_write() { burst::<S>(Writer::Kubelet, normal_run()) }
            #[test] fn rename_replace_burst_ends_with_the_last_write() { burst::<S>(Writer::RenameReplace, normal_run()) }
            #[test] fn in_place_burst_ends_with_the_last_write() { burst::<S>(Writer::InPlace, normal_run()) }
            #[test] #[ignore = "10 000 updates: run with --ignored"]
            fn kubelet_burst_of_10k() { burst::<S>(Writer::Kubelet, 10_000) }
            #[test] #[ignore = "10 000 updates: run with --ignored"]
            fn rename_replace_burst_of_10k() { burst::<S>(Writer::RenameReplace, 10_000) }
            #[test] #[ignore = "10 000 updates: run with --ignored"]
            fn in_place_burst_of_10k() { burst::<S>(Writer::InPlace, 10_000) }
        }
    )*};
}

bursts! {
    notify => crate::common::Notify,
    inotify => crate::common::Inotify,
    poll => crate::common::Poll,
}
