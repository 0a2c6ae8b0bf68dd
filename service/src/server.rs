//! The HTTP side: routes, their state and the handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE, ETAG, VARY};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use config_reload::{Watch, WatchHealth};
use config_reload_managers::Design;

use crate::config::ServiceConfig;
use crate::metrics::Metrics;

/// The watch of this variant: the service's config read through design `D`.
pub type ServiceWatch<D> = Watch<ServiceConfig, D>;

const X_CONFIG_VERSION: HeaderName = HeaderName::from_static("x-config-version");
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OPENMETRICS: HeaderValue =
    HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
const PROMETHEUS_TEXT: HeaderValue =
    HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE);

/// What the handlers share: the running watch and the metrics.
pub struct AppState<D: Design> {
    watch: Arc<ServiceWatch<D>>,
    metrics: Arc<Metrics>,
    /// A reload running longer than this is shown in `/readyz`'s body.
    stuck_after: Duration,
}

impl<D: Design> AppState<D> {
    pub fn new(watch: Arc<ServiceWatch<D>>, metrics: Arc<Metrics>, stuck_after: Duration) -> Self {
        Self {
            watch,
            metrics,
            stuck_after,
        }
    }
}

// By hand: a derive would demand `D: Clone`.
impl<D: Design> Clone for AppState<D> {
    fn clone(&self) -> Self {
        Self {
            watch: Arc::clone(&self.watch),
            metrics: Arc::clone(&self.metrics),
            stuck_after: self.stuck_after,
        }
    }
}

/// The only state `GET /` extracts: the watch, one `Arc` clone away.
pub struct Served<D: Design>(Arc<ServiceWatch<D>>);

impl<D: Design> FromRef<AppState<D>> for Served<D> {
    fn from_ref(state: &AppState<D>) -> Self {
        Self(Arc::clone(&state.watch))
    }
}

/// The public port's routes: the config.
pub fn router<D: Design>(state: AppState<D>) -> Router {
    Router::new()
        .route("/", get(message::<D>))
        .with_state(state)
}

/// The admin port's routes: the probes and the metrics.
pub fn admin_router<D: Design>(state: AppState<D>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<D>))
        .route("/metrics", get(metrics_text::<D>))
        .with_state(state)
}

/// The config's message, its version and its content hash: one manager read.
async fn message<D: Design>(State(Served(watch)): State<Served<D>>) -> Response {
    let (body, version, etag) = watch.read(|current| {
        (
            current.message.clone(),
            current.version(),
            current.etag(&current.hash()),
        )
    });
    (
        [
            (CONTENT_TYPE, TEXT_PLAIN),
            (X_CONFIG_VERSION, HeaderValue::from(version)),
            (ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// Alive: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready while the watch still notices changes. A valid config is always
/// loaded (start-up fails without one; a failed reload keeps the last good).
/// A degraded watch is being re-established and stays ready: every replica
/// mounts the same volume, so failing them all together would take the
/// service down for a moment's missing directory; the body says why. A
/// reload stuck in a hung filesystem is said in the body too, and stays
/// ready: serving needs no I/O. A stopped watch is not ready: it would serve
/// a stale config for ever.
async fn readyz<D: Design>(State(state): State<AppState<D>>) -> (StatusCode, String) {
    let (status, mut body) = match state.watch.health() {
        WatchHealth::Watching => (StatusCode::OK, "ready\n".to_owned()),
        WatchHealth::Degraded(reason) => (
            StatusCode::OK,
            format!("ready (watch degraded: {reason})\n"),
        ),
        WatchHealth::Stopped(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the config watch stopped: {reason}\n"),
        ),
    };
    if let Some(running) = state
        .watch
        .reload_running_for()
        .filter(|running| *running >= state.stuck_after)
    {
        body.push_str(&format!(
            "a config reload has been running for {:.1}s: its filesystem may be hung; serving the last good config\n",
            running.as_secs_f64()
        ));
    }
    if let Some(disagreement) = state.watch.disagreement() {
        body.push_str(&format!(
            "the config's sources disagree: {} shows content {} does not have, for {:.0}s; serving {}'s\n",
            disagreement.source,
            disagreement.authority,
            disagreement.lasted.as_secs_f64(),
            disagreement.serving,
        ));
    }
    (status, body)
}

/// The metrics in the Prometheus text format 0.0.4, or in OpenMetrics if
/// the scraper's `Accept` prefers it (Prometheus asks for OpenMetrics
/// first; `promtool check metrics`, curl and older scrapers get the text
/// format they parse).
async fn metrics_text<D: Design>(State(state): State<AppState<D>>, headers: HeaderMap) -> Response {
    let metrics = &state.metrics;
    metrics.reload.observe_state(&state.watch);
    let accept = headers.get(ACCEPT).and_then(|value| value.to_str().ok());
    let (content_type, body) = if accept.is_some_and(prefers_openmetrics) {
        (OPENMETRICS, metrics.encode())
    } else {
        (PROMETHEUS_TEXT, metrics.encode_prometheus_text())
    };
    (
        [
            (CONTENT_TYPE, content_type),
            (VARY, HeaderValue::from_static("accept")),
        ],
        body,
    )
        .into_response()
}

/// Whether an `Accept` header ranks `application/openmetrics-text` at
/// least as high as anything the text format would answer (`text/plain`,
/// `text/*`, `*/*`), with a non-zero `q` (RFC 9110, section 12.5.1).
fn prefers_openmetrics(accept: &str) -> bool {
    let (mut openmetrics, mut text) = (0.0_f32, 0.0_f32);
    for range in accept.split(',') {
        let mut parameters = range.split(';');
        let media_type = parameters.next().unwrap_or_default().trim();
        let quality = parameters
            .filter_map(|parameter| parameter.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, value)| value.trim().parse().unwrap_or(0.0));
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            openmetrics = openmetrics.max(quality);
        } else if ["text/plain", "text/*", "*/*"]
            .iter()
            .any(|text_type| media_type.eq_ignore_ascii_case(text_type))
        {
            text = text.max(quality);
        }
    }
    openmetrics > 0.0 && openmetrics >= text
}

#[cfg(test)]
mod tests {
    use super::prefers_openmetrics;

    #[test]
    fn openmetrics_only_when_the_scraper_ranks_it_first() {
        // Prometheus 2.x's scrape header.
        assert!(prefers_openmetrics(
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;\
             version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        ));
        assert!(prefers_openmetrics("application/openmetrics-text"));
        assert!(prefers_openmetrics(
            "Application/OpenMetrics-Text; version=1.0.0, text/plain"
        ));
        assert!(!prefers_openmetrics("*/*"));
        assert!(!prefers_openmetrics("text/plain;version=0.0.4"));
        assert!(!prefers_openmetrics("application/openmetrics-text;q=0"));
        assert!(!prefers_openmetrics(
            "text/plain;q=0.9, application/openmetrics-text;q=0.5"
        ));
        assert!(!prefers_openmetrics("application/json"));
    }
}
