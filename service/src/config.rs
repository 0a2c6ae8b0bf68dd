//! The service's config: what `config/config.yaml` (or the ConfigMap key)
//! holds.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::HeaderValue;
use config_reload::{ContentHash, ValidationError};
use serde::{Deserialize, Deserializer};

/// The served config.
///
/// Unknown keys are rejected: in a file that only this service reads, an
/// unknown key is almost always a typo (`mesage:`), and a rejected reload
/// keeps the last good config and says why, where an ignored key would
/// silently serve something other than what was meant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The body of `GET /`, exactly as YAML decoded it. Kept as `Bytes` so a
    /// response shares it instead of copying it.
    #[serde(deserialize_with = "string_as_bytes")]
    pub message: Bytes,

    /// The `ETag` value, built on the first request that needs it.
    #[serde(skip)]
    etag: OnceLock<HeaderValue>,
}

impl ServiceConfig {
    /// `"<hash>"`, built once per published config.
    pub fn etag(&self, hash: &ContentHash) -> HeaderValue {
        self.etag
            .get_or_init(|| {
                HeaderValue::from_str(&format!("\"{hash}\""))
                    .expect("hex digits are a valid header value")
            })
            .clone()
    }
}

impl ServiceConfig {
    /// The checks a parsed config must pass, for `Builder::validate`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let text = std::str::from_utf8(&self.message).expect("decoded from a `String`");
        if text.chars().all(is_blank) {
            return Err(
                ValidationError::new("is empty (only whitespace or invisible characters)")
                    .at("message"),
            );
        }
        Ok(())
    }
}

/// A character that shows nothing: Unicode whitespace (a no-break space
/// included) or a default-ignorable code point (zero-width space and joiners,
/// the byte-order mark, soft hyphen, variation selectors). A message of only
/// these would serve an empty-looking body.
fn is_blank(character: char) -> bool {
    use icu_properties::CodePointSetData;
    use icu_properties::props::{DefaultIgnorableCodePoint, WhiteSpace};
    CodePointSetData::new::<WhiteSpace>().contains(character)
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(character)
}

fn string_as_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    // `Bytes::from(String)` takes the allocation over: no copy.
    String::deserialize(deserializer).map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ServiceConfig, String> {
        let config: ServiceConfig = config_reload::Format::Yaml
            .parse(yaml.as_bytes())
            .map_err(|error| error.to_string())?;
        config
            .validate()
            .map(|()| config)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn a_message_is_decoded_exactly() {
        let config = parse("message: |\n  two\n  lines\n").unwrap();
        assert_eq!(&config.message[..], b"two\nlines\n");
    }

    #[test]
    fn an_empty_message_is_rejected() {
        assert!(parse("message: \"  \"\n").unwrap_err().contains("empty"));
    }

    #[test]
    fn a_message_of_invisible_characters_is_rejected() {
        for invisible in [
            "\u{00a0}\u{00a0}",         // no-break spaces
            "\u{200b}",                 // zero-width space
            "\u{200c}\u{200d}\u{2060}", // zero-width (non-)joiner, word joiner
            "\u{feff} \u{3000}",        // byte-order mark, ideographic space
            "\u{00ad}\u{fe0f}",         // soft hyphen, variation selector
        ] {
            let yaml = format!("message: \"{invisible}\"\n");
            assert!(
                parse(&yaml).unwrap_err().contains("empty"),
                "{invisible:?} accepted"
            );
        }
        assert!(
            parse("message: \"\u{200b}x\"\n").is_ok(),
            "one visible character is enough"
        );
    }

    #[test]
    fn a_missing_message_is_rejected() {
        assert!(parse("{}\n").is_err());
    }

    #[test]
    fn an_unknown_key_is_rejected() {
        assert!(parse("message: hi\nmesage: typo\n").is_err());
    }

    #[test]
    fn the_etag_is_the_quoted_hash() {
        let config = parse("message: hi\n").unwrap();
        let hash = ContentHash([0xab; 32]);
        assert_eq!(config.etag(&hash), format!("\"{hash}\"").as_str());
        assert_eq!(config.etag(&hash).len(), 34);
    }
}
