//! The [`config_reload::Observer`] of the service: every report feeds the
//! metrics, each occurrence counted. The log lines come from the library,
//! which logs every watch's reports through `tracing` (rate-limited, never
//! quoting the config's content), so each event is one line.

use std::sync::Arc;
use std::time::Duration;

use config_reload::{Disagreement, LoadError, Observer, ReloadReport, Skew};

use crate::metrics::Metrics;

/// Feeds [`Metrics`] from a watch's reports.
pub struct ReloadObserver {
    metrics: Arc<Metrics>,
}

impl ReloadObserver {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl Observer for ReloadObserver {
    fn event(&self) {
        self.metrics.reload.event();
    }

    fn reload(&self, report: &ReloadReport) {
        self.metrics.reload.record(report);
    }

    fn retrying(&self, _error: &LoadError, _attempt: u32, _delay: Duration) {
        self.metrics.reload.retry();
    }

    fn resync_found_change(&self) {
        self.metrics.reload.resync_change();
    }

    fn watch_error(&self, _message: &str) {
        self.metrics.reload.watch_error();
    }

    fn skew(&self, skew: &Skew) {
        self.metrics.reload.skew(skew.source, skew.behind);
    }

    fn sources_disagree(&self, _disagreement: &Disagreement) {
        self.metrics.reload.disagreement();
    }

    fn reload_stuck(&self, _running_for: Duration) {
        self.metrics.reload.stuck_reload();
    }
}
