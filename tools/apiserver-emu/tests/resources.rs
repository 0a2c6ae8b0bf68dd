//! ConfigMaps over a real socket: get, list, watch, and RBAC.

mod support;

use apiserver_emu::{Access, ApiServer};
use support::get;

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

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
fn an_unknown_path_and_a_bad_selector_are_answered_as_the_api_server_does() {
    let server = ApiServer::start().expect("start");
    let unknown = get(&server, "/api/v1/namespaces/default/pods");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["reason"], "NotFound");
    let bad = get(
        &server,
        &format!("{CONFIGMAPS}?fieldSelector=data.token%3Dx"),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["message"],
        "field label not supported: data.token"
    );
}
