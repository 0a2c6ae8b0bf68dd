//! ConfigMaps and Secrets over a real socket: get, list, watch, one shared
//! revision, and RBAC on each.

mod support;

use apiserver_emu::{Access, ApiServer, Resource};
use serde_json::json;
use support::{Line, QUIET, get};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";

#[test]
fn a_configmap_is_listed_got_and_watched_as_before() {
    let server = ApiServer::start().expect("start");
    let (_, first) = server.apply("default", "app", &[("config.yaml", "message: hi\n")]);

    let list = get(&server, CONFIGMAPS).json();
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["metadata"]["resourceVersion"], first.to_string());
    assert_eq!(list["items"][0]["data"]["config.yaml"], "message: hi\n");
    assert!(list["items"][0].get("kind").is_none(), "{list}");

    let object = get(&server, &format!("{CONFIGMAPS}/app")).json();
    assert_eq!(object["kind"], "ConfigMap");
    assert_eq!(object["metadata"]["resourceVersion"], first.to_string());

    let mut watch = get(&server, &format!("{CONFIGMAPS}?watch=true"));
    assert_eq!(watch.status, 200);
    assert_eq!(watch.expect_event("ADDED")["metadata"]["name"], "app");
    let (_, second) = server.apply("default", "app", &[("config.yaml", "message: bye\n")]);
    let modified = watch.expect_event("MODIFIED");
    assert_eq!(modified["metadata"]["resourceVersion"], second.to_string());
    assert!(server.delete("default", "app"));
    watch.expect_event("DELETED");

    let missing = get(&server, &format!("{CONFIGMAPS}/app"));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "configmaps \"app\" not found");
}

#[test]
fn a_secret_is_opaque_with_base64_data_and_listed_as_a_secret_list() {
    let server = ApiServer::start().expect("start");
    let (_, version) = server.apply_secret("default", "app", &[("token", b"s3cret")]);

    let secret = get(&server, &format!("{SECRETS}/app")).json();
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["apiVersion"], "v1");
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["data"], json!({"token": "czNjcmV0"}));
    assert_eq!(secret["metadata"]["resourceVersion"], version.to_string());

    let list = get(&server, SECRETS).json();
    assert_eq!(list["kind"], "SecretList");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(list["items"][0].get("kind").is_none(), "{list}");
    // Secrets and ConfigMaps are apart: neither list shows the other.
    assert_eq!(get(&server, CONFIGMAPS).json()["items"], json!([]));

    let selected = get(&server, &format!("{SECRETS}?fieldSelector=type%3DOpaque")).json();
    assert_eq!(selected["items"].as_array().map(Vec::len), Some(1));
    let other = get(
        &server,
        &format!("{SECRETS}?fieldSelector=type%3Dkubernetes.io%2Ftls"),
    )
    .json();
    assert_eq!(other["items"], json!([]));
    let on_configmaps = get(
        &server,
        &format!("{CONFIGMAPS}?fieldSelector=type%3DOpaque"),
    );
    assert_eq!(on_configmaps.status, 400);

    let missing = get(&server, &format!("{SECRETS}/other"));
    assert_eq!(missing.status, 404);
    let status = missing.json();
    assert_eq!(status["message"], "secrets \"other\" not found");
    assert_eq!(
        status["details"],
        json!({"name": "other", "kind": "secrets"})
    );
}

#[test]
fn identical_secret_content_writes_nothing_and_delete_says_whether_there_was_one() {
    let server = ApiServer::start().expect("start");
    let (_, first) = server.apply_secret("default", "app", &[("token", "a")]);
    let (_, again) = server.apply_secret("default", "app", &[("token", "a")]);
    assert_eq!(again, first);
    assert_eq!(server.revision(), first);
    let (_, changed) = server.apply_secret("default", "app", &[("token", "b")]);
    assert_eq!(changed, first + 1);

    assert!(server.delete_secret("default", "app"));
    assert!(!server.delete_secret("default", "app"));
    assert_eq!(get(&server, &format!("{SECRETS}/app")).status, 404);
}

#[test]
fn configmaps_and_secrets_share_one_revision_and_each_watch_sees_its_own_kind() {
    let server = ApiServer::start().expect("start");
    let mut secrets = get(&server, &format!("{SECRETS}?watch=true"));
    let mut configmaps = get(&server, &format!("{CONFIGMAPS}?watch=true"));

    let (_, configmap) = server.apply("default", "app", &[("k", "v")]);
    let (_, secret) = server.apply_secret("default", "app", &[("k", "v")]);
    assert_eq!(secret, configmap + 1, "one revision counter");

    let added = secrets.expect_event("ADDED");
    assert_eq!(added["kind"], "Secret");
    assert_eq!(added["metadata"]["resourceVersion"], secret.to_string());
    assert_ne!(
        added["metadata"]["uid"],
        get(&server, &format!("{CONFIGMAPS}/app")).json()["metadata"]["uid"]
    );
    assert!(server.delete_secret("default", "app"));
    assert_eq!(secrets.expect_event("DELETED")["kind"], "Secret");

    assert_eq!(configmaps.expect_event("ADDED")["kind"], "ConfigMap");
    assert_eq!(
        configmaps.next_line(QUIET),
        Line::Nothing,
        "no Secret event"
    );

    // A watch resumed from a ConfigMap's version sees the Secret's later
    // changes: one history.
    let mut resumed = get(
        &server,
        &format!("{SECRETS}?watch=true&resourceVersion={configmap}"),
    );
    resumed.expect_event("ADDED");
    resumed.expect_event("DELETED");

    let bookmarked = format!("{SECRETS}?watch=true&allowWatchBookmarks=true");
    let mut bookmarks = get(&server, &bookmarked);
    server.bookmark();
    assert_eq!(bookmarks.expect_event("BOOKMARK")["kind"], "Secret");
}

#[test]
fn only_grants_the_named_objects_of_one_resource() {
    let server = ApiServer::start().expect("start");
    server.apply_secret("default", "app", &[("token", "x")]);
    server.apply_secret("default", "other", &[("token", "y")]);
    server.apply("default", "app", &[("k", "v")]);
    server.set_access(Access::Only {
        resource: Resource::Secrets,
        names: vec!["app".into()],
    });

    assert_eq!(get(&server, &format!("{SECRETS}/app")).status, 200);
    let selected = get(
        &server,
        &format!("{SECRETS}?fieldSelector=metadata.name%3Dapp"),
    )
    .json();
    assert_eq!(selected["items"].as_array().map(Vec::len), Some(1));
    let mut watch = get(
        &server,
        &format!("{SECRETS}?watch=true&fieldSelector=metadata.name%3Dapp"),
    );
    assert_eq!(watch.status, 200);
    assert_eq!(watch.expect_event("ADDED")["metadata"]["name"], "app");

    let other = get(&server, &format!("{SECRETS}/other"));
    assert_eq!(other.status, 403);
    let status = other.json();
    assert_eq!(
        status["message"],
        "secrets \"other\" is forbidden: User \"system:serviceaccount:default:default\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(status["code"], 403);
    assert_eq!(
        status["details"],
        json!({"name": "other", "kind": "secrets"})
    );

    let unselected = get(&server, SECRETS);
    assert_eq!(unselected.status, 403);
    assert_eq!(
        unselected.json()["message"],
        "secrets is forbidden: User \"system:serviceaccount:default:default\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""
    );
    let watched_other = get(
        &server,
        &format!("{SECRETS}?watch=1&fieldSelector=metadata.name%3Dother"),
    );
    assert_eq!(watched_other.status, 403);
    assert!(
        watched_other.json()["message"]
            .as_str()
            .is_some_and(|message| message.contains("cannot watch resource \"secrets\""))
    );

    // The same name in the other resource is not granted.
    let configmap = get(&server, &format!("{CONFIGMAPS}/app"));
    assert_eq!(configmap.status, 403);
    assert_eq!(
        configmap.json()["message"],
        "configmaps \"app\" is forbidden: User \"system:serviceaccount:default:default\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
}

#[test]
fn resource_names_grant_a_get_and_a_selected_list_only() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "v")]);
    server.apply("default", "other", &[("k", "v")]);
    server.set_access(Access::ResourceNames(vec!["app".into()]));

    assert_eq!(get(&server, &format!("{CONFIGMAPS}/app")).status, 200);
    let selected = format!("{CONFIGMAPS}?fieldSelector=metadata.name%3Dapp");
    assert_eq!(get(&server, &selected).status, 200);
    assert_eq!(get(&server, CONFIGMAPS).status, 403);
    let other = get(&server, &format!("{CONFIGMAPS}/other"));
    assert_eq!(other.status, 403);
    assert_eq!(
        other.json()["message"],
        "configmaps \"other\" is forbidden: User \"system:serviceaccount:default:default\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );

    server.set_access(Access::None);
    assert_eq!(get(&server, &format!("{CONFIGMAPS}/app")).status, 403);
    let watch = format!("{CONFIGMAPS}?watch=true&fieldSelector=metadata.name%3Dapp");
    assert_eq!(get(&server, &watch).status, 403);
    let logged = server.requests();
    let last = logged.last().expect("logged");
    assert!(last.is_watch());
    assert_eq!((last.path.as_str(), last.status), (CONFIGMAPS, 403));
}

#[test]
fn resource_names_still_means_configmaps_and_forbids_secrets() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "v")]);
    server.apply_secret("default", "app", &[("k", "v")]);
    server.set_access(Access::ResourceNames(vec!["app".into()]));

    assert_eq!(get(&server, &format!("{CONFIGMAPS}/app")).status, 200);
    let selected = format!("{CONFIGMAPS}?fieldSelector=metadata.name%3Dapp");
    assert_eq!(get(&server, &selected).status, 200);
    assert_eq!(get(&server, CONFIGMAPS).status, 403);
    assert_eq!(get(&server, &format!("{SECRETS}/app")).status, 403);
    let secrets_selected = format!("{SECRETS}?fieldSelector=metadata.name%3Dapp");
    assert_eq!(get(&server, &secrets_selected).status, 403);
}

#[test]
fn all_allows_both_resources_and_none_forbids_both() {
    let server = ApiServer::start().expect("start");
    server.apply("default", "app", &[("k", "v")]);
    server.apply_secret("default", "app", &[("k", "v")]);
    for path in [CONFIGMAPS, SECRETS] {
        assert_eq!(get(&server, path).status, 200, "{path}");
        assert_eq!(get(&server, &format!("{path}/app")).status, 200, "{path}");
    }
    server.set_access(Access::None);
    for path in [CONFIGMAPS, SECRETS] {
        assert_eq!(get(&server, path).status, 403, "{path}");
        assert_eq!(get(&server, &format!("{path}/app")).status, 403, "{path}");
        let watch = format!("{path}?watch=true");
        assert_eq!(get(&server, &watch).status, 403, "{path}");
    }
    let logged = server.requests();
    let last = logged.last().expect("logged");
    assert_eq!(last.path, SECRETS);
    assert!(last.is_watch());
    assert_eq!(last.status, 403);
}

#[test]
fn an_unknown_path_and_a_bad_selector_are_answered_as_the_api_server_does() {
    let server = ApiServer::start().expect("start");
    let unknown = get(&server, "/api/v1/namespaces/default/pods");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["reason"], "NotFound");
    let bad = get(&server, &format!("{SECRETS}?fieldSelector=data.token%3Dx"));
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["message"],
        "field label not supported: data.token"
    );
    let not_a_version = get(&server, &format!("{SECRETS}?resourceVersion=abc"));
    assert_eq!(not_a_version.status, 400);
}
