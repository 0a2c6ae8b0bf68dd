//! Share the live config between one writer and many readers.
//!
//! Every request a service answers reads the current config; every reload
//! replaces it. This crate puts the ways of doing that behind one trait,
//! [`ConfigManager`], so they can be swapped, tested by one suite and measured
//! side by side.
//!
//! TODO(helper): the rest of the crate docs and the example.

use std::sync::Arc;

/// One published config and the version it was published as.
///
/// Versions start at 1 for the config a manager is created with and grow by
/// one with every publish.
#[derive(Debug)]
pub struct Versioned<T> {
    /// 1 for the initial config, then one more for every publish.
    pub version: u64,
    /// The config itself.
    pub config: T,
}

/// An owned view of one published config.
///
/// It stays valid and unchanged for as long as it is held, across any number
/// of publishes: a request that takes one sees one whole config, never half of
/// two. The config is freed when the last snapshot of it is dropped.
pub type Snapshot<T> = Arc<Versioned<T>>;

/// One writer publishes, many readers read the latest config.
///
/// Every implementation guarantees:
/// - a publish is visible to every read that starts after `publish` returns;
/// - a reader never sees a version older than one it has already seen;
/// - a reader sees one whole `Versioned<T>`, never a mix of two;
/// - a replaced config is dropped once no reader holds it.
pub trait ConfigManager<T>: Send + Sync + 'static
where
    T: Send + Sync + 'static,
{
    /// A short, stable name for this design (`"mutex"`, `"arcswap"`, ...).
    const NAME: &'static str;

    /// Creates the manager holding `initial` as version 1.
    fn new(initial: T) -> Self;

    /// Replaces the current config and returns the version it was given.
    ///
    /// Publishes are meant to come from one writer; concurrent publishes are
    /// still safe and versions still increase in the order they take effect.
    fn publish(&self, config: T) -> u64;

    /// An owned snapshot to hold across awaits, I/O and publishes.
    fn snapshot(&self) -> Snapshot<T>;

    /// Calls `f` with the current config: the cheapest read each design has,
    /// for a use that ends before the call returns.
    fn read<R>(&self, f: impl FnOnce(&Versioned<T>) -> R) -> R {
        f(&self.snapshot())
    }

    /// The version of the current config.
    fn version(&self) -> u64 {
        self.read(|current| current.version)
    }
}
