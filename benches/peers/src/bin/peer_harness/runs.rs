//! One subject through each piece of work, each on a fresh directory and a
//! fresh process, returning its records.

use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use config_reload::testing::rename_replace;
use records::Record;

use crate::GROUP;
use crate::open_watch::OpenWatch;
use crate::poller::Poller;
use crate::process::Running;
use crate::procfs;
use crate::subjects::Subject;
use crate::verdict::{self, Update, UpdateOutcome};
use records::registry::{BadInput, Pattern};

use crate::workload::{self, Fixture};

/// The timings of a run, in one place.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Updates per pattern, each on the same process.
    pub rounds: u32,
    /// How often the poller asks `GET /`.
    pub poll_interval: Duration,
    /// An update not served this long after its commit is missed (the
    /// slowest subjects by design: the seed's 1 s tick, a 2 s debounce).
    pub update_timeout: Duration,
    /// The pause after a served update before the next.
    pub settle: Duration,
    /// The pause after a missed update, so a late reaction to it is over
    /// before the next update is written.
    pub settle_after_miss: Duration,
    /// A random extra pause, up to this, before each write: a subject that
    /// acts on a period (the seed's 1 s tick, a poller) would otherwise meet
    /// every write at the same phase, since each round starts a fixed time
    /// after the subject's last reaction.
    pub phase_jitter: Duration,
    /// How long a bad file is watched for a reaction.
    pub bad_window: Duration,
    /// From start to the idle window.
    pub idle_warmup: Duration,
    /// The idle window.
    pub idle_window: Duration,
    /// From spawn to serving the first config.
    pub start_timeout: Duration,
}

impl Settings {
    pub fn new(quick: bool, rounds: Option<u32>) -> Self {
        Self {
            rounds: rounds.unwrap_or(if quick { 1 } else { 3 }).max(1),
            poll_interval: Duration::from_millis(1),
            update_timeout: Duration::from_secs(5),
            settle: Duration::from_millis(300),
            settle_after_miss: Duration::from_secs(1),
            phase_jitter: Duration::from_secs(1),
            bad_window: Duration::from_secs(4),
            idle_warmup: Duration::from_secs(1),
            idle_window: Duration::from_secs(5),
            start_timeout: Duration::from_secs(20),
        }
    }
}

/// One subject's runs, and the peak RSS seen across its update patterns.
pub struct SubjectRun<'a> {
    subject: &'a Subject,
    program: &'a Path,
    log_dir: PathBuf,
    settings: &'a Settings,
    peak_rss: u64,
}

impl<'a> SubjectRun<'a> {
    pub fn new(
        subject: &'a Subject,
        program: &'a Path,
        log_dir: &Path,
        settings: &'a Settings,
    ) -> Self {
        Self {
            subject,
            program,
            log_dir: log_dir.to_owned(),
            settings,
            peak_rss: 0,
        }
    }

    fn record(&self, scenario: &str, metric: &str, value: f64, unit: &str, n: u64) -> Record {
        Record::new(GROUP, scenario, &self.subject.name, metric, value, unit, n)
    }

    fn start(&self, config: &Path, scenario: &str, expected: &[u8]) -> io::Result<Running> {
        let log = self
            .log_dir
            .join(format!("{}-{scenario}.log", self.subject.name));
        Running::start(
            self.subject,
            self.program,
            config,
            &log,
            expected,
            self.settings.start_timeout,
        )
    }

    /// `rounds` updates of `pattern` on one process.
    pub fn pattern(&mut self, pattern: Pattern) -> io::Result<Vec<Record>> {
        let settings = self.settings;
        let dir = tempfile::tempdir()?;
        let fixture = Fixture::new(pattern, dir.path())?;
        let running = self.start(fixture.config(), pattern.name(), &fixture.body(0))?;
        let poller = Poller::start(running.addr, Instant::now(), settings.poll_interval);
        thread::sleep(settings.settle);

        let mut planned = Vec::new();
        for n in 1..=settings.rounds {
            thread::sleep(jitter(settings.phase_jitter));
            let applied = fixture.apply(n)?;
            let committed = poller.at(applied.committed);
            let deadline = committed + settings.update_timeout;
            let started = poller.at(applied.started);
            let served = poller.wait_for(&applied.body, started, deadline);
            planned.push((started, committed, deadline, applied));
            thread::sleep(if served {
                settings.settle
            } else {
                settings.settle_after_miss
            });
        }
        let end = poller.now();
        if let Ok(peak) = procfs::peak_rss(running.pid()) {
            self.peak_rss = self.peak_rss.max(peak);
        }
        let samples = poller.stop();
        drop(running);

        let outcomes: Vec<UpdateOutcome> = planned
            .iter()
            .map(|(started, committed, deadline, applied)| {
                let partial: Vec<&[u8]> = applied.partial.iter().map(Vec::as_slice).collect();
                verdict::judge_update(
                    &samples,
                    &Update {
                        started: *started,
                        committed: *committed,
                        deadline: *deadline,
                        new: &applied.body,
                        partial: &partial,
                    },
                )
            })
            .collect();
        let rounds = u64::from(settings.rounds);
        let latencies: Vec<Duration> = outcomes.iter().filter_map(|o| o.latency).collect();
        let detected = latencies.len() as u64;
        let scenario = pattern.name();
        let mut records = vec![self.record(scenario, "detected", detected as f64, "count", rounds)];
        for (metric, p) in [("latency_p50", 50.0), ("latency_p99", 99.0)] {
            if let Some(latency) = verdict::percentile(&latencies, p) {
                records.push(self.record(scenario, metric, latency.as_secs_f64(), "s", detected));
            }
        }
        let unexpected = outcomes.iter().filter(|o| o.unexpected_served).count();
        records.push(self.record(
            scenario,
            "unexpected_served",
            unexpected as f64,
            "count",
            rounds,
        ));
        match pattern {
            Pattern::MultiKey => {
                let from = planned.first().map_or(end, |(started, ..)| *started);
                let (torn, reads) =
                    verdict::torn_reads(&samples, from, end, |body| !workload::is_torn(body));
                records.push(self.record(scenario, "torn_reads", torn as f64, "count", reads));
            }
            Pattern::SlowInPlace => {
                let prefixes: usize = outcomes.iter().map(|o| o.partial_served).sum();
                records.push(self.record(
                    scenario,
                    "half_written_served",
                    prefixes as f64,
                    "count",
                    rounds,
                ));
            }
            _ => {}
        }
        Ok(records)
    }

    /// A good config, then `bad` committed by rename: what is served, then
    /// whether a good file after it is picked up.
    pub fn bad_input(&self, bad: BadInput) -> io::Result<Vec<Record>> {
        let settings = self.settings;
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config.yaml");
        let (good_yaml, good_body) = workload::good_yaml(0);
        std::fs::write(&config, good_yaml)?;
        let mut running = self.start(&config, bad.name(), &good_body)?;
        let poller = Poller::start(running.addr, Instant::now(), settings.poll_interval);
        let mut opens = OpenWatch::new(dir.path(), "config.yaml")?;
        thread::sleep(settings.settle);

        thread::sleep(jitter(settings.phase_jitter));
        opens.opened()?; // forget the opens before the bad file
        let committed = poller.at(Instant::now());
        rename_replace(&config, &workload::contents(bad))?;
        thread::sleep(settings.bad_window);
        let until = poller.now();
        let read_bad_file = opens.opened()?;

        let (next_yaml, next_body) = workload::good_yaml(1);
        thread::sleep(jitter(settings.phase_jitter));
        let recovery = poller.at(Instant::now());
        rename_replace(&config, &next_yaml)?;
        let deadline = recovery + settings.update_timeout;
        if running.alive() {
            poller.wait_for(&next_body, recovery, deadline);
        }
        let samples = poller.stop();
        drop(running);

        let verdict = verdict::judge_bad(&samples, committed, until, &good_body);
        let recovers = verdict::judge_update(
            &samples,
            &Update {
                started: recovery,
                committed: recovery,
                deadline,
                new: &next_body,
                partial: &[],
            },
        )
        .latency
        .is_some();
        let read = if read_bad_file { "yes" } else { "no" };
        let keeps = f64::from(u8::from(verdict == verdict::Verdict::KeepsLastGood));
        Ok(vec![
            self.record(bad.name(), "verdict", keeps, "verdict", 1)
                .with_text(verdict.as_str())
                .with_provenance("bad_file_opened", read),
            self.record(
                bad.name(),
                "recovers",
                f64::from(u8::from(recovers)),
                "bool",
                1,
            )
            .with_provenance("bad_file_opened", read),
        ])
    }

    /// Wake-ups and CPU per second with nothing changing and no requests.
    pub fn idle(&self) -> io::Result<Vec<Record>> {
        let settings = self.settings;
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config.yaml");
        let (yaml, body) = workload::good_yaml(0);
        std::fs::write(&config, yaml)?;
        let running = self.start(&config, "idle", &body)?;
        thread::sleep(settings.idle_warmup);
        let before = procfs::counters(running.pid())?;
        let start = Instant::now();
        thread::sleep(settings.idle_window);
        let after = procfs::counters(running.pid())?;
        let seconds = start.elapsed().as_secs_f64();
        drop(running);
        let wakeups = after
            .context_switches
            .saturating_sub(before.context_switches) as f64
            / seconds;
        let cpu = after.cpu.saturating_sub(before.cpu).as_secs_f64() / seconds;
        let n = seconds.round() as u64;
        Ok(vec![
            self.record("idle", "wakeups_per_s", wakeups, "1/s", n),
            self.record("idle", "cpu_per_s", cpu, "s/s", n),
        ])
    }

    /// The highest `VmHWM` of this subject's update-pattern processes.
    pub fn peak_rss(&self) -> Vec<Record> {
        if self.peak_rss == 0 {
            return Vec::new();
        }
        vec![self.record("-", "peak_rss", self.peak_rss as f64, "bytes", 1)]
    }
}

/// A uniformly random duration in `[0, max)`. `RandomState` is seeded by the
/// OS, which is all the randomness a phase needs.
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let sample = RandomState::new().hash_one(Instant::now()) % 1_000_000;
    max.mul_f64(sample as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_spreads_over_its_range() {
        let max = Duration::from_secs(1);
        let samples: Vec<Duration> = (0..200).map(|_| jitter(max)).collect();
        assert!(samples.iter().all(|d| *d < max));
        assert!(samples.iter().any(|d| *d < max / 4), "{samples:?}");
        assert!(samples.iter().any(|d| *d > max * 3 / 4), "{samples:?}");
    }
}
