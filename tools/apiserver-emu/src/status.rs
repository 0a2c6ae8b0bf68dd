//! The `Status` objects the API server answers failures with, and the
//! plain JSON responses around them.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::access::Resource;

/// A `Status` object (`kind: Status`, `status: Failure`).
pub(crate) fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// A `Status` about one resource, maybe one object: `details` names them,
/// as the API server's `NotFound` and `Forbidden` do (`group` is omitted:
/// the core group is `""`).
fn status_about(
    code: u16,
    reason: &str,
    message: &str,
    resource: Resource,
    name: Option<&str>,
) -> Value {
    let mut status = status(code, reason, message);
    status["details"] = json!({"kind": resource.plural()});
    if let Some(name) = name {
        status["details"]["name"] = json!(name);
    }
    status
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        // A `Value` always serializes.
        serde_json::to_vec(value).unwrap_or_default(),
    )
        .into_response()
}

pub(crate) fn bad_request(message: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &status(400, "BadRequest", message))
}

/// The answer to a path the server does not serve.
pub(crate) async fn no_such_path() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    )
}

pub(crate) fn not_found(resource: Resource, name: &str) -> Response {
    let message = format!("{} \"{name}\" not found", resource.plural());
    json_response(
        StatusCode::NOT_FOUND,
        &status_about(404, "NotFound", &message, resource, Some(name)),
    )
}

/// The API server's RBAC denial, word for word in shape; the subject is
/// the namespace's `default` service account, the one a pod runs as.
pub(crate) fn forbidden(
    verb: &str,
    resource: Resource,
    namespace: &str,
    name: Option<&str>,
) -> Response {
    let plural = resource.plural();
    let subject = match name {
        Some(name) => format!("{plural} \"{name}\" is forbidden"),
        None => format!("{plural} is forbidden"),
    };
    let message = format!(
        "{subject}: User \"system:serviceaccount:{namespace}:default\" cannot {verb} resource \"{plural}\" in API group \"\" in the namespace \"{namespace}\""
    );
    json_response(
        StatusCode::FORBIDDEN,
        &status_about(403, "Forbidden", &message, resource, name),
    )
}

/// The API server's answer to a `resourceVersion` it has not reached: a
/// `504` `Timeout` with the `ResourceVersionTooLarge` cause and a retry
/// after one second ("API Concepts", unavailable resource versions).
pub(crate) fn too_large(asked: u64, current: u64) -> Value {
    let mut status = status(
        504,
        "Timeout",
        &format!("Too large resource version: {asked}, current: {current}"),
    );
    status["details"] = json!({
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    });
    status
}

/// [`too_large`] as a response, with the `Retry-After` header the API
/// server sets from `retryAfterSeconds` on a `5xx`.
pub(crate) fn too_large_response(asked: u64, current: u64) -> Response {
    let mut response = json_response(StatusCode::GATEWAY_TIMEOUT, &too_large(asked, current));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}
