//! [`ArcSwapManager`] and its per-thread [`CachedReader`].

use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};
use parking_lot::Mutex;

use crate::pending::{Pending, first};
use crate::{ConfigManager, Snapshot, Versioned};

/// The current config in an [`arc_swap::ArcSwap`]: reads take no lock.
///
/// - **A reader holds** a `load()` guard while its `read` closure runs: a
///   slot in arc-swap's per-thread debt list, no reference count written, so
///   readers on different cores do not slow each other down. `snapshot` is
///   `load_full`, which does write the `Arc`'s reference count.
/// - **A publish costs** one allocation, a writer lock (so concurrent
///   publishes take their versions in the order they take effect; readers
///   never touch it) and an atomic swap that settles debts of readers
///   caught mid-load.
/// - **The old config is freed** by `publish` if no reader holds it;
///   otherwise by whichever reader drops the last guard or snapshot. A
///   [`CachedReader`] counts as holding its config until its next read.
pub struct ArcSwapManager<T> {
    // Shared with every `CachedReader`, which must outlive any borrow of the
    // manager to be kept per thread.
    current: Arc<ArcSwap<Versioned<T>>>,
    publishing: Mutex<()>,
}

impl<T> ArcSwapManager<T> {
    /// A reader for one thread that skips even `load()`'s bookkeeping.
    ///
    /// It keeps its own clone of the current `Arc` and, on every read,
    /// compares it with the shared pointer (one relaxed load); only after a
    /// publish does it do a full load. That makes a read as cheap as a plain
    /// `Arc` deref, for hot paths that read on every request.
    ///
    /// The cost: **the cache keeps the config it last read alive until that
    /// reader's next read** (or until it is dropped). A thread that reads
    /// once and then idles pins a replaced config, and everything it owns,
    /// indefinitely. Keep one reader per worker thread that reads often.
    pub fn cached_reader(&self) -> CachedReader<T> {
        CachedReader {
            cache: Cache::new(Arc::clone(&self.current)),
        }
    }
}

impl<T> ArcSwapManager<T>
where
    T: Send + Sync + 'static,
{
    /// A manager holding `initial` as version 1.
    pub fn new(initial: T) -> Self {
        Self {
            current: Arc::new(ArcSwap::new(first(initial))),
            publishing: Mutex::new(()),
        }
    }
}

from_initial!(ArcSwapManager);

impl<T> ConfigManager<T> for ArcSwapManager<T>
where
    T: Send + Sync + 'static,
{
    const NAME: &'static str = "arcswap";

    fn publish(&self, config: T) -> u64 {
        let pending = Pending::new(config);
        let publishing = self.publishing.lock();
        let next = pending.succeeding(&self.current.load());
        let version = next.version;
        let replaced = self.current.swap(next);
        drop(publishing);
        drop(replaced);
        version
    }

    fn snapshot(&self) -> Snapshot<T> {
        self.current.load_full()
    }

    fn read<R>(&self, f: impl FnOnce(&Versioned<T>) -> R) -> R {
        f(&self.current.load())
    }
}

/// A per-thread reader of an [`ArcSwapManager`], from
/// [`ArcSwapManager::cached_reader`].
///
/// Reads take `&mut self`: give each thread (or task) its own, by cloning or
/// calling `cached_reader` again. **It keeps the config it last read alive
/// until its next read or until it is dropped.**
pub struct CachedReader<T> {
    cache: Cache<Arc<ArcSwap<Versioned<T>>>, Snapshot<T>>,
}

// By hand: a derive would demand `T: Clone`, which the shared `Arc`s do not need.
impl<T> Clone for CachedReader<T> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
        }
    }
}

impl<T> CachedReader<T> {
    /// Calls `f` with the current config; the same guarantees as
    /// [`ConfigManager::read`].
    #[inline]
    pub fn read<R>(&mut self, f: impl FnOnce(&Versioned<T>) -> R) -> R {
        f(self.cache.load())
    }

    /// An owned snapshot of the current config.
    pub fn snapshot(&mut self) -> Snapshot<T> {
        Arc::clone(self.cache.load())
    }

    /// The version of the current config.
    pub fn version(&mut self) -> u64 {
        self.cache.load().version
    }
}
