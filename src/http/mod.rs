//! HTTP adapter (axum): routes registered through utoipa's `OpenApiRouter`, so the spec cannot drift.

pub mod admin;
pub mod auth;
pub mod calendar_feeds;
pub mod directory;
pub mod disputes;
pub mod docs;
pub mod edge;
pub mod error;
pub mod feed;
pub mod hardening;
pub mod input;
pub mod labels;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod probes;
pub mod rate_limit;
pub mod reviews;
pub mod webhooks;
pub mod widget;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::Charte;
use auth::Verifier;

/// Shared state of the HTTP layer, behind one reference count: axum clones the state several
/// times per request, and a clone of six shared fields was six atomic counters bounced between
/// the cores on every request (`drop_in_place<AppState>` was 9.5 % of `/healthz`'s profile).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state holding `services`.
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What the HTTP layer's handlers share.
pub struct Services {
    /// The use cases.
    pub charte: Arc<Charte>,
    /// Token verification.
    pub verifier: Arc<Verifier>,
    /// Origins allowed to embed the widget (CSP `frame-ancestors`).
    pub frame_ancestors: Arc<Vec<String>>,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Request quotas per caller and per address.
    pub rate_limits: Arc<rate_limit::RateLimits>,
    /// Whether `/metrics` is served here (not when it has its own listen address).
    pub metrics_here: bool,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "charte",
        description = "Workflow de modération des communications des collectivités vers les familles par l'ENT, selon la charte de bon usage : examen par chaque chef d'établissement dans un délai en jours ouvrables, accord tacite, demandes de rectification motivées, arbitrage du recteur ou du DRAAF, urgences publiées immédiatement.",
        license(name = "EUPL-1.2")
    ),
    modifiers(&BearerAuth),
    // Schemas used only by query parameters, which utoipa does not collect by itself.
    components(schemas(
        directory::ReviewedKind,
        directory::SchoolTypeName,
        directory::AuthorityKindName,
        disputes::DisputeState,
    )),
    tags(
        (name = "messages", description = "Communications des collectivités"),
        (name = "reviews", description = "Examen par les chefs d'établissement"),
        (name = "disputes", description = "Arbitrage des litiges persistants"),
        (name = "ent", description = "Ce que l'ENT affiche"),
        (name = "deadlines", description = "Calcul des délais en jours ouvrables"),
        (name = "directory", description = "Annuaire des établissements et collectivités"),
        (name = "calendar", description = "Calendriers privés des échéances (iCalendar)"),
        (name = "webhooks", description = "Abonnements aux webhooks signés (Standard Webhooks)"),
        (name = "admin", description = "Administration"),
        (name = "operations", description = "Sondes Kubernetes"),
    )
)]
struct ApiDoc;

/// The API routes and the OpenAPI document generated from them.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(messages::router())
        .merge(reviews::router())
        .merge(disputes::router())
        .merge(feed::router())
        .merge(directory::router())
        .merge(admin::router())
        .merge(probes::router())
        .routes(routes!(metrics::metrics))
        .merge(labels::router())
        .merge(calendar_feeds::router())
        .merge(webhooks::router())
        .split_for_parts();
    (router, doc)
}

/// The OpenAPI document as served: generated from the routes, then refined (see [`openapi`]).
pub fn document() -> serde_json::Value {
    openapi::refine(&api().1)
}

/// The OpenAPI document as pretty JSON (what `openapi/openapi.json` must contain).
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_default() + "\n"
}

/// `/metrics` alone, for its own listen address (Kubernetes scrapes it there, not via the Ingress).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |axum::extract::State(s): axum::extract::State<AppState>| async move {
                    metrics::render(&s).await
                },
            ),
        )
        .with_state(state)
}

/// The complete application router.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api();
    let outer_state = state.clone();
    let spec = serde_json::to_string_pretty(&openapi::refine(&doc)).unwrap_or_default();
    api.route(
        "/openapi.json",
        axum::routing::get(move || async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                spec,
            )
        }),
    )
    .merge(widget::router(&state.frame_ancestors))
    .with_state(state)
    .merge(docs::router())
    .fallback(|| async {
        error::ApiError::not_found(
            "Aucune ressource à cette adresse : consultez la documentation de l'API sur /docs/.",
        )
    })
    // One layer made of the four: `Router::layer` wraps every route once per call, and each
    // wrapping is a boxed clone per request.
    .layer(
        tower::ServiceBuilder::new()
            .layer(edge::EdgeLayer::new(outer_state))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(30),
            ))
            .layer(DefaultBodyLimit::max(256 * 1024))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                hardening::panic_to_problem,
            )),
    )
}
