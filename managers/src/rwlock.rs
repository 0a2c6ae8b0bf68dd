//! [`RwLockManager`]: readers share a lock, the writer takes it alone.

use parking_lot::RwLock;

use crate::pending::{Pending, first};
use crate::{ConfigManager, Snapshot, Versioned};

/// The current config behind a [`parking_lot::RwLock`].
///
/// - **A reader holds** a shared lock for as long as its `read` closure runs.
///   Readers do not wait for each other, but each one writes the lock's
///   reader count, so two cores reading bounce that cache line between them:
///   reads get slower, not faster, with more threads. The lock is fair, so a
///   nested `read` inside `read` can deadlock behind a waiting writer.
/// - **A publish costs** one allocation (outside the lock) and an exclusive
///   lock that waits for every reader inside to finish.
/// - **The old config is freed** by `publish`, after the lock is released, if
///   no snapshot holds it; otherwise when the last snapshot is dropped.
pub struct RwLockManager<T> {
    current: RwLock<Snapshot<T>>,
}

impl<T> RwLockManager<T>
where
    T: Send + Sync + 'static,
{
    /// A manager holding `initial` as version 1.
    pub fn new(initial: T) -> Self {
        Self {
            current: RwLock::new(first(initial)),
        }
    }
}

from_initial!(RwLockManager);

impl<T> ConfigManager<T> for RwLockManager<T>
where
    T: Send + Sync + 'static,
{
    const NAME: &'static str = "rwlock";

    fn publish(&self, config: T) -> u64 {
        // The guard is a temporary: the lock is released at the end of this
        // statement, before the replaced config is dropped.
        let (version, replaced) = Pending::new(config).install(&mut self.current.write());
        drop(replaced);
        version
    }

    fn snapshot(&self) -> Snapshot<T> {
        self.current.read().clone()
    }

    fn read<R>(&self, f: impl FnOnce(&Versioned<T>) -> R) -> R {
        f(&self.current.read())
    }
}
