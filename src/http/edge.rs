//! What every request goes through around its route, as one service: header size, request id,
//! quota per address, the access log and the route's metrics, and on the way out the security
//! headers and the problem body of a bare error status.
//!
//! One service instead of a stack of `from_fn` layers, because each of those cloned the inner
//! service and boxed a future on every request: the fixed cost that separated `/healthz` from
//! a hello-world (see BENCHMARKS.md).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use super::error::{ApiError, as_problem};
use super::hardening::{MAX_HEADER_BYTES, acceptable_request_id};
use super::rate_limit::EXEMPT;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a router in [`Edge`].
#[derive(Clone)]
pub struct EdgeLayer {
    state: AppState,
}

impl EdgeLayer {
    /// The edge of a router whose quotas live in `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service every request enters first (see the module's documentation).
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    state: AppState,
}

impl<S, B> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The clone is the one made ready; this one is left for the next call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let started = Instant::now();
        // Measured before the request id is set on it: the client's headers alone count.
        let oversized = headers_size(&req) > MAX_HEADER_BYTES;
        let id = request_id(&mut req);
        // Only method and path: never the query string or headers, which may carry tokens.
        let span = tracing::info_span!("requete", method = %req.method(), path = %req.uri().path(), request_id = %id.to_str().unwrap_or("-"));
        let refused = span.in_scope(|| refusal(&self.state, &req, oversized));
        let api = req.uri().path().starts_with("/v1/");
        // Set by the router before this layer (it wraps each route), absent for the fallback.
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let state = self.state.clone();
        Box::pin(
            async move {
                let res = match refused {
                    Some(res) => res,
                    None => match inner.call(req).await {
                        Ok(res) => res.map(Body::new),
                        Err(never) => match never {},
                    },
                };
                let mut res = as_problem(res);
                let h = res.headers_mut();
                h.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                if api && !h.contains_key(header::CACHE_CONTROL) {
                    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                h.insert(X_REQUEST_ID.clone(), id);
                let status = res.status().as_u16();
                let took = started.elapsed();
                if let Some(route) = route {
                    state
                        .metrics
                        .observe(method.as_str(), route.as_str(), status, took);
                }
                let micros = took.as_micros() as u64;
                // One line per answered request, at the level operators keep.
                if res.status().is_server_error() {
                    tracing::error!(status, latence_us = micros, "réponse");
                } else {
                    tracing::info!(status, latence_us = micros, "réponse");
                }
                Ok(res)
            }
            .instrument(span),
        )
    }
}

/// The request's id: the client's when it is single, short and plain, else a fresh one; set on
/// the request so handlers and logs see the same.
fn request_id(req: &mut Request) -> HeaderValue {
    let mut given = req.headers().get_all(&X_REQUEST_ID).iter();
    let kept = match (given.next(), given.next()) {
        (Some(v), None) if acceptable_request_id(v) => Some(v.clone()),
        _ => None,
    };
    let id = kept.unwrap_or_else(|| {
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-"))
    });
    req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
    id
}

/// The size of the request's headers, names and values, as a client sent them.
fn headers_size(req: &Request) -> usize {
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// The answer given without reaching the route: headers too large (431) or the address's quota
/// spent (429).
fn refusal(state: &AppState, req: &Request, oversized: bool) -> Option<Response> {
    if oversized {
        return Some(
            ApiError::header_too_large(format!(
                "Les en-têtes de la requête dépassent {} Kio : allégez-les (cookies, jeton).",
                MAX_HEADER_BYTES / 1024
            ))
            .into_response(),
        );
    }
    if EXEMPT.contains(&req.uri().path()) {
        return None;
    }
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())?;
    match state.rate_limits.check_address(ip) {
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(adresse = %ip, "limite de requêtes atteinte pour une adresse");
            Some(e.into_response())
        }
    }
}
