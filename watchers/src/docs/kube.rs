//! The Kubernetes API as a source (feature `kube`).
//!
//! `KubeSource` reads one ConfigMap or Secret through the API (a
//! list-then-watch loop on kube-rs's client, on a small tokio runtime of its
//! own thread) and hands each version's keys to the driver, which hashes,
//! decodes, validates, publishes and reports them exactly as a load of the
//! files ([`watcher::Signals::content`]). Alone
//! (`Watch::builder(ConfigSource::kube(..))`) a change is served about a
//! millisecond after the API server sends it, instead of the kubelet's
//! minute. A watch that goes silent without closing is abandoned after
//! `KubeSource::silence_timeout` (45 s), a server whose history went back
//! (an etcd restore) is listed again, and every failed watch backs off.
//! Beside the volume (`ConfigSource::with_kube`) the API decides while it can
//! deliver: the volume never brings back a version the API replaced,
//! however far behind; each report says its [`ReloadReport::source`], the
//! [`Observer::skew`] between the two, the propagation delay from the
//! object's write, and [`Observer::sources_disagree`] when they differ for
//! longer than the volume may lag. If the API is unreachable or forbidden,
//! the volume carries on and the health says why. `docs/kube.md` has the
//! model of a real cluster, the failure modes, RBAC and the load.

// Links in the text resolve against the crate root.
#[allow(unused_imports)]
use crate::*;
