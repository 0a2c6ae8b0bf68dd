//! How fast each watcher serves a changed config, what watching costs while
//! nothing changes, and what one reload costs.
//!
//! Three parts, all run by default:
//! - `latency`: from the commit of an update (the kubelet's `..data` rename,
//!   or the pattern's final write/rename) to the new config being returned by
//!   a manager read, per pattern x strategy: ids `watchers/<pattern>/<strategy>`.
//!   The 2016 seed's design is measured by the real seed, built from its Go
//!   code, in the peer harness (`benches/peers`), not re-created here.
//! - `idle`: CPU time and wake-ups of each strategy over an idle period:
//!   ids `watchers/idle/<strategy>`.
//! - `reload`: criterion, read + parse + validate + hash + publish of one
//!   config: ids `reload/size_1k` ... `reload/keys_100`.
//!
//! Every result is printed and appended as records (the names are in the
//! `records` crate's docs) to `target/records/watchers.jsonl`
//! (`BENCH_RECORDS` overrides; see `benches::output`).
//!
//! ```text
//! cargo bench --bench watchers                        # everything (about 7 minutes on 2 cores)
//! cargo bench --bench watchers -- kubelet             # only ids containing "kubelet"
//! WATCHERS_BENCH_PARTS=latency,idle cargo bench --bench watchers
//! WATCHERS_BENCH_UPDATES=50 WATCHERS_BENCH_IDLE_SECS=3 cargo bench --bench watchers
//! ```

use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use benches::output::{self, CriterionRun};
use benches::watchers_bench::{
    BenchConfig, EveryKey, IdleResult, LatencyResult, Usage, config_yaml, human, scratch_root,
};
use config_reload::testing::{KubeletVolume, rename_replace, symlink_swap, write_in_place};
use config_reload::{ConfigSource, Format, Watch, WatchOptions, WatcherKind};
use config_reload_managers::{ArcSwapManager, ConfigManager};
use criterion::Criterion;
use records::Record;

fn main() {
    let settings = Settings::from_env();
    let mut records = Vec::new();
    if settings.runs("latency") {
        records.extend(latency(&settings));
    }
    if settings.runs("idle") {
        records.extend(idle(&settings));
    }
    if settings.runs("reload") {
        let run = CriterionRun::start();
        let mut criterion = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .output_directory(run.dir())
            .configure_from_args();
        reload(&mut criterion);
        criterion.final_summary();
        records.extend(
            run.records(|_| "ns_per_reload")
                .expect("criterion's estimates of this run"),
        );
    }
    output::write("watchers", &records);
}

/// What to run, from the environment and the command line.
struct Settings {
    parts: Vec<String>,
    /// A positional argument: only ids containing it run.
    filter: Option<String>,
    /// Updates per latency row for the event strategies and fast polls.
    updates: usize,
    /// Updates per row when each one takes up to a second (poll_1s).
    slow_updates: usize,
    idle: Duration,
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.parse().ok())
                .unwrap_or(default)
        };
        let parts =
            std::env::var("WATCHERS_BENCH_PARTS").unwrap_or_else(|_| "latency,idle,reload".into());
        let updates = number("WATCHERS_BENCH_UPDATES", 200);
        Self {
            parts: parts
                .split(',')
                .map(|part| part.trim().to_owned())
                .collect(),
            filter: std::env::args().skip(1).find(|arg| !arg.starts_with('-')),
            updates,
            slow_updates: (updates / 20).max(5),
            idle: Duration::from_secs(number("WATCHERS_BENCH_IDLE_SECS", 10) as u64),
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }

    fn selects(&self, id: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|filter| id.contains(filter.as_str()))
    }
}

/// One way a config file changes (`config_reload::testing`), applied as update
/// number `n` with a distinct message, returning the instant of its commit.
#[derive(Clone, Copy)]
enum Pattern {
    /// The kubelet's `..data` swap.
    Kubelet,
    /// An editor's save: temporary file renamed over the config.
    RenameReplace,
    /// `open(O_TRUNC)`, write, close.
    InPlace,
    /// `ln -sfn vN.yaml config.yaml`.
    SymlinkSwap,
}

const PATTERNS: [Pattern; 4] = [
    Pattern::Kubelet,
    Pattern::RenameReplace,
    Pattern::InPlace,
    Pattern::SymlinkSwap,
];
const KEY: &str = "app.yaml";

impl Pattern {
    fn name(self) -> &'static str {
        match self {
            Self::Kubelet => "kubelet",
            Self::RenameReplace => "rename_replace",
            Self::InPlace => "in_place",
            Self::SymlinkSwap => "symlink_swap",
        }
    }

    /// Writes update 0 into `dir` and returns the source to watch.
    fn prepare(self, dir: &Path) -> io::Result<ConfigSource> {
        match self {
            Self::Kubelet => {
                KubeletVolume::new(dir).project(&[(KEY, message_yaml(0))])?;
            }
            Self::RenameReplace | Self::InPlace => fs::write(dir.join(KEY), message_yaml(0))?,
            Self::SymlinkSwap => {
                fs::write(dir.join("v0.yaml"), message_yaml(0))?;
                std::os::unix::fs::symlink("v0.yaml", dir.join(KEY))?;
            }
        }
        Ok(ConfigSource::file(dir.join(KEY)))
    }

    /// Applies update `n`. The clock starts just before the commit: the
    /// `..data` rename for the kubelet (steps 8-10 run after it, as in a
    /// real kubelet), the call that writes or swaps for the others (their
    /// last system call is the commit; what precedes it writes ~20 bytes).
    fn apply(self, dir: &Path, n: usize) -> io::Result<Instant> {
        let contents = message_yaml(n);
        let path = dir.join(KEY);
        match self {
            Self::Kubelet => KubeletVolume::new(dir)
                .project_timed(&[(KEY, contents)])?
                .ok_or_else(|| io::Error::other("the kubelet emulation saw no change")),
            Self::RenameReplace => {
                let committed = Instant::now();
                rename_replace(&path, contents.as_bytes())?;
                Ok(committed)
            }
            Self::InPlace => {
                let committed = Instant::now();
                write_in_place(&path, contents.as_bytes())?;
                Ok(committed)
            }
            Self::SymlinkSwap => {
                // The new target exists before the swap, as in a blue/green deploy.
                let target = PathBuf::from(format!("v{n}.yaml"));
                fs::write(dir.join(&target), contents)?;
                let committed = Instant::now();
                symlink_swap(&path, &target)?;
                Ok(committed)
            }
        }
    }
}

fn message(n: usize) -> String {
    format!("update {n}")
}

fn message_yaml(n: usize) -> String {
    config_yaml(&message(n), 0)
}

/// A way of noticing changes, as benchmarked.
#[derive(Clone, Copy)]
enum Watcher {
    Notify,
    Inotify { resync: Option<Duration> },
    Poll(Duration),
}

impl Watcher {
    fn name(self) -> String {
        match self {
            Self::Notify => "notify".into(),
            Self::Inotify { resync: None } => "inotify".into(),
            Self::Inotify {
                resync: Some(every),
            } => format!("inotify_resync_{}", humantime(every)),
            Self::Poll(interval) => format!("poll_{}", humantime(interval)),
        }
    }

    /// How long an update may take before it counts as missed.
    fn timeout(self) -> Duration {
        match self {
            Self::Notify | Self::Inotify { .. } => Duration::from_secs(2),
            Self::Poll(interval) => interval * 2 + Duration::from_secs(1),
        }
    }

    /// The largest delay the design adds on purpose: updates are spaced by a
    /// random part of it so they land at every phase of a poll or tick.
    fn period(self) -> Duration {
        match self {
            Self::Notify | Self::Inotify { .. } => Duration::from_millis(1),
            Self::Poll(interval) => interval,
        }
    }

    fn is_slow(self) -> bool {
        self.period() >= Duration::from_secs(1)
    }

    fn start(self, source: ConfigSource) -> Running {
        let options = |resync_interval, poll_interval| WatchOptions {
            resync_interval,
            poll_interval,
            max_config_bytes: 16 << 20,
            ..WatchOptions::default()
        };
        let default_poll = WatchOptions::default().poll_interval;
        match self {
            Self::Notify => start_watch(WatcherKind::Notify, source, options(None, default_poll)),
            Self::Inotify { resync } => {
                start_watch(WatcherKind::Inotify, source, options(resync, default_poll))
            }
            Self::Poll(interval) => start_watch(WatcherKind::Poll, source, options(None, interval)),
        }
    }
}

fn humantime(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// A started watch, read the way a service reads it.
struct Running {
    watch: Arc<Watch<BenchConfig>>,
}

fn start_watch(watcher: WatcherKind, source: ConfigSource, options: WatchOptions) -> Running {
    let watch = Watch::<BenchConfig>::builder(source)
        .watcher(watcher)
        .format(Format::Yaml)
        .validate(BenchConfig::validate)
        .options(options)
        .start()
        .unwrap_or_else(|error| panic!("{watcher} watch failed to start: {error}"));
    Running {
        watch: Arc::new(watch),
    }
}

/// A random duration in `[0, upper)`.
fn random_below(upper: Duration) -> Duration {
    let fraction = RandomState::new().hash_one(Instant::now()) as f64 / u64::MAX as f64;
    upper.mul_f64(fraction)
}

fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("watchers-bench")
        .tempdir_in(scratch_root())
        .expect("scratch directory")
}

fn latency(settings: &Settings) -> Vec<Record> {
    let ms = Duration::from_millis;
    let watchers = [
        Watcher::Notify,
        Watcher::Inotify { resync: None },
        Watcher::Poll(ms(10)),
        Watcher::Poll(ms(100)),
        Watcher::Poll(ms(1000)),
    ];
    let mut records = Vec::new();
    println!(
        "\nlatency: commit -> new config read from the manager (scratch dirs in {})",
        scratch_root().display()
    );
    println!(
        "{:<40} {:>9} {:>12} {:>12} {:>12}",
        "id", "detected", "p50", "p99", "max"
    );
    for pattern in PATTERNS {
        for watcher in watchers {
            let id = format!("watchers/{}/{}", pattern.name(), watcher.name());
            if !settings.selects(&id) {
                continue;
            }
            let updates = if watcher.is_slow() {
                settings.slow_updates
            } else {
                settings.updates
            };
            let result = measure_latency(pattern, watcher, updates);
            println!("{}", result.row());
            records.extend(result.records());
        }
    }
    records
}

fn measure_latency(pattern: Pattern, watcher: Watcher, updates: usize) -> LatencyResult {
    let dir = scratch_dir();
    let source = pattern.prepare(dir.path()).expect("initial config");
    let running = watcher.start(source);
    let timeout = watcher.timeout();
    let mut detected = Vec::with_capacity(updates);
    for n in 1..=updates {
        // Let the previous update's trailing events settle, and land at a
        // random phase of a poll interval or tick.
        thread::sleep(Duration::from_millis(10) + random_below(watcher.period()));
        let expected = message(n);
        let committed = pattern.apply(dir.path(), n).expect("update");
        loop {
            if running.watch.read(|current| current.message == expected) {
                detected.push(committed.elapsed());
                break;
            }
            if committed.elapsed() > timeout {
                break;
            }
            // Spin: a sleep would add its own wake-up latency. Yield so the
            // watcher gets the core on a busy machine.
            thread::yield_now();
        }
    }
    LatencyResult {
        pattern: pattern.name().to_owned(),
        strategy: watcher.name(),
        attempted: updates,
        detected,
    }
}

fn idle(settings: &Settings) -> Vec<Record> {
    let ms = Duration::from_millis;
    let watchers = [
        Watcher::Notify,
        Watcher::Inotify { resync: None },
        Watcher::Inotify {
            resync: Some(ms(1000)),
        },
        Watcher::Poll(ms(10)),
        Watcher::Poll(ms(100)),
        Watcher::Poll(ms(1000)),
    ];
    let mut records = Vec::new();
    println!(
        "\nidle: {} with nothing changing (a kubelet volume; wake-ups = context switches)",
        human(settings.idle)
    );
    println!(
        "{:<32} {:>8} {:>14} {:>10} {:>16} {:>16}",
        "id", "threads", "process CPU", "wake-ups", "watcher wake-ups", "watcher CPU"
    );
    // Every watch of a process shares one watchdog thread, started with the
    // first: start it before counting, so each row counts its watch's own.
    {
        let dir = scratch_dir();
        let source = Pattern::Kubelet
            .prepare(dir.path())
            .expect("initial config");
        drop(Watcher::Poll(ms(1000)).start(source));
    }
    for watcher in watchers {
        let id = format!("watchers/idle/{}", watcher.name());
        if !settings.selects(&id) {
            continue;
        }
        let dir = scratch_dir();
        let source = Pattern::Kubelet
            .prepare(dir.path())
            .expect("initial config");
        let before_start = Usage::now().expect("usage");
        let running = watcher.start(source);
        thread::sleep(Duration::from_millis(500));
        let start = Usage::now().expect("usage");
        thread::sleep(settings.idle);
        let end = Usage::now().expect("usage");
        drop(running);
        let result =
            IdleResult::between(watcher.name(), &before_start, &start, &end, settings.idle);
        println!("{}", result.row());
        records.extend(result.records());
    }
    records
}

/// One reload as a watch does it (`Builder::load`: read every key under one
/// `..data`, parse, validate; the content hash, about 1 µs per KiB, is left
/// out), then the publish.
fn reload(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("reload");
    for (name, bytes) in [
        ("size_1k", 1 << 10),
        ("size_64k", 64 << 10),
        ("size_1m", 1 << 20),
    ] {
        let dir = scratch_dir();
        KubeletVolume::new(dir.path())
            .project(&[(KEY, config_yaml("reload", bytes))])
            .expect("payload");
        let source = ConfigSource::file(dir.path().join(KEY));
        let builder = Watch::<BenchConfig>::builder(source)
            .format(Format::Yaml)
            .validate(BenchConfig::validate)
            .options(large());
        bench_reload(&mut group, name, || builder.load());
    }
    for keys in [1, 10, 100] {
        let dir = scratch_dir();
        let names: Vec<String> = (0..keys).map(|key| format!("key{key:03}.yaml")).collect();
        let payload: Vec<(&String, String)> = names
            .iter()
            .map(|name| (name, config_yaml(name, 1 << 10)))
            .collect();
        KubeletVolume::new(dir.path())
            .project(&payload)
            .expect("payload");
        let source = ConfigSource::keys(dir.path(), names);
        let builder = Watch::<Vec<BenchConfig>>::decoding(source, EveryKey).options(large());
        bench_reload(&mut group, &format!("keys_{keys}"), || builder.load());
    }
    group.finish();
}

fn bench_reload<T: Send + Sync + 'static>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    load: impl Fn() -> Result<T, config_reload::LoadError>,
) {
    let load = || load().unwrap_or_else(|error| panic!("reload/{name}: {error}"));
    let manager = ArcSwapManager::new(load());
    group.bench_function(name, |bencher| bencher.iter(|| manager.publish(load())));
}

/// Options that let the 1 MiB config through.
fn large() -> WatchOptions {
    WatchOptions {
        max_config_bytes: 16 << 20,
        ..WatchOptions::default()
    }
}
