//! Multi-key consistency: a ConfigMap of two keys that must agree, a
//! message and its checksum, updated thousands of times by the kubelet
//! emulation while readers read both.
//!
//! Through the watcher (one resolution of `..data` per load, then the
//! manager's snapshot) no reader ever sees a torn pair, and the decoder
//! never meets one. In the same harness, the naive reader that opens each
//! key by its own path at two moments does tear: that is what the snapshot
//! prevents.
//!
//! The normal run makes 1 000 updates (`RELIABILITY_SCALE=N` multiplies
//! it); the `#[ignore]`d test makes 10 000.

#![cfg(all(
    feature = "testing",
    feature = "notify",
    feature = "inotify",
    feature = "poll"
))]

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use common::{PATIENCE, Recorder, Subject, wait_until};
use config_reload::DecodeError;
use config_reload::testing::KubeletVolume;
use config_reload::{ConfigSource, Decode, Files, Observer, Watch};

const MESSAGE: &str = "message.txt";
const CHECKSUM: &str = "message.blake3";

/// Both keys of one load.
#[derive(Debug, serde::Deserialize)]
struct Pair {
    message: String,
    checksum: String,
}

impl Pair {
    fn agrees(&self) -> bool {
        checksum(&self.message) == self.checksum
    }
}

fn checksum(message: &str) -> String {
    blake3::hash(message.as_bytes()).to_hex().to_string()
}

/// Refuses a pair whose checksum is not its message's: what a load that
/// combined two updates would produce.
struct CheckedPair;

impl Decode<Pair> for CheckedPair {
    fn decode(&self, files: &Files) -> Result<Pair, DecodeError> {
        let [(_, message), (_, sum)] = &files.entries[..] else {
            return Err("expected two keys".into());
        };
        let pair = Pair {
            message: String::from_utf8(message.clone()).map_err(|error| error.to_string())?,
            checksum: String::from_utf8(sum.clone()).map_err(|error| error.to_string())?,
        };
        if pair.agrees() {
            Ok(pair)
        } else {
            Err(format!("torn pair: {pair:?}").into())
        }
    }
}

fn payload(update: u64) -> [(&'static str, String); 2] {
    let message = format!("update {update}");
    let sum = checksum(&message);
    [(MESSAGE, message), (CHECKSUM, sum)]
}

/// Opens each key through its own symlink, one after the other: the reads
/// a program makes when it treats the keys as independent files.
fn naive_read(dir: &Path) -> Option<Pair> {
    let message = fs::read_to_string(dir.join(MESSAGE)).ok()?;
    let checksum = fs::read_to_string(dir.join(CHECKSUM)).ok()?;
    Some(Pair { message, checksum })
}

fn multi_key_consistency<S: Subject>(updates: u64) {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&payload(0)).unwrap();
    let recorder = Arc::new(Recorder::default());
    let observer: Arc<dyn Observer> = recorder.clone();
    let source = ConfigSource::keys(mount.path(), [MESSAGE, CHECKSUM]);
    let watch = Arc::new(
        S::choose(Watch::<Pair>::decoding(source, CheckedPair))
            .options(common::options())
            .observer(observer)
            .start()
            .expect("the watch starts"),
    );
    let manager = Arc::clone(&watch);

    let stop = Arc::new(AtomicBool::new(false));
    let snapshot_reads = Arc::new(AtomicU64::new(0));
    let snapshot_reader = {
        let (stop, reads) = (Arc::clone(&stop), Arc::clone(&snapshot_reads));
        thread::spawn(move || {
            let mut torn = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let snapshot = manager.get();
                if !snapshot.agrees() {
                    torn.push(format!("{:?}", *snapshot));
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            torn
        })
    };
    let naive_torn = Arc::new(AtomicU64::new(0));
    let naive_reader = {
        let (stop, torn, dir) = (
            Arc::clone(&stop),
            Arc::clone(&naive_torn),
            mount.path().to_path_buf(),
        );
        thread::spawn(move || {
            let mut reads = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                if let Some(pair) = naive_read(&dir) {
                    reads += 1;
                    torn.fetch_add(u64::from(!pair.agrees()), Ordering::Relaxed);
                }
            }
            reads
        })
    };

    // Every update, then more until the naive reader tore at least once,
    // within the deadline: its tearing is a race, so the harness keeps
    // giving it the chance rather than hoping.
    let started = Instant::now();
    let mut last = 0;
    while last < updates
        || (naive_torn.load(Ordering::Relaxed) == 0 && started.elapsed() < PATIENCE)
    {
        last += 1;
        volume.project(&payload(last)).unwrap();
    }
    wait_until(
        format_args!("update {last} published ({})", S::NAME),
        || watch.get().message == format!("update {last}"),
    );
    stop.store(true, Ordering::Relaxed);
    let torn_snapshots = snapshot_reader.join().unwrap();
    let naive_reads = naive_reader.join().unwrap();
    let naive_torn = naive_torn.load(Ordering::Relaxed);
    let torn_loads: Vec<String> = recorder
        .failures()
        .into_iter()
        .filter(|reason| reason.contains("torn"))
        .collect();
    eprintln!(
        "{}: {last} updates, {} published; snapshot reads {} (torn {}), naive reads {naive_reads} (torn {naive_torn})",
        S::NAME,
        watch.get().version() - 1,
        snapshot_reads.load(Ordering::Relaxed),
        torn_snapshots.len(),
    );
    assert!(
        torn_snapshots.is_empty(),
        "a snapshot held a torn pair: {:?}",
        &torn_snapshots[..torn_snapshots.len().min(5)]
    );
    assert!(
        torn_loads.is_empty(),
        "a load read keys of two updates: {torn_loads:?}"
    );
    assert!(
        snapshot_reads.load(Ordering::Relaxed) > 0,
        "the snapshot reader read"
    );
    assert!(
        naive_torn > 0,
        "the naive reader never tore in {naive_reads} reads over {last} updates"
    );
}

/// 1 000 updates, times `RELIABILITY_SCALE`.
fn normal_run() -> u64 {
    u64::from(config_reload::testing::scaled(1_000))
}

macro_rules! multi_key {
    ($($module:ident => $strategy:ty),* $(,)?) => {$(
        mod $module {
            use super::*;
            type S = $strategy;
            #[test] fn snapshot_never_tears_where_naive_reads_do() { multi_key_consistency::<S>(normal_run()) }
            #[test] #[ignore = "10 000 updates: run with --ignored"]
            fn snapshot_never_tears_over_10k_updates() { multi_key_consistency::<S>(10_000) }
        }
    )*};
}

common::every_watcher!(multi_key);
