//! The HTTP endpoints: list, watch and get of each resource, each request
//! authorized and logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use crate::access::Resource;
use crate::selection::Selection;
use crate::status::{
    bad_request, forbidden, json_response, no_such_path, not_found, too_large_response,
};
use crate::store::Key;
use crate::watch::{self, WatchRequest};
use crate::{Request, Shared};

type Params = Query<HashMap<String, String>>;

/// `/api/v1/namespaces/{namespace}/{plural}` and `.../{plural}/{name}` for
/// every resource; anything else is the API server's `404`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for resource in Resource::ALL {
        let plural = resource.plural();
        router = router
            .route(
                &format!("/api/v1/namespaces/{{namespace}}/{plural}"),
                get(
                    move |State(shared): State<Arc<Shared>>,
                          UrlPath(namespace): UrlPath<String>,
                          Query(query): Params| async move {
                        let path = format!("/api/v1/namespaces/{namespace}/{plural}");
                        let response = list_or_watch(&shared, resource, &namespace, &query);
                        log(&shared, path, &query, response)
                    },
                ),
            )
            .route(
                &format!("/api/v1/namespaces/{{namespace}}/{plural}/{{name}}"),
                get(
                    move |State(shared): State<Arc<Shared>>,
                          UrlPath((namespace, name)): UrlPath<(String, String)>,
                          Query(query): Params| async move {
                        let path = format!("/api/v1/namespaces/{namespace}/{plural}/{name}");
                        let response = get_one(&shared, resource, &namespace, &name);
                        log(&shared, path, &query, response)
                    },
                ),
            );
    }
    router.fallback(no_such_path).with_state(shared)
}

fn list_or_watch(
    shared: &Arc<Shared>,
    resource: Resource,
    namespace: &str,
    query: &HashMap<String, String>,
) -> Response {
    let watching = is_true(query.get("watch"));
    let verb = if watching { "watch" } else { "list" };
    let selection = match Selection::parse(resource, namespace, query) {
        Ok(selection) => selection,
        Err(message) => return bad_request(&message),
    };
    if !shared.store().access.allows(resource, selection.name()) {
        return forbidden(verb, resource, namespace, selection.name());
    }
    let Ok(since) = asked_version(query) else {
        return bad_request("invalid resourceVersion");
    };
    if !watching {
        return list(shared, resource, &selection, since);
    }
    let request = WatchRequest {
        resource,
        selection,
        since,
        bookmarks: is_true(query.get("allowWatchBookmarks")),
        timeout: query
            .get("timeoutSeconds")
            .and_then(|seconds| seconds.parse().ok())
            .map(Duration::from_secs),
    };
    watch::open(shared, request)
}

/// A list from the latest state, whose `metadata.resourceVersion` is the
/// store's revision; items carry no `kind`/`apiVersion`, as in a real list.
/// A version the store has not reached is the `504` "Too large resource
/// version".
fn list(
    shared: &Shared,
    resource: Resource,
    selection: &Selection,
    since: Option<u64>,
) -> Response {
    let store = shared.store();
    if let Some(asked) = since
        && asked > store.revision
    {
        return too_large_response(asked, store.revision);
    }
    let items: Vec<_> = store
        .objects_of(resource)
        .filter(|object| selection.matches(object))
        .map(|object| {
            let mut item = object.clone();
            if let Some(fields) = item.as_object_mut() {
                fields.remove("kind");
                fields.remove("apiVersion");
            }
            item
        })
        .collect();
    let list = json!({
        "kind": resource.list_kind(),
        "apiVersion": "v1",
        "metadata": {"resourceVersion": store.revision.to_string()},
        "items": items,
    });
    json_response(StatusCode::OK, &list)
}

fn get_one(shared: &Shared, resource: Resource, namespace: &str, name: &str) -> Response {
    let store = shared.store();
    if !store.access.allows(resource, Some(name)) {
        return forbidden("get", resource, namespace, Some(name));
    }
    match store.objects.get(&Key::new(resource, namespace, name)) {
        Some(object) => json_response(StatusCode::OK, object),
        None => not_found(resource, name),
    }
}

/// The `resourceVersion` asked for: `None` for unset, `""` or `"0"` (any
/// version, the latest here); an error if it is not a number.
fn asked_version(query: &HashMap<String, String>) -> Result<Option<u64>, std::num::ParseIntError> {
    query
        .get("resourceVersion")
        .filter(|version| !version.is_empty() && *version != "0")
        .map(|version| version.parse())
        .transpose()
}

fn is_true(value: Option<&String>) -> bool {
    value.is_some_and(|value| value == "true" || value == "1")
}

/// Logs the request with its status, then hands the response back.
fn log(
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
