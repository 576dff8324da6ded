//! `/v1/admin`: the outbox and dead letters, for administrators.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiResult, Problem};
use super::input::ApiQuery;
use crate::app::ListQuery;
use crate::app::views::*;
use crate::store::TrackedEmail;

/// This resource's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(outbox))
        .routes(routes!(dead_letters))
        .routes(routes!(retry_dead_letter))
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
