//! Properties of the loader on arbitrary input: `load` of any bytes agrees
//! with the decoder alone (and with the size limit and the empty-file rule),
//! and a ConfigMap mount of any keys and contents reads back exactly what
//! the kubelet projected, in the source's key order.

#![cfg(feature = "testing")]

use std::fs;

use proptest::prelude::*;

use super::load;
use super::tests::decode_test_config;
use crate::testing::KubeletVolume;
use crate::{ConfigSource, ContentHash, Files};
use crate::{Decode, LoadErrorKind};

/// Cases per property: 64, times `RELIABILITY_SCALE`.
fn cases() -> u32 {
    crate::testing::scaled(64)
}

/// Bytes that are often nearly YAML: a valid config with arbitrary bytes
/// spliced in, or arbitrary bytes.
fn config_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        (
            "[ -~]{0,40}",
            proptest::collection::vec(any::<u8>(), 0..8),
            0_usize..64
        )
            .prop_map(|(message, noise, at)| {
                let mut bytes = format!("message: {message:?}\n").into_bytes();
                let at = at.min(bytes.len());
                bytes.splice(at..at, noise);
                bytes
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn load_agrees_with_the_decoder_and_the_limits(bytes in config_bytes(), limit in 1_u64..300) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.yaml");
        fs::write(&path, &bytes).unwrap();
        let files = Files { entries: vec![("app.yaml".to_owned(), bytes.clone())] };
        let decoded = decode_test_config.decode(&files);
        let loaded = load(&ConfigSource::file(&path), &decode_test_config, limit);
        match loaded {
            Ok(loaded) => {
                prop_assert!(!bytes.is_empty() && bytes.len() as u64 <= limit);
                prop_assert_eq!(Ok(loaded.config), decoded);
                prop_assert!(loaded.hash == ContentHash::of(&files));
            }
            Err(error) if bytes.len() as u64 > limit => prop_assert!(matches!(error.kind, LoadErrorKind::TooLarge { .. }), "{}", error),
            Err(error) if bytes.is_empty() => prop_assert_eq!(error.kind, LoadErrorKind::Empty),
            Err(error) => prop_assert_eq!(Err(error.kind), decoded.map_err(LoadErrorKind::from)),
        }
    }

    #[test]
    fn a_configmap_reads_back_what_was_projected(
        contents in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..64), 1..5),
    ) {
        let mount = tempfile::tempdir().unwrap();
        let keys: Vec<String> = (0..contents.len()).map(|index| format!("key-{index}.yaml")).collect();
        let payload: Vec<(&str, &[u8])> = keys.iter().map(String::as_str).zip(contents.iter().map(Vec::as_slice)).collect();
        KubeletVolume::new(mount.path()).project(&payload).unwrap();
        // Read in reverse order: the source's order, not the directory's.
        let source = ConfigSource::keys(mount.path(), keys.iter().rev().cloned());
        let files = super::read_files(&source, 1 << 20).unwrap();
        let expected: Vec<(String, Vec<u8>)> = keys.iter().cloned().zip(contents.iter().cloned()).rev().collect();
        prop_assert_eq!(files.entries, expected);
    }
}
