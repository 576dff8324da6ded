//! Protections every response gets: no panic reaches a client as a dropped connection, request
//! ids are ours or harmless (applied by [`super::edge`], with the headers' size limit).

use std::any::Any;

use axum::http::{HeaderValue, StatusCode};
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;
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
