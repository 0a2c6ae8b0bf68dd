//! Faults an adversary chooses, against every strategy on real mounts: the
//! config's filesystem unmounted and mounted again, or shadowed by a new
//! mount; and, on a FUSE filesystem (`faultfs`) that fails or hangs on
//! demand, reads failing with `EIO`, opens with `EMFILE`, reads that never
//! return. The resync is off, so only the watch itself can find a change and
//! only the retry can recover a failed read; every case runs several rounds
//! on one running watcher.
//!
//! Mounting needs root (CI runs as root) and `/dev/fuse`; where either is
//! refused each test prints why and passes without running
//! (`FAULTFS_REQUIRED=1` makes a missing FUSE fail instead).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Harness, Subject, file_source, wait_until, yaml};
use config_reload::testing::{Tmpfs, rename_replace};
use config_reload::{WatchHealth, WatchOptions};
use faultfs::{FaultFs, Op, TempMount};

const ROUNDS: usize = 3;

/// Where the mount is, relative to the config's directory.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// The config directory is the mount point (a Kubernetes volume).
    DirIsMountPoint,
    /// The mount point is the config directory's parent.
    ParentIsMountPoint,
}

/// A tmpfs at `root/mnt`, or `None` (with the reason printed) where mounting
/// is refused.
fn tmpfs(root: &Path) -> Option<Tmpfs> {
    let at = root.join("mnt");
    fs::create_dir(&at).unwrap();
    match Tmpfs::mount(&at) {
        Ok(tmpfs) => Some(tmpfs),
        Err(error) => {
            eprintln!("skipped: cannot mount a tmpfs here ({error}); run as root to test mounts");
            None
        }
    }
}

fn config_dir(tmpfs: &Tmpfs, layout: Layout) -> PathBuf {
    match layout {
        Layout::DirIsMountPoint => tmpfs.path().to_path_buf(),
        Layout::ParentIsMountPoint => tmpfs.path().join("config"),
    }
}

fn write_config(dir: &Path, message: &str) {
    fs::create_dir_all(dir).unwrap();
    rename_replace(&dir.join("app.yaml"), yaml(message).as_bytes()).unwrap();
}

/// The filesystem under the config unmounted and a new one mounted with a new
/// config: served, the watch back on the new filesystem (an edit there is
/// served too), healthy again.
fn remounted<S: Subject>(layout: Layout) {
    let root = tempfile::tempdir().unwrap();
    let Some(mut tmpfs) = tmpfs(root.path()) else {
        return;
    };
    let dir = config_dir(&tmpfs, layout);
    write_config(&dir, "v0");
    let harness = Harness::<S>::start(file_source(&dir, "app.yaml"));
    for round in 1..=ROUNDS {
        tmpfs.unmount().unwrap();
        tmpfs.remount().unwrap();
        write_config(&dir, &format!("remounted-{round}"));
        harness.wait_for(&format!("remounted-{round}"));
        harness.wait_watching();
        write_config(&dir, &format!("edited-{round}"));
        harness.wait_for(&format!("edited-{round}"));
    }
}

/// A new filesystem mounted over the config's directory (the old one still
/// mounted underneath): the watch moves to the one now visible.
fn shadowed_by_a_mount<S: Subject>() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("config");
    write_config(&dir, "v0");
    let harness = Harness::<S>::start(file_source(&dir, "app.yaml"));
    let mut mounts = Vec::new();
    for round in 1..=ROUNDS {
        match Tmpfs::mount(&dir) {
            Ok(tmpfs) => mounts.push(tmpfs),
            Err(error) => {
                eprintln!("skipped: cannot mount a tmpfs here ({error})");
                return;
            }
        }
        write_config(&dir, &format!("shadowed-{round}"));
        harness.wait_for(&format!("shadowed-{round}"));
        write_config(&dir, &format!("edited-{round}"));
        harness.wait_for(&format!("edited-{round}"));
    }
    // Unmounted in reverse: each reveals the one below, whose config is served again.
    while let Some(mut tmpfs) = mounts.pop() {
        tmpfs.unmount().unwrap();
        let expected = match mounts.len() {
            0 => "v0".to_owned(),
            below => format!("edited-{below}"),
        };
        harness.wait_for(&expected);
    }
    wait_until(format_args!("{} healthy", S::NAME), || {
        harness.watch.health() == WatchHealth::Watching
    });
}

/// The config directory inside the mount, created.
fn faulty_config_dir(fs: &FaultFs) -> PathBuf {
    let dir = fs.path("config");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A new config committed while every `op` fails with `errno` (which can go
/// away) for over 3 s: the read is retried with backoff, the last good
/// config served meanwhile; once the filesystem heals the new config is
/// served with no further change and no resync.
fn transient_failure_is_retried<S: Subject>(op: Op, errno: i32) {
    let Some(faulty) = TempMount::for_test() else {
        return;
    };
    let dir = faulty_config_dir(&faulty);
    write_config(&dir, "v0");
    let harness = Harness::<S>::start(file_source(&dir, "app.yaml"));
    // Dropped before the watch whose reload may be held in the filesystem is
    // joined: a failing test fails instead of hanging.
    let _heal = faulty.heal_on_drop();
    for round in 1..=ROUNDS {
        let retried = harness.recorder.retries.lock().unwrap().len();
        faulty.fs.fail(op, errno);
        write_config(&dir, &format!("v{round}"));
        // Five retries (100 ms + ... + 1.6 s): longer than the poller's racy
        // window (2 s), in which it re-reads a recent file anyway.
        wait_until(format_args!("{} retries the failed read", S::NAME), || {
            harness.recorder.retries.lock().unwrap().len() >= retried + 5
        });
        assert_eq!(harness.message(), format!("v{}", round - 1));
        faulty.fs.heal();
        harness.wait_for(&format!("v{round}"));
    }
    let retries = harness.recorder.retries.lock().unwrap().clone();
    let error = std::io::Error::from_raw_os_error(errno).to_string();
    assert!(
        retries.iter().all(|(reason, _)| reason.contains(&error)),
        "{retries:?}"
    );
}

/// A reload stuck in a read that never returns: the last good config is
/// still served, the stuck reload is reported once and visible while it
/// lasts; when the read returns, the new config is published, and so is a
/// change made while it hung (inotify's events wait in the kernel while the
/// reload thread, which reads them, is blocked).
fn hung_read_is_visible<S: Subject>() {
    let Some(faulty) = TempMount::for_test() else {
        return;
    };
    let dir = faulty_config_dir(&faulty);
    write_config(&dir, "v0");
    let stuck_after = Duration::from_millis(200);
    let harness = Harness::<S>::start_with(
        file_source(&dir, "app.yaml"),
        WatchOptions {
            stuck_after,
            ..common::options()
        },
        |builder| builder,
    );
    // Dropped before the watch whose reload may be held in the filesystem is
    // joined: a failing test fails instead of hanging.
    let _heal = faulty.heal_on_drop();
    let mut served = "v0".to_owned();
    for round in 1..=ROUNDS {
        faulty.fs.hang(Op::Read);
        write_config(&dir, &format!("v{round}"));
        wait_until(format_args!("{} reports the stuck reload", S::NAME), || {
            harness.recorder.stuck.lock().unwrap().len() == round
        });
        let running = harness.watch.reload_running_for().expect("a reload runs");
        assert!(running >= stuck_after, "{running:?}");
        assert_eq!(harness.message(), served);
        served = format!("v{round} changed while hung");
        write_config(&dir, &served);
        faulty.fs.heal();
        harness.wait_for(&served);
        wait_until("the stuck reload's end reported", || {
            harness.recorder.stuck_finished.load(Ordering::SeqCst) == round
        });
    }
}

/// A parse failure is not retried: the content is what it is. A later fix
/// is still noticed.
fn content_failure_is_not_retried<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "v0");
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    rename_replace(&dir.path().join("app.yaml"), b"message: [unclosed\n").unwrap();
    harness.wait_for_failure("invalid YAML");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(*harness.recorder.retries.lock().unwrap(), []);
    write_config(dir.path(), "fixed");
    harness.wait_for("fixed");
}

macro_rules! faults {
    ($($strategy_module:ident => $strategy:ty),* $(,)?) => {$(
        mod $strategy_module {
            use super::*;
            type S = $strategy;

            #[test] fn remounted_config_dir_is_watched_again() { super::remounted::<S>(Layout::DirIsMountPoint) }
            #[test] fn remounted_parent_is_watched_again() { super::remounted::<S>(Layout::ParentIsMountPoint) }
            #[test] fn a_mount_over_the_config_dir_is_watched() { super::shadowed_by_a_mount::<S>() }
            #[test] fn eio_on_read_is_retried_until_it_heals() { super::transient_failure_is_retried::<S>(Op::Read, libc::EIO) }
            #[test] fn emfile_on_open_is_retried_until_it_heals() { super::transient_failure_is_retried::<S>(Op::Open, libc::EMFILE) }
            #[test] fn a_hung_read_is_reported_and_the_last_good_served() { super::hung_read_is_visible::<S>() }
            #[test] fn a_parse_failure_is_not_retried() { super::content_failure_is_not_retried::<S>() }
        }
    )*};
}

common::every_watcher!(faults);
