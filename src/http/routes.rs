//! The REST API v1 handlers: thin, each annotated for the OpenAPI document.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiError, Problem};
use super::input::{ApiQuery, no_body, optional_json, parse_json};
use crate::app::views::*;
use crate::app::{ArbitrationDecision, ListQuery, NewVersion, Submission};
use crate::domain::message::{AudienceMember, Draft, EmergencyCategory, MessageKind, Purpose};
use crate::domain::review::ReviewEvent;
use crate::domain::review::ReviewState;
use crate::store::TrackedEmail;

type ApiResult<T> = Result<T, ApiError>;

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

/// No data: the action takes an empty body or the empty object `{}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

/// A head's rectification request.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RectificationRequest {
    /// The motive (10 to 4,000 characters): the charter requires every refusal to be motivated.
    #[schema(value_type = String, required = true, min_length = 10, max_length = 4000)]
    pub motive: Option<String>,
}

/// A withdrawal.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WithdrawRequest {
    /// Why, for the heads (optional, 2,000 characters at most).
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub motive: Option<String>,
}

/// The authority representative's statement for the arbitrator.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EscalateRequest {
    /// The statement (10 to 4,000 characters).
    #[schema(value_type = String, required = true, min_length = 10, max_length = 4000)]
    pub statement: Option<String>,
}

/// An arbitration decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DecisionRequest {
    /// `authorise` (publication allowed) or `uphold` (refusal confirmed).
    #[schema(value_type = ArbitrationChoice, required = true)]
    pub decision: Option<String>,
    /// The motive (10 to 4,000 characters), required either way.
    #[schema(value_type = String, required = true, min_length = 10, max_length = 4000)]
    pub motive: Option<String>,
}

/// What an arbitrator decides.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ArbitrationChoice {
    /// Publication is authorised.
    Authorise,
    /// The head's refusal is upheld.
    Uphold,
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

/// Review list parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewParams {
    /// Cursor from the previous page (`next_cursor`).
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// Only reviews in this state.
    #[param(value_type = Option<ReviewState>)]
    pub state: Option<String>,
    /// Same as `state`.
    #[param(value_type = Option<ReviewState>)]
    pub status: Option<String>,
    /// Only this school's reviews (required for academic services and administrators).
    #[param(value_type = Option<String>, pattern = "^[0-9]{7}[A-Z]$")]
    pub uai: Option<String>,
}

/// Dispute list parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DisputeParams {
    /// Cursor from the previous page (`next_cursor`).
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `open` (waiting for arbitration, the default) or `closed` (decided or ended).
    #[param(value_type = Option<DisputeState>)]
    pub state: Option<String>,
}

/// Whether a dispute waits for arbitration or has ended.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DisputeState {
    /// Waiting for the arbitrator.
    Open,
    /// Decided, or ended by a new version or a withdrawal.
    Closed,
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
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let r: VersionRequest = parse_json(&headers, &body)?;
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
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<MessageView>> {
    let r: WithdrawRequest = optional_json(&headers, &body)?;
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
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<MessageView>> {
    no_body(&headers, &body)?;
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

/// Reviews visible to the caller; for a head, the inbox, soonest deadline first.
#[utoipa::path(get, path = "/v1/reviews", tag = "reviews", params(ReviewParams),
    responses((status = 200, body = ReviewPage), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn list_reviews(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<ReviewParams>,
) -> ApiResult<Json<ReviewPage>> {
    // On reviews, `status` and `state` mean the same thing: given both, they must agree.
    if let (Some(state), Some(status)) = (&q.state, &q.status)
        && state != status
    {
        return Err(ApiError::invalid(
            "status",
            "`status` et `state` désignent la même chose sur les examens : donnez l'un ou l'autre.",
        ));
    }
    let q = ListQuery {
        cursor: q.cursor,
        limit: q.limit,
        state: q.state.or(q.status),
        uai: q.uai,
        ..Default::default()
    };
    Ok(Json(s.charte.list_reviews(&actor, &q).await?))
}

/// One review: the content exactly as families will see it, what changed, and the history.
#[utoipa::path(get, path = "/v1/reviews/{id}", tag = "reviews", params(("id" = String, Path)),
    responses((status = 200, body = ReviewDetail), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_review(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewDetail>> {
    Ok(Json(s.charte.get_review(&actor, &id).await?))
}

/// Approve (the school's head), binding to the reviewed version's hash.
#[utoipa::path(post, path = "/v1/reviews/{id}/approve", tag = "reviews", params(("id" = String, Path)),
    request_body(content = Option<NoBody>, description = "Aucun corps, ou l'objet vide {}"),
    responses((status = 200, body = ReviewDetail), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn approve(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ReviewDetail>> {
    no_body(&headers, &body)?;
    Ok(Json(
        s.charte
            .head_decides(&actor, &id, ReviewEvent::Approve, None)
            .await?,
    ))
}

/// Request a rectification with a motive (the school's head); academic services are informed.
#[utoipa::path(post, path = "/v1/reviews/{id}/rectification", tag = "reviews", params(("id" = String, Path)),
    request_body = RectificationRequest,
    responses((status = 200, body = ReviewDetail), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn request_rectification(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ReviewDetail>> {
    let r: RectificationRequest = optional_json(&headers, &body)?;
    Ok(Json(
        s.charte
            .head_decides(&actor, &id, ReviewEvent::RequestRectification, r.motive)
            .await?,
    ))
}

/// Escalate a persistent dispute to the recteur or the DRAAF (the authority's representative).
#[utoipa::path(post, path = "/v1/reviews/{id}/escalate", tag = "reviews", params(("id" = String, Path)),
    request_body = EscalateRequest,
    responses((status = 200, body = ReviewDetail), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn escalate(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ReviewDetail>> {
    let r: EscalateRequest = optional_json(&headers, &body)?;
    Ok(Json(s.charte.escalate(&actor, &id, r.statement).await?))
}

/// Disputes waiting for arbitration (or, with `state=closed`, ended ones), oldest first.
#[utoipa::path(get, path = "/v1/disputes", tag = "disputes", params(DisputeParams),
    responses((status = 200, body = DisputePage), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list_disputes(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<DisputeParams>,
) -> ApiResult<Json<DisputePage>> {
    let q = ListQuery {
        cursor: q.cursor,
        limit: q.limit,
        state: q.state,
        ..Default::default()
    };
    Ok(Json(s.charte.disputes(&actor, &q).await?))
}

/// Settle a dispute: authorise publication or uphold the refusal, with a motive.
#[utoipa::path(post, path = "/v1/disputes/{id}/decision", tag = "disputes", params(("id" = String, Path)),
    request_body = DecisionRequest,
    responses((status = 200, body = ReviewDetail), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn decide(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ReviewDetail>> {
    let r: DecisionRequest = optional_json(&headers, &body)?;
    let decision = match r.decision.as_deref() {
        Some("authorise") => ArbitrationDecision::Authorise,
        Some("uphold") => ArbitrationDecision::Uphold,
        _ => {
            return Err(ApiError::invalid(
                "decision",
                "Décision attendue : « authorise » (autoriser la publication) ou « uphold » (confirmer le refus).",
            ));
        }
    };
    Ok(Json(
        s.charte.arbitrate(&actor, &id, decision, r.motive).await?,
    ))
}

/// What a school displays now (for the ENT), with an ETag.
#[utoipa::path(get, path = "/v1/schools/{uai}/feed", tag = "ent", params(("uai" = String, Path)),
    responses((status = 200, body = Feed), (status = 304, description = "Inchangé depuis l'ETag donné"), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn feed(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(uai): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let asked = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    // A conditional request reads only the feed's version: the usual answer, 304, costs no content.
    if let Some(asked) = asked {
        let etag = s.charte.feed_tag(&actor, &uai).await?;
        if etag_matches(asked, &etag) {
            return Ok(feed_headers(
                StatusCode::NOT_MODIFIED.into_response(),
                &etag,
            ));
        }
    }
    let (etag, body) = s.charte.feed(&actor, &uai).await?;
    // The feed may have changed between the two reads: the content read decides.
    let res = if asked.is_some_and(|a| etag_matches(a, &etag)) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    };
    Ok(feed_headers(res, &etag))
}

/// Whether an `If-None-Match` value names `etag`, compared weakly (RFC 9110 §13.1.2: a proxy may
/// have weakened our tag).
fn etag_matches(asked: &str, etag: &str) -> bool {
    asked
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

fn feed_headers(mut res: Response, etag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// Deadline query parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineParams {
    /// `recurring` (5 business days) or `one_off` (3).
    #[param(value_type = ReviewedKind, required = true)]
    pub kind: Option<String>,
    /// The school (its calendar: department, time zone, holidays).
    #[param(value_type = String, required = true, pattern = "^[0-9]{7}[A-Z]$")]
    pub uai: Option<String>,
    /// Submission instant (RFC 3339, years 2000 to 2100; default now).
    #[param(value_type = Option<String>, format = DateTime)]
    pub submitted_at: Option<String>,
}

/// The kinds of message that are reviewed (an emergency is not).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ReviewedKind {
    /// Five business days.
    Recurring,
    /// Three business days.
    OneOff,
}

/// A kind of school.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum SchoolTypeName {
    /// École.
    Ecole,
    /// Collège.
    College,
    /// Lycée.
    Lycee,
    /// Any other.
    Other,
}

/// A kind of authority.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AuthorityKindName {
    /// Région.
    Region,
    /// Département.
    Departement,
    /// Commune.
    Commune,
}

/// Compute the review deadline a submission would get in a school, before submitting.
#[utoipa::path(get, path = "/v1/deadlines", tag = "deadlines", params(DeadlineParams),
    responses((status = 200, body = DeadlineView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn deadlines(
    State(s): State<AppState>,
    _auth: Authenticated,
    ApiQuery(q): ApiQuery<DeadlineParams>,
) -> ApiResult<Json<DeadlineView>> {
    Ok(Json(
        s.charte
            .preview_deadline(
                q.kind.as_deref(),
                q.uai.as_deref(),
                q.submitted_at.as_deref(),
            )
            .await?,
    ))
}

/// School directory filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SchoolParams {
    /// Department code (`57`, `2A`, `974`…).
    pub department: Option<String>,
    /// Académie code.
    pub academie: Option<String>,
    /// `ecole`, `college`, `lycee` or `other`.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<SchoolTypeName>)]
    pub school_type: Option<String>,
    /// One UAI.
    #[param(value_type = Option<String>, pattern = "^[0-9]{7}[A-Z]$")]
    pub uai: Option<String>,
    /// Cursor from the previous page (`next_cursor`).
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

/// The school directory.
#[utoipa::path(get, path = "/v1/schools", tag = "directory", params(SchoolParams),
    responses((status = 200, body = SchoolPage), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn schools(
    State(s): State<AppState>,
    _auth: Authenticated,
    ApiQuery(q): ApiQuery<SchoolParams>,
) -> ApiResult<Json<SchoolPage>> {
    let lq = ListQuery {
        cursor: q.cursor,
        limit: q.limit,
        uai: q.uai,
        ..Default::default()
    };
    Ok(Json(
        s.charte
            .schools(
                &lq,
                q.department.as_deref(),
                q.academie.as_deref(),
                q.school_type.as_deref(),
            )
            .await?,
    ))
}

/// Authority filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorityParams {
    /// `region`, `departement` or `commune`.
    #[param(value_type = Option<AuthorityKindName>)]
    pub kind: Option<String>,
}

/// The authorities, with how many emergencies each has published.
#[utoipa::path(get, path = "/v1/authorities", tag = "directory", params(AuthorityParams),
    responses((status = 200, body = [AuthorityView])), security(("bearer" = [])))]
pub async fn authorities(
    State(s): State<AppState>,
    _auth: Authenticated,
    ApiQuery(q): ApiQuery<AuthorityParams>,
) -> ApiResult<Json<Vec<AuthorityView>>> {
    Ok(Json(s.charte.authorities(q.kind.as_deref()).await?))
}

/// Outbox page parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxParams {
    /// Cursor from the previous page (`next_cursor`).
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

/// Dead-letter parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    /// How many, 1–1000 (default 100), oldest first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// The outbox, oldest first, with each email's delivery status (administrators).
#[utoipa::path(get, path = "/v1/admin/outbox", tag = "admin", params(OutboxParams),
    responses((status = 200, body = OutboxPage), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn outbox(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<OutboxParams>,
) -> ApiResult<Json<OutboxPage>> {
    let lq = ListQuery {
        cursor: q.cursor,
        limit: q.limit,
        ..Default::default()
    };
    Ok(Json(s.charte.outbox(&actor, &lq).await?))
}

/// Health status.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the store answers within 2 seconds.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = Health), (status = 503, body = Problem)))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<Json<Health>> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), s.charte.ready()).await {
        Ok(Ok(())) => Ok(Json(Health { status: "ok" })),
        _ => Err(ApiError::unavailable(
            "Le stockage ne répond pas : le service n'est pas prêt.",
        )),
    }
}

/// Emails given up on after too many failed attempts (administrators), oldest first.
#[utoipa::path(get, path = "/v1/admin/dead-letters", tag = "admin", params(DeadLetterParams),
    responses((status = 200, body = [TrackedEmail]), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn dead_letters(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<DeadLetterParams>,
) -> ApiResult<Json<Vec<TrackedEmail>>> {
    Ok(Json(
        s.charte
            .dead_letters(&actor, q.limit.unwrap_or(100))
            .await?,
    ))
}

/// Queues a dead letter again, with its attempt counters reset (administrators).
#[utoipa::path(post, path = "/v1/admin/dead-letters/{id}/retry", tag = "admin",
    params(("id" = String, Path, description = "Identifiant du courriel dans la file d'envoi")),
    responses((status = 200, body = TrackedEmail), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn retry_dead_letter(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<TrackedEmail>> {
    Ok(Json(s.charte.retry_dead_letter(&actor, &id).await?))
}
