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

// Only the Kubernetes API source makes an authority.
#![cfg_attr(not(feature = "kube"), allow(dead_code))]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::watcher::HealthCell;
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
    /// Whose version was served when it was last reported.
    reported: Option<&'static str>,
    /// Whether the other source's version is held back: looked at again
    /// once it may be served alone.
    held: bool,
}

/// How often a held version's fate is looked at again while the authority
/// can still deliver: it may stop.
const HELD_CHECK_EVERY: Duration = Duration::from_secs(1);

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
            reported: None,
            held: false,
        });
        ongoing.hash = hash;
        let can_deliver = self.health.get() == WatchHealth::Watching;
        ongoing.held = can_deliver || since.elapsed() < self.lag;
        if ongoing.held {
            (Ruling::Held, None)
        } else {
            (Ruling::ServedAlone, None)
        }
    }

    /// Reports the disagreement now, unless it was already reported with
    /// the same source served. `current` is the version served now and
    /// `published_by` the source that published it: the authority's
    /// version is served when the content is the authority's, whoever
    /// published it first.
    pub(crate) fn report(
        &mut self,
        current: ContentHash,
        published_by: &'static str,
    ) -> Option<News> {
        let serving = match self.latest {
            Some((latest, _)) if latest == current => self.name,
            _ => published_by,
        };
        let ongoing = self.disagreement.as_mut()?;
        let shown = Shown {
            source: ongoing.source,
            authority: self.name,
            since: ongoing.since,
            serving,
        };
        *self.shown.lock().unwrap_or_else(|p| p.into_inner()) = Some(shown);
        if ongoing.reported == Some(serving) {
            return None;
        }
        ongoing.reported = Some(serving);
        Some(News::Disagree(shown.now()))
    }

    /// When the disagreement going on has lasted as long as the volume may
    /// lag, if it is not reported yet.
    pub(crate) fn report_due(&self) -> Option<Instant> {
        self.disagreement
            .as_ref()
            .filter(|ongoing| ongoing.reported.is_none())
            .map(|ongoing| ongoing.since + self.lag)
    }

    /// When a held version should be read again: now if it may be served
    /// alone (the authority cannot deliver and its last version is older
    /// than the lag), else when that may next be so.
    pub(crate) fn held_check(&self, now: Instant) -> Option<Instant> {
        self.disagreement.as_ref().filter(|ongoing| ongoing.held)?;
        let (_, since) = self.latest?;
        let due = since + self.lag;
        if due > now {
            Some(due)
        } else if self.health.get() != WatchHealth::Watching {
            Some(now)
        } else {
            Some(now + HELD_CHECK_EVERY)
        }
    }

    fn agree(&mut self) -> Option<News> {
        let ongoing = self.disagreement.take()?;
        *self.shown.lock().unwrap_or_else(|p| p.into_inner()) = None;
        ongoing.reported.map(|_| News::Agree {
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
    fn a_held_version_is_looked_at_again_once_it_may_be_served_alone() {
        let (mut authority, health) = authority(Duration::from_millis(50));
        authority.delivered(hash(2));
        let now = Instant::now();
        assert_eq!(authority.held_check(now), None, "nothing held");
        authority.rule("inotify", hash(1));
        let due = authority.held_check(now).unwrap();
        assert!(due > now, "not before the lag");
        let later = now + Duration::from_millis(60);
        assert!(
            authority.held_check(later).unwrap() > later,
            "the authority still delivers"
        );
        health.set(WatchHealth::Degraded("unreachable".into()));
        assert_eq!(authority.held_check(later), Some(later));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(authority.rule("inotify", hash(1)).0, Ruling::ServedAlone);
        assert_eq!(authority.held_check(Instant::now()), None);
    }

    #[test]
    fn a_disagreement_is_reported_once_and_its_end_told() {
        let (mut authority, _) = authority(Duration::from_secs(3600));
        authority.delivered(hash(2));
        authority.rule("inotify", hash(1));
        assert!(authority.report_due().is_some());
        let Some(News::Disagree(first)) = authority.report(hash(2), "inotify") else {
            panic!("reported");
        };
        assert_eq!((first.source, first.serving), ("inotify", "kube"));
        assert_eq!(authority.report(hash(2), "inotify"), None);
        assert_eq!(authority.report_due(), None);
        // Served from the volume alone: reported again.
        let Some(News::Disagree(alone)) = authority.report(hash(3), "inotify") else {
            panic!("reported again");
        };
        assert_eq!(alone.serving, "inotify");
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
