//! [`KubeSource`]: one ConfigMap read through the Kubernetes API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Backoff;

/// Where the kubelet puts the pod's namespace in every pod that mounts a
/// service-account token.
pub(crate) const POD_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// One ConfigMap read through the Kubernetes API: a `kube::runtime::watcher`
/// on that one object (field selector `metadata.name=NAME`), each version's
/// keys published through the same path as a file load (hash, decode,
/// validate, publish, the same observer).
///
/// Alone ([`ConfigSource::kube`](crate::ConfigSource::kube)) or beside the
/// volume the ConfigMap is mounted as
/// ([`Builder::kube`](crate::Builder::kube)): then whichever delivers a new
/// version first publishes it, and the other finds it unchanged.
///
/// ```no_run
/// use watchers::{ConfigSource, KubeSource, Watch};
///
/// #[derive(serde::Deserialize)]
/// struct AppConfig { port: u16 }
///
/// // The volume and the API together: the API for speed, the volume for
/// // when the API is unreachable.
/// let config = Watch::<AppConfig>::builder(ConfigSource::file("/etc/config/config.yaml"))
///     .kube(KubeSource::configmap("app"))
///     .start()?;
/// # Ok::<(), watchers::StartError>(())
/// ```
///
/// **Access**: the client comes from `KUBECONFIG` (or `~/.kube/config`),
/// else the pod's in-cluster service account (`kube::Config::infer`), or
/// from [`KubeSource::kubeconfig`]. It needs `get`, `list` and `watch` on
/// this one ConfigMap (a Role with `resourceNames: [NAME]`).
///
/// **Namespace**: [`KubeSource::namespace`], else the pod's own (the
/// service-account namespace file), else the kubeconfig context's.
///
/// **Failures**: the watch resumes from the last `resourceVersion` after a
/// dropped connection, re-lists after `410 Gone`, and backs off on errors
/// ([`KubeSource::backoff`]); meanwhile the health is `Degraded` with the
/// reason (unreachable, `403 Forbidden` with the API server's message),
/// and `Watching` again once a request succeeds. A deleted ConfigMap or a
/// missing key is a failed reload (`configmap/NS/NAME: does not exist`), the
/// last good config kept; a re-created one is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeSource {
    name: String,
    namespace: Option<String>,
    keys: Vec<String>,
    kubeconfig: Option<PathBuf>,
    start_timeout: Duration,
    backoff: Backoff,
}

impl KubeSource {
    /// The ConfigMap called `name`.
    pub fn configmap(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: None,
            keys: Vec::new(),
            kubeconfig: None,
            start_timeout: Duration::from_secs(30),
            backoff: Backoff {
                initial: Duration::from_millis(800),
                max: Duration::from_secs(30),
            },
        }
    }

    /// Its namespace (default: the pod's, else the kubeconfig context's).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// A key to read, after those already given; its value comes from
    /// `data` or `binaryData`. Several keys are read from one object: one
    /// consistent version. Beside a volume the keys default to the volume's
    /// file names, and must equal them (the same bytes hash the same).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Reads the client configuration from this kubeconfig file instead of
    /// `KUBECONFIG` or the in-cluster service account.
    pub fn kubeconfig(mut self, path: impl AsRef<Path>) -> Self {
        self.kubeconfig = Some(path.as_ref().to_path_buf());
        self
    }

    /// With no volume, how long [`Builder::start`](crate::Builder::start)
    /// waits for the API's first answer before it fails with the reason
    /// (default 30 s: time for a Role created beside the Deployment to be
    /// bound). Beside a volume, start never waits for the API.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The pause after a failed list or watch, doubling up to the maximum,
    /// each with up to 50% random jitter so replicas do not return together
    /// (default 800 ms … 30 s, client-go's reflector's). It starts again
    /// from the initial delay once a list or watch event succeeds.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The ConfigMap's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The keys read, in order.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub(crate) fn with_keys(mut self, keys: &[String]) -> Self {
        if self.keys.is_empty() {
            self.keys = keys.to_vec();
        }
        self
    }

    pub(crate) fn explicit_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub(crate) fn kubeconfig_path(&self) -> Option<&Path> {
        self.kubeconfig.as_deref()
    }

    pub(crate) fn start_timeout_value(&self) -> Duration {
        self.start_timeout
    }

    pub(crate) fn backoff_value(&self) -> Backoff {
        self.backoff
    }
}
