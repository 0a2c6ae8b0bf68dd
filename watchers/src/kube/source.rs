//! [`KubeSource`]: one ConfigMap or Secret read through the Kubernetes API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Backoff;

/// Where the kubelet puts the pod's namespace in every pod that mounts a
/// service-account token.
pub(crate) const POD_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The kind of object read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectKind {
    ConfigMap,
    Secret,
}

impl ObjectKind {
    /// The word in paths and messages: `configmap/NS/NAME`.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Self::ConfigMap => "configmap",
            Self::Secret => "secret",
        }
    }
}

/// One ConfigMap or Secret read through the Kubernetes API: a list, then a
/// watch of that one object (field selector `metadata.name=NAME`), each
/// version's keys published through the same path as a file load (hash,
/// decode, validate, publish, the same observer).
///
/// Alone ([`ConfigSource::kube`](crate::ConfigSource::kube)) or beside the
/// volume the object is mounted as
/// ([`ConfigSource::with_kube`](crate::ConfigSource::with_kube)):
/// then the API is the authority while it can deliver, and the volume never
/// brings back a version the API replaced (see [`KubeSource::volume_lag`]).
///
/// ```no_run
/// use config_reload::{ConfigSource, KubeSource, Watch};
///
/// #[derive(serde::Deserialize)]
/// struct AppConfig { port: u16 }
///
/// // The volume and the API together: the API for speed, the volume for
/// // when the API is unreachable.
/// let source = ConfigSource::file("/etc/config/config.yaml").with_kube(KubeSource::configmap("app"));
/// let config = Watch::<AppConfig>::builder(source).start()?;
/// # Ok::<(), config_reload::StartError>(())
/// ```
///
/// **Access**: the client comes from `KUBECONFIG` (or `~/.kube/config`),
/// else the pod's in-cluster service account (`kube::Config::infer`), or
/// from [`KubeSource::kubeconfig`]. It needs `get`, `list` and `watch` on
/// this one object (a Role with `resourceNames: [NAME]`).
///
/// **Namespace**: [`KubeSource::namespace`], else the pod's own (the
/// service-account namespace file), else the kubeconfig context's.
///
/// **Failures**: every watch is bounded by a server-side timeout shorter
/// than [`KubeSource::silence_timeout`]; a watch that sends nothing for
/// longer (a connection gone silent without closing) is abandoned and the
/// object listed again. `410 Gone`, `Too large resource version` (a server
/// whose history went back, as after an etcd restore) and an `ERROR` event
/// end the watch and re-list; the list is always taken as the truth, and
/// after a few watches that brought nothing the object is listed again to
/// compare. Every failed or at-once-ended watch backs off
/// ([`KubeSource::backoff`]); meanwhile the health is `Degraded` with the
/// reason, and `Watching` again once a watch is established. A deleted
/// object or a missing key is a failed reload (`configmap/NS/NAME: does
/// not exist`), the last good config kept; a re-created one is published.
///
/// **Secrets** ([`KubeSource::secret`]): the same, for a Secret's `data`.
/// Nothing of a Secret's content is ever put in a log line, a report or an
/// error: failures name the object and the key, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeSource {
    kind: ObjectKind,
    name: String,
    namespace: Option<String>,
    keys: Vec<String>,
    kubeconfig: Option<PathBuf>,
    start_timeout: Duration,
    backoff: Backoff,
    silence_timeout: Duration,
    volume_lag: Duration,
}

/// [`KubeSource::silence_timeout`]'s default: a silent connection is
/// noticed, and a change made meanwhile served, within a minute.
pub(crate) const DEFAULT_SILENCE_TIMEOUT: Duration = Duration::from_secs(45);

/// [`KubeSource::volume_lag`]'s default: the kubelet's sync period (60 s,
/// requeued with up to 50 % jitter: 90 s) and its cache's delay, rounded up.
pub(crate) const DEFAULT_VOLUME_LAG: Duration = Duration::from_secs(120);

impl KubeSource {
    /// The ConfigMap called `name`; a key's value comes from `data` or
    /// `binaryData`.
    pub fn configmap(name: impl Into<String>) -> Self {
        Self::new(ObjectKind::ConfigMap, name.into())
    }

    /// The Secret called `name`; a key's value comes from its `data`
    /// (decoded from base64 by the client). Its content never appears in a
    /// log, a report or an error.
    pub fn secret(name: impl Into<String>) -> Self {
        Self::new(ObjectKind::Secret, name.into())
    }

    fn new(kind: ObjectKind, name: String) -> Self {
        Self {
            kind,
            name,
            namespace: None,
            keys: Vec::new(),
            kubeconfig: None,
            start_timeout: Duration::from_secs(30),
            backoff: Backoff {
                initial: Duration::from_millis(800),
                max: Duration::from_secs(30),
            },
            silence_timeout: DEFAULT_SILENCE_TIMEOUT,
            volume_lag: DEFAULT_VOLUME_LAG,
        }
    }

    /// Its namespace (default: the pod's, else the kubeconfig context's).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// A key to read, after those already given. Several keys are read
    /// from one object: one consistent version. Beside a volume the keys
    /// default to the volume's file names, and must equal them (the same
    /// bytes hash the same).
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

    /// The pause after a failed list, a failed watch, or a watch the server
    /// ended at once: doubling up to the maximum, each with up to 50 %
    /// random jitter so replicas do not return together (default 800 ms …
    /// 30 s, client-go's reflector's). It starts again from the initial
    /// delay once a watch has lasted a second or brought an event.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long a watch may stay silent (no event, no bookmark, no end)
    /// before its connection is presumed dead, abandoned, and the object
    /// listed again: a NAT or conntrack entry dropped, a load balancer's
    /// idle flow reaped, a partition, none of which closes the socket.
    /// Default 45 s: a change made while the connection is silent is served
    /// within a minute. Each watch asks the server to end it (its
    /// `timeoutSeconds`) after a half to two thirds of this, so a live
    /// server always speaks or ends it first; a request that gets no answer
    /// for this long is abandoned too. At least 2 s.
    pub fn silence_timeout(mut self, timeout: Duration) -> Self {
        self.silence_timeout = timeout.max(Duration::from_secs(2));
        self
    }

    /// Beside a volume: how far behind the API the mounted volume may be,
    /// the kubelet's worst case (default 2 min: its 60–90 s sync period and
    /// its cache's delay). While the API can deliver, only its version is
    /// served and the volume's, when it differs, is held back; when the two
    /// disagree for longer than this, it is reported
    /// ([`Observer::sources_disagree`](crate::Observer::sources_disagree)).
    /// Once the API has been unable to deliver for longer than this since
    /// its last version, the volume has had time to catch up with it, and
    /// what the volume shows is served.
    pub fn volume_lag(mut self, lag: Duration) -> Self {
        self.volume_lag = lag;
        self
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The keys read, in order.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub(crate) fn kind(&self) -> ObjectKind {
        self.kind
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

    pub(crate) fn silence_timeout_value(&self) -> Duration {
        self.silence_timeout
    }

    pub(crate) fn volume_lag_value(&self) -> Duration {
        self.volume_lag
    }
}
