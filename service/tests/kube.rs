//! The service reading its ConfigMap through the Kubernetes API, against an
//! API server emulated from its documentation (`tools/apiserver-emu`; no
//! real one can run here), alone and beside the volume the ConfigMap is
//! mounted as (the kubelet emulation of `watchers::testing`).

#![cfg(watcher_kube)]

mod common;

use std::path::Path;

use apiserver_emu::{Access, ApiServer};
use common::{Flags, Service, eventually};
use watchers::testing::KubeletVolume;

const NAMESPACE: &str = "default";

fn yaml(message: &str) -> String {
    format!("message: {message:?}\n")
}

/// The service on `config` with the kube watcher, reading the API through
/// a kubeconfig written for the emulated server.
fn start(server: &ApiServer, config: &Path, kubeconfig: &Path) -> Service {
    server.write_kubeconfig(kubeconfig, NAMESPACE).unwrap();
    let flags = Flags::new(config, "kube")
        .set("--configmap", "app")
        .set("--key", "config.yaml")
        .set("--namespace", NAMESPACE)
        .set("--resync-interval", "0");
    let kubeconfig = kubeconfig.to_path_buf();
    Service::spawn_with(&flags, move |command| {
        command.env("KUBECONFIG", kubeconfig);
    })
    .listening()
}

fn wait_for_ready_body(service: &Service, needle: &str) {
    eventually(&format!("/readyz saying {needle:?}"), || {
        let ready = service.get("/readyz").map_err(|error| error.to_string())?;
        if ready.status == 200 && ready.text().contains(needle) {
            Ok(())
        } else {
            Err(format!("{} {}", ready.status, ready.text()))
        }
    });
}

/// API only (no file at `--config`): served, and each update served, by
/// the kube source.
#[test]
fn the_api_alone_serves_and_follows_the_configmap() {
    let server = ApiServer::start().unwrap();
    server.apply(NAMESPACE, "app", &[("config.yaml", yaml("v0"))]);
    let dir = tempfile::tempdir().unwrap();
    let service = start(
        &server,
        &dir.path().join("absent/config.yaml"),
        &dir.path().join("kubeconfig"),
    );
    service.wait_for_message("v0");
    for round in 1..=3 {
        server.apply(
            NAMESPACE,
            "app",
            &[("config.yaml", yaml(&format!("v{round}")))],
        );
        service.wait_for_message(&format!("v{round}"));
    }
    assert!(service.metric("config_publishes_total{source=\"kube\"}") >= 3.0);
    assert_eq!(service.metric("config_source_up{source=\"kube\"}"), 1.0);
}

/// The API and the volume together: the API's update is served first (the
/// kubelet is a minute behind in a cluster), the volume's identical copy is
/// then found unchanged and its lag measured; when the API denies access,
/// the volume alone carries on and `/readyz` says why.
#[test]
fn the_api_first_then_the_volume_and_the_volume_alone_when_the_api_denies() {
    let server = ApiServer::start().unwrap();
    server.apply(NAMESPACE, "app", &[("config.yaml", yaml("v0"))]);
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[("config.yaml", yaml("v0"))]).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let service = start(
        &server,
        &mount.path().join("config.yaml"),
        &scratch.path().join("kubeconfig"),
    );
    service.wait_for_message("v0");
    for round in 1..=3 {
        let message = format!("v{round}");
        server.apply(NAMESPACE, "app", &[("config.yaml", yaml(&message))]);
        service.wait_for_message(&message);
        let version = service.message().version();
        let skews = service.metric("config_source_skew_seconds_count{source=\"inotify\"}");
        volume.project(&[("config.yaml", yaml(&message))]).unwrap();
        eventually("the volume's late copy measured", || {
            let now = service.metric("config_source_skew_seconds_count{source=\"inotify\"}");
            if now > skews {
                Ok(())
            } else {
                Err(now.to_string())
            }
        });
        assert_eq!(
            service.message().version(),
            version,
            "the same version, not published again"
        );
    }
    assert!(service.metric("config_publishes_total{source=\"kube\"}") >= 3.0);

    server.set_access(Access::None);
    server.drop_watches();
    wait_for_ready_body(&service, "403");
    assert_eq!(service.metric("config_source_up{source=\"kube\"}"), 0.0);
    volume
        .project(&[("config.yaml", yaml("from the volume"))])
        .unwrap();
    service.wait_for_message("from the volume");
    assert!(service.metric("config_publishes_total{source=\"inotify\"}") >= 1.0);

    server.set_access(Access::All);
    server.apply(NAMESPACE, "app", &[("config.yaml", yaml("back"))]);
    service.wait_for_message("back");
    wait_for_ready_body(&service, "ready\n");
}

/// Without `--configmap`, `--watcher kube` says what it needs.
#[test]
fn the_kube_watcher_without_a_configmap_says_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, stderr) =
        Service::spawn(&Flags::new(&dir.path().join("config.yaml"), "kube")).exit();
    assert!(!status.success());
    assert!(stderr.contains("--configmap"), "{stderr}");
}
