//! The connection metrics. Registered with the service's other metrics
//! ([`crate::metrics::Metrics`]); moved per connection and per accept
//! error, never per request.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabels {
    /// `public` (`--bind`: the config) or `admin` (`--admin-bind`: the
    /// probes and `/metrics`).
    port: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    /// `header_timeout` or `idle_timeout`.
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    /// The errno, lower-case (`emfile`), `network` or `other`.
    kind: &'static str,
}

/// Which listener a connection came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// `--bind`: `/`.
    Public,
    /// `--admin-bind`: `/healthz`, `/readyz`, `/metrics`.
    Admin,
}

impl Port {
    pub fn label(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Admin => "admin",
        }
    }

    fn labels(self) -> PortLabels {
        PortLabels { port: self.label() }
    }
}

/// Why the server closed a connection: which bound it passed. (Stored in
/// an atomic as its discriminant; 0 means none.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closed {
    /// A request head was not complete within `--header-read-timeout`.
    HeaderTimeout = 1,
    /// No complete request head within `--idle-timeout` of the previous
    /// response.
    IdleTimeout = 2,
}

impl Closed {
    fn label(self) -> &'static str {
        match self {
            Self::HeaderTimeout => "header_timeout",
            Self::IdleTimeout => "idle_timeout",
        }
    }
}

crate::metrics::metric_set! {
    /// Handles on the connection metrics; clones share them.
    #[derive(Debug, Clone)]
    pub struct HttpMetrics {
        open: Family<PortLabels, Gauge> = Family::default(), "http_connections_open",
            "Open HTTP connections by port (public: the config; admin: probes and metrics)";
        max: Family<PortLabels, Gauge> = Family::default(), "http_connections_max",
            "The most open HTTP connections each port admits";
        accepted: Family<PortLabels, Counter> = Family::default(), "http_connections_accepted",
            "HTTP connections accepted under the cap, by port";
        rejected: Family<PortLabels, Counter> = Family::default(), "http_connections_rejected",
            "HTTP connections closed at accept because the port's cap was reached";
        closed: Family<ClosedLabels, Counter> = Family::default(), "http_connections_closed",
            "HTTP connections the server closed, by reason (header_timeout, idle_timeout)";
        accept_errors: Family<KindLabels, Counter> = Family::default(), "http_accept_errors",
            "Failed accepts, by errno (emfile, enfile, enobufs, enomem, ...)";
    }
}

impl HttpMetrics {
    /// Registers every connection metric in `registry`, each series there
    /// from the start, so a rate over the first event works.
    pub fn register(&self, registry: &mut Registry) {
        for port in [Port::Public, Port::Admin] {
            let _ = self.open(port);
            let _ = self.accepted.get_or_create(&port.labels());
            let _ = self.rejected.get_or_create(&port.labels());
        }
        for reason in [Closed::HeaderTimeout, Closed::IdleTimeout] {
            let _ = self.closed.get_or_create(&ClosedLabels {
                reason: reason.label(),
            });
        }
        self.register_all(registry);
    }

    /// The gauge of a port's open connections.
    pub(super) fn open(&self, port: Port) -> Gauge {
        self.open.get_or_create(&port.labels()).clone()
    }

    pub(super) fn set_max(&self, port: Port, max: usize) {
        self.max
            .get_or_create(&port.labels())
            .set(i64::try_from(max).unwrap_or(i64::MAX));
    }

    pub(super) fn accepted(&self, port: Port) {
        self.accepted.get_or_create(&port.labels()).inc();
    }

    pub(super) fn rejected(&self, port: Port) {
        self.rejected.get_or_create(&port.labels()).inc();
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
