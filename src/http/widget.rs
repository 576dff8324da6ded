//! The ENT widget: plain HTML, CSS and ES modules compiled into the binary and served under `/widget/`.
//!
//! The page is framed by the ENT, so every response carries a CSP whose `frame-ancestors` lists the
//! configured origins (`'none'` without any). The same list is written into the page's
//! `<meta name="charte-embedders">`, where the script reads which parent origins may hand it a token
//! by `postMessage`: one configuration decides both who may frame the widget and who may talk to it.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;

/// The page; `{{EMBEDDERS}}` is replaced by the allowed origins.
const INDEX_HTML: &str = include_str!("../../widget/index.html");

/// The assets next to the page: name, media type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../widget/style.css"),
    ),
    ("app.js", JS, include_str!("../../widget/app.js")),
    ("api.js", JS, include_str!("../../widget/api.js")),
    ("token.js", JS, include_str!("../../widget/token.js")),
    ("ui.js", JS, include_str!("../../widget/ui.js")),
    ("head.js", JS, include_str!("../../widget/head.js")),
    (
        "arbitrator.js",
        JS,
        include_str!("../../widget/arbitrator.js"),
    ),
    (
        "authority.js",
        JS,
        include_str!("../../widget/authority.js"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

/// Everything but framing: the widget only talks to its own origin and runs only its own files.
const BASE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

/// Keeps the origins that are safe to put into a CSP header and into the page.
///
/// A configured value lands verbatim in a header, so anything beyond a plain origin (a `;`, a space,
/// a path) could add or loosen directives; such values are dropped with a warning rather than trusted.
pub fn valid_origins(configured: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for raw in configured {
        let origin = raw.trim().trim_end_matches('/');
        if origin.is_empty() {
            continue;
        }
        if is_origin(origin) {
            if !out.iter().any(|o| o == origin) {
                out.push(origin.to_owned());
            }
        } else {
            tracing::warn!(
                origine = %raw,
                "origine ignorée pour l'intégration du widget : attendu « https://hote[:port] » (ou « https://*.domaine »)"
            );
        }
    }
    out
}

fn is_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    if scheme != "https" && scheme != "http" {
        return false;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && !host.starts_with('.')
        && !host.ends_with('.')
        && !host.contains("..")
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// The headers every widget response carries.
fn security_headers(origins: &[String]) -> HeaderMap {
    let ancestors = if origins.is_empty() {
        "'none'".to_owned()
    } else {
        origins.join(" ")
    };
    let mut h = HeaderMap::new();
    let csp = format!("{BASE_CSP}; frame-ancestors {ancestors}");
    // Origins were validated, so this only fails on a bug; an unframable page is the safe fallback.
    let csp = HeaderValue::from_str(&csp).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        )
    });
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if origins.is_empty() {
        // For browsers too old to know frame-ancestors.
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Widget {
    index: String,
    headers: HeaderMap,
}

impl Widget {
    fn page(&self) -> Response {
        let mut res = (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            self.index.clone(),
        )
            .into_response();
        res.headers_mut().extend(self.headers.clone());
        res
    }

    fn asset(&self, name: &str) -> Response {
        let Some((_, media_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
            return ApiError::not_found("Aucun fichier du widget à cette adresse.").into_response();
        };
        let mut res = (
            [
                (header::CONTENT_TYPE, *media_type),
                // Revalidated each time: a new release must never run against stale modules.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response();
        res.headers_mut().extend(self.headers.clone());
        // Only the page itself loads these; the page gets no such header, or an ENT using
        // Cross-Origin-Embedder-Policy could no longer frame it.
        res.headers_mut().insert(
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        );
        res
    }
}

/// Routes serving the widget under `/widget/`.
pub fn router(frame_ancestors: &[String]) -> Router<AppState> {
    let origins = valid_origins(frame_ancestors);
    let widget = Arc::new(Widget {
        index: INDEX_HTML.replace("{{EMBEDDERS}}", &escape_attr(&origins.join(" "))),
        headers: security_headers(&origins),
    });
    let page = widget.clone();
    let asset = widget;
    Router::new()
        // Relative module paths only resolve under the trailing slash.
        .route("/widget", get(|| async { Redirect::permanent("/widget/") }))
        .route(
            "/widget/",
            get(move || {
                let w = page.clone();
                async move { w.page() }
            }),
        )
        .route(
            "/widget/{file}",
            get(move |Path(file): Path<String>| {
                let w = asset.clone();
                async move {
                    if file == "index.html" {
                        return (
                            StatusCode::MOVED_PERMANENTLY,
                            [(header::LOCATION, "/widget/")],
                        )
                            .into_response();
                    }
                    w.asset(&file)
                }
            }),
        )
}
