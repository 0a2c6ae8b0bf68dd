//! [`WatchManager`]: a `tokio::sync::watch` channel as the shared slot.

use tokio::sync::watch;

use crate::pending::{Pending, first};
use crate::{ConfigManager, Snapshot, Versioned};

/// The current config in a [`tokio::sync::watch`] channel; no runtime needed.
///
/// - **A reader holds** the channel's internal read lock while its `read`
///   closure runs (`Sender::borrow`). Like [`crate::RwLockManager`], every
///   read writes that lock's state, so reads slow down with more cores.
/// - **A publish costs** one allocation, the channel's write lock and a wake
///   of every task waiting on a [`WatchManager::subscribe`] receiver.
/// - **The old config is freed** by `publish`, after the lock is released, if
///   no snapshot holds it; otherwise when the last snapshot is dropped.
///
/// Its one advantage over the others: async code can `await` a change with
/// [`watch::Receiver::changed`].
pub struct WatchManager<T> {
    current: watch::Sender<Snapshot<T>>,
}

impl<T> WatchManager<T> {
    /// A receiver whose `changed().await` completes after each publish.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot<T>> {
        self.current.subscribe()
    }
}

impl<T> WatchManager<T>
where
    T: Send + Sync + 'static,
{
    /// A manager holding `initial` as version 1.
    pub fn new(initial: T) -> Self {
        Self {
            current: watch::Sender::new(first(initial)),
        }
    }
}

from_initial!(WatchManager);

impl<T> ConfigManager<T> for WatchManager<T>
where
    T: Send + Sync + 'static,
{
    const NAME: &'static str = "watch";

    fn publish(&self, config: T) -> u64 {
        let pending = Pending::new(config);
        let mut installed = None;
        // `send_modify` numbers and installs under the channel's write lock,
        // so concurrent publishes cannot reuse a version.
        self.current.send_modify(|current| {
            installed = Some(pending.install(current));
        });
        let (version, replaced) = installed.expect("send_modify always runs its closure");
        drop(replaced);
        version
    }

    fn snapshot(&self) -> Snapshot<T> {
        self.current.borrow().clone()
    }

    fn read<R>(&self, f: impl FnOnce(&Versioned<T>) -> R) -> R {
        f(&self.current.borrow())
    }
}
