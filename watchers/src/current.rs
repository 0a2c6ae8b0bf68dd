//! What readers get: the current config with its version and content hash,
//! owned ([`Current`]) or borrowed for the length of a read ([`Published`]).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use config_reload_managers::Versioned;

use crate::ContentHash;

/// What a watch publishes to its manager: the config and the hash of the
/// bytes it was decoded from, replaced together.
#[derive(Debug)]
pub(crate) struct Loaded<T> {
    pub(crate) config: T,
    pub(crate) hash: ContentHash,
}

/// A hook called with every config published.
pub(crate) type PublishHook<T> = Box<dyn Fn(&Current<T>) + Send + Sync>;

/// The config a watch serves now, owned: it stays whole and unchanged for as
/// long as it is held, across any number of reloads. Derefs to the config.
///
/// ```no_run
/// # #[derive(serde::Deserialize)] struct AppConfig { port: u16 }
/// let config = config_reload::Watch::<AppConfig>::file("/etc/config/app.yaml")?;
/// let current = config.get();
/// println!("port {} (version {}, content {})", current.port, current.version(), current.hash());
/// # Ok::<(), config_reload::StartError>(())
/// ```
pub struct Current<T>(Arc<Versioned<Loaded<T>>>);

impl<T> Current<T> {
    pub(crate) fn new(snapshot: Arc<Versioned<Loaded<T>>>) -> Self {
        Self(snapshot)
    }

    /// 1 for the config loaded at start-up, one more for every publish.
    pub fn version(&self) -> u64 {
        self.0.version
    }

    /// The hash of the bytes this config was decoded from.
    pub fn hash(&self) -> ContentHash {
        self.0.config.hash
    }
}

impl<T> Deref for Current<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0.config.config
    }
}

impl<T> Clone for Current<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: fmt::Debug> fmt::Debug for Current<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Current")
            .field("version", &self.version())
            .field("hash", &self.hash())
            .field("config", &**self)
            .finish()
    }
}

/// The config a watch serves now, borrowed for one read
/// ([`Watch::read`](crate::Watch::read)): the cheapest way to read it, for a
/// use that ends before the read returns. Derefs to the config.
pub struct Published<'a, T>(&'a Versioned<Loaded<T>>);

impl<'a, T> Published<'a, T> {
    pub(crate) fn new(current: &'a Versioned<Loaded<T>>) -> Self {
        Self(current)
    }

    /// See [`Current::version`].
    pub fn version(&self) -> u64 {
        self.0.version
    }

    /// See [`Current::hash`].
    pub fn hash(&self) -> ContentHash {
        self.0.config.hash
    }
}

impl<T> Deref for Published<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0.config.config
    }
}

/// A per-thread reader of a watch with the default (`ArcSwap`) manager, from
/// [`Watch::cached_reader`](crate::Watch::cached_reader): a read costs what a
/// plain `Arc` deref costs, for the hottest paths.
///
/// **It keeps the config it last read alive until its next read** (or until
/// it is dropped): keep one per worker thread that reads often.
pub struct CachedReader<T>(config_reload_managers::CachedReader<Loaded<T>>);

impl<T> CachedReader<T> {
    pub(crate) fn new(reader: config_reload_managers::CachedReader<Loaded<T>>) -> Self {
        Self(reader)
    }

    /// Calls `f` with the current config.
    #[inline]
    pub fn read<R>(&mut self, f: impl FnOnce(Published<'_, T>) -> R) -> R {
        self.0.read(|current| f(Published::new(current)))
    }

    /// The current config, owned.
    pub fn get(&mut self) -> Current<T> {
        Current::new(self.0.snapshot())
    }
}

impl<T> Clone for CachedReader<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
