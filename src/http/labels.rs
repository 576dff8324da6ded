//! `GET /v1/labels`: the French words for the codes the API uses (kinds, purposes, audiences,
//! roles, states, audit actions), derived from the domain's enums, so that clients — the widget
//! first — keep no copy of them. A resource module owning its route.

use std::collections::BTreeMap;

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Authenticated;
use crate::domain::actor::Role;
use crate::domain::audit::AuditAction;
use crate::domain::message::{AudienceMember, MessageKind, Purpose};
use crate::domain::review::ReviewState;

/// The role the audit trail names when the service itself acted (a tacit approval).
const SERVICE_ROLE: (&str, &str) = ("system", "service charte");

/// French labels, keyed by the codes the API uses.
#[derive(Debug, Serialize, ToSchema)]
pub struct Labels {
    /// Message kinds (`kind`), with their review period.
    pub kinds: BTreeMap<String, String>,
    /// Purposes (`purpose`).
    pub purposes: BTreeMap<String, String>,
    /// Audiences (`audience`).
    pub audiences: BTreeMap<String, String>,
    /// Roles (`role` of tokens, statements and history lines; `system` for the service).
    pub roles: BTreeMap<String, String>,
    /// Review states (`state`; messages carry theirs as `status_label`).
    pub states: BTreeMap<String, String>,
    /// Audit actions (`action`; history lines carry theirs as `action_label`).
    pub actions: BTreeMap<String, String>,
}

/// This resource's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(labels))
}

/// The API's name of a value, as serialised.
fn code<T: Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// « communication récurrente » → « Communication récurrente ».
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn kind_label(kind: MessageKind) -> String {
    let label = capitalised(kind.label());
    match kind.review_days() {
        Some(days) => format!("{label} ({days} jours ouvrables d'examen)"),
        None => format!("{label} (publiée immédiatement)"),
    }
}

/// Every label, from the enums' lists.
pub fn all() -> Labels {
    Labels {
        kinds: MessageKind::ALL
            .into_iter()
            .map(|k| (code(k), kind_label(k)))
            .collect(),
        purposes: Purpose::ALL
            .into_iter()
            .map(|p| (code(p), capitalised(p.label())))
            .collect(),
        audiences: AudienceMember::ALL
            .into_iter()
            .map(|a| (code(a), a.label().to_owned()))
            .collect(),
        roles: Role::ALL
            .into_iter()
            .map(|r| (r.as_str().to_owned(), r.label().to_owned()))
            .chain([(SERVICE_ROLE.0.to_owned(), SERVICE_ROLE.1.to_owned())])
            .collect(),
        states: ReviewState::ALL
            .into_iter()
            .map(|s| (s.name().to_owned(), s.label().to_owned()))
            .collect(),
        actions: AuditAction::ALL
            .into_iter()
            .map(|a| (code(a), a.label().to_owned()))
            .collect(),
    }
}

/// The French labels of the API's codes.
#[utoipa::path(get, path = "/v1/labels", tag = "directory",
    responses((status = 200, body = Labels)), security(("bearer" = [])))]
pub async fn labels(_auth: Authenticated) -> Json<Labels> {
    Json(all())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_every_list_has_a_french_label() {
        let l = all();
        assert_eq!(l.kinds.len(), MessageKind::ALL.len());
        assert_eq!(
            l.kinds["recurring"],
            "Communication récurrente (5 jours ouvrables d'examen)"
        );
        assert_eq!(
            l.kinds["emergency"],
            "Communication d'urgence (publiée immédiatement)"
        );
        assert_eq!(l.purposes["information"], "Information");
        assert_eq!(l.audiences["pupils"], "élèves");
        assert_eq!(l.roles["head"], "chef d'établissement");
        assert_eq!(l.roles["system"], "service charte");
        assert_eq!(l.roles.len(), Role::ALL.len() + 1);
        assert_eq!(l.states["tacitly_approved"], "approuvée tacitement");
        assert_eq!(l.actions.len(), AuditAction::ALL.len());
        for map in [
            &l.kinds,
            &l.purposes,
            &l.audiences,
            &l.roles,
            &l.states,
            &l.actions,
        ] {
            assert!(
                map.iter().all(|(k, v)| !k.is_empty() && !v.is_empty()),
                "{map:?}"
            );
        }
    }
}
