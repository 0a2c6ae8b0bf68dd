//! Turning the bytes of one load into a config: the one YAML parse function
//! and the decoder the service uses.

use std::marker::PhantomData;

use crate::{DecodeError, ParseError};

/// The contents of every key of a [`ConfigSource`](crate::ConfigSource), read
/// under one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// `(key, bytes)` in the source's key order.
    pub entries: Vec<(String, Vec<u8>)>,
}

/// Turns the files of one load into a config; `Err` is why it is rejected
/// (the last good config stays published).
pub trait Decode<T>: Send + Sync + 'static {
    /// Decodes and validates one snapshot of the files.
    fn decode(&self, files: &Files) -> Result<T, DecodeError>;
}

/// A config type's own checks, run after parsing.
pub trait Validate {
    /// `Err` says, for a human, what is wrong (without quoting secrets).
    fn validate(&self) -> Result<(), String>;
}

/// The one YAML parse function of the project (serde-saphyr, with its budgets).
///
/// serde-saphyr's default [`Options`](serde_saphyr::Options) already are what
/// a config reload needs: alias replay and nesting depth are budgeted (a
/// "billion laughs" file or 100 000 nested `[` fail fast instead of eating the
/// process), and a duplicate key is an error rather than a silent
/// last-one-wins. Non-UTF-8 input is rejected; a leading byte-order mark is
/// valid YAML (editors on Windows write one) and is skipped.
///
/// The error never quotes the file: it gives the line and column and what the
/// type expected (an unknown key is reported by position, with the field
/// names the type accepts), because a config can hold secrets and a
/// rejection is logged.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ParseError> {
    const BOM: &[u8] = "\u{feff}".as_bytes();
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|error| ParseError {
        format: "YAML",
        line: None,
        column: None,
        message: format!("not UTF-8: invalid byte at offset {}", error.valid_up_to()),
    })?;
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).map_err(|error| yaml_error(&error))
}

fn yaml_error(error: &serde_saphyr::Error) -> ParseError {
    let location = error.location().filter(|location| location.line() > 0);
    ParseError {
        format: "YAML",
        line: location.map(|location| location.line()),
        column: location.map(|location| location.column()),
        message: content_free_message(original(error)),
    }
}

/// The error an alias or a snippet wraps: the one that says what went wrong.
fn original(mut error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::AliasError { error: inner, .. }
    | serde_saphyr::Error::WithSnippet { error: inner, .. } = error
    {
        error = inner;
    }
    error
}

/// The parser's words for `error`, minus anything copied from the document.
///
/// serde's messages for an unknown field or variant, a wrong type or value,
/// and a duplicate key quote the offending key or value: those are rebuilt
/// from what the type expected. Any other message is the parser's own, with
/// every quoted span removed in case a custom `Deserialize` put content there.
fn content_free_message(error: &serde_saphyr::Error) -> String {
    use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};
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
        Error::SerdeInvalidValue { expected, .. } => format!("invalid value: expected {expected}"),
        Error::SerdeMissingField { field, .. } => format!("missing field `{field}`"),
        Error::DuplicateMappingKey { .. } => "duplicate key".to_owned(),
        Error::NonFiniteFloat { .. } => "a non-finite number where none is allowed".to_owned(),
        Error::TaggedEnumMismatch { target, .. } => format!("tag does not match {target}"),
        Error::SerdeVariantId { .. } => "invalid enum variant".to_owned(),
        Error::UnknownAnchor { .. } => "an alias refers to an unknown anchor".to_owned(),
        other => without_quotes(&UserMessageFormatter.format_message(other)),
    }
}

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

/// Removes every span quoted with backticks or double quotes.
fn without_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote = None;
    for character in message.chars() {
        match (quote, character) {
            (None, '`' | '"') => {
                quote = Some(character);
                out.push_str("(…)");
            }
            (Some(open), close) if open == close => quote = None,
            (Some(_), _) => {}
            (None, character) if character.is_control() => out.push(' '),
            (None, character) => out.push(character),
        }
    }
    out
}

/// Decodes the first key of the source as YAML into `T` and validates it.
pub struct YamlFile<T>(PhantomData<fn() -> T>);

impl<T> YamlFile<T> {
    /// The decoder.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for YamlFile<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Decode<T> for YamlFile<T>
where
    T: serde::de::DeserializeOwned + Validate + Send + Sync + 'static,
{
    fn decode(&self, files: &Files) -> Result<T, DecodeError> {
        let (_, bytes) = files.entries.first().ok_or("the source names no file")?;
        let config: T = parse_yaml(bytes)?;
        config.validate().map_err(DecodeError::Invalid)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Config {
        message: String,
    }

    impl Validate for Config {
        fn validate(&self) -> Result<(), String> {
            if self.message.is_empty() {
                Err("message is empty".into())
            } else {
                Ok(())
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Config, String> {
        YamlFile::<Config>::new()
            .decode(&Files {
                entries: vec![("app.yaml".into(), bytes.to_vec())],
            })
            .map_err(|error| error.to_string())
    }

    #[test]
    fn valid_yaml_decodes() {
        assert_eq!(
            decode(b"message: hello\n"),
            Ok(Config {
                message: "hello".into()
            })
        );
    }

    #[test]
    fn leading_byte_order_mark_is_accepted() {
        assert_eq!(
            decode("\u{feff}message: hi\n".as_bytes()),
            Ok(Config {
                message: "hi".into()
            })
        );
    }

    #[test]
    fn non_utf8_is_rejected_with_offset() {
        let error = decode(b"message: \xff\xfe\n").unwrap_err();
        assert!(
            error.contains("not UTF-8") && error.contains("offset 9"),
            "{error}"
        );
    }

    #[test]
    fn a_parse_error_is_one_line_with_its_position_and_no_content() {
        let error = decode(b"message: a\nsecret: [hunter2\n").unwrap_err();
        assert!(
            !error.contains('\n') && !error.contains("hunter2"),
            "{error}"
        );
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn an_unknown_key_is_reported_by_position_and_the_expected_names() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            message: String,
        }
        let error = parse_yaml::<Strict>(b"message: a\nghp_SECRETTOKEN123: x\n")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("ghp_SECRET"), "{error}");
        assert!(error.contains("line 2"), "{error}");
        assert!(
            error.contains("unknown field, expected `message`"),
            "{error}"
        );
    }

    #[test]
    fn a_wrong_type_names_the_kind_not_the_value() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Port {
            port: u16,
        }
        let error = parse_yaml::<Port>(b"port: hunter2\n")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("u16"), "{error}");
    }

    #[test]
    fn a_duplicate_key_is_not_named() {
        let error = decode(b"message: a\nmessage: b\nsecret_key: 1\nsecret_key: 2\n").unwrap_err();
        assert!(!error.contains("secret_key"), "{error}");
        assert!(error.contains("duplicate key"), "{error}");
    }

    #[test]
    fn quoted_spans_are_removed_from_other_messages() {
        assert_eq!(
            without_quotes("bad `hunter2` and \"x\" here"),
            "bad (…) and (…) here"
        );
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        assert!(decode(b"message: a\nmessage: b\n").is_err());
    }

    #[test]
    fn failed_validation_says_why() {
        let error = decode(b"message: ''\n").unwrap_err();
        assert!(error.contains("message is empty"), "{error}");
    }

    #[test]
    fn wrong_shape_and_missing_field_are_rejected() {
        assert!(decode(b"- a\n- b\n").unwrap_err().contains("invalid YAML"));
        assert!(decode(b"other: 1\n").is_err());
        assert!(
            decode(b"{}\n")
                .unwrap_err()
                .contains("missing field `message`")
        );
    }

    #[test]
    fn alias_bomb_is_stopped_by_the_budget() {
        let mut yaml = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            let list = vec![format!("*{previous}"); 9].join(",");
            yaml.push_str(&format!("{name}: &{name} [{list}]\n"));
        }
        yaml.push_str("message: *i\n");
        let error = decode(yaml.as_bytes()).unwrap_err();
        assert!(error.contains("limits breached"), "{error}");
    }

    #[test]
    fn deep_nesting_is_rejected() {
        // Under a field the config ignores, so only the depth limit can stop it.
        let flow = format!(
            "message: hi\nnested: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(
            decode(flow.as_bytes())
                .unwrap_err()
                .contains("recursion limit exceeded")
        );
        let maps = format!(
            "message: hi\nnested: {}1{}\n",
            "{a: ".repeat(100_000),
            "}".repeat(100_000)
        );
        assert!(
            decode(maps.as_bytes())
                .unwrap_err()
                .contains("limits breached")
        );
    }
}
