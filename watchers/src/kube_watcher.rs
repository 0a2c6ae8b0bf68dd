//! The strategy behind [`KubeSource`]: kube-rs's `watcher` on one ConfigMap,
//! on a current-thread tokio runtime of its own thread, delivering each
//! version's keys to the driver as [`Content`].
//!
//! kube's `watcher` does the protocol: list, then watch from the list's
//! `resourceVersion`, resume from the last one seen after a dropped
//! connection, re-list after `410 Gone`. What is added here: the pause after
//! an error (kube's `StreamBackoff` resets on every `Ok` item, and a re-list
//! begins with one, so after a `403` it would never grow; kube-rs docs:
//! "apply your own backoff by not polling the stream"), and the health: an
//! error turns it `Degraded`, the next successful HTTP response (seen by a
//! layer on the client, since kube's watcher says nothing when a resumed
//! watch starts) turns it `Watching`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::client::{ClientBuilder, DynBody};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use tokio::sync::oneshot;

use crate::kube_source::POD_NAMESPACE_FILE;
use crate::strategy::{Content, Erased, Signals};
use crate::{Backoff, Files, KubeSource, LoadError, LoadErrorKind, Trigger};

/// The strategy's name: the `source` of what it delivers.
pub(crate) const NAME: &str = "kube";

/// The running watch; dropping it stops the runtime and joins its thread.
pub(crate) struct KubeWatcher {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for KubeWatcher {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The API source as a strategy the driver runs beside (or instead of) a
/// file strategy.
pub(crate) fn strategy(source: KubeSource) -> Erased {
    Erased {
        name: NAME,
        trigger: Trigger::Event,
        resync: false,
        establish: Box::new(move |_files, _options, signals| {
            establish(source, signals).map(|watcher| Box::new(watcher) as _)
        }),
    }
}

fn establish(source: KubeSource, signals: Signals) -> io::Result<KubeWatcher> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, stopped) = oneshot::channel();
    let thread = signals.spawn("watchers-kube", move |signals| {
        runtime.block_on(async {
            tokio::select! {
                () = run(&source, signals) => {}
                _ = stopped => {}
            }
        });
    })?;
    Ok(KubeWatcher {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Watches until stopped: connects (again, after a failure to configure the
/// client), then follows kube's watcher.
async fn run(source: &KubeSource, signals: &Signals) {
    let backoff = source.backoff_value();
    let mut attempt = 0;
    let (api, target) = loop {
        match connect(source, signals).await {
            Ok(connected) => break connected,
            Err(reason) => {
                attempt += 1;
                signals.degraded(format!("configmap {}: {reason}", source.name()));
                tokio::time::sleep(jittered(backoff, attempt)).await;
            }
        }
    };
    let config = watcher::Config::default().fields(&format!("metadata.name={}", source.name()));
    let mut events = watcher::watcher(api, config).boxed();
    let mut listed: Option<ConfigMap> = None;
    let mut failures = 0;
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => listed = None,
            Ok(Event::InitApply(object)) => listed = Some(object),
            Ok(Event::InitDone) => {
                failures = 0;
                signals.content(target.content(listed.take().as_ref(), true));
            }
            Ok(Event::Apply(object)) => {
                failures = 0;
                signals.content(target.content(Some(&object), false));
            }
            Ok(Event::Delete(_)) => {
                failures = 0;
                signals.content(target.content(None, false));
            }
            Err(error) => {
                failures += 1;
                signals.degraded(format!("{}: {}", target.path.display(), describe(&error)));
                tokio::time::sleep(jittered(backoff, failures)).await;
            }
        }
    }
}

/// What is watched, resolved: the object's path for messages and its keys.
struct Target {
    /// `configmap/NAMESPACE/NAME`.
    path: PathBuf,
    name: String,
    keys: Vec<String>,
}

impl Target {
    /// The keys of `object` (`None`: there is no such ConfigMap).
    fn content(&self, object: Option<&ConfigMap>, listed: bool) -> Content {
        let object = object.filter(|object| object.metadata.name.as_deref() == Some(&self.name));
        let files = match object {
            None => Err(LoadError::new(&self.path, LoadErrorKind::Missing)),
            Some(object) => self
                .keys
                .iter()
                .map(|key| {
                    let text = object.data.as_ref().and_then(|data| data.get(key));
                    let binary = object.binary_data.as_ref().and_then(|data| data.get(key));
                    match (text, binary) {
                        (Some(text), _) => Ok((key.clone(), text.as_bytes().to_vec())),
                        (None, Some(bytes)) => Ok((key.clone(), bytes.0.clone())),
                        (None, None) => {
                            Err(LoadError::new(self.path.join(key), LoadErrorKind::Missing))
                        }
                    }
                })
                .collect::<Result<_, _>>()
                .map(|entries| Files { entries }),
        };
        Content {
            path: self.path.clone(),
            files,
            written_at: object.and_then(last_written),
            listed,
        }
    }
}

/// The ConfigMap's last write: the latest of its `managedFields` times
/// (whole seconds: `metav1.Time`'s precision).
fn last_written(object: &ConfigMap) -> Option<SystemTime> {
    let entries = object.metadata.managed_fields.as_ref()?;
    let latest = entries
        .iter()
        .filter_map(|entry| entry.time.as_ref())
        .max()?;
    let since_epoch = Duration::new(
        u64::try_from(latest.0.as_second()).ok()?,
        u32::try_from(latest.0.subsec_nanosecond()).ok()?,
    );
    Some(UNIX_EPOCH + since_epoch)
}

/// The client, the namespace, and the `Api` of ConfigMaps there; every
/// successful HTTP response the client gets marks the watch healthy.
async fn connect(
    source: &KubeSource,
    signals: &Signals,
) -> Result<(Api<ConfigMap>, Target), String> {
    let config = match source.kubeconfig_path() {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|error| {
                format!(
                    "cannot read kubeconfig {}: {}",
                    path.display(),
                    chain(&error)
                )
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|error| format!("kubeconfig {}: {}", path.display(), chain(&error)))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|error| format!("no Kubernetes client configuration: {}", chain(&error)))?,
    };
    let namespace = match source.explicit_namespace() {
        Some(namespace) => namespace.to_owned(),
        None => std::fs::read_to_string(POD_NAMESPACE_FILE)
            .ok()
            .map(|namespace| namespace.trim().to_owned())
            .filter(|namespace| !namespace.is_empty())
            .unwrap_or_else(|| config.default_namespace.clone()),
    };
    let healthy = signals.clone();
    let observe =
        tower::util::MapResponseLayer::new(move |response: http::Response<Box<DynBody>>| {
            if response.status().is_success() {
                healthy.watching();
            }
            response
        });
    let client = ClientBuilder::try_from(config)
        .map_err(|error| format!("cannot build a Kubernetes client: {}", chain(&error)))?
        .with_layer(&observe)
        .build();
    let target = Target {
        path: PathBuf::from(format!("configmap/{namespace}/{}", source.name())),
        name: source.name().to_owned(),
        keys: source.keys().to_vec(),
    };
    Ok((Api::namespaced(client, &namespace), target))
}

/// Why the watch failed, for an operator: the API server's status (its
/// message never quotes the object), or the transport's error chain.
fn describe(error: &watcher::Error) -> String {
    let (doing, client_error) = match error {
        watcher::Error::InitialListFailed(error) => ("cannot list", error),
        watcher::Error::WatchStartFailed(error) => ("cannot watch", error),
        watcher::Error::WatchFailed(error) => ("the watch connection broke", error),
        watcher::Error::WatchError(status) if status.code == 410 => {
            return format!(
                "the watch's resourceVersion expired (410 Gone: {}); re-listing",
                status.message
            );
        }
        watcher::Error::WatchError(status) => {
            return format!(
                "the watch failed ({} {}: {})",
                status.code, status.reason, status.message
            );
        }
        other => return chain(other),
    };
    match client_error {
        kube::Error::Api(status) => format!(
            "{doing}: {} ({} {})",
            status.message, status.code, status.reason
        ),
        other => format!("{doing}: {}", chain(other)),
    }
}

/// An error and its sources, each once: "connect: tcp connect error: refused".
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The backoff's delay for `attempt`, plus up to half of it again at random.
fn jittered(backoff: Backoff, attempt: u32) -> Duration {
    let delay = backoff.delay(attempt);
    let random = RandomState::new().hash_one(Instant::now()) as f64 / u64::MAX as f64;
    delay + delay.mul_f64(random / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, Time};

    fn target(keys: &[&str]) -> Target {
        Target {
            path: PathBuf::from("configmap/ns/app"),
            name: "app".into(),
            keys: keys.iter().map(|key| key.to_string()).collect(),
        }
    }

    fn configmap(data: &[(&str, &str)], binary: &[(&str, &[u8])], times: &[i64]) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("app".into()),
                managed_fields: Some(
                    times
                        .iter()
                        .map(|second| ManagedFieldsEntry {
                            time: Some(Time(
                                k8s_openapi::jiff::Timestamp::from_second(*second).unwrap(),
                            )),
                            ..ManagedFieldsEntry::default()
                        })
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            binary_data: Some(
                binary
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect(),
            ),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn keys_come_from_data_or_binary_data_in_the_source_order() {
        let object = configmap(&[("b.yaml", "b: 1\n")], &[("a.bin", b"\x00\x01")], &[]);
        let content = target(&["b.yaml", "a.bin"]).content(Some(&object), false);
        assert_eq!(
            content.files.unwrap().entries,
            vec![
                ("b.yaml".to_owned(), b"b: 1\n".to_vec()),
                ("a.bin".to_owned(), vec![0, 1])
            ]
        );
    }

    #[test]
    fn a_missing_object_or_key_is_named() {
        let missing = target(&["a.yaml"]).content(None, false).files.unwrap_err();
        assert_eq!(missing.to_string(), "configmap/ns/app: does not exist");
        let object = configmap(&[("other.yaml", "x: 1\n")], &[], &[]);
        let key = target(&["a.yaml"])
            .content(Some(&object), false)
            .files
            .unwrap_err();
        assert_eq!(key.to_string(), "configmap/ns/app/a.yaml: does not exist");
    }

    #[test]
    fn the_last_write_is_the_latest_managed_fields_time() {
        let object = configmap(&[], &[], &[1_700_000_100, 1_700_000_300, 1_700_000_200]);
        assert_eq!(
            last_written(&object),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_300))
        );
        assert_eq!(last_written(&configmap(&[], &[], &[])), None);
    }

    #[test]
    fn jitter_adds_at_most_half() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for attempt in 1..6 {
            let delay = jittered(backoff, attempt);
            let base = backoff.delay(attempt);
            assert!(
                delay >= base && delay <= base + base / 2,
                "{delay:?} for {base:?}"
            );
        }
    }
}
