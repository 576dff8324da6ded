//! `/v1/disputes`: disputes for their arbitrator, and the arbitrator's decision.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiError, ApiResult, Problem};
use super::input::{ApiQuery, OptionalJson};
use crate::app::views::*;
use crate::app::{ArbitrationDecision, ListQuery};

/// This resource's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_disputes))
        .routes(routes!(decide))
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
    OptionalJson(r): OptionalJson<DecisionRequest>,
) -> ApiResult<Json<ReviewDetail>> {
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
