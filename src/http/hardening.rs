//! Protections every response gets: no panic reaches a client as a dropped connection, request
//! ids are ours or harmless, and API answers are neither sniffed nor cached by intermediaries.

use std::any::Any;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Longest client-supplied request id kept.
const REQUEST_ID_MAX: usize = 64;

/// Turns a panic in a handler into a logged 500 problem instead of a dropped connection.
pub fn panic_to_problem(err: Box<dyn Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(panique sans message)");
    tracing::error!(panique = %what, "panique dans le traitement d'une requête");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "interne",
        "Erreur interne",
        "Une erreur interne est survenue ; elle a été journalisée. Réessayez plus tard.",
    )
    .into_response()
}

/// Whether a client's `X-Request-Id` is safe to log and echo: short, `[A-Za-z0-9-]` only.
pub fn acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= REQUEST_ID_MAX
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// Largest set of request headers read, all names and values together.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses requests whose headers exceed [`MAX_HEADER_BYTES`] with a 431 problem.
pub async fn limit_headers(req: Request, next: Next) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::header_too_large(format!(
            "Les en-têtes de la requête dépassent {} Kio : allégez-les (cookies, jeton).",
            MAX_HEADER_BYTES / 1024
        ))
        .into_response();
    }
    next.run(req).await
}

/// Drops an unacceptable `X-Request-Id`, so the next layer issues a fresh one.
pub async fn sanitise_request_id(mut req: Request, next: Next) -> Response {
    let bad = req
        .headers()
        .get_all("x-request-id")
        .iter()
        .enumerate()
        .any(|(i, v)| i > 0 || !acceptable_request_id(v));
    if bad {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

/// `nosniff` everywhere; API answers not stored by caches unless the handler said otherwise.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/v1/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_is_a_logged_500_problem_not_a_dropped_connection() {
        let app = axum::Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    let far = time::Date::MAX;
                    // A bug of the kind the date range now prevents: arithmetic past year 9999.
                    let _ = far + time::Duration::days(1);
                    "unreachable"
                }),
            )
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                panic_to_problem,
            ));
        let res = app
            .oneshot(
                axum::http::Request::get("/boom")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 500);
        assert!(problem["detail"].as_str().unwrap().contains("journalisée"));
    }

    #[test]
    fn request_ids_are_kept_only_when_short_and_plain() {
        for (id, ok) in [
            ("3f2b-11aa", true),
            ("ABC-123", true),
            ("", false),
            ("a b", false),
            ("x\u{7f}", false),
            ("<script>", false),
            ("a_b", false),
        ] {
            let v = HeaderValue::from_bytes(id.as_bytes());
            assert_eq!(
                v.map(|v| acceptable_request_id(&v)).unwrap_or(false),
                ok,
                "{id:?}"
            );
        }
        let long = HeaderValue::from_str(&"a".repeat(65)).unwrap();
        assert!(!acceptable_request_id(&long));
    }
}
