//! Reading request bodies and query strings: strict media type, and every error in French,
//! naming the field at fault (never serde's English or an internal type name).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::domain::Violation;

/// Whether the request says its body is JSON: `application/json`, parameters allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "type-de-contenu",
        "Type de contenu non pris en charge",
        "Envoyez le corps en JSON avec l'en-tête « Content-Type: application/json ».",
    )
}

/// Parses a required JSON body.
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    if !is_json(headers) {
        return Err(unsupported_media_type());
    }
    // serde would read an array as a struct's fields in order: only an object is a request body.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| json_error(".", e))?;
        return Err(ApiError::invalid_many(vec![Violation::new(
            "$",
            format!("un objet JSON est attendu (reçu : {})", json_kind(&value)),
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| json_error(&e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| json_error(".", e))?;
    Ok(value)
}

/// An optional JSON body: none at all is the default; anything sent must be valid JSON.
pub fn optional_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    if body.is_empty() {
        Ok(T::default())
    } else {
        parse_json(headers, body)
    }
}

/// The bodiless actions (approve, co-produce): nothing, or an empty JSON object.
pub fn no_body(headers: &HeaderMap, body: &Bytes) -> Result<(), ApiError> {
    if body.is_empty() {
        return Ok(());
    }
    let value: serde_json::Value = parse_json(headers, body)?;
    match value.as_object() {
        Some(o) if o.is_empty() => Ok(()),
        _ => Err(ApiError::invalid(
            "$",
            "Cette action ne prend pas de données : envoyez un corps vide ou l'objet JSON {}.",
        )),
    }
}

/// Turns a serde_json error at `path` into a French problem: 400 for unreadable JSON (with
/// where), 422 for JSON of the wrong shape (with the field).
fn json_error(path: &str, e: serde_json::Error) -> ApiError {
    if e.is_syntax() || e.is_eof() {
        let what = if e.is_eof() {
            "le JSON s'arrête avant la fin"
        } else {
            "JSON mal formé"
        };
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "json-illisible",
            "JSON illisible",
            format!(
                "Le corps n'est pas un JSON valide : {what} (ligne {}, colonne {}).",
                e.line(),
                e.column()
            ),
        );
    }
    let field = match path {
        "." | "" => "$".to_owned(),
        p => p.to_owned(),
    };
    let text = e.to_string();
    // serde_json appends " at line L column C"; the field already says where.
    let text = text.split(" at line ").next().unwrap_or(&text);
    let message = french_data_error(text);
    ApiError::invalid_many(vec![Violation::new(&field, message)])
}

/// The kind of a JSON value, in French.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "un booléen",
        serde_json::Value::Number(_) => "un nombre",
        serde_json::Value::String(_) => "une chaîne de caractères",
        serde_json::Value::Array(_) => "une liste",
        serde_json::Value::Object(_) => "un objet",
    }
}

/// French wording of serde's data errors ("invalid type: integer `5`, expected a string").
fn french_data_error(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("invalid type: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let (what, agreement) = expected_fr(expected);
        return format!(
            "{what} est attendu{agreement} (reçu : {})",
            received_fr(got)
        );
    }
    if let Some(rest) = text.strip_prefix("missing field `") {
        return format!(
            "le champ « {} » est obligatoire",
            rest.trim_end_matches('`')
        );
    }
    if text.starts_with("unknown variant ") {
        let allowed = text.split_once(", expected ").map_or("", |(_, a)| a);
        return format!(
            "valeur inconnue : valeurs possibles {}",
            allowed.replace('`', "")
        );
    }
    if text.starts_with("unknown field ") {
        let field = text
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
            .unwrap_or("");
        return format!("champ inconnu « {field} »");
    }
    if text.starts_with("invalid value: ") || text.starts_with("invalid length ") {
        return "valeur hors des bornes permises".to_owned();
    }
    "valeur invalide".to_owned()
}

/// What serde expected, in French, with the agreement of "attendu" (masculine or feminine).
fn expected_fr(expected: &str) -> (&'static str, &'static str) {
    let e = expected.trim();
    if e == "a string" || e.starts_with("a borrowed string") {
        ("une chaîne de caractères", "e")
    } else if e == "a sequence" || e.starts_with("a sequence") {
        ("une liste", "e")
    } else if e.starts_with("struct ") || e == "a map" || e.starts_with("a map") {
        ("un objet JSON", "")
    } else if e == "a boolean" {
        ("un booléen (true ou false)", "")
    } else if e.starts_with('u') || e.starts_with('i') || e.contains("integer") {
        ("un nombre entier", "")
    } else if e.starts_with('f') {
        ("un nombre", "")
    } else {
        ("une autre valeur", "e")
    }
}

/// What was received, in French.
fn received_fr(got: &str) -> &'static str {
    let g = got.trim();
    if g.starts_with("integer") || g.starts_with("floating point") {
        "un nombre"
    } else if g.starts_with("string") {
        "une chaîne de caractères"
    } else if g.starts_with("boolean") {
        "un booléen"
    } else if g == "null" || g == "unit value" {
        "null"
    } else if g == "sequence" {
        "une liste"
    } else if g == "map" {
        "un objet"
    } else {
        "une valeur d'un autre type"
    }
}

/// Query parameters read with French errors that name the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Parses a query string; a parameter of the wrong type is a 422 naming it.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let text = e.into_inner().to_string();
        let message = if text.contains("invalid digit") || text.contains("number") {
            "un nombre entier est attendu".to_owned()
        } else if text.starts_with("duplicate field") {
            "ce paramètre ne peut être donné qu'une fois".to_owned()
        } else {
            french_data_error(&text)
        };
        let field = if field == "." { "$".to_owned() } else { field };
        ApiError::invalid_many(vec![Violation::new(field, message)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        title: Option<String>,
        targets: Option<Vec<String>>,
        nested: Option<Nested>,
    }
    #[derive(Debug, Default, serde::Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        category: Option<String>,
    }

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        h
    }

    fn problem(body: &str) -> crate::http::error::Problem {
        parse_json::<Sample>(&headers(), &Bytes::from(body.to_owned()))
            .unwrap_err()
            .problem()
    }

    #[test]
    fn wrong_types_name_the_field_in_french() {
        let p = problem(r#"{"title": 5}"#);
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "title");
        assert_eq!(
            p.errors[0].message,
            "une chaîne de caractères est attendue (reçu : un nombre)"
        );
        assert_eq!(
            p.detail,
            "« title » : une chaîne de caractères est attendue (reçu : un nombre)"
        );
        let p = problem(r#"{"targets": ["0570054Z", 3]}"#);
        assert_eq!(p.errors[0].field, "targets[1]");
        let p = problem(r#"{"nested": {"category": []}}"#);
        assert_eq!(p.errors[0].field, "nested.category");
        assert!(p.errors[0].message.contains("reçu : une liste"));
        let p = problem("[1]");
        assert_eq!(p.errors[0].field, "$");
        assert_eq!(
            p.errors[0].message,
            "un objet JSON est attendu (reçu : une liste)"
        );
        assert!(!p.detail.contains("Sample"), "{}", p.detail);
    }

    #[test]
    fn syntax_errors_say_where_in_french() {
        let p = problem("{\"title\": \n  \"x\",, }");
        assert_eq!(p.status, 400);
        assert!(p.detail.contains("ligne 2, colonne"), "{}", p.detail);
        let p = problem("{\"title\": \"x\"");
        assert!(p.detail.contains("s'arrête avant la fin"), "{}", p.detail);
        let p = problem("{} {}");
        assert_eq!(p.status, 400);
    }

    #[test]
    fn only_json_media_types_are_read() {
        for (ct, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/problem+json", false),
            ("text/plain", false),
            ("application/jsonx", false),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(is_json(&h), ok, "{ct}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Params {
        limit: Option<usize>,
        state: Option<String>,
    }

    #[test]
    fn query_parameters_of_the_wrong_type_are_named() {
        let e = parse_query::<Params>("limit=abc").unwrap_err().problem();
        assert_eq!(e.status, 422);
        assert_eq!(e.errors[0].field, "limit");
        assert_eq!(e.errors[0].message, "un nombre entier est attendu");
        let e = parse_query::<Params>("limit=-1").unwrap_err().problem();
        assert_eq!(e.errors[0].field, "limit");
        let ok = parse_query::<Params>("limit=5&state=pending&other=1").unwrap();
        assert_eq!(ok.limit, Some(5));
    }

    #[test]
    fn bodiless_actions_take_nothing_or_an_empty_object() {
        assert!(no_body(&HeaderMap::new(), &Bytes::new()).is_ok());
        assert!(no_body(&headers(), &Bytes::from_static(b"{}")).is_ok());
        assert!(no_body(&headers(), &Bytes::from_static(b" { } ")).is_ok());
        assert_eq!(
            no_body(&headers(), &Bytes::from_static(b"{\"a\":1}"))
                .unwrap_err()
                .status(),
            422
        );
        assert_eq!(
            no_body(&headers(), &Bytes::from_static(b"[]"))
                .unwrap_err()
                .status(),
            422
        );
        assert_eq!(
            no_body(&HeaderMap::new(), &Bytes::from_static(b"{}"))
                .unwrap_err()
                .status(),
            415
        );
    }
}

/// No data: the action takes an empty body or the empty object `{}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

/// The request's headers and whole body, as the body extractors below read them (a body over
/// the size limit is refused by axum's own `Bytes` extractor, as before).
async fn headers_and_body<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<(HeaderMap, Bytes), Response> {
    let headers = req.headers().clone();
    let body = Bytes::from_request(req, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((headers, body))
}

/// A required JSON object body (see [`parse_json`]).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, body) = headers_and_body(req, state).await?;
        parse_json(&headers, &body)
            .map(ApiJson)
            .map_err(IntoResponse::into_response)
    }
}

/// A JSON object body that may be left out: its fields' defaults then (see [`optional_json`]).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, body) = headers_and_body(req, state).await?;
        optional_json(&headers, &body)
            .map(OptionalJson)
            .map_err(IntoResponse::into_response)
    }
}

/// The body of an action that takes no data: nothing, or `{}` (see [`no_body`]).
pub struct Bodiless;

impl<S: Send + Sync> FromRequest<S> for Bodiless {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, body) = headers_and_body(req, state).await?;
        no_body(&headers, &body)
            .map(|()| Bodiless)
            .map_err(IntoResponse::into_response)
    }
}
