//! The HTTP layer's one error type, rendered as RFC 9457 problem+json in French.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppError;
use crate::domain::Violation;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short French summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened and what to do, in French.
    pub detail: String,
    /// Each invalid field and what to fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Violation>,
}

/// The realm named in `WWW-Authenticate` challenges.
const REALM: &str = "charte";

/// French text folded to what an RFC 6750 `error_description` may hold (visible ASCII, no `"` or `\`).
fn header_text(text: &str) -> String {
    let text = text.replace("« ", "«").replace(" »", "»");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let folded: &str = match c {
            'à' | 'â' | 'ä' => "a",
            'À' | 'Â' | 'Ä' => "A",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'É' | 'È' | 'Ê' | 'Ë' => "E",
            'î' | 'ï' => "i",
            'Î' | 'Ï' => "I",
            'ô' | 'ö' => "o",
            'Ô' | 'Ö' => "O",
            'ù' | 'û' | 'ü' => "u",
            'Ù' | 'Û' | 'Ü' => "U",
            'ç' => "c",
            'Ç' => "C",
            'œ' => "oe",
            'Œ' => "OE",
            '«' | '»' | '"' => "'",
            '\u{a0}' | '\u{202f}' => " ",
            '\\' => "/",
            c if c == ' ' || c.is_ascii_graphic() => {
                out.push(c);
                continue;
            }
            _ => "",
        };
        out.push_str(folded);
    }
    out
}

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<Violation>,
    retry_after: Option<u32>,
    www_authenticate: Option<String>,
}

impl ApiError {
    /// Builds an error.
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: vec![],
            retry_after: None,
            www_authenticate: None,
        }
    }

    /// 401 without credentials: the challenge names the scheme, with no error code (RFC 6750 §3.1).
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "authentification",
            "Authentification requise",
            detail,
        );
        e.www_authenticate = Some(format!("Bearer realm=\"{REALM}\""));
        e
    }

    /// 401 for a token that is refused: `error="invalid_token"` and the reason (RFC 6750 §3).
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "authentification",
            "Authentification requise",
            detail.clone(),
        );
        e.www_authenticate = Some(format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"",
            header_text(&detail)
        ));
        e
    }

    /// 431: a header (or the token in it) is larger than the service reads.
    pub fn header_too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "en-tetes-trop-volumineux",
            "En-têtes trop volumineux",
            detail,
        )
    }

    /// 429 with the seconds to wait.
    pub fn too_many_requests(retry_after: u32) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "trop-de-requetes",
            "Trop de requêtes",
            format!(
                "Vous avez envoyé trop de requêtes en peu de temps : réessayez dans {retry_after} s."
            ),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "introuvable",
            "Ressource introuvable",
            detail,
        )
    }

    /// 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let v = Violation::new(field, message);
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Données invalides",
            v.message.clone(),
        );
        e.errors = vec![v];
        e
    }

    /// 422 for one or more fields; the detail names the field when there is one.
    pub fn invalid_many(violations: Vec<Violation>) -> Self {
        let detail = match violations.as_slice() {
            [one] => format!("« {} » : {}", one.field, one.message),
            many => format!("{} champs sont à corriger : voir `errors`.", many.len()),
        };
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Données invalides",
            detail,
        );
        err.errors = violations;
        err
    }

    /// 503 with a retry hint.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "indisponible",
            "Service momentanément indisponible",
            detail,
        );
        e.retry_after = Some(2);
        e
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The problem document.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:charte:probleme:{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid(v) => Self::invalid_many(v),
            AppError::Refused(r) => Self::new(
                StatusCode::CONFLICT,
                "transition-refusee",
                "Action impossible dans l'état actuel",
                r.to_string(),
            ),
            AppError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflit", "Conflit", m),
            AppError::NotFound(m) => Self::not_found(m),
            AppError::Forbidden(m) => Self::new(
                StatusCode::FORBIDDEN,
                "interdit",
                "Action non permise pour votre rôle",
                m,
            ),
            AppError::Unavailable(m) => {
                tracing::warn!(cause = %m, "dépendance indisponible");
                Self::unavailable(
                    "Le stockage est momentanément injoignable : réessayez dans quelques secondes.",
                )
            }
            AppError::Internal(m) => {
                // The cause is for operators; the client learns only that it is our fault.
                tracing::error!(cause = %m, "erreur interne");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "interne",
                    "Erreur interne",
                    "Une erreur interne est survenue ; elle a été journalisée. Réessayez plus tard.",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "type-de-contenu",
                "Type de contenu non pris en charge",
                "Envoyez le corps en JSON avec l'en-tête « Content-Type: application/json ».",
            ),
            JsonRejection::JsonSyntaxError(e) => Self::new(
                StatusCode::BAD_REQUEST,
                "json-illisible",
                "JSON illisible",
                format!("Le corps n'est pas un JSON valide : {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Données invalides",
                format!("Le JSON n'a pas la forme attendue : {}", e.body_text()),
            ),
            JsonRejection::BytesRejection(e) => Self::new(
                e.status(),
                "corps-illisible",
                "Corps de requête illisible",
                format!(
                    "Le corps de la requête n'a pas pu être lu (trop volumineux ?) : {}",
                    e.body_text()
                ),
            ),
            other => Self::new(
                StatusCode::BAD_REQUEST,
                "requete",
                "Requête invalide",
                other.body_text(),
            ),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Paramètres invalides",
            format!("Les paramètres de l'URL sont invalides : {}", r.body_text()),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(challenge) = self.www_authenticate.as_deref()
            && let Ok(v) = HeaderValue::from_str(challenge)
        {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}

/// Rewrites bare error responses (unknown route, wrong method, body limits, time-outs) as problem+json.
pub fn as_problem(res: Response) -> Response {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    let (slug, title, detail) = match status {
        StatusCode::NOT_FOUND => (
            "introuvable",
            "Ressource introuvable",
            "Aucune ressource à cette adresse : consultez la documentation de l'API sur /docs/.",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "methode",
            "Méthode non permise",
            "Cette adresse n'accepte pas cette méthode HTTP : consultez la documentation de l'API sur /docs/.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "trop-volumineux",
            "Requête trop volumineuse",
            "Le corps de la requête dépasse la taille permise.",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "delai",
            "Délai dépassé",
            "La requête a pris trop de temps : réessayez.",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "en-tetes-trop-volumineux",
            "En-têtes trop volumineux",
            "Les en-têtes de la requête dépassent la taille permise.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "type-de-contenu",
            "Type de contenu non pris en charge",
            "Envoyez le corps en JSON avec l'en-tête « Content-Type: application/json ».",
        ),
        s if s.is_server_error() => (
            "interne",
            "Erreur interne",
            "Une erreur interne est survenue ; elle a été journalisée.",
        ),
        _ => (
            "requete",
            "Requête invalide",
            "La requête n'a pas pu être traitée.",
        ),
    };
    let mut out = ApiError::new(status, slug, title, detail).into_response();
    for (k, v) in res.headers() {
        if k == header::RETRY_AFTER || k == header::ALLOW {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// What a handler answers: its response, or a problem.
pub type ApiResult<T> = Result<T, ApiError>;
