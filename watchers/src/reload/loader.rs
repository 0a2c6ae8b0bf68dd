//! The one loader every watcher shares: resolve the source once, read every
//! key under that one directory within the size limit, hash, decode, publish
//! only new valid content.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch as channel;

use crate::current::PublishHook;
use crate::reload::authority::{Authority, News};
use crate::reload::ledger::{Arrival, Ledger, Verdict};
use crate::watcher::Content;
use crate::{
    ConfigSource, ContentHash, Current, Decode, Files, LoadError, LoadErrorKind, Loaded,
    ReloadOutcome, Skew,
};

/// The symlink whose rename commits a kubelet update.
pub(crate) const DATA_LINK: &str = "..data";

/// How often a read is retried when the kubelet removed the directory it
/// resolved to (step 10 of an update racing the read). Each retry follows the
/// new `..data`; only an update every few microseconds could exhaust this.
const SNAPSHOT_ATTEMPTS: usize = 8;

/// Reads every key of `source` as one consistent snapshot, refusing any file
/// larger than `max_config_bytes` before reading it into memory.
///
/// In a ConfigMap mount `..data` is resolved once and every key is read from
/// that one timestamped directory, so keys committed together are read
/// together. Elsewhere each key's path is opened directly (following
/// symlinks, so a `ln -sfn` swap is seen).
pub(crate) fn read_files(source: &ConfigSource, max_config_bytes: u64) -> Result<Files, LoadError> {
    if !source.is_configmap_mount() {
        return read_keys(source, source.dir(), max_config_bytes)
            .map_err(ReadError::into_load_error);
    }
    let data_link = source.dir().join(DATA_LINK);
    let mut last_error = None;
    for _ in 0..SNAPSHOT_ATTEMPTS {
        let target =
            fs::read_link(&data_link).map_err(|error| LoadError::io(&data_link, &error))?;
        match read_keys(source, &source.dir().join(&target), max_config_bytes) {
            Ok(files) => return Ok(files),
            // The directory was there when `..data` pointed at it: it is gone
            // because `..data` moved on, or the key really is missing.
            Err(ReadError::NotFound(error))
                if fs::read_link(&data_link).ok().as_ref() != Some(&target) =>
            {
                last_error = Some(error);
            }
            Err(ReadError::NotFound(_)) if !source.dir().join(&target).exists() => {
                return Err(LoadError::new(
                    &data_link,
                    LoadErrorKind::DanglingLink { target },
                ));
            }
            Err(ReadError::NotFound(error)) => {
                let key = error
                    .path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Err(LoadError::new(
                    source.dir().join(&key),
                    LoadErrorKind::KeyNotInVolume {
                        key,
                        data_dir: target,
                    },
                ));
            }
            Err(ReadError::Other(error)) => return Err(error),
        }
    }
    // Only an update every few microseconds gets here: a moment, not a state.
    Err(LoadError::new(
        last_error.map_or(data_link, |error| error.path),
        LoadErrorKind::KeptChanging,
    ))
}

/// Reads, hashes and decodes `source` once: what start-up and a `--check` do.
pub(crate) fn load<T: 'static>(
    source: &ConfigSource,
    decode: &dyn Decode<T>,
    max_config_bytes: u64,
) -> Result<Loaded<T>, LoadError> {
    let files = read_files(source, max_config_bytes)?;
    let hash = ContentHash::of(&files);
    let config = decode
        .decode(&files)
        .map_err(|error| LoadError::new(source.primary_path(), error.into()))?;
    Ok(Loaded { config, hash })
}

/// Checks, hashes and decodes content a watcher delivered: what start-up
/// does without files.
pub(crate) fn load_content<T: 'static>(
    content: &Content,
    decode: &dyn Decode<T>,
    max_config_bytes: u64,
) -> Result<Loaded<T>, LoadError> {
    let files = checked(content, max_config_bytes)?;
    let hash = ContentHash::of(files);
    let config = decode
        .decode(files)
        .map_err(|error| LoadError::new(content.primary_path(), error.into()))?;
    Ok(Loaded { config, hash })
}

impl ContentHash {
    /// The blake3 hash of every key's name and bytes, each length-prefixed so
    /// moving bytes from one key to the next changes the hash.
    pub fn of(files: &Files) -> Self {
        let mut hasher = blake3::Hasher::new();
        for (key, bytes) in &files.entries {
            hasher.update(&(key.len() as u64).to_le_bytes());
            hasher.update(key.as_bytes());
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        Self(*hasher.finalize().as_bytes())
    }
}

/// Loads and publishes for one running watch, remembering which source
/// published what ([`Ledger`]).
pub(crate) struct Loader<T, M> {
    /// The files, and the name of the watcher watching them; `None` when
    /// every version is delivered as content (the Kubernetes API alone).
    files: Option<(ConfigSource, &'static str)>,
    decode: Arc<dyn Decode<T>>,
    max_config_bytes: u64,
    ledger: Ledger,
    manager: Arc<M>,
    /// Subscribers: told after every publish, with the new config.
    changes: channel::Sender<Current<T>>,
    on_publish: Vec<PublishHook<T>>,
}

/// The config a watch starts with, and where it came from.
pub(crate) struct Initial<T> {
    pub(crate) loaded: Loaded<T>,
    pub(crate) source: &'static str,
    /// What it was decoded from, when a watcher delivered it (no files).
    pub(crate) content: Option<Content>,
}

/// How one load ended, with what the ledger knew of it.
pub(crate) struct Reloaded {
    pub(crate) outcome: ReloadOutcome,
    /// The watcher whose content this was.
    pub(crate) source: &'static str,
    pub(crate) skew: Option<Skew>,
    pub(crate) propagation: Option<Duration>,
}

impl Reloaded {
    fn plain(outcome: ReloadOutcome, source: &'static str) -> Self {
        Self {
            outcome,
            source,
            skew: None,
            propagation: None,
        }
    }
}

impl<T, M> Loader<T, M>
where
    T: Send + Sync + 'static,
    M: config_reload_managers::ConfigManager<Loaded<T>> + From<Loaded<T>>,
{
    /// Publishes the initial config and creates the manager holding it.
    pub(crate) fn start(
        initial: Initial<T>,
        files: Option<(ConfigSource, &'static str)>,
        decode: Arc<dyn Decode<T>>,
        max_config_bytes: u64,
        on_publish: Vec<PublishHook<T>>,
        authority: Option<Authority>,
    ) -> Self {
        let written_at = initial
            .content
            .as_ref()
            .and_then(|content| content.written_at);
        let ledger = Ledger::new(initial.source, initial.loaded.hash, written_at, authority);
        let manager = Arc::new(M::from(initial.loaded));
        let current = Current::new(manager.snapshot());
        for hook in &on_publish {
            hook(&current);
        }
        let (changes, _) = channel::channel(current);
        Self {
            files,
            decode,
            max_config_bytes,
            ledger,
            manager,
            changes,
            on_publish,
        }
    }
}

impl<T, M> Loader<T, M>
where
    T: Send + Sync + 'static,
    M: config_reload_managers::ConfigManager<Loaded<T>>,
{
    pub(crate) fn manager(&self) -> &Arc<M> {
        &self.manager
    }

    /// A receiver of every publish from now on.
    pub(crate) fn changes(&self) -> channel::Receiver<Current<T>> {
        self.changes.subscribe()
    }

    pub(crate) fn published(&self) -> ContentHash {
        self.ledger.current()
    }

    /// What to tell the observer about the sources by `now`.
    pub(crate) fn sources_news(&mut self, now: std::time::Instant) -> Vec<News> {
        self.ledger.news(now)
    }

    /// When the files' version held back by the API should be read again.
    pub(crate) fn held_check(&self, now: std::time::Instant) -> Option<std::time::Instant> {
        self.files.as_ref()?;
        self.ledger.held_check(now)
    }

    /// When [`Loader::sources_news`] will have news without a delivery.
    pub(crate) fn next_sources_news(&self) -> Option<std::time::Instant> {
        self.ledger.next_news()
    }

    /// The name of the watcher watching the files, if there are files.
    pub(crate) fn files_source(&self) -> Option<&'static str> {
        self.files.as_ref().map(|(_, name)| *name)
    }

    /// Reads the files again and publishes them if their content is new and
    /// valid, and `may_publish` agrees once it is decoded; `None` when it
    /// did not (the content may already be a newer write's beginning).
    /// Without files there is nothing to read: a watcher that delivers
    /// content reads it again itself (`Signals::on_reload_now`).
    pub(crate) fn reload(
        &mut self,
        arrival: Arrival,
        may_publish: impl FnOnce() -> bool,
    ) -> Option<Reloaded> {
        let (source, name) = self.files.as_ref()?;
        let name = *name;
        let files = match read_files(source, self.max_config_bytes) {
            Ok(files) => files,
            Err(error) => return Some(Reloaded::plain(ReloadOutcome::Failed(error), name)),
        };
        let hash = ContentHash::of(&files);
        match self.ledger.classify(name, hash, None, arrival) {
            Verdict::Known { skew, propagation } => {
                return Some(Reloaded {
                    outcome: ReloadOutcome::Unchanged,
                    source: name,
                    skew,
                    propagation,
                });
            }
            Verdict::Held => return Some(Reloaded::plain(ReloadOutcome::Unchanged, name)),
            Verdict::New => {}
        }
        let config = match self.decode.decode(&files) {
            Ok(config) => config,
            Err(error) => {
                let error = LoadError::new(source.primary_path(), error.into());
                return Some(Reloaded::plain(ReloadOutcome::Failed(error), name));
            }
        };
        if !may_publish() {
            return None;
        }
        Some(self.publish(Loaded { config, hash }, name, None, arrival))
    }

    /// Hashes, decodes and publishes content a watcher read itself, exactly
    /// as a reload of the files does.
    pub(crate) fn deliver(
        &mut self,
        origin: &'static str,
        content: Content,
        arrival: Arrival,
    ) -> Reloaded {
        let written_at = content.written_at;
        let files = match checked(&content, self.max_config_bytes) {
            Ok(files) => files.clone(),
            Err(error) => return Reloaded::plain(ReloadOutcome::Failed(error), origin),
        };
        let hash = ContentHash::of(&files);
        match self.ledger.classify(origin, hash, written_at, arrival) {
            Verdict::Known { skew, propagation } => {
                return Reloaded {
                    outcome: ReloadOutcome::Unchanged,
                    source: origin,
                    skew,
                    propagation,
                };
            }
            Verdict::Held => return Reloaded::plain(ReloadOutcome::Unchanged, origin),
            Verdict::New => {}
        }
        match self.decode.decode(&files) {
            Ok(config) => self.publish(Loaded { config, hash }, origin, written_at, arrival),
            Err(error) => Reloaded::plain(
                ReloadOutcome::Failed(LoadError::new(content.primary_path(), error.into())),
                origin,
            ),
        }
    }

    /// Tells the publish hooks, then the subscribers, about the config just
    /// published: after its reload was reported, so a log line saying so
    /// comes before anything a subscriber does about it.
    pub(crate) fn announce(&self) {
        // One writer: the snapshot is the config just published.
        let current = Current::new(self.manager.snapshot());
        for hook in &self.on_publish {
            hook(&current);
        }
        self.changes.send_replace(current);
    }

    fn publish(
        &mut self,
        loaded: Loaded<T>,
        source: &'static str,
        written_at: Option<SystemTime>,
        arrival: Arrival,
    ) -> Reloaded {
        let hash = loaded.hash;
        let version = self.manager.publish(loaded);
        let propagation = self.ledger.published(source, hash, written_at, arrival);
        Reloaded {
            outcome: ReloadOutcome::Published { version, hash },
            source,
            skew: None,
            propagation,
        }
    }
}

/// The delivered files, if every key is within the limits a file read
/// enforces (not over `max_config_bytes`, not empty).
pub(crate) fn checked(content: &Content, max_config_bytes: u64) -> Result<&Files, LoadError> {
    let files = content.files.as_ref().map_err(Clone::clone)?;
    for (key, bytes) in &files.entries {
        let fail = |kind| Err(LoadError::new(content.path.join(key), kind));
        if bytes.len() as u64 > max_config_bytes {
            return fail(LoadErrorKind::TooLarge {
                size: bytes.len() as u64,
                limit: max_config_bytes,
            });
        }
        if bytes.is_empty() {
            return fail(LoadErrorKind::Empty);
        }
    }
    Ok(files)
}

enum ReadError {
    /// Some path did not exist: in a ConfigMap mount, maybe a race with the
    /// kubelet's cleanup.
    NotFound(LoadError),
    Other(LoadError),
}

impl ReadError {
    fn into_load_error(self) -> LoadError {
        match self {
            Self::NotFound(error) | Self::Other(error) => error,
        }
    }
}

fn read_keys(source: &ConfigSource, dir: &Path, max_config_bytes: u64) -> Result<Files, ReadError> {
    let entries = source
        .names()
        .iter()
        .zip(source.file_names())
        .map(|(key, name)| Ok((key.clone(), read_file(&dir.join(name), max_config_bytes)?)))
        .collect::<Result<_, ReadError>>()?;
    Ok(Files { entries })
}

fn read_file(path: &Path, max_config_bytes: u64) -> Result<Vec<u8>, ReadError> {
    let fail = |kind: LoadErrorKind| ReadError::Other(LoadError::new(path, kind));
    // Once the file is open, its directory going away no longer matters.
    let io_fail = |error: io::Error| ReadError::Other(LoadError::io(path, &error));
    // O_NONBLOCK: a FIFO put at the path must not block the reload forever;
    // it changes nothing for regular files.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| {
            let not_found = error.kind() == io::ErrorKind::NotFound;
            let error = LoadError::io(path, &error);
            if not_found {
                ReadError::NotFound(error)
            } else {
                ReadError::Other(error)
            }
        })?;
    let metadata = file.metadata().map_err(io_fail)?;
    if metadata.is_dir() {
        return Err(fail(LoadErrorKind::IsDirectory));
    }
    if !metadata.is_file() {
        return Err(fail(LoadErrorKind::NotRegularFile));
    }
    let too_big = |size| {
        fail(LoadErrorKind::TooLarge {
            size,
            limit: max_config_bytes,
        })
    };
    if metadata.len() > max_config_bytes {
        return Err(too_big(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // The file can grow between the stat and the read: never read past the limit.
    file.take(max_config_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io_fail)?;
    if bytes.len() as u64 > max_config_bytes {
        return Err(too_big(bytes.len() as u64));
    }
    if bytes.is_empty() {
        return Err(fail(LoadErrorKind::Empty));
    }
    Ok(bytes)
}

/// The path a watcher should treat as "the directory holding the keys".
#[cfg(any(feature = "notify", feature = "inotify", feature = "poll"))]
pub(crate) fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(all(test, feature = "testing"))]
mod tests;

#[cfg(all(test, feature = "testing"))]
mod proptests;
