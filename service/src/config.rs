//! The service's config: what `config/config.yaml` (or the ConfigMap key)
//! holds. Every input this accepts and rejects is tried against the real
//! binary in `tests/reliability_inputs.rs` and `tests/end_to_end.rs`.

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
