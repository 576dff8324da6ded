//! The storage port, and its adapters: an embedded crash-safe file (default) and Redis.

pub mod embedded;
mod feed_tags;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::domain::audit::{AuditRecord, ChainHead};
use crate::domain::calendar_feed::CalendarFeed;
use crate::domain::directory::{ArbitratorRef, School};
use crate::domain::message::{Message, Publication, Review};
use crate::domain::notification::OutboxEmail;
use crate::domain::review::ReviewState;
use crate::domain::uai::Uai;
use crate::domain::webhook::{Event, Webhook, WebhookDelivery};

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
    /// Changes to the schools' feeds, derived from the message and reviews by
    /// [`Commit::derive_feed`].
    pub feed: Vec<FeedChange>,
    /// A fan-out job to create or advance, under the same revision rule as messages.
    pub fan_out: Option<FanOut>,
    /// Entries of the schools' and académies' message timelines, derived from the message and
    /// the reviews it opens by [`Commit::derive_timelines`].
    pub timelines: Vec<TimelineEntry>,
    /// Events for webhooks, appended to the event log in this order (the outbox of
    /// [`WebhookStore`]).
    pub events: Vec<Event>,
    /// Events that happen later (a display that starts or ends at an instant ahead), kept until
    /// their `timestamp` and then released to the log (see [`WebhookStore::release_scheduled`]).
    pub scheduled: Vec<Event>,
    /// Messages whose scheduled events are cancelled (a withdrawal). A commit that cancels
    /// schedules nothing.
    pub unschedule: Vec<String>,
}

/// One message's place in a timeline other than its authority's (which the store derives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// The timeline ([`school_timeline`], [`academie_timeline`]).
    pub scope: String,
    /// The message's [`timeline_key`].
    pub key: String,
    /// The message.
    pub message_id: String,
}

/// The reviews of a large submission still to open. It is committed with the message, then
/// worked through in chunks, each committed with the job's new cursor, so that no single commit
/// holds the store for long and a crash at any point neither loses nor doubles a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanOut {
    /// The message whose targets get a review.
    pub message_id: String,
    /// Who submitted it (the audit trail names them for every review opened).
    pub actor: crate::domain::actor::Actor,
    /// How many of the message's targets, in order, already have their review.
    pub opened: usize,
    /// How many targets in all.
    pub total: usize,
    /// When the job was committed (with the message).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its last chunk was committed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Optimistic-concurrency revision (0 for a new job).
    pub revision: u64,
}

/// One change to a school's feed: a message goes on display there, or leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedChange {
    /// The school.
    pub uai: Uai,
    /// The message.
    pub message_id: String,
    /// What the school now displays of it; `None` removes it.
    pub publication: Option<Publication>,
}

impl Commit {
    /// Derives the timeline entries this commit makes, for reviews of `context` (the commit's own
    /// copy wins when it writes the message): a school enters a message's timeline with its first
    /// review, an académie when a message aimed at one of its schools is written. Entries the
    /// commit already holds stay (a re-indexing lists every school).
    pub fn derive_timelines(&mut self, context: &Message) {
        let message = self
            .messages
            .iter()
            .find(|m| m.id == context.id)
            .unwrap_or(context);
        let key = timeline_key(message);
        let entry = |scope: String| TimelineEntry {
            scope,
            key: key.clone(),
            message_id: message.id.clone(),
        };
        let mut entries: Vec<TimelineEntry> = self
            .reviews
            .iter()
            .filter(|r| r.revision == 0 && r.message_id == message.id)
            .map(|r| entry(school_timeline(&r.uai)))
            .collect();
        if self.messages.iter().any(|m| m.id == message.id) {
            entries.extend(
                message
                    .academies
                    .iter()
                    .map(|a| entry(academie_timeline(a))),
            );
        }
        entries.dedup();
        self.timelines.extend(entries);
    }

    /// Derives the feed changes this commit makes from its records, for reviews of `context`
    /// (the message as read; the commit's own copy wins when it writes the message): a review that
    /// becomes publishable puts its version on display; a withdrawal takes the message off every
    /// school it was aimed at. Nothing else changes what a school displays — an approved version
    /// stays on display while a newer one is under review.
    pub fn derive_feed(&mut self, context: &Message) {
        let message = self
            .messages
            .iter()
            .find(|m| m.id == context.id)
            .unwrap_or(context);
        self.feed = if message.withdrawn.is_some() {
            message
                .targets
                .iter()
                .map(|uai| FeedChange {
                    uai: uai.clone(),
                    message_id: message.id.clone(),
                    publication: None,
                })
                .collect()
        } else {
            self.reviews
                .iter()
                .filter_map(|r| {
                    Publication::of(message, r).map(|p| FeedChange {
                        uai: r.uai.clone(),
                        message_id: message.id.clone(),
                        publication: Some(p),
                    })
                })
                .collect()
        };
    }
}

/// Everything a decision on one review reads, read together (one round trip to Redis, one read
/// transaction on redb).
#[derive(Debug, Clone)]
pub struct ReviewContext {
    /// The review.
    pub review: Review,
    /// Its message, without its targets (left empty: a decision never needs the list of
    /// schools, a thousand UAIs to read and decode).
    pub message: Message,
    /// Its school, if the directory knows it.
    pub school: Option<School>,
    /// The message's chain, then the school's chain, each in order: the heads a decision extends,
    /// and the school's history the answer shows.
    pub audit: Vec<AuditRecord>,
}

impl ReviewContext {
    /// The head of one of the chains read (the genesis when it has no record yet).
    pub fn head(&self, chain: &str) -> ChainHead {
        self.audit
            .iter()
            .rfind(|r| r.chain == chain)
            .map(|r| ChainHead {
                seq: r.seq,
                hash: r.hash.clone(),
            })
            .unwrap_or_default()
    }
}

/// Where a message stands across its schools, kept by the store beside the reviews it counts:
/// how many schools' current reviews (their latest version's) are in each state, and the soonest
/// deadline still running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageSummary {
    /// Count of current reviews per state (states with none are absent).
    pub counts: std::collections::BTreeMap<ReviewState, u64>,
    /// The soonest deadline of a pending review.
    pub next_deadline: Option<OffsetDateTime>,
}

impl MessageSummary {
    /// The summary of some reviews of one message, as the stores keep it for all of them: the
    /// current review of each school counted by state, and the soonest pending deadline.
    pub fn of(reviews: &[Review]) -> MessageSummary {
        let mut current: std::collections::BTreeMap<&str, &Review> = Default::default();
        for r in reviews {
            match current.get(r.uai.as_str()) {
                Some(cur) if standing_rank(cur) > standing_rank(r) => {}
                _ => {
                    current.insert(r.uai.as_str(), r);
                }
            }
        }
        let mut summary = MessageSummary::default();
        for r in current.values() {
            *summary.counts.entry(r.state).or_insert(0) += 1;
        }
        summary.next_deadline = reviews.iter().filter_map(due_at).min();
        summary
    }

    /// How many schools it counts.
    pub fn schools(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// How a review ranks among its school's reviews of one message: the latest version, and for
/// one version the latest opened, is the school's current review. Zero-padded, so ranks compare
/// as strings (which is how Redis compares them).
pub fn standing_rank(review: &Review) -> String {
    format!(
        "{:010}:{:020}",
        review.version,
        review.opened_at.unix_timestamp_nanos() / 1_000
    )
}

/// The key of a review's place among its message's reviews: by school, each school's newest
/// version first (and the review id, for uniqueness).
pub fn review_order_key(review: &Review) -> String {
    format!(
        "{}:{:010}:{}",
        review.uai,
        u32::MAX - review.version,
        review.id
    )
}

/// The key of a review's place in its school's inbox: pending reviews first, soonest deadline
/// first; then the others, most recently opened first (and the id, for uniqueness).
pub fn inbox_key(review: &Review) -> String {
    let rank = u8::from(!review.state.deadline_runs());
    let due = review
        .deadline
        .as_ref()
        .map_or(i128::MAX / 2, |d| d.expires_at.unix_timestamp_nanos());
    let opened = i64::MAX - review.opened_at.unix_timestamp();
    format!("{rank}{due:040}{opened:020}{}", review.id)
}

/// The review id at the end of an [`inbox_key`].
pub fn inbox_review_id(key: &str) -> &str {
    key.get(61..).unwrap_or("")
}

/// The key of one message's place in a timeline (newest first when sorted ascending), and the
/// cursor after it.
pub fn timeline_key(message: &Message) -> String {
    let micros = (message.submitted_at.unix_timestamp_nanos() / 1_000) as i64;
    format!("{:019}:{}", i64::MAX - micros, message.id)
}

/// The timeline of every message (for administrators), beside one per authority.
pub const ALL_MESSAGES: &str = "*";

/// The timeline of the messages a school has reviews of (authority ids never hold a colon).
pub fn school_timeline(uai: &Uai) -> String {
    format!("uai:{uai}")
}

/// The timeline of the messages aimed at schools of an académie.
pub fn academie_timeline(code: &str) -> String {
    format!("academie:{code}")
}

/// Whose inbox: a school's (its reviews), or an authority's (the reviews of all its messages).
#[derive(Debug, Clone, Copy)]
pub enum InboxOf<'a> {
    /// A school's reviews.
    School(&'a Uai),
    /// The reviews of every message of an authority.
    Authority(&'a str),
}

impl InboxOf<'_> {
    /// The owner's name in the store's inbox index (an authority's starts with `@`, which no UAI
    /// holds).
    pub fn owner(&self) -> String {
        match self {
            InboxOf::School(uai) => uai.to_string(),
            InboxOf::Authority(id) => format!("@{id}"),
        }
    }

    /// Every inbox a review is in.
    pub fn of(review: &Review) -> [InboxOf<'_>; 2] {
        [
            InboxOf::School(&review.uai),
            InboxOf::Authority(&review.authority_id),
        ]
    }
}

/// A publication as a feed reads it: what filtering and ordering need, and the publication's JSON
/// as written once at commit, spliced into the response without being parsed again (a feed is
/// polled far more often than it changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPublication {
    /// The message.
    pub message_id: String,
    /// The sending authority (its name is configuration, added when served).
    pub authority_id: String,
    /// Start of display, µs since the epoch.
    pub live_from_us: i64,
    /// End of display (excluded), µs since the epoch.
    pub display_until_us: i64,
    /// The [`Publication`] as a JSON object.
    pub json: String,
}

impl StoredPublication {
    /// The line a store keeps for `p`: `<start µs> <end µs> <authority> <JSON>`.
    pub fn line(p: &Publication) -> StoreResult<String> {
        let [from, until] = p.bounds_micros();
        let json = serde_json::to_string(p).map_err(|e| StoreError::Other(e.to_string()))?;
        Ok(format!("{from} {until} {} {json}", p.authority_id))
    }

    /// Reads a line written by [`StoredPublication::line`].
    pub fn parse(message_id: &str, line: &str) -> StoreResult<StoredPublication> {
        let bad = || StoreError::Other(format!("publication illisible : {message_id}"));
        let mut parts = line.splitn(4, ' ');
        let mut next = || parts.next().ok_or_else(bad);
        let (from, until, authority, json) = (next()?, next()?, next()?, next()?);
        Ok(StoredPublication {
            message_id: message_id.to_owned(),
            authority_id: authority.to_owned(),
            live_from_us: from.parse().map_err(|_| bad())?,
            display_until_us: until.parse().map_err(|_| bad())?,
            json: json.to_owned(),
        })
    }

    /// Whether it is on display at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        let now = crate::domain::message::micros(now);
        self.live_from_us <= now && now < self.display_until_us
    }

    /// The publication itself.
    pub fn publication(&self) -> StoreResult<Publication> {
        serde_json::from_str(&self.json).map_err(|e| StoreError::Other(e.to_string()))
    }
}

/// Identifies what a school's feed shows at one instant: its version changes with every change
/// to the school's publications, and `upcoming` (starts and ends of display still ahead) falls as
/// time crosses them; so equal tags mean an equal feed, and a conditional request is answered
/// from the tag alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedTag {
    /// Bumped by each commit that changes the school's publications.
    pub version: u64,
    /// How many starts or ends of display are still to come.
    pub upcoming: u64,
}

impl std::fmt::Display for FeedTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.version, self.upcoming)
    }
}

/// The key under which an arbitrator's disputes are indexed.
pub fn arbitrator_key(r: &ArbitratorRef) -> String {
    r.to_string()
}

/// Whether a review belongs in the deadline index, and when it falls due.
pub fn due_at(review: &Review) -> Option<OffsetDateTime> {
    review
        .deadline
        .as_ref()
        .filter(|_| review.state.deadline_runs())
        .map(|d| d.expires_at)
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

/// The webhooks' part of the storage port: the event log each commit appends to, the
/// subscriptions, and each event's delivery to each subscription.
///
/// Positions in the event log are strings that sort in log order; a router reads the log after
/// its position, turns each event into deliveries to the subscriptions that want it, and records
/// its new position with them in one atomic write, so an event is routed once whatever happens.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Up to `limit` events of the log after `after` (from the start without it), with their
    /// positions.
    async fn events_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Event)>>;
    /// The position of the log's last event (`None`: the log is empty).
    async fn last_event_position(&self) -> StoreResult<Option<String>>;
    /// Up to where the router has routed events.
    async fn routed_position(&self) -> StoreResult<Option<String>>;
    /// Writes new deliveries and the router's new position together.
    async fn route_events(&self, deliveries: &[WebhookDelivery], position: &str)
    -> StoreResult<()>;

    /// Saves a subscription.
    async fn put_webhook(&self, webhook: &Webhook) -> StoreResult<()>;
    /// One subscription.
    async fn webhook(&self, id: &str) -> StoreResult<Option<Webhook>>;
    /// Every subscription, oldest first.
    async fn webhooks(&self) -> StoreResult<Vec<Webhook>>;
    /// Deletes a subscription and its queue (its deliveries' records expire with the retention);
    /// false if there was none.
    async fn delete_webhook(&self, id: &str) -> StoreResult<bool>;

    /// Saves a delivery, in its subscription's queue while it is queued.
    async fn put_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<()>;
    /// One delivery.
    async fn delivery(&self, id: &str) -> StoreResult<Option<WebhookDelivery>>;
    /// The first `limit` queued deliveries of a subscription, in log order.
    async fn queued_deliveries(
        &self,
        webhook_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Up to `limit` deliveries of a subscription, newest first, before the cursor `before`;
    /// each with its cursor.
    async fn deliveries_of(
        &self,
        webhook_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, WebhookDelivery)>>;

    /// Up to `limit` scheduled events whose instant is at or before `now`, soonest first.
    async fn due_scheduled_events(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<Event>>;
    /// The instant of the soonest scheduled event.
    async fn next_scheduled_event(&self) -> StoreResult<Option<OffsetDateTime>>;
    /// Takes scheduled events out of the schedule, atomically appending to the log those of
    /// `publish` that were still scheduled (one cancelled meanwhile is not) and forgetting those
    /// of `drop`.
    async fn release_scheduled(&self, publish: &[Event], drop: &[Event]) -> StoreResult<()>;

    /// Forgets, at most `limit` of each at a time, events of the log routed and logged before
    /// `before`, and deliveries delivered or given up before it; returns how many records went.
    async fn expire_webhook_records(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<usize>;

    /// Takes or renews the lease `name` for `holder` for `ttl`: true when `holder` holds it now
    /// (nobody else did, or theirs ran out). Measured on the store's clock.
    async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<bool>;
}

/// The key of a delivery among its subscription's: its event's position, then its id.
pub fn delivery_key(d: &WebhookDelivery) -> String {
    format!("{}:{}", d.position, d.id)
}

/// The storage port: what the use cases need, nothing about how it is kept.
#[async_trait]
pub trait Store: WebhookStore {
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
    /// Open disputes of one arbitrator (`None`: every arbitrator).
    async fn open_disputes(&self, arbitrator: Option<&ArbitratorRef>) -> StoreResult<Vec<Review>>;
    /// Ended disputes of one arbitrator (`None`: every arbitrator).
    async fn closed_disputes(&self, arbitrator: Option<&ArbitratorRef>)
    -> StoreResult<Vec<Review>>;

    /// A school's feed tag at `now` (see [`FeedTag`]), without its publications.
    async fn feed_tag(&self, uai: &Uai, now: OffsetDateTime) -> StoreResult<FeedTag>;
    /// A school's publications (on display or not, at `now`) with its tag, read together.
    async fn feed(
        &self,
        uai: &Uai,
        now: OffsetDateTime,
    ) -> StoreResult<(FeedTag, Vec<StoredPublication>)>;

    /// A review with its message, school and audit chains (see [`ReviewContext`]); `None` when
    /// the review or its message does not exist.
    async fn review_context(&self, review_id: &str) -> StoreResult<Option<ReviewContext>>;
    /// Up to `limit` reviews of a message in the order of [`review_order_key`], after the key
    /// `after`; each with its key (the next cursor).
    async fn message_reviews_page(
        &self,
        message_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Review)>>;
    /// Up to `limit` reviews of an inbox (only those in `state`, if given), in the order of
    /// [`inbox_key`], after the key `after`; each with its key (the next cursor).
    async fn inbox_page(
        &self,
        inbox: InboxOf<'_>,
        state: Option<ReviewState>,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Review)>>;
    /// Up to `limit` message ids of a timeline (an authority's, [`ALL_MESSAGES`],
    /// [`school_timeline`] or [`academie_timeline`]), newest
    /// first, after the timeline key `after`; with each its timeline key (the next cursor).
    async fn timeline(
        &self,
        scope: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, String)>>;
    /// Every review (each version's) of one school for each of the messages, read together.
    async fn reviews_at_school(
        &self,
        message_ids: &[String],
        uai: &Uai,
    ) -> StoreResult<Vec<Review>>;
    /// Messages with their summaries, read together (missing messages are skipped).
    async fn messages_with_summaries(
        &self,
        ids: &[String],
    ) -> StoreResult<Vec<(Message, MessageSummary)>>;

    /// The last link of one of a message's audit chains (`message`, or a school's UAI).
    async fn audit_head(&self, message_id: &str, chain: &str) -> StoreResult<ChainHead>;
    /// The last links of several of a message's audit chains, read together, in their order.
    async fn audit_heads(&self, message_id: &str, chains: &[String])
    -> StoreResult<Vec<ChainHead>>;
    /// A message's audit trail, in order.
    async fn audit(&self, message_id: &str) -> StoreResult<Vec<AuditRecord>>;
    /// The records of some of a message's audit chains (`message`, schools' UAIs), each chain in
    /// order, read together (so a page of the trail costs what those chains hold).
    async fn audit_of_chains(
        &self,
        message_id: &str,
        chains: &[String],
    ) -> StoreResult<Vec<AuditRecord>>;

    /// Reviews whose deadline is at or before `now`, soonest first, at most `limit`.
    async fn due_reviews(&self, now: OffsetDateTime, limit: usize) -> StoreResult<Vec<String>>;
    /// One message's reviews whose deadline is at or before `now`, soonest first, at most
    /// `limit` (a sweep approves a message's schools together, whatever else falls due).
    async fn due_reviews_of_message(
        &self,
        message_id: &str,
        now: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<String>>;
    /// How many reviews are pending, and how many of them fall due by `until`.
    async fn deadline_counts(&self, until: OffsetDateTime) -> StoreResult<(u64, u64)>;
    /// The soonest deadline of any pending review.
    async fn next_deadline(&self) -> StoreResult<Option<OffsetDateTime>>;

    /// A message's fan-out job, finished or not.
    async fn fan_out(&self, message_id: &str) -> StoreResult<Option<FanOut>>;
    /// Up to `limit` unfinished fan-out jobs, oldest first.
    async fn pending_fan_outs(&self, limit: usize) -> StoreResult<Vec<FanOut>>;

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
    /// Several schools, read together (unknown ones are skipped).
    async fn schools_of(&self, uais: &[Uai]) -> StoreResult<Vec<School>>;
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
    /// Forgets, at most `limit` of each at a time, what only serves for a while: emails delivered
    /// before `before` (with their delivery records), idempotency keys reserved before it and
    /// fan-out jobs finished before it.
    /// The audit trail, which records every email sent, is never forgotten. Returns how many
    /// records went.
    async fn expire_before(&self, before: OffsetDateTime, limit: usize) -> StoreResult<usize>;
    /// Notified each time this instance commits emails to the outbox, so a worker in the same
    /// process sends them at once instead of at its next poll.
    fn mail_queued(&self) -> Arc<Notify>;

    /// Saves a calendar feed, with its place among its owner's.
    async fn put_calendar_feed(&self, feed: &CalendarFeed) -> StoreResult<()>;
    /// One calendar feed.
    async fn calendar_feed(&self, id: &str) -> StoreResult<Option<CalendarFeed>>;
    /// The calendar feeds of one owner (their subject), oldest first.
    async fn calendar_feeds_of(&self, subject: &str) -> StoreResult<Vec<CalendarFeed>>;
    /// Deletes a calendar feed (its URL answers nothing from then on); false if there was none.
    async fn delete_calendar_feed(&self, id: &str) -> StoreResult<bool>;
}
