//! The watchers bench's own results: one JSON file per id under
//! `<target>/watchers-bench/` (`watchers/<pattern>/<strategy>.json` for
//! latency, `idle/<strategy>.json` for idle cost), in nanoseconds.

use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, parse_json, read_text};

/// How one strategy did on one update pattern.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Latency {
    /// `watchers/<pattern>/<strategy>`.
    pub id: String,
    pub attempted: u64,
    pub detected: u64,
    pub p50_ns: Option<f64>,
    pub p99_ns: Option<f64>,
}

impl Latency {
    pub fn pattern(&self) -> &str {
        self.id.split('/').nth(1).unwrap_or("")
    }

    pub fn strategy(&self) -> &str {
        self.id.split('/').nth(2).unwrap_or("")
    }

    pub fn detected_all(&self) -> bool {
        self.attempted > 0 && self.detected == self.attempted
    }
}

/// What one strategy cost over an idle period.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Idle {
    /// `idle/<strategy>`.
    pub id: String,
    pub idle_ns: f64,
    pub process_cpu_ns: f64,
    pub process_wakeups: u64,
    pub watcher_threads: u64,
    pub watcher_wakeups: u64,
    pub watcher_cpu_ns: f64,
}

impl Idle {
    pub fn strategy(&self) -> &str {
        self.id.strip_prefix("idle/").unwrap_or(&self.id)
    }

    /// Per second of idling, so runs of any length compare.
    pub fn per_second(&self, count: f64) -> f64 {
        count / (self.idle_ns / 1e9).max(f64::MIN_POSITIVE)
    }
}

#[derive(Debug, Default)]
pub struct WatcherResults {
    pub latency: Vec<Latency>,
    pub idle: Vec<Idle>,
}

/// Everything under `dir`; a missing directory is no results.
pub fn read_all(dir: &Path) -> Result<WatcherResults, Error> {
    Ok(WatcherResults {
        latency: read_folder(&dir.join("watchers"))?,
        idle: read_folder(&dir.join("idle"))?,
    })
}

/// Every `*.json` under `dir`, recursively, sorted by id.
fn read_folder<T: serde::de::DeserializeOwned + HasId>(dir: &Path) -> Result<Vec<T>, Error> {
    let mut found = Vec::new();
    if dir.is_dir() {
        collect(dir, &mut found)?;
    }
    found.sort_by(|a: &T, b: &T| a.id().cmp(b.id()));
    Ok(found)
}

fn collect<T: serde::de::DeserializeOwned>(dir: &Path, found: &mut Vec<T>) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(|source| Error::io(dir, source))? {
        let path = entry.map_err(|source| Error::io(dir, source))?.path();
        if path.is_dir() {
            collect(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "json") {
            found.push(
                parse_json(&read_text(&path)?).map_err(|reason| Error::parse(&path, reason))?,
            );
        }
    }
    Ok(())
}

trait HasId {
    fn id(&self) -> &str;
}

impl HasId for Latency {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for Idle {
    fn id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Exactly what `benches::watchers_bench` writes.
    const DETECTED: &str = "{\"id\": \"watchers/kubelet/inotify\", \"attempted\": 200, \"detected\": 200, \"missed\": 0, \"timeout_ns\": 2000000000, \"p50_ns\": 81234, \"p99_ns\": 410000, \"max_ns\": 900000, \"mean_ns\": 95000}\n";
    const MISSED: &str = "{\"id\": \"watchers/symlink_swap/seed\", \"attempted\": 10, \"detected\": 0, \"missed\": 10, \"timeout_ns\": 2500000000, \"p50_ns\": null, \"p99_ns\": null, \"max_ns\": null, \"mean_ns\": null}\n";
    const IDLE: &str = "{\"id\": \"idle/poll_10ms\", \"idle_ns\": 10000000000, \"process_cpu_ns\": 120000000, \"process_wakeups\": 1012, \"watcher_threads\": 1, \"watcher_wakeups\": 1000, \"watcher_cpu_ns\": 110000000}\n";

    #[test]
    fn latency_rows_parse_with_and_without_samples() {
        let detected: Latency = parse_json(DETECTED).unwrap();
        assert_eq!(
            (detected.pattern(), detected.strategy()),
            ("kubelet", "inotify")
        );
        assert!(detected.detected_all());
        assert_eq!(detected.p50_ns, Some(81234.0));
        let missed: Latency = parse_json(MISSED).unwrap();
        assert!(!missed.detected_all());
        assert_eq!((missed.p50_ns, missed.p99_ns), (None, None));
    }

    #[test]
    fn idle_rows_give_rates_per_second() {
        let idle: Idle = parse_json(IDLE).unwrap();
        assert_eq!(idle.strategy(), "poll_10ms");
        assert_eq!(idle.per_second(idle.watcher_wakeups as f64), 100.0);
    }

    #[test]
    fn read_all_finds_both_kinds_in_their_folders() {
        let dir = tempfile::tempdir().unwrap();
        let latency = dir.path().join("watchers/kubelet");
        fs::create_dir_all(&latency).unwrap();
        fs::write(latency.join("inotify.json"), DETECTED).unwrap();
        fs::create_dir_all(dir.path().join("idle")).unwrap();
        fs::write(dir.path().join("idle/poll_10ms.json"), IDLE).unwrap();
        let results = read_all(dir.path()).unwrap();
        assert_eq!(results.latency.len(), 1);
        assert_eq!(results.idle.len(), 1);
        assert!(
            read_all(&dir.path().join("absent"))
                .unwrap()
                .latency
                .is_empty()
        );
    }
}
