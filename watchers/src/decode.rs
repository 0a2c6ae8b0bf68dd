//! Turning the bytes of one load into a config: the [`Decode`] seam, the
//! files it is given, and the decoder a watch uses unless told otherwise (one
//! file, in its format, then the validation hook).

use std::sync::Arc;

use crate::{DecodeError, Format, ValidationError};

/// The contents of every key of a [`ConfigSource`](crate::ConfigSource),
/// read under one directory (one `..data` resolution in a ConfigMap volume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// `(key, bytes)` in the source's key order.
    pub entries: Vec<(String, Vec<u8>)>,
}

impl Files {
    /// The bytes of `key`, if the source has it.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, bytes)| bytes.as_slice())
    }

    /// Parses `key` in the format its extension names: what a decoder of
    /// several ConfigMap keys calls once per key.
    ///
    /// ```
    /// use config_reload::Files;
    ///
    /// let files = Files {
    ///     entries: vec![
    ///         ("app.yaml".into(), b"port: 8080\n".to_vec()),
    ///         ("limits.toml".into(), b"max = 3\n".to_vec()),
    ///     ],
    /// };
    /// #[derive(serde::Deserialize)]
    /// struct App { port: u16 }
    /// #[derive(serde::Deserialize)]
    /// struct Limits { max: u32 }
    /// assert_eq!(files.parse::<App>("app.yaml")?.port, 8080);
    /// assert_eq!(files.parse::<Limits>("limits.toml")?.max, 3);
    /// # Ok::<(), config_reload::DecodeError>(())
    /// ```
    pub fn parse<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T, DecodeError> {
        let bytes = self
            .get(key)
            .ok_or_else(|| DecodeError::from(format!("no key {key:?} in the source")))?;
        let format = Format::from_path(key).ok_or_else(|| {
            DecodeError::from(format!(
                "key {key:?} has no known format extension (.yaml, .yml, .json, .toml)"
            ))
        })?;
        Ok(format.parse(bytes)?)
    }
}

/// Turns the files of one load into a config; `Err` is why it is rejected
/// (the last good config stays published).
///
/// Implemented for closures `Fn(&Files) -> Result<T, DecodeError>`, so a
/// source of several keys is decoded by a closure that parses each key
/// ([`Files::parse`]) and combines them.
pub trait Decode<T>: Send + Sync + 'static {
    /// Decodes and validates one snapshot of the files.
    fn decode(&self, files: &Files) -> Result<T, DecodeError>;
}

impl<T, F> Decode<T> for F
where
    F: Fn(&Files) -> Result<T, DecodeError> + Send + Sync + 'static,
{
    fn decode(&self, files: &Files) -> Result<T, DecodeError> {
        self(files)
    }
}

/// A validation hook: `Err` is the reason, for a human.
pub(crate) type Validator<T> = Arc<dyn Fn(&T) -> Result<(), ValidationError> + Send + Sync>;

/// What a watch decodes with unless given a [`Decode`]: the first (only) key
/// in `format`, then the validation hook.
pub(crate) struct FormatDecoder<T> {
    pub(crate) format: Format,
    pub(crate) validate: Option<Validator<T>>,
    /// Defaults under the file, the environment over it.
    #[cfg(feature = "layers")]
    pub(crate) layers: crate::layers::Layers,
}

impl<T> FormatDecoder<T>
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    /// This decoder as a trait object.
    pub(crate) fn shared(self) -> Arc<dyn Decode<T>> {
        Arc::new(self)
    }

    fn parse(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        #[cfg(feature = "layers")]
        if !self.layers.is_empty() {
            return self.layers.extract(self.format, bytes);
        }
        Ok(self.format.parse(bytes)?)
    }
}

impl<T> Decode<T> for FormatDecoder<T>
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    fn decode(&self, files: &Files) -> Result<T, DecodeError> {
        let (_, bytes) = files.entries.first().ok_or("the source names no file")?;
        let config = self.parse(bytes)?;
        if let Some(validate) = &self.validate {
            validate(&config).map_err(DecodeError::Invalid)?;
        }
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

    fn decoder(validate: Option<Validator<Config>>) -> FormatDecoder<Config> {
        FormatDecoder {
            format: Format::Yaml,
            validate,
            #[cfg(feature = "layers")]
            layers: Default::default(),
        }
    }

    fn files(bytes: &[u8]) -> Files {
        Files {
            entries: vec![("app.yaml".into(), bytes.to_vec())],
        }
    }

    #[test]
    fn the_format_decoder_parses_the_first_key_then_validates() {
        let decoder = decoder(Some(Arc::new(|config: &Config| {
            if config.message.is_empty() {
                Err("message is empty".into())
            } else {
                Ok(())
            }
        })));
        assert_eq!(
            decoder.decode(&files(b"message: hi\n")),
            Ok(Config {
                message: "hi".into()
            })
        );
        assert_eq!(
            decoder.decode(&files(b"message: ''\n")),
            Err(DecodeError::Invalid("message is empty".into()))
        );
        assert!(matches!(
            decoder.decode(&files(b"message: [\n")),
            Err(DecodeError::Parse(_))
        ));
    }

    #[test]
    fn a_closure_decodes_several_keys() {
        let decode = |files: &Files| -> Result<(Config, Config), DecodeError> {
            Ok((files.parse("a.yaml")?, files.parse("b.json")?))
        };
        let both = Files {
            entries: vec![
                ("a.yaml".into(), b"message: one\n".to_vec()),
                ("b.json".into(), br#"{"message": "two"}"#.to_vec()),
            ],
        };
        let (a, b) = decode.decode(&both).unwrap();
        assert_eq!((a.message.as_str(), b.message.as_str()), ("one", "two"));
    }

    #[test]
    fn a_key_without_a_known_extension_or_missing_is_a_clear_error() {
        let files = Files {
            entries: vec![("app.ini".into(), b"x".to_vec())],
        };
        let reason = files.parse::<Config>("app.ini").unwrap_err().to_string();
        assert!(reason.contains("no known format extension"), "{reason}");
        let reason = files.parse::<Config>("other.yaml").unwrap_err().to_string();
        assert!(reason.contains("no key \"other.yaml\""), "{reason}");
    }
}
