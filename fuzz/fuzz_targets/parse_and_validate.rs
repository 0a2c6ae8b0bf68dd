//! The parsers on arbitrary bytes, every format (YAML, JSON, TOML): the
//! service's config shape (one `message`, unknown keys rejected, an
//! all-whitespace message invalid), and any shape at all. Any panic, abort,
//! stack overflow, timeout or out-of-memory is a crash; an `Err` is the
//! expected answer to garbage, and it never quotes the input.

#![no_main]

use config_reload::{Format, ValidationError};
use libfuzzer_sys::fuzz_target;

/// The shape of `service`'s config (its type lives in the binary crate).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    message: String,
}

impl Config {
    /// The checks a parsed config must pass, for `Builder::validate`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.message.trim().is_empty() {
            Err(ValidationError::new("is empty").at("message"))
        } else {
            Ok(())
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    for format in Format::ALL {
        if let Ok(config) = format.parse::<Config>(bytes)
            && config.validate().is_ok()
        {
            // What was accepted is a usable config.
            assert!(!config.message.trim().is_empty());
        }
        // Any shape at all: anchors, tags, merges and nesting without a
        // struct to stop them at the first unexpected key.
        let _ = format.parse::<serde::de::IgnoredAny>(bytes);
    }
});
