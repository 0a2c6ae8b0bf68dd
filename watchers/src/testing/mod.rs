//! Writers that change files the way real updaters do, for tests and benches.
//!
//! [`KubeletVolume`] projects a ConfigMap payload into a directory exactly as
//! the kubelet's atomic writer does (`shared/configmap-volumes.md` §1): a
//! timestamped directory, the `..data` symlink swapped by one `rename(2)`, a
//! user-visible `key -> ..data/key` symlink per top-level key. The free
//! functions are the other update patterns of §2 (an editor's rename-replace,
//! an in-place rewrite, a symlink swap, ...). Bursts are loops over them.
//!
//! Everything here touches the real filesystem, so the watchers see the same
//! inotify events they see in production.
//!
//! # Example
//!
//! ```
//! use config_reload::testing::{KubeletVolume, SymlinkOrder};
//!
//! let mount = tempfile::tempdir()?;
//! let volume = KubeletVolume::with_order(mount.path(), SymlinkOrder::AfterCommit);
//!
//! assert!(volume.project(&[("app.yaml", "port: 8080\n"), ("extra.yaml", "a: 1\n")])?);
//! assert_eq!(std::fs::read_link(mount.path().join("app.yaml"))?, std::path::Path::new("..data/app.yaml"));
//!
//! // An update swaps `..data`; the per-key symlinks never change.
//! assert!(volume.project(&[("app.yaml", "port: 9090\n")])?);
//! assert_eq!(std::fs::read(mount.path().join("app.yaml"))?, b"port: 9090\n");
//! assert!(!mount.path().join("extra.yaml").exists()); // removed key, removed symlink
//!
//! // The same payload again writes nothing, like the kubelet.
//! assert!(!volume.project(&[("app.yaml", "port: 9090\n")])?);
//! # Ok::<(), std::io::Error>(())
//! ```

mod kubelet;
#[cfg(target_os = "linux")]
mod mount;
mod patterns;

pub use kubelet::{KubeletVolume, SymlinkOrder};
#[cfg(target_os = "linux")]
pub use mount::{BindMount, Tmpfs};
pub use patterns::{
    Mapped, delete_and_recreate, rename_replace, rewrite_same, swap_parent_dir, symlink_swap,
    touch, write_in_chunks, write_in_place, write_in_place_slowly, write_through_mmap,
};

use std::hash::{BuildHasher, RandomState};

/// `normal` times `RELIABILITY_SCALE` (1 when unset or not a number): how
/// the reliability and property tests are made longer for a soak run
/// (`RELIABILITY_SCALE=20 cargo test ...`) without a second code path.
pub fn scaled(normal: u32) -> u32 {
    let scale = std::env::var("RELIABILITY_SCALE")
        .ok()
        .and_then(|value| value.parse::<u32>().ok())
        .unwrap_or(1);
    normal.saturating_mul(scale.max(1))
}
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh pseudo-random number for temporary names. Go's `os.MkdirTemp`,
/// which the kubelet uses, appends a random decimal `u32`; `RandomState` is
/// seeded from the OS, and the counter keeps two calls apart even when it is
/// not re-seeded.
fn random_u32() -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one((n, std::process::id())) as u32
}
