//! What the Kubernetes API tests share: an emulated cluster (the API server
//! and a kubeconfig reaching it), the volume beside it, and waits on what
//! the source reports.

#![allow(dead_code)] // Each test binary uses a different part.

use std::time::Duration;

use apiserver_emu::{Access, ApiServer, Request};
use config_reload::testing::KubeletVolume;
use config_reload::{Backoff, ConfigSource, KubeSource, ReloadOutcome, Trigger, WatchHealth};

use crate::common::{self, Harness, Inotify, Recorder, wait_until, yaml};

pub const NAMESPACE: &str = "ns";
pub const NAME: &str = "app";
pub const KEY: &str = "config.yaml";

/// Short pauses after an error, so a test's recoveries take milliseconds.
pub const FAST: Backoff = Backoff {
    initial: Duration::from_millis(20),
    max: Duration::from_millis(300),
};

/// An emulated API server and a kubeconfig reaching it (context namespace
/// `ns`).
pub struct Cluster {
    pub server: ApiServer,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn start() -> Self {
        let server = ApiServer::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        server
            .write_kubeconfig(&dir.path().join("kubeconfig"), NAMESPACE)
            .unwrap();
        Self { server, dir }
    }

    /// The ConfigMap `app` with `config.yaml` carrying `message`.
    pub fn set(&self, message: &str) -> u64 {
        self.server
            .apply(NAMESPACE, NAME, &[(KEY, yaml(message))])
            .1
    }

    /// `app` read through this cluster's kubeconfig, recovering fast. The
    /// namespace comes from the kubeconfig's context.
    pub fn source(&self) -> KubeSource {
        KubeSource::configmap(NAME)
            .kubeconfig(self.dir.path().join("kubeconfig"))
            .backoff(FAST)
            .start_timeout(Duration::from_secs(10))
    }

    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }
}

/// A watch of `app`'s `config.yaml` through the API alone.
pub fn watch_api(cluster: &Cluster) -> Harness<Inotify> {
    Harness::start(ConfigSource::kube(cluster.source().key(KEY)))
}

pub fn lists(requests: &[Request]) -> Vec<&Request> {
    requests
        .iter()
        .filter(|request| !request.is_watch())
        .collect()
}

pub fn watches(requests: &[Request]) -> Vec<&Request> {
    requests
        .iter()
        .filter(|request| request.is_watch())
        .collect()
}

/// Waits for a `Degraded` health whose reason contains `needle`; returns
/// the reason.
pub fn wait_degraded_with(harness: &Harness<Inotify>, needle: &str) -> String {
    let mut last = String::new();
    wait_until(format_args!("health degraded with {needle:?}"), || {
        match harness.watch.health() {
            WatchHealth::Degraded(reason) => last = reason,
            _ => return false,
        }
        last.contains(needle)
    });
    last
}

/// Waits until the last report of `source` is `trigger` with an outcome
/// `expected` accepts: the manager holds a new config a moment before its
/// report reaches the observer.
pub fn wait_last_report(
    recorder: &Recorder,
    source: &str,
    trigger: Trigger,
    expected: impl Fn(&ReloadOutcome) -> bool,
) {
    wait_until(format_args!("a {trigger:?} report from {source}"), || {
        reports_from(recorder, source)
            .last()
            .is_some_and(|(last, outcome)| *last == trigger && expected(outcome))
    });
}

pub fn published(outcome: &ReloadOutcome) -> bool {
    matches!(outcome, ReloadOutcome::Published { .. })
}

/// The reports of `source` so far.
pub fn reports_from(recorder: &Recorder, source: &str) -> Vec<(Trigger, ReloadOutcome)> {
    recorder
        .reports
        .lock()
        .unwrap()
        .iter()
        .filter(|report| report.source == source)
        .map(|report| (report.trigger, report.outcome.clone()))
        .collect()
}

/// The ConfigMap mounted (the kubelet's writer) and watched through the API
/// (the emulated server); a `kubectl apply` reaches the API first, the
/// kubelet later.
pub struct Both {
    pub cluster: Cluster,
    pub volume: KubeletVolume,
    _mount: tempfile::TempDir,
    pub harness: Harness<Inotify>,
}

impl Both {
    pub fn start(access: Access) -> Self {
        Self::start_with(access, |source| source)
    }

    /// [`Both::start`] with the API source adjusted by `customize`.
    pub fn start_with(access: Access, customize: impl FnOnce(KubeSource) -> KubeSource) -> Self {
        let cluster = Cluster::start();
        cluster.server.set_access(access);
        let mount = tempfile::tempdir().unwrap();
        let volume = KubeletVolume::new(mount.path());
        volume.project(&[(KEY, yaml("v0"))]).unwrap();
        cluster.set("v0");
        let harness = Harness::<Inotify>::start_with(
            ConfigSource::file(mount.path().join(KEY)).with_kube(customize(cluster.source())),
            common::options(),
            |builder| builder,
        );
        Self {
            cluster,
            volume,
            _mount: mount,
            harness,
        }
    }

    pub fn kubelet_syncs(&self, message: &str) {
        self.volume.project(&[(KEY, yaml(message))]).unwrap();
    }

    /// Waits until `source` has made `count` reports.
    pub fn wait_reported(&self, source: &str, count: usize) {
        wait_until(format_args!("{count} reports from {source}"), || {
            reports_from(&self.harness.recorder, source).len() >= count
        });
    }
}
