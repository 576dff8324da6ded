//! Reference data: deadline previews, the school directory and the authorities.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiResult, Problem};
use super::input::ApiQuery;
use crate::app::ListQuery;
use crate::app::views::*;

/// This resource's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(deadlines))
        .routes(routes!(schools))
        .routes(routes!(authorities))
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
