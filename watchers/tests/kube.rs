//! The Kubernetes API as a source, against an emulated API server
//! (`apiserver-emu`, written from the API documentation: no real one can run
//! here): list then watch, bookmarks, `410 Gone`, dropped connections,
//! `403`, a deleted ConfigMap, bad values, `binaryData`, several keys, and
//! the API beside the kubelet's volume.

mod common;
mod kube_support;

use std::time::Duration;

use apiserver_emu::Access;
use common::{Harness, Inotify, TestConfig, decode_test_config, wait_until, yaml};
use config_reload::{
    Backoff, ConfigSource, DecodeError, Files, KubeSource, ReloadOutcome, StartError, Trigger,
    Watch, WatchHealth,
};
use kube_support::*;

/// The initial list names the one object (RBAC `resourceNames` allows
/// nothing else), the watch starts from the list's `resourceVersion` with
/// bookmarks, and the namespace is the kubeconfig context's.
#[test]
fn lists_then_watches_from_the_lists_resource_version() {
    let cluster = Cluster::start();
    cluster
        .server
        .set_access(Access::ResourceNames(vec![NAME.into()]));
    let listed_at = cluster.set("v0");
    let harness = watch_api(&cluster);
    assert_eq!(harness.message(), "v0");
    assert_eq!(harness.watch.watcher(), "kube");
    cluster.set("v1");
    harness.wait_for("v1");
    let requests = cluster.requests();
    let list = lists(&requests)[0];
    assert_eq!(list.path, "/api/v1/namespaces/ns/configmaps");
    assert_eq!(list.query["fieldSelector"], "metadata.name=app");
    let watch = watches(&requests)[0];
    assert_eq!(
        watch.resource_version(),
        Some(listed_at.to_string().as_str())
    );
    assert_eq!(watch.query["allowWatchBookmarks"], "true");
    assert_eq!(watch.query["fieldSelector"], "metadata.name=app");
    assert!(
        requests.iter().all(|request| request.status == 200),
        "{requests:?}"
    );
    wait_last_report(&harness.recorder, "kube", Trigger::Event, published);
    assert_eq!(
        reports_from(&harness.recorder, "kube")[0].0,
        Trigger::Initial
    );
}

/// Writes to other objects move the store's revision; a bookmark tells the
/// client, so a watch ended by the server resumes from the bookmark's
/// version, not from the last change of `app`.
#[test]
fn a_bookmark_moves_the_resume_point() {
    let cluster = Cluster::start();
    let changed_at = cluster.set("v0");
    let harness = watch_api(&cluster);
    wait_until("the watch open", || cluster.server.open_watches() == 1);
    for n in 0..3 {
        cluster
            .server
            .apply(NAMESPACE, "other", &[("k", n.to_string())]);
    }
    let bookmarked_at = cluster.server.revision();
    assert!(bookmarked_at > changed_at);
    cluster.server.bookmark();
    cluster.server.end_watches();
    wait_until("the watch resumed", || {
        watches(&cluster.requests()).len() == 2
    });
    let requests = cluster.requests();
    assert_eq!(
        watches(&requests)[1].resource_version(),
        Some(bookmarked_at.to_string().as_str())
    );
    assert_eq!(lists(&requests).len(), 1, "resumed, not re-listed");
    cluster.set("v1");
    harness.wait_for("v1");
}

/// A connection cut mid-stream: the watch resumes from the last version seen
/// (no re-list), and a change made meanwhile arrives. kube-rs takes the
/// cut body (`unexpected EOF during chunk`) for a resumable end, as it does
/// the server's timeout: nothing was lost, so nothing is reported.
#[test]
fn a_dropped_connection_resumes_from_the_last_resource_version() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let harness = watch_api(&cluster);
    let seen = cluster.set("v1");
    harness.wait_for("v1");
    cluster.server.drop_watches();
    cluster.set("v2");
    harness.wait_for("v2");
    harness.wait_watching();
    let requests = cluster.requests();
    assert_eq!(
        lists(&requests).len(),
        1,
        "resumed, not re-listed: {requests:?}"
    );
    assert_eq!(
        watches(&requests)[1].resource_version(),
        Some(seen.to_string().as_str())
    );
    assert!(harness.recorder.failures().is_empty());
}

/// History compacted past the client's version while it was away: the
/// resumed watch gets `410 Gone` (an `ERROR` event), the client re-lists and
/// finds the change it missed, counted as found by a resync; the `410`
/// itself is no failure.
#[test]
fn gone_410_relists_and_finds_what_was_missed() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let harness = watch_api(&cluster);
    cluster.set("v1");
    harness.wait_for("v1");
    // Keep the client out while the history moves on.
    cluster.server.set_access(Access::None);
    cluster.server.drop_watches();
    wait_degraded_with(&harness, "403");
    cluster.set("v2");
    cluster.server.compact();
    cluster.server.set_access(Access::All);
    harness.wait_for("v2");
    // `410` is the protocol's way to say "list again", not a failure.
    let errors = harness.recorder.watch_errors.lock().unwrap().clone();
    assert!(
        errors.iter().all(|error| error.contains("403")),
        "{errors:?}"
    );
    let requests = cluster.requests();
    let relisted = lists(&requests)
        .into_iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(
        relisted, 2,
        "listed at start and after the 410: {requests:?}"
    );
    wait_last_report(&harness.recorder, "kube", Trigger::Resync, published);
    wait_until("the re-list's change counted", || {
        harness
            .recorder
            .resync_changes
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1
    });
    harness.wait_watching();
}

/// RBAC taken away: `Degraded` with the API server's reason, the last good
/// config served; given back: `Watching`, and what changed meanwhile.
#[test]
fn forbidden_is_degraded_with_the_reason_then_recovers() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let harness = watch_api(&cluster);
    cluster.server.set_access(Access::None);
    cluster.server.drop_watches();
    let health = wait_degraded_with(&harness, "forbidden");
    assert!(
        health.contains("configmap/ns/app: cannot watch: configmaps \"app\" is forbidden")
            && health.contains("(403 Forbidden)"),
        "{health}"
    );
    cluster.set("v1");
    assert_eq!(harness.message(), "v0");
    cluster.server.set_access(Access::All);
    harness.wait_for("v1");
    harness.wait_watching();
    assert!(
        harness
            .recorder
            .watch_restored
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
}

/// kube's own backoff restarts at every re-list (its `Init` event resets
/// it), so a lasting `403` would be asked about every initial delay; ours
/// doubles: each pause is at least the backoff's delay for its attempt.
#[test]
fn a_lasting_403_backs_off_exponentially() {
    let cluster = Cluster::start();
    cluster.set("v0");
    cluster.server.set_access(Access::None);
    let backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_secs(1),
    };
    let started = Watch::<TestConfig>::builder(ConfigSource::kube(
        cluster
            .source()
            .key(KEY)
            .backoff(backoff)
            .start_timeout(Duration::from_millis(1600)),
    ))
    .start();
    let Err(StartError::NoFirstVersion { reason, .. }) = started else {
        panic!("expected no first version");
    };
    assert!(
        reason.contains("cannot list") && reason.contains("403"),
        "{reason}"
    );
    let requests = cluster.requests();
    let times: Vec<_> = requests.iter().map(|request| request.at).collect();
    assert!(times.len() >= 4, "{requests:?}");
    for (attempt, pair) in times.windows(2).enumerate() {
        let pause = pair[1] - pair[0];
        let delay = backoff.delay(attempt as u32 + 1);
        assert!(pause >= delay, "pause {attempt}: {pause:?} < {delay:?}");
    }
}

#[test]
fn a_start_without_the_configmap_or_the_api_fails_clearly() {
    let cluster = Cluster::start();
    let started =
        Watch::<TestConfig>::builder(ConfigSource::kube(cluster.source().key(KEY))).start();
    let Err(StartError::InitialLoad(error)) = started else {
        panic!("expected a failed initial load");
    };
    assert_eq!(error.to_string(), "configmap/ns/app: does not exist");

    let unreachable = tempfile::tempdir().unwrap();
    let path = unreachable.path().join("kubeconfig");
    // A port just freed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &path,
        std::fs::read_to_string(cluster.dir.path().join("kubeconfig"))
            .unwrap()
            .replace(&cluster.server.url(), &format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let started = Watch::<TestConfig>::builder(ConfigSource::kube(
        KubeSource::configmap(NAME)
            .kubeconfig(&path)
            .key(KEY)
            .backoff(FAST)
            .start_timeout(Duration::from_millis(500)),
    ))
    .start();
    let Err(StartError::NoFirstVersion { reason, .. }) = started else {
        panic!("expected no first version");
    };
    assert!(
        reason.contains("cannot list") && reason.contains("onnect"),
        "{reason}"
    );
}

/// Deleted: reported as missing, the last good config kept; re-created:
/// published.
#[test]
fn a_deleted_configmap_is_reported_and_a_recreated_one_published() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let harness = watch_api(&cluster);
    assert!(cluster.server.delete(NAMESPACE, NAME));
    harness.wait_for_failure("configmap/ns/app: does not exist");
    assert_eq!(harness.message(), "v0");
    cluster.set("v1");
    harness.wait_for("v1");
}

/// A bad value is rejected as a bad file is: the reason without the
/// content, the last good config kept; the next good value published.
#[test]
fn a_bad_value_is_rejected_and_the_last_good_kept() {
    let cluster = Cluster::start();
    cluster.set("v0");
    let harness = watch_api(&cluster);
    let secret = "s3cr3t-token";
    cluster
        .server
        .apply(NAMESPACE, NAME, &[(KEY, format!("message: [{secret}\n"))]);
    harness.wait_for_failure("configmap/ns/app/config.yaml: invalid YAML");
    cluster.set("");
    harness.wait_for_failure("message must not be empty");
    cluster.server.apply(NAMESPACE, NAME, &[(KEY, "")]);
    harness.wait_for_failure("configmap/ns/app/config.yaml: is empty");
    assert_eq!(harness.message(), "v0");
    assert!(
        harness
            .recorder
            .failures()
            .iter()
            .all(|reason| !reason.contains(secret)),
        "{:?}",
        harness.recorder.failures()
    );
    cluster.set("v1");
    harness.wait_for("v1");
}

/// A key from `binaryData` and one from `data`, decoded together.
#[test]
fn binary_data_keys_are_read() {
    let cluster = Cluster::start();
    let put = |message: &str| {
        cluster.server.apply_with_binary(
            NAMESPACE,
            NAME,
            &[("text.yaml", yaml(message))],
            &[("blob.yaml", yaml(message).into_bytes())],
        );
    };
    put("v0");
    let source = ConfigSource::kube(cluster.source().key("text.yaml").key("blob.yaml"));
    let harness = Harness::<Inotify>::start_decoding(source, same_message, common::options());
    put("v1");
    harness.wait_for("v1");
    assert!(harness.recorder.failures().is_empty());
}

/// Both keys must carry one message: a snapshot mixing two versions fails.
fn same_message(files: &Files) -> Result<TestConfig, DecodeError> {
    let first = decode_test_config(files)?;
    let second: TestConfig = config_reload::Format::Yaml.parse(&files.entries[1].1)?;
    if first != second {
        return Err("keys from two versions".into());
    }
    Ok(first)
}

/// Several keys of one object are one version: never a mix, however fast
/// they change.
#[test]
fn several_keys_are_one_snapshot() {
    let cluster = Cluster::start();
    let put = |message: &str| {
        cluster.server.apply(
            NAMESPACE,
            NAME,
            &[("a.yaml", yaml(message)), ("b.yaml", yaml(message))],
        );
    };
    put("v0");
    let source = ConfigSource::kube(cluster.source().key("a.yaml").key("b.yaml"));
    let harness = Harness::<Inotify>::start_decoding(source, same_message, common::options());
    for n in 1..=50 {
        put(&format!("v{n}"));
    }
    harness.wait_for("v50");
    assert!(
        harness.recorder.failures().is_empty(),
        "{:?}",
        harness.recorder.failures()
    );
}

#[test]
fn the_api_publishes_first_and_the_volume_then_finds_it_unchanged() {
    let both = Both::start(Access::All);
    let harness = &both.harness;
    assert_eq!(
        harness
            .watch
            .sources()
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>(),
        ["inotify", "kube"]
    );
    wait_until("the API watch open", || {
        both.cluster.server.open_watches() == 1
    });
    let before = reports_from(&harness.recorder, "kube").len();
    both.cluster.set("v1");
    harness.wait_for("v1");
    both.wait_reported("kube", before + 1);
    let published = reports_from(&harness.recorder, "kube");
    let (trigger, ReloadOutcome::Published { hash, .. }) = published.last().unwrap().clone() else {
        panic!("the API published: {published:?}");
    };
    assert_eq!(trigger, Trigger::Event);
    let before = reports_from(&harness.recorder, "inotify").len();
    both.kubelet_syncs("v1");
    both.wait_reported("inotify", before + 1);
    assert!(matches!(
        reports_from(&harness.recorder, "inotify").last().unwrap(),
        (Trigger::Event, ReloadOutcome::Unchanged)
    ));
    assert_eq!(harness.history(), ["v0", "v1"], "published once");
    let skews = harness.recorder.skews.lock().unwrap().clone();
    assert_eq!(skews.len(), 1, "{skews:?}");
    assert_eq!(
        (skews[0].source, skews[0].published_by, skews[0].hash),
        ("inotify", "kube", hash)
    );
    // Both measured from the ConfigMap's write (whole seconds).
    let reports = harness.recorder.reports.lock().unwrap().clone();
    let propagation = |source: &str| {
        reports
            .iter()
            .rfind(|report| report.source == source)
            .and_then(|report| report.propagation)
    };
    assert!(
        propagation("kube").is_some() && propagation("inotify").is_some(),
        "{reports:?}"
    );
    assert!(propagation("inotify") >= propagation("kube"));
}

/// The volume any number of versions behind (1,000 here, far more than the
/// ledger remembers): the kubelet writes versions the API replaced long
/// ago; none is published again, and a skew is measured only once the
/// volume catches up.
#[test]
fn a_volume_far_behind_the_api_never_brings_back_an_older_version() {
    let both = Both::start(Access::All);
    let harness = &both.harness;
    for n in 1..=1000 {
        both.cluster.set(&format!("v{n}"));
    }
    harness.wait_for("v1000");
    let before = reports_from(&harness.recorder, "inotify").len();
    for (n, lagging) in ["v1", "v500", "v999"].into_iter().enumerate() {
        both.kubelet_syncs(lagging);
        both.wait_reported("inotify", before + n + 1);
        assert_eq!(
            harness.message(),
            "v1000",
            "after the volume showed {lagging}"
        );
    }
    both.kubelet_syncs("v1000");
    both.wait_reported("inotify", before + 4);
    let history = harness.history();
    assert_eq!(
        history.iter().filter(|message| *message == "v1000").count(),
        1,
        "v1000 published once and nothing after it: {history:?}"
    );
    assert_eq!(history.last().map(String::as_str), Some("v1000"));
    let skews = harness.recorder.skews.lock().unwrap().clone();
    assert_eq!(skews.len(), 1, "{skews:?}");
    assert_eq!(
        (skews[0].source, skews[0].published_by),
        ("inotify", "kube")
    );
}

/// RBAC denies the API: the watch starts from the volume, says why in its
/// health, and the volume alone carries every change.
#[test]
fn the_volume_carries_on_when_the_api_is_forbidden() {
    let both = Both::start(Access::None);
    let harness = &both.harness;
    let health = wait_degraded_with(harness, "kube: configmap/ns/app: cannot list");
    assert!(health.contains("403"), "{health}");
    both.kubelet_syncs("v1");
    harness.wait_for("v1");
    wait_last_report(&harness.recorder, "inotify", Trigger::Event, published);
    assert_eq!(
        harness.watch.sources()[0],
        ("inotify", WatchHealth::Watching)
    );
    // The API allowed again: it finds the volume's version, nothing new,
    // and its lag is reported.
    both.cluster.set("v1");
    both.cluster.server.set_access(Access::All);
    wait_until("the API's skew", || {
        !harness.recorder.skews.lock().unwrap().is_empty()
    });
    let skew = harness.recorder.skews.lock().unwrap()[0].clone();
    assert_eq!((skew.source, skew.published_by), ("kube", "inotify"));
    harness.wait_watching();
    assert_eq!(harness.history(), ["v0", "v1"]);
}
