//! The Kubernetes API source when the network and the API server lie: a
//! watch connection gone silent without closing, an etcd restored from a
//! backup (resourceVersions lower than the ones seen), in-stream `ERROR`
//! events, watches the server ends at once, "reload now", a Secret, and the
//! volume beside the API showing content the API does not have. Against
//! the emulated API server (`apiserver-emu`, written from the API
//! documentation: no real one can run here). Deadlines are shortened per
//! test (`silence_timeout`, `volume_lag`) instead of pausing time: the
//! source's runtime is a thread of its own, talking to a real socket.

mod common;
mod kube_support;

use std::time::{Duration, Instant};

use apiserver_emu::{Access, Resource, TooLarge};
use common::{Harness, Inotify, wait_until, yaml};
use config_reload::{Backoff, ConfigSource, KubeSource, ReloadOutcome, Trigger};
use kube_support::*;

/// The shortest silence timeout: watches bounded at 1 s by the server.
const SILENCE: Duration = Duration::from_secs(2);

/// A watch of `app` through the API alone, with a short silence timeout.
fn watch_api_quick(cluster: &Cluster) -> Harness<Inotify> {
    Harness::start(ConfigSource::kube(
        cluster.source().key(KEY).silence_timeout(SILENCE),
    ))
}

/// The reasons the source reported so far.
fn watch_errors(harness: &Harness<Inotify>) -> Vec<String> {
    harness.recorder.watch_errors.lock().unwrap().clone()
}

/// A NAT entry dropped, a load balancer's flow reaped: the watch's socket
/// stays open and nothing arrives. The source notices the silence, says so
/// in its health, lists again on a new connection and serves the change
/// made meanwhile, then is healthy again.
#[test]
fn a_silent_watch_is_abandoned_and_the_change_made_meanwhile_served() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let harness = watch_api_quick(&cluster);
    harness.wait_watching();
    wait_until("the watch open", || cluster.server.open_watches() >= 1);
    cluster.server.silence_watches();
    cluster.set("v1");
    harness.wait_for("v1");
    let errors = watch_errors(&harness);
    assert!(
        errors.iter().any(|error| error.contains("went silent")),
        "{errors:?}"
    );
    harness.wait_watching();
    wait_last_report(&harness.recorder, "kube", Trigger::Resync, published);
}

/// Every watch asks the server to end it well before the silence timeout,
/// with bookmarks, so a live but idle server is never taken for a dead one.
#[test]
fn every_watch_is_bounded_by_the_server_before_the_silence_timeout() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let _harness = watch_api_quick(&cluster);
    wait_until("three watches", || watches(&cluster.requests()).len() >= 3);
    for watch in watches(&cluster.requests()) {
        let seconds: u64 = watch.query["timeoutSeconds"].parse().unwrap();
        assert!(
            seconds >= 1 && Duration::from_secs(seconds) < SILENCE,
            "{watch:?}"
        );
        assert_eq!(watch.query["allowWatchBookmarks"], "true");
    }
}

/// An etcd restored from a backup under a held watch: the server's
/// versions go back below the one the watch resumed from, so the watch
/// delivers nothing, without any error. After a few watches that brought
/// nothing, a list shows the content, taken as the truth.
#[test]
fn a_history_restored_under_a_held_watch_is_recovered_by_a_list() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let backup = cluster.server.snapshot();
    let harness = watch_api_quick(&cluster);
    for n in 1..=3 {
        cluster.set(&format!("v{n}"));
    }
    harness.wait_for("v3");
    cluster.server.set_too_large(TooLarge::Hold);
    cluster.server.restore(&backup);
    cluster.set("restored");
    harness.wait_for("restored");
    assert_eq!(harness.history(), ["v0", "v1", "v2", "v3", "restored"]);
}

/// After the restore the resumed watch is refused with `504 Too large
/// resource version` (as a status, or as an `ERROR` event): the source
/// lists again at once instead of retrying the watch for ever.
#[test]
fn too_large_resource_version_lists_again() {
    for answer in [TooLarge::Reject504, TooLarge::ErrorEvent] {
        let cluster = Cluster::start();
        cluster.set("v0");
        let backup = cluster.server.snapshot();
        let harness = watch_api_quick(&cluster);
        // The client's version moves well past what the backup holds.
        for n in 1..=5 {
            cluster.set(&format!("v{n}"));
        }
        harness.wait_for("v5");
        cluster.server.set_too_large(answer);
        cluster.server.restore(&backup);
        cluster.set("restored");
        cluster.server.drop_watches();
        harness.wait_for("restored");
        let errors = watch_errors(&harness);
        assert!(
            errors
                .iter()
                .any(|error| error.contains("Too large resource version")
                    && error.contains("restored")),
            "{answer:?}: {errors:?}"
        );
        harness.wait_watching();
    }
}

/// One `ERROR` event (the API server's `etcdserver: request timed out`):
/// the watch restarts, the health says why in a sentence, and is healthy
/// again as soon as the next watch is established, not minutes later.
#[test]
fn one_error_event_restarts_the_watch_and_health_returns() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let harness = watch_api_quick(&cluster);
    harness.wait_watching();
    wait_until("the watch open", || cluster.server.open_watches() >= 1);
    cluster
        .server
        .error_event(500, "InternalError", "etcdserver: request timed out");
    let reason = wait_degraded_with(&harness, "etcdserver");
    assert!(
        reason.contains(
            "the API server ended the watch with an error: etcdserver: request timed out (500 InternalError)"
        ),
        "{reason}"
    );
    harness.wait_watching();
    cluster.set("v1");
    harness.wait_for("v1");
}

/// A server that ends every watch at once: each re-watch waits longer
/// (the backoff doubles), and every one is reported.
#[test]
fn watches_that_end_at_once_back_off() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_secs(1),
    };
    let harness = Harness::<Inotify>::start(ConfigSource::kube(
        cluster.source().key(KEY).backoff(backoff),
    ));
    wait_until("the watch open", || cluster.server.open_watches() >= 1);
    cluster.server.end_watches_at_once(true);
    let before = watches(&cluster.requests()).len();
    cluster.server.end_watches();
    wait_until("six watches ended at once", || {
        watches(&cluster.requests()).len() >= before + 6
    });
    let requests = cluster.requests();
    let times: Vec<Instant> = watches(&requests)[before..]
        .iter()
        .map(|request| request.at)
        .collect();
    for (attempt, pair) in times.windows(2).enumerate() {
        let pause = pair[1] - pair[0];
        let delay = backoff.delay(attempt as u32 + 1);
        assert!(pause >= delay, "pause {attempt}: {pause:?} < {delay:?}");
    }
    let errors = watch_errors(&harness);
    assert!(
        errors
            .iter()
            .filter(|error| error.contains("with no event"))
            .count()
            >= 5,
        "{errors:?}"
    );
}

/// "Reload now" asks the API server (a GET), not the last content received:
/// a change the silenced watch never delivered is served at once.
#[test]
fn reload_now_reads_the_object_again() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let harness = Harness::<Inotify>::start(ConfigSource::kube(cluster.source().key(KEY)));
    harness.wait_watching();
    wait_until("the watch open", || cluster.server.open_watches() >= 1);
    cluster.server.silence_watches();
    cluster.set("v1");
    harness.watch.reload_now();
    harness.wait_for("v1");
    wait_last_report(&harness.recorder, "kube", Trigger::Manual, published);
    assert!(
        cluster
            .requests()
            .iter()
            .any(|request| request.path == "/api/v1/namespaces/ns/configmaps/app"),
        "a GET of the object"
    );
}

/// A Secret: watched like a ConfigMap under a Role on that one Secret; a
/// bad value is rejected without its content in any report.
#[test]
fn a_secret_is_watched_and_its_content_never_reported() {
    let cluster = Cluster::start();
    cluster.server.set_access(Access::Only {
        resource: Resource::Secrets,
        names: vec![NAME.into()],
    });
    let put = |value: &str| {
        cluster
            .server
            .apply_secret(NAMESPACE, NAME, &[(KEY, value.as_bytes())]);
    };
    put(&yaml("v0"));
    let harness = Harness::<Inotify>::start(ConfigSource::kube(
        KubeSource::secret(NAME)
            .kubeconfig(cluster.dir.path().join("kubeconfig"))
            .backoff(FAST)
            .key(KEY),
    ));
    assert_eq!(harness.message(), "v0");
    put(&yaml("v1"));
    harness.wait_for("v1");
    let secret = "hunter2-s3cr3t";
    put(&format!("message: [{secret}\n"));
    harness.wait_for_failure("secret/ns/app/config.yaml: invalid YAML");
    assert!(cluster.server.delete_secret(NAMESPACE, NAME));
    harness.wait_for_failure("secret/ns/app: does not exist");
    let reports = format!("{:?}", harness.recorder.reports.lock().unwrap());
    let errors = watch_errors(&harness);
    assert!(
        !reports.contains(secret) && errors.iter().all(|error| !error.contains(secret)),
        "{reports} {errors:?}"
    );
    assert_eq!(harness.message(), "v1");
}

/// Content only the volume has (the API never had it) is not served while
/// the API can deliver; once the two have disagreed longer than the volume
/// may lag, it is reported, and shown by the watch until they agree.
#[test]
fn content_only_the_volume_has_is_held_and_reported() {
    let lag = Duration::from_millis(300);
    let both = Both::start_with(Access::All, |source| source.volume_lag(lag));
    let harness = &both.harness;
    // The API has listed once its watch is open: it decides from then on.
    wait_until("the API watch open", || {
        both.cluster.server.open_watches() >= 1
    });
    let before = reports_from(&harness.recorder, "inotify").len();
    both.kubelet_syncs("only-on-the-volume");
    both.wait_reported("inotify", before + 1);
    assert_eq!(harness.message(), "v0");
    wait_until("the disagreement reported", || {
        !harness.recorder.disagreements.lock().unwrap().is_empty()
    });
    let disagreement = harness.recorder.disagreements.lock().unwrap()[0].clone();
    assert_eq!(
        (
            disagreement.source,
            disagreement.authority,
            disagreement.serving
        ),
        ("inotify", "kube", "kube")
    );
    assert!(harness.watch.disagreement().is_some());
    assert_eq!(harness.history(), ["v0"]);
    both.kubelet_syncs("v0");
    wait_until("the sources agree", || {
        harness.recorder.agreements.lock().unwrap().as_slice() == ["inotify"]
    });
    assert!(harness.watch.disagreement().is_none());
}

/// The API unable to deliver for longer than the volume may lag: the
/// volume has had time to catch up with the API's last version, so what it
/// shows is served (held back until then), and reported as served from the
/// volume alone.
#[test]
fn the_volume_is_served_alone_once_the_api_has_been_down_longer_than_the_lag() {
    let lag = Duration::from_millis(300);
    let both = Both::start_with(Access::All, |source| source.volume_lag(lag));
    let harness = &both.harness;
    harness.wait_watching();
    both.cluster.set("v1");
    harness.wait_for("v1");
    both.cluster.server.set_access(Access::None);
    both.cluster.server.drop_watches();
    wait_degraded_with(harness, "403");
    // Within the lag of the API's last version a differing volume is held
    // back (it may be behind), then served once the lag has passed, without
    // another change of the volume.
    let before = reports_from(&harness.recorder, "inotify").len();
    both.kubelet_syncs("v2");
    both.wait_reported("inotify", before + 1);
    assert_eq!(harness.message(), "v1");
    harness.wait_for("v2");
    let disagreements = harness.recorder.disagreements.lock().unwrap().clone();
    assert!(
        disagreements
            .iter()
            .any(|disagreement| disagreement.serving == "inotify"),
        "{disagreements:?}"
    );
    // The API back with the same version: they agree.
    both.cluster.set("v2");
    both.cluster.server.set_access(Access::All);
    wait_until("the sources agree", || {
        !harness.recorder.agreements.lock().unwrap().is_empty()
    });
    harness.wait_watching();
    assert_eq!(harness.message(), "v2");
    assert!(
        reports_from(&harness.recorder, "inotify")
            .iter()
            .any(|(_, outcome)| matches!(outcome, ReloadOutcome::Published { .. })),
        "v2 published by the volume"
    );
}
