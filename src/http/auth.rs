//! Identity from a verified JWT only: algorithm pinned, `exp`, `iss`, `aud` required.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::AppState;
use super::error::ApiError;
use crate::domain::actor::{Actor, Role};
use crate::domain::directory::ArbitratorRef;
use crate::domain::uai::Uai;

/// Leeway for clock skew between the identity provider and us.
const LEEWAY_SECONDS: u64 = 30;

/// The claims charte reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject.
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience: one, or several of which ours must be one (RFC 7519 §4.1.3).
    pub aud: Audience,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    #[serde(default)]
    pub iat: u64,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// One role.
    pub role: String,
    /// Authority id, for authority roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// School UAIs, for heads and the ENT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uai: Vec<String>,
    /// Académie code, for academic services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub academie: Option<String>,
    /// `rectorat:<académie>` or `draaf:<région>`, for arbitrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arbitrator: Option<String>,
}

/// The `aud` claim, a string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl From<&str> for Audience {
    fn from(a: &str) -> Self {
        Audience::One(a.to_owned())
    }
}

/// Longest bearer token read; longer ones are refused with a 431 before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Longest token lifetime accepted by default (`exp` this far ahead at most).
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Where verification keys come from.
pub enum KeySource {
    /// No key configured: every token is refused.
    None,
    /// Shared secret, HS256, only in explicit development mode.
    Dev(Vec<u8>),
    /// Public keys from PEM files.
    Static(Vec<DecodingKey>),
    /// Public keys from a JWKS URL, cached and refreshed.
    Jwks {
        /// The JWKS document's URL.
        url: String,
        /// Cached keys and when they were fetched.
        cache: RwLock<(JwkSet, Option<Instant>)>,
        /// HTTP client.
        client: reqwest::Client,
        /// Shortest pause between two fetches, so unknown `kid`s cannot hammer the provider.
        min_refetch: Duration,
    },
}

/// Verifies bearer tokens.
pub struct Verifier {
    algorithm: Algorithm,
    issuer: String,
    audience: String,
    keys: KeySource,
    max_lifetime: Duration,
    /// Tokens verified lately, by their whole text (signature included), with the actor they
    /// stand for and their expiry: an ENT polling feeds presents the same token thousands of times.
    verified: std::sync::Mutex<std::collections::HashMap<String, Verified>>,
}

/// A token's verification, remembered for [`VERIFIED_FOR`] at most and never past its expiry.
struct Verified {
    actor: Actor,
    exp: u64,
    at: std::time::Instant,
}

/// How long a verified token is trusted without checking it again (a key removed from the JWKS
/// stops being honoured within this delay).
const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// Verified tokens remembered at most (the memory is dropped whole beyond: a cache, not a list).
const VERIFIED_MAX: usize = 10_000;

impl Verifier {
    /// A verifier.
    pub fn new(algorithm: Algorithm, issuer: String, audience: String, keys: KeySource) -> Self {
        Self {
            algorithm,
            issuer,
            audience,
            keys,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            verified: Default::default(),
        }
    }

    /// Refuses tokens whose `exp` lies further ahead than `max` (a stolen long-lived token).
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// The dev-mode verifier for a shared secret.
    pub fn dev(secret: Vec<u8>) -> Self {
        Self::new(
            Algorithm::HS256,
            DEV_ISSUER.into(),
            DEV_AUDIENCE.into(),
            KeySource::Dev(secret),
        )
    }

    fn validation(&self) -> Validation {
        let mut v = Validation::new(self.algorithm);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECONDS;
        v
    }

    async fn jwks_key(&self, kid: Option<&str>) -> Result<DecodingKey, ApiError> {
        let KeySource::Jwks {
            url,
            cache,
            client,
            min_refetch,
        } = &self.keys
        else {
            return Err(ApiError::invalid_token("Aucune clé JWKS configurée."));
        };
        let find = |set: &JwkSet| -> Option<DecodingKey> {
            let jwk = match kid {
                Some(k) => set.find(k),
                None => set.keys.first(),
            }?;
            DecodingKey::from_jwk(jwk).ok()
        };
        {
            let guard = cache.read().await;
            let fresh = guard
                .1
                .is_some_and(|t| t.elapsed() < Duration::from_secs(600));
            if let (Some(k), true) = (find(&guard.0), fresh) {
                return Ok(k);
            }
        }
        let mut guard = cache.write().await;
        if guard.1.is_none_or(|t| t.elapsed() > *min_refetch) {
            match client.get(url).timeout(Duration::from_secs(5)).send().await {
                Ok(res) => match res.json::<JwkSet>().await {
                    Ok(set) => *guard = (set, Some(Instant::now())),
                    Err(e) => tracing::warn!(error = %e, "JWKS illisible"),
                },
                Err(e) => tracing::warn!(error = %e, "JWKS injoignable"),
            }
        }
        find(&guard.0)
            .ok_or_else(|| ApiError::invalid_token("Clé de signature du jeton inconnue (kid)."))
    }

    /// Verifies a token and returns the actor it proves.
    pub async fn verify(&self, token: &str) -> Result<Actor, ApiError> {
        let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
        if let Ok(verified) = self.verified.lock()
            && let Some(v) = verified.get(token)
            && now < v.exp
            && v.at.elapsed() < VERIFIED_FOR
        {
            return Ok(v.actor.clone());
        }
        let (actor, exp) = self.verify_anew(token).await?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_MAX {
                verified.clear();
            }
            verified.insert(
                token.to_owned(),
                Verified {
                    actor: actor.clone(),
                    exp,
                    at: std::time::Instant::now(),
                },
            );
        }
        Ok(actor)
    }

    /// Verifies a token's signature and claims (see [`Self::verify`]).
    async fn verify_anew(&self, token: &str) -> Result<(Actor, u64), ApiError> {
        let header = decode_header(token)
            .map_err(|_| ApiError::invalid_token("Jeton illisible : un JWT signé est attendu."))?;
        if header.alg != self.algorithm {
            return Err(ApiError::invalid_token(format!(
                "Algorithme de signature refusé : seul {:?} est accepté.",
                self.algorithm
            )));
        }
        let validation = self.validation();
        let result = match &self.keys {
            KeySource::None => {
                return Err(ApiError::invalid_token(
                    "Aucune clé de vérification n'est configurée : lancez le service avec --dev pour essayer, ou configurez --jwt-public-key / --jwks-url.",
                ));
            }
            KeySource::Dev(secret) => {
                decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
            }
            KeySource::Static(keys) => {
                let mut last = None;
                let mut ok = None;
                for k in keys {
                    match decode::<Claims>(token, k, &validation) {
                        Ok(d) => {
                            ok = Some(d);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                match (ok, last) {
                    (Some(d), _) => Ok(d),
                    (None, Some(e)) => Err(e),
                    (None, None) => {
                        return Err(ApiError::invalid_token("Aucune clé publique configurée."));
                    }
                }
            }
            KeySource::Jwks { .. } => {
                let key = self.jwks_key(header.kid.as_deref()).await?;
                decode::<Claims>(token, &key, &validation)
            }
        };
        let claims = match result {
            Ok(data) => data.claims,
            Err(e) => return Err(ApiError::invalid_token(refusal(&e, token))),
        };
        self.check_times(&claims)?;
        let exp = claims.exp;
        Ok((actor_from_claims(claims)?, exp))
    }

    /// What jsonwebtoken leaves to us: a bounded lifetime, no `iat` in the future, a real `sub`.
    fn check_times(&self, c: &Claims) -> Result<(), ApiError> {
        let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
        if c.exp > now.saturating_add(self.max_lifetime.as_secs() + LEEWAY_SECONDS) {
            return Err(ApiError::invalid_token(format!(
                "Jeton refusé : sa durée de validité dépasse le maximum permis ({} h) ; demandez un jeton plus court.",
                self.max_lifetime.as_secs() / 3600
            )));
        }
        if c.iat > now.saturating_add(LEEWAY_SECONDS) {
            return Err(ApiError::invalid_token(
                "Jeton refusé : il est daté (iat) du futur ; vérifiez l'horloge de l'émetteur.",
            ));
        }
        if c.sub.trim().is_empty() {
            return Err(ApiError::invalid_token(
                "Jeton refusé : le sujet (sub) est vide.",
            ));
        }
        Ok(())
    }
}

/// The French reason a token was refused; for malformed claims, which one and why (read from
/// the unverified payload only to explain, never to trust).
fn refusal(e: &jsonwebtoken::errors::Error, token: &str) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "Le jeton a expiré : reconnectez-vous.".to_owned(),
        K::ImmatureSignature => {
            "Le jeton n'est pas encore valable (nbf) : vérifiez l'horloge de l'émetteur.".to_owned()
        }
        K::InvalidIssuer => "Émetteur (iss) du jeton non reconnu.".to_owned(),
        K::InvalidAudience => "Audience (aud) du jeton incorrecte.".to_owned(),
        K::InvalidSignature => "Signature du jeton invalide.".to_owned(),
        K::MissingRequiredClaim(c) => {
            format!("Le jeton ne porte pas la revendication obligatoire « {c} ».")
        }
        _ => mistyped_claim(token).unwrap_or_else(|| "Jeton invalide.".to_owned()),
    }
}

/// Names the first standard claim of the wrong type in an (unverified) payload.
fn mistyped_claim(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let obj = claims.as_object()?;
    if let Some(missing) = ["iss", "aud", "sub", "exp", "role"]
        .iter()
        .find(|c| !obj.contains_key(**c))
    {
        return Some(format!(
            "Le jeton ne porte pas la revendication obligatoire « {missing} »."
        ));
    }
    let string = |v: &serde_json::Value| v.is_string();
    let number = |v: &serde_json::Value| v.is_u64() || v.is_f64();
    let audience = |v: &serde_json::Value| {
        v.is_string()
            || v.as_array()
                .is_some_and(|a| a.iter().all(serde_json::Value::is_string))
    };
    type Check<'a> = (&'a str, &'a dyn Fn(&serde_json::Value) -> bool, &'a str);
    let checks: [Check<'_>; 7] = [
        ("iss", &string, "une chaîne de caractères"),
        ("sub", &string, "une chaîne de caractères"),
        ("aud", &audience, "une chaîne ou une liste de chaînes"),
        ("exp", &number, "un nombre de secondes depuis 1970"),
        ("nbf", &number, "un nombre de secondes depuis 1970"),
        ("iat", &number, "un nombre de secondes depuis 1970"),
        ("role", &string, "une chaîne de caractères"),
    ];
    checks.iter().find_map(|(name, ok, expected)| {
        let v = obj.get(*name)?;
        (!ok(v))
            .then(|| format!("Jeton refusé : la revendication « {name} » doit être {expected}."))
    })
}

/// Turns verified claims into an actor, refusing a role without the scope it needs.
pub fn actor_from_claims(c: Claims) -> Result<Actor, ApiError> {
    let role: Role = c
        .role
        .parse()
        .map_err(|e: String| ApiError::invalid_token(format!("Jeton refusé : {e}.")))?;
    let mut uais = Vec::new();
    for u in &c.uai {
        uais.push(
            Uai::parse(u).map_err(|e| ApiError::invalid_token(format!("Jeton refusé : {e}")))?,
        );
    }
    let arbitrator = match c.arbitrator.as_deref() {
        Some(a) => Some(
            a.parse::<ArbitratorRef>()
                .map_err(|e| ApiError::invalid_token(format!("Jeton refusé : {e}")))?,
        ),
        None => None,
    };
    let missing = match role {
        Role::AuthorityAgent | Role::AuthorityRepresentative if c.authority.is_none() => {
            Some("authority")
        }
        Role::Head | Role::Ent if uais.is_empty() => Some("uai"),
        Role::AcademicServices if c.academie.is_none() => Some("academie"),
        Role::Arbitrator if arbitrator.is_none() => Some("arbitrator"),
        _ => None,
    };
    if let Some(m) = missing {
        return Err(ApiError::invalid_token(format!(
            "Jeton refusé : le rôle {} exige la revendication « {m} ».",
            role.as_str()
        )));
    }
    Ok(Actor {
        name: c.name.clone().unwrap_or_else(|| c.sub.clone()),
        subject: c.sub,
        role,
        authority: c.authority,
        uais,
        academie: c.academie,
        arbitrator,
    })
}

/// Issuer of development tokens.
pub const DEV_ISSUER: &str = "charte-dev";
/// Audience of development tokens.
pub const DEV_AUDIENCE: &str = "charte";

/// Signs a development token (HS256) for the given claims.
pub fn dev_token(secret: &[u8], claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
}

/// An authenticated request's actor.
pub struct Authenticated(pub Actor);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized("En-tête « Authorization: Bearer <jeton> » manquant.")
            })?
            .to_str()
            .map_err(|_| {
                ApiError::invalid_token("En-tête Authorization illisible (caractères non ASCII).")
            })?;
        let token = bearer_token(value).ok_or_else(|| {
            ApiError::invalid_token("Schéma d'authentification attendu : Bearer.")
        })?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ApiError::header_too_large(format!(
                "Le jeton dépasse {} Kio : utilisez un jeton plus court.",
                MAX_TOKEN_BYTES / 1024
            )));
        }
        let actor = state.verifier.verify(token).await?;
        state.rate_limits.check_subject(&actor.subject)?;
        Ok(Authenticated(actor))
    }
}

/// The token of an `Authorization: Bearer …` value; the scheme is case-insensitive (RFC 9110 §11.1).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Loads PEM public keys for RS256 or ES256.
pub fn load_pem_keys(algorithm: Algorithm, pems: &[Vec<u8>]) -> anyhow::Result<Vec<DecodingKey>> {
    pems.iter()
        .map(|pem| match algorithm {
            Algorithm::RS256 => DecodingKey::from_rsa_pem(pem).map_err(anyhow::Error::from),
            Algorithm::ES256 => DecodingKey::from_ec_pem(pem).map_err(anyhow::Error::from),
            other => Err(anyhow::anyhow!(
                "algorithme non pris en charge pour des clés publiques : {other:?}"
            )),
        })
        .collect()
}

/// Shared verifier handle.
pub type SharedVerifier = Arc<Verifier>;
