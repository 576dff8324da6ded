//! Private calendar feeds: what a head, an arbitrator or an authority's staff subscribes their
//! calendar to, and the entries it shows. Rendering as iCalendar is the HTTP adapter's.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::actor::{Actor, Role};
use super::calendar::Department;
use super::message::{Message, Review};
use super::review::{ReviewState, deadline_words};

/// Feeds one person may hold at once (each is a secret URL; more would be forgotten, not used).
pub const MAX_FEEDS_PER_OWNER: usize = 10;

/// Entries one feed shows at most, soonest first: an authority with thousands of schools pending
/// still gets a feed a calendar application can read.
pub const MAX_ENTRIES: usize = 2_000;

/// A private calendar feed: its URL carries a secret, which is the only credential it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarFeed {
    /// Identifier (public: it names the feed in lists and revocation).
    pub id: String,
    /// SHA-256 of the secret, hex: the secret itself is never stored.
    pub secret_sha256: String,
    /// Whose deadlines it shows, as they were when the feed was created.
    pub owner: Actor,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl CalendarFeed {
    /// A new feed of `owner`'s deadlines, opened by `secret`.
    pub fn new(id: String, secret: &str, owner: Actor, created_at: OffsetDateTime) -> Self {
        CalendarFeed {
            id,
            secret_sha256: digest(secret),
            owner,
            created_at,
        }
    }

    /// Whether `secret` opens this feed. Digests are compared, not secrets: how long the
    /// comparison takes can tell at most how much of a SHA-256 an attempt got right, which
    /// says nothing of the secret.
    pub fn opens_with(&self, secret: &str) -> bool {
        digest(secret) == self.secret_sha256
    }
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// What a feed shows of a review: an open deadline, or a dispute waiting for its arbitrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Stable across refreshes, so that calendars update an entry instead of duplicating it.
    pub uid: String,
    /// The instant it is about: the legal deadline, or when the dispute was brought.
    pub at: OffsetDateTime,
    /// One line, in French.
    pub summary: String,
    /// The details, in French.
    pub description: String,
    /// Whether it is a deadline (an alarm the day before is useful) or a dispute's start.
    pub is_deadline: bool,
}

/// The feed's entry for `review` as `owner` sees it, if it has one: a review whose deadline
/// runs, for heads and authority staff; a dispute waiting for arbitration, for arbitrators.
/// A decided review has none, so it leaves the feed.
pub fn entry(owner: Role, review: &Review, message: &Message, school_name: &str) -> Option<Entry> {
    let title = message
        .version(review.version)
        .map(|v| v.title.as_str())
        .unwrap_or("");
    let department = Department::parse(&review.department).ok();
    let words = |at: OffsetDateTime| match &department {
        Some(d) => deadline_words(at, d),
        None => at.to_string(),
    };
    let school = format!("{school_name} ({})", review.uai);
    match owner {
        Role::Head | Role::AuthorityAgent | Role::AuthorityRepresentative => {
            if !review.state.deadline_runs() {
                return None;
            }
            let at = review.deadline.as_ref()?.expires_at;
            let (summary, description) = if owner == Role::Head {
                (
                    format!("Avis à rendre : {title}"),
                    format!(
                        "La communication « {title} » attend votre avis pour {school}. Sans réponse de votre part avant le {}, elle sera réputée approuvée (accord tacite).",
                        words(at)
                    ),
                )
            } else {
                (
                    format!("Accord tacite possible : {title} — {school_name}"),
                    format!(
                        "{school} n'a pas encore rendu son avis sur « {title} ». Sans réponse avant le {}, l'accord sera tacite.",
                        words(at)
                    ),
                )
            };
            Some(Entry {
                uid: format!("echeance-{}@charte", review.id),
                at,
                summary,
                description,
                is_deadline: true,
            })
        }
        Role::Arbitrator => {
            if review.state != ReviewState::InArbitration {
                return None;
            }
            let escalation = review.escalation.as_ref()?;
            Some(Entry {
                uid: format!("litige-{}@charte", review.id),
                at: escalation.at,
                summary: format!("Litige à arbitrer : {title} — {school_name}"),
                description: format!(
                    "Vous avez été saisi le {} d'un litige sur « {title} » pour {school}. La charte demande un arbitrage rapide.",
                    words(escalation.at)
                ),
                is_deadline: false,
            })
        }
        Role::AcademicServices | Role::Ent | Role::Admin => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Actor {
        Actor {
            subject: "head-1".into(),
            name: "Mme Martin".into(),
            role: Role::Head,
            authority: None,
            uais: vec!["0570054Z".parse().unwrap()],
            academie: None,
            arbitrator: None,
        }
    }

    #[test]
    fn only_the_secret_it_was_made_with_opens_a_feed() {
        let at = time::macros::datetime!(2026-12-03 10:00 UTC);
        let feed = CalendarFeed::new("f1".into(), "s3cret-value", owner(), at);
        assert!(feed.opens_with("s3cret-value"));
        assert!(!feed.opens_with("s3cret-valuE"));
        assert!(!feed.opens_with(""));
        assert_ne!(feed.secret_sha256, "s3cret-value");
    }
}
