//! The service reading its ConfigMap (or Secret) through the Kubernetes
//! API, against an API server emulated from its documentation
//! (`tools/apiserver-emu`; no real one can run here), alone and beside the
//! volume the ConfigMap is mounted as (the kubelet emulation of
//! `config_reload::testing`), and when the network or the server lies.

#![cfg(watcher_kube)]

mod common;

use std::path::Path;

use apiserver_emu::{Access, ApiServer, Resource};
use common::{Flags, Service, eventually};
use config_reload::testing::KubeletVolume;

const NAMESPACE: &str = "default";

fn yaml(message: &str) -> String {
    format!("message: {message:?}\n")
}

/// The service on `config` with the kube watcher, reading the API through
/// a kubeconfig written for the emulated server.
fn start(server: &ApiServer, config: &Path, kubeconfig: &Path) -> Service {
    start_with(server, config, kubeconfig, |flags| flags)
}

/// [`start`] with more flags.
fn start_with(
    server: &ApiServer,
    config: &Path,
    kubeconfig: &Path,
    more: impl FnOnce(Flags) -> Flags,
) -> Service {
    server.write_kubeconfig(kubeconfig, NAMESPACE).unwrap();
    let flags = more(
        Flags::new(config, "kube")
            .set("--key", "config.yaml")
            .set("--namespace", NAMESPACE)
            .set("--resync-interval", "0"),
    );
    let flags = if flags.has("--secret") {
        flags
    } else {
        flags.set("--configmap", "app")
    };
    let kubeconfig = kubeconfig.to_path_buf();
    Service::spawn_with(&flags, move |command| {
        command.env("KUBECONFIG", kubeconfig);
    })
    .listening()
}

/// The service reading `app` (`v0`) through the API alone (no file at
/// `--config`), its watch open: the server, the scratch dir and the service.
fn watching_the_api_alone(
    more: impl FnOnce(Flags) -> Flags,
) -> (ApiServer, tempfile::TempDir, Service) {
    let server = ApiServer::start().unwrap();
    server.apply(NAMESPACE, "app", &[("config.yaml", yaml("v0"))]);
    let dir = tempfile::tempdir().unwrap();
    let service = start_with(
        &server,
        &dir.path().join("absent/config.yaml"),
        &dir.path().join("kubeconfig"),
        more,
    );
    service.wait_for_message("v0");
    eventually("the watch open", || {
        (server.open_watches() >= 1)
            .then_some(())
            .ok_or_else(|| "no watch".to_owned())
    });
    (server, dir, service)
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
/// the volume alone carries on once the API's last version is older than
/// the volume may lag, and `/readyz` and the metrics say so.
#[test]
fn the_api_first_then_the_volume_and_the_volume_alone_when_the_api_denies() {
    let server = ApiServer::start().unwrap();
    server.apply(NAMESPACE, "app", &[("config.yaml", yaml("v0"))]);
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[("config.yaml", yaml("v0"))]).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let service = start_with(
        &server,
        &mount.path().join("config.yaml"),
        &scratch.path().join("kubeconfig"),
        |flags| flags.set("--volume-lag", "1s"),
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
    // Served once the API has been down longer than the volume may lag
    // (--volume-lag 1s here), reported as served from the volume alone.
    volume
        .project(&[("config.yaml", yaml("from the volume"))])
        .unwrap();
    service.wait_for_message("from the volume");
    assert!(service.metric("config_publishes_total{source=\"inotify\"}") >= 1.0);
    wait_for_ready_body(&service, "the config's sources disagree");
    assert_eq!(service.metric("config_sources_disagree"), 1.0);
    assert!(service.metric("config_source_disagreements_total") >= 1.0);

    server.set_access(Access::All);
    server.apply(NAMESPACE, "app", &[("config.yaml", yaml("back"))]);
    service.wait_for_message("back");
    volume.project(&[("config.yaml", yaml("back"))]).unwrap();
    wait_for_ready_body(&service, "ready\n");
    assert_eq!(service.metric("config_sources_disagree"), 0.0);
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

/// `--secret`: a Secret's key served like a ConfigMap's, under a Role on
/// that one Secret; a bad value is rejected and nothing of it reaches the
/// log or the metrics.
#[test]
fn a_secret_is_served_and_never_logged() {
    let server = ApiServer::start().unwrap();
    server.set_access(Access::Only {
        resource: Resource::Secrets,
        names: vec!["app".into()],
    });
    server.apply_secret(NAMESPACE, "app", &[("config.yaml", yaml("v0"))]);
    let dir = tempfile::tempdir().unwrap();
    let service = start_with(
        &server,
        &dir.path().join("absent/config.yaml"),
        &dir.path().join("kubeconfig"),
        |flags| flags.set("--secret", "app"),
    );
    service.wait_for_message("v0");
    server.apply_secret(NAMESPACE, "app", &[("config.yaml", yaml("v1"))]);
    service.wait_for_message("v1");
    let secret = "hunter2-s3cr3t";
    server.apply_secret(
        NAMESPACE,
        "app",
        &[("config.yaml", format!("message: [{secret}\n"))],
    );
    service.wait_for_metric_above("config_reloads_total{result=\"failure\"}", 0.0);
    assert_eq!(service.message().text(), "v1");
    let metrics = service.get("/metrics").unwrap().text();
    let log = service.log().join("\n");
    assert!(log.contains("secret/default/app/config.yaml"), "{log}");
    assert!(
        !log.contains(secret) && !metrics.contains(secret),
        "{log}\n{metrics}"
    );
}

/// SIGHUP with the API source asks the API server again: a change the
/// (silenced) watch never delivered is served.
#[test]
fn sighup_reads_the_api_again() {
    let (server, _dir, service) = watching_the_api_alone(|flags| flags);
    server.silence_watches();
    server.apply(NAMESPACE, "app", &[("config.yaml", yaml("v1"))]);
    service.signal(libc::SIGHUP);
    service.wait_for_message("v1");
    assert!(service.metric("config_reload_triggers_total{trigger=\"manual\"}") >= 1.0);
}

/// A watch gone silent (no FIN, no RST): `config_source_up` goes to 0 and
/// `/readyz` says why once the silence timeout passes, the change made
/// meanwhile is served, and the source is up again.
#[test]
fn a_silent_watch_is_reported_then_recovered() {
    let (server, _dir, service) =
        watching_the_api_alone(|flags| flags.set("--kube-silence-timeout", "2s"));
    server.silence_watches();
    server.apply(NAMESPACE, "app", &[("config.yaml", yaml("v1"))]);
    service.wait_for_message("v1");
    assert!(
        service
            .log()
            .iter()
            .any(|line| line.contains("went silent")),
        "{:?}",
        service.log()
    );
    eventually("the source up again", || {
        let up = service.metric("config_source_up{source=\"kube\"}");
        (up == 1.0).then_some(()).ok_or_else(|| up.to_string())
    });
}

/// One in-stream `ERROR` event: the source is down only until the next
/// watch is established, then `/readyz` says plainly ready again.
#[test]
fn one_error_event_does_not_leave_the_source_down() {
    let (server, _dir, service) = watching_the_api_alone(|flags| flags);
    server.error_event(500, "InternalError", "etcdserver: request timed out");
    eventually("the error counted", || {
        let errors = service.metric("config_watch_errors_total");
        (errors >= 1.0)
            .then_some(())
            .ok_or_else(|| errors.to_string())
    });
    wait_for_ready_body(&service, "ready\n");
    assert_eq!(service.metric("config_source_up{source=\"kube\"}"), 1.0);
    server.apply(NAMESPACE, "app", &[("config.yaml", yaml("v1"))]);
    service.wait_for_message("v1");
}
