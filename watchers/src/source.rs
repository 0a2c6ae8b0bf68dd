//! What is watched: [`ConfigSource`], and the [`ContentHash`] of what was read.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::reload::loader;

/// What to watch: one file, or several keys of one ConfigMap mount read as one
/// consistent snapshot; with the `kube` feature, a ConfigMap read through the
/// Kubernetes API instead (`ConfigSource::kube`) or as well
/// (`ConfigSource::with_kube`).
#[derive(Debug, Clone)]
pub struct ConfigSource {
    dir: PathBuf,
    keys: Vec<String>,
    /// The keys' names on disk: the keys themselves, except a file name that
    /// is not UTF-8 (its key is the name with invalid bytes replaced, for
    /// messages and decoders; this is the name opened).
    file_names: Vec<OsString>,
    /// Whether there are files to read (not for the API alone).
    volume: bool,
    #[cfg(feature = "kube")]
    api: Option<Box<crate::KubeSource>>,
}

impl ConfigSource {
    /// One config file. Its parent directory is watched; when that directory
    /// is a ConfigMap mount (`..data`), the file is read through `..data`.
    pub fn file(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .map_or_else(|| path.as_os_str().to_owned(), ToOwned::to_owned);
        Self {
            dir,
            keys: vec![file_name.to_string_lossy().into_owned()],
            file_names: vec![file_name],
            volume: true,
            #[cfg(feature = "kube")]
            api: None,
        }
    }

    /// Several keys of one directory, read under one resolution of `..data`.
    pub fn keys(
        dir: impl Into<PathBuf>,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        Self {
            dir: dir.into(),
            file_names: keys.iter().map(OsString::from).collect(),
            keys,
            volume: true,
            #[cfg(feature = "kube")]
            api: None,
        }
    }

    /// A ConfigMap read through the Kubernetes API only, no volume: its keys
    /// are [`KubeSource::key`](crate::KubeSource::key)'s.
    ///
    /// ```no_run
    /// use config_reload::{ConfigSource, KubeSource, Watch};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct AppConfig { port: u16 }
    ///
    /// let source = ConfigSource::kube(KubeSource::configmap("app").key("config.yaml"));
    /// let config = Watch::<AppConfig>::builder(source).start()?;
    /// # Ok::<(), config_reload::StartError>(())
    /// ```
    #[cfg(feature = "kube")]
    pub fn kube(api: crate::KubeSource) -> Self {
        Self {
            dir: PathBuf::new(),
            file_names: api.keys().iter().map(OsString::from).collect(),
            keys: api.keys().to_vec(),
            volume: false,
            api: Some(Box::new(api)),
        }
    }

    /// The same files, also read through the Kubernetes API: the ConfigMap
    /// they are mounted from. The API decides while it can deliver, so the
    /// volume never brings back a version the API replaced; each report says
    /// which source ([`ReloadReport::source`](crate::ReloadReport::source))
    /// and the [`Observer::skew`](crate::Observer::skew) between them. If
    /// the API is unreachable or forbidden, the volume carries on and the
    /// health says why. The API's keys default to the files' names (and
    /// must equal them).
    ///
    /// ```no_run
    /// use config_reload::{ConfigSource, KubeSource, Watch};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct AppConfig { port: u16 }
    ///
    /// let source = ConfigSource::file("/etc/config/app.yaml").with_kube(KubeSource::configmap("app"));
    /// let config = Watch::<AppConfig>::builder(source).start()?;
    /// # Ok::<(), config_reload::StartError>(())
    /// ```
    #[cfg(feature = "kube")]
    pub fn with_kube(mut self, api: crate::KubeSource) -> Self {
        let api = api.with_keys(&self.keys);
        self.api = Some(Box::new(api));
        self
    }

    /// The API source, if any.
    #[cfg(feature = "kube")]
    pub(crate) fn api(&self) -> Option<&crate::KubeSource> {
        self.api.as_deref()
    }

    /// Whether there are files to read (false for the Kubernetes API alone).
    pub fn has_files(&self) -> bool {
        self.volume
    }

    /// The directory holding the keys (a ConfigMap mount, or any directory;
    /// empty for the Kubernetes API alone).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file names read on every load, in this order.
    pub fn names(&self) -> &[String] {
        &self.keys
    }

    /// The same keys in `dir` (made absolute by the watchers).
    #[cfg(any(feature = "notify", feature = "inotify", feature = "poll"))]
    pub(crate) fn with_dir(&self, dir: PathBuf) -> Self {
        Self {
            dir,
            ..self.clone()
        }
    }

    /// The keys' names on disk, in the order of [`ConfigSource::names`].
    pub(crate) fn file_names(&self) -> &[OsString] {
        &self.file_names
    }

    /// The path of the first key, for messages.
    pub fn primary_path(&self) -> PathBuf {
        self.dir.join(&self.file_names[0])
    }

    /// True when the directory uses the kubelet's `..data` layout.
    pub fn is_configmap_mount(&self) -> bool {
        fs::symlink_metadata(self.dir.join(loader::DATA_LINK))
            .is_ok_and(|metadata| metadata.file_type().is_symlink())
    }
}

/// The blake3 hash of the bytes a config was decoded from (all keys, in order).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl fmt::Display for ContentHash {
    /// Lower-case hex of the first 16 bytes: enough to tell versions apart in
    /// an `ETag` or a metric label.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0[..16]
            .iter()
            .try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}
