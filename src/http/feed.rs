//! `/v1/schools/{uai}/feed`: what a school displays now, for the ENT, with its entity tag.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiResult, Problem};
use crate::app::views::*;

/// This resource's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(feed))
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
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
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
