//! The objects, the revision and the history of changes: what etcd keeps
//! for the API server, one revision counter and one history for every
//! resource.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::access::{Access, Resource};
use crate::{Request, TooLarge};

/// Where an object lives: etcd's key, `/registry/{resource}/{ns}/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub resource: Resource,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(resource: Resource, namespace: &str, name: &str) -> Self {
        Self {
            resource,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// One change, as a watch reports it.
pub(crate) struct StoredEvent {
    pub revision: u64,
    pub resource: Resource,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub object: Value,
}

/// Every object and the revision at one moment, as an etcd backup holds
/// them; [`crate::ApiServer::restore`] brings them back.
#[derive(Debug, Clone)]
pub struct Snapshot {
    objects: BTreeMap<Key, Value>,
    revision: u64,
}

/// What a write did.
pub(crate) enum Write {
    /// The content was already there: nothing written, the object's
    /// version kept.
    Unchanged(u64),
    /// Written at this new revision.
    Committed(u64),
}

pub(crate) struct Store {
    pub revision: u64,
    pub objects: BTreeMap<Key, Value>,
    /// Every change after `compacted`, oldest first.
    pub events: Vec<StoredEvent>,
    pub compacted: u64,
    pub access: Access,
    pub requests: Vec<Request>,
    pub too_large: TooLarge,
    pub end_watches_at_once: bool,
    /// How many restores so far: part of every new `uid`, so an object
    /// created after a restore never reuses the `uid` of one created at the
    /// same revision before it.
    restores: u64,
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
            too_large: TooLarge::default(),
            end_watches_at_once: false,
            restores: 0,
        }
    }
}

impl Store {
    /// Creates or updates the object at `key` with `content` (its fields
    /// but `kind`, `apiVersion` and `metadata`); `managed` is its
    /// `managedFields` entry's `fieldsV1`. Identical content writes
    /// nothing, like an update that changes nothing.
    pub fn put(&mut self, key: Key, content: Map<String, Value>, managed: Value) -> Write {
        let existing = self.objects.get(&key);
        if let Some(existing) = existing
            && content_of(existing) == content
        {
            return Write::Unchanged(resource_version(existing));
        }
        let revision = self.revision + 1;
        let now = json!(rfc3339(SystemTime::now()));
        let (uid, created, kind) = match existing {
            Some(existing) => (
                existing["metadata"]["uid"].clone(),
                existing["metadata"]["creationTimestamp"].clone(),
                "MODIFIED",
            ),
            None => (self.new_uid(revision), now.clone(), "ADDED"),
        };
        let mut object = json!({
            "kind": key.resource.kind(),
            "apiVersion": "v1",
            "metadata": {
                "name": key.name,
                "namespace": key.namespace,
                "uid": uid,
                "resourceVersion": revision.to_string(),
                "creationTimestamp": created,
                "managedFields": [{
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": now,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": managed
                }]
            }
        });
        if let Some(fields) = object.as_object_mut() {
            fields.extend(content);
        }
        self.record(key, kind, object.clone());
        Write::Committed(revision)
    }

    /// Deletes the object at `key`; its new revision, or `None` if there
    /// was none.
    pub fn remove(&mut self, key: &Key) -> Option<u64> {
        let mut object = self.objects.remove(key)?;
        let revision = self.revision + 1;
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        self.record(key.clone(), "DELETED", object);
        Some(revision)
    }

    /// Takes the next revision for one change and keeps it in the history.
    fn record(&mut self, key: Key, kind: &'static str, object: Value) {
        self.revision += 1;
        if kind != "DELETED" {
            self.objects.insert(key.clone(), object.clone());
        }
        self.events.push(StoredEvent {
            revision: self.revision,
            resource: key.resource,
            kind,
            object,
        });
    }

    /// Forgets every change up to now.
    pub fn compact(&mut self) {
        self.compacted = self.revision;
        self.events.clear();
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            objects: self.objects.clone(),
            revision: self.revision,
        }
    }

    /// Back to `snapshot`, as etcd restored from a backup: its objects and
    /// revision, and no history before it.
    pub fn restore(&mut self, snapshot: &Snapshot) {
        self.objects = snapshot.objects.clone();
        self.revision = snapshot.revision;
        self.restores += 1;
        self.compact();
    }

    /// The objects of `resource`, in key order.
    pub fn objects_of(&self, resource: Resource) -> impl Iterator<Item = &Value> {
        self.objects
            .iter()
            .filter(move |(key, _)| key.resource == resource)
            .map(|(_, object)| object)
    }

    /// A version-4-shaped `uid` unique to this creation.
    fn new_uid(&self, revision: u64) -> Value {
        let variant = 0x8000 + self.restores % 0x4000;
        json!(format!("00000000-0000-4000-{variant:04x}-{revision:012x}"))
    }
}

/// An object's fields but `kind`, `apiVersion` and `metadata`.
fn content_of(object: &Value) -> Map<String, Value> {
    let mut content = object.as_object().cloned().unwrap_or_default();
    for field in ["kind", "apiVersion", "metadata"] {
        content.remove(field);
    }
    content
}

pub(crate) fn resource_version(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|version| version.parse().ok())
        .unwrap_or_default()
}

/// `metav1.Time`: RFC 3339 in whole seconds, UTC.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
