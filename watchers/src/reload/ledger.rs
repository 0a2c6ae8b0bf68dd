//! Reconciling several sources of one config by content hash: which source
//! published each version, when, and what each source delivered last, so a
//! slower source catching up (a ConfigMap volume a minute behind the API)
//! never publishes an older version again, and its lag is measured.
//!
//! One source is the common case and behaves exactly as a single hash
//! compare: content equal to what this source last delivered, or to the
//! published version, is nothing new; anything else is decoded.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use crate::reload::authority::{Authority, News, Ruling};
use crate::{ContentHash, Skew};

/// How many published versions are remembered to recognise a late source
/// and measure its skew. With the Kubernetes API beside the volume, the
/// [`Authority`] keeps a volume any number of versions behind from
/// publishing; a source further behind than this is only not measured.
const REMEMBERED: usize = 32;

/// Every version published recently and what each source delivered last.
pub(crate) struct Ledger {
    /// Oldest first; the last is the one published now.
    versions: VecDeque<Version>,
    sources: Vec<SourceState>,
    next_index: u64,
    /// The source that decides when there are two (the Kubernetes API).
    authority: Option<Authority>,
    /// The source whose delivery the authority let through as served alone,
    /// until it is published.
    served_alone: Option<&'static str>,
    /// What to tell the observer about the sources.
    news: Vec<News>,
}

struct Version {
    index: u64,
    hash: ContentHash,
    by: &'static str,
    at: Instant,
    /// The content's last write at its origin, once a source told it.
    written_at: Option<SystemTime>,
    /// The version loaded at start: its skew and propagation mean nothing.
    initial: bool,
}

struct SourceState {
    name: &'static str,
    /// The last content this source delivered that was published or known.
    hash: Option<ContentHash>,
    /// The newest version this source has delivered.
    index: Option<u64>,
}

/// What a delivery is, before anything is decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to publish: the published version, a version this watch has
    /// already replaced, or what this source delivered last.
    Known {
        /// Set when another source published this version first.
        skew: Option<Skew>,
        /// From the content's write to now, for this source's first delivery.
        propagation: Option<Duration>,
    },
    /// Differs from what the deciding source delivered: not published.
    Held,
    /// Content to decode and, if valid, publish.
    New,
}

/// How a delivery arrived: only an event's delivery measures propagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    Event,
    Other,
}

impl Ledger {
    /// A ledger whose current version is the one loaded at start, by `source`.
    pub(crate) fn new(
        source: &'static str,
        hash: ContentHash,
        written_at: Option<SystemTime>,
        authority: Option<Authority>,
    ) -> Self {
        let mut ledger = Self {
            versions: VecDeque::new(),
            sources: Vec::new(),
            next_index: 0,
            authority,
            served_alone: None,
            news: Vec::new(),
        };
        if let Some(authority) = &mut ledger.authority
            && authority.name() == source
        {
            authority.delivered(hash);
        }
        ledger.push(source, hash, written_at, true);
        ledger
    }

    /// The hash published now.
    pub(crate) fn current(&self) -> ContentHash {
        self.versions.back().expect("one version at least").hash
    }

    /// Classifies `hash` delivered by `source`, recording what is known.
    pub(crate) fn classify(
        &mut self,
        source: &'static str,
        hash: ContentHash,
        written_at: Option<SystemTime>,
        arrival: Arrival,
    ) -> Verdict {
        self.served_alone = None;
        if let Some(authority) = &mut self.authority {
            if authority.name() == source {
                self.news.extend(authority.delivered(hash));
            } else {
                let (ruling, news) = authority.rule(source, hash);
                self.news.extend(news);
                match ruling {
                    Ruling::Usual => {}
                    Ruling::Held => return Verdict::Held,
                    Ruling::ServedAlone => self.served_alone = Some(source),
                }
            }
        }
        let current = self.versions.back().expect("one version").index;
        let state = self.state(source);
        if state.hash == Some(hash) {
            return Verdict::Known {
                skew: None,
                propagation: None,
            };
        }
        let seen = state.index;
        let Some(version) = self.versions.iter_mut().rev().find(|v| v.hash == hash) else {
            return Verdict::New;
        };
        // An older version this source had already passed: the source went
        // back to it (a revert), which is news.
        if version.index != current && seen.is_some_and(|seen| seen >= version.index) {
            return Verdict::New;
        }
        if version.written_at.is_none() {
            version.written_at = written_at;
        }
        let skew = (version.by != source && !version.initial).then(|| Skew {
            hash,
            source,
            published_by: version.by,
            behind: version.at.elapsed(),
        });
        let propagation = (!version.initial && arrival == Arrival::Event)
            .then(|| since(version.written_at))
            .flatten();
        let index = version.index;
        let state = self.state(source);
        state.hash = Some(hash);
        state.index = Some(state.index.map_or(index, |seen| seen.max(index)));
        Verdict::Known { skew, propagation }
    }

    /// Records `hash`, delivered by `source`, as published now; returns its
    /// propagation delay when it arrived by an event and its write is known.
    pub(crate) fn published(
        &mut self,
        source: &'static str,
        hash: ContentHash,
        written_at: Option<SystemTime>,
        arrival: Arrival,
    ) -> Option<Duration> {
        self.push(source, hash, written_at, false);
        if self.served_alone.take() == Some(source)
            && let Some(authority) = &mut self.authority
        {
            self.news.extend(authority.report(hash, source));
        }
        (arrival == Arrival::Event)
            .then(|| since(written_at))
            .flatten()
    }

    /// What to tell the observer about the sources by `now`: a
    /// disagreement that has lasted as long as the volume may lag, or one
    /// that ended.
    pub(crate) fn news(&mut self, now: Instant) -> Vec<News> {
        let current = self.versions.back().expect("one version");
        let (hash, by) = (current.hash, current.by);
        if let Some(authority) = &mut self.authority
            && authority.report_due().is_some_and(|due| due <= now)
        {
            self.news.extend(authority.report(hash, by));
        }
        std::mem::take(&mut self.news)
    }

    /// When a version held back should be read again (see
    /// [`Authority::held_check`]).
    pub(crate) fn held_check(&self, now: Instant) -> Option<Instant> {
        self.authority
            .as_ref()
            .and_then(|authority| authority.held_check(now))
    }

    /// When [`Ledger::news`] will have something to say, if no delivery
    /// comes first.
    pub(crate) fn next_news(&self) -> Option<Instant> {
        self.authority.as_ref().and_then(Authority::report_due)
    }

    fn push(
        &mut self,
        source: &'static str,
        hash: ContentHash,
        written_at: Option<SystemTime>,
        initial: bool,
    ) {
        let index = self.next_index;
        self.next_index += 1;
        if self.versions.len() == REMEMBERED {
            self.versions.pop_front();
        }
        self.versions.push_back(Version {
            index,
            hash,
            by: source,
            at: Instant::now(),
            written_at,
            initial,
        });
        let state = self.state(source);
        state.hash = Some(hash);
        state.index = Some(index);
    }

    fn state(&mut self, name: &'static str) -> &mut SourceState {
        let position = match self.sources.iter().position(|state| state.name == name) {
            Some(position) => position,
            None => {
                self.sources.push(SourceState {
                    name,
                    hash: None,
                    index: None,
                });
                self.sources.len() - 1
            }
        };
        &mut self.sources[position]
    }
}

/// From `written_at` to now; zero if the writer's clock is ahead of ours.
fn since(written_at: Option<SystemTime>) -> Option<Duration> {
    written_at.map(|written| {
        SystemTime::now()
            .duration_since(written)
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> ContentHash {
        ContentHash([n; 32])
    }

    fn is_new(verdict: &Verdict) -> bool {
        *verdict == Verdict::New
    }

    fn skew_of(verdict: Verdict) -> Option<(&'static str, &'static str)> {
        match verdict {
            Verdict::Known { skew, .. } => skew.map(|skew| (skew.source, skew.published_by)),
            Verdict::New | Verdict::Held => panic!("expected a known version"),
        }
    }

    #[test]
    fn one_source_is_a_plain_hash_compare() {
        let mut ledger = Ledger::new("inotify", hash(0), None, None);
        assert!(!is_new(&ledger.classify(
            "inotify",
            hash(0),
            None,
            Arrival::Event
        )));
        assert!(is_new(&ledger.classify(
            "inotify",
            hash(1),
            None,
            Arrival::Event
        )));
        ledger.published("inotify", hash(1), None, Arrival::Event);
        // A revert to the first version is news.
        assert!(is_new(&ledger.classify(
            "inotify",
            hash(0),
            None,
            Arrival::Event
        )));
        assert_eq!(ledger.current(), hash(1));
    }

    #[test]
    fn a_failed_version_is_decoded_again() {
        let mut ledger = Ledger::new("inotify", hash(0), None, None);
        // Nothing recorded for a version that failed to decode.
        assert!(is_new(&ledger.classify(
            "inotify",
            hash(9),
            None,
            Arrival::Event
        )));
        assert!(is_new(&ledger.classify(
            "inotify",
            hash(9),
            None,
            Arrival::Event
        )));
    }

    /// The API publishes 1 then 2; the volume, behind, still has 0 at a
    /// resync, then delivers 1, then 2: nothing of it is published again.
    #[test]
    fn a_slower_source_never_publishes_an_older_version() {
        let mut ledger = Ledger::new("inotify", hash(0), None, None);
        assert_eq!(
            skew_of(ledger.classify("kube", hash(0), None, Arrival::Other)),
            None
        );
        for n in [1, 2] {
            assert!(is_new(&ledger.classify(
                "kube",
                hash(n),
                None,
                Arrival::Event
            )));
            ledger.published("kube", hash(n), None, Arrival::Event);
        }
        assert!(!is_new(&ledger.classify(
            "inotify",
            hash(0),
            None,
            Arrival::Other
        )));
        assert_eq!(
            skew_of(ledger.classify("inotify", hash(1), None, Arrival::Event)),
            Some(("inotify", "kube"))
        );
        assert_eq!(
            skew_of(ledger.classify("inotify", hash(2), None, Arrival::Event)),
            Some(("inotify", "kube"))
        );
        // Once caught up, the volume's next own change is news again.
        assert!(is_new(&ledger.classify(
            "inotify",
            hash(1),
            None,
            Arrival::Event
        )));
    }

    #[test]
    fn propagation_comes_from_the_first_source_that_knew_the_write() {
        let written = SystemTime::now() - Duration::from_secs(70);
        let mut ledger = Ledger::new("inotify", hash(0), None, None);
        assert!(is_new(&ledger.classify(
            "kube",
            hash(1),
            Some(written),
            Arrival::Event
        )));
        let api = ledger.published("kube", hash(1), Some(written), Arrival::Event);
        assert!(api.unwrap() >= Duration::from_secs(70));
        let Verdict::Known { propagation, .. } =
            ledger.classify("inotify", hash(1), None, Arrival::Event)
        else {
            panic!("known");
        };
        assert!(propagation.unwrap() >= Duration::from_secs(70));
        // A re-list or a resync measures nothing.
        assert_eq!(
            ledger.published("kube", hash(2), Some(written), Arrival::Other),
            None
        );
    }
}
