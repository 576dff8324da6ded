//! The API documentation page (`/docs/`): Swagger UI from the `swagger-ui-dist` crate, started by
//! a script file of ours so the page runs under a CSP without inline scripts, and never framed.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Where the crate serves Swagger UI's own files.
const ASSETS: &str = "/docs/assets";

/// The page: French title, Swagger UI's files, our start-up script.
const INDEX_HTML: &str = r#"<!DOCTYPE html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>charte — documentation de l'API v1</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <main id="swagger-ui" aria-label="Documentation de l'API charte"></main>
  <noscript>La documentation interactive demande JavaScript ; le document OpenAPI est sur <a href="/openapi.json">/openapi.json</a>.</noscript>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"#;

/// Starts Swagger UI on the served document (a file, so the CSP needs no `unsafe-inline` script).
const INIT_JS: &str = r#"window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
});
"#;

/// Own scripts only; Swagger UI sets style attributes, hence `unsafe-inline` for styles alone.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The documentation routes: `/docs/` (and `/docs`, redirected), its script and Swagger UI's files.
pub fn router() -> Router {
    let assets = swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: ASSETS,
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: Some("charte — documentation de l'API v1"),
    });
    Router::new()
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .route(
            "/docs/",
            get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/docs/init.js",
            get(|| async { page("text/javascript; charset=utf-8", INIT_JS) }),
        )
        .merge(assets)
        .layer(axum::middleware::map_response(protect))
}

fn page(media_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, media_type)], body).into_response()
}

/// Every documentation response: the CSP and no framing (clickjacking).
async fn protect(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}
