//! Shared by the faultfs tests (each mounts with `faultfs::TempMount`).

#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::Path;
use std::time::{Duration, Instant};

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
