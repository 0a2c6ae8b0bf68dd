//! Why a load was rejected, as a kind a caller can match, count and retry on.
//!
//! Every reason is one line and never quotes the file: a config can hold
//! secrets, and a rejection ends up in logs. A parse error says where (line
//! and column) and what the type expected (field names come from the type,
//! not the file); an I/O error keeps its `io::ErrorKind` and errno.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::WatcherKind;

/// Why a load was rejected: the file (or directory) and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file (or directory) that could not be used.
    pub path: PathBuf,
    /// What was wrong with it.
    pub kind: LoadErrorKind,
}

/// What was wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// The path does not exist.
    Missing,
    /// The path is a symlink to something that does not exist.
    DanglingLink {
        /// Where the link points.
        target: PathBuf,
    },
    /// The key is not in the ConfigMap volume `..data` points to.
    KeyNotInVolume {
        /// The key's file name.
        key: String,
        /// The directory `..data` pointed to.
        data_dir: PathBuf,
    },
    /// Symlinks that never end.
    SymlinkLoop,
    /// A directory where a file was expected.
    IsDirectory,
    /// A FIFO, socket or device where a file was expected.
    NotRegularFile,
    /// Larger than the configured limit (refused before reading it all).
    TooLarge {
        /// The size seen.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is empty.
    Empty,
    /// The process may not read it.
    PermissionDenied,
    /// `..data` changed on every attempt to read one consistent snapshot.
    KeptChanging,
    /// Any other I/O error.
    Io {
        /// The portable kind.
        kind: io::ErrorKind,
        /// The OS error number, when there is one.
        errno: Option<i32>,
        /// The OS's words for it.
        message: String,
    },
    /// The bytes are not a valid document of the format.
    Parse(ParseError),
    /// The document parsed but the config's own checks rejected it.
    Invalid(String),
}

/// Where and why a document failed to parse, without any of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// `"YAML"`, ...
    pub format: &'static str,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What was wrong, in words that come from the parser and the type.
    pub message: String,
}

impl LoadError {
    pub(crate) fn new(path: impl Into<PathBuf>, kind: LoadErrorKind) -> Self {
        Self {
            path: path.into(),
            kind,
        }
    }

    /// The error of an I/O call on `path`, in words an operator acts on.
    pub(crate) fn io(path: &Path, error: &io::Error) -> Self {
        Self::new(path, LoadErrorKind::from_io(path, error))
    }

    /// Whether the failure can go away with no change to the file (a full
    /// descriptor table, an I/O error, a busy or stale network file): such a
    /// load is retried with backoff. A parse or validation failure is not:
    /// the content is what it is until it changes.
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }
}

impl LoadErrorKind {
    fn from_io(path: &Path, error: &io::Error) -> Self {
        if error.raw_os_error() == Some(libc::ELOOP) {
            return Self::SymlinkLoop;
        }
        match error.kind() {
            io::ErrorKind::NotFound => match std::fs::read_link(path) {
                Ok(target) => Self::DanglingLink { target },
                Err(_) => Self::Missing,
            },
            io::ErrorKind::PermissionDenied => Self::PermissionDenied,
            kind => Self::Io {
                kind,
                errno: error.raw_os_error(),
                message: error.to_string(),
            },
        }
    }

    /// See [`LoadError::is_transient`].
    pub fn is_transient(&self) -> bool {
        match self {
            Self::KeptChanging => true,
            Self::Io { errno, kind, .. } => {
                errno.is_some_and(|errno| TRANSIENT_ERRNOS.contains(&errno))
                    || matches!(kind, io::ErrorKind::Interrupted | io::ErrorKind::TimedOut)
            }
            _ => false,
        }
    }

    /// A short, stable name for metrics labels and logs: `missing`,
    /// `dangling_link`, `parse`, `io`, ...
    pub fn label(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::DanglingLink { .. } => "dangling_link",
            Self::KeyNotInVolume { .. } => "key_not_in_volume",
            Self::SymlinkLoop => "symlink_loop",
            Self::IsDirectory | Self::NotRegularFile => "not_a_file",
            Self::TooLarge { .. } => "too_large",
            Self::Empty => "empty",
            Self::PermissionDenied => "permission_denied",
            Self::KeptChanging | Self::Io { .. } => "io",
            Self::Parse(_) => "parse",
            Self::Invalid(_) => "invalid",
        }
    }
}

/// Errors that say nothing about the file, only about the moment: a full
/// descriptor table, the kernel short of memory, a device or network
/// filesystem failing for now.
const TRANSIENT_ERRNOS: [i32; 11] = [
    libc::EMFILE,
    libc::ENFILE,
    libc::ENOMEM,
    libc::ENOBUFS,
    libc::EIO,
    libc::EAGAIN,
    libc::EINTR,
    libc::EBUSY,
    libc::ESTALE,
    libc::ETIMEDOUT,
    libc::ENOTCONN,
];

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.kind)
    }
}

impl std::error::Error for LoadError {}

impl fmt::Display for LoadErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => write!(f, "does not exist"),
            Self::DanglingLink { target } => write!(
                f,
                "dangling symlink (points to {}, which does not exist)",
                target.display()
            ),
            Self::KeyNotInVolume { key, data_dir } => write!(
                f,
                "key {key:?} is not in the ConfigMap volume (..data -> {})",
                data_dir.display()
            ),
            Self::SymlinkLoop => write!(f, "symlink loop (too many levels of symbolic links)"),
            Self::IsDirectory => write!(f, "is a directory, not a file"),
            Self::NotRegularFile => write!(f, "is not a regular file"),
            Self::TooLarge { size, limit } => {
                write!(f, "is larger than the limit ({size} > {limit} bytes)")
            }
            Self::Empty => write!(f, "is empty"),
            Self::PermissionDenied => write!(f, "permission denied"),
            Self::KeptChanging => write!(f, "..data kept changing while it was read"),
            Self::Io { message, .. } => write!(f, "{message}"),
            Self::Parse(error) => write!(f, "{error}"),
            Self::Invalid(reason) => write!(f, "invalid config: {reason}"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}", self.format)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, " at line {line}, column {column}")?,
            (Some(line), None) => write!(f, " at line {line}")?,
            _ => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ParseError {}

/// Why [`Decode`](crate::Decode) refused a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a valid document.
    Parse(ParseError),
    /// Valid, but the config's own checks refused it.
    Invalid(String),
}

impl From<ParseError> for DecodeError {
    fn from(error: ParseError) -> Self {
        Self::Parse(error)
    }
}

impl From<String> for DecodeError {
    fn from(reason: String) -> Self {
        Self::Invalid(reason)
    }
}

impl From<&str> for DecodeError {
    fn from(reason: &str) -> Self {
        Self::Invalid(reason.to_owned())
    }
}

impl From<DecodeError> for LoadErrorKind {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::Parse(error) => Self::Parse(error),
            DecodeError::Invalid(reason) => Self::Invalid(reason),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&LoadErrorKind::from(self.clone()), f)
    }
}

impl std::error::Error for DecodeError {}

/// Why a [`Watch`](crate::Watch) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The watch could not be set up.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The directory that could not be watched.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The initial config could not be loaded.
    #[error("{0}")]
    InitialLoad(LoadError),
    /// The file's extension names no known format, and none was given.
    #[error(
        "{0}: cannot tell the format from the extension (.yaml, .yml, .json or .toml); set one with Builder::format"
    )]
    UnknownFormat(PathBuf),
    /// A source of several keys was given no decoder to combine them.
    #[error("a source of several keys needs a decoder that combines them: Watch::decoding")]
    SeveralKeysNeedADecoder,
    /// The watcher is not compiled in (its crate feature) or does not run here.
    #[error("the {0} watcher is not available in this build or on this platform")]
    WatcherNotAvailable(WatcherKind),
    /// A Kubernetes API source names no key to read.
    #[error("a Kubernetes API source needs the keys to read: KubeSource::key")]
    NoKeys,
    /// The Kubernetes API source reads other keys than the volume: the two
    /// could never agree on a version.
    #[error(
        "the Kubernetes API source reads keys {api:?} but the volume {volume:?}: they must be the same"
    )]
    KeysDiffer {
        /// The volume's file names.
        volume: Vec<String>,
        /// The API source's keys.
        api: Vec<String>,
    },
    /// With the Kubernetes API alone, no first version came within the
    /// start timeout.
    #[error("no config from the Kubernetes API within {waited:?}: {reason}")]
    NoFirstVersion {
        /// How long start waited.
        waited: std::time::Duration,
        /// Why, as the source last reported it.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io_kind(errno: i32) -> LoadErrorKind {
        LoadErrorKind::from_io(
            Path::new("/nonexistent/config.yaml"),
            &io::Error::from_raw_os_error(errno),
        )
    }

    #[test]
    fn errors_that_can_go_away_are_transient() {
        for errno in [
            libc::EMFILE,
            libc::ENFILE,
            libc::EIO,
            libc::EAGAIN,
            libc::ESTALE,
        ] {
            assert!(io_kind(errno).is_transient(), "errno {errno}");
        }
        assert!(LoadErrorKind::KeptChanging.is_transient());
    }

    #[test]
    fn errors_about_the_file_itself_are_not_transient() {
        for kind in [
            io_kind(libc::ENOENT),
            io_kind(libc::EACCES),
            io_kind(libc::ELOOP),
            io_kind(libc::EISDIR),
            LoadErrorKind::Empty,
            LoadErrorKind::Invalid("message is empty".into()),
        ] {
            assert!(!kind.is_transient(), "{kind:?}");
        }
    }

    #[test]
    fn a_parse_error_says_where() {
        let error = ParseError {
            format: "YAML",
            line: Some(2),
            column: Some(7),
            message: "unknown field, expected `message`".into(),
        };
        assert_eq!(
            error.to_string(),
            "invalid YAML at line 2, column 7: unknown field, expected `message`"
        );
    }
}
