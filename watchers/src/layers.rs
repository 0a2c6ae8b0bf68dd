//! Defaults under the watched file and environment variables over it, as
//! viper, koanf and the `config` crate layer them, merged by figment on
//! every reload: an edit of the file changes what it sets, and an
//! environment override still wins after it.
//!
//! The file is parsed by the watch's own parser ([`Format::parse`]), so its
//! syntax errors, budgets and duplicate-key check are the same as without
//! layers; figment merges the three and extracts the config. A schema error
//! after merging names the field in the type's names and, for a value that
//! came from the environment, the variable: never the value itself.

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Env, Serialized};
use figment::value::{Dict, Value};
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::{DecodeError, Format, ParseError, SchemaError, SchemaErrorKind, ValidationError};

/// The layers around the watched file, set by
/// [`Builder::defaults`](crate::Builder::defaults) and
/// [`Builder::env_prefix`](crate::Builder::env_prefix).
#[derive(Debug, Clone, Default)]
pub(crate) struct Layers {
    /// Under the file: the program's defaults, serialized once. `Err` if
    /// they cannot be (a map with keys that are not strings): said on the
    /// first load, a mistake of the program, not of the file.
    defaults: Option<Result<Dict, String>>,
    /// Over the file: variables named `PREFIX` + the key, `__` between
    /// nested keys (`APP_LIMITS__MAX_CONNECTIONS`).
    env_prefix: Option<String>,
}

impl Layers {
    pub(crate) fn set_defaults(&mut self, defaults: &impl serde::Serialize) {
        let dict = Value::serialize(defaults)
            .map_err(|error| error.to_string())
            .and_then(|value| match value {
                Value::Dict(_, dict) => Ok(dict),
                _ => Err("the defaults must serialize to a map of fields".to_owned()),
            });
        self.defaults = Some(dict);
    }

    pub(crate) fn set_env_prefix(&mut self, prefix: &str) {
        self.env_prefix = Some(prefix.to_owned());
    }

    /// Whether there is anything to layer: without, the file is decoded
    /// directly (with its line and column on every error).
    pub(crate) fn is_empty(&self) -> bool {
        self.defaults.is_none() && self.env_prefix.is_none()
    }

    /// The defaults, then the file's `bytes` in `format`, then the
    /// environment, extracted as a `T`.
    pub(crate) fn extract<T: DeserializeOwned>(
        &self,
        format: Format,
        bytes: &[u8],
    ) -> Result<T, DecodeError> {
        let file: Dict = format.parse(bytes)?;
        let mut figment = Figment::new();
        if let Some(defaults) = &self.defaults {
            let defaults = defaults.clone().map_err(|reason| {
                DecodeError::Invalid(ValidationError::new(format!(
                    "the program's defaults cannot be layered: {reason}"
                )))
            })?;
            figment = figment.merge(Serialized::defaults(defaults));
        }
        figment = figment.merge(Serialized::defaults(file));
        if let Some(prefix) = &self.env_prefix {
            figment = figment.merge(Env::prefixed(prefix).split("__"));
        }
        figment.extract::<T>().map_err(|error| {
            DecodeError::Parse(schema_error::<T>(format, self.env_prefix.as_deref(), error))
        })
    }
}

/// A figment extraction error as a [`SchemaError`]: the kind from figment's
/// own, the path in `T`'s names, a message with no value in it.
fn schema_error<T: DeserializeOwned>(
    format: Format,
    env_prefix: Option<&str>,
    error: figment::Error,
) -> ParseError {
    let (kind, mut message) = match &error.kind {
        Kind::MissingField(_) => (SchemaErrorKind::MissingField, "missing field".to_owned()),
        Kind::UnknownField(_, expected) => (
            SchemaErrorKind::UnknownField,
            format!("unknown field, expected one of {}", expected.join(", ")),
        ),
        Kind::DuplicateField(_) => (SchemaErrorKind::DuplicateKey, "duplicate field".to_owned()),
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => (
            SchemaErrorKind::WrongType,
            format!("wrong type: expected {expected}, found {}", kind_of(actual)),
        ),
        Kind::InvalidLength(_, expected) => (
            SchemaErrorKind::WrongType,
            format!("wrong length: expected {expected}"),
        ),
        Kind::UnknownVariant(_, expected) => (
            SchemaErrorKind::WrongType,
            format!("unknown variant, expected one of {}", expected.join(", ")),
        ),
        // A `Deserialize` impl's own words may quote the value: only that
        // the value was refused is said.
        _ => (
            SchemaErrorKind::WrongType,
            "a value the type refused".to_owned(),
        ),
    };
    let mut segments: Vec<Segment> = error
        .path
        .iter()
        .map(|step| match step.parse::<usize>() {
            Ok(index) => Segment::Seq { index },
            Err(_) => Segment::Map { key: step.clone() },
        })
        .collect();
    let named = match &error.kind {
        Kind::MissingField(field) => Some(field.to_string()),
        Kind::DuplicateField(field) => Some((*field).to_owned()),
        _ => None,
    };
    if matches!(error.kind, Kind::UnknownField(..)) {
        // The last step is the unknown key: the file's word, not the type's.
        segments.pop();
    }
    segments.extend(named.map(|key| Segment::Map { key }));
    let from_env = error
        .metadata
        .as_ref()
        .is_some_and(|metadata| metadata.name.contains("environment"));
    if let (true, Some(prefix)) = (from_env, env_prefix) {
        // The variable's name is the operator's, not the file's content.
        let variable = format!("{prefix}{}", error.path.join("__")).to_uppercase();
        message = format!("{message}, set by the environment variable {variable}");
    }
    let segments: Vec<&Segment> = segments.iter().collect();
    ParseError::Schema(SchemaError {
        kind,
        format,
        path: crate::field_path::render::<T>(&segments),
        line: None,
        column: None,
        message,
    })
}

/// What a value was, without the value.
fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a map",
        _ => "another type",
    }
}
