//! The client: kube's configuration, the namespace, and an HTTP stack whose
//! sockets have TCP keepalive on.
//!
//! kube's default stack (`ClientBuilder::try_from`) builds its
//! `HttpConnector` without keepalive and offers no way to set it; its docs
//! say to build a custom stack for anything else, from the same public
//! layers (`ConfigExt`), which is what this does. Keepalive makes the
//! kernel probe an idle watch connection, so one whose peer is gone (a
//! dropped conntrack entry answered by a reset, a host that vanished) fails
//! within about 30 s instead of hanging; a peer that still acknowledges
//! but sends nothing is what the watch's silence deadline is for.

use std::time::Duration;

use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::{ClientBuilder, ConfigExt};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tower::{BoxError, ServiceBuilder};

use super::chain;
use super::source::POD_NAMESPACE_FILE;
use crate::KubeSource;

/// Idle time before the first keepalive probe, the interval between probes
/// and how many go unanswered before the connection is dropped: a dead
/// peer is noticed 15 + 3 × 5 = 30 s after the connection went quiet.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_PROBES: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for `source` and the namespace its object lives in.
pub(crate) async fn connect(source: &KubeSource) -> Result<(kube::Client, String), String> {
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
    let client = build(&config)
        .map_err(|error| format!("cannot build a Kubernetes client: {}", chain(&error)))?;
    Ok((client, namespace))
}

/// kube's stack (base URI, authentication, extra headers) over a connector
/// with keepalive and a connect timeout.
fn build(config: &kube::Config) -> Result<kube::Client, kube::Error> {
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_keepalive(Some(KEEPALIVE_IDLE));
    connector.set_keepalive_interval(Some(KEEPALIVE_INTERVAL));
    connector.set_keepalive_retries(Some(KEEPALIVE_PROBES));
    let connector = config.rustls_https_connector_with_connector(connector)?;
    let http = HttpClient::builder(TokioExecutor::new()).build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(http);
    Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
}
