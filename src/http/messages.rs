//! `/v1/messages`: submitting, listing, reading, revising, withdrawing and co-validating messages, a message's reviews and its audit trail.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiError, ApiResult, Problem};
use super::input::{ApiJson, ApiQuery, Bodiless, NoBody, OptionalJson, parse_json};
use crate::app::views::*;
use crate::app::{ListQuery, NewVersion, Submission};
use crate::domain::message::{AudienceMember, Draft, EmergencyCategory, MessageKind, Purpose};
use crate::domain::review::ReviewState;

/// This resource's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit_message, list_messages))
        .routes(routes!(message_reviews))
        .routes(routes!(get_message))
        .routes(routes!(submit_version))
        .routes(routes!(withdraw_message))
        .routes(routes!(coproduce))
        .routes(routes!(audit))
}

/// The declaration accompanying an emergency.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EmergencyRequest {
    /// The disruption (rupture d'un service ou d'un usage).
    #[schema(value_type = EmergencyCategory, required = true)]
    pub category: Option<String>,
    /// Why prior review is impossible (20 to 2,000 characters).
    #[schema(value_type = String, required = true, min_length = 20, max_length = 2000)]
    pub justification: Option<String>,
}

/// A new message.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({
    "title": "Restauration scolaire : nouveaux tarifs",
    "body": "<p>Les tarifs changent au <strong>1er janvier</strong>.</p>",
    "kind": "one_off",
    "audience": ["families"],
    "targets": ["0570054Z", "0670080Y"],
    "publish_at": "2099-01-04T08:00:00+01:00",
    "display_until": "2099-03-01T18:00:00+01:00"
}))]
pub struct SubmitRequest {
    /// Title shown to families: plain text on one line, 200 characters at most, no markup,
    /// no control or invisible characters.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]+$")]
    pub title: Option<String>,
    /// Rich-text body (HTML; sanitised), 20,000 characters at most before and after sanitising.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
    pub body: Option<String>,
    /// Review period: `recurring` (5 business days), `one_off` (3) or `emergency` (none).
    #[schema(value_type = MessageKind, required = true)]
    pub kind: Option<String>,
    /// `information` (default) or `evaluation` (co-produced with academic services).
    #[schema(value_type = Option<Purpose>)]
    pub purpose: Option<String>,
    /// `families`, optionally with `pupils` (never pupils alone).
    #[schema(value_type = Vec<AudienceMember>, required = true, min_items = 1)]
    pub audience: Option<Vec<String>>,
    /// Target schools' UAI codes, within the authority's remit.
    #[schema(value_type = Vec<UaiCode>, required = true, min_items = 1)]
    pub targets: Option<Vec<String>>,
    /// Earliest display (RFC 3339 with offset, years 2000 to 2100).
    #[schema(value_type = String, format = DateTime, required = true)]
    pub publish_at: Option<String>,
    /// End of display (RFC 3339 with offset, years 2000 to 2100); after every school's review deadline.
    #[schema(value_type = String, format = DateTime, required = true)]
    pub display_until: Option<String>,
    /// Required for `emergency`, refused otherwise.
    #[schema(value_type = Option<EmergencyRequest>)]
    pub emergency: Option<EmergencyRequest>,
}

/// A UAI code: seven digits and the check letter, e.g. `0570054Z`.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = "^[0-9]{7}[A-Z]$", example = "0570054Z")]
pub struct UaiCode(#[allow(dead_code)] String);

/// A rectified version: every field left out keeps the current version's value.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VersionRequest {
    /// Title (plain text, 200 characters at most).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]+$")]
    pub title: Option<String>,
    /// Body (HTML; sanitised).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 20000)]
    pub body: Option<String>,
    /// Audience.
    #[schema(value_type = Option<Vec<AudienceMember>>, min_items = 1)]
    pub audience: Option<Vec<String>>,
    /// Earliest display (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub publish_at: Option<String>,
    /// End of display (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub display_until: Option<String>,
    /// What changed, for the heads (2,000 characters at most).
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub change_note: Option<String>,
    /// Schools to review it (default: those that have not approved yet).
    #[schema(value_type = Option<Vec<UaiCode>>, min_items = 1)]
    pub targets: Option<Vec<String>>,
}

/// A withdrawal.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WithdrawRequest {
    /// Why, for the heads (optional, 2,000 characters at most).
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub motive: Option<String>,
}

/// Message list parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// Cursor from the previous page (`next_cursor`).
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// Only messages with this overall status.
    #[param(value_type = Option<MessageStatus>)]
    pub status: Option<String>,
    /// Only messages of this kind.
    #[param(value_type = Option<MessageKind>)]
    pub kind: Option<String>,
}

fn draft(
    title: Option<String>,
    body: Option<String>,
    audience: Option<Vec<String>>,
    publish_at: Option<String>,
    display_until: Option<String>,
) -> Draft {
    Draft {
        title,
        body,
        audience,
        publish_at,
        display_until,
    }
}

/// Submit a message for review (or publish an emergency at once).
#[utoipa::path(post, path = "/v1/messages", tag = "messages",
    request_body = SubmitRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Rejouer la même requête renvoie la même communication")),
    responses(
        (status = 201, description = "Communication créée", body = MessageView),
        (status = 200, description = "Rejeu d'une requête déjà traitée (même Idempotency-Key)", body = MessageView),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn submit_message(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    // The raw body, not only its parse, is what an idempotency key is bound to.
    let req: SubmitRequest = parse_json(&headers, &body)?;
    let idem = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .filter(|k| (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Idempotency-Key",
                        "La clé d'idempotence doit compter de 1 à 200 caractères ASCII visibles, sans espace (par exemple un UUID).",
                    )
                })?;
            Some((k.to_owned(), hex::encode(Sha256::digest(&body))))
        }
    };
    let emergency_declared = req.emergency.is_some();
    let emergency = req.emergency.unwrap_or_default();
    let sub = Submission {
        draft: draft(
            req.title,
            req.body,
            req.audience,
            req.publish_at,
            req.display_until,
        ),
        kind: req.kind,
        purpose: req.purpose,
        targets: req.targets,
        emergency_category: emergency.category,
        emergency_justification: emergency.justification,
        emergency_declared,
    };
    let (view, created) = s.charte.submit(&actor, sub, idem).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut res = (status, Json(&view)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/messages/{}", view.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// List the messages visible to the caller, newest first.
#[utoipa::path(get, path = "/v1/messages", tag = "messages", params(MessageParams),
    responses((status = 200, body = MessagePage), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_messages(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<MessageParams>,
) -> ApiResult<Json<MessagePage>> {
    let q = ListQuery {
        cursor: q.cursor,
        limit: q.limit,
        state: q.status,
        kind: q.kind,
        ..Default::default()
    };
    Ok(Json(s.charte.list_messages(&actor, &q).await?))
}

/// A message's review parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageReviewParams {
    /// Cursor from the previous page (`next_cursor`).
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// Only reviews in this state.
    #[param(value_type = Option<ReviewState>)]
    pub state: Option<String>,
    /// Only this school's reviews.
    #[param(value_type = Option<String>, pattern = "^[0-9]{7}[A-Z]$")]
    pub uai: Option<String>,
}

/// A message's reviews the caller may see, by school, each school's newest version first.
#[utoipa::path(get, path = "/v1/messages/{id}/reviews", tag = "messages",
    params(("id" = String, Path), MessageReviewParams),
    responses((status = 200, body = ReviewPage), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn message_reviews(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<MessageReviewParams>,
) -> ApiResult<Json<ReviewPage>> {
    let q = ListQuery {
        cursor: q.cursor,
        limit: q.limit,
        state: q.state,
        uai: q.uai,
        ..Default::default()
    };
    Ok(Json(s.charte.message_reviews(&actor, &id, &q).await?))
}

/// One message with its summary per review state (and, for a head, their own reviews).
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = MessageView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_message(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    Ok(Json(s.charte.get_message(&actor, &id).await?))
}

/// Submit a rectified version: a new review with a fresh full deadline in each school concerned.
#[utoipa::path(post, path = "/v1/messages/{id}/versions", tag = "messages", params(("id" = String, Path)),
    request_body = VersionRequest,
    responses((status = 201, body = MessageView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn submit_version(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<VersionRequest>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let nv = NewVersion {
        draft: draft(r.title, r.body, r.audience, r.publish_at, r.display_until),
        targets: r.targets,
        change_note: r.change_note,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.charte.submit_version(&actor, &id, nv).await?),
    ))
}

/// Withdraw a message everywhere.
#[utoipa::path(post, path = "/v1/messages/{id}/withdraw", tag = "messages", params(("id" = String, Path)),
    request_body(content = WithdrawRequest, description = "Motif facultatif"),
    responses((status = 200, body = MessageView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn withdraw_message(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    OptionalJson(r): OptionalJson<WithdrawRequest>,
) -> ApiResult<Json<MessageView>> {
    Ok(Json(s.charte.withdraw(&actor, &id, r.motive).await?))
}

/// Co-validate an evaluation message (academic services), which opens the heads' reviews.
#[utoipa::path(post, path = "/v1/messages/{id}/coproduction", tag = "messages", params(("id" = String, Path)),
    request_body(content = Option<NoBody>, description = "Aucun corps, ou l'objet vide {}"),
    responses((status = 200, body = MessageView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn coproduce(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    _: Bodiless,
) -> ApiResult<Json<MessageView>> {
    Ok(Json(s.charte.coproduce(&actor, &id).await?))
}

/// Audit trail parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Cursor from the previous page (`next_cursor`).
    pub cursor: Option<String>,
    /// Schools' chains per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// Only this school's chain (with the message's own on the first page).
    #[param(value_type = Option<String>, pattern = "^[0-9]{7}[A-Z]$")]
    pub uai: Option<String>,
}

/// The message's audit trail the caller may see, with verification of its hash chains: the
/// message's own chain on the first page, then whole chains of schools a page at a time.
#[utoipa::path(get, path = "/v1/messages/{id}/audit", tag = "messages",
    params(("id" = String, Path), AuditParams),
    responses((status = 200, body = AuditView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn audit(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditView>> {
    let q = ListQuery {
        cursor: q.cursor,
        limit: q.limit,
        uai: q.uai,
        ..Default::default()
    };
    Ok(Json(s.charte.audit(&actor, &id, &q).await?))
}
