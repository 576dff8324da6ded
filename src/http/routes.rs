//! The REST API v1 handlers: thin, each annotated for the OpenAPI document.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiError, Problem};
use crate::app::views::*;
use crate::app::{ArbitrationDecision, ListQuery, NewVersion, Submission};
use crate::domain::message::Draft;
use crate::domain::notification::OutboxEmail;
use crate::domain::review::ReviewEvent;
use crate::store::TrackedEmail;

type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON body with French errors (used where the raw bytes are needed too).
fn parse_json<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> ApiResult<T> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "type-de-contenu",
            "Type de contenu non pris en charge",
            "Envoyez le corps en JSON avec l'en-tête « Content-Type: application/json ».",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "json-illisible",
                "JSON illisible",
                format!("Le corps n'est pas un JSON valide : {e}"),
            )
        } else {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Données invalides",
                format!("Le JSON n'a pas la forme attendue : {e}"),
            )
        }
    })
}

/// An optional JSON body: empty is fine, anything else must be valid JSON.
fn optional_json<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(headers, body)
    }
}

/// The declaration accompanying an emergency.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EmergencyRequest {
    /// `transport`, `weather`, `closure`, `canteen`, `health`, `strike`, `other`.
    pub category: Option<String>,
    /// Why prior review is impossible (20 characters at least).
    pub justification: Option<String>,
}

/// A new message.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SubmitRequest {
    /// Title shown to families (200 characters at most).
    #[schema(example = "Transports scolaires : nouvelle ligne 12")]
    pub title: Option<String>,
    /// Rich-text body (HTML; sanitised).
    pub body: Option<String>,
    /// `recurring`, `one_off` or `emergency`.
    #[schema(example = "one_off")]
    pub kind: Option<String>,
    /// `information` (default) or `evaluation`.
    pub purpose: Option<String>,
    /// `families`, optionally with `pupils` (never pupils alone).
    pub audience: Option<Vec<String>>,
    /// Target schools' UAI codes, within the authority's remit.
    pub targets: Option<Vec<String>>,
    /// Earliest display (RFC 3339).
    pub publish_at: Option<String>,
    /// End of display (RFC 3339).
    pub display_until: Option<String>,
    /// Required for `emergency`.
    pub emergency: Option<EmergencyRequest>,
}

/// A rectified version.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VersionRequest {
    /// Title.
    pub title: Option<String>,
    /// Body.
    pub body: Option<String>,
    /// Audience.
    pub audience: Option<Vec<String>>,
    /// Earliest display.
    pub publish_at: Option<String>,
    /// End of display.
    pub display_until: Option<String>,
    /// What changed, for the heads.
    pub change_note: Option<String>,
    /// Schools to review it (default: those that have not approved yet).
    pub targets: Option<Vec<String>>,
}

/// A motive.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MotiveRequest {
    /// The motive (10 characters at least).
    pub motive: Option<String>,
}

/// The authority representative's statement for the arbitrator.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EscalateRequest {
    /// The statement (10 characters at least).
    pub statement: Option<String>,
}

/// An arbitration decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DecisionRequest {
    /// `authorise` or `uphold`.
    pub decision: Option<String>,
    /// The motive (required either way).
    pub motive: Option<String>,
}

/// List parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<usize>,
    /// Filter on the message status or the review state.
    pub status: Option<String>,
    /// Filter on the review state.
    pub state: Option<String>,
    /// Filter on a school.
    pub uai: Option<String>,
    /// Filter on the message kind.
    pub kind: Option<String>,
}

impl ListParams {
    fn query(self) -> ListQuery {
        ListQuery {
            cursor: self.cursor,
            limit: self.limit,
            state: self.state.or(self.status),
            uai: self.uai,
            kind: self.kind,
        }
    }
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> ApiResult<T> {
    q.map(|Query(v)| v).map_err(ApiError::from)
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
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Idempotency-Key",
                        "La clé d'idempotence doit être un texte ASCII de 1 à 200 caractères.",
                    )
                })?;
            Some((k.to_owned(), hex::encode(Sha256::digest(&body))))
        }
    };
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
#[utoipa::path(get, path = "/v1/messages", tag = "messages", params(ListParams),
    responses((status = 200, body = MessagePage), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_messages(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<MessagePage>> {
    Ok(Json(
        s.charte.list_messages(&actor, &query(q)?.query()).await?,
    ))
}

/// One message with its per-school reviews.
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
    request_body(content = MotiveRequest, description = "Motif facultatif"),
    responses((status = 200, body = MessageView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn withdraw_message(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<MessageView>> {
    let r: MotiveRequest = optional_json(&headers, &body)?;
    Ok(Json(s.charte.withdraw(&actor, &id, r.motive).await?))
}

/// Co-validate an evaluation message (academic services), which opens the heads' reviews.
#[utoipa::path(post, path = "/v1/messages/{id}/coproduction", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = MessageView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn coproduce(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    Ok(Json(s.charte.coproduce(&actor, &id).await?))
}

/// The message's audit trail, with verification of its hash chain.
#[utoipa::path(get, path = "/v1/messages/{id}/audit", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = AuditView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn audit(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<AuditView>> {
    Ok(Json(s.charte.audit(&actor, &id).await?))
}

/// Reviews visible to the caller; for a head, the inbox, soonest deadline first.
#[utoipa::path(get, path = "/v1/reviews", tag = "reviews", params(ListParams),
    responses((status = 200, body = ReviewPage), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn list_reviews(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ReviewPage>> {
    let mut q = query(q)?;
    // On reviews, `status` and `state` mean the same thing.
    q.state = q.state.take().or(q.status.take());
    Ok(Json(s.charte.list_reviews(&actor, &q.query()).await?))
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
    responses((status = 200, body = ReviewDetail), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn approve(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewDetail>> {
    Ok(Json(
        s.charte
            .head_decides(&actor, &id, ReviewEvent::Approve, None)
            .await?,
    ))
}

/// Request a rectification with a motive (the school's head); academic services are informed.
#[utoipa::path(post, path = "/v1/reviews/{id}/rectification", tag = "reviews", params(("id" = String, Path)),
    request_body = MotiveRequest,
    responses((status = 200, body = ReviewDetail), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn request_rectification(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ReviewDetail>> {
    let r: MotiveRequest = optional_json(&headers, &body)?;
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

/// Disputes awaiting arbitration, oldest first.
#[utoipa::path(get, path = "/v1/disputes", tag = "disputes", params(ListParams),
    responses((status = 200, body = DisputePage), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list_disputes(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<DisputePage>> {
    Ok(Json(s.charte.disputes(&actor, &query(q)?.query()).await?))
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
    let feed = s.charte.feed(&actor, &uai).await?;
    let body = serde_json::to_vec(&feed)
        .map_err(|e| ApiError::from(crate::app::AppError::Internal(e.to_string())))?;
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        // If-None-Match compares weakly (RFC 9110 §13.1.2): a proxy may have weakened our tag.
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
        });
    let mut res = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// Deadline query parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineParams {
    /// `recurring` or `one_off`.
    pub kind: Option<String>,
    /// The school.
    pub uai: Option<String>,
    /// Submission instant (RFC 3339; default now).
    pub submitted_at: Option<String>,
}

/// Compute the review deadline a submission would get in a school, before submitting.
#[utoipa::path(get, path = "/v1/deadlines", tag = "deadlines", params(DeadlineParams),
    responses((status = 200, body = DeadlineView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn deadlines(
    State(s): State<AppState>,
    _auth: Authenticated,
    q: Result<Query<DeadlineParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<DeadlineView>> {
    let q = query(q)?;
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
    /// Department code.
    pub department: Option<String>,
    /// Académie code.
    pub academie: Option<String>,
    /// `ecole`, `college`, `lycee`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub school_type: Option<String>,
    /// One UAI.
    pub uai: Option<String>,
    /// Cursor.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
}

/// The school directory.
#[utoipa::path(get, path = "/v1/schools", tag = "directory", params(SchoolParams),
    responses((status = 200, body = SchoolPage)), security(("bearer" = [])))]
pub async fn schools(
    State(s): State<AppState>,
    _auth: Authenticated,
    q: Result<Query<SchoolParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<SchoolPage>> {
    let q = query(q)?;
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
    /// `region`, `departement`, `commune`.
    pub kind: Option<String>,
}

/// The authorities, with how many emergencies each has published.
#[utoipa::path(get, path = "/v1/authorities", tag = "directory", params(AuthorityParams),
    responses((status = 200, body = [AuthorityView])), security(("bearer" = [])))]
pub async fn authorities(
    State(s): State<AppState>,
    _auth: Authenticated,
    q: Result<Query<AuthorityParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<AuthorityView>>> {
    let q = query(q)?;
    Ok(Json(s.charte.authorities(q.kind.as_deref()).await?))
}

/// Outbox filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxParams {
    /// How many (default 100).
    pub limit: Option<usize>,
}

/// Queued emails (administrators).
#[utoipa::path(get, path = "/v1/admin/outbox", tag = "admin", params(OutboxParams),
    responses((status = 200, body = [OutboxEmail]), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn outbox(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<OutboxParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<OutboxEmail>>> {
    let q = query(q)?;
    Ok(Json(s.charte.outbox(&actor, q.limit.unwrap_or(100)).await?))
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
    match tokio::time::timeout(std::time::Duration::from_secs(2), s.charte.store.ping()).await {
        Ok(Ok(())) => Ok(Json(Health { status: "ok" })),
        _ => Err(ApiError::unavailable(
            "Le stockage ne répond pas : le service n'est pas prêt.",
        )),
    }
}

/// Emails given up on after too many failed attempts (administrators), oldest first.
#[utoipa::path(get, path = "/v1/admin/dead-letters", tag = "admin", params(OutboxParams),
    responses((status = 200, body = [TrackedEmail]), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn dead_letters(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<OutboxParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<TrackedEmail>>> {
    let q = query(q)?;
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
