//! Prometheus metrics, per server (no global recorder, so several servers in one process, as in
//! tests, never share counters): HTTP requests and latencies by route, tokens issued, OAuth
//! errors. `GET /metrics` renders them in the Prometheus text format.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::state::AppState;

/// Latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// This server's metrics.
pub struct Telemetry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .map_or_else(
                |_| PrometheusBuilder::new().build_recorder(),
                PrometheusBuilder::build_recorder,
            );
        let handle = recorder.handle();
        Self { recorder, handle }
    }
}

impl Telemetry {
    /// Runs `f` with this server's recorder, so the `metrics` macros inside record here.
    pub fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, f);
    }

    /// Counts an issued token.
    pub fn token_issued(&self, grant: &'static str, token_type: &'static str) {
        self.record(|| {
            metrics::counter!("tessera_tokens_issued_total", "grant" => grant, "token_type" => token_type)
                .increment(1)
        });
    }

    /// Counts an OAuth error answered by an endpoint.
    pub fn oauth_error(&self, endpoint: &'static str, error: &'static str) {
        self.record(|| {
            metrics::counter!("tessera_oauth_errors_total", "endpoint" => endpoint, "error" => error)
                .increment(1)
        });
    }

    /// Counts a Conditional Access decision by outcome (`allow`, `block`, `interrupt`).
    pub fn policy_outcome(&self, outcome: &'static str) {
        self.record(|| {
            metrics::counter!("tessera_policy_decisions_total", "outcome" => outcome).increment(1)
        });
    }

    /// Counts a SET acknowledged by its receiver (`push` or `poll`).
    pub fn set_delivered(&self, method: &'static str) {
        self.record(|| {
            metrics::counter!("tessera_ssf_sets_delivered_total", "method" => method).increment(1)
        });
    }

    /// Records a pushed SET: its outcome (`delivered`, `refused`, `retry`) and, when the receiver
    /// accepted it, the time from the event to the acknowledgement.
    pub fn set_pushed(&self, outcome: &'static str, latency: Option<f64>) {
        self.record(|| {
            metrics::counter!("tessera_ssf_push_attempts_total", "outcome" => outcome).increment(1);
            if let Some(seconds) = latency {
                metrics::counter!("tessera_ssf_sets_delivered_total", "method" => "push").increment(1);
                metrics::histogram!("tessera_ssf_delivery_latency_seconds").record(seconds);
            }
        });
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Middleware: counts requests and times them, labelled by the matched route (never the raw
/// path, so unknown URLs cannot blow up the number of series).
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed().as_secs_f64();
    state.telemetry.record(|| {
        metrics::counter!("tessera_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status)
            .increment(1);
        metrics::histogram!("tessera_http_request_duration_seconds", "route" => route, "method" => method).record(elapsed);
    });
    response
}

/// `GET /metrics` on the main listener: for loopback clients, or for the configured Bearer
/// token; not at all when metrics have a listener of their own (`404`, as for any unknown
/// path).
pub async fn metrics_on_main(
    State(state): State<Arc<AppState>>,
    extensions: axum::http::Extensions,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let config = &state.config.metrics;
    if config.listen.is_some() {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    let allowed = match &config.token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| {
                aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), token.as_bytes()).is_ok()
            }),
        None => crate::http::client_ip(&extensions).is_loopback(),
    };
    if !allowed {
        return (
            axum::http::StatusCode::FORBIDDEN,
            "metrics are for loopback clients or the configured token (metrics.token, metrics.listen)\n",
        )
            .into_response();
    }
    metrics(State(state)).await.into_response()
}

/// `/metrics` itself, wherever it is served.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    // Outbox gauges are read at scrape time: every node sees the same shared outbox.
    let now = state.now().0;
    match (
        state.store.stream_health().await,
        state.store.events_created().await,
    ) {
        (Ok(streams), Ok(created)) => state.telemetry.record(|| {
            metrics::gauge!("tessera_ssf_events_created").set(created as f64);
            for h in &streams {
                let id = h.stream.id.0.clone();
                metrics::gauge!("tessera_ssf_stream_pending", "stream" => id.clone()).set(h.pending as f64);
                let lag = h.oldest_pending_at.map_or(0, |t| (now - t.0).max(0));
                metrics::gauge!("tessera_ssf_stream_lag_seconds", "stream" => id).set(lag as f64 / 1000.0);
            }
        }),
        (Err(e), _) | (_, Err(e)) => tracing::warn!(%e, "cannot read the outbox for metrics"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.telemetry.render(),
    )
}
