//! Prometheus metrics: per-route request counts and latencies, and the workflow's gauges read
//! from the store at scrape time (so every replica reports the same shared figures).

use std::sync::Mutex;

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;
use crate::app::Charte;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthorityLabels {
    authority: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

/// The service's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    reviews_pending: Gauge,
    reviews_due_24h: Gauge,
    tacit_approvals: Counter,
    tacit_seen: Mutex<u64>,
    emails_queued: Gauge,
    emails_sent: Gauge,
    emails_dead: Gauge,
    emergencies: Family<AuthorityLabels, Gauge>,
    disputes_waiting: Gauge,
    dispute_oldest_age: Gauge,
    emergencies_counted: Mutex<Option<Instant>>,
}

/// Counting emergencies reads every message of every authority: at most this often.
const EMERGENCIES_EVERY: Duration = Duration::from_secs(300);

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("charte");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let m = Metrics {
            requests: requests.clone(),
            durations: durations.clone(),
            reviews_pending: Gauge::default(),
            reviews_due_24h: Gauge::default(),
            tacit_approvals: Counter::default(),
            tacit_seen: Mutex::new(0),
            emails_queued: Gauge::default(),
            emails_sent: Gauge::default(),
            emails_dead: Gauge::default(),
            emergencies: Family::default(),
            disputes_waiting: Gauge::default(),
            dispute_oldest_age: Gauge::default(),
            emergencies_counted: Mutex::new(None),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "Requêtes HTTP par route et statut",
            requests,
        );
        registry.register(
            "http_request_duration_seconds",
            "Durée des requêtes HTTP par route",
            durations,
        );
        registry.register(
            "reviews_pending",
            "Revues en attente de décision",
            m.reviews_pending.clone(),
        );
        registry.register(
            "reviews_due_24h",
            "Revues dont le délai expire dans les 24 heures",
            m.reviews_due_24h.clone(),
        );
        registry.register(
            "tacit_approvals",
            "Accords tacites constatés par cette instance",
            m.tacit_approvals.clone(),
        );
        registry.register(
            "emails_queued",
            "Courriels en file d'attente",
            m.emails_queued.clone(),
        );
        registry.register(
            "emails_sent",
            "Courriels remis (cumul, toutes instances)",
            m.emails_sent.clone(),
        );
        registry.register(
            "emails_dead",
            "Courriels abandonnés (lettres mortes)",
            m.emails_dead.clone(),
        );
        registry.register(
            "emergencies",
            "Communications d'urgence publiées, par collectivité",
            m.emergencies.clone(),
        );
        registry.register(
            "disputes_waiting",
            "Litiges en attente d'arbitrage",
            m.disputes_waiting.clone(),
        );
        registry.register(
            "dispute_oldest_age_seconds",
            "Âge du plus ancien litige en attente",
            m.dispute_oldest_age.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Refreshes the gauges from the store and renders the OpenMetrics text.
    pub async fn render(&self, charte: &Charte) -> String {
        // A store that does not answer leaves the previous values: scraping must not hang.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.refresh(charte)).await;
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    async fn refresh(&self, charte: &Charte) {
        let now = charte.now();
        if let Ok((pending, due)) = charte
            .deadline_counts(now + time::Duration::hours(24))
            .await
        {
            self.reviews_pending.set(pending as i64);
            self.reviews_due_24h.set(due as i64);
        }
        let seen_now = charte.tacit_approvals_recorded();
        if let Ok(mut seen) = self.tacit_seen.lock() {
            self.tacit_approvals.inc_by(seen_now.saturating_sub(*seen));
            *seen = seen_now;
        }
        if let Ok(c) = charte.mail_counts().await {
            self.emails_queued.set(c.queued as i64);
            self.emails_sent.set(c.sent as i64);
            self.emails_dead.set(c.dead as i64);
        }
        let stale = self
            .emergencies_counted
            .lock()
            .map(|t| t.is_none_or(|t| t.elapsed() >= EMERGENCIES_EVERY))
            .unwrap_or(true);
        if stale && let Ok(authorities) = charte.authorities(None).await {
            if let Ok(mut t) = self.emergencies_counted.lock() {
                *t = Some(Instant::now());
            }
            for a in authorities {
                self.emergencies
                    .get_or_create(&AuthorityLabels { authority: a.id })
                    .set(a.emergencies as i64);
            }
        }
        if let Ok(disputes) = charte.waiting_disputes().await {
            self.disputes_waiting.set(disputes.len() as i64);
            let oldest = disputes
                .iter()
                .filter_map(|d| d.escalation.as_ref().map(|e| e.at))
                .min();
            self.dispute_oldest_age
                .set(oldest.map_or(0, |t| (now - t).whole_seconds().max(0)));
        }
    }

    /// Counts one answered request of `route` (its template, never the raw path, which has ids).
    pub fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Métriques au format OpenMetrics", content_type = "application/openmetrics-text"),
        (status = 404, description = "Les métriques sont servies sur une autre adresse (--metrics-listen)", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if !state.metrics_here {
        return super::error::ApiError::not_found(
            "Les métriques sont servies sur l'adresse dédiée (--metrics-listen), pas sur celle de l'API.",
        )
        .into_response();
    }
    render(&state).await
}

/// The metrics document, for whichever listener serves it.
pub async fn render(state: &AppState) -> Response {
    let body = state.metrics.render(&state.charte).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
