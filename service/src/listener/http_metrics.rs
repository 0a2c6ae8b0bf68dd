//! The connection metrics. Registered with the service's other metrics
//! ([`crate::metrics::Metrics`]); moved per connection and per accept
//! error, never per request.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::slots::Lane;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LaneLabels {
    /// `main` (served in full) or `reserve` (above the cap: only the
    /// operational paths).
    lane: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    /// `header_timeout`, `idle_timeout` or `evicted`.
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    /// The errno, lower-case (`emfile`), `network` or `other`.
    kind: &'static str,
}

/// Why the server closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closed {
    /// A request head was not complete within `--header-read-timeout`.
    HeaderTimeout,
    /// No complete request head within `--idle-timeout` of the previous
    /// response.
    IdleTimeout,
    /// A reserve connection still reading its head, closed for a newer one.
    Evicted,
}

impl Closed {
    fn label(self) -> &'static str {
        match self {
            Self::HeaderTimeout => "header_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::Evicted => "evicted",
        }
    }
}

/// Handles on the connection metrics; clones share them.
#[derive(Debug, Clone, Default)]
pub struct HttpMetrics {
    open: Family<LaneLabels, Gauge>,
    max: Family<LaneLabels, Gauge>,
    accepted: Family<LaneLabels, Counter>,
    rejected: Counter,
    closed: Family<ClosedLabels, Counter>,
    accept_errors: Family<KindLabels, Counter>,
}

impl HttpMetrics {
    /// Registers every connection metric in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        // Every series from the start, so a rate over the first event works.
        for lane in [Lane::Main, Lane::Reserve] {
            self.open(lane);
            self.accepted(lane);
        }
        for reason in [Closed::HeaderTimeout, Closed::IdleTimeout, Closed::Evicted] {
            let _ = self.closed.get_or_create(&ClosedLabels {
                reason: reason.label(),
            });
        }
        registry.register(
            "http_connections_open",
            "Open HTTP connections by lane (main: served in full; reserve: above the cap, \
             operational paths only)",
            self.open.clone(),
        );
        registry.register(
            "http_connections_max",
            "The most open HTTP connections each lane admits",
            self.max.clone(),
        );
        registry.register(
            "http_connections_accepted",
            "HTTP connections accepted, by the lane that admitted them",
            self.accepted.clone(),
        );
        registry.register(
            "http_connections_rejected",
            "HTTP connections closed at accept: both lanes full, every reserve connection answering",
            self.rejected.clone(),
        );
        registry.register(
            "http_connections_closed",
            "HTTP connections the server closed, by reason (header_timeout, idle_timeout, evicted)",
            self.closed.clone(),
        );
        registry.register(
            "http_accept_errors",
            "Failed accepts, by errno (emfile, enfile, enobufs, enomem, ...)",
            self.accept_errors.clone(),
        );
    }

    /// The gauge of a lane's open connections.
    pub(super) fn open(&self, lane: Lane) -> Gauge {
        self.open.get_or_create(&lane_labels(lane)).clone()
    }

    pub(super) fn set_max(&self, lane: Lane, max: usize) {
        self.max
            .get_or_create(&lane_labels(lane))
            .set(i64::try_from(max).unwrap_or(i64::MAX));
    }

    /// The counter of a lane's accepted connections.
    pub(super) fn accepted(&self, lane: Lane) -> Counter {
        self.accepted.get_or_create(&lane_labels(lane)).clone()
    }

    pub(super) fn rejected(&self) {
        self.rejected.inc();
    }

    pub(super) fn closed(&self, reason: Closed) {
        self.closed
            .get_or_create(&ClosedLabels {
                reason: reason.label(),
            })
            .inc();
    }

    pub(super) fn accept_error(&self, kind: &'static str) {
        self.accept_errors.get_or_create(&KindLabels { kind }).inc();
    }
}

fn lane_labels(lane: Lane) -> LaneLabels {
    LaneLabels {
        lane: match lane {
            Lane::Main => "main",
            Lane::Reserve => "reserve",
        },
    }
}
