//! Email addresses of schools, authorities and arbitrators, to which notifications are sent.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest address a mail server must accept (RFC 5321, path limit less the brackets).
const MAX_CHARS: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL_CHARS: usize = 64;
/// Longest domain label (RFC 1035).
const MAX_LABEL_CHARS: usize = 63;

/// A plausible email address: one `@`, a local part and a lowercase dotted domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

/// Why a text is not an acceptable email address, in French.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but blanks.
    #[error("L'adresse électronique est vide.")]
    Empty,
    /// Longer than 254 characters.
    #[error(
        "L'adresse électronique compte {length} caractères : {max} au plus sont admis.",
        max = MAX_CHARS
    )]
    TooLong {
        /// Characters counted after trimming.
        length: usize,
    },
    /// No `@` at all.
    #[error("L'adresse « {0} » ne contient pas de @ : écrivez-la sous la forme nom@domaine.fr.")]
    MissingAt(String),
    /// More than one `@`.
    #[error("L'adresse « {0} » contient plusieurs @ : une adresse n'en compte qu'un seul.")]
    SeveralAt(String),
    /// Nothing before the `@`.
    #[error("L'adresse « {0} » n'a rien avant le @.")]
    EmptyLocalPart(String),
    /// Local part over 64 characters.
    #[error(
        "La partie avant le @ de « {address} » compte {length} caractères : {max} au plus sont admis.",
        max = MAX_LOCAL_CHARS
    )]
    LocalPartTooLong {
        /// The address as received, trimmed.
        address: String,
        /// Characters before the `@`.
        length: usize,
    },
    /// A blank or control character before the `@`, usually a copy-paste accident.
    #[error("L'adresse « {0} » contient un espace ou un caractère invisible avant le @.")]
    InvalidLocalPart(String),
    /// The domain has no dot, e.g. `agent@localhost`.
    #[error("Le domaine « {0} » doit contenir au moins un point (par exemple ac-nancy-metz.fr).")]
    DomainWithoutDot(String),
    /// A domain label is empty, too long, has a forbidden character or a hyphen at an end.
    #[error(
        "Le domaine « {domain} » est invalide : la partie « {label} » ne doit contenir que des lettres sans accent, des chiffres et des tirets, sans tiret au début ni à la fin, et compter de 1 à 63 caractères."
    )]
    InvalidDomainLabel {
        /// The domain, lowercased.
        domain: String,
        /// The offending label.
        label: String,
    },
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL_CHARS
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

impl EmailAddress {
    /// Parses an address, trimming blanks and lowercasing the domain (the local part is kept
    /// as typed, since servers may treat its case as significant).
    pub fn parse(text: &str) -> Result<EmailAddress, EmailError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(EmailError::Empty);
        }
        let length = text.chars().count();
        if length > MAX_CHARS {
            return Err(EmailError::TooLong { length });
        }
        let mut parts = text.split('@');
        let (local, domain) = match (parts.next(), parts.next(), parts.next()) {
            (Some(local), Some(domain), None) => (local, domain),
            (_, None, _) => return Err(EmailError::MissingAt(text.to_owned())),
            _ => return Err(EmailError::SeveralAt(text.to_owned())),
        };
        if local.is_empty() {
            return Err(EmailError::EmptyLocalPart(text.to_owned()));
        }
        let local_length = local.chars().count();
        if local_length > MAX_LOCAL_CHARS {
            return Err(EmailError::LocalPartTooLong {
                address: text.to_owned(),
                length: local_length,
            });
        }
        if local.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::InvalidLocalPart(text.to_owned()));
        }
        let domain = domain.to_lowercase();
        if !domain.contains('.') {
            return Err(EmailError::DomainWithoutDot(domain));
        }
        if let Some(label) = domain.split('.').find(|l| !valid_label(l)) {
            return Err(EmailError::InvalidDomainLabel {
                label: label.to_owned(),
                domain,
            });
        }
        Ok(EmailAddress(format!("{local}@{domain}")))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`, lowercase.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EmailAddress {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmailAddress::parse(s)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through `parse`, so no unchecked address reaches the mailer from a file or a request.
        let text = String::deserialize(deserializer)?;
        EmailAddress::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_domain_only() {
        let e = EmailAddress::parse("  ce.0570054Z@AC-Nancy-Metz.FR ").unwrap();
        assert_eq!(e.as_str(), "ce.0570054Z@ac-nancy-metz.fr");
        assert_eq!(e.domain(), "ac-nancy-metz.fr");
    }

    #[test]
    fn refusals_are_explained() {
        assert_eq!(EmailAddress::parse("   "), Err(EmailError::Empty));
        assert!(matches!(
            EmailAddress::parse("agent.metz.fr"),
            Err(EmailError::MissingAt(_))
        ));
        assert!(matches!(
            EmailAddress::parse("a@b@metz.fr"),
            Err(EmailError::SeveralAt(_))
        ));
        assert!(matches!(
            EmailAddress::parse("@metz.fr"),
            Err(EmailError::EmptyLocalPart(_))
        ));
        assert!(matches!(
            EmailAddress::parse("agent@localhost"),
            Err(EmailError::DomainWithoutDot(_))
        ));
        for bad in [
            "agent@-metz.fr",
            "agent@metz-.fr",
            "agent@metz..fr",
            "agent@mètz.fr",
            "agent@metz.fr.",
            "agent@metz_ville.fr",
        ] {
            assert!(
                matches!(
                    EmailAddress::parse(bad),
                    Err(EmailError::InvalidDomainLabel { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            EmailAddress::parse("jean dupont@metz.fr"),
            Err(EmailError::InvalidLocalPart(_))
        ));
        let long_local = format!("{}@metz.fr", "a".repeat(65));
        assert!(matches!(
            EmailAddress::parse(&long_local),
            Err(EmailError::LocalPartTooLong { length: 65, .. })
        ));
        let long = format!("a@{}.fr", "b".repeat(260));
        let err = EmailAddress::parse(&long).unwrap_err();
        assert!(err.to_string().contains("254 au plus"), "{err}");
    }

    #[test]
    fn serde_goes_through_parse() {
        #[derive(Deserialize, Serialize)]
        struct Holder {
            email: EmailAddress,
        }
        let h: Holder = toml::from_str("email = \"Agent@Metz.FR\"").unwrap();
        assert_eq!(h.email.as_str(), "Agent@metz.fr");
        assert_eq!(
            toml::to_string(&h).unwrap().trim(),
            "email = \"Agent@metz.fr\""
        );
        let err = toml::from_str::<Holder>("email = \"agent\"")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("ne contient pas de @"), "{err}");
    }

    fn address() -> impl Strategy<Value = String> {
        (
            "[a-zA-Z0-9._+-]{1,30}",
            proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..4),
            "[a-z]{2,6}",
        )
            .prop_map(|(local, labels, tld)| format!("{local}@{}.{tld}", labels.join(".")))
    }

    proptest! {
        #[test]
        fn generated_addresses_parse(addr in address()) {
            let parsed = EmailAddress::parse(&addr).unwrap();
            prop_assert_eq!(parsed.as_str(), addr.as_str());
        }

        #[test]
        fn uppercase_domains_are_lowercased(addr in address()) {
            let (local, domain) = addr.split_once('@').unwrap();
            let shouted = format!(" {local}@{} ", domain.to_uppercase());
            let parsed = EmailAddress::parse(&shouted).unwrap();
            prop_assert_eq!(parsed.as_str(), addr.as_str());
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,80}") {
            let _ = EmailAddress::parse(&text).map_err(|e| e.to_string());
        }

        #[test]
        fn near_addresses_never_panic(text in "[a-zA-Z0-9.@ _-]{0,30}") {
            let _ = EmailAddress::parse(&text).map_err(|e| e.to_string());
        }

        #[test]
        fn display_round_trips(addr in address()) {
            let parsed = EmailAddress::parse(&addr).unwrap();
            prop_assert_eq!(parsed.to_string().parse::<EmailAddress>().unwrap(), parsed);
        }
    }
}
