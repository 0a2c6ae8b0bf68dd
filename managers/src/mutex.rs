//! [`MutexManager`]: the seed's mutex design.

use parking_lot::Mutex;

use crate::pending::{Pending, first};
use crate::{ConfigManager, Snapshot, Versioned};

/// The current config behind a [`parking_lot::Mutex`]: the seed's design.
///
/// - **A reader holds** the lock for as long as its `read` closure runs, so
///   readers exclude each other and a slow closure stalls every other request
///   and the writer. Calling `publish` from inside `read` deadlocks.
///   `snapshot` holds the lock only to clone the `Arc`.
/// - **A publish costs** one allocation (outside the lock) and a lock
///   acquisition that waits for the reader inside.
/// - **The old config is freed** by `publish`, after the lock is released, if
///   no snapshot holds it; otherwise when the last snapshot is dropped.
pub struct MutexManager<T> {
    current: Mutex<Snapshot<T>>,
}

impl<T> MutexManager<T>
where
    T: Send + Sync + 'static,
{
    /// A manager holding `initial` as version 1.
    pub fn new(initial: T) -> Self {
        Self {
            current: Mutex::new(first(initial)),
        }
    }
}

from_initial!(MutexManager);

impl<T> ConfigManager<T> for MutexManager<T>
where
    T: Send + Sync + 'static,
{
    const NAME: &'static str = "mutex";

    fn publish(&self, config: T) -> u64 {
        // The guard is a temporary: the lock is released at the end of this
        // statement, before the replaced config is dropped.
        let (version, replaced) = Pending::new(config).install(&mut self.current.lock());
        drop(replaced);
        version
    }

    fn snapshot(&self) -> Snapshot<T> {
        self.current.lock().clone()
    }

    fn read<R>(&self, f: impl FnOnce(&Versioned<T>) -> R) -> R {
        f(&self.current.lock())
    }
}
