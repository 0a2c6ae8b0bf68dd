//! The list-then-watch loop of one object, as client-go's reflector runs
//! it, and stricter where the network lies.
//!
//! kube's `runtime::watcher` does the protocol but hides what this needs to
//! see: bookmarks (the proof a quiet watch is alive), `ERROR` events other
//! than `410` (it keeps the stream, so the source would look broken until
//! the connection's timeout), and the resourceVersion a list returns (a
//! server whose history went back). So the loop is written here on kube's
//! `Api::list`, `Api::watch` and `Api::get_opt`:
//!
//! - **List**, always taken as the truth (a consistent read: no
//!   `resourceVersion`), then **watch** from its `resourceVersion`, with
//!   bookmarks, each watch bounded by a server-side `timeoutSeconds` between
//!   a half and two thirds of the silence timeout.
//! - **Silence**: nothing from the server (event, bookmark or end) for the
//!   silence timeout → the connection is presumed dead, dropped, and the
//!   object listed again on a new one.
//! - **History reset**: `410 Gone`, `Too large resource version` (a
//!   restored etcd: versions lower than ours), or several watches in a row
//!   that brought nothing → list again, and compare.
//! - **Backoff** for every way a watch can fail: a failed request, an
//!   `ERROR` event, a broken connection, a silent one, a watch the server
//!   ended at once with no event (client-go's "very short watch"). The
//!   streak ends when a watch is established: it lasted a second or brought
//!   an event.
//! - **Health**: `Degraded` with a whole-sentence reason from the first
//!   failure, `Watching` again once a watch is established.
//!
//! resourceVersions are opaque: they are only sent back, never compared.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::Api;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::core::Status;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};

use super::object::{Keyed, Target};
use super::{chain, jittered, random_fraction};
use crate::watcher::Signals;
use crate::{Backoff, Trigger};

/// Watches in a row that ended at the server's timeout having brought no
/// change before the object is listed again to compare: a watch held from
/// a resourceVersion the server's history no longer reaches (after a
/// restore) is blind without any error.
const QUIET_WATCHES_BEFORE_A_LIST: u32 = 3;

/// A watch that lasted this long, or brought an event, is established:
/// the source is up and the failure streak ends. Shorter with no event is
/// client-go's "very short watch", a failure.
const ESTABLISHED_AFTER: Duration = Duration::from_secs(1);

/// One object's list-then-watch loop.
pub(crate) struct Reflector<K: Keyed> {
    pub(crate) api: Api<K>,
    pub(crate) target: Target,
    pub(crate) signals: Signals,
    pub(crate) backoff: Backoff,
    pub(crate) silence: Duration,
    /// "Reload now" requests: each is answered by a fresh read.
    pub(crate) requests: UnboundedReceiver<()>,
    /// Failures in a row: the backoff's attempt.
    pub(crate) failures: u32,
    /// Whether the last list was asked for by the server (`410`) and no watch
    /// has been established since: a second such demand counts as a failure.
    pub(crate) relisted_on_demand: bool,
}

/// How a watch ended.
enum End {
    /// Nothing from the server for the silence timeout.
    Silent,
    /// The server ended the stream; `events` counts events and bookmarks,
    /// `changes` only what changed the object.
    Closed {
        events: u32,
        changes: u32,
        lasted: Duration,
    },
    /// The connection broke mid-stream.
    Broken(String),
    /// An `ERROR` event.
    Error(Box<Status>),
    /// A "reload now" read failed: the connection is suspect.
    Failed(String),
}

/// What the loop does after a watch ended.
enum Then {
    Rewatch,
    Relist,
}

impl<K: Keyed> Reflector<K> {
    /// Lists and watches until the runtime is dropped.
    pub(crate) async fn run(mut self) {
        loop {
            if let Some(version) = self.list().await {
                self.watch_from(version).await;
            }
        }
    }

    fn selector(&self) -> String {
        format!("metadata.name={}", self.target.name)
    }

    /// Lists the object and delivers it; its `resourceVersion`, or `None`
    /// after a failure (already paused for).
    async fn list(&mut self) -> Option<String> {
        let params = ListParams::default().fields(&self.selector());
        let list = match timeout(self.silence, self.api.list(&params)).await {
            Ok(Ok(list)) => list,
            Ok(Err(error)) => {
                self.fail(describe_request("cannot list", &error)).await;
                return None;
            }
            Err(_) => {
                self.fail(no_answer("cannot list", self.silence)).await;
                return None;
            }
        };
        // A fresh read answers every "reload now" asked before it.
        while self.requests.try_recv().is_ok() {}
        let object = list
            .items
            .iter()
            .find(|object| object.meta().name.as_deref() == Some(&self.target.name));
        self.signals
            .content(self.target.content(object, Trigger::Resync));
        Some(list.metadata.resource_version.unwrap_or_default())
    }

    /// Watches from `version` until a list is needed.
    async fn watch_from(&mut self, mut version: String) {
        let mut quiet = 0;
        loop {
            let params = WatchParams::default()
                .fields(&self.selector())
                .timeout(server_timeout(self.silence));
            let started = Instant::now();
            let stream = match timeout(self.silence, self.api.watch(&params, &version)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(kube::Error::Api(status))) if asks_for_a_list(&status) => {
                    self.relist_for(&status).await;
                    return;
                }
                Ok(Err(error)) => {
                    self.fail(describe_request("cannot watch", &error)).await;
                    continue;
                }
                Err(_) => {
                    self.fail(no_answer("cannot watch", self.silence)).await;
                    return;
                }
            };
            let end = self.follow(stream.boxed(), &mut version, started).await;
            match self.after(end, &mut quiet).await {
                Then::Rewatch => {}
                Then::Relist => return,
            }
        }
    }

    /// Follows one watch's events until it ends.
    async fn follow(
        &mut self,
        mut stream: impl Stream<Item = kube::Result<WatchEvent<K>>> + Unpin,
        version: &mut String,
        started: Instant,
    ) -> End {
        let (mut events, mut changes) = (0, 0);
        let mut heard = started;
        let mut established = false;
        loop {
            tokio::select! {
                biased;
                Some(()) = self.requests.recv() => {
                    if let Err(reason) = self.read_now().await {
                        return End::Failed(reason);
                    }
                }
                () = sleep_until(started + ESTABLISHED_AFTER), if !established => {
                    established = true;
                    self.established();
                }
                next = timeout_at(heard + self.silence, stream.next()) => {
                    let event = match next {
                        Err(_) => return End::Silent,
                        Ok(None) => return End::Closed { events, changes, lasted: started.elapsed() },
                        Ok(Some(Err(error))) => return End::Broken(describe(&error)),
                        Ok(Some(Ok(WatchEvent::Error(status)))) => return End::Error(status),
                        Ok(Some(Ok(event))) => event,
                    };
                    heard = Instant::now();
                    events += 1;
                    if !established {
                        established = true;
                        self.established();
                    }
                    match event {
                        WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                            changes += 1;
                            *version = object.meta().resource_version.clone().unwrap_or_default();
                            self.signals.content(self.target.content(Some(&object), Trigger::Event));
                        }
                        WatchEvent::Deleted(object) => {
                            changes += 1;
                            *version = object.meta().resource_version.clone().unwrap_or_default();
                            self.signals.content(self.target.content(None::<&K>, Trigger::Event));
                        }
                        WatchEvent::Bookmark(bookmark) => {
                            *version = bookmark.metadata.resource_version;
                        }
                        WatchEvent::Error(_) => unreachable!("returned above"),
                    }
                }
            }
        }
    }

    /// Decides, after a watch ended, whether to watch on or list again;
    /// failures are reported and paused for here.
    async fn after(&mut self, end: End, quiet: &mut u32) -> Then {
        match end {
            End::Silent => {
                let reason = format!(
                    "the watch connection went silent: nothing from the API server for {} (no event, no bookmark, no end); abandoned it, listing again",
                    seconds(self.silence)
                );
                self.fail(reason).await;
                Then::Relist
            }
            End::Error(status) if asks_for_a_list(&status) => {
                self.relist_for(&status).await;
                Then::Relist
            }
            End::Error(status) => {
                let reason = format!(
                    "the API server ended the watch with an error: {}; listing again",
                    status_text(&status)
                );
                self.fail(reason).await;
                Then::Relist
            }
            End::Closed {
                events: 0, lasted, ..
            } if lasted < ESTABLISHED_AFTER => {
                self.fail(format!(
                    "the API server ended the watch after {} ms with no event",
                    lasted.as_millis()
                ))
                .await;
                Then::Rewatch
            }
            End::Closed { changes: 0, .. } => {
                *quiet += 1;
                if *quiet >= QUIET_WATCHES_BEFORE_A_LIST {
                    Then::Relist
                } else {
                    Then::Rewatch
                }
            }
            End::Closed { .. } => {
                *quiet = 0;
                Then::Rewatch
            }
            End::Broken(reason) => {
                self.fail(format!("the watch connection broke: {reason}"))
                    .await;
                Then::Rewatch
            }
            End::Failed(reason) => {
                self.fail(reason).await;
                Then::Relist
            }
        }
    }

    /// The server asked for a list (`410 Gone`, or a history behind our
    /// version). `410` is the protocol's normal way to say so, not a
    /// failure, unless it repeats before a watch is established; the
    /// other means the server forgot what it had said.
    async fn relist_for(&mut self, status: &Status) {
        if status.code == 410 && !self.relisted_on_demand {
            self.relisted_on_demand = true;
            return;
        }
        let reason = if status.code == 410 {
            format!(
                "the watch's resourceVersion expired again right after a list: {}",
                status_text(status)
            )
        } else {
            format!(
                "the API server's history is behind the version last seen ({}): its storage was probably restored from a backup; listing again and taking the list as the truth",
                status_text(status)
            )
        };
        self.fail(reason).await;
    }

    /// Reads the object now (a GET) and delivers it as a manual reload.
    async fn read_now(&mut self) -> Result<(), String> {
        match timeout(self.silence, self.api.get_opt(&self.target.name)).await {
            Ok(Ok(object)) => {
                self.signals
                    .content(self.target.content(object.as_ref(), Trigger::Manual));
                Ok(())
            }
            Ok(Err(error)) => Err(describe_request("cannot read it now", &error)),
            Err(_) => Err(no_answer("cannot read it now", self.silence)),
        }
    }

    /// A watch is up: the failure streak is over.
    fn established(&mut self) {
        self.failures = 0;
        self.relisted_on_demand = false;
        self.signals.watching();
    }

    /// Reports a failure and pauses for the streak's backoff.
    async fn fail(&mut self, reason: String) {
        self.failures += 1;
        self.signals
            .degraded(format!("{}: {reason}", self.target.path.display()));
        sleep(jittered(self.backoff, self.failures)).await;
    }
}

/// A watch's `timeoutSeconds`: between a half and two thirds of the
/// silence timeout, at random so replicas spread out; a live server ends
/// the watch before the client would give up on it.
fn server_timeout(silence: Duration) -> u32 {
    let silence = silence.as_secs_f64();
    let seconds = silence / 2.0 + silence / 6.0 * random_fraction();
    (seconds as u32).max(1)
}

/// `410 Gone`, or `Too large resource version` (as a `504` or an `ERROR`
/// event): the watch cannot go on from our version; only a list can.
fn asks_for_a_list(status: &Status) -> bool {
    status.code == 410 || is_too_large(status)
}

/// The API server's "Too large resource version": its history is behind
/// the version asked for (client-go's `isTooLargeResourceVersionError`).
fn is_too_large(status: &Status) -> bool {
    let caused = status.details.as_ref().is_some_and(|details| {
        details
            .causes
            .iter()
            .any(|cause| cause.reason == "ResourceVersionTooLarge")
    });
    caused || status.message.contains("Too large resource version")
}

/// A request's failure for an operator: the API server's `Status`, or the
/// transport's error chain. A body that could not be decoded is named by
/// its position only: its text could quote a Secret.
fn describe_request(doing: &str, error: &kube::Error) -> String {
    format!("{doing}: {}", describe(error))
}

fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status_text(status),
        kube::Error::SerdeError(error) => format!(
            "the API server's answer could not be decoded (line {}, column {})",
            error.line(),
            error.column()
        ),
        other => chain(other),
    }
}

/// A `Status` as a clause: its message, then its code and reason where
/// the server gave them.
fn status_text(status: &Status) -> String {
    let message = if status.message.is_empty() {
        "the API server gave no message"
    } else {
        &status.message
    };
    match (status.code, status.reason.as_str()) {
        (0, "") => message.to_owned(),
        (0, reason) => format!("{message} ({reason})"),
        (code, "") => format!("{message} (HTTP {code})"),
        (code, reason) => format!("{message} ({code} {reason})"),
    }
}

fn no_answer(doing: &str, waited: Duration) -> String {
    format!(
        "{doing}: the API server did not answer in {}",
        seconds(waited)
    )
}

fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::{StatusCause, StatusDetails};

    fn status(code: u16, reason: &str, message: &str) -> Status {
        Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Status::default()
        }
    }

    #[test]
    fn a_status_reads_as_a_clause_whatever_it_lacks() {
        assert_eq!(
            status_text(&status(
                500,
                "InternalError",
                "etcdserver: request timed out"
            )),
            "etcdserver: request timed out (500 InternalError)"
        );
        assert_eq!(
            status_text(&status(0, "", "")),
            "the API server gave no message"
        );
        assert_eq!(status_text(&status(503, "", "busy")), "busy (HTTP 503)");
    }

    /// A body the client cannot decode is named by its position only:
    /// serde's own message quotes what it read, and a Secret's body is the
    /// secret.
    #[test]
    fn an_undecodable_answer_is_named_by_its_position_not_its_text() {
        let secret = "hunter2-s3cr3t";
        let error = serde_json::from_str::<k8s_openapi::api::core::v1::Secret>(&format!(
            r#"{{"data": "{secret}"}}"#
        ))
        .unwrap_err();
        assert!(
            error.to_string().contains(secret),
            "serde quotes it: {error}"
        );
        let described = describe(&kube::Error::SerdeError(error));
        assert!(
            !described.contains(secret) && described.contains("(line 1, column "),
            "{described}"
        );
    }

    #[test]
    fn the_server_ends_a_watch_before_the_client_gives_up_on_it() {
        for silence in [2, 45, 300] {
            let silence = Duration::from_secs(silence);
            for _ in 0..100 {
                let bound = Duration::from_secs(server_timeout(silence).into());
                assert!(
                    bound >= Duration::from_secs(1) && bound <= silence * 2 / 3 && bound < silence,
                    "{bound:?} for {silence:?}"
                );
                assert!(
                    silence < Duration::from_secs(3)
                        || bound >= silence / 2 - Duration::from_secs(1)
                );
            }
        }
    }

    #[test]
    fn too_large_is_known_by_its_cause_or_its_message() {
        let mut by_cause = status(504, "Timeout", "Timeout: request did not complete");
        by_cause.details = Some(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: vec![StatusCause {
                reason: "ResourceVersionTooLarge".into(),
                message: "Too large resource version".into(),
                field: String::new(),
            }],
            retry_after_seconds: 1,
        });
        assert!(asks_for_a_list(&by_cause));
        assert!(asks_for_a_list(&status(
            504,
            "Timeout",
            "Too large resource version: 20, current: 5"
        )));
        assert!(asks_for_a_list(&status(410, "Expired", "too old")));
        assert!(!asks_for_a_list(&status(
            504,
            "Timeout",
            "the server is slow"
        )));
    }
}
