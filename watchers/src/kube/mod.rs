//! The Kubernetes API as a source: [`KubeSource`] and the watcher behind
//! it, a list-then-watch loop ([`reflector`]) on a current-thread tokio
//! runtime of its own thread, delivering each version's keys to the driver
//! as [`Content`](crate::watcher::Content).

mod client;
mod object;
mod reflector;
mod source;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use tokio::sync::{mpsc, oneshot};

use self::object::{Keyed, Target};
use self::reflector::Reflector;
pub use self::source::KubeSource;
pub(crate) use self::source::ObjectKind;
use crate::watcher::{JoinOnDrop, Running, Signals, Watcher};
use crate::{Backoff, ConfigSource, WatchOptions};

/// The watcher's name: the `source` of what it delivers.
pub(crate) const NAME: &str = "kube";

/// The running watch; dropping it stops the runtime and joins its thread.
pub(crate) struct KubeWatcher {
    _thread: JoinOnDrop,
}

/// The API source as a [`Watcher`] the driver runs beside (or instead of)
/// the files' watcher: written against the public trait, like any other.
pub(crate) struct ApiWatcher(pub(crate) KubeSource);

impl Watcher for ApiWatcher {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The content comes with the events: there are no files to re-read.
    fn resync(&self) -> bool {
        false
    }

    /// "Reload now" reads the object again with a GET.
    fn answers_reload_now(&self) -> bool {
        true
    }

    fn establish(
        self: Box<Self>,
        _files: &ConfigSource,
        _options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Running> {
        establish(self.0, signals).map(|running| Box::new(running) as Running)
    }
}

fn establish(source: KubeSource, signals: Signals) -> io::Result<KubeWatcher> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, stopped) = oneshot::channel();
    // "Reload now" (SIGHUP) reads the object again through the API.
    let (ask, requests) = mpsc::unbounded_channel();
    signals.on_reload_now(move || {
        let _ = ask.send(());
    });
    let thread = signals.spawn("watchers-kube", move |signals| {
        runtime.block_on(async {
            tokio::select! {
                () = run(&source, signals, requests) => {}
                _ = stopped => {}
            }
        });
    })?;
    Ok(KubeWatcher {
        _thread: JoinOnDrop::new(thread, move || {
            let _ = stop.send(());
        }),
    })
}

/// Connects (again, after a failure to configure the client), then lists
/// and watches until stopped.
async fn run(source: &KubeSource, signals: &Signals, requests: mpsc::UnboundedReceiver<()>) {
    let backoff = source.backoff_value();
    let what = format!("{} {}", source.kind().word(), source.name());
    let mut attempt = 0;
    let (client, namespace) = loop {
        match client::connect(source).await {
            Ok(connected) => break connected,
            Err(reason) => {
                attempt += 1;
                signals.degraded(format!("{what}: {reason}"));
                tokio::time::sleep(jittered(backoff, attempt)).await;
            }
        }
    };
    let target = Target {
        path: PathBuf::from(format!(
            "{}/{namespace}/{}",
            source.kind().word(),
            source.name()
        )),
        name: source.name().to_owned(),
        keys: source.keys().to_vec(),
    };
    match source.kind() {
        ObjectKind::ConfigMap => {
            reflect::<ConfigMap>(client, &namespace, target, source, signals, requests).await;
        }
        ObjectKind::Secret => {
            reflect::<Secret>(client, &namespace, target, source, signals, requests).await;
        }
    }
}

async fn reflect<K: Keyed>(
    client: kube::Client,
    namespace: &str,
    target: Target,
    source: &KubeSource,
    signals: &Signals,
    requests: mpsc::UnboundedReceiver<()>,
) {
    Reflector {
        api: Api::<K>::namespaced(client, namespace),
        target,
        signals: signals.clone(),
        backoff: source.backoff_value(),
        silence: source.silence_timeout_value(),
        requests,
        failures: 0,
        relisted_on_demand: false,
    }
    .run()
    .await;
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

/// A number in `[0, 1)`, different at every call.
fn random_fraction() -> f64 {
    RandomState::new().hash_one(Instant::now()) as f64 / (u64::MAX as f64 + 1.0)
}

/// The backoff's delay for `attempt`, plus up to half of it again at random.
fn jittered(backoff: Backoff, attempt: u32) -> Duration {
    let delay = backoff.delay(attempt);
    delay + delay.mul_f64(random_fraction() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
