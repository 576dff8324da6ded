//! The storage port, and its adapters: an embedded crash-safe file (default) and Redis.

pub mod embedded;
pub mod redis;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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
/// and writes each with its revision bumped. Audit records must extend the stored chain head.
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

    /// The last link of a message's audit chain.
    async fn audit_head(&self, message_id: &str) -> StoreResult<ChainHead>;
    /// A message's audit trail, in order.
    async fn audit(&self, message_id: &str) -> StoreResult<Vec<AuditRecord>>;

    /// Reviews whose deadline is at or before `now`, soonest first, at most `limit`.
    async fn due_reviews(&self, now: OffsetDateTime, limit: usize) -> StoreResult<Vec<String>>;
    /// The soonest deadline of any pending review.
    async fn next_deadline(&self) -> StoreResult<Option<OffsetDateTime>>;

    /// A stored idempotency record.
    async fn idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>>;
    /// Queued emails, oldest first.
    async fn outbox(&self, limit: usize) -> StoreResult<Vec<OutboxEmail>>;

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
}
