//! Watches: the stream of changes one client follows, and how it reacts to
//! the faults the test injects.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::access::Resource;
use crate::selection::Selection;
use crate::status::{status, too_large, too_large_response};
use crate::{Shared, TooLarge};

/// What open watches react to: counters each watch compares with the
/// values it started with (or last acted on).
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    /// The store's revision, bumped by every write (and a restore) to wake
    /// the watches.
    pub revision: u64,
    pub drops: u64,
    pub ends: u64,
    pub bookmarks: u64,
    pub silences: u64,
    pub errors: u64,
    /// The `Status` the last [`crate::ApiServer::error_event`] sends.
    pub error: Option<Arc<Value>>,
}

/// What a client asked to watch.
pub(crate) struct WatchRequest {
    pub resource: Resource,
    pub selection: Selection,
    /// The `resourceVersion` to start after; `None` for "now, with the
    /// current state first".
    pub since: Option<u64>,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
}

/// A chunk of the body, or the error that cuts the connection.
type Chunk = Result<Bytes, io::Error>;

/// Answers a watch: the changes after the asked `resourceVersion` (or
/// synthetic `ADDED` events for what exists), then every change as it is
/// made, until the client goes, a fault, or `timeoutSeconds`.
pub(crate) fn open(shared: &Arc<Shared>, request: WatchRequest) -> Response {
    // Subscribed before the store is read: a fault after this read reaches
    // the watch.
    let mut faults = shared.faults.subscribe();
    let started = faults.borrow_and_update().clone();
    let (sender, receiver) = mpsc::unbounded_channel();
    let store = shared.store();
    if store.end_watches_at_once {
        // The sender dropped: a 200 whose body ends at once.
        return stream_response(receiver);
    }
    let mut errored = false;
    let sent = match request.since {
        Some(version) if version < store.compacted => {
            let message = format!("too old resource version: {version} ({})", store.compacted);
            send_event(&sender, "ERROR", &status(410, "Expired", &message));
            // The sender dropped: the stream ends after the event.
            return stream_response(receiver);
        }
        Some(version) if version > store.revision => match store.too_large {
            TooLarge::Reject504 => return too_large_response(version, store.revision),
            TooLarge::ErrorEvent => {
                send_event(&sender, "ERROR", &too_large(version, store.revision));
                errored = true;
                version
            }
            TooLarge::Hold => version,
        },
        Some(version) => version,
        None => {
            for object in store
                .objects_of(request.resource)
                .filter(|object| request.selection.matches(object))
            {
                send_event(&sender, "ADDED", object);
            }
            store.revision
        }
    };
    drop(store);
    let deadline = request.timeout.map(|timeout| Instant::now() + timeout);
    let bookmarks_seen = started.bookmarks;
    tokio::spawn(
        Watch {
            shared: Arc::clone(shared),
            request,
            deadline,
            sender,
            faults,
            started,
            bookmarks_seen,
            sent,
            errored,
        }
        .run(),
    );
    stream_response(receiver)
}

/// One open watch, on its own task.
struct Watch {
    shared: Arc<Shared>,
    request: WatchRequest,
    deadline: Option<Instant>,
    sender: mpsc::UnboundedSender<Chunk>,
    faults: watch::Receiver<Faults>,
    started: Faults,
    bookmarks_seen: u64,
    /// The highest revision this watch has passed: it sends only changes
    /// after it. Above the store's revision after a restore or a held
    /// future version, which is what makes the watch blind.
    sent: u64,
    /// An `ERROR` event was sent: the watch sends nothing more (the client
    /// must end it), though it still ends on a fault or its timeout.
    errored: bool,
}

impl Watch {
    async fn run(mut self) {
        loop {
            // Marked seen before the store is read: a write after this read
            // wakes the next wait.
            let now = self.faults.borrow_and_update().clone();
            if now.silences != self.started.silences {
                return self.stay_silent().await;
            }
            if !self.errored && !self.send_news(&now) {
                return;
            }
            // After what was asked before: a bookmark then an end arrive in
            // that order.
            if now.drops != self.started.drops {
                let _ = self
                    .sender
                    .send(Err(io::Error::other("connection dropped")));
                return;
            }
            if now.ends != self.started.ends || !self.wait().await {
                return;
            }
        }
    }

    /// Sends the changes, a bookmark and an error asked for since the last
    /// time; `false` once the client is gone.
    fn send_news(&mut self, now: &Faults) -> bool {
        if !self.send_changes() {
            return false;
        }
        if now.bookmarks != self.bookmarks_seen {
            self.bookmarks_seen = now.bookmarks;
            if !self.send_bookmark() {
                return false;
            }
        }
        if now.errors != self.started.errors
            && let Some(error) = &now.error
        {
            self.errored = true;
            return send_event(&self.sender, "ERROR", error);
        }
        true
    }

    /// Every change after `sent` that this watch selects.
    fn send_changes(&mut self) -> bool {
        let store = self.shared.store();
        let after = self.sent;
        for event in store.events.iter().filter(|event| event.revision > after) {
            if event.resource == self.request.resource
                && self.request.selection.matches(&event.object)
                && !send_event(&self.sender, event.kind, &event.object)
            {
                return false;
            }
            self.sent = event.revision;
        }
        self.sent = self.sent.max(store.revision);
        true
    }

    /// A `BOOKMARK` at the revision the watch has reached, if it allowed
    /// bookmarks. A blind watch (ahead of the store) gets none: the API
    /// server never bookmarks a version below what a watch has passed.
    fn send_bookmark(&self) -> bool {
        let blind = self.shared.store().revision < self.sent;
        if !self.request.bookmarks || blind {
            return true;
        }
        let object = json!({
            "kind": self.request.resource.kind(),
            "apiVersion": "v1",
            "metadata": {"resourceVersion": self.sent.to_string()}
        });
        send_event(&self.sender, "BOOKMARK", &object)
    }

    /// Waits for a fault or a write; `false` at the timeout or once the
    /// client is gone.
    async fn wait(&mut self) -> bool {
        let deadline = self.deadline;
        let timeout = async move {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = self.faults.changed() => changed.is_ok(),
            () = timeout => false,
            () = self.sender.closed() => false,
        }
    }

    /// A connection the network lost without telling anyone: nothing more
    /// is sent and nothing ends the stream, not a fault nor the timeout.
    /// The fault receiver is held, so [`crate::ApiServer::open_watches`]
    /// still counts it, until the client closes it or the server stops.
    async fn stay_silent(self) {
        let _silenced = Counted::new(&self.shared.silenced);
        self.sender.closed().await;
    }
}

/// One more in a counter for as long as it lives.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Bumps the bookmark counter every `period` while it is `Some`: the
/// watch cache's periodic bookmarks, on one clock for every watch.
pub(crate) async fn tick_bookmarks(
    shared: Arc<Shared>,
    mut period: watch::Receiver<Option<Duration>>,
) {
    loop {
        // At least a millisecond: a zero period would spin the runtime.
        let every = period
            .borrow_and_update()
            .map(|every| every.max(Duration::from_millis(1)));
        let tick = async move {
            match every {
                Some(every) => tokio::time::sleep(every).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = period.changed() => if changed.is_err() { return },
            () = tick => shared.faults.send_modify(|faults| faults.bookmarks += 1),
        }
    }
}

/// Sends one event as a line; `false` once the client is gone.
fn send_event(sender: &mpsc::UnboundedSender<Chunk>, kind: &str, object: &Value) -> bool {
    // A `Value` always serializes.
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    sender.send(Ok(Bytes::from(line))).is_ok()
}

/// A `200` whose chunked body is what `receiver` gets, ending when every
/// sender is dropped, cut when one sends an error.
fn stream_response(receiver: mpsc::UnboundedReceiver<Chunk>) -> Response {
    let chunks = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
