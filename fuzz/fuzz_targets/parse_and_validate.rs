//! The loader's parse and validate on arbitrary bytes: `watchers::YamlFile`
//! decoding the service's config shape (one `message`, unknown keys
//! rejected, an all-whitespace message invalid). Any panic, abort, stack
//! overflow, timeout or out-of-memory is a crash; an `Err` is the expected
//! answer to garbage.

#![no_main]

use libfuzzer_sys::fuzz_target;
use watchers::{Decode, Files, Validate, YamlFile};

/// The shape of `service`'s config (its type lives in the binary crate).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    message: String,
}

impl Validate for Config {
    fn validate(&self) -> Result<(), String> {
        if self.message.trim().is_empty() {
            Err("`message` is empty".into())
        } else {
            Ok(())
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let files = Files {
        entries: vec![("config.yaml".to_owned(), bytes.to_vec())],
    };
    if let Ok(config) = YamlFile::<Config>::new().decode(&files) {
        // What was accepted is a usable config.
        assert!(!config.message.trim().is_empty());
    }
    // Any shape at all: anchors, tags, merges and nesting without a struct
    // to stop them at the first unexpected key.
    let _ = watchers::parse_yaml::<serde::de::IgnoredAny>(bytes);
});
