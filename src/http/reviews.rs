//! `/v1/reviews`: the heads' inboxes and decisions, and the representative's escalation.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiError, ApiResult, Problem};
use super::input::{ApiQuery, Bodiless, NoBody, OptionalJson};
use crate::app::ListQuery;
use crate::app::views::*;
use crate::domain::review::ReviewEvent;
use crate::domain::review::ReviewState;

/// This resource's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reviews))
        .routes(routes!(get_review))
        .routes(routes!(approve))
        .routes(routes!(request_rectification))
        .routes(routes!(escalate))
}

/// A head's rectification request.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RectificationRequest {
    /// The motive (10 to 4,000 characters): the charter requires every refusal to be motivated.
    #[schema(value_type = String, required = true, min_length = 10, max_length = 4000)]
    pub motive: Option<String>,
}

/// The authority representative's statement for the arbitrator.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EscalateRequest {
    /// The statement (10 to 4,000 characters).
    #[schema(value_type = String, required = true, min_length = 10, max_length = 4000)]
    pub statement: Option<String>,
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
    _: Bodiless,
) -> ApiResult<Json<ReviewDetail>> {
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
    OptionalJson(r): OptionalJson<RectificationRequest>,
) -> ApiResult<Json<ReviewDetail>> {
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
    OptionalJson(r): OptionalJson<EscalateRequest>,
) -> ApiResult<Json<ReviewDetail>> {
    Ok(Json(s.charte.escalate(&actor, &id, r.statement).await?))
}
