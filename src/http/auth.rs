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
    /// Audience.
    pub aud: String,
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
}

impl Verifier {
    /// A verifier.
    pub fn new(algorithm: Algorithm, issuer: String, audience: String, keys: KeySource) -> Self {
        Self {
            algorithm,
            issuer,
            audience,
            keys,
        }
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
            return Err(ApiError::unauthorized("Aucune clé JWKS configurée."));
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
            .ok_or_else(|| ApiError::unauthorized("Clé de signature du jeton inconnue (kid)."))
    }

    /// Verifies a token and returns the actor it proves.
    pub async fn verify(&self, token: &str) -> Result<Actor, ApiError> {
        let header = decode_header(token)
            .map_err(|_| ApiError::unauthorized("Jeton illisible : un JWT signé est attendu."))?;
        if header.alg != self.algorithm {
            return Err(ApiError::unauthorized(format!(
                "Algorithme de signature refusé : seul {:?} est accepté.",
                self.algorithm
            )));
        }
        let validation = self.validation();
        let result = match &self.keys {
            KeySource::None => {
                return Err(ApiError::unauthorized(
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
                        return Err(ApiError::unauthorized("Aucune clé publique configurée."));
                    }
                }
            }
            KeySource::Jwks { .. } => {
                let key = self.jwks_key(header.kid.as_deref()).await?;
                decode::<Claims>(token, &key, &validation)
            }
        };
        let claims = result.map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            ApiError::unauthorized(match e.kind() {
                K::ExpiredSignature => "Le jeton a expiré : reconnectez-vous.".to_owned(),
                K::InvalidIssuer => "Émetteur (iss) du jeton non reconnu.".to_owned(),
                K::InvalidAudience => "Audience (aud) du jeton incorrecte.".to_owned(),
                K::InvalidSignature => "Signature du jeton invalide.".to_owned(),
                K::MissingRequiredClaim(c) => {
                    format!("Le jeton ne porte pas la revendication obligatoire « {c} ».")
                }
                _ => "Jeton invalide.".to_owned(),
            })
        })?;
        actor_from_claims(claims.claims)
    }
}

/// Turns verified claims into an actor, refusing a role without the scope it needs.
pub fn actor_from_claims(c: Claims) -> Result<Actor, ApiError> {
    let role: Role = c
        .role
        .parse()
        .map_err(|e: String| ApiError::unauthorized(format!("Jeton refusé : {e}.")))?;
    let mut uais = Vec::new();
    for u in &c.uai {
        uais.push(
            Uai::parse(u).map_err(|e| ApiError::unauthorized(format!("Jeton refusé : {e}")))?,
        );
    }
    let arbitrator = match c.arbitrator.as_deref() {
        Some(a) => Some(
            a.parse::<ArbitratorRef>()
                .map_err(|e| ApiError::unauthorized(format!("Jeton refusé : {e}")))?,
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
        return Err(ApiError::unauthorized(format!(
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
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized("En-tête « Authorization: Bearer <jeton> » manquant.")
            })?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("Schéma d'authentification attendu : Bearer."))?;
        let actor = state.verifier.verify(token.trim()).await?;
        Ok(Authenticated(actor))
    }
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
