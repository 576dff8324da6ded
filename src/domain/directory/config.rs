//! `directory.toml`: the authorities and services a deployment knows, read and checked, every
//! refusal in French naming the entry at fault.

use std::collections::HashSet;

use serde::Deserialize;

use crate::domain::email::EmailAddress;

use super::remit::is_commune_code;
use super::*;

/// Why `directory.toml` was refused, naming the entry at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Not TOML, or not the expected shape.
    #[error("Le fichier d'annuaire des collectivités est illisible : {0}")]
    Syntax(String),
    /// A required field is absent or blank.
    #[error("{entry} : le champ « {field} » est manquant ou vide.")]
    MissingField {
        /// Which entry, e.g. « [[authorities]] n°2 ».
        entry: String,
        /// The field's name.
        field: &'static str,
    },
    /// An authority id is not a slug.
    #[error(
        "{entry} : l'identifiant « {id} » doit s'écrire en minuscules sans accents, chiffres et tirets (par exemple region-grand-est)."
    )]
    InvalidId {
        /// Which entry.
        entry: String,
        /// The id given.
        id: String,
    },
    /// Two authorities share an id.
    #[error(
        "L'identifiant de collectivité « {0} » est utilisé deux fois : chaque collectivité doit avoir le sien."
    )]
    DuplicateId(String),
    /// The kind is not région, département or commune.
    #[error(
        "{entry} : le type « {kind} » est inconnu (valeurs admises : region, departement, commune)."
    )]
    UnknownKind {
        /// Which entry.
        entry: String,
        /// The kind given.
        kind: String,
    },
    /// The code does not fit the kind (e.g. a department code that is not one).
    #[error("{entry} : le code « {code} » ne convient pas : {expected}.")]
    InvalidCode {
        /// Which entry.
        entry: String,
        /// The code given.
        code: String,
        /// What was expected, in French.
        expected: &'static str,
    },
    /// An email address does not parse.
    #[error("{entry} : adresse électronique refusée. {source}")]
    InvalidEmail {
        /// Which entry.
        entry: String,
        /// The reason.
        source: crate::domain::email::EmailError,
    },
    /// Two contacts of one section share a code, so lookups would be ambiguous.
    #[error("{section} : le code « {code} » apparaît deux fois ; un seul contact par code.")]
    DuplicateCode {
        /// The section, e.g. « [[rectorats]] ».
        section: String,
        /// The repeated code.
        code: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    #[serde(default)]
    authorities: Vec<RawAuthority>,
    #[serde(default)]
    rectorats: Vec<RawContact>,
    #[serde(default)]
    draafs: Vec<RawContact>,
    #[serde(default)]
    academic_services: Vec<RawContact>,
}

// Fields are optional here so that a missing one is reported in French, not by serde.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthority {
    id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    code: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    code: Option<String>,
    name: Option<String>,
    email: Option<String>,
}

fn required(
    value: Option<String>,
    entry: &str,
    field: &'static str,
) -> Result<String, DirectoryError> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(DirectoryError::MissingField {
            entry: entry.to_owned(),
            field,
        }),
    }
}

fn email_of(value: Option<String>, entry: &str) -> Result<EmailAddress, DirectoryError> {
    let text = required(value, entry, "email")?;
    EmailAddress::parse(&text).map_err(|source| DirectoryError::InvalidEmail {
        entry: entry.to_owned(),
        source,
    })
}

fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

fn parse_contacts(raw: Vec<RawContact>, section: &str) -> Result<Vec<Contact>, DirectoryError> {
    let mut seen = HashSet::new();
    let mut contacts = Vec::with_capacity(raw.len());
    for (index, c) in raw.into_iter().enumerate() {
        let entry = format!("[[{section}]] n°{}", index + 1);
        let code = required(c.code, &entry, "code")?;
        let entry = format!("[[{section}]] « {code} »");
        if !code.chars().all(|ch| ch.is_ascii_alphanumeric()) {
            return Err(DirectoryError::InvalidCode {
                entry,
                code,
                expected: "un code d'académie ou de région, en chiffres",
            });
        }
        let name = required(c.name, &entry, "name")?;
        let email = email_of(c.email, &entry)?;
        if !seen.insert(code_key(&code)) {
            return Err(DirectoryError::DuplicateCode {
                section: format!("[[{section}]]"),
                code,
            });
        }
        contacts.push(Contact { code, name, email });
    }
    Ok(contacts)
}

impl Directory {
    /// Reads and checks `directory.toml`: sections `[[authorities]]` (id, name, kind, code,
    /// email), `[[rectorats]]`, `[[draafs]]` and `[[academic_services]]` (code, name, email).
    pub fn parse_toml(text: &str) -> Result<Directory, DirectoryError> {
        let raw: RawDirectory =
            toml::from_str(text).map_err(|e| DirectoryError::Syntax(e.to_string()))?;
        let mut ids = HashSet::new();
        let mut authorities = Vec::with_capacity(raw.authorities.len());
        for (index, a) in raw.authorities.into_iter().enumerate() {
            let entry = format!("[[authorities]] n°{}", index + 1);
            let id = required(a.id, &entry, "id")?;
            if !is_slug(&id) {
                return Err(DirectoryError::InvalidId { entry, id });
            }
            let entry = format!("Collectivité « {id} »");
            let name = required(a.name, &entry, "name")?;
            let kind_text = required(a.kind, &entry, "kind")?;
            let kind = AuthorityKind::from_name(&kind_text).ok_or_else(|| {
                DirectoryError::UnknownKind {
                    entry: entry.clone(),
                    kind: kind_text,
                }
            })?;
            let code = required(a.code, &entry, "code")?;
            let code = match kind {
                AuthorityKind::Departement => {
                    normalize_department(&code).ok_or_else(|| DirectoryError::InvalidCode {
                        entry: entry.clone(),
                        code: code.clone(),
                        expected: "un code de département comme 57, 2A ou 971",
                    })?
                }
                AuthorityKind::Region if !code.chars().all(|c| c.is_ascii_digit()) => {
                    return Err(DirectoryError::InvalidCode {
                        entry,
                        code,
                        expected: "un code de région en chiffres, comme 44",
                    });
                }
                AuthorityKind::Commune if !is_commune_code(&code) => {
                    return Err(DirectoryError::InvalidCode {
                        entry,
                        code,
                        expected: "un code commune INSEE à 5 caractères, comme 57463 ou 2A004",
                    });
                }
                _ => code,
            };
            let email = email_of(a.email, &entry)?;
            if !ids.insert(id.clone()) {
                return Err(DirectoryError::DuplicateId(id));
            }
            authorities.push(Authority {
                id,
                name,
                kind,
                code,
                email,
            });
        }
        Ok(Directory {
            authorities,
            rectorats: parse_contacts(raw.rectorats, "rectorats")?,
            draafs: parse_contacts(raw.draafs, "draafs")?,
            academic_services: parse_contacts(raw.academic_services, "academic_services")?,
        })
    }
}
