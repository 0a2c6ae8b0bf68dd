//! The one record format of this workspace's benchmarks.
//!
//! Every benchmark — the managers and watchers criterion benches, the Go
//! side-by-side, the load benchmark, the peer harness — writes its results as
//! JSON lines, one [`Record`] per line, and `tools/results` reads nothing
//! else. A record is one number about one subject in one scenario:
//!
//! ```json
//! {"group":"watchers","scenario":"kubelet","subject":"inotify","metric":"latency_p50","value":0.00011,"unit":"s","n":200}
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `group` | the benchmark: `managers`, `watchers`, `load`, `peers`, ... |
//! | `scenario` | what was done: `read_2t`, `kubelet`, `bad-empty`, `idle`, ... |
//! | `subject` | what was measured: `arcswap`, `inotify`, `seed`, `viper`, ... |
//! | `metric` | which number: `ns_per_read`, `latency_p50`, `detected`, `peak_rss`, ... |
//! | `value` | the number, in `unit` |
//! | `unit` | `ns`, `s`, `bytes`, `count`, `ratio`, `req/s`, ... |
//! | `n` | how many samples (or attempts) the number is made of |
//! | `text` | optional: a value that is not a number (a version, a verdict) |
//! | `provenance` | optional: where the number came from (command, tool version, ...) |
//!
//! Go writes the same lines with `encoding/json`; the field names above are
//! the whole contract.
//!
//! # Names
//!
//! Every number of the workspace, as `group/scenario/subject` and its
//! metrics. A name, once published, keeps its meaning; a new number gets a
//! new name. `-` stands for "no scenario" (or "no subject").
//!
//! | group/scenario/subject | metric (unit; what `n` counts) | written by |
//! |---|---|---|
//! | `managers/read_<k>t[_writer]/<manager>` | `ns_per_read` (ns, aggregated over the k reader threads; criterion samples, or Go runs) | `cargo bench --bench managers`; `benches/go` (`go_<manager>`) |
//! | `managers/publish/<manager>` | `ns_per_publish` (ns; samples) | `cargo bench --bench managers` |
//! | `watchers/<pattern>/<strategy>` | `detected` (count; updates attempted), `latency_p50`, `latency_p99`, `latency_max` (s; updates detected) | `cargo bench --bench watchers` |
//! | `watchers/idle/<strategy>` | `wakeups_per_s` (1/s, the watcher's own threads), `cpu_per_s` (s/s, the process), `threads` (count); `n`: seconds observed | `cargo bench --bench watchers` |
//! | `reload/<config>/-` | `ns_per_reload` (ns; samples) | `cargo bench --bench watchers` |
//! | `load/quiet/<manager>`, `load/reloading/<manager>` | `requests_per_s`, `floor_requests_per_s` (req/s, medians; pairs), `ratio_to_floor` (ratio; pairs), `non_2xx` (count; requests); reloading also `reload_cost` (ratio; pairs), `reloads_applied` (count; updates written) | `cargo run -p benches --bin load` |
//! | `load/-/<manager>`, `load/-/floor` | `peak_rss` (bytes) | `cargo run -p benches --bin load` |
//! | `load/reload_latency/<manager>`, `load/api_reload_latency/<manager>` | `latency_p50`, `latency_p99`, `latency_max` (s; updates): from the kubelet's `..data` rename, or the emulated API server's commit, to the first `GET /` serving it | `cargo run -p benches --bin load` |
//! | `kube/update/api`, `kube/update/volume-inotify` | `latency_p50`, `latency_p99`, `latency_max` (s; updates): from the emulated API server's commit, or the kubelet's rename, to `Watch::get()` | `cargo bench -p config-reload --features testing,kube --bench kube` |
//! | `kube/idle/api` | `wakeups_per_s` (count), `cpu_share` (ratio of a core); `n`: seconds observed; `rss_delta` (bytes) | `cargo bench -p config-reload --features testing,kube --bench kube` |
//! | `peers/<pattern>/<peer>` | `detected` (count; attempted), `latency_p50`, `latency_p99` (s; absent when none detected); `multi-key`: `torn_reads` (count; reads); `slow-in-place`: `half_written_served` (count; rounds) | the peer harness (`benches/peers`) |
//! | `peers/bad-<input>/<peer>` | `verdict` (text: `keeps-last-good`, `serves-garbage`, `dies`), `recovers` (1 or 0) | the peer harness |
//! | `peers/idle/<peer>`, `peers/-/<peer>` | `wakeups_per_s`, `cpu_per_s`; `peak_rss` (bytes), `version` (text) | the peer harness |
//! | `results/-/machine`, `results/<part>/-` | `cores`, `cpu`, `date`, `commit`, `command`, `load` (text); per part `command` or `skipped` (text: why) | `tools/results` |
//!
//! Patterns of the watchers bench: `kubelet`, `rename_replace`, `in_place`,
//! `symlink_swap`; strategies: `inotify`, `notify`, `inotify_resync_1s`
//! (idle only), `poll_<interval>`. The peers, their patterns and bad inputs,
//! and the managers bench's subjects are listed once, in [`registry`].
//!
//! ```
//! let record = records::Record::new("watchers", "kubelet", "inotify", "latency_p50", 0.00011, "s", 200);
//! let line = record.to_line();
//! assert_eq!(records::Record::from_line(&line).unwrap(), record);
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub mod registry;

/// One number about one subject in one scenario of one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The benchmark that produced it (`managers`, `watchers`, `load`, `peers`).
    pub group: String,
    /// What was done.
    pub scenario: String,
    /// What was measured.
    pub subject: String,
    /// Which number.
    pub metric: String,
    /// The number, in `unit`.
    pub value: f64,
    /// The unit of `value`.
    pub unit: String,
    /// How many samples or attempts the number summarises.
    pub n: u64,
    /// A value that is not a number (a version string, a verdict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Where the number came from: free-form keys such as `command`,
    /// `version`, `commit`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provenance: BTreeMap<String, String>,
}

impl Record {
    /// A record with no text and no provenance.
    pub fn new(
        group: impl Into<String>,
        scenario: impl Into<String>,
        subject: impl Into<String>,
        metric: impl Into<String>,
        value: f64,
        unit: impl Into<String>,
        n: u64,
    ) -> Self {
        Self {
            group: group.into(),
            scenario: scenario.into(),
            subject: subject.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            n,
            text: None,
            provenance: BTreeMap::new(),
        }
    }

    /// The same record carrying `text`.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The same record with one more provenance entry.
    pub fn with_provenance(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.provenance.insert(key.into(), value.into());
        self
    }

    /// One JSON line, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a record always serialises")
    }

    /// Parses one JSON line.
    pub fn from_line(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

/// Appends `records` to the JSON-lines file at `path`, creating it (and its
/// directory) if needed.
pub fn append(path: &Path, records: &[Record]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut out = BufWriter::new(OpenOptions::new().create(true).append(true).open(path)?);
    for record in records {
        writeln!(out, "{}", record.to_line())?;
    }
    out.flush()
}

/// Every record of the JSON-lines file at `path`; blank lines are skipped, a
/// malformed line is an error naming its line number.
pub fn read(path: &Path) -> io::Result<Vec<Record>> {
    let reader = BufReader::new(File::open(path)?);
    let mut records = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record = Record::from_line(&line).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}:{}: {error}", path.display(), index + 1),
            )
        })?;
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_a_file() {
        let dir = std::env::temp_dir().join(format!("records-test-{}", std::process::id()));
        let path = dir.join("out.jsonl");
        let _ = fs::remove_file(&path);
        let written = vec![
            Record::new("peers", "kubelet", "seed", "detected", 10.0, "count", 10),
            Record::new("peers", "-", "seed", "version", 0.0, "", 1)
                .with_text("go1.19 fsnotify 1.6.0")
                .with_provenance("command", "peer-harness"),
        ];
        append(&path, &written[..1]).unwrap();
        append(&path, &written[1..]).unwrap();
        assert_eq!(read(&path).unwrap(), written);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_malformed_line_names_its_line() {
        let dir = std::env::temp_dir().join(format!("records-bad-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.jsonl");
        fs::write(&path, "\n{\"group\":1}\n").unwrap();
        let error = read(&path).unwrap_err();
        assert!(error.to_string().contains("bad.jsonl:2"), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn optional_fields_are_left_out_when_empty() {
        let line = Record::new("g", "s", "x", "m", 1.5, "s", 3).to_line();
        assert_eq!(
            line,
            r#"{"group":"g","scenario":"s","subject":"x","metric":"m","value":1.5,"unit":"s","n":3}"#
        );
    }
}
