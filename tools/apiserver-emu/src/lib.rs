//! An emulated Kubernetes API server for ConfigMaps and Secrets, for tests
//! where no real one can run.
//!
//! **Emulated, from the documentation**: the endpoints, the JSON and the
//! resource-version rules come from the Kubernetes API documentation
//! ("API Concepts": efficient detection of changes, watch bookmarks,
//! resource versions, `410 Gone`, unavailable resource versions; the RBAC
//! page on `resourceNames` with a `metadata.name` field selector; the
//! `Status` kind; the Secret reference, whose `data` is base64; the etcd
//! operations page on restoring from a backup), not from the API server's
//! code. It speaks plain HTTP/1.1 on `127.0.0.1:0` and is driven from the
//! test's thread:
//!
//! ```
//! let server = apiserver_emu::ApiServer::start()?;
//! server.apply("default", "app", &[("config.yaml", "message: hi\n")]);
//! server.apply_secret("default", "app", &[("token", b"s3cret")]);
//! let kubeconfig = tempfile::NamedTempFile::new()?;
//! server.write_kubeconfig(kubeconfig.path(), "default")?;
//! // ... a client reads KUBECONFIG=kubeconfig.path() ...
//! server.drop_watches(); // every open watch connection is cut
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What it serves
//!
//! For each of `configmaps` and `secrets` ([`Resource`]), in the core group:
//!
//! - `GET /api/v1/namespaces/{ns}/{configmaps|secrets}`: a `ConfigMapList`
//!   or `SecretList` from the latest state, whose `metadata.resourceVersion`
//!   is the store's revision; items carry no `kind`/`apiVersion`, as in a
//!   real list. `fieldSelector` on `metadata.name` (`=` or `==`) and
//!   `metadata.namespace`, and on `type` for Secrets; any other field is a
//!   `400 BadRequest`, as the API server answers. A `resourceVersion` unset,
//!   `""`, `"0"` or not above the revision is served from the latest state;
//!   one above it is the API server's `504` "Too large resource version"
//!   `Status` (reason `Timeout`, cause `ResourceVersionTooLarge`,
//!   `retryAfterSeconds: 1` and a `Retry-After: 1` header); one that is not
//!   a number is a `400`.
//! - The same path with `watch=true` (or `1`): a chunked stream of
//!   newline-delimited `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}`
//!   whose objects are of that resource's kind (`ConfigMap` or `Secret`).
//!   From `resourceVersion=N`, every change after `N` ("start at exact");
//!   unset or `0`, synthetic `ADDED` events for what exists, then the
//!   changes. A `resourceVersion` older than the compacted history gets an
//!   `ERROR` event whose object is a `Status` with `code: 410`,
//!   `reason: Expired`, `too old resource version: N (M)`, then the stream
//!   ends: the documented way the server says "re-list". One above the
//!   store's revision is answered as [`ApiServer::set_too_large`] says
//!   (by default the list's `504`). With `allowWatchBookmarks=true`,
//!   [`ApiServer::bookmark`] and [`ApiServer::bookmark_every`] send a
//!   `BOOKMARK` (an object of the watched kind with only
//!   `metadata.resourceVersion`). `timeoutSeconds` ends the stream cleanly
//!   after that time.
//! - `GET /api/v1/namespaces/{ns}/{configmaps|secrets}/{name}`: the object,
//!   or a `404` `Status` (`configmaps "NAME" not found`,
//!   `secrets "NAME" not found`).
//! - One store for both resources, like etcd: objects keyed by resource,
//!   namespace and name, one revision counter and one history. Every write
//!   ([`ApiServer::apply`], [`ApiServer::apply_secret`],
//!   [`ApiServer::delete`], [`ApiServer::delete_secret`]) takes the next
//!   revision; a write of identical content writes nothing, like an update
//!   that changes nothing. Each object carries `uid`, `creationTimestamp`,
//!   `resourceVersion` and one `managedFields` entry whose `time` is the
//!   write's wall-clock time in whole seconds (the API server's
//!   `metav1.Time` format). A Secret is `type: Opaque` and its `data`
//!   values are base64, as the API returns them.
//! - Authorization ([`Access`]): everything, nothing (`403 Forbidden`
//!   `Status` with the API server's message), or RBAC `resourceNames` on
//!   one resource: a `get` of a named object, and a list or watch only with
//!   a `metadata.name` field selector naming an allowed object, as the RBAC
//!   documentation requires. Checked per request, `get` included.
//! - Faults, each standing for something a real cluster or network does:
//!   - [`ApiServer::drop_watches`]: every open watch connection is cut
//!     mid-stream (no terminating chunk: the client sees a broken body), as
//!     when the API server or a proxy dies.
//!   - [`ApiServer::end_watches`]: they end cleanly, as the server's watch
//!     timeout does.
//!   - [`ApiServer::end_watches_at_once`]: every new watch is a `200` whose
//!     body ends at once, as a server shutting down answers.
//!   - [`ApiServer::silence_watches`]: every open watch goes silent for
//!     good, neither sending nor ending (not even at its `timeoutSeconds`),
//!     as when a NAT or conntrack entry is dropped or the network
//!     partitions: no FIN, no RST, nothing.
//!   - [`ApiServer::error_event`]: every open watch gets one `ERROR` event
//!     with the `Status` given (as an `etcdserver: request timed out`
//!     `500`), and sends nothing more; the stream is left open for the
//!     client to end.
//!   - [`ApiServer::compact`]: the history is forgotten, so a watch resumed
//!     from an older version gets the `410`.
//!   - [`ApiServer::snapshot`] and [`ApiServer::restore`]: etcd restored
//!     from a backup. Objects and the revision go back, so versions clients
//!     hold are above the store's: a new watch or list from them gets the
//!     "Too large resource version" answer, and a watch open at the restore
//!     goes blind (it sends nothing until the store passes what it had
//!     sent, as an etcd watch from a future revision).
//! - [`ApiServer::requests`] logs every request (path, query, status) for
//!   assertions on what the client asked.
//!
//! # What it does not cover
//!
//! TLS and authentication (no token or certificate is checked); API
//! discovery, any resource but ConfigMaps and Secrets in the core group,
//! Secret types but `Opaque` and Secrets' `stringData` (a write-only field);
//! writes through the API (`POST`/`PUT`/`PATCH`/`DELETE`: the test writes
//! through [`ApiServer`]); label selectors and field selector operators but
//! `=`/`==`; pagination (`limit`/`continue` are ignored: every list is one
//! page); `resourceVersionMatch` and the consistency of "any" versus "most
//! recent" reads (every read is the latest); streaming lists
//! (`sendInitialEvents`); the brief wait the API server allows a too-large
//! `resourceVersion` before its `504` (answered at once here); bookmarks
//! carry no `k8s.io/initial-events-end` annotation and periodic ones tick on
//! one clock for every watch, not per watch nor before its timeout; the
//! watch cache, priority and fairness (`429`), and the API server's timing
//! and load behaviour. Its latency is a loopback socket's, not a cluster's.

#![warn(missing_docs)]

mod access;
mod routes;
mod selection;
mod status;
mod store;
mod watch;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio::sync::{oneshot, watch as channel};

pub use access::{Access, Resource};
pub use store::Snapshot;

use store::{Key, Store, Write};
use watch::Faults;

/// How a watch from a `resourceVersion` above the store's revision is
/// answered (a client that saw versions a restored etcd has not reached
/// yet, or one talking to a lagging API server). The documentation allows
/// a server to refuse with a `504` or to wait for the version; the API
/// server's watch cache refuses inside the stream, and a watch served
/// straight from etcd waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TooLarge {
    /// `504 Gateway Timeout` with the "Too large resource version" `Status`,
    /// before any stream: what a list gets too.
    #[default]
    Reject504,
    /// `200`, then one `ERROR` event carrying that same `Status`; the stream
    /// sends nothing more and stays open for the client to end.
    ErrorEvent,
    /// The watch is accepted and sends only changes after the asked
    /// version: blind until the store passes it, as an etcd watch from a
    /// future revision.
    Hold,
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The URL path.
    pub path: String,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
    /// The HTTP status answered.
    pub status: u16,
    /// When it was answered.
    pub at: Instant,
}

impl Request {
    /// Whether this was a watch (`watch=true` or `1`).
    pub fn is_watch(&self) -> bool {
        self.query
            .get("watch")
            .is_some_and(|value| value == "true" || value == "1")
    }

    /// The `resourceVersion` asked for, if any.
    pub fn resource_version(&self) -> Option<&str> {
        self.query.get("resourceVersion").map(String::as_str)
    }
}

/// A running emulated API server; dropping it stops it and cuts every
/// connection.
pub struct ApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts a server on a free loopback port, on a thread of its own.
    pub fn start() -> io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (faults, _) = channel::channel(Faults::default());
        let (bookmark_period, period) = channel::channel(None);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            faults,
            bookmark_period,
            silenced: AtomicUsize::new(0),
        });
        let (stop, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let app = routes::router(Arc::clone(&shared));
        let ticker = watch::tick_bookmarks(Arc::clone(&shared), period);
        let thread = std::thread::Builder::new()
            .name("apiserver-emu".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    // As the API server (Go's net sets TCP_NODELAY on every
                    // connection): no event waits for a delayed ACK.
                    let listener = listener.tap_io(|stream| {
                        let _ = stream.set_nodelay(true);
                    });
                    tokio::spawn(ticker);
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime aborts every connection task.
            })?;
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig whose current context reaches this server (plain
    /// HTTP, no credentials) with `namespace` as the context's namespace.
    pub fn write_kubeconfig(&self, path: &Path, namespace: &str) -> io::Result<()> {
        std::fs::write(
            path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: emulated\n  cluster:\n    server: {}\n\
                 contexts:\n- name: emulated\n  context:\n    cluster: emulated\n    user: emulated\n    namespace: {namespace}\n\
                 current-context: emulated\nusers:\n- name: emulated\n  user: {{}}\n",
                self.url()
            ),
        )
    }

    /// Creates or updates ConfigMap `namespace/name` with these `data`
    /// keys (text); returns the instant the write was committed (what a
    /// watch's latency counts from) and its `resourceVersion`. Identical
    /// content writes nothing and keeps the version.
    pub fn apply<K: AsRef<str>, V: AsRef<str>>(
        &self,
        namespace: &str,
        name: &str,
        data: &[(K, V)],
    ) -> (Instant, u64) {
        self.apply_with_binary(namespace, name, data, &[] as &[(&str, &[u8])])
    }

    /// [`ApiServer::apply`] with `binaryData` keys as well.
    pub fn apply_with_binary<K, V, L, B>(
        &self,
        namespace: &str,
        name: &str,
        data: &[(K, V)],
        binary: &[(L, B)],
    ) -> (Instant, u64)
    where
        K: AsRef<str>,
        V: AsRef<str>,
        L: AsRef<str>,
        B: AsRef<[u8]>,
    {
        let data: Map<String, Value> = data
            .iter()
            .map(|(key, value)| (key.as_ref().to_owned(), json!(value.as_ref())))
            .collect();
        let binary = base64_values(binary);
        let mut managed = json!({"f:data": managed_keys(&data)});
        if !binary.is_empty() {
            managed["f:binaryData"] = managed_keys(&binary);
        }
        // Empty maps are omitted, as the API server's JSON omits them.
        let mut content = Map::new();
        if !data.is_empty() {
            content.insert("data".into(), Value::Object(data));
        }
        if !binary.is_empty() {
            content.insert("binaryData".into(), Value::Object(binary));
        }
        self.write(
            Key::new(Resource::ConfigMaps, namespace, name),
            content,
            managed,
        )
    }

    /// Creates or updates Secret `namespace/name`, `type: Opaque`, with
    /// these `data` keys, stored base64-encoded as the API returns a
    /// Secret's `data`; returns the instant the write was committed and its
    /// `resourceVersion`, from the same revision counter as ConfigMaps.
    /// Identical content writes nothing and keeps the version.
    pub fn apply_secret<K: AsRef<str>, B: AsRef<[u8]>>(
        &self,
        namespace: &str,
        name: &str,
        data: &[(K, B)],
    ) -> (Instant, u64) {
        let data = base64_values(data);
        let managed = json!({"f:data": managed_keys(&data), "f:type": {}});
        let mut content = Map::new();
        if !data.is_empty() {
            content.insert("data".into(), Value::Object(data));
        }
        content.insert("type".into(), json!("Opaque"));
        self.write(
            Key::new(Resource::Secrets, namespace, name),
            content,
            managed,
        )
    }

    /// Deletes ConfigMap `namespace/name`; `false` if there was none.
    pub fn delete(&self, namespace: &str, name: &str) -> bool {
        self.remove(&Key::new(Resource::ConfigMaps, namespace, name))
    }

    /// Deletes Secret `namespace/name`; `false` if there was none.
    pub fn delete_secret(&self, namespace: &str, name: &str) -> bool {
        self.remove(&Key::new(Resource::Secrets, namespace, name))
    }

    /// Who may read from now on. Open watches go on (authorization is
    /// checked per request); [`ApiServer::drop_watches`] makes clients ask
    /// again.
    pub fn set_access(&self, access: Access) {
        self.shared.store().access = access;
    }

    /// Cuts every open watch connection mid-stream, as when the API server
    /// or a proxy in between dies. Silenced watches are not cut: the
    /// network that lost them would not carry the cut either.
    pub fn drop_watches(&self) {
        self.shared.faults.send_modify(|faults| faults.drops += 1);
    }

    /// Ends every open watch cleanly, as the server's watch timeout does
    /// (silenced ones excepted).
    pub fn end_watches(&self) {
        self.shared.faults.send_modify(|faults| faults.ends += 1);
    }

    /// While `on`, every new watch (one that passes authorization) is
    /// answered `200` and its body ends at once with no event, as an API
    /// server shutting down or a proxy recycling connections answers; it is
    /// logged in [`ApiServer::requests`] like any other. Watches already
    /// open go on.
    pub fn end_watches_at_once(&self, on: bool) {
        self.shared.store().end_watches_at_once = on;
    }

    /// Every watch stream open now goes silent for good, as when a NAT or
    /// conntrack entry is dropped or the network partitions: no event, no
    /// bookmark, no error, no end (not at its `timeoutSeconds`, not on
    /// [`ApiServer::drop_watches`] or [`ApiServer::end_watches`]), no FIN
    /// and no RST. The socket stays open until the client closes it or the
    /// server is dropped. Watches opened afterwards behave normally.
    /// Silenced streams still count in [`ApiServer::open_watches`]; see
    /// [`ApiServer::silenced_watches`].
    pub fn silence_watches(&self) {
        self.shared
            .faults
            .send_modify(|faults| faults.silences += 1);
    }

    /// How many of the [`ApiServer::open_watches`] are silenced.
    pub fn silenced_watches(&self) -> usize {
        self.shared.silenced.load(Ordering::SeqCst)
    }

    /// Sends every open (not silenced) watch one
    /// `{"type":"ERROR","object":<Status>}` event with this `code`, `reason`
    /// and `message`, as the API server does when its watch fails inside
    /// the stream (e.g. `500`, `InternalError`,
    /// `etcdserver: request timed out`). The watch then sends nothing more
    /// but is not closed: the client must take the `ERROR` as the end of
    /// that watch (it still ends on a fault or its `timeoutSeconds`).
    pub fn error_event(&self, code: u16, reason: &str, message: &str) {
        let error = Arc::new(status::status(code, reason, message));
        self.shared.faults.send_modify(|faults| {
            faults.errors += 1;
            faults.error = Some(error);
        });
    }

    /// Sends a `BOOKMARK` at the current revision on every open watch that
    /// allowed bookmarks (not on a silenced or blind one).
    pub fn bookmark(&self) {
        self.shared
            .faults
            .send_modify(|faults| faults.bookmarks += 1);
    }

    /// While `Some(period)`, sends a `BOOKMARK` at the current revision
    /// every `period` on every open watch that allowed bookmarks, as the
    /// API server's watch cache does about once a minute; `None` stops.
    /// One clock ticks for every watch, so a watch's first bookmark comes
    /// at most one period after it opens. A zero period is taken as one
    /// millisecond.
    pub fn bookmark_every(&self, every: Option<Duration>) {
        self.shared.bookmark_period.send_replace(every);
    }

    /// Forgets every change up to now: a watch resumed from an older
    /// `resourceVersion` gets `410 Gone` (an `ERROR` event).
    pub fn compact(&self) {
        self.shared.store().compact();
    }

    /// Every object and the revision now, as an etcd backup holds them,
    /// for [`ApiServer::restore`].
    pub fn snapshot(&self) -> Snapshot {
        self.shared.store().snapshot()
    }

    /// Restores `snapshot`, as etcd restored from a backup: the objects and
    /// the revision go back to the snapshot's, so `resourceVersion`s are
    /// lower than ones clients have seen; the history is forgotten (the
    /// compacted revision is the snapshot's, so a watch from below it gets
    /// `410 Gone`); later writes continue from the snapshot's revision + 1.
    /// A new watch or list from a version above the revision gets the
    /// [`TooLarge`] answer. Watches open now stay open but, having passed
    /// versions above the new revisions, send nothing (no bookmark either)
    /// until the store passes the version they had reached: a held watch
    /// goes blind, and a client must notice by itself.
    pub fn restore(&self, snapshot: &Snapshot) {
        let mut store = self.shared.store();
        store.restore(snapshot);
        let revision = store.revision;
        drop(store);
        self.notify(revision);
    }

    /// How a new watch from a `resourceVersion` above the store's revision
    /// is answered from now on ([`TooLarge::Reject504`] until set). A list
    /// is always answered `504`.
    pub fn set_too_large(&self, answer: TooLarge) {
        self.shared.store().too_large = answer;
    }

    /// The store's revision: the `resourceVersion` of the last write.
    pub fn revision(&self) -> u64 {
        self.shared.store().revision
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.store().requests.clone()
    }

    /// How many watch streams are open now, silenced ones included.
    pub fn open_watches(&self) -> usize {
        self.shared.faults.receiver_count()
    }

    /// Writes `content` at `key` and wakes the watches if it changed.
    fn write(&self, key: Key, content: Map<String, Value>, managed: Value) -> (Instant, u64) {
        let mut store = self.shared.store();
        match store.put(key, content, managed) {
            Write::Unchanged(version) => (Instant::now(), version),
            Write::Committed(revision) => {
                drop(store);
                let committed = Instant::now();
                self.notify(revision);
                (committed, revision)
            }
        }
    }

    fn remove(&self, key: &Key) -> bool {
        let removed = self.shared.store().remove(key);
        if let Some(revision) = removed {
            self.notify(revision);
        }
        removed.is_some()
    }

    /// Wakes every watch to read the store at `revision`.
    fn notify(&self, revision: u64) {
        self.shared
            .faults
            .send_modify(|faults| faults.revision = revision);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the test's thread and the server's tasks share.
struct Shared {
    store: Mutex<Store>,
    /// What open watches react to; each watch holds a receiver.
    faults: channel::Sender<Faults>,
    /// The periodic bookmarks' period, read by the one ticker task.
    bookmark_period: channel::Sender<Option<Duration>>,
    /// How many watches are silenced and still open.
    silenced: AtomicUsize,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `key: base64(bytes)` for each pair.
fn base64_values<K: AsRef<str>, B: AsRef<[u8]>>(pairs: &[(K, B)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(key, bytes)| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes.as_ref());
            (key.as_ref().to_owned(), json!(encoded))
        })
        .collect()
}

/// `{"f:KEY": {}}` for each key: a `managedFields` entry's `fieldsV1`.
fn managed_keys(map: &Map<String, Value>) -> Value {
    map.keys()
        .map(|key| (format!("f:{key}"), json!({})))
        .collect::<Map<_, _>>()
        .into()
}
