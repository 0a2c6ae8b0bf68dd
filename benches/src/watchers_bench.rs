//! What the `watchers` bench measures with and writes out: the config it
//! reloads, latency percentiles, the process's CPU time and wake-ups, and
//! JSON result files a results tool reads from `target/watchers-bench/`.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use watchers::{Decode, DecodeError, Files, Validate};

/// The config every watcher bench reloads: a message (what a service would
/// serve) and filler items that give it a size.
#[derive(Debug, serde::Deserialize)]
pub struct BenchConfig {
    pub message: String,
    #[serde(default)]
    pub items: Vec<String>,
}

impl Validate for BenchConfig {
    fn validate(&self) -> Result<(), String> {
        if self.message.is_empty() {
            Err("message is empty".into())
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
                let config: BenchConfig = watchers::parse_yaml(bytes)?;
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
    pub id: String,
    pub attempted: usize,
    /// Latency of each update that was published before its timeout.
    pub detected: Vec<Duration>,
    pub timeout: Duration,
}

impl LatencyResult {
    pub fn missed(&self) -> usize {
        self.attempted - self.detected.len()
    }

    /// One line of the printed table.
    pub fn row(&self) -> String {
        let detected = format!("{}/{}", self.detected.len(), self.attempted);
        match Percentiles::of(&self.detected) {
            Some(p) => format!(
                "{:<40} {:>9} {:>12} {:>12} {:>12}",
                self.id,
                detected,
                human(p.p50),
                human(p.p99),
                human(p.max)
            ),
            None => format!(
                "{:<40} {:>9} {:>12} {:>12} {:>12}",
                self.id, detected, "-", "-", "-"
            ),
        }
    }

    pub fn json(&self) -> String {
        let stats = Percentiles::of(&self.detected).map_or_else(
            || "\"p50_ns\": null, \"p99_ns\": null, \"max_ns\": null, \"mean_ns\": null".to_owned(),
            |p| {
                format!(
                    "\"p50_ns\": {}, \"p99_ns\": {}, \"max_ns\": {}, \"mean_ns\": {}",
                    p.p50.as_nanos(),
                    p.p99.as_nanos(),
                    p.max.as_nanos(),
                    p.mean.as_nanos()
                )
            },
        );
        format!(
            "{{\"id\": \"{}\", \"attempted\": {}, \"detected\": {}, \"missed\": {}, \"timeout_ns\": {}, {stats}}}\n",
            self.id,
            self.attempted,
            self.detected.len(),
            self.missed(),
            self.timeout.as_nanos()
        )
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
    pub id: String,
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
        id: String,
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
            id,
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
            self.id,
            self.watcher_threads,
            human(self.process_cpu),
            self.process_switches,
            self.watcher_switches,
            human(self.watcher_cpu),
        )
    }

    pub fn json(&self) -> String {
        format!(
            "{{\"id\": \"{}\", \"idle_ns\": {}, \"process_cpu_ns\": {}, \"process_wakeups\": {}, \"watcher_threads\": {}, \
             \"watcher_wakeups\": {}, \"watcher_cpu_ns\": {}}}\n",
            self.id,
            self.idle.as_nanos(),
            self.process_cpu.as_nanos(),
            self.process_switches,
            self.watcher_threads,
            self.watcher_switches,
            self.watcher_cpu.as_nanos()
        )
    }
}

/// `target/watchers-bench`, found as criterion finds `target/criterion`:
/// `CARGO_TARGET_DIR`, else three levels above the bench executable
/// (`target/release/deps/watchers-…`).
pub fn results_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        });
    target
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("watchers-bench")
}

/// Writes `json` to `<results_dir>/<id>.json` (the id's `/` become folders).
pub fn save(id: &str, json: &str) -> io::Result<PathBuf> {
    let path = results_dir().join(format!("{id}.json"));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&path, json)?;
    Ok(path)
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
    fn config_yaml_has_the_asked_size_and_parses() {
        let yaml = config_yaml("hello", 64 * 1024);
        assert!(yaml.len() >= 64 * 1024 && yaml.len() < 64 * 1024 + 128);
        let config: BenchConfig = watchers::parse_yaml(yaml.as_bytes()).unwrap();
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
