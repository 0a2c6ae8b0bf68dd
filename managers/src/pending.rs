//! The one place a published config gets its version.
//!
//! Every design allocates the new config before taking its lock (or before
//! handing it to its owner thread), so the serialised part of a publish is
//! only "read the current version, store one more, swap a pointer".

use std::sync::Arc;

use crate::{Snapshot, Versioned};

/// A config allocated for publishing whose version is not known yet.
pub(crate) struct Pending<T>(Snapshot<T>);

impl<T> Pending<T> {
    /// Allocates `config`; numbered later by [`Pending::succeeding`].
    pub(crate) fn new(config: T) -> Self {
        Self(Arc::new(Versioned { version: 0, config }))
    }

    /// Numbers the config as the successor of `current`.
    ///
    /// Call it where publishes are serialised: the version is only correct if
    /// `current` cannot be replaced until the result is installed.
    pub(crate) fn succeeding(mut self, current: &Versioned<T>) -> Snapshot<T> {
        Arc::get_mut(&mut self.0)
            .expect("a pending config is shared with nobody until it is installed")
            .version = current.version + 1;
        self.0
    }

    /// Installs the config in `slot` as the successor of what `slot` held.
    ///
    /// Returns the new version and the replaced snapshot, for the caller to
    /// drop once it has left its critical section: a config's destructor may
    /// be slow and must not run under a lock readers wait for.
    // Every design but `arcswap` keeps its current snapshot in a plain slot.
    #[cfg(any(
        feature = "mutex",
        feature = "rwlock",
        feature = "channel",
        feature = "watch"
    ))]
    #[must_use = "drop the replaced snapshot outside the critical section"]
    pub(crate) fn install(self, slot: &mut Snapshot<T>) -> (u64, Snapshot<T>) {
        let next = self.succeeding(slot);
        let version = next.version;
        (version, std::mem::replace(slot, next))
    }
}

/// The snapshot a manager starts with: `initial` as version 1.
pub(crate) fn first<T>(initial: T) -> Snapshot<T> {
    Arc::new(Versioned {
        version: 1,
        config: initial,
    })
}
