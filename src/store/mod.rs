//! The storage port, and its adapters: an embedded crash-safe file (default) and Redis.

pub mod embedded;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::domain::audit::{AuditRecord, ChainHead};
use crate::domain::directory::{ArbitratorRef, School};
use crate::domain::message::{Message, Review};
use crate::domain::notification::OutboxEmail;
use crate::domain::review::ReviewState;
use crate::domain::uai::Uai;

/// Storage failures; `Conflict` means a concurrent write won and the caller should reload.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record changed since it was read (optimistic concurrency) or a key already exists.
    #[error("conflit d'écriture : {0}")]
    Conflict(String),
    /// The store cannot be reached right now; retrying later may work.
    #[error("stockage indisponible : {0}")]
    Unavailable(String),
    /// Anything else (corrupt record, I/O error).
    #[error("erreur de stockage : {0}")]
    Other(String),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// A replayable answer to a request carrying an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// Scoped key (`authority:key`).
    pub key: String,
    /// SHA-256 of the request body, to refuse reuse of a key for another request.
    pub request_hash: String,
    /// The message the request created.
    pub message_id: String,
}

/// Everything one transition writes, committed together or not at all.
///
/// Each message and review carries the revision it was read at; the store refuses the whole
/// commit if any stored revision differs (a new record has revision 0 and must not exist),
/// and writes each with its revision bumped. Audit records must extend the stored head of
/// their chain (one message's chains, each in order).
/// Index entries (deadlines, disputes, per-school and per-authority lists) are derived by the
/// adapter from the records themselves, so they can never disagree with them.
#[derive(Debug, Default, Clone)]
pub struct Commit {
    /// Messages to write.
    pub messages: Vec<Message>,
    /// Reviews to write.
    pub reviews: Vec<Review>,
    /// Audit records to append (one message's chain, in order).
    pub audit: Vec<AuditRecord>,
    /// Emails to queue.
    pub outbox: Vec<OutboxEmail>,
    /// Idempotency key to reserve.
    pub idempotency: Option<IdempotencyRecord>,
}

/// The key under which an arbitrator's disputes are indexed.
pub fn arbitrator_key(r: &ArbitratorRef) -> String {
    r.to_string()
}

/// Whether a review belongs in the deadline index, and when it falls due.
pub fn due_at(review: &Review) -> Option<OffsetDateTime> {
    match (review.state, &review.deadline) {
        (ReviewState::Pending, Some(d)) => Some(d.expires_at),
        _ => None,
    }
}

/// Whether a review belongs in its arbitrator's open disputes.
pub fn open_dispute(review: &Review) -> Option<String> {
    match (review.state, &review.arbitrator) {
        (ReviewState::InArbitration, Some(a)) => Some(arbitrator_key(a)),
        _ => None,
    }
}

/// Whether a review is a dispute that has ended (decided, answered by a new version, withdrawn),
/// and under which arbitrator it is indexed.
pub fn closed_dispute(review: &Review) -> Option<String> {
    match (review.state, &review.arbitrator) {
        (ReviewState::InArbitration, _) | (_, None) => None,
        (_, Some(a)) => Some(arbitrator_key(a)),
    }
}

/// Where an outbox email stands in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for (another) attempt, possibly held by a worker's lease right now.
    Queued,
    /// Accepted by the mail server (or written to the mail folder).
    Sent,
    /// Given up on after too many failures; an administrator may queue it again.
    Dead,
}

impl DeliveryStatus {
    /// The status in French, for people.
    pub fn label(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "en file d'envoi",
            DeliveryStatus::Sent => "envoyé",
            DeliveryStatus::Dead => "en échec définitif",
        }
    }
}

/// The delivery record of one outbox email, kept beside the email itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far (since it was last queued by an administrator).
    pub attempts: u32,
    /// Of those, how many the server refused permanently (5xx replies).
    pub permanent_failures: u32,
    /// The last failure, as the server or the network reported it.
    pub last_error: Option<String>,
    /// When it was sent, given up on, or last failed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

impl Delivery {
    /// A freshly queued email.
    pub fn queued() -> Delivery {
        Delivery {
            status: DeliveryStatus::Queued,
            attempts: 0,
            permanent_failures: 0,
            last_error: None,
            updated_at: None,
        }
    }
}

/// An outbox email with its delivery record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrackedEmail {
    /// The email, as queued.
    pub email: OutboxEmail,
    /// How its delivery went.
    pub delivery: Delivery,
}

/// An email a worker holds under lease: nobody else may send it until the lease runs out.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    /// The email to send.
    pub email: OutboxEmail,
    /// Its delivery record at claim time (attempts so far decide the retry policy).
    pub delivery: Delivery,
    /// Proof of the lease, required to record the outcome.
    pub token: String,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// The server accepted it.
    Sent,
    /// It failed and will be tried again after `after`.
    Retry {
        /// Wait before the next attempt.
        after: Duration,
        /// The failure.
        error: String,
        /// Whether the server refused it permanently (5xx) rather than for now.
        permanent: bool,
    },
    /// It failed once too often: it becomes a dead letter.
    Dead {
        /// The failure.
        error: String,
        /// Whether the last refusal was permanent (5xx).
        permanent: bool,
    },
}

/// Result of an administrator's request to send a dead letter again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    /// It is queued again, with its attempt counters reset.
    Done(Box<TrackedEmail>),
    /// It is not a dead letter (queued or already sent): nothing changed.
    NotDead(DeliveryStatus),
    /// No such email.
    NotFound,
}

/// How many outbox emails are in each delivery state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MailCounts {
    /// Waiting for an attempt, or being sent.
    pub queued: u64,
    /// Delivered.
    pub sent: u64,
    /// Given up on.
    pub dead: u64,
}

/// The storage port: what the use cases need, nothing about how it is kept.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the store answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Commits a transition atomically (see [`Commit`]).
    async fn commit(&self, commit: Commit) -> StoreResult<()>;

    /// One message.
    async fn message(&self, id: &str) -> StoreResult<Option<Message>>;
    /// An authority's messages.
    async fn messages_of_authority(&self, authority_id: &str) -> StoreResult<Vec<Message>>;
    /// Every message (for administrators).
    async fn all_messages(&self) -> StoreResult<Vec<Message>>;
    /// One review.
    async fn review(&self, id: &str) -> StoreResult<Option<Review>>;
    /// Several reviews by id (missing ones are skipped).
    async fn reviews(&self, ids: &[String]) -> StoreResult<Vec<Review>>;
    /// All reviews of a message, every version.
    async fn reviews_of_message(&self, message_id: &str) -> StoreResult<Vec<Review>>;
    /// All reviews in a school.
    async fn reviews_of_school(&self, uai: &Uai) -> StoreResult<Vec<Review>>;
    /// Open disputes of one arbitrator (`None`: every arbitrator).
    async fn open_disputes(&self, arbitrator: Option<&ArbitratorRef>) -> StoreResult<Vec<Review>>;
    /// Ended disputes of one arbitrator (`None`: every arbitrator).
    async fn closed_disputes(&self, arbitrator: Option<&ArbitratorRef>)
    -> StoreResult<Vec<Review>>;

    /// The last link of one of a message's audit chains (`message`, or a school's UAI).
    async fn audit_head(&self, message_id: &str, chain: &str) -> StoreResult<ChainHead>;
    /// A message's audit trail, in order.
    async fn audit(&self, message_id: &str) -> StoreResult<Vec<AuditRecord>>;
    /// The records of one school's part of a message's trail, with the message-wide ones, in order
    /// (so a review's history costs what that school did, not the whole message's trail).
    async fn audit_of_school(&self, message_id: &str, uai: &str) -> StoreResult<Vec<AuditRecord>>;

    /// Reviews whose deadline is at or before `now`, soonest first, at most `limit`.
    async fn due_reviews(&self, now: OffsetDateTime, limit: usize) -> StoreResult<Vec<String>>;
    /// How many reviews are pending, and how many of them fall due by `until`.
    async fn deadline_counts(&self, until: OffsetDateTime) -> StoreResult<(u64, u64)>;
    /// The soonest deadline of any pending review.
    async fn next_deadline(&self) -> StoreResult<Option<OffsetDateTime>>;

    /// A stored idempotency record.
    async fn idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>>;
    /// Queued emails, oldest first.
    async fn outbox(&self, limit: usize) -> StoreResult<Vec<OutboxEmail>>;
    /// Up to `limit` outbox emails with their delivery records, oldest first, after the email
    /// `after` (from the start without it); `None` when `after` is no outbox email.
    async fn outbox_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Option<Vec<TrackedEmail>>>;

    /// Inserts or replaces schools of the directory; returns how many were written.
    async fn put_schools(&self, schools: Vec<School>) -> StoreResult<usize>;
    /// One school.
    async fn school(&self, uai: &Uai) -> StoreResult<Option<School>>;
    /// Every school.
    async fn schools(&self) -> StoreResult<Vec<School>>;
    /// A small named setting (e.g. whether demo data was loaded).
    async fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets a small named setting.
    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;

    /// Leases up to `limit` queued emails that are due (new, retry time reached, or whose
    /// previous lease ran out) for `lease`, atomically: no other caller gets them meanwhile.
    /// Due times are measured on the store's own clock, so replicas need not agree on theirs.
    async fn claim_mail(&self, lease: Duration, limit: usize) -> StoreResult<Vec<ClaimedMail>>;
    /// Records the outcome of an attempt on an email claimed with `token`. Returns false, and
    /// changes nothing, if the lease was lost (expired and claimed again) or the email is no
    /// longer queued.
    async fn finish_mail(&self, id: &str, token: &str, outcome: MailOutcome) -> StoreResult<bool>;
    /// The delivery record of one email (None: no such email).
    async fn mail_delivery(&self, id: &str) -> StoreResult<Option<Delivery>>;
    /// Dead letters, oldest death first, at most `limit`.
    async fn dead_letters(&self, limit: usize) -> StoreResult<Vec<TrackedEmail>>;
    /// Queues a dead letter again, due at once, with its attempt counters reset.
    async fn requeue_dead_letter(&self, id: &str) -> StoreResult<Requeue>;
    /// How many emails are queued, sent and dead.
    async fn mail_counts(&self) -> StoreResult<MailCounts>;
    /// Notified each time this instance commits emails to the outbox, so a worker in the same
    /// process sends them at once instead of at its next poll.
    fn mail_queued(&self) -> Arc<Notify>;
}
