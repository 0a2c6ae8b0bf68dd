//! Property: whatever the interleaving of file writes (valid, invalid,
//! truncated, empty; in place or renamed) and change signals (in-place
//! `Write`s, `Commit`s, pauses), once the last write is valid and one
//! signal follows it, that content is what ends up published; and nothing
//! but valid content is ever published, in the order it was written.
//!
//! The signals come from a scripted `config_reload::Strategy`, so the real driver and
//! the real debounce state machine (`watchers/src/reload/debounce.rs`, not public
//! on its own) decide when to reload, with real time in between: a pending
//! change the debouncer forgot, or a reload it never scheduled, fails here.

mod common;

use config_reload::watcher::Change;

use std::fs;
use std::path::Path;
use std::thread;
use std::time::Duration;

use common::{Harness, Scripted, file_source, yaml};
use config_reload::{ConfigSource, Debounce, WatchOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Content {
    /// A valid config, its message made unique by the op's index.
    Valid,
    Invalid,
    /// The first bytes of a valid config: what a reader sees mid-write.
    Truncated,
    Empty,
}

#[derive(Debug, Clone)]
enum Op {
    Write { content: Content, renamed: bool },
    Signal(Change),
    Pause(u64),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        Just(Change::Write),
        Just(Change::Commit),
        Just(Change::Recheck)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let content = prop_oneof![
        4 => Just(Content::Valid),
        1 => Just(Content::Invalid),
        1 => Just(Content::Truncated),
        1 => Just(Content::Empty),
    ];
    prop_oneof![
        3 => (content, any::<bool>()).prop_map(|(content, renamed)| Op::Write { content, renamed }),
        3 => change().prop_map(Op::Signal),
        1 => (0_u64..15).prop_map(Op::Pause),
    ]
}

fn write(path: &Path, bytes: &[u8], renamed: bool) {
    if renamed {
        rename_over(path, bytes);
    } else {
        fs::write(path, bytes).unwrap();
    }
}

/// An editor's save: written aside, renamed over the path.
fn rename_over(path: &Path, bytes: &[u8]) {
    let staged = path.with_extension("staged");
    fs::write(&staged, bytes).unwrap();
    fs::rename(&staged, path).unwrap();
}

fn message(index: usize) -> String {
    // Long and quoted: every proper prefix is invalid YAML.
    format!("written by op {index} {}", "x".repeat(64))
}

fn run(ops: &[Op], last_signal: Change) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, yaml("initial")).unwrap();
    let options = WatchOptions {
        // Short bounds, so a last `Write` with no close publishes quickly.
        debounce: Debounce {
            unclosed_write_timeout: Duration::from_millis(30),
            poll_settle: Duration::from_millis(30),
        },
        resync_interval: None,
        ..WatchOptions::default()
    };
    let harness =
        Harness::<Scripted>::start_with(file_source(dir.path(), "app.yaml"), options, |builder| {
            builder
        });
    let signals = Scripted::signals(ConfigSource::file(&path).dir());

    let mut valid = vec!["initial".to_owned()];
    for (index, op) in ops.iter().enumerate() {
        match op {
            Op::Write { content, renamed } => {
                let bytes = match content {
                    Content::Valid => {
                        valid.push(message(index));
                        yaml(&message(index)).into_bytes()
                    }
                    Content::Invalid => b"message: [unclosed\n".to_vec(),
                    Content::Truncated => yaml(&message(index)).as_bytes()[..20].to_vec(),
                    Content::Empty => Vec::new(),
                };
                write(&path, &bytes, *renamed);
            }
            Op::Signal(change) => signals.change(*change),
            Op::Pause(ms) => thread::sleep(Duration::from_millis(*ms)),
        }
    }
    let last = message(ops.len());
    valid.push(last.clone());
    write(&path, yaml(&last).as_bytes(), false);
    signals.change(last_signal);
    harness.wait_for(&last);

    // Published: valid content only, each at most once, in write order.
    let history = harness.history();
    let mut positions = history
        .iter()
        .map(|published| valid.iter().position(|written| written == published));
    let mut previous = None;
    for position in positions.by_ref() {
        prop_assert!(
            position.is_some(),
            "published content never written as valid: {history:?}"
        );
        prop_assert!(previous < position, "published out of order: {history:?}");
        previous = position;
    }
    Ok(())
}

/// Cases per run: 32, times `RELIABILITY_SCALE`.
fn cases() -> u32 {
    config_reload::testing::scaled(32)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_last_valid_write_followed_by_any_signal_is_published(
        ops in proptest::collection::vec(op(), 0..40),
        last_signal in change(),
    ) {
        run(&ops, last_signal)?;
    }
}
