//! Who acts: a verified identity with one role and the scope that role covers.

use serde::{Deserialize, Serialize};

use crate::domain::directory::ArbitratorRef;
use crate::domain::uai::Uai;

/// The roles the charter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Staff of a local authority who write and submit messages.
    AuthorityAgent,
    /// The authority's president or representative, who alone may escalate a dispute.
    AuthorityRepresentative,
    /// A school head, the publication director of their school.
    Head,
    /// The academic services of an académie (informed of doubts, co-produce evaluations).
    AcademicServices,
    /// A recteur or a DRAAF, who settles persistent disputes.
    Arbitrator,
    /// The school portal, which reads what is on display.
    Ent,
    /// An operator of the service.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 7] = [
        Role::AuthorityAgent,
        Role::AuthorityRepresentative,
        Role::Head,
        Role::AcademicServices,
        Role::Arbitrator,
        Role::Ent,
        Role::Admin,
    ];

    /// The role's name as written in tokens and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::AuthorityAgent => "authority_agent",
            Role::AuthorityRepresentative => "authority_representative",
            Role::Head => "head",
            Role::AcademicServices => "academic_services",
            Role::Arbitrator => "arbitrator",
            Role::Ent => "ent",
            Role::Admin => "admin",
        }
    }

    /// The role in French, for people.
    pub fn label(self) -> &'static str {
        match self {
            Role::AuthorityAgent => "agent de la collectivité",
            Role::AuthorityRepresentative => "représentant de la collectivité",
            Role::Head => "chef d'établissement",
            Role::AcademicServices => "services académiques",
            Role::Arbitrator => "autorité d'arbitrage",
            Role::Ent => "ENT",
            Role::Admin => "administrateur",
        }
    }

    /// Whether this role writes on behalf of an authority.
    pub fn is_authority(self) -> bool {
        matches!(self, Role::AuthorityAgent | Role::AuthorityRepresentative)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("rôle inconnu : {s}"))
    }
}

/// A verified identity acting on the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Stable identifier of the person or system (`sub` claim).
    pub subject: String,
    /// Display name, for the audit trail and emails.
    pub name: String,
    /// The one role this identity acts in.
    pub role: Role,
    /// The authority an agent or representative acts for.
    pub authority: Option<String>,
    /// The schools a head directs, or the ENT serves.
    pub uais: Vec<Uai>,
    /// The académie code of academic services.
    pub academie: Option<String>,
    /// Which arbitrator an arbitrator is.
    pub arbitrator: Option<ArbitratorRef>,
}

impl Actor {
    /// Whether this actor acts for the given authority.
    pub fn acts_for_authority(&self, authority_id: &str) -> bool {
        self.role.is_authority() && self.authority.as_deref() == Some(authority_id)
    }

    /// Whether this actor is the head of the given school.
    pub fn heads(&self, uai: &Uai) -> bool {
        self.role == Role::Head && self.uais.contains(uai)
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn every_role_is_listed_once_and_read_back_from_its_name() {
        // Exhaustive: a new role does not compile until it has a place here, and then the
        // assertion fails until it is in `ALL` (tokens name roles through `ALL`).
        let place = |r: Role| match r {
            Role::AuthorityAgent => 0,
            Role::AuthorityRepresentative => 1,
            Role::Head => 2,
            Role::AcademicServices => 3,
            Role::Arbitrator => 4,
            Role::Ent => 5,
            Role::Admin => 6,
        };
        for (i, r) in Role::ALL.into_iter().enumerate() {
            assert_eq!(place(r), i, "{r:?}");
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!(
            "recteur".parse::<Role>(),
            Err("rôle inconnu : recteur".to_owned())
        );
    }
}
