//! `/v1/admin/webhooks`: subscriptions to signed webhooks (Standard Webhooks), their deliveries
//! and replays. The ENT subscribes for its schools, an authority for its messages,
//! administrators for anything.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiError, ApiResult, Problem};
use super::input::{ApiJson, ApiQuery, Bodiless, NoBody};
use crate::app::ListQuery;
use crate::app::webhooks::{NewWebhook, WebhookWithSecret};
use crate::domain::Violation;
use crate::domain::uai::Uai;
use crate::domain::webhook::{
    DeliveryState, EventData, EventLinks, EventType, Webhook, WebhookDelivery, WebhookScope,
};

/// This resource's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, delete_webhook))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(webhook_deliveries))
        .routes(routes!(retry_webhook_delivery))
}

/// Whose events a subscription receives.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScopeBody {
    /// Events at these schools (an ENT's own).
    Schools {
        /// The schools' UAIs.
        #[schema(value_type = Vec<super::messages::UaiCode>, min_items = 1)]
        uais: Vec<String>,
    },
    /// Events about one authority's messages (its own, for an authority's staff).
    Authority {
        /// The authority's id.
        authority_id: String,
    },
    /// Every event (administrators).
    All,
}

/// A new subscription.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://ent.example.fr/charte/webhooks",
    "events": ["publication.started", "publication.ended"],
    "scope": {"kind": "schools", "uais": ["0570054Z"]}
}))]
pub struct WebhookRequest {
    /// Where to deliver: https (http only to a host allowed by `--webhook-allow-hosts`); private
    /// and loopback addresses are refused unless allowed.
    #[schema(value_type = String, required = true, pattern = "^https?://[^/?#@]+")]
    pub url: Option<String>,
    /// The event types to receive (all of them when absent).
    #[schema(value_type = Option<Vec<EventType>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    /// Whose events (by default: the ENT's schools, the authority's messages, everything for an
    /// administrator).
    pub scope: Option<ScopeBody>,
}

/// Why a subscription is disabled.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisabledView {
    /// When.
    pub at: String,
    /// Why, in French.
    pub reason: String,
}

/// A subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Identifier.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// Whose events.
    pub scope: ScopeBody,
    /// When it was created.
    pub created_at: String,
    /// Set when the receiver answered 410 Gone: nothing more is delivered.
    pub disabled: Option<DisabledView>,
    /// Until when the previous secret still signs beside the current one (after a rotation).
    pub previous_secret_expires_at: Option<String>,
}

/// A subscription with its signing secret (`whsec_…`), shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    /// The subscription.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The signing secret: keep it, it is not shown again.
    pub secret: String,
}

/// Subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub items: Vec<WebhookView>,
}

/// One event's delivery to a subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Identifier (for a replay).
    pub id: String,
    /// The event's id: the `webhook-id` header of every attempt.
    pub event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// When the next attempt goes, while queued.
    pub next_attempt_at: Option<String>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    /// The last failure, in French.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: String,
    /// When it was received, or given up.
    pub finished_at: Option<String>,
    /// The body sent.
    pub payload: WebhookPayload,
}

/// The body of every delivery (Standard Webhooks): what happened, when, and the ids and links
/// concerned — never the message's content.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPayload {
    /// The event type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// Its facts, and links to the resources concerned.
    pub data: PayloadData,
}

/// An event's facts with links to the resources concerned.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayloadData {
    /// The facts.
    #[serde(flatten)]
    pub facts: EventData,
    /// Where to read more (the API's resources).
    pub links: EventLinks,
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub items: Vec<DeliveryView>,
    /// Cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

/// Delivery page parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Cursor from the previous page (`next_cursor`).
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn scope_body(scope: &WebhookScope) -> ScopeBody {
    match scope {
        WebhookScope::Schools { uais } => ScopeBody::Schools {
            uais: uais.iter().map(|u| u.to_string()).collect(),
        },
        WebhookScope::Authority { authority_id } => ScopeBody::Authority {
            authority_id: authority_id.clone(),
        },
        WebhookScope::All => ScopeBody::All,
    }
}

fn view(w: &Webhook) -> WebhookView {
    WebhookView {
        id: w.id.clone(),
        url: w.url.clone(),
        events: w.events.clone(),
        scope: scope_body(&w.scope),
        created_at: rfc3339(w.created_at),
        disabled: w.disabled.as_ref().map(|d| DisabledView {
            at: rfc3339(d.at),
            reason: d.reason.clone(),
        }),
        previous_secret_expires_at: w
            .secrets
            .iter()
            .filter_map(|s| s.expires_at)
            .max()
            .map(rfc3339),
    }
}

fn created(w: WebhookWithSecret) -> WebhookCreated {
    WebhookCreated {
        webhook: view(&w.webhook),
        secret: w.secret,
    }
}

fn delivery_view(d: WebhookDelivery, base: &str) -> DeliveryView {
    DeliveryView {
        id: d.id,
        event_id: d.event.id.clone(),
        kind: d.event.kind,
        next_attempt_at: (d.state == DeliveryState::Queued).then(|| rfc3339(d.next_attempt_at)),
        state: d.state,
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: rfc3339(d.created_at),
        finished_at: d.finished_at.map(rfc3339),
        payload: WebhookPayload {
            kind: d.event.kind,
            timestamp: rfc3339(d.event.timestamp),
            data: PayloadData {
                links: d.event.links(base),
                facts: d.event.data,
            },
        },
    }
}

/// The scope asked for, its UAIs read (each bad one named).
fn scope_of(body: ScopeBody) -> Result<WebhookScope, ApiError> {
    Ok(match body {
        ScopeBody::Schools { uais } => {
            let mut parsed = Vec::new();
            let mut violations = Vec::new();
            for (i, u) in uais.iter().enumerate() {
                match u.parse::<Uai>() {
                    Ok(uai) => parsed.push(uai),
                    Err(e) => {
                        violations.push(Violation::new(format!("scope.uais[{i}]"), e.to_string()))
                    }
                }
            }
            if !violations.is_empty() {
                return Err(crate::app::AppError::Invalid(violations).into());
            }
            WebhookScope::Schools { uais: parsed }
        }
        ScopeBody::Authority { authority_id } => WebhookScope::Authority { authority_id },
        ScopeBody::All => WebhookScope::All,
    })
}

/// Subscribe a receiver to webhooks. The answer holds the signing secret, this once; each
/// delivery is signed with it (`webhook-signature`, Standard Webhooks).
#[utoipa::path(post, path = "/v1/admin/webhooks", tag = "webhooks", request_body = WebhookRequest,
    responses((status = 201, body = WebhookCreated), (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_webhook(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(r): ApiJson<WebhookRequest>,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    let new = NewWebhook {
        url: r.url,
        events: r.events,
        scope: r.scope.map(scope_of).transpose()?,
    };
    let made = s.charte.create_webhook(&actor, new).await?;
    Ok((StatusCode::CREATED, Json(created(made))))
}

/// Your subscriptions (every one, for an administrator), oldest first.
#[utoipa::path(get, path = "/v1/admin/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_webhooks(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult<Json<WebhookList>> {
    let items = s.charte.webhooks(&actor).await?.iter().map(view).collect();
    Ok(Json(WebhookList { items }))
}

/// One of your subscriptions.
#[utoipa::path(get, path = "/v1/admin/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = WebhookView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_webhook(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(view(&s.charte.webhook(&actor, &id).await?)))
}

/// Delete one of your subscriptions: nothing more is delivered to it.
#[utoipa::path(delete, path = "/v1/admin/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204, description = "Supprimé"), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_webhook(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.charte.delete_webhook(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a subscription a new signing secret (shown this once). The previous one keeps signing
/// beside it for 24 hours, so the receiver can switch without losing a delivery.
#[utoipa::path(post, path = "/v1/admin/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = String, Path)),
    request_body(content = Option<NoBody>, description = "Aucun corps, ou l'objet vide {}"),
    responses((status = 200, body = WebhookCreated), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn rotate_webhook_secret(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    _: Bodiless,
) -> ApiResult<Json<WebhookCreated>> {
    Ok(Json(created(
        s.charte.rotate_webhook_secret(&actor, &id).await?,
    )))
}

/// A subscription's deliveries, newest first, with each one's attempts and last failure.
#[utoipa::path(get, path = "/v1/admin/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), DeliveryParams),
    responses((status = 200, body = DeliveryPage), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn webhook_deliveries(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeliveryParams>,
) -> ApiResult<Json<DeliveryPage>> {
    let lq = ListQuery {
        cursor: q.cursor,
        limit: q.limit,
        ..Default::default()
    };
    let page = s.charte.webhook_deliveries(&actor, &id, &lq).await?;
    Ok(Json(DeliveryPage {
        items: page
            .items
            .into_iter()
            .map(|d| delivery_view(d, s.charte.public_url()))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Deliver a dead delivery again (given up after the retry schedule), at once.
#[utoipa::path(post, path = "/v1/admin/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    request_body(content = Option<NoBody>, description = "Aucun corps, ou l'objet vide {}"),
    responses((status = 200, body = DeliveryView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn retry_webhook_delivery(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((id, delivery_id)): Path<(String, String)>,
    _: Bodiless,
) -> ApiResult<Json<DeliveryView>> {
    let replayed = s
        .charte
        .retry_webhook_delivery(&actor, &id, &delivery_id)
        .await?;
    Ok(Json(delivery_view(replayed, s.charte.public_url())))
}
