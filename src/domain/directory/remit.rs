//! Remits (« ressort »): which authority may publish to which school, and who arbitrates a
//! school's disputes.

use serde::Serialize;

use super::*;

pub(super) fn is_commune_code(code: &str) -> bool {
    code.len() == 5 && code.chars().all(|c| c.is_ascii_alphanumeric())
}

/// What kind of refusal, for callers that react differently to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemitCause {
    /// The authority never publishes to this type of school.
    SchoolType,
    /// Right type of school, but in another territory.
    Territory,
}

/// Why an authority may not publish to a school, in French, naming both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RemitRefusal {
    /// Wrong type of school or wrong territory.
    pub cause: RemitCause,
    /// The sentence shown to the agent.
    pub reason: String,
}

/// « de la Région Grand Est », « du Département de la Moselle », « de Metz »: French
/// contracts the preposition with the article, which depends on the name's head word.
fn of_authority(name: &str) -> String {
    let name = name.trim();
    let head = fold(name.split([' ', '\'', '’']).next().unwrap_or(""));
    match head.as_str() {
        "region" | "ville" | "commune" | "collectivite" | "metropole" | "communaute" | "mairie"
        | "eurometropole" => format!("de la {name}"),
        "departement" | "conseil" => format!("du {name}"),
        _ if name.starts_with(|c: char| "AEIOUYÉÈÊaeiouyéèê".contains(c)) => {
            format!("d'{name}")
        }
        _ => format!("de {name}"),
    }
}

/// Whether `authority` may publish to `school`: a région to its lycées (agricultural ones
/// included), a département to its collèges, a commune to its écoles.
pub fn check_remit(authority: &Authority, school: &School) -> Result<(), RemitRefusal> {
    let (wanted, only) = match authority.kind {
        AuthorityKind::Region => (
            SchoolType::Lycee,
            "une région ne publie que vers ses lycées",
        ),
        AuthorityKind::Departement => (
            SchoolType::College,
            "un département ne publie que vers ses collèges",
        ),
        AuthorityKind::Commune => (
            SchoolType::Ecole,
            "une commune ne publie que vers ses écoles",
        ),
    };
    let who = format!("{} ({})", school.label(), school.uai);
    let of = of_authority(&authority.name);
    if school.school_type != wanted {
        return Err(RemitRefusal {
            cause: RemitCause::SchoolType,
            reason: format!("{who} ne relève pas du ressort {of} : {only}."),
        });
    }
    let situated = if school.school_type.feminine() {
        "située"
    } else {
        "situé"
    };
    let outside = |place: String| RemitRefusal {
        cause: RemitCause::Territory,
        reason: format!(
            "{who} est {situated} {place}, hors du ressort {of} ({}).",
            authority.code.trim()
        ),
    };
    match authority.kind {
        AuthorityKind::Region => {
            if code_key(&school.region_code) != code_key(&authority.code) {
                return Err(outside(format!("dans la région {}", school.region_code)));
            }
        }
        AuthorityKind::Departement => {
            let school_dep = normalize_department(&school.department)
                .unwrap_or_else(|| school.department.clone());
            let authority_dep = normalize_department(&authority.code)
                .unwrap_or_else(|| authority.code.trim().to_owned());
            if school_dep != authority_dep {
                return Err(outside(format!("dans le département {school_dep}")));
            }
        }
        AuthorityKind::Commune => match school.commune_code.as_deref() {
            Some(code) if code_key(code) == code_key(&authority.code) => {}
            Some(code) => {
                let place = match school.commune_name.as_deref() {
                    Some(name) => format!("dans la commune de {name} ({code})"),
                    None => format!("dans la commune {code}"),
                };
                return Err(outside(place));
            }
            None => {
                return Err(RemitRefusal {
                    cause: RemitCause::Territory,
                    reason: format!(
                        "{who} n'a pas de code commune dans l'annuaire : impossible d'établir qu'il relève du ressort {of} ({}).",
                        authority.code.trim()
                    ),
                });
            }
        },
    }
    Ok(())
}

/// Who settles a persistent dispute about this school: the DRAAF of its région for an
/// agricultural school, the recteur of its académie otherwise.
pub fn arbitrator_for(school: &School) -> ArbitratorRef {
    if school.agricultural {
        ArbitratorRef {
            kind: ArbitratorKind::Draaf,
            code: school.region_code.clone(),
        }
    } else {
        ArbitratorRef {
            kind: ArbitratorKind::Rectorat,
            code: school.academie_code.clone(),
        }
    }
}
