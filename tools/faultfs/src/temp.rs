//! What a test needs around a [`FaultFs`]: a mount over fresh temporary
//! directories that skips where FUSE is not usable, and a guard that heals.

use std::ops::Deref;

use tempfile::TempDir;

use crate::{FaultFs, available};

/// A [`FaultFs`] over two fresh temporary directories. Fields drop in
/// order: the filesystem unmounts before its directories are removed; a
/// test may drop `fs` alone to see what unmounting leaves.
pub struct TempMount {
    pub fs: FaultFs,
    /// The backing directory: what is written here raises no event on the
    /// mount.
    pub backing: TempDir,
    pub mountpoint: TempDir,
}

impl TempMount {
    /// `Some` mount, or `None` after printing why FUSE is not usable here
    /// (the test then skips). With `FAULTFS_REQUIRED` set, as CI sets it,
    /// a missing FUSE fails the test instead.
    pub fn for_test() -> Option<Self> {
        if let Err(why) = available() {
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
        Some(Self {
            fs,
            backing,
            mountpoint,
        })
    }
}

impl Deref for TempMount {
    type Target = FaultFs;
    fn deref(&self) -> &FaultFs {
        &self.fs
    }
}

/// Heals its filesystem when dropped ([`FaultFs::heal_on_drop`]).
pub struct HealOnDrop<'a>(&'a FaultFs);

impl Drop for HealOnDrop<'_> {
    fn drop(&mut self) {
        self.0.heal();
    }
}

impl FaultFs {
    /// A guard that heals this filesystem when dropped. Taken before a
    /// watcher whose reload may be held in the filesystem, it is dropped
    /// first, so a failing test releases the held read and fails instead
    /// of hanging on the watcher's join.
    pub fn heal_on_drop(&self) -> HealOnDrop<'_> {
        HealOnDrop(self)
    }
}
