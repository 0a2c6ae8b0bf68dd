//! An emulated Kubernetes API server for ConfigMaps, for tests where no real
//! one can run.
//!
//! **Emulated, from the documentation**: the endpoints, the JSON and the
//! resource-version rules come from the Kubernetes API documentation
//! ("API Concepts": efficient detection of changes, watch bookmarks,
//! resource versions, `410 Gone`; the RBAC page on `resourceNames` with a
//! `metadata.name` field selector; the `Status` kind), not from the API
//! server's code. It speaks plain HTTP/1.1 on `127.0.0.1:0` and is driven
//! from the test's thread:
//!
//! ```
//! let server = apiserver_emu::ApiServer::start()?;
//! server.apply("default", "app", &[("config.yaml", "message: hi\n")]);
//! let kubeconfig = tempfile::NamedTempFile::new()?;
//! server.write_kubeconfig(kubeconfig.path(), "default")?;
//! // ... a client reads KUBECONFIG=kubeconfig.path() ...
//! server.drop_watches(); // every open watch connection is cut
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What it serves
//!
//! - `GET /api/v1/namespaces/{ns}/configmaps`: a `ConfigMapList` whose
//!   `metadata.resourceVersion` is the store's revision; items carry no
//!   `kind`/`apiVersion`, as in a real list. `fieldSelector` on
//!   `metadata.name` (`=` or `==`) and `metadata.namespace`; any other field
//!   is a `400 BadRequest`, as the API server answers for ConfigMaps.
//! - The same path with `watch=true` (or `1`): a chunked stream of
//!   newline-delimited `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}`.
//!   From `resourceVersion=N`, every change after `N` ("start at exact");
//!   unset or `0`, synthetic `ADDED` events for what exists, then the
//!   changes. A `resourceVersion` older than the compacted history gets an
//!   `ERROR` event whose object is a `Status` with `code: 410`,
//!   `reason: Expired`, `too old resource version: N (M)`, then the stream
//!   ends: the documented way the server says "re-list". With
//!   `allowWatchBookmarks=true`, [`ApiServer::bookmark`] sends a `BOOKMARK`
//!   (a ConfigMap object with only `metadata.resourceVersion`).
//!   `timeoutSeconds` ends the stream cleanly after that time.
//! - `GET /api/v1/namespaces/{ns}/configmaps/{name}`: the object, or a `404`
//!   `Status`.
//! - Every write ([`ApiServer::apply`], [`ApiServer::delete`]) takes the next
//!   revision, like etcd's; an `apply` of identical content writes nothing,
//!   like an update that changes nothing. Each object carries `uid`,
//!   `creationTimestamp`, `resourceVersion` and one `managedFields` entry
//!   whose `time` is the write's wall-clock time in whole seconds (the API
//!   server's `metav1.Time` format).
//! - Authorization ([`Access`]): everything, nothing (`403 Forbidden`
//!   `Status` with the API server's message), or RBAC `resourceNames`: a
//!   list or watch is allowed only with a `metadata.name` field selector
//!   naming an allowed object, as the RBAC documentation requires.
//! - Faults: [`ApiServer::drop_watches`] cuts every open watch connection
//!   mid-stream (no terminating chunk: the client sees a broken body);
//!   [`ApiServer::end_watches`] ends them cleanly (what a server timeout
//!   does); [`ApiServer::compact`] forgets the history, so a watch resumed
//!   from an older version gets the `410`.
//! - [`ApiServer::requests`] logs every request (path, query, status) for
//!   assertions on what the client asked.
//!
//! # What it does not cover
//!
//! TLS and authentication (no token or certificate is checked); API
//! discovery, any resource but ConfigMaps in the core group, writes through
//! the API (`POST`/`PUT`/`PATCH`/`DELETE`: the test writes through
//! [`ApiServer`]); label selectors; pagination (`limit`/`continue` are
//! ignored: every list is one page); `resourceVersionMatch` and the
//! consistency of "any" versus "most recent" reads (every read is the
//! latest); streaming lists (`sendInitialEvents`); a `resourceVersion` newer
//! than the server's; periodic bookmarks (only on demand); the watch cache,
//! priority and fairness (`429`), and the API server's timing and load
//! behaviour. Its latency is a loopback socket's, not a cluster's.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use base64::Engine as _;
use futures::channel::mpsc;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

/// Who may read ConfigMaps, as RBAC would decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every request is allowed.
    All,
    /// Every request is `403 Forbidden`.
    None,
    /// A Role with `resourceNames`: `get` of a named object, and `list` or
    /// `watch` with a `metadata.name` field selector naming one of these.
    ResourceNames(Vec<String>),
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
        let (faults, _) = watch::channel(Faults::default());
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            faults,
        });
        let (stop, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let app = Router::new()
            .route(
                "/api/v1/namespaces/{namespace}/configmaps",
                get(list_or_watch),
            )
            .route(
                "/api/v1/namespaces/{namespace}/configmaps/{name}",
                get(get_one),
            )
            .fallback(not_found)
            .with_state(Arc::clone(&shared));
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
        let data: BTreeMap<String, Value> = data
            .iter()
            .map(|(key, value)| (key.as_ref().to_owned(), json!(value.as_ref())))
            .collect();
        let binary: BTreeMap<String, Value> = binary
            .iter()
            .map(|(key, bytes)| {
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes.as_ref());
                (key.as_ref().to_owned(), json!(encoded))
            })
            .collect();
        let mut store = self.shared.store();
        let key = (namespace.to_owned(), name.to_owned());
        let existing = store.objects.get(&key).cloned();
        if let Some(existing) = &existing
            && existing.get("data").cloned().unwrap_or_else(|| json!({})) == json!(data)
            && existing
                .get("binaryData")
                .cloned()
                .unwrap_or_else(|| json!({}))
                == json!(binary)
        {
            let version = resource_version(existing);
            return (Instant::now(), version);
        }
        store.revision += 1;
        let revision = store.revision;
        let now = rfc3339(SystemTime::now());
        let (uid, created) = match &existing {
            Some(existing) => (
                existing["metadata"]["uid"].clone(),
                existing["metadata"]["creationTimestamp"].clone(),
            ),
            None => (
                json!(format!("00000000-0000-4000-8000-{revision:012x}")),
                json!(now),
            ),
        };
        let fields: serde_json::Map<String, Value> = data
            .keys()
            .map(|key| (format!("f:{key}"), json!({})))
            .collect();
        let mut object = json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": uid,
                "resourceVersion": revision.to_string(),
                "creationTimestamp": created,
                "managedFields": [{
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": now,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": fields}
                }]
            }
        });
        if !data.is_empty() {
            object["data"] = json!(data);
        }
        if !binary.is_empty() {
            object["binaryData"] = json!(binary);
        }
        let kind = if existing.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        store.objects.insert(key, object.clone());
        store.events.push(StoredEvent {
            revision,
            kind,
            object,
        });
        drop(store);
        let committed = Instant::now();
        self.shared
            .faults
            .send_modify(|faults| faults.revision = revision);
        (committed, revision)
    }

    /// Deletes ConfigMap `namespace/name`; `false` if there was none.
    pub fn delete(&self, namespace: &str, name: &str) -> bool {
        let mut store = self.shared.store();
        let Some(mut object) = store
            .objects
            .remove(&(namespace.to_owned(), name.to_owned()))
        else {
            return false;
        };
        store.revision += 1;
        let revision = store.revision;
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        store.events.push(StoredEvent {
            revision,
            kind: "DELETED",
            object,
        });
        drop(store);
        self.shared
            .faults
            .send_modify(|faults| faults.revision = revision);
        true
    }

    /// Who may read from now on. Open watches go on (authorization is
    /// checked per request); [`ApiServer::drop_watches`] makes clients ask
    /// again.
    pub fn set_access(&self, access: Access) {
        self.shared.store().access = access;
    }

    /// Cuts every open watch connection mid-stream.
    pub fn drop_watches(&self) {
        self.shared.faults.send_modify(|faults| faults.drops += 1);
    }

    /// Ends every open watch cleanly, as the server's watch timeout does.
    pub fn end_watches(&self) {
        self.shared.faults.send_modify(|faults| faults.ends += 1);
    }

    /// Sends a `BOOKMARK` at the current revision on every open watch that
    /// allowed bookmarks.
    pub fn bookmark(&self) {
        self.shared
            .faults
            .send_modify(|faults| faults.bookmarks += 1);
    }

    /// Forgets every change up to now: a watch resumed from an older
    /// `resourceVersion` gets `410 Gone` (an `ERROR` event).
    pub fn compact(&self) {
        let mut store = self.shared.store();
        store.compacted = store.revision;
        store.events.clear();
    }

    /// The store's revision: the `resourceVersion` of the last write.
    pub fn revision(&self) -> u64 {
        self.shared.store().revision
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.store().requests.clone()
    }

    /// How many watch streams are open now.
    pub fn open_watches(&self) -> usize {
        self.shared.faults.receiver_count()
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

struct Shared {
    store: Mutex<Store>,
    /// What open watches react to; each watch holds a receiver.
    faults: watch::Sender<Faults>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Counters a watch compares with the values it started with.
#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    revision: u64,
    drops: u64,
    ends: u64,
    bookmarks: u64,
}

struct Store {
    revision: u64,
    objects: BTreeMap<(String, String), Value>,
    /// Every change after `compacted`, oldest first.
    events: Vec<StoredEvent>,
    compacted: u64,
    access: Access,
    requests: Vec<Request>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            // A fresh cluster's revision is never 0: "0" means "any" to a reader.
            revision: 1,
            objects: BTreeMap::new(),
            events: Vec::new(),
            compacted: 1,
            access: Access::All,
            requests: Vec::new(),
        }
    }
}

struct StoredEvent {
    revision: u64,
    kind: &'static str,
    object: Value,
}

/// What a list or watch selects: a namespace and maybe one name.
struct Selection {
    namespace: String,
    name: Option<String>,
}

impl Selection {
    fn matches(&self, object: &Value) -> bool {
        object["metadata"]["namespace"] == json!(self.namespace)
            && self
                .name
                .as_ref()
                .is_none_or(|name| object["metadata"]["name"] == json!(name))
    }
}

type Params = Query<HashMap<String, String>>;

async fn list_or_watch(
    State(shared): State<Arc<Shared>>,
    UrlPath(namespace): UrlPath<String>,
    Query(query): Params,
) -> Response {
    let path = format!("/api/v1/namespaces/{namespace}/configmaps");
    let watching = query
        .get("watch")
        .is_some_and(|value| value == "true" || value == "1");
    let verb = if watching { "watch" } else { "list" };
    let selection = match select(&namespace, &query) {
        Ok(selection) => selection,
        Err(message) => {
            return answer(
                &shared,
                path,
                &query,
                status_response(400, "BadRequest", &message, None),
            );
        }
    };
    let denied = {
        let store = shared.store();
        match &store.access {
            Access::All => false,
            Access::None => true,
            Access::ResourceNames(names) => selection
                .name
                .as_ref()
                .is_none_or(|name| !names.contains(name)),
        }
    };
    if denied {
        let response = forbidden(verb, &namespace, selection.name.as_deref());
        return answer(&shared, path, &query, response);
    }
    let response = if watching {
        watch_stream(&shared, selection, &query)
    } else {
        let store = shared.store();
        let items: Vec<Value> = store
            .objects
            .values()
            .filter(|object| selection.matches(object))
            .map(|object| {
                let mut item = object.clone();
                let fields = item.as_object_mut().expect("an object");
                fields.remove("kind");
                fields.remove("apiVersion");
                item
            })
            .collect();
        let list = json!({
            "kind": "ConfigMapList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": store.revision.to_string()},
            "items": items,
        });
        drop(store);
        json_response(StatusCode::OK, &list)
    };
    answer(&shared, path, &query, response)
}

async fn get_one(
    State(shared): State<Arc<Shared>>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
    Query(query): Params,
) -> Response {
    let path = format!("/api/v1/namespaces/{namespace}/configmaps/{name}");
    let store = shared.store();
    let allowed = match &store.access {
        Access::All => true,
        Access::None => false,
        Access::ResourceNames(names) => names.contains(&name),
    };
    let response = if !allowed {
        forbidden("get", &namespace, Some(&name))
    } else {
        match store.objects.get(&(namespace.clone(), name.clone())) {
            Some(object) => json_response(StatusCode::OK, object),
            None => status_response(
                404,
                "NotFound",
                &format!("configmaps \"{name}\" not found"),
                Some(&name),
            ),
        }
    };
    drop(store);
    answer(&shared, path, &query, response)
}

async fn not_found() -> Response {
    status_response(
        404,
        "NotFound",
        "the server could not find the requested resource",
        None,
    )
}

/// Logs the request with its status, then hands the response back.
fn answer(
    shared: &Shared,
    path: String,
    query: &HashMap<String, String>,
    response: Response,
) -> Response {
    shared.store().requests.push(Request {
        path,
        query: query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        status: response.status().as_u16(),
        at: Instant::now(),
    });
    response
}

/// The namespace and the `metadata.name` the field selector asks for.
fn select(namespace: &str, query: &HashMap<String, String>) -> Result<Selection, String> {
    if query
        .get("labelSelector")
        .is_some_and(|selector| !selector.is_empty())
    {
        return Err("label selectors are not emulated".into());
    }
    let mut selection = Selection {
        namespace: namespace.to_owned(),
        name: None,
    };
    let Some(selector) = query.get("fieldSelector").filter(|s| !s.is_empty()) else {
        return Ok(selection);
    };
    for term in selector.split(',') {
        let (field, value) = term
            .split_once("==")
            .or_else(|| term.split_once('='))
            .ok_or_else(|| format!("invalid field selector: {term:?}"))?;
        match field {
            "metadata.name" => selection.name = Some(value.to_owned()),
            "metadata.namespace" if value == namespace => {}
            // Another namespace than the path's selects nothing.
            "metadata.namespace" => selection.namespace = String::new(),
            _ => return Err(format!("field label not supported: {field}")),
        }
    }
    Ok(selection)
}

/// A watch: the changes after the asked `resourceVersion` (or synthetic
/// `ADDED` events for what exists), then every change as it is made, until
/// the client goes, a fault, or `timeoutSeconds`.
fn watch_stream(
    shared: &Arc<Shared>,
    selection: Selection,
    query: &HashMap<String, String>,
) -> Response {
    let since = query
        .get("resourceVersion")
        .filter(|version| !version.is_empty() && *version != "0")
        .map(|version| version.parse::<u64>());
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|value| value == "true" || value == "1");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|seconds| seconds.parse::<u64>().ok())
        .map(Duration::from_secs);
    let (sender, receiver) = mpsc::unbounded::<Result<Bytes, io::Error>>();
    let mut faults = shared.faults.subscribe();
    let started = *faults.borrow_and_update();
    let store = shared.store();
    let mut sent = match since {
        Some(Ok(version)) if version < store.compacted => {
            let message = format!("too old resource version: {version} ({})", store.compacted);
            send_line(
                &sender,
                &json!({"type": "ERROR", "object": status(410, "Expired", &message, None)}),
            );
            drop(store);
            drop(sender);
            return stream_response(receiver);
        }
        Some(Ok(version)) => version,
        Some(Err(_)) => {
            drop(store);
            return status_response(400, "BadRequest", "invalid resourceVersion", None);
        }
        None => {
            for object in store
                .objects
                .values()
                .filter(|object| selection.matches(object))
            {
                send_line(&sender, &json!({"type": "ADDED", "object": object}));
            }
            store.revision
        }
    };
    drop(store);
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let deadline = timeout.map(|timeout| tokio::time::Instant::now() + timeout);
        let mut bookmarks_sent = started.bookmarks;
        loop {
            // Marked seen before the store is read: a write after this read
            // wakes the next wait.
            let now = *faults.borrow_and_update();
            {
                let store = shared.store();
                let after = sent;
                for event in store.events.iter().filter(|event| event.revision > after) {
                    if selection.matches(&event.object)
                        && !send_line(
                            &sender,
                            &json!({"type": event.kind, "object": event.object}),
                        )
                    {
                        return;
                    }
                    sent = event.revision;
                }
                sent = sent.max(store.revision);
            }
            if bookmarks && now.bookmarks != bookmarks_sent {
                bookmarks_sent = now.bookmarks;
                let bookmark = json!({"type": "BOOKMARK", "object": {
                    "kind": "ConfigMap", "apiVersion": "v1",
                    "metadata": {"resourceVersion": sent.to_string()}
                }});
                if !send_line(&sender, &bookmark) {
                    return;
                }
            }
            // After what was asked before: a bookmark then an end arrive in
            // that order.
            if now.drops != started.drops {
                let _ = sender.unbounded_send(Err(io::Error::other("connection dropped")));
                return;
            }
            if now.ends != started.ends {
                return;
            }
            let changed = faults.changed();
            let closed = sender.is_closed();
            if closed {
                return;
            }
            match deadline {
                Some(deadline) => tokio::select! {
                    result = changed => if result.is_err() { return },
                    () = tokio::time::sleep_until(deadline) => return,
                },
                None => {
                    if changed.await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    stream_response(receiver)
}

/// Sends one event as a line; `false` once the client is gone.
fn send_line(sender: &mpsc::UnboundedSender<Result<Bytes, io::Error>>, value: &Value) -> bool {
    let mut line = serde_json::to_vec(value).expect("JSON");
    line.push(b'\n');
    sender.unbounded_send(Ok(Bytes::from(line))).is_ok()
}

fn stream_response(receiver: mpsc::UnboundedReceiver<Result<Bytes, io::Error>>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(receiver))
        .expect("a valid response")
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(value).expect("JSON"),
    )
        .into_response()
}

/// A `Status` object (`kind: Status`, `status: Failure`).
fn status(code: u16, reason: &str, message: &str, name: Option<&str>) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(name) = name {
        status["details"] = json!({"name": name, "kind": "configmaps"});
    }
    status
}

fn status_response(code: u16, reason: &str, message: &str, name: Option<&str>) -> Response {
    json_response(
        StatusCode::from_u16(code).expect("a valid code"),
        &status(code, reason, message, name),
    )
}

/// The API server's RBAC denial, word for word in shape.
fn forbidden(verb: &str, namespace: &str, name: Option<&str>) -> Response {
    let subject = match name {
        Some(name) => format!("configmaps \"{name}\" is forbidden"),
        None => "configmaps is forbidden".to_owned(),
    };
    let message = format!(
        "{subject}: User \"system:serviceaccount:{namespace}:default\" cannot {verb} resource \"configmaps\" in API group \"\" in the namespace \"{namespace}\""
    );
    status_response(403, "Forbidden", &message, name)
}

fn resource_version(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|version| version.parse().ok())
        .unwrap_or_default()
}

/// `metav1.Time`: RFC 3339 in whole seconds, UTC.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
