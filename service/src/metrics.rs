//! Prometheus metrics, and the [`Observer`] that moves the reload ones.
//!
//! Nothing here runs per request: the reload counters move only when the
//! watch reports something (each occurrence counted; the log lines come from
//! the library, which logs every report through `tracing`, so each event is
//! one line), and `/metrics` encodes the registry on demand.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use config_reload::{
    Disagreement, LoadError, Observer, ReloadOutcome, ReloadReport, Skew, Watch, WatchHealth,
};
use config_reload_managers::Design;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::listener::HttpMetrics;

/// `result` of `config_reloads_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    /// `success` (a new config published), `failure` (rejected, the last
    /// good one kept) or `unchanged` (same content as the published one).
    result: &'static str,
    /// Why a `failure` failed (`syntax`, `wrong_type`, `missing_field`,
    /// `unknown_field`, `duplicate_key`, `invalid`, `missing`, `io`, ...:
    /// `config_reload::LoadErrorKind::label`); empty, so absent, otherwise.
    kind: &'static str,
}

/// `trigger` of `config_reload_triggers_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabels {
    trigger: &'static str,
}

/// `source` of the per-source metrics: `inotify`, `notify`, `poll`, `kube`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

/// The label of `config_info`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HashLabels {
    hash: String,
}

/// Declares a set of metrics, each once: its field, type, initial value,
/// name and help. The struct's `Default` holds every initial value;
/// `register_all` registers clones of the handles, in this order.
macro_rules! metric_set {
    ($(#[$meta:meta])* $vis:vis struct $set:ident {
        $($field:ident: $type:ty = $initial:expr, $name:literal, $help:literal;)*
    }) => {
        $(#[$meta])*
        $vis struct $set {
            $($field: $type,)*
        }

        impl Default for $set {
            fn default() -> Self {
                Self { $($field: $initial,)* }
            }
        }

        impl $set {
            fn register_all(&self, registry: &mut prometheus_client::registry::Registry) {
                $(registry.register($name, $help, self.$field.clone());)*
            }
        }
    };
}
pub(crate) use metric_set;

metric_set! {
    /// The reload metrics, moved by the observer and at scrape time.
    pub struct ReloadMetrics {
        reloads: Family<ReloadLabels, Counter> = Family::default(), "config_reloads",
            "Config reloads by result (success: published, failure: rejected, unchanged: same content)";
        last_reload_successful: Gauge = Gauge::default(), "config_last_reload_successful",
            "1 if the last reload published or confirmed the file's content, 0 if it was rejected";
        last_reload_success_timestamp: Gauge<f64, AtomicU64> = Gauge::default(),
            "config_last_reload_success_timestamp_seconds",
            "Unix time of the last reload that published a new config";
        version: Gauge = Gauge::default(), "config_version", "The version of the served config";
        info: Family<HashLabels, Gauge> = Family::default(), "config_info",
            "The content hash of the served config (always 1)";
        watcher_events: Counter = Counter::default(), "config_watcher_events",
            "Filesystem events about the config";
        resync_changes: Counter = Counter::default(), "config_resync_changes",
            "Changes found by the periodic resync that no event announced";
        watch_errors: Counter = Counter::default(), "config_watch_errors",
            "Times the watch broke (and was re-established or stopped)";
        reload_retries: Counter = Counter::default(), "config_reload_retries",
            "Retries of loads that failed for a reason that can go away (EMFILE, EIO, ...)";
        reload_triggers: Family<TriggerLabels, Counter> = Family::default(), "config_reload_triggers",
            "Reported reloads by cause (unclosed_write: an in-place write never closed, reloaded after the timeout)";
        reload_running: Gauge<f64, AtomicU64> = Gauge::default(), "config_reload_running_seconds",
            "How long the reload running now has been running, 0 when none (large: a hung filesystem)";
        stuck_reloads: Counter = Counter::default(), "config_stuck_reloads",
            "Reloads that ran longer than --stuck-reload-after";
        // 100 µs .. ~1.6 s: an event-driven reload is sub-millisecond, a
        // debounced or polled one takes up to the interval.
        reload_duration: Histogram = Histogram::new(exponential_buckets(0.0001, 2.0, 15)),
            "config_reload_duration_seconds",
            "From the event that caused a reload to the end of its publish";
        publishes: Family<SourceLabels, Counter> = Family::default(), "config_publishes",
            "Versions published, by the source that delivered them first (a file watcher, or kube)";
        propagation: DelayFamily = Family::new_with_constructor(delay_histogram),
            "config_propagation_seconds",
            "From the ConfigMap's last write (its managedFields time, whole seconds) to the publish, by source";
        skew: DelayFamily = Family::new_with_constructor(delay_histogram), "config_source_skew_seconds",
            "How long after the first source a later one delivered the same version, by the later source";
        source_up: Family<SourceLabels, Gauge> = Family::default(), "config_source_up",
            "1 while a source notices changes, 0 while it is degraded or stopped";
        sources_disagree: Gauge = Gauge::default(), "config_sources_disagree",
            "1 while the Kubernetes API and the volume have shown different content for longer than the volume may lag (or the volume is served alone), else 0";
        disagreements: Counter = Counter::default(), "config_source_disagreements",
            "Disagreements between the Kubernetes API and the volume reported (each lasted longer than the volume may lag, or served the volume alone)";
    }
}

/// Every metric the service exports, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    /// Reloads (the observer's).
    pub reload: ReloadMetrics,
    /// The HTTP connections (the listener's): registered here, moved there.
    pub http: HttpMetrics,
}

/// A histogram of delays per source.
type DelayFamily = Family<SourceLabels, Histogram, fn() -> Histogram>;

impl Metrics {
    /// Registers every metric; `build_info` names the compiled variant.
    pub fn new(manager: &'static str, watcher: &'static str) -> Self {
        let mut registry = Registry::default();
        registry.register(
            "build",
            "The service's version and the compiled-in manager and watcher",
            Info::new(vec![
                ("manager", manager),
                ("watcher", watcher),
                ("version", env!("CARGO_PKG_VERSION")),
            ]),
        );
        let (reload, http) = (ReloadMetrics::default(), HttpMetrics::default());
        reload.register_all(&mut registry);
        http.register(&mut registry);
        Self {
            registry,
            reload,
            http,
        }
    }

    /// The registry in the Prometheus text format 0.0.4: what `promtool`
    /// and scrapers that do not ask for OpenMetrics parse.
    pub fn encode_prometheus_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl ReloadMetrics {
    /// Sets what only the watch's state says, read at scrape time: the age
    /// of the reload running now (one stuck in a hung filesystem cannot
    /// update it itself), each source's state and whether they disagree.
    pub fn observe_state<T: Send + Sync + 'static, D: Design>(&self, watch: &Watch<T, D>) {
        let running_for = watch.reload_running_for();
        self.reload_running
            .set(running_for.map_or(0.0, |age| age.as_secs_f64()));
        for (source, health) in watch.sources() {
            let up = health == WatchHealth::Watching;
            self.source_up
                .get_or_create(&SourceLabels { source })
                .set(i64::from(up));
        }
        self.sources_disagree
            .set(i64::from(watch.disagreement().is_some()));
    }

    fn record(&self, report: &ReloadReport) {
        self.reload_duration.observe(report.took.as_secs_f64());
        let source = SourceLabels {
            source: report.source,
        };
        if let Some(propagation) = report.propagation {
            self.propagation
                .get_or_create(&source)
                .observe(propagation.as_secs_f64());
        }
        if let ReloadOutcome::Published { .. } = report.outcome {
            self.publishes.get_or_create(&source).inc();
        }
        self.reload_triggers
            .get_or_create(&TriggerLabels {
                trigger: report.trigger.name(),
            })
            .inc();
        let (result, kind) = match &report.outcome {
            ReloadOutcome::Published { version, hash } => {
                self.version
                    .set(i64::try_from(*version).unwrap_or(i64::MAX));
                self.info.clear();
                self.info
                    .get_or_create(&HashLabels {
                        hash: hash.to_string(),
                    })
                    .set(1);
                self.last_reload_success_timestamp.set(unix_now());
                self.last_reload_successful.set(1);
                ("success", "")
            }
            // The file holds what is served again (e.g. a bad edit reverted).
            ReloadOutcome::Unchanged => {
                self.last_reload_successful.set(1);
                ("unchanged", "")
            }
            ReloadOutcome::Failed(error) => {
                self.last_reload_successful.set(0);
                ("failure", error.kind.label())
            }
        };
        self.reloads
            .get_or_create(&ReloadLabels { result, kind })
            .inc();
    }
}

/// 10 ms .. ~5.8 min: the API's tenth of a second to the kubelet's minute
/// and more.
fn delay_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 16))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// Every report of the watch, counted.
impl Observer for Metrics {
    fn event(&self) {
        self.reload.watcher_events.inc();
    }

    fn reload(&self, report: &ReloadReport) {
        self.reload.record(report);
    }

    fn retrying(&self, _error: &LoadError, _attempt: u32, _delay: Duration) {
        self.reload.reload_retries.inc();
    }

    fn resync_found_change(&self) {
        self.reload.resync_changes.inc();
    }

    fn watch_error(&self, _message: &str) {
        self.reload.watch_errors.inc();
    }

    fn skew(&self, skew: &Skew) {
        let source = SourceLabels {
            source: skew.source,
        };
        self.reload
            .skew
            .get_or_create(&source)
            .observe(skew.behind.as_secs_f64());
    }

    fn sources_disagree(&self, _disagreement: &Disagreement) {
        self.reload.disagreements.inc();
    }

    fn reload_stuck(&self, _running_for: Duration) {
        self.reload.stuck_reloads.inc();
    }
}
