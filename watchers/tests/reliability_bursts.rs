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

use std::time::Duration;

use common::{Harness, Subject, file_source, yaml};
use config_reload::testing::{KubeletVolume, rename_replace, write_in_chunks, write_in_place};
use config_reload::{ReloadOutcome, Trigger};

/// 300 updates, times `RELIABILITY_SCALE`.
fn normal_run() -> usize {
    config_reload::testing::scaled(300) as usize
}

/// How a burst writes the config.
#[derive(Clone, Copy, Debug)]
enum Writer {
    Kubelet,
    RenameReplace,
    InPlace,
    /// In place, a YAML literal block in two `write(2)`s: the first is a
    /// valid config on its own, so a reload that reads between the two (the
    /// next writer's, right after the previous close) would publish it.
    InPlaceTwoWrites,
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
        Writer::InPlaceTwoWrites => {
            let (head, tail) = message.split_once('\n').expect("two lines");
            let (head, tail) = (format!("message: |\n  {head}\n"), format!("  {tail}"));
            write_in_chunks(&path, &[head.as_bytes(), tail.as_bytes()], Duration::ZERO).unwrap();
        }
    };
    let message = |update: usize| match writer {
        Writer::InPlaceTwoWrites => format!("burst {update}\ntail\n"),
        _ => format!("burst {update}"),
    };
    write(&message(0).replace("burst 0", "start"));
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    for update in 0..updates {
        write(&message(update));
    }
    let last = message(updates - 1);
    harness.wait_for(&last);

    let history = harness.history();
    let mut previous = None;
    for published in &history[1..] {
        let update = (0..updates)
            .find(|update| message(*update) == *published)
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
    if !matches!(writer, Writer::InPlace | Writer::InPlaceTwoWrites) {
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

/// Back-to-back in-place rewrites whose first write is a valid config: the
/// reload a close starts can read the next writer's beginning. It is
/// published only once every event from before its read has reached the
/// driver and none was a write: inotify's batches are fenced against the
/// reload, so nothing is missed.
#[test]
fn inotify_in_place_burst_of_valid_prefixes_never_publishes_one() {
    burst::<common::Inotify>(Writer::InPlaceTwoWrites, normal_run());
}

/// The poller publishes an in-place change only once it stayed the same for
/// `poll_settle`, which a burst never does before its end.
#[test]
fn poll_in_place_burst_of_valid_prefixes_never_publishes_one() {
    burst::<common::Poll>(Writer::InPlaceTwoWrites, normal_run());
}

/// notify reads the kernel on a thread of its own that cannot be fenced:
/// an event it has read but not yet handed over is missed by the check.
#[test]
#[ignore = "known race: about 1 run in 15 publishes one prefix; run with --ignored"]
fn notify_in_place_burst_of_valid_prefixes_never_publishes_one() {
    burst::<common::Notify>(Writer::InPlaceTwoWrites, normal_run());
}

common::every_watcher!(bursts);
