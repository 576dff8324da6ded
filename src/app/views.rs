//! What the use cases return: the shapes the API serialises, in snake_case.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::audit::{AuditEntry, AuditRecord, Verification};
use crate::domain::message::{
    AudienceMember, Coproduction, EmergencyDeclaration, MessageKind, Purpose, Statement, Warning,
    Withdrawal,
};
use crate::domain::review::ReviewState;

/// Where a message stands overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// An evaluation message waiting for the academic services.
    AwaitingCoproduction,
    /// At least one school still reviewing.
    InReview,
    /// At least one head asked for a rectification.
    RectificationRequested,
    /// At least one dispute before an arbitrator.
    InArbitration,
    /// Publishable in every targeted school.
    Approved,
    /// Publishable in some schools, refused in others.
    PartiallyApproved,
    /// Refused everywhere.
    Refused,
    /// Published at once as an emergency.
    EmergencyPublished,
    /// Withdrawn by the authority.
    Withdrawn,
}

impl MessageStatus {
    /// Every status.
    pub const ALL: [MessageStatus; 9] = [
        MessageStatus::AwaitingCoproduction,
        MessageStatus::InReview,
        MessageStatus::RectificationRequested,
        MessageStatus::InArbitration,
        MessageStatus::Approved,
        MessageStatus::PartiallyApproved,
        MessageStatus::Refused,
        MessageStatus::EmergencyPublished,
        MessageStatus::Withdrawn,
    ];

    /// The status in French, as people read it.
    pub const fn label(self) -> &'static str {
        match self {
            MessageStatus::AwaitingCoproduction => "en attente de co-validation académique",
            MessageStatus::InReview => "en cours d’examen",
            MessageStatus::RectificationRequested => "rectification demandée",
            MessageStatus::InArbitration => "en arbitrage",
            MessageStatus::Approved => "approuvée partout",
            MessageStatus::PartiallyApproved => "approuvée dans une partie des établissements",
            MessageStatus::Refused => "refusée",
            MessageStatus::EmergencyPublished => "publiée en urgence",
            MessageStatus::Withdrawn => "retirée",
        }
    }

    /// The status's name in the API (as serialised).
    pub fn name(self) -> &'static str {
        match self {
            MessageStatus::AwaitingCoproduction => "awaiting_coproduction",
            MessageStatus::InReview => "in_review",
            MessageStatus::RectificationRequested => "rectification_requested",
            MessageStatus::InArbitration => "in_arbitration",
            MessageStatus::Approved => "approved",
            MessageStatus::PartiallyApproved => "partially_approved",
            MessageStatus::Refused => "refused",
            MessageStatus::EmergencyPublished => "emergency_published",
            MessageStatus::Withdrawn => "withdrawn",
        }
    }
}

/// A review as shown to people.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewView {
    /// Identifier.
    pub id: String,
    /// The message.
    pub message_id: String,
    /// The school.
    pub uai: String,
    /// The school's name.
    pub school_name: String,
    /// The state.
    pub state: ReviewState,
    /// The state in French.
    pub state_label: String,
    /// The version reviewed.
    pub version: u32,
    /// Its content hash.
    pub version_hash: String,
    /// When silence becomes consent (RFC 3339, school-local offset).
    pub deadline: Option<String>,
    /// The last day of the review period.
    pub deadline_last_day: Option<String>,
    /// The deadline in French words.
    pub deadline_in_words: Option<String>,
    /// Business days left before the deadline, counting today if it counts.
    pub business_days_left: Option<u32>,
    /// Set when the last day falls in school holidays.
    pub school_holiday_warning: Option<String>,
    /// When it opened.
    pub opened_at: String,
    /// When decided.
    pub decided_at: Option<String>,
    /// When it goes (or went) on display.
    pub live_from: Option<String>,
    /// The head's rectification request.
    pub rectification: Option<Statement>,
    /// The authority's escalation statement.
    pub escalation: Option<Statement>,
    /// The arbitrator (`rectorat:12`, `draaf:44`).
    pub arbitrator: Option<String>,
    /// The arbitrator's name.
    pub arbitrator_name: Option<String>,
    /// The arbitrator's decision.
    pub arbitration: Option<Statement>,
}

/// One version's content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    /// Number.
    pub number: u32,
    /// Title.
    pub title: String,
    /// Sanitised HTML, exactly as families see it.
    pub body_html: String,
    /// Audience.
    pub audience: Vec<AudienceMember>,
    /// Earliest display.
    pub publish_at: String,
    /// End of display.
    pub display_until: String,
    /// Content hash.
    pub hash: String,
    /// When frozen.
    pub submitted_at: String,
    /// What the author says changed.
    pub change_note: Option<String>,
    /// What sanitising removed.
    pub sanitised: Vec<String>,
    /// Screening warnings.
    pub warnings: Vec<Warning>,
}

/// Co-production status of an evaluation message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CoproductionView {
    /// Validations so far.
    pub validated: Vec<Coproduction>,
    /// Académies still to validate.
    pub awaiting: Vec<String>,
}

/// A message with its per-school reviews.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    /// Identifier.
    pub id: String,
    /// Sending authority.
    pub authority_id: String,
    /// Its name.
    pub authority_name: String,
    /// Kind.
    pub kind: MessageKind,
    /// Purpose.
    pub purpose: Purpose,
    /// Overall status.
    pub status: MessageStatus,
    /// The status in French.
    pub status_label: String,
    /// Emergency declaration.
    pub emergency: Option<EmergencyDeclaration>,
    /// Targeted schools (those the caller sees).
    pub targets: Vec<String>,
    /// How many they are.
    pub target_count: usize,
    /// When first submitted.
    pub submitted_at: String,
    /// The current version.
    pub current_version: VersionView,
    /// How many versions exist.
    pub versions: u32,
    /// Co-production, for evaluation messages.
    pub coproduction: Option<CoproductionView>,
    /// Withdrawal.
    pub withdrawn: Option<Withdrawal>,
    /// How many of the schools the caller may see have their current review in each state
    /// (every targeted school for the sender; a head's or an académie's own otherwise).
    pub summary: BTreeMap<String, usize>,
    /// The soonest deadline of a review still pending among those schools.
    pub next_deadline: Option<String>,
    /// A head's own reviews of the message (every version, current first); empty for others,
    /// who page through `GET /v1/messages/{id}/reviews`.
    pub own_reviews: Vec<ReviewView>,
}

/// A message in a list: its view without the list of targeted schools (a thousand codes for a
/// Région's message), which `GET /v1/messages/{id}` gives.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageItem {
    /// Identifier.
    pub id: String,
    /// Sending authority.
    pub authority_id: String,
    /// Its name.
    pub authority_name: String,
    /// Kind.
    pub kind: MessageKind,
    /// Purpose.
    pub purpose: Purpose,
    /// Overall status.
    pub status: MessageStatus,
    /// The status in French.
    pub status_label: String,
    /// Emergency declaration.
    pub emergency: Option<EmergencyDeclaration>,
    /// How many schools the caller sees it aimed at (all of them for its sender).
    pub target_count: usize,
    /// When first submitted.
    pub submitted_at: String,
    /// The current version.
    pub current_version: VersionView,
    /// How many versions exist.
    pub versions: u32,
    /// Co-production, for evaluation messages.
    pub coproduction: Option<CoproductionView>,
    /// Withdrawal.
    pub withdrawn: Option<Withdrawal>,
    /// Count of the visible schools' current reviews by state.
    pub summary: BTreeMap<String, usize>,
    /// The soonest deadline of a review still pending among those schools.
    pub next_deadline: Option<String>,
    /// A head's own reviews of the message; empty for others.
    pub own_reviews: Vec<ReviewView>,
}

impl From<MessageView> for MessageItem {
    fn from(v: MessageView) -> MessageItem {
        MessageItem {
            id: v.id,
            authority_id: v.authority_id,
            authority_name: v.authority_name,
            kind: v.kind,
            purpose: v.purpose,
            status: v.status,
            status_label: v.status_label,
            emergency: v.emergency,
            target_count: v.target_count,
            submitted_at: v.submitted_at,
            current_version: v.current_version,
            versions: v.versions,
            coproduction: v.coproduction,
            withdrawn: v.withdrawn,
            summary: v.summary,
            next_deadline: v.next_deadline,
            own_reviews: v.own_reviews,
        }
    }
}

/// A line of the difference between two versions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeLine {
    /// `equal`, `insert` or `delete`.
    pub tag: String,
    /// The line.
    pub text: String,
}

/// A review with the content under review, what changed, and its history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewDetail {
    /// The review.
    pub review: ReviewView,
    /// Sending authority.
    pub authority_id: String,
    /// Its name.
    pub authority_name: String,
    /// Kind.
    pub kind: MessageKind,
    /// Purpose.
    pub purpose: Purpose,
    /// Emergency declaration.
    pub emergency: Option<EmergencyDeclaration>,
    /// The version under review.
    pub content: VersionView,
    /// The version before it, if any.
    pub previous_version: Option<u32>,
    /// Differences with the previous version (plain text, line by line).
    pub changes: Vec<ChangeLine>,
    /// What happened to this school's reviews of the message.
    pub history: Vec<HistoryEntry>,
}

/// One line of a review's history: the audit entry, with its action in French.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// What the audit trail records.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// The action in French.
    pub action_label: String,
}

impl From<AuditEntry> for HistoryEntry {
    fn from(entry: AuditEntry) -> HistoryEntry {
        HistoryEntry {
            action_label: entry.action.label().to_owned(),
            entry,
        }
    }
}

/// One item on display in a school.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FeedItem {
    /// The message.
    pub message_id: String,
    /// Sending authority.
    pub authority_id: String,
    /// Its name.
    pub authority_name: String,
    /// Version on display.
    pub version: u32,
    /// Its content hash (what the head approved).
    pub version_hash: String,
    /// Title.
    pub title: String,
    /// Sanitised HTML body.
    pub body_html: String,
    /// Audience.
    pub audience: Vec<AudienceMember>,
    /// Whether it was published as an emergency.
    pub emergency: bool,
    /// On display since.
    pub live_from: String,
    /// On display until.
    pub display_until: String,
}

/// What a school displays now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Feed {
    /// The school.
    pub uai: String,
    /// Items on display, newest first.
    pub items: Vec<FeedItem>,
}

/// An audit trail with its verification.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    /// The message.
    pub message_id: String,
    /// Verification of the hash chain.
    pub verification: VerificationView,
    /// Records in order: the message's own chain on the first page, then whole chains of schools
    /// in UAI order.
    pub records: Vec<AuditRecord>,
    /// Cursor of the next page of schools' chains; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Serialisable copy of a [`Verification`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerificationView {
    /// Whether intact.
    pub valid: bool,
    /// Records checked.
    pub records: usize,
    /// Chains checked (the message's, one per school).
    pub chains: usize,
    /// Chain of the first broken record (`message` or a UAI).
    pub first_invalid_chain: Option<String>,
    /// Position of the first broken record in its chain.
    pub first_invalid_seq: Option<u64>,
    /// Verdict in French.
    pub detail: String,
}

impl From<Verification> for VerificationView {
    fn from(v: Verification) -> Self {
        Self {
            valid: v.valid,
            records: v.records,
            chains: v.chains,
            first_invalid_chain: v.first_invalid_chain,
            first_invalid_seq: v.first_invalid_seq,
            detail: v.detail,
        }
    }
}

/// A dispute (waiting or ended), with both statements.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DisputeView {
    /// The dispute's id (the review's).
    pub id: String,
    /// Why the dispute ended, in French; absent while it waits for arbitration.
    pub closed_reason: Option<String>,
    /// Days since escalation.
    pub age_days: i64,
    /// Hours since escalation.
    pub age_hours: i64,
    /// Sending authority's name.
    pub authority_name: String,
    /// The review in dispute.
    pub review: ReviewView,
    /// The content in dispute.
    pub content: VersionView,
}

/// A computed deadline, for a user planning a submission.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeadlineView {
    /// The school, if asked for one.
    pub uai: Option<String>,
    /// Its department.
    pub department: String,
    /// Submission instant.
    pub submitted_at: String,
    /// Business days granted.
    pub business_days: u32,
    /// Calendar mode.
    #[schema(value_type = crate::domain::calendar::CalendarMode)]
    pub mode: String,
    /// Last day (YYYY-MM-DD).
    pub last_day: String,
    /// Expiry (RFC 3339 with offset): 24:00 local time on the last day.
    pub expires_at: String,
    /// In French words.
    pub in_words: String,
    /// IANA time zone.
    pub time_zone: String,
    /// When the count ended on a non-working day and ran on.
    pub extended_from: Option<String>,
    /// Days that did not count, and why.
    pub skipped_days: Vec<SkippedDayView>,
    /// Set when the last day falls in school holidays.
    pub school_holiday_warning: Option<String>,
}

/// A day that did not count.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkippedDayView {
    /// The date.
    pub date: String,
    /// Why, in French.
    pub reason: String,
}

/// A page of messages.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// Items.
    pub items: Vec<MessageItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of reviews.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewPage {
    /// Items.
    pub items: Vec<ReviewView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of disputes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DisputePage {
    /// Items, oldest first.
    pub items: Vec<DisputeView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A school of the directory.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SchoolView {
    /// UAI.
    pub uai: String,
    /// Name.
    pub name: String,
    /// `ecole`, `college`, `lycee`, `other`.
    pub school_type: String,
    /// Public or private.
    pub public: bool,
    /// Department code.
    pub department: String,
    /// Commune INSEE code.
    pub commune_code: Option<String>,
    /// Académie code.
    pub academie_code: String,
    /// Académie name.
    pub academie_name: String,
    /// Region code.
    pub region_code: String,
    /// Agricultural school (arbitrated by the DRAAF).
    pub agricultural: bool,
}

/// A page of schools.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SchoolPage {
    /// Items.
    pub items: Vec<SchoolView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An outbox email with where its delivery stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutboxItem {
    /// The email, as queued.
    pub email: crate::domain::notification::OutboxEmail,
    /// How its delivery went.
    pub delivery: crate::store::Delivery,
    /// The delivery status in French.
    pub status_label: String,
}

/// A page of the outbox, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutboxPage {
    /// Items.
    pub items: Vec<OutboxItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An authority of the directory.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuthorityView {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// `region`, `departement`, `commune`.
    pub kind: String,
    /// Territory code.
    pub code: String,
    /// Emergencies published so far.
    pub emergencies: usize,
}

/// A calendar feed just created: its URL, which carries its secret, is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarFeedCreated {
    /// Identifier (to revoke it).
    pub id: String,
    /// The private address to subscribe a calendar application to (iCalendar, RFC 5545); anyone
    /// holding it reads the feed, so keep it to yourself.
    pub url: String,
    /// When it was created.
    pub created_at: String,
}

/// One of the caller's calendar feeds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarFeedView {
    /// Identifier (to revoke it).
    pub id: String,
    /// When it was created.
    pub created_at: String,
}

/// The caller's calendar feeds, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarFeedList {
    /// The feeds.
    pub items: Vec<CalendarFeedView>,
}
