//! The faults a watch meets, over a real socket: cut, ended, compacted,
//! silenced, errored, ended at once, and bookmarks on demand or periodic.

mod support;

use std::time::Duration;

use apiserver_emu::ApiServer;
use serde_json::json;
use support::{Line, PATIENCE, QUIET, Response, get, wait_until};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";

/// A watch on `path` from now, its synthetic `ADDED` events read.
fn watch(server: &ApiServer, path: &str, query: &str, objects: usize) -> Response {
    let mut watch = get(server, &format!("{path}?watch=true&{query}"));
    assert_eq!(watch.status, 200);
    for _ in 0..objects {
        watch.expect_event("ADDED");
    }
    watch
}

#[test]
fn drop_cuts_end_ends_and_timeout_ends_a_watch() {
    let server = ApiServer::start().expect("start");
    let mut dropped = watch(&server, CONFIGMAPS, "", 0);
    let mut ended = watch(&server, SECRETS, "", 0);
    wait_until("two watches", || server.open_watches() == 2);
    server.drop_watches();
    assert_eq!(dropped.next_line(PATIENCE), Line::Cut);
    assert_eq!(ended.next_line(PATIENCE), Line::Cut);

    let mut ended = watch(&server, CONFIGMAPS, "", 0);
    server.end_watches();
    assert_eq!(ended.next_line(PATIENCE), Line::End);

    let mut timed = watch(&server, CONFIGMAPS, "timeoutSeconds=1", 0);
    assert_eq!(timed.next_line(Duration::from_millis(200)), Line::Nothing);
    assert_eq!(timed.next_line(PATIENCE), Line::End);
    wait_until("no watch open", || server.open_watches() == 0);
}

#[test]
fn a_watch_resumed_from_before_a_compaction_gets_410_gone() {
    let server = ApiServer::start().expect("start");
    let (_, first) = server.apply("default", "app", &[("k", "1")]);
    server.apply("default", "app", &[("k", "2")]);
    server.compact();
    let mut resumed = get(
        &server,
        &format!("{CONFIGMAPS}?watch=true&resourceVersion={}", first - 1),
    );
    let status = resumed.expect_event("ERROR");
    assert_eq!(status["code"], 410);
    assert_eq!(status["reason"], "Expired");
    assert_eq!(
        status["message"],
        format!("too old resource version: {} ({})", first - 1, first + 1)
    );
    assert_eq!(resumed.next_line(PATIENCE), Line::End);
}

#[test]
fn a_silenced_watch_sends_and_ends_nothing_while_new_ones_work() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "1")]);
    let query = "allowWatchBookmarks=true&timeoutSeconds=1";
    let mut silenced = watch(&server, CONFIGMAPS, query, 1);
    wait_until("the watch open", || server.open_watches() == 1);

    server.silence_watches();
    wait_until("the watch silenced", || server.silenced_watches() == 1);
    assert_eq!(server.open_watches(), 1, "a silenced stream is still open");

    let mut fresh = watch(&server, CONFIGMAPS, query, 1);
    let (_, written) = server.apply("default", "app", &[("k", "2")]);
    server.bookmark();
    server.error_event(500, "InternalError", "etcdserver: request timed out");
    let modified = fresh.expect_event("MODIFIED");
    assert_eq!(modified["metadata"]["resourceVersion"], written.to_string());
    fresh.expect_event("BOOKMARK");
    fresh.expect_event("ERROR");
    // Past its timeoutSeconds, and cut or ended for every other watch: the
    // silenced one stays open and says nothing.
    server.drop_watches();
    server.end_watches();
    assert_eq!(fresh.next_line(PATIENCE), Line::Cut);
    assert_eq!(
        silenced.next_line(Duration::from_millis(1500)),
        Line::Nothing
    );
    assert_eq!(server.silenced_watches(), 1);

    // The client giving up is what closes it.
    drop(silenced);
    wait_until("the silenced watch closed", || {
        server.open_watches() == 0 && server.silenced_watches() == 0
    });
}

#[test]
fn an_error_event_reaches_every_watch_which_then_stays_open_and_quiet() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "1")]);
    server.apply_secret("default", "app", &[("k", "1")]);
    let mut configmaps = watch(&server, CONFIGMAPS, "", 1);
    let mut secrets = watch(&server, SECRETS, "allowWatchBookmarks=true", 1);

    server.error_event(500, "InternalError", "etcdserver: request timed out");
    let expected = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500
    });
    assert_eq!(configmaps.expect_event("ERROR"), expected);
    assert_eq!(secrets.expect_event("ERROR"), expected);

    // The client must end the watch: the server sends nothing more and
    // leaves the stream open.
    server.apply("default", "app", &[("k", "2")]);
    server.bookmark();
    assert_eq!(configmaps.next_line(QUIET), Line::Nothing);
    assert_eq!(secrets.next_line(QUIET), Line::Nothing);
    assert_eq!(server.open_watches(), 2);

    let mut after = watch(&server, CONFIGMAPS, "", 1);
    server.apply("default", "app", &[("k", "3")]);
    after.expect_event("MODIFIED");
}

#[test]
fn while_on_every_new_watch_ends_at_once_and_is_logged() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "1")]);
    let mut before = watch(&server, CONFIGMAPS, "", 1);

    server.end_watches_at_once(true);
    let mut ended = get(&server, &format!("{CONFIGMAPS}?watch=true"));
    assert_eq!(ended.status, 200);
    assert_eq!(
        ended.next_line(PATIENCE),
        Line::End,
        "no event, then the end"
    );
    let mut from_version = get(&server, &format!("{SECRETS}?watch=1&resourceVersion=1"));
    assert_eq!(from_version.next_line(PATIENCE), Line::End);
    let logged = server.requests();
    let last = logged.last().expect("logged");
    assert!(last.is_watch());
    assert_eq!((last.path.as_str(), last.status), (SECRETS, 200));
    // A list is served; a watch open before goes on.
    assert_eq!(get(&server, CONFIGMAPS).status, 200);
    server.apply("default", "app", &[("k", "2")]);
    before.expect_event("MODIFIED");

    server.end_watches_at_once(false);
    let mut normal = watch(&server, CONFIGMAPS, "", 1);
    assert_eq!(normal.next_line(QUIET), Line::Nothing);
}

#[test]
fn periodic_bookmarks_reach_only_watches_that_allow_them() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "1")]);
    let mut allowing = watch(&server, CONFIGMAPS, "allowWatchBookmarks=true", 1);
    let mut secrets = watch(&server, SECRETS, "allowWatchBookmarks=true", 0);
    let mut plain = watch(&server, CONFIGMAPS, "", 1);

    server.bookmark_every(Some(Duration::from_millis(100)));
    let revision = server.revision().to_string();
    for _ in 0..2 {
        let bookmark = allowing.expect_event("BOOKMARK");
        assert_eq!(bookmark["metadata"]["resourceVersion"], revision);
        assert_eq!(bookmark["kind"], "ConfigMap");
        assert_eq!(secrets.expect_event("BOOKMARK")["kind"], "Secret");
    }
    let (_, written) = server.apply("default", "app", &[("k", "2")]);
    allowing.expect_event("MODIFIED");
    let written = written.to_string();
    let bookmark = loop {
        let bookmark = allowing.expect_event("BOOKMARK");
        if bookmark["metadata"]["resourceVersion"] == written {
            break bookmark;
        }
    };
    assert_eq!(bookmark["kind"], "ConfigMap");
    plain.expect_event("MODIFIED");
    assert_eq!(plain.next_line(QUIET), Line::Nothing, "no bookmark asked");

    server.bookmark_every(None);
    // A tick may have been on its way: read until a quiet spell.
    while allowing.next_line(QUIET) != Line::Nothing {}
    assert_eq!(allowing.next_line(QUIET), Line::Nothing);
}

#[test]
fn an_on_demand_bookmark_carries_the_current_revision() {
    let server = ApiServer::start().expect("start");
    let (_, written) = server.apply("default", "app", &[("k", "1")]);
    let mut allowing = watch(&server, CONFIGMAPS, "allowWatchBookmarks=true", 1);
    let mut plain = watch(&server, CONFIGMAPS, "", 1);
    server.bookmark();
    let bookmark = allowing.expect_event("BOOKMARK");
    assert_eq!(
        bookmark,
        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": written.to_string()}})
    );
    assert_eq!(plain.next_line(QUIET), Line::Nothing);
}
