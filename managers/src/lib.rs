//! Share the live config between one writer and many readers.
//!
//! Every request a service answers reads the current config; every reload
//! replaces it. This crate puts the ways of doing that behind one trait,
//! [`ConfigManager`], so they can be swapped, tested by one suite and measured
//! side by side.
//!
//! ```
//! # #[cfg(feature = "arcswap")] {
//! use config_reload_managers::{ArcSwapManager, ConfigManager};
//!
//! struct Config {
//!     message: String,
//! }
//!
//! let manager = ArcSwapManager::new(Config { message: "hello".into() });
//! assert_eq!(manager.version(), 1);
//!
//! // A request holds a snapshot: one whole config, whatever happens meanwhile.
//! let request = manager.snapshot();
//!
//! // A reload publishes a new config and learns the version it got.
//! assert_eq!(manager.publish(Config { message: "hello again".into() }), 2);
//!
//! // Later reads see it; the request's snapshot is unchanged.
//! assert_eq!(manager.read(|current| current.config.message.len()), 11);
//! assert_eq!(request.config.message, "hello");
//! assert_eq!(request.version, 1);
//! # }
//! ```
//!
//! # Which to choose
//!
//! | design | a read | scales with cores |
//! |---|---|---|
//! | [`ArcSwapManager`] | a few atomic operations, no lock | yes |
//! | [`CachedReader`] (per thread, from [`ArcSwapManager::cached_reader`]) | one relaxed pointer compare | yes, like a plain `Arc` |
//! | [`MutexManager`] | lock, read, unlock | no: readers exclude each other |
//! | [`RwLockManager`] | shared lock | no: every read writes the lock word |
//! | [`WatchManager`] | shared lock inside `tokio::sync::watch` | no; but async tasks can await changes |
//! | [`ChannelManager`] | a rendezvous with an owner thread | no: one thread serves every read |
//!
//! Serve requests from an [`ArcSwapManager`], with a [`CachedReader`] per
//! thread on the hottest paths. The measurements behind this advice, and what
//! each result means for a service, are in `docs/managers.md`.
//!
//! Every design sits behind a crate feature of the same name (all on by
//! default), so a binary compiles in only what it uses.

#![deny(missing_docs)]

use std::sync::Arc;

/// `From<T>` for a manager, by its `new`: what every design's
/// [`Design::Manager`] needs, written once.
#[allow(unused_macros)] // With no design compiled in.
macro_rules! from_initial {
    ($manager:ident) => {
        impl<T> From<T> for $manager<T>
        where
            T: Send + Sync + 'static,
        {
            fn from(initial: T) -> Self {
                Self::new(initial)
            }
        }
    };
}

#[cfg(feature = "arcswap")]
mod arcswap;
#[cfg(feature = "channel")]
mod channel;
#[cfg(feature = "mutex")]
mod mutex;
#[cfg(any(
    feature = "mutex",
    feature = "rwlock",
    feature = "arcswap",
    feature = "channel",
    feature = "watch"
))]
mod pending;
#[cfg(feature = "rwlock")]
mod rwlock;
#[cfg(feature = "watch")]
mod watch;

#[cfg(feature = "arcswap")]
pub use arcswap::{ArcSwapManager, CachedReader};
#[cfg(feature = "channel")]
pub use channel::ChannelManager;
#[cfg(feature = "mutex")]
pub use mutex::MutexManager;
#[cfg(feature = "rwlock")]
pub use rwlock::RwLockManager;
#[cfg(feature = "watch")]
pub use watch::WatchManager;

/// A design as a type, whatever the config type: what a library that holds
/// configs of its own type (such as `config_reload::Watch<T, D>`) takes as a type
/// parameter, so its user names a design (`design::Mutex`) rather than a
/// manager of the library's internal type.
pub trait Design: Send + Sync + 'static {
    /// This design's manager for configs of type `T`.
    type Manager<T: Send + Sync + 'static>: ConfigManager<T> + From<T>;
}

/// Code generic over a [`Design`], run for a design chosen by name at run
/// time with [`design::visit`].
pub trait DesignVisitor {
    /// What the visit returns.
    type Output;
    /// Runs with `D`, the design named.
    fn visit<D: Design>(self) -> Self::Output;
}

/// The designs as types, one per manager, for [`Design`].
pub mod design {
    use super::{ConfigManager, Design, DesignVisitor};

    /// Declares the designs, each once: its feature and its type. `NAMES`
    /// and `visit` are made from that one list.
    macro_rules! designs {
        ($($feature:literal => $design:ident,)+) => {
            /// The names of the designs compiled into this crate (its
            /// features), in the order `docs/managers.md` recommends them.
            pub const NAMES: &[&str] = &[$(#[cfg(feature = $feature)] $feature,)+];

            /// Runs `visitor` with the design called `name` (its manager's
            /// `ConfigManager::NAME`); `None` if no such design is compiled in.
            ///
            /// ```
            /// use config_reload_managers::{Design, DesignVisitor, design};
            ///
            /// struct Name;
            /// impl DesignVisitor for Name {
            ///     type Output = &'static str;
            ///     fn visit<D: Design>(self) -> &'static str {
            ///         std::any::type_name::<D>()
            ///     }
            /// }
            /// assert_eq!(design::visit("arcswap", Name), Some("config_reload_managers::design::ArcSwap"));
            /// assert_eq!(design::visit("nope", Name), None);
            /// ```
            pub fn visit<V: DesignVisitor>(wanted: &str, visitor: V) -> Option<V::Output> {
                $(
                    #[cfg(feature = $feature)]
                    if wanted == name::<$design>() {
                        return Some(visitor.visit::<$design>());
                    }
                )+
                let _ = (wanted, visitor);
                None
            }
        };
    }

    designs! {
        "arcswap" => ArcSwap,
        "mutex" => Mutex,
        "rwlock" => RwLock,
        "watch" => Watch,
        "channel" => Channel,
    }

    /// The name of design `D`: its manager's `ConfigManager::NAME`.
    pub fn name<D: Design>() -> &'static str {
        <D::Manager<()> as ConfigManager<()>>::NAME
    }

    /// [`ArcSwapManager`](crate::ArcSwapManager).
    #[cfg(feature = "arcswap")]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct ArcSwap;
    #[cfg(feature = "arcswap")]
    impl Design for ArcSwap {
        type Manager<T: Send + Sync + 'static> = crate::ArcSwapManager<T>;
    }

    /// [`MutexManager`](crate::MutexManager).
    #[cfg(feature = "mutex")]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Mutex;
    #[cfg(feature = "mutex")]
    impl Design for Mutex {
        type Manager<T: Send + Sync + 'static> = crate::MutexManager<T>;
    }

    /// [`RwLockManager`](crate::RwLockManager).
    #[cfg(feature = "rwlock")]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct RwLock;
    #[cfg(feature = "rwlock")]
    impl Design for RwLock {
        type Manager<T: Send + Sync + 'static> = crate::RwLockManager<T>;
    }

    /// [`ChannelManager`](crate::ChannelManager).
    #[cfg(feature = "channel")]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Channel;
    #[cfg(feature = "channel")]
    impl Design for Channel {
        type Manager<T: Send + Sync + 'static> = crate::ChannelManager<T>;
    }

    /// [`WatchManager`](crate::WatchManager).
    #[cfg(feature = "watch")]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Watch;
    #[cfg(feature = "watch")]
    impl Design for Watch {
        type Manager<T: Send + Sync + 'static> = crate::WatchManager<T>;
    }
}

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
/// A manager is created holding its first config, as version 1, by its
/// `new` or `From<T>`.
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

#[cfg(test)]
mod tests {
    use super::{Design, DesignVisitor, design};

    struct Name;
    impl DesignVisitor for Name {
        type Output = &'static str;
        fn visit<D: Design>(self) -> &'static str {
            design::name::<D>()
        }
    }

    /// A design's feature, its entry in `NAMES` and its manager's `NAME`
    /// are one name.
    #[test]
    fn every_name_visits_the_design_of_that_name() {
        for &name in design::NAMES {
            assert_eq!(design::visit(name, Name), Some(name));
        }
    }
}
