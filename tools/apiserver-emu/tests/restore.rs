//! etcd restored from a backup, over a real socket: versions go back,
//! versions clients hold are "too large", and watches open at the restore
//! go blind.

mod support;

use apiserver_emu::{ApiServer, TooLarge};
use serde_json::{Value, json};
use support::{Line, QUIET, Response, get};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";

/// The API server's `Status` for a `resourceVersion` it has not reached.
fn too_large(asked: u64, current: u64) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("Too large resource version: {asked}, current: {current}"),
        "reason": "Timeout",
        "details": {
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1
        },
        "code": 504
    })
}

fn watch_from(server: &ApiServer, path: &str, version: u64) -> Response {
    get(
        server,
        &format!("{path}?watch=true&allowWatchBookmarks=true&resourceVersion={version}"),
    )
}

/// A server whose store went back from `after` to `before`.
struct Restored {
    server: ApiServer,
    before: u64,
    after: u64,
}

fn restored() -> Restored {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "old")]);
    server.apply_secret("default", "token", &[("k", "old")]);
    let snapshot = server.snapshot();
    let before = server.revision();
    server.apply("default", "app", &[("k", "new")]);
    server.apply("default", "other", &[("k", "new")]);
    server.delete_secret("default", "token");
    let after = server.revision();
    server.restore(&snapshot);
    Restored {
        server,
        before,
        after,
    }
}

#[test]
fn a_restore_brings_objects_and_the_revision_back_and_writes_go_on_from_there() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "old")]);
    server.apply_secret("default", "token", &[("k", "old")]);
    let snapshot = server.snapshot();
    let before = server.revision();
    server.apply("default", "app", &[("k", "new")]);
    let (_, other) = server.apply("default", "other", &[("k", "new")]);
    let lost_uid = get(&server, &format!("{CONFIGMAPS}/other")).json()["metadata"]["uid"].clone();
    server.delete_secret("default", "token");

    server.restore(&snapshot);
    assert_eq!(server.revision(), before);
    let list = get(&server, CONFIGMAPS).json();
    assert_eq!(list["metadata"]["resourceVersion"], before.to_string());
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["data"]["k"], "old");
    assert_eq!(get(&server, &format!("{SECRETS}/token")).status, 200);

    let (_, next) = server.apply("default", "app", &[("k", "newer")]);
    assert_eq!(next, before + 1);
    // Created again at the revision the lost one had: a new uid all the same.
    let (_, again) = server.apply("default", "other", &[("k", "new")]);
    assert_eq!(again, other);
    let uid = get(&server, &format!("{CONFIGMAPS}/other")).json()["metadata"]["uid"].clone();
    assert_ne!(uid, lost_uid);
}

#[test]
fn after_a_restore_a_version_a_client_held_is_too_large_and_an_older_one_gone() {
    let Restored {
        server,
        before,
        after,
    } = restored();

    let refused = watch_from(&server, CONFIGMAPS, after);
    assert_eq!(refused.status, 504);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json(), too_large(after, before));
    let listed = get(&server, &format!("{SECRETS}?resourceVersion={after}"));
    assert_eq!(listed.status, 504);
    assert_eq!(listed.json(), too_large(after, before));
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.is_watch() && r.status == 504)
    );

    for served in ["", "0", &before.to_string(), &(before - 1).to_string()] {
        let list = get(&server, &format!("{CONFIGMAPS}?resourceVersion={served}"));
        assert_eq!(list.status, 200, "{served:?}");
    }
    // The history before the snapshot is gone, as after a compaction.
    let mut gone = watch_from(&server, CONFIGMAPS, before - 1);
    assert_eq!(gone.expect_event("ERROR")["code"], 410);
    let mut resumed = watch_from(&server, CONFIGMAPS, before);
    server.apply("default", "app", &[("k", "newer")]);
    resumed.expect_event("MODIFIED");
}

#[test]
fn a_watch_open_at_the_restore_is_blind_until_the_store_passes_it() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "1")]);
    let snapshot = server.snapshot();
    server.apply("default", "app", &[("k", "2")]);
    server.apply("default", "app", &[("k", "3")]);
    let seen = server.revision();
    let mut held = get(
        &server,
        &format!("{CONFIGMAPS}?watch=true&allowWatchBookmarks=true"),
    );
    held.expect_event("ADDED");

    server.restore(&snapshot);
    server.apply("default", "app", &[("k", "2 again")]);
    assert!(server.revision() < seen);
    server.bookmark();
    assert_eq!(
        held.next_line(QUIET),
        Line::Nothing,
        "blind: no event, no bookmark"
    );
    assert_eq!(server.open_watches(), 1, "and still open");
    server.apply("default", "app", &[("k", "3 again")]);
    assert_eq!(server.revision(), seen);
    assert_eq!(
        held.next_line(QUIET),
        Line::Nothing,
        "a version it had passed"
    );

    let (_, passed) = server.apply("default", "app", &[("k", "past it")]);
    let modified = held.expect_event("MODIFIED");
    assert_eq!(modified["metadata"]["resourceVersion"], passed.to_string());
}

#[test]
fn a_too_large_version_can_be_an_error_event_in_an_open_stream() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "1")]);
    server.set_too_large(TooLarge::ErrorEvent);
    let current = server.revision();
    let mut watch = watch_from(&server, CONFIGMAPS, current + 5);
    assert_eq!(watch.status, 200);
    assert_eq!(watch.expect_event("ERROR"), too_large(current + 5, current));

    server.apply("default", "app", &[("k", "2")]);
    assert_eq!(
        watch.next_line(QUIET),
        Line::Nothing,
        "nothing more, not ended"
    );
    assert_eq!(server.open_watches(), 1);
    // A list is still refused.
    let listed = get(
        &server,
        &format!("{CONFIGMAPS}?resourceVersion={}", current + 5),
    );
    assert_eq!(listed.status, 504);
}

#[test]
fn a_held_too_large_watch_sends_only_changes_after_the_asked_version() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "1")]);
    server.set_too_large(TooLarge::Hold);
    let asked = server.revision() + 2;
    let mut watch = watch_from(&server, CONFIGMAPS, asked);
    assert_eq!(watch.status, 200);

    server.apply("default", "app", &[("k", "2")]);
    server.bookmark();
    assert_eq!(
        watch.next_line(QUIET),
        Line::Nothing,
        "blind: no event, no bookmark"
    );
    server.apply("default", "app", &[("k", "3")]);
    assert_eq!(server.revision(), asked);
    assert_eq!(
        watch.next_line(QUIET),
        Line::Nothing,
        "nothing up to the asked version"
    );

    let (_, after) = server.apply("default", "app", &[("k", "4")]);
    let modified = watch.expect_event("MODIFIED");
    assert_eq!(modified["metadata"]["resourceVersion"], after.to_string());
    server.bookmark();
    let bookmark = watch.expect_event("BOOKMARK");
    assert_eq!(bookmark["metadata"]["resourceVersion"], after.to_string());
}
