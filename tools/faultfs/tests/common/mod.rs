//! Shared by the faultfs tests: a mount over fresh temp dirs, or a skip with
//! the reason when FUSE is not usable here.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::ops::Deref;
use std::path::Path;
use std::time::{Duration, Instant};

use faultfs::FaultFs;
use tempfile::TempDir;

/// A mounted filesystem and the temp dirs under it. Fields drop in order:
/// the filesystem unmounts before its mount point is removed.
pub struct Mounted {
    pub fs: FaultFs,
    pub backing: TempDir,
    pub mountpoint: TempDir,
}

impl Deref for Mounted {
    type Target = FaultFs;
    fn deref(&self) -> &FaultFs {
        &self.fs
    }
}

/// `Some` mount, or `None` after printing why FUSE is not usable. With
/// `FAULTFS_REQUIRED` set, a missing FUSE fails the test instead.
pub fn mount() -> Option<Mounted> {
    if let Err(why) = faultfs::available() {
        assert!(
            std::env::var_os("FAULTFS_REQUIRED").is_none(),
            "FAULTFS_REQUIRED is set but FUSE is not usable: {why}"
        );
        eprintln!("skipped: {why}");
        return None;
    }
    let backing = tempfile::tempdir().expect("backing temp dir");
    let mountpoint = tempfile::tempdir().expect("mount point temp dir");
    let fs = FaultFs::mount(backing.path(), mountpoint.path()).expect("mount faultfs");
    Some(Mounted {
        fs,
        backing,
        mountpoint,
    })
}

/// Whether `path` is a mount point in this process's mount table.
pub fn is_mounted(path: &Path) -> bool {
    let path = path.to_str().expect("utf-8 temp path");
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("read mountinfo")
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(path))
}

/// Polls `condition` until it holds; panics with `what` after a generous
/// deadline (the machine is shared and slow at times).
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
