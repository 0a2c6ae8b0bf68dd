//! Turning the bytes of one load into a config: the one YAML parse function
//! and the decoder the service uses.

use std::marker::PhantomData;

/// The contents of every key of a [`ConfigSource`](crate::ConfigSource), read
/// under one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// `(key, bytes)` in the source's key order.
    pub entries: Vec<(String, Vec<u8>)>,
}

/// Turns the files of one load into a config; `Err` is the reason it is
/// rejected (the last good config stays published).
pub trait Decode<T>: Send + Sync + 'static {
    /// Decodes and validates one snapshot of the files.
    fn decode(&self, files: &Files) -> Result<T, String>;
}

/// A config type's own checks, run after parsing.
pub trait Validate {
    /// `Err` says, for a human, what is wrong.
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
pub fn parse_yaml<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    const BOM: &[u8] = "\u{feff}".as_bytes();
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)
        .map_err(|error| format!("not UTF-8: invalid byte at offset {}", error.valid_up_to()))?;
    // One line, and no echo of the file: a reason ends up in one log line,
    // and a config can hold secrets a snippet would copy there. The line
    // and column say where.
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options)
        .map_err(|error| format!("invalid YAML: {}", error.to_string().replace('\n', " ")))
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
    fn decode(&self, files: &Files) -> Result<T, String> {
        let (_, bytes) = files.entries.first().ok_or("the source names no file")?;
        let config: T = parse_yaml(bytes)?;
        config
            .validate()
            .map_err(|reason| format!("invalid config: {reason}"))?;
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
        YamlFile::<Config>::new().decode(&Files {
            entries: vec![("app.yaml".into(), bytes.to_vec())],
        })
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
        assert!(error.contains("budget breached"), "{error}");
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
                .contains("budget breached")
        );
    }
}
