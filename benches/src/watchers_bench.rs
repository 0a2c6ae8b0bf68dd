//! What the `watchers` bench measures with and writes out: the config it
//! reloads, latency percentiles, the process's CPU time and wake-ups, each
//! result as [`Record`]s (`benches::output` says where they go).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config_reload::{Decode, DecodeError, Files, ValidationError};
use records::Record;

/// The config every watcher bench reloads: a message (what a service would
/// serve) and filler items that give it a size.
#[derive(Debug, serde::Deserialize)]
pub struct BenchConfig {
    pub message: String,
    #[serde(default)]
    pub items: Vec<String>,
}

impl BenchConfig {
    /// The checks a parsed config must pass, for `Builder::validate`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.message.is_empty() {
            Err(ValidationError::new("is empty").at("message"))
        } else {
            Ok(())
        }
    }
}

/// Decodes every key of a ConfigMap as one [`BenchConfig`], so a reload of
/// N keys parses and validates N documents.
pub struct EveryKey;

impl Decode<Vec<BenchConfig>> for EveryKey {
    fn decode(&self, files: &Files) -> Result<Vec<BenchConfig>, DecodeError> {
        files
            .entries
            .iter()
            .map(|(key, bytes)| {
                let config: BenchConfig = config_reload::Format::Yaml.parse(bytes)?;
                config
                    .validate()
                    .map_err(|reason| format!("{key}: {reason}"))?;
                Ok(config)
            })
            .collect()
    }
}

/// A YAML [`BenchConfig`] of about `bytes` bytes whose message is `message`.
pub fn config_yaml(message: &str, bytes: usize) -> String {
    let mut yaml = format!("message: \"{message}\"\n");
    if yaml.len() < bytes {
        yaml.push_str("items:\n");
    }
    let mut item = 0;
    while yaml.len() < bytes {
        // 64-byte lines: a list of short strings, like routes or flags.
        let _ = writeln!(yaml, "  - \"item {item:06} {:.<45}\"", "");
        item += 1;
    }
    yaml
}

/// Where scratch config directories go: tmpfs when there is one, because a
/// ConfigMap volume is tmpfs too.
pub fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// p50 / p99 / max of one set of latencies (nearest rank).
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Percentiles {
    /// `None` for no samples.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank =
            |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
        Some(Self {
            p50: rank(0.50),
            p99: rank(0.99),
            max: rank(1.0),
            mean,
        })
    }
}

/// Updates applied in one latency run, and how many the watcher published.
#[derive(Debug)]
pub struct LatencyResult {
    pub pattern: String,
    pub strategy: String,
    pub attempted: usize,
    /// Latency of each update that was published before its timeout.
    pub detected: Vec<Duration>,
}

impl LatencyResult {
    /// `watchers/<pattern>/<strategy>`.
    pub fn id(&self) -> String {
        format!("watchers/{}/{}", self.pattern, self.strategy)
    }

    /// One line of the printed table.
    pub fn row(&self) -> String {
        let detected = format!("{}/{}", self.detected.len(), self.attempted);
        let [p50, p99, max] = Percentiles::of(&self.detected).map_or_else(
            || ["-".into(), "-".into(), "-".into()],
            |p| [human(p.p50), human(p.p99), human(p.max)],
        );
        format!(
            "{:<40} {detected:>9} {p50:>12} {p99:>12} {max:>12}",
            self.id()
        )
    }

    /// `detected` (of `n` attempted), and the latency percentiles of the
    /// detected updates when there are any.
    pub fn records(&self) -> Vec<Record> {
        let record = |metric: &str, value: f64, unit: &str, n: usize| {
            Record::new(
                "watchers",
                &self.pattern,
                &self.strategy,
                metric,
                value,
                unit,
                n as u64,
            )
        };
        let detected = self.detected.len();
        let mut records = vec![record("detected", detected as f64, "count", self.attempted)];
        if let Some(p) = Percentiles::of(&self.detected) {
            for (metric, value) in [
                ("latency_p50", p.p50),
                ("latency_p99", p.p99),
                ("latency_max", p.max),
            ] {
                records.push(record(metric, value.as_secs_f64(), "s", detected));
            }
        }
        records
    }
}

/// CPU time and context switches of the whole process (`getrusage`) and of
/// each of its threads (`/proc/self/task`), at one moment.
#[derive(Debug, Clone)]
pub struct Usage {
    pub process_cpu: Duration,
    pub process_switches: u64,
    /// `(thread id, context switches, CPU time in clock ticks)`.
    pub threads: Vec<(u32, u64, u64)>,
}

impl Usage {
    pub fn now() -> io::Result<Self> {
        // SAFETY: `getrusage` fills the zeroed struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
                return Err(io::Error::last_os_error());
            }
            usage
        };
        let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        let mut threads = Vec::new();
        for entry in fs::read_dir("/proc/self/task")? {
            let entry = entry?;
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse().ok())
            else {
                continue;
            };
            // A thread may exit between the listing and the read.
            let (Ok(status), Ok(stat)) = (
                fs::read_to_string(entry.path().join("status")),
                fs::read_to_string(entry.path().join("stat")),
            ) else {
                continue;
            };
            threads.push((tid, switches(&status), cpu_ticks(&stat)));
        }
        Ok(Self {
            process_cpu: time(usage.ru_utime) + time(usage.ru_stime),
            process_switches: (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
            threads,
        })
    }

    fn thread(&self, tid: u32) -> Option<(u64, u64)> {
        self.threads
            .iter()
            .find(|(id, ..)| *id == tid)
            .map(|&(_, switches, ticks)| (switches, ticks))
    }
}

/// voluntary + involuntary context switches from a `/proc/.../status`.
fn switches(status: &str) -> u64 {
    status
        .lines()
        .filter(|line| {
            line.starts_with("voluntary_ctxt_switches:")
                || line.starts_with("nonvoluntary_ctxt_switches:")
        })
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// utime + stime (fields 14 and 15) from a `/proc/.../stat`; the name field
/// may hold spaces, so fields are counted after its closing parenthesis.
fn cpu_ticks(stat: &str) -> u64 {
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

/// What a watcher cost while nothing changed.
#[derive(Debug)]
pub struct IdleResult {
    pub strategy: String,
    pub idle: Duration,
    pub process_cpu: Duration,
    pub process_switches: u64,
    /// Threads that did not exist before the watcher started: its own.
    pub watcher_threads: usize,
    pub watcher_switches: u64,
    pub watcher_cpu: Duration,
}

impl IdleResult {
    /// The difference between two samples; `before_start` tells which
    /// threads the watcher started.
    pub fn between(
        strategy: String,
        before_start: &Usage,
        start: &Usage,
        end: &Usage,
        idle: Duration,
    ) -> Self {
        // USER_HZ is 100 on every Linux ABI; `/proc` reports ticks of it.
        const TICK: Duration = Duration::from_millis(10);
        let new_threads: Vec<u32> = end
            .threads
            .iter()
            .map(|(tid, ..)| *tid)
            .filter(|tid| before_start.thread(*tid).is_none())
            .collect();
        let (mut watcher_switches, mut watcher_ticks) = (0, 0);
        for tid in &new_threads {
            let (switches_end, ticks_end) = end.thread(*tid).unwrap_or_default();
            let (switches_start, ticks_start) = start.thread(*tid).unwrap_or_default();
            watcher_switches += switches_end - switches_start;
            watcher_ticks += ticks_end - ticks_start;
        }
        Self {
            strategy,
            idle,
            process_cpu: end.process_cpu.saturating_sub(start.process_cpu),
            process_switches: end.process_switches - start.process_switches,
            watcher_threads: new_threads.len(),
            watcher_switches,
            watcher_cpu: TICK * watcher_ticks as u32,
        }
    }

    pub fn row(&self) -> String {
        format!(
            "{:<32} {:>8} {:>14} {:>10} {:>16} {:>16}",
            format!("watchers/idle/{}", self.strategy),
            self.watcher_threads,
            human(self.process_cpu),
            self.process_switches,
            self.watcher_switches,
            human(self.watcher_cpu),
        )
    }

    /// Per second idle: `wakeups_per_s` of the watcher's own threads and the
    /// process's `cpu_per_s`; and the watcher's `threads`. `n` is the
    /// seconds observed.
    pub fn records(&self) -> Vec<Record> {
        let seconds = self.idle.as_secs_f64();
        let n = self.idle.as_secs().max(1);
        let record = |metric: &str, value: f64, unit: &str| {
            Record::new("watchers", "idle", &self.strategy, metric, value, unit, n)
        };
        vec![
            record(
                "wakeups_per_s",
                self.watcher_switches as f64 / seconds,
                "1/s",
            ),
            record("cpu_per_s", self.process_cpu.as_secs_f64() / seconds, "s/s"),
            record("threads", self.watcher_threads as f64, "count"),
        ]
    }
}

/// `812µs`, `1.20ms`, `950ms`: three significant digits.
pub fn human(duration: Duration) -> String {
    let nanos = duration.as_nanos() as f64;
    let (value, unit) = match nanos {
        n if n < 1e3 => (n, "ns"),
        n if n < 1e6 => (n / 1e3, "µs"),
        n if n < 1e9 => (n / 1e6, "ms"),
        n => (n / 1e9, "s"),
    };
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.decimals$}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let p = Percentiles::of(&samples).unwrap();
        assert_eq!(p.p50, Duration::from_micros(50));
        assert_eq!(p.p99, Duration::from_micros(99));
        assert_eq!(p.max, Duration::from_micros(100));
        assert!(Percentiles::of(&[]).is_none());
    }

    #[test]
    fn latency_records_say_what_was_detected_and_how_fast() {
        let mut result = LatencyResult {
            pattern: "kubelet".into(),
            strategy: "inotify".into(),
            attempted: 4,
            detected: (1..=3).map(Duration::from_millis).collect(),
        };
        let records = result.records();
        let metrics: Vec<(&str, f64, u64)> = records
            .iter()
            .map(|r| (r.metric.as_str(), r.value, r.n))
            .collect();
        assert_eq!(
            metrics,
            [
                ("detected", 3.0, 4),
                ("latency_p50", 0.002, 3),
                ("latency_p99", 0.003, 3),
                ("latency_max", 0.003, 3)
            ]
        );
        assert!(
            records.iter().all(|r| r.group == "watchers"
                && r.scenario == "kubelet"
                && r.subject == "inotify")
        );
        // Nothing detected: no latency to report, not a zero one.
        result.detected.clear();
        assert_eq!(result.records().len(), 1);
    }

    #[test]
    fn config_yaml_has_the_asked_size_and_parses() {
        let yaml = config_yaml("hello", 64 * 1024);
        assert!(yaml.len() >= 64 * 1024 && yaml.len() < 64 * 1024 + 128);
        let config: BenchConfig = config_reload::Format::Yaml.parse(yaml.as_bytes()).unwrap();
        assert_eq!(config.message, "hello");
        assert_eq!(config.items.len(), (yaml.len() - 24) / 64);
    }

    #[test]
    fn proc_parsers_read_their_fields() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(switches(status), 10);
        let stat = "42 (a name) with) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15";
        assert_eq!(cpu_ticks(stat), 11 + 12);
    }

    #[test]
    fn usage_sees_this_thread() {
        let usage = Usage::now().unwrap();
        assert!(!usage.threads.is_empty());
    }
}
