//! Which of two sources of one config decides: the Kubernetes API beside
//! the volume it is mounted as.
//!
//! The volume lags the API by the kubelet's sync (60–90 s) and may lag it
//! by any number of versions: a version the API replaced can show up on
//! the volume long after. So, with both, the rule is (docs/kube.md):
//!
//! - While the API can deliver, only its versions are published. The
//!   volume's, when it differs from the API's last, is held back, and
//!   the disagreement is reported once it has lasted longer than the
//!   volume may lag.
//! - When the API cannot deliver (its source is not `Watching`) and its
//!   last version is older than the lag, the volume has had time to catch
//!   up with it: what the volume shows now is at least as new, and is
//!   published, reported as served from the volume alone.
//! - Before the API's first version, the volume is published as if alone.
//!
//! This needs no memory of past versions: a volume any number of versions
//! behind is held back all the same.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::strategy::HealthCell;
use crate::{ContentHash, Disagreement, WatchHealth};

/// The deciding source and what it last delivered.
pub(crate) struct Authority {
    name: &'static str,
    health: Arc<HealthCell>,
    lag: Duration,
    /// Its last delivery, and since when it has delivered that content.
    latest: Option<(ContentHash, Instant)>,
    disagreement: Option<Ongoing>,
    /// What [`Watch::disagreement`](crate::Watch::disagreement) shows: the
    /// disagreement once reported.
    shown: Arc<Mutex<Option<Shown>>>,
}

/// A disagreement going on.
struct Ongoing {
    source: &'static str,
    /// What the other source delivered last.
    hash: ContentHash,
    since: Instant,
    reported: bool,
}

/// A reported disagreement, as the watch shows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shown {
    source: &'static str,
    authority: &'static str,
    since: Instant,
    serving: &'static str,
}

impl Shown {
    pub(crate) fn now(&self) -> Disagreement {
        Disagreement {
            source: self.source,
            authority: self.authority,
            lasted: self.since.elapsed(),
            serving: self.serving,
        }
    }
}

/// What the other source's delivery may do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ruling {
    /// As if the authority were not there: the usual hash compare.
    Usual,
    /// Differs from the authority, which can deliver (or did so recently):
    /// not published.
    Held,
    /// Differs from the authority, which has not delivered for longer than
    /// the lag: published, and reported as served from this source alone.
    ServedAlone,
}

/// News about the two sources for the observer.
#[derive(Debug, PartialEq)]
pub(crate) enum News {
    Disagree(Disagreement),
    Agree {
        source: &'static str,
        lasted: Duration,
    },
}

impl Authority {
    pub(crate) fn new(
        name: &'static str,
        health: Arc<HealthCell>,
        lag: Duration,
        shown: Arc<Mutex<Option<Shown>>>,
    ) -> Self {
        Self {
            name,
            health,
            lag,
            latest: None,
            disagreement: None,
            shown,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The authority delivered `hash`.
    pub(crate) fn delivered(&mut self, hash: ContentHash) -> Option<News> {
        if self.latest.is_none_or(|(latest, _)| latest != hash) {
            self.latest = Some((hash, Instant::now()));
        }
        match &self.disagreement {
            Some(ongoing) if ongoing.hash == hash => self.agree(),
            _ => None,
        }
    }

    /// Another source delivered `hash`, while `published_by` published the
    /// version served now.
    pub(crate) fn rule(
        &mut self,
        source: &'static str,
        hash: ContentHash,
    ) -> (Ruling, Option<News>) {
        let Some((latest, since)) = self.latest else {
            return (Ruling::Usual, None);
        };
        if hash == latest {
            return (Ruling::Usual, self.agree());
        }
        let ongoing = self.disagreement.get_or_insert(Ongoing {
            source,
            hash,
            since: Instant::now(),
            reported: false,
        });
        ongoing.hash = hash;
        let can_deliver = self.health.get() == WatchHealth::Watching;
        if can_deliver || since.elapsed() < self.lag {
            (Ruling::Held, None)
        } else {
            (Ruling::ServedAlone, None)
        }
    }

    /// Reports the disagreement now if it was not: `serving` is the source
    /// whose version is served.
    pub(crate) fn report(&mut self, serving: &'static str) -> Option<News> {
        let ongoing = self.disagreement.as_mut()?;
        let shown = Shown {
            source: ongoing.source,
            authority: self.name,
            since: ongoing.since,
            serving,
        };
        *self.shown.lock().unwrap_or_else(|p| p.into_inner()) = Some(shown);
        if ongoing.reported {
            return None;
        }
        ongoing.reported = true;
        Some(News::Disagree(shown.now()))
    }

    /// When the disagreement going on has lasted as long as the volume may
    /// lag, if it is not reported yet.
    pub(crate) fn report_due(&self) -> Option<Instant> {
        self.disagreement
            .as_ref()
            .filter(|ongoing| !ongoing.reported)
            .map(|ongoing| ongoing.since + self.lag)
    }

    fn agree(&mut self) -> Option<News> {
        let ongoing = self.disagreement.take()?;
        *self.shown.lock().unwrap_or_else(|p| p.into_inner()) = None;
        ongoing.reported.then(|| News::Agree {
            source: ongoing.source,
            lasted: ongoing.since.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> ContentHash {
        ContentHash([n; 32])
    }

    fn authority(lag: Duration) -> (Authority, Arc<HealthCell>) {
        let health = Arc::new(HealthCell::new());
        let shown = Arc::new(Mutex::new(None));
        (
            Authority::new("kube", Arc::clone(&health), lag, shown),
            health,
        )
    }

    #[test]
    fn before_the_authority_speaks_the_other_source_is_alone() {
        let (mut authority, _) = authority(Duration::from_secs(60));
        assert_eq!(authority.rule("inotify", hash(1)).0, Ruling::Usual);
    }

    #[test]
    fn a_differing_version_is_held_while_the_authority_can_deliver() {
        let (mut authority, health) = authority(Duration::ZERO);
        authority.delivered(hash(200));
        assert_eq!(authority.rule("inotify", hash(1)).0, Ruling::Held);
        assert_eq!(authority.rule("inotify", hash(200)).0, Ruling::Usual);
        // The authority down, its last version older than the lag (zero):
        // the volume is served alone.
        health.set(WatchHealth::Degraded("unreachable".into()));
        assert_eq!(authority.rule("inotify", hash(201)).0, Ruling::ServedAlone);
    }

    #[test]
    fn a_down_authority_still_decides_within_the_lag() {
        let (mut authority, health) = authority(Duration::from_secs(3600));
        authority.delivered(hash(2));
        health.set(WatchHealth::Degraded("unreachable".into()));
        assert_eq!(authority.rule("inotify", hash(1)).0, Ruling::Held);
    }

    #[test]
    fn a_disagreement_is_reported_once_and_its_end_told() {
        let (mut authority, _) = authority(Duration::from_secs(3600));
        authority.delivered(hash(2));
        authority.rule("inotify", hash(1));
        assert!(authority.report_due().is_some());
        let Some(News::Disagree(first)) = authority.report("kube") else {
            panic!("reported");
        };
        assert_eq!((first.source, first.serving), ("inotify", "kube"));
        assert_eq!(authority.report("kube"), None);
        assert_eq!(authority.report_due(), None);
        // The authority comes round to the volume's version.
        assert!(matches!(
            authority.delivered(hash(1)),
            Some(News::Agree {
                source: "inotify",
                ..
            })
        ));
        assert!(authority.shown.lock().unwrap().is_none());
    }
}
