//! The document formats a config can be written in, each parsed by its
//! well-kept crate, with one rule for all: an error says where and what the
//! type expected, and never quotes the file (a config can hold secrets, and
//! a rejection is logged).

use std::path::Path;

use crate::ParseError;

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

    /// Parses `bytes` as a document of this format into `T`.
    ///
    /// A leading byte-order mark is skipped (editors on Windows write one);
    /// bytes that are not UTF-8 are rejected with the offset of the first bad
    /// one.
    ///
    /// ```
    /// use config_reload::Format;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// #[serde(deny_unknown_fields)]
    /// struct Config { port: u16 }
    ///
    /// assert_eq!(Format::Toml.parse::<Config>(b"port = 8080\n").unwrap().port, 8080);
    /// let error = Format::Json.parse::<Config>(br#"{"port": 1, "sk_live_123": 2}"#).unwrap_err();
    /// assert_eq!(error.to_string(), "invalid JSON at line 1, column 25: unknown field, expected `port`");
    /// ```
    pub fn parse<T: serde::de::DeserializeOwned>(self, bytes: &[u8]) -> Result<T, ParseError> {
        const BOM: &[u8] = "\u{feff}".as_bytes();
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|error| ParseError {
            format: self.name(),
            line: None,
            column: None,
            message: format!("not UTF-8: invalid byte at offset {}", error.valid_up_to()),
        })?;
        match self {
            Self::Yaml => yaml::parse(text),
            Self::Json => json::parse(text),
            Self::Toml => toml::parse(text),
        }
    }
}

mod yaml {
    use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};

    use super::{kind_of, one_of, without_quotes};
    use crate::ParseError;

    /// serde-saphyr's default options already are what a config reload
    /// needs: alias replay and nesting depth are budgeted (a "billion laughs"
    /// file or 100 000 nested `[` fail fast instead of eating the process),
    /// and a duplicate key is an error rather than a silent last-one-wins.
    /// Snippets are off: they would copy the file into the message.
    pub(super) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
        let options = serde_saphyr::options! { with_snippet: false };
        serde_saphyr::from_str_with_options(text, options).map_err(|error| {
            let location = error.location().filter(|location| location.line() > 0);
            ParseError {
                format: "YAML",
                line: location.map(|location| location.line()),
                column: location.map(|location| location.column()),
                message: content_free(original(&error)),
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
    use super::serde_message;
    use crate::ParseError;

    pub(super) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
        serde_json::from_str(text).map_err(|error| {
            // serde_json's `Display` is "<message> at line L column C".
            let located = format!(" at line {} column {}", error.line(), error.column());
            let text = error.to_string();
            let message = text.strip_suffix(&located).unwrap_or(&text);
            ParseError {
                format: "JSON",
                line: (error.line() > 0).then_some(error.line() as u64),
                column: (error.line() > 0).then_some(error.column() as u64),
                message: serde_message(message),
            }
        })
    }
}

mod toml {
    use super::serde_message;
    use crate::ParseError;

    pub(super) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
        toml::from_str(text).map_err(|error| {
            // The message alone: `Display` would show the offending line.
            let (line, column) = error
                .span()
                .map(|span| line_and_column(text, span.start))
                .unzip();
            ParseError {
                format: "TOML",
                line,
                column,
                message: serde_message(error.message()),
            }
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
    const KINDS: [&str; 15] = [
        "string",
        "integer",
        "floating point",
        "boolean",
        "character",
        "byte array",
        "unit value",
        "Option value",
        "newtype struct",
        "sequence",
        "map",
        "enum",
        "unit variant",
        "newtype variant",
        "null",
    ];
    KINDS
        .iter()
        .find(|kind| unexpected.starts_with(*kind))
        .map_or_else(|| "another value".to_owned(), |kind| format!("a {kind}"))
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
