//! The pure domain: the charter's rules, with no I/O and no async.

pub mod access;
pub mod actor;
pub mod audit;
pub mod calendar;
pub mod calendar_feed;
pub mod content;
pub mod directory;
pub mod email;
pub mod message;
pub mod notification;
pub mod review;
pub mod uai;
pub mod webhook;

use serde::Serialize;

/// A rule broken by user input: the field at fault and what to fix, in French.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Violation {
    /// Path of the offending field, e.g. `targets[2]`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Violation {
    /// Builds a violation for one field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A motive (for a rectification request, an escalation or an arbitration), which the
/// charter requires for every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Motive(String);

impl Motive {
    /// Shortest motive accepted: a word or two is not a motive.
    pub const MIN_CHARS: usize = 10;
    /// Longest motive accepted.
    pub const MAX_CHARS: usize = 4_000;

    /// Parses a motive, refusing an absent, too short or too long one.
    pub fn parse(field: &str, raw: Option<&str>) -> Result<Motive, Violation> {
        let text = raw.map(str::trim).unwrap_or("");
        let n = text.chars().count();
        if n == 0 {
            return Err(Violation::new(
                field,
                "Un motif est obligatoire : la charte impose que chaque refus ou demande soit motivé.",
            ));
        }
        if n < Self::MIN_CHARS {
            return Err(Violation::new(
                field,
                format!(
                    "Le motif est trop court ({n} caractères) : expliquez en au moins {} caractères ce qui doit être rectifié ou décidé.",
                    Self::MIN_CHARS
                ),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(Violation::new(
                field,
                format!(
                    "Le motif est trop long ({n} caractères) : {} caractères au plus.",
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Motive(text.to_owned()))
    }

    /// The motive's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional free text (change note, withdrawal motive): trimmed, empty as none, bounded.
pub fn optional_note(field: &str, raw: Option<&str>) -> Result<Option<String>, Violation> {
    let text = raw.map(str::trim).unwrap_or("");
    let n = text.chars().count();
    if n > content::NOTE_MAX_CHARS {
        return Err(Violation::new(
            field,
            format!(
                "Le texte est trop long ({n} caractères) : {} caractères au plus.",
                content::NOTE_MAX_CHARS
            ),
        ));
    }
    Ok((n > 0).then(|| text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_optional_but_bounded() {
        assert_eq!(optional_note("change_note", None), Ok(None));
        assert_eq!(optional_note("change_note", Some("  ")), Ok(None));
        assert_eq!(
            optional_note("change_note", Some(" Tarif corrigé ")),
            Ok(Some("Tarif corrigé".into()))
        );
        let long = "x".repeat(content::NOTE_MAX_CHARS + 1);
        let e = optional_note("motive", Some(&long)).unwrap_err();
        assert_eq!(e.field, "motive");
        assert!(
            e.message.contains("2000 caractères au plus"),
            "{}",
            e.message
        );
    }

    #[test]
    fn titles_are_plain_text_and_bodies_lose_invisible_controls() {
        for bad in [
            "Cantine\r\nTarifs",
            "Cantine\0",
            "Tarifs \u{202E}tnaveler",
            "Tarifs\u{200B}cantine",
            "<b>Tarifs</b>",
            "Tarifs &amp; cantine",
            "< script>",
        ] {
            assert!(content::plain_text_problem(bad).is_some(), "{bad:?}");
        }
        for good in [
            "Tarifs < 5 € : cantine",
            "Ligne 12 — horaires d'hiver",
            "A&B",
        ] {
            assert_eq!(content::plain_text_problem(good), None, "{good:?}");
        }
        let body = content::sanitise_body("<p>Payez \u{202E}ici\u{202C} avant le\u{200B} 5</p>");
        assert_eq!(body.html, "<p>Payez ici avant le 5</p>");
    }

    #[test]
    fn a_motive_is_required_and_must_say_something() {
        assert!(Motive::parse("motive", None).is_err());
        assert!(Motive::parse("motive", Some("   ")).is_err());
        let short = Motive::parse("motive", Some("non")).unwrap_err();
        assert!(short.message.contains("trop court"));
        let ok = Motive::parse("motive", Some("  Le tarif annoncé est erroné.  ")).unwrap();
        assert_eq!(ok.as_str(), "Le tarif annoncé est erroné.");
    }
}
