//! Why a load was rejected, as a kind a caller can match, count and retry on.
//!
//! Every reason is one line and never quotes the file: a config can hold
//! secrets, and a rejection ends up in logs. An I/O error keeps its
//! `io::ErrorKind` and errno. A document that cannot be used is one of
//! three kinds, each with its own [`LoadErrorKind::label`]:
//!
//! - [`Syntax`](LoadErrorKind::Syntax) (`syntax`): the bytes are not a
//!   document of the format (malformed, not UTF-8, several YAML documents,
//!   over the YAML parser's budgets), with its line and column.
//! - [`Schema`](LoadErrorKind::Schema): a well-formed document that does not
//!   fit the type, labelled by its [`SchemaErrorKind`]: `wrong_type`,
//!   `missing_field`, `unknown_field` (only for a type with
//!   `#[serde(deny_unknown_fields)]`), `duplicate_key`; with its line,
//!   column and the field's path as the type names it
//!   (`servers[2].port`), never with a name or value from the file.
//! - [`Invalid`](LoadErrorKind::Invalid) (`invalid`): it fits the type, and
//!   the config's own checks refused it ([`ValidationError`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::{Format, WatcherKind};

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
    /// The bytes are not a document of the format.
    Syntax(SyntaxError),
    /// A well-formed document that does not fit the config's type.
    Schema(SchemaError),
    /// The document fits the type but the config's own checks rejected it.
    Invalid(ValidationError),
}

/// Bytes that are not a document of the format: malformed, not UTF-8, or
/// refused by the parser's own limits (YAML alias bombs and deep nesting,
/// several YAML documents, an alias to no anchor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The format the bytes were read as.
    pub format: Format,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What was wrong, in the parser's words, without the file's content.
    pub message: String,
}

/// A well-formed document that does not fit the config's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// What does not fit.
    pub kind: SchemaErrorKind,
    /// The format the document was read as.
    pub format: Format,
    /// The field, as the type names it: `limits.max_connections`,
    /// `servers[2].port`; empty for the document itself. A key of a map
    /// (a `HashMap<String, _>`) is the file's word, not the type's, so it
    /// shows as `<key>` (`routes.<key>.timeout_ms`), as does every step
    /// the path cannot name from the type (a flattened or untagged field).
    /// For a missing field, the field that is missing; for an unknown
    /// field, the struct that does not know it (the unknown name is the
    /// file's); for a duplicate key, the key if the type names it.
    /// Empty for a TOML duplicate key, which the parser finds before
    /// any type is involved.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What was wrong, in words that come from the parser and the type
    /// (`wrong type: expected u16, found a string`).
    pub message: String,
}

/// How a document does not fit the config's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SchemaErrorKind {
    /// A value the type does not take: another type (a string for a
    /// number, a list for a struct), a number out of range, an unknown enum
    /// variant, a value the type's own `Deserialize` refused. One kind for
    /// all of them because YAML's plain scalars have no type of their own:
    /// its parser cannot tell `port: 99999999` from `port: many` for a
    /// `u16`.
    WrongType,
    /// A field the type requires is not there.
    MissingField,
    /// A key the type does not know, for a type with
    /// `#[serde(deny_unknown_fields)]` (other types ignore it).
    UnknownField,
    /// The same key twice in one mapping: every YAML mapping and TOML
    /// table; in JSON, a field of a struct (serde_json keeps the last of
    /// a key repeated in a map type).
    DuplicateKey,
}

/// Why [`Format::parse`] could not turn a document into the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not a document of the format.
    Syntax(SyntaxError),
    /// A document that does not fit the type.
    Schema(SchemaError),
}

/// Why the config's own checks (the
/// [`Builder::validate`](crate::Builder::validate) hook) refused it: a
/// reason for a human and, when it is about one field, that field's path.
///
/// ```
/// use config_reload::ValidationError;
///
/// let error: ValidationError = "at least one server".into();
/// assert_eq!(error.to_string(), "at least one server");
/// let error = ValidationError::new("must be at least 1").at("limits.max_connections");
/// assert_eq!(error.to_string(), "in limits.max_connections: must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The field the check is about, named as the type names it.
    pub path: Option<String>,
    /// What is wrong, for a human (without quoting secrets).
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
    /// load is retried with backoff. A decoding or validation failure is not:
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
    /// `dangling_link`, `io`, `syntax`, `wrong_type`, `missing_field`,
    /// `unknown_field`, `duplicate_key`, `invalid`, ...
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
            Self::Syntax(_) => "syntax",
            Self::Schema(error) => error.kind.label(),
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
            Self::Syntax(error) => write!(f, "{error}"),
            Self::Schema(error) => write!(f, "{error}"),
            Self::Invalid(error) => match &error.path {
                Some(path) => write!(f, "invalid config, in {path}: {}", error.message),
                None => write!(f, "invalid config: {}", error.message),
            },
        }
    }
}

impl SchemaErrorKind {
    /// `wrong_type`, `missing_field`, `unknown_field`, `duplicate_key`: what
    /// [`LoadErrorKind::label`] says for a schema error.
    pub fn label(self) -> &'static str {
        match self {
            Self::WrongType => "wrong_type",
            Self::MissingField => "missing_field",
            Self::UnknownField => "unknown_field",
            Self::DuplicateKey => "duplicate_key",
        }
    }
}

/// `invalid YAML at line 3, column 20`: what every decoding failure's
/// reason opens with.
fn where_in(
    f: &mut fmt::Formatter<'_>,
    format: Format,
    line: Option<u64>,
    column: Option<u64>,
) -> fmt::Result {
    write!(f, "invalid {}", format.name())?;
    match (line, column) {
        (Some(line), Some(column)) => write!(f, " at line {line}, column {column}"),
        (Some(line), None) => write!(f, " at line {line}"),
        _ => Ok(()),
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        where_in(f, self.format, self.line, self.column)?;
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SyntaxError {}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        where_in(f, self.format, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, ", in {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SchemaError {}

impl ParseError {
    /// 1-based line, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Syntax(error) => error.line,
            Self::Schema(error) => error.line,
        }
    }

    /// 1-based column, when known.
    pub fn column(&self) -> Option<u64> {
        match self {
            Self::Syntax(error) => error.column,
            Self::Schema(error) => error.column,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(error) => write!(f, "{error}"),
            Self::Schema(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for LoadErrorKind {
    fn from(error: ParseError) -> Self {
        match error {
            ParseError::Syntax(error) => Self::Syntax(error),
            ParseError::Schema(error) => Self::Schema(error),
        }
    }
}

impl ValidationError {
    /// A reason about the config as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            path: None,
            message: message.into(),
        }
    }

    /// The same reason, about the field at `path` (as the type names it:
    /// `limits.max_connections`).
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

impl From<String> for ValidationError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for ValidationError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "in {path}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for ValidationError {}

/// Why [`Decode`](crate::Decode) refused a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a document of the format, or one that does not fit the type.
    Parse(ParseError),
    /// It fits, but the config's own checks refused it.
    Invalid(ValidationError),
}

impl From<ParseError> for DecodeError {
    fn from(error: ParseError) -> Self {
        Self::Parse(error)
    }
}

impl From<ValidationError> for DecodeError {
    fn from(error: ValidationError) -> Self {
        Self::Invalid(error)
    }
}

impl From<String> for DecodeError {
    fn from(reason: String) -> Self {
        Self::Invalid(reason.into())
    }
}

impl From<&str> for DecodeError {
    fn from(reason: &str) -> Self {
        Self::Invalid(reason.into())
    }
}

impl From<DecodeError> for LoadErrorKind {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::Parse(error) => error.into(),
            DecodeError::Invalid(error) => Self::Invalid(error),
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
    fn a_decoding_error_says_where() {
        let error = SyntaxError {
            format: Format::Yaml,
            line: Some(2),
            column: Some(7),
            message: "unclosed bracket '['".into(),
        };
        assert_eq!(
            error.to_string(),
            "invalid YAML at line 2, column 7: unclosed bracket '['"
        );
        let error = SchemaError {
            kind: SchemaErrorKind::UnknownField,
            format: Format::Json,
            path: "limits".into(),
            line: Some(2),
            column: Some(7),
            message: "unknown field, expected `max_connections`".into(),
        };
        assert_eq!(
            error.to_string(),
            "invalid JSON at line 2, column 7, in limits: unknown field, expected `max_connections`"
        );
        assert_eq!(LoadErrorKind::Schema(error).label(), "unknown_field");
    }

    #[test]
    fn a_validation_error_names_its_field_if_it_has_one() {
        let kind = LoadErrorKind::Invalid(
            ValidationError::new("must be at least 1").at("limits.max_connections"),
        );
        assert_eq!(
            kind.to_string(),
            "invalid config, in limits.max_connections: must be at least 1"
        );
        assert_eq!(
            LoadErrorKind::Invalid("no servers".into()).to_string(),
            "invalid config: no servers"
        );
    }
}
