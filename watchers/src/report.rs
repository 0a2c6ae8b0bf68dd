//! What a watch tells its [`Observer`]: how each reload ended, and trouble.

use std::time::Duration;

use crate::{ContentHash, LoadError};

/// What caused a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The load at start-up.
    Initial,
    /// A filesystem event (after debounce), or a watch event of the
    /// Kubernetes API.
    Event,
    /// The periodic resync of an event watcher, or a (re-)list of the
    /// Kubernetes API (at its start, after `410 Gone`).
    Resync,
    /// `PollWatcher` saw the resolution chain change.
    Poll,
    /// The event queue overflowed: events were lost, so reload everything.
    Overflow,
    /// [`Watch::reload_now`](crate::Watch::reload_now) (SIGHUP).
    Manual,
    /// An in-place write whose writer never closed the file, after
    /// [`Debounce::unclosed_write_timeout`](crate::Debounce::unclosed_write_timeout) without another write.
    UnclosedWrite,
}

impl Trigger {
    /// A short, stable name for logs and metrics labels: `initial`,
    /// `event`, `resync`, `poll`, `overflow`, `manual`, `unclosed_write`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Event => "event",
            Self::Resync => "resync",
            Self::Poll => "poll",
            Self::Overflow => "overflow",
            Self::Manual => "manual",
            Self::UnclosedWrite => "unclosed_write",
        }
    }
}

/// How one reload ended.
#[derive(Debug, Clone)]
pub enum ReloadOutcome {
    /// New content, valid, published as `version`.
    Published {
        /// The version it was published as.
        version: u64,
        /// The hash of the bytes it was decoded from.
        hash: ContentHash,
    },
    /// Nothing new: the content hash equals the published one, or, with
    /// several sources, the content is one this watch already published and
    /// replaced (a slower source catching up) or the one this source
    /// delivered last. Nothing published.
    Unchanged,
    /// Rejected; the last good config stays published.
    Failed(LoadError),
}

/// One reload, as reported to the [`Observer`].
#[derive(Debug, Clone)]
pub struct ReloadReport {
    /// What caused it.
    pub trigger: Trigger,
    /// How it ended.
    pub outcome: ReloadOutcome,
    /// From the first event that caused it (or the start of the load) to the
    /// end of the publish.
    pub took: Duration,
    /// The source whose content this reload looked at: the name of the
    /// watcher that read it (`"inotify"`, `"poll"`, ... for the files,
    /// `"kube"` for the Kubernetes API).
    pub source: &'static str,
    /// From the source's last write of this content (a ConfigMap's latest
    /// `managedFields` time) to the end of this reload: the propagation
    /// delay. Given once per source and version, when the version arrived
    /// by an event (not at start, nor by a resync or a re-list) and its
    /// write time is known: the API source knows it, and a volume learns it
    /// from the API source when both watch one ConfigMap.
    pub propagation: Option<Duration>,
}

/// A source delivered a version another source had already published: how
/// far behind it was. With a ConfigMap watched through the API and mounted
/// as a volume, the volume is usually `source`, a minute or more behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skew {
    /// The version's content hash.
    pub hash: ContentHash,
    /// The source that delivered it late.
    pub source: &'static str,
    /// The source that published it first.
    pub published_by: &'static str,
    /// How long after the publish `source` delivered it.
    pub behind: Duration,
}

/// Hooks for metrics, or anything else a program does with a watch's
/// reports. All default to nothing. Every watch already logs the same
/// reports through `tracing` (target `config_reload`: a rejected edit at
/// `warn`, a publish at `info`, repeated trouble once a minute), with or
/// without an observer; an observer adds to that log, it does not replace
/// it. Filter it like any target (`RUST_LOG=config_reload=error`).
pub trait Observer: Send + Sync + 'static {
    /// A raw event that concerns the config arrived: a filesystem event, or
    /// a version of the ConfigMap from the Kubernetes API.
    fn event(&self) {}
    /// A reload finished.
    fn reload(&self, report: &ReloadReport) {
        let _ = report;
    }
    /// The resync found changed content that no event had announced.
    fn resync_found_change(&self) {}
    /// The watch broke (and is being re-established, or cannot be). Called
    /// for every failure, also each failed retry of a broken watch.
    fn watch_error(&self, message: &str) {
        let _ = message;
    }
    /// The watch is established again after [`Observer::watch_error`].
    fn watch_restored(&self) {}
    /// A reload has been running for `running_for`, longer than
    /// [`WatchOptions::stuck_after`](crate::WatchOptions::stuck_after): a read is probably stuck in a hung
    /// filesystem. Called once per such reload; the last good config is
    /// still served, but no change is published until it returns.
    fn reload_stuck(&self, running_for: Duration) {
        let _ = running_for;
    }
    /// The reload [`Observer::reload_stuck`] reported ended after `took`.
    fn stuck_reload_finished(&self, took: Duration) {
        let _ = took;
    }
    /// A load failed for a reason that can go away and is retried after
    /// `delay`; `attempt` counts the retries of this streak from 1. The first
    /// failure of a streak is also reported as a failed reload; the streak
    /// ends with the next reported reload.
    fn retrying(&self, error: &LoadError, attempt: u32, delay: Duration) {
        let _ = (error, attempt, delay);
    }
    /// A source delivered a version another source had published first
    /// (once per source and version; not for the version loaded at start).
    fn skew(&self, skew: &Skew) {
        let _ = skew;
    }
    /// The two sources of one config (the Kubernetes API and its volume)
    /// have disagreed for longer than the volume may lag, or the volume's
    /// content is served because the API cannot deliver. Once per
    /// disagreement.
    fn sources_disagree(&self, disagreement: &Disagreement) {
        let _ = disagreement;
    }
    /// The disagreement [`Observer::sources_disagree`] reported is over:
    /// `source` shows the authority's content again.
    fn sources_agree(&self, source: &'static str, lasted: Duration) {
        let _ = (source, lasted);
    }
}

/// The Kubernetes API and the volume it is mounted as have shown different
/// content for longer than the volume may lag
/// (`KubeSource::volume_lag`, feature `kube`), or the
/// volume's content is served while the API cannot deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The source that differs from the authority (the volume's watcher:
    /// `"inotify"`, ...).
    pub source: &'static str,
    /// The source that decides while it can deliver (`"kube"`).
    pub authority: &'static str,
    /// How long they have differed.
    pub lasted: Duration,
    /// Whose version is served now.
    pub serving: &'static str,
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Whether the watch still notices changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchHealth {
    /// Changes are being noticed.
    Watching,
    /// The watch is being re-established (e.g. the directory is gone, the
    /// API server unreachable), or, with several sources, one of them is
    /// (the others carry on): the reason says which.
    Degraded(String),
    /// The watcher stopped and will not notice changes again.
    Stopped(String),
}
