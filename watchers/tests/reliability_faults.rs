//! Faults an adversary chooses, against every strategy on real mounts: the
//! config's filesystem unmounted and mounted again, or shadowed by a new
//! mount. The resync is off, so only the watch itself can find the change;
//! every case runs several rounds on one running watcher.
//!
//! Mounting needs root (CI runs as root); where `mount(2)` is refused each
//! test prints why and passes without running.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{Harness, file_source, wait_until, yaml};
use watchers::testing::{Tmpfs, rename_replace};
use watchers::{Strategy, WatchHealth};

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
fn remounted<S: Strategy>(layout: Layout) {
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
fn shadowed_by_a_mount<S: Strategy>() {
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

macro_rules! faults {
    ($($strategy_module:ident => $strategy:ty),* $(,)?) => {$(
        mod $strategy_module {
            use super::*;
            type S = $strategy;

            #[test] fn remounted_config_dir_is_watched_again() { super::remounted::<S>(Layout::DirIsMountPoint) }
            #[test] fn remounted_parent_is_watched_again() { super::remounted::<S>(Layout::ParentIsMountPoint) }
            #[test] fn a_mount_over_the_config_dir_is_watched() { super::shadowed_by_a_mount::<S>() }
        }
    )*};
}

faults! {
    notify => watchers::NotifyWatcher,
    inotify => watchers::InotifyWatcher,
    poll => watchers::PollWatcher,
}
