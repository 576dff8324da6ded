//! The emails the workflow causes, as records: what each is about, who it goes to, and the
//! fixed ids and instants of reminders. Composing their French text is the mail adapter's
//! (`crate::mail::compose`); they are queued in the outbox in the same atomic step as the
//! transition that causes them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::calendar::{Department, time_zone};
use crate::domain::message::Review;

/// What an email is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// Exhaustive content sent to a head for review.
    ReviewRequest,
    /// Copy of an emergency publication sent to a head.
    EmergencyCopy,
    /// A head's rectification request, to the authority.
    RectificationRequested,
    /// A head's doubt, to the académie's services.
    AcademicServicesInformed,
    /// A head's approval, to the authority.
    Approved,
    /// A tacit approval, to the authority and the head.
    TacitlyApproved,
    /// A withdrawal, to the heads.
    Withdrawn,
    /// A dispute, to the arbitrator.
    Escalated,
    /// An arbitration decision, to both parties.
    ArbitrationOutcome,
    /// An evaluation message awaiting co-production, to academic services.
    CoproductionRequest,
    /// One business day before tacit approval, to a head who has not answered.
    Reminder,
    /// Each day a dispute waits, to its arbitrator: the procedure is urgent.
    DisputeReminder,
    /// A dispute ended without decision (a new version or a withdrawal), to its arbitrator.
    DisputeClosed,
}

/// A complete email waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxEmail {
    /// Identifier, also the basis of the `Message-ID` header.
    pub id: String,
    /// What it is about.
    pub kind: EmailKind,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML alternative of the same body (empty for emails queued before it existed).
    #[serde(default)]
    pub html: String,
    /// The message it concerns.
    pub message_id: String,
    /// The review it concerns, if one.
    pub review_id: Option<String>,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What an email needs to know about the school.
#[derive(Debug, Clone)]
pub struct SchoolRef<'a> {
    /// Name.
    pub name: &'a str,
    /// UAI.
    pub uai: &'a str,
    /// Department, for the local time of deadlines.
    pub department: &'a Department,
}

/// The id of a review's reminder: fixed, so the outbox accepts it once whatever the replicas.
pub fn reminder_id(review_id: &str) -> String {
    format!("rappel-{review_id}")
}

/// When a pending review's reminder is due: at the start of its last day (one business day
/// before tacit approval), on the school's clocks.
pub fn reminder_at(review: &Review, department: &Department) -> Option<OffsetDateTime> {
    use time_tz::PrimitiveDateTimeExt;
    let deadline = review.deadline.as_ref()?;
    let midnight = time::PrimitiveDateTime::new(deadline.last_day, time::Time::MIDNIGHT);
    Some(
        midnight
            .assume_timezone(time_zone(department))
            .take_first()
            // A midnight skipped by a clock change: a day before the deadline is close enough.
            .unwrap_or(deadline.expires_at.saturating_sub(time::Duration::days(1))),
    )
}

/// The id of a dispute's reminder on its `day`-th day of waiting: fixed, so each day's reminder
/// is queued once whatever the number of replicas.
pub fn dispute_reminder_id(review_id: &str, day: i64) -> String {
    format!("rappel-arbitrage-{review_id}-j{day}")
}
