//! The document formats a config can be written in, each parsed by its
//! well-kept crate, with one rule for all: an error says where and what the
//! type expected, and never quotes the file (a config can hold secrets, and
//! a rejection is logged).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_path_to_error::{Segment, Track};

use crate::{ParseError, SchemaError, SchemaErrorKind, SyntaxError};

/// A config file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// YAML 1.2 (serde-saphyr, with its budgets against alias bombs and deep
    /// nesting, duplicate keys rejected). `.yaml`, `.yml`.
    Yaml,
    /// JSON (serde_json). `.json`.
    Json,
    /// TOML (the `toml` crate). `.toml`.
    Toml,
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 3] = [Format::Yaml, Format::Json, Format::Toml];

    /// The format a file's extension names, if any.
    ///
    /// ```
    /// use config_reload::Format;
    /// assert_eq!(Format::from_path("/etc/config/app.yml"), Some(Format::Yaml));
    /// assert_eq!(Format::from_path("settings.TOML"), Some(Format::Toml));
    /// assert_eq!(Format::from_path("app.ini"), None);
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Option<Self> {
        let extension = path.as_ref().extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            "toml" => Some(Self::Toml),
            _ => None,
        }
    }

    /// `"YAML"`, `"JSON"`, `"TOML"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Yaml => "YAML",
            Self::Json => "JSON",
            Self::Toml => "TOML",
        }
    }

    /// Parses `bytes` as a document of this format into `T`: a
    /// [`ParseError::Syntax`] if they are not a document, a
    /// [`ParseError::Schema`] if it does not fit `T`.
    ///
    /// A leading byte-order mark is skipped (editors on Windows write one);
    /// bytes that are not UTF-8 are rejected with the offset of the first bad
    /// one.
    ///
    /// ```
    /// use config_reload::{Format, ParseError, SchemaErrorKind};
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// #[serde(deny_unknown_fields)]
    /// struct Config { limits: Limits }
    /// #[derive(Debug, serde::Deserialize)]
    /// #[serde(deny_unknown_fields)]
    /// struct Limits { max_connections: u32 }
    ///
    /// let toml = b"[limits]\nmax_connections = 8\n";
    /// assert_eq!(Format::Toml.parse::<Config>(toml).unwrap().limits.max_connections, 8);
    /// let json = br#"{"limits": {"max_connections": 1, "sk_live_123": 2}}"#;
    /// let ParseError::Schema(error) = Format::Json.parse::<Config>(json).unwrap_err() else {
    ///     panic!("a schema error")
    /// };
    /// assert_eq!(error.kind, SchemaErrorKind::UnknownField);
    /// assert_eq!(error.path, "limits");
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid JSON at line 1, column 47, in limits: unknown field, expected `max_connections`"
    /// );
    /// ```
    pub fn parse<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, ParseError> {
        const BOM: &[u8] = "\u{feff}".as_bytes();
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|error| {
            self.syntax(
                None,
                None,
                format!("not UTF-8: invalid byte at offset {}", error.valid_up_to()),
            )
        })?;
        match self {
            Self::Yaml => yaml::parse(text),
            Self::Json => json::parse(text),
            Self::Toml => toml::parse(text),
        }
    }

    fn syntax(self, line: Option<u64>, column: Option<u64>, message: String) -> ParseError {
        ParseError::Syntax(SyntaxError {
            format: self,
            line,
            column,
            message,
        })
    }
}

/// A schema error at `track`'s path, put in `T`'s names
/// ([`field_path`](crate::field_path)). `key` is the key the error names,
/// which the path does not hold (a missing field, a duplicate key): it
/// becomes the path's last step, shown if the type names it.
fn schema<T: DeserializeOwned>(
    format: Format,
    kind: SchemaErrorKind,
    track: Track,
    key: Option<&str>,
    line: Option<u64>,
    column: Option<u64>,
    message: String,
) -> ParseError {
    let path = track.path();
    let mut segments: Vec<&Segment> = path.iter().collect();
    // The tracked path ends at the struct for most errors, and one step
    // further for two: an unknown field (the unknown key, the file's word)
    // and an error raised before its key was read (`Unknown`: a YAML
    // duplicate key). That step goes; the key the error names, if any,
    // takes its place.
    let last_is_a_key = matches!(segments.last(), Some(Segment::Unknown))
        || kind == SchemaErrorKind::UnknownField
            && matches!(segments.last(), Some(Segment::Map { .. }));
    if last_is_a_key {
        segments.pop();
    }
    let named = key.map(|key| Segment::Map {
        key: key.to_owned(),
    });
    segments.extend(named.as_ref());
    ParseError::Schema(SchemaError {
        kind,
        format,
        path: crate::field_path::render::<T>(&segments),
        line,
        column,
        message,
    })
}

mod yaml {
    use serde::de::DeserializeOwned;
    use serde_path_to_error::Track;
    use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};

    use super::{Format, kind_of, one_of, schema, serde_kind, without_quotes};
    use crate::{ParseError, SchemaErrorKind};

    /// serde-saphyr's default options already are what a config reload
    /// needs: alias replay and nesting depth are budgeted (a "billion laughs"
    /// file or 100 000 nested `[` fail fast instead of eating the process),
    /// and a duplicate key is an error rather than a silent last-one-wins.
    /// Snippets are off: they would copy the file into the message.
    pub(super) fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
        let options = serde_saphyr::options! { with_snippet: false };
        let mut track = Track::new();
        serde_saphyr::with_deserializer_from_str_with_options(text, options, |deserializer| {
            T::deserialize(serde_path_to_error::Deserializer::new(
                deserializer,
                &mut track,
            ))
        })
        .map_err(|error| {
            let location = error.location().filter(|location| location.line() > 0);
            let (line, column) = (
                location.map(|location| location.line()),
                location.map(|location| location.column()),
            );
            let error = original(&error);
            let message = content_free(error);
            match kind(error) {
                Some((kind, field)) => {
                    schema::<T>(Format::Yaml, kind, track, field, line, column, message)
                }
                None => Format::Yaml.syntax(line, column, message),
            }
        })
    }

    /// The error an alias or a snippet wraps: the one that says what went wrong.
    fn original(mut error: &Error) -> &Error {
        while let Error::AliasError { error: inner, .. } | Error::WithSnippet { error: inner, .. } =
            error
        {
            error = inner;
        }
        error
    }

    /// How the document does not fit the type, from serde-saphyr's own
    /// variants, and the key a missing field or duplicate key error names;
    /// `None` for an error of the YAML itself: the parser's, an anchor, a
    /// budget, several documents, the end of the input.
    fn kind(error: &Error) -> Option<(SchemaErrorKind, Option<&str>)> {
        use SchemaErrorKind::*;
        let kind = match error {
            Error::SerdeMissingField { field, .. } => return Some((MissingField, Some(field))),
            Error::SerdeUnknownField { .. } => UnknownField,
            // The key is the file's, shown only if the type names it.
            Error::DuplicateMappingKey { key, .. } => return Some((DuplicateKey, key.as_deref())),
            // serde's `custom` errors (a derive's duplicate field, a type's
            // own `Deserialize`) carry only their words.
            Error::Message { msg, .. } => serde_kind(msg),
            Error::SerdeInvalidType { .. }
            | Error::SerdeInvalidValue { .. }
            | Error::SerdeInvalidLength { .. }
            | Error::SerdeUnknownVariant { .. }
            | Error::SerdeVariantId { .. }
            | Error::TaggedEnumMismatch { .. }
            | Error::InvalidScalar { .. }
            | Error::NonFiniteFloat { .. }
            | Error::Unexpected { .. }
            | Error::InvalidBooleanStrict { .. }
            | Error::InvalidCharNull { .. }
            | Error::InvalidCharNotSingleScalar { .. }
            | Error::NullIntoString { .. }
            | Error::BytesNotSupportedMissingBinaryTag { .. }
            | Error::InvalidBinaryBase64 { .. }
            | Error::BinaryNotUtf8 { .. }
            | Error::TaggedScalarCannotDeserializeIntoString { .. }
            | Error::UnexpectedValueForUnit { .. }
            | Error::ExpectedEmptyMappingForUnitStruct { .. }
            | Error::ExpectedStringKeyForExternallyTaggedEnum { .. }
            | Error::ExternallyTaggedEnumExpectedScalarOrMapping { .. }
            | Error::UnexpectedValueForUnitEnumVariant { .. }
            | Error::ExpectedMappingEndAfterEnumVariantValue { .. }
            | Error::QuotingRequired { .. } => WrongType,
            _ => return None,
        };
        Some((kind, None))
    }

    /// serde's messages for an unknown field or variant, a wrong type or
    /// value, a duplicate key and an unknown anchor quote the offending key or
    /// value: those are rebuilt from what the type expected. Any other message
    /// is the parser's own, with every quoted span removed in case a custom
    /// `Deserialize` put content there.
    fn content_free(error: &Error) -> String {
        match error {
            Error::SerdeUnknownField { expected, .. } => {
                format!("unknown field, expected {}", one_of(expected))
            }
            Error::SerdeUnknownVariant { expected, .. } => {
                format!("unknown variant, expected {}", one_of(expected))
            }
            Error::SerdeInvalidType {
                unexpected,
                expected,
                ..
            } => format!(
                "wrong type: expected {expected}, found {}",
                kind_of(unexpected)
            ),
            Error::SerdeInvalidValue { expected, .. } => {
                format!("invalid value: expected {expected}")
            }
            Error::SerdeMissingField { field, .. } => format!("missing field `{field}`"),
            Error::DuplicateMappingKey { .. } => "duplicate key".to_owned(),
            Error::NonFiniteFloat { .. } => "a non-finite number where none is allowed".to_owned(),
            Error::TaggedEnumMismatch { target, .. } => format!("tag does not match {target}"),
            Error::SerdeVariantId { .. } => "invalid enum variant".to_owned(),
            Error::UnknownAnchor { .. } => "an alias refers to an unknown anchor".to_owned(),
            other => without_quotes(&UserMessageFormatter.format_message(other), true),
        }
    }
}

mod json {
    use serde::de::DeserializeOwned;
    use serde_json::error::Category;
    use serde_path_to_error::Track;

    use super::{Format, named_field, schema, serde_kind, serde_message};
    use crate::ParseError;

    pub(super) fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let mut track = Track::new();
        T::deserialize(serde_path_to_error::Deserializer::new(
            &mut deserializer,
            &mut track,
        ))
        .and_then(|config| deserializer.end().map(|()| config))
        .map_err(|error| {
            // serde_json's `Display` is "<message> at line L column C".
            let located = format!(" at line {} column {}", error.line(), error.column());
            let text = error.to_string();
            let raw = text.strip_suffix(&located).unwrap_or(&text);
            let line = (error.line() > 0).then_some(error.line() as u64);
            let column = line.map(|_| error.column() as u64);
            let message = serde_message(raw);
            match error.classify() {
                // serde_json tells a document that does not fit (`Data`)
                // from one that is not JSON, but not how it does not fit:
                // that is in serde's words only.
                Category::Data => schema::<T>(
                    Format::Json,
                    serde_kind(raw),
                    track,
                    named_field(raw),
                    line,
                    column,
                    message,
                ),
                Category::Syntax | Category::Eof | Category::Io => {
                    Format::Json.syntax(line, column, message)
                }
            }
        })
    }
}

mod toml {
    use serde::de::DeserializeOwned;
    use serde_path_to_error::Track;

    use super::{Format, named_field, schema, serde_kind, serde_message};
    use crate::{ParseError, SchemaErrorKind};

    /// In two steps, as `toml::from_str` does: parsing, whose only error
    /// that is not about syntax is a duplicate key, then deserializing the
    /// parsed tables into `T`, whose every error is a schema error. `toml`'s
    /// errors carry a message and a span, no kind: a duplicate key and how
    /// a document does not fit are told from the message.
    pub(super) fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
        let located = |error: &::toml::de::Error| {
            error
                .span()
                .map(|span| line_and_column(text, span.start))
                .unzip()
        };
        let deserializer = ::toml::de::Deserializer::parse(text).map_err(|error| {
            let (line, column) = located(&error);
            // The message alone: `Display` would show the offending line.
            let message = serde_message(error.message());
            if error.message().starts_with("duplicate key") {
                schema::<T>(
                    Format::Toml,
                    SchemaErrorKind::DuplicateKey,
                    Track::new(),
                    None,
                    line,
                    column,
                    message,
                )
            } else {
                Format::Toml.syntax(line, column, message)
            }
        })?;
        let mut track = Track::new();
        T::deserialize(serde_path_to_error::Deserializer::new(
            deserializer,
            &mut track,
        ))
        .map_err(|error| {
            let (line, column) = located(&error);
            schema::<T>(
                Format::Toml,
                serde_kind(error.message()),
                track,
                named_field(error.message()),
                line,
                column,
                serde_message(error.message()),
            )
        })
    }

    /// The 1-based line and column of byte `offset` in `text`.
    fn line_and_column(text: &str, offset: usize) -> (u64, u64) {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |last| last.chars().count())
            + 1;
        (line as u64, column as u64)
    }
}

/// How a document does not fit the type, from serde's own words for it (what
/// `serde::de::Error`'s provided methods write, and serde_json and toml
/// keep): where a parser's error has no kind, its message is all there is.
/// A message serde did not write is a type refusing a value.
fn serde_kind(message: &str) -> SchemaErrorKind {
    if message.starts_with("missing field ") {
        SchemaErrorKind::MissingField
    } else if message.starts_with("unknown field ") {
        SchemaErrorKind::UnknownField
    } else if message.starts_with("duplicate field ") || message.starts_with("duplicate key") {
        SchemaErrorKind::DuplicateKey
    } else {
        SchemaErrorKind::WrongType
    }
}

/// The field serde names in "missing field `x`" or "duplicate field `x`":
/// a name the type gave it (`&'static str`), never the file.
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("duplicate field `"))?;
    rest.split_once('`').map(|(field, _)| field)
}

/// `a`, `b` as "`a`, `b`": names that come from the type.
fn one_of(expected: &[&str]) -> String {
    match expected {
        [] => "no field at all".to_owned(),
        names => names
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `string "hunter2"` → `a string`: serde's `Unexpected` names the kind of
/// value before quoting it.
fn kind_of(unexpected: &str) -> String {
    const KINDS: [(&str, &str); 15] = [
        ("string", "a string"),
        ("integer", "an integer"),
        ("floating point", "a floating point number"),
        ("boolean", "a boolean"),
        ("character", "a character"),
        ("byte array", "a byte array"),
        ("unit value", "a unit value"),
        ("Option value", "an Option value"),
        ("newtype struct", "a newtype struct"),
        ("sequence", "a sequence"),
        ("map", "a map"),
        ("enum", "an enum"),
        ("unit variant", "a unit variant"),
        ("newtype variant", "a newtype variant"),
        ("null", "a null"),
    ];
    KINDS
        .iter()
        .find(|(kind, _)| unexpected.starts_with(kind))
        .map_or("another value", |(_, named)| named)
        .to_owned()
}

/// serde's standard messages (what `serde::de::Error`'s provided methods
/// write, which serde_json and toml keep) with the file's content taken
/// out: `unknown field `x`, expected ...` loses `x`, `invalid type: string
/// "x", expected ...` says only "a string". Anything else loses its
/// double-quoted spans; every line break becomes "; ".
fn serde_message(message: &str) -> String {
    let message = message.trim().replace('\n', "; ");
    let after_name = |rest: &str| {
        rest.strip_prefix('`')
            .and_then(|rest| rest.split_once('`'))
            .map(|(_, tail)| tail.to_owned())
    };
    for (prefix, kind) in [
        ("unknown field ", "unknown field"),
        ("unknown variant ", "unknown variant"),
        ("duplicate key ", "duplicate key"),
    ] {
        if let Some(tail) = message.strip_prefix(prefix).and_then(after_name) {
            return format!("{kind}{tail}");
        }
    }
    for (prefix, rebuilt) in [
        ("invalid type: ", "wrong type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((unexpected, expected)) = rest.rsplit_once(", expected ")
        {
            return match rebuilt {
                "wrong type" => format!(
                    "wrong type: expected {}, found {}",
                    without_quotes(expected, false),
                    kind_of(unexpected)
                ),
                _ => format!(
                    "invalid value: expected {}",
                    without_quotes(expected, false)
                ),
            };
        }
    }
    without_quotes(&message, false)
}

/// Removes every span quoted with double quotes, and control characters.
/// Backtick spans name syntax (`` `,` ``) or the type's own fields and are
/// kept, unless `backticks_too`: where a message may quote the file with
/// them.
fn without_quotes(message: &str, backticks_too: bool) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    for character in message.chars() {
        match (open, character) {
            (Some(quote), close) if quote == close => {
                open = None;
                if quote == '`' && !backticks_too {
                    out.push('`');
                }
            }
            (Some('`'), character) if !backticks_too => out.push(character),
            (Some(_), _) => {}
            (None, '"') => {
                open = Some('"');
                out.push_str("(…)");
            }
            (None, '`') if backticks_too => {
                open = Some('`');
                out.push_str("(…)");
            }
            (None, '`') => {
                open = Some('`');
                out.push('`');
            }
            (None, character) if character.is_control() => out.push(' '),
            (None, character) => out.push(character),
        }
    }
    out
}

#[cfg(test)]
mod tests;
