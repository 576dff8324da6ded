//! The embedded adapter: one crash-safe redb file, zero setup.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

mod webhooks;
use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    ReadableTableMetadata, TableDefinition,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::{
    ALL_MESSAGES, ClaimedMail, Commit, Delivery, DeliveryStatus, FanOut, FeedChange, FeedTag,
    IdempotencyRecord, InboxOf, MailCounts, MailOutcome, MessageSummary, Requeue, ReviewContext,
    Store, StoreError, StoreResult, StoredPublication, TrackedEmail, arbitrator_key,
    closed_dispute, due_at, inbox_key, open_dispute, review_order_key, standing_rank, timeline_key,
};
use crate::domain::audit::{AuditRecord, ChainHead};
use crate::domain::calendar_feed::CalendarFeed;
use crate::domain::directory::{ArbitratorRef, School};
use crate::domain::message::{Message, Review, micros};
use crate::domain::notification::OutboxEmail;
use crate::domain::review::ReviewState;
use crate::domain::uai::Uai;

const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("messages");
const REVIEWS: TableDefinition<&str, &[u8]> = TableDefinition::new("reviews");
const MESSAGE_REVIEWS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("message_reviews");
const AUTHORITY_MESSAGES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("authority_messages");
const DISPUTES: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("disputes");
const CLOSED_DISPUTES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("closed_disputes");
const DEADLINES: TableDefinition<(i128, &str), ()> = TableDefinition::new("deadlines");
/// (message, chain, seq) → record; a range over (message, chain) is one chain in order.
const AUDIT: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("audit_chains");
const AUDIT_HEADS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("audit_chain_heads");
const OUTBOX: TableDefinition<(i128, &str), &[u8]> = TableDefinition::new("outbox");
const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");
const SCHOOLS: TableDefinition<&str, &[u8]> = TableDefinition::new("schools");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const MAIL_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("mail_state");
const MAIL_DUE: TableDefinition<(i128, &str), ()> = TableDefinition::new("mail_due");
const MAIL_DEAD: TableDefinition<(i128, &str), ()> = TableDefinition::new("mail_dead");
const MAIL_COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("mail_counters");
/// (when delivered, email id): delivered emails, for their expiry.
const MAIL_SENT: TableDefinition<(i128, &str), ()> = TableDefinition::new("mail_sent");
/// (when reserved, scoped key): idempotency keys, for their expiry.
const IDEMPOTENCY_AT: TableDefinition<(i128, &str), ()> = TableDefinition::new("idempotency_at");
/// (scope, timeline key) → message id: an authority's messages (and every message, under
/// `ALL_MESSAGES`), newest first.
const TIMELINE: TableDefinition<(&str, &str), &str> = TableDefinition::new("timeline");
/// (message, review order key) → review id: a message's reviews by school.
const REVIEW_ORDER: TableDefinition<(&str, &str), &str> = TableDefinition::new("review_order");
/// (message, school) → "rank|state" of the school's current review.
const STANDINGS: TableDefinition<(&str, &str), &str> = TableDefinition::new("standings");
/// (message, state) → how many schools' current reviews are in it.
const STATE_COUNTS: TableDefinition<(&str, &str), u64> = TableDefinition::new("state_counts");
/// (message, deadline, review): the message's pending reviews by deadline.
const MESSAGE_DEADLINES: TableDefinition<(&str, i128, &str), ()> =
    TableDefinition::new("message_deadlines");
/// (school, message) → what the school displays of it.
const FEED: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("feed");
/// school → version of its feed.
const FEED_VERSIONS: TableDefinition<&str, u64> = TableDefinition::new("feed_versions");
/// (school, instant in µs, message): each start and end of display, for the feed's tag.
const FEED_BOUNDS: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("feed_bounds");
/// Each school's inbox: (UAI, `*` or a state's name, [`inbox_key`]) → review id.
const INBOX: TableDefinition<(&str, &str, &str), &str> = TableDefinition::new("inbox");
/// The scope of an inbox row that lists a school's reviews in every state.
const ALL_STATES: &str = "*";
/// Fan-out jobs by message id.
const FAN_OUTS: TableDefinition<&str, &[u8]> = TableDefinition::new("fan_outs");
/// Unfinished fan-out jobs by creation (ns), message id.
const FAN_OUTS_PENDING: TableDefinition<(i128, &str), ()> =
    TableDefinition::new("fan_outs_pending");
/// Finished fan-out jobs by end (ns), message id, for their expiry.
const FAN_OUTS_DONE: TableDefinition<(i128, &str), ()> = TableDefinition::new("fan_outs_done");
/// Calendar feeds by id.
const CALENDAR_FEEDS: TableDefinition<&str, &[u8]> = TableDefinition::new("calendar_feeds");
/// Calendar feeds by owner (subject, creation, id), oldest first.
const CALENDAR_FEEDS_OF: TableDefinition<(&str, i128, &str), ()> =
    TableDefinition::new("calendar_feeds_of");

/// Delivery bookkeeping of one outbox email, with the keys of the index rows it owns.
#[derive(Serialize, serde::Deserialize)]
struct MailRecord {
    delivery: Delivery,
    /// First part of the email's key in `OUTBOX`.
    created: i128,
    /// Its row in `MAIL_DUE` while queued: when it may next be claimed.
    due: Option<i128>,
    /// Its row in `MAIL_DEAD` while dead.
    dead: Option<i128>,
    /// The current lease's token, if a worker holds it.
    token: Option<String>,
}

/// A store kept in one redb file; every commit is a single durable write transaction.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    queued: Arc<Notify>,
    /// Feed tags kept between commits: this process is the only writer of its file, so a
    /// commit forgets the tags it changes and nothing else can.
    tags: Arc<super::feed_tags::FeedTags>,
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

fn encode<T: Serialize>(v: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(other)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Other(format!("enregistrement illisible : {e}")))
}

fn nanos(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos()
}

/// redb's page cache when none is configured: bounded, so memory does not follow the database
/// as years of history accumulate (redb's own default is 1 GiB).
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl EmbeddedStore {
    /// Opens (or creates) the store file `charte.redb` in `dir`, with the default cache.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store file `charte.redb` in `dir`, with at most `cache_bytes` of
    /// page cache.
    pub fn open_with_cache(dir: &Path, cache_bytes: usize) -> StoreResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Other(format!(
                "impossible de créer le dossier {} : {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("charte.redb");
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(&path)
            .map_err(|e| {
                StoreError::Other(format!("impossible d'ouvrir {} : {e}", path.display()))
            })?;
        // Creating every table up front lets read transactions assume they exist.
        let txn = db.begin_write().map_err(other)?;
        {
            txn.open_table(MESSAGES).map_err(other)?;
            txn.open_table(REVIEWS).map_err(other)?;
            txn.open_multimap_table(MESSAGE_REVIEWS).map_err(other)?;
            txn.open_multimap_table(AUTHORITY_MESSAGES).map_err(other)?;
            txn.open_multimap_table(DISPUTES).map_err(other)?;
            txn.open_multimap_table(CLOSED_DISPUTES).map_err(other)?;
            txn.open_table(DEADLINES).map_err(other)?;
            txn.open_table(AUDIT).map_err(other)?;
            txn.open_table(AUDIT_HEADS).map_err(other)?;
            txn.open_table(OUTBOX).map_err(other)?;
            txn.open_table(IDEMPOTENCY).map_err(other)?;
            txn.open_table(SCHOOLS).map_err(other)?;
            txn.open_table(META).map_err(other)?;
            txn.open_table(MAIL_STATE).map_err(other)?;
            txn.open_table(MAIL_DUE).map_err(other)?;
            txn.open_table(MAIL_DEAD).map_err(other)?;
            txn.open_table(MAIL_COUNTERS).map_err(other)?;
            txn.open_table(FEED).map_err(other)?;
            txn.open_table(TIMELINE).map_err(other)?;
            txn.open_table(MAIL_SENT).map_err(other)?;
            txn.open_table(IDEMPOTENCY_AT).map_err(other)?;
            txn.open_table(REVIEW_ORDER).map_err(other)?;
            txn.open_table(STANDINGS).map_err(other)?;
            txn.open_table(STATE_COUNTS).map_err(other)?;
            txn.open_table(MESSAGE_DEADLINES).map_err(other)?;
            txn.open_table(FEED_VERSIONS).map_err(other)?;
            txn.open_table(FEED_BOUNDS).map_err(other)?;
            txn.open_table(INBOX).map_err(other)?;
            txn.open_table(FAN_OUTS).map_err(other)?;
            txn.open_table(FAN_OUTS_PENDING).map_err(other)?;
            txn.open_table(FAN_OUTS_DONE).map_err(other)?;
            txn.open_table(CALENDAR_FEEDS).map_err(other)?;
            txn.open_table(CALENDAR_FEEDS_OF).map_err(other)?;
            webhooks::create_tables(&txn)?;
        }
        txn.commit().map_err(other)?;
        backfill_mail_states(&db)?;
        Ok(Self {
            db: Arc::new(db),
            queued: Arc::new(Notify::new()),
            tags: Arc::new(super::feed_tags::FeedTags::live()),
        })
    }

    async fn blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Other(format!("tâche de stockage interrompue : {e}")))?
    }

    /// Runs a read of a few cached pages (a school's feed, its tag) on the calling thread: the hop
    /// to a blocking thread and back costs more than such a read (profiled: the hop's wake-ups
    /// were the largest cost of serving a feed). Anything that may read much goes through
    /// [`Self::blocking`].
    fn small_read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Database) -> StoreResult<T>,
    {
        f(&self.db)
    }

    fn get_json<T: DeserializeOwned>(
        db: &Database,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> StoreResult<Option<T>> {
        let txn = db.begin_read().map_err(other)?;
        let t = txn.open_table(table).map_err(other)?;
        let found = t.get(key).map_err(other)?;
        found.map(|v| decode(v.value())).transpose()
    }

    fn reviews_by(
        db: &Database,
        index: MultimapTableDefinition<&str, &str>,
        key: &str,
    ) -> StoreResult<Vec<Review>> {
        let txn = db.begin_read().map_err(other)?;
        let idx = txn.open_multimap_table(index).map_err(other)?;
        let reviews = txn.open_table(REVIEWS).map_err(other)?;
        let mut out = Vec::new();
        for id in idx.get(key).map_err(other)? {
            let id = id.map_err(other)?;
            if let Some(v) = reviews.get(id.value()).map_err(other)? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }

    /// The reviews of a dispute index, for one arbitrator or all.
    async fn disputes_in(
        &self,
        index: MultimapTableDefinition<'static, &'static str, &'static str>,
        arbitrator: Option<&ArbitratorRef>,
    ) -> StoreResult<Vec<Review>> {
        let key = arbitrator.map(arbitrator_key);
        self.blocking(move |db| match key {
            Some(k) => Self::reviews_by(db, index, &k),
            None => {
                let txn = db.begin_read().map_err(other)?;
                let idx = txn.open_multimap_table(index).map_err(other)?;
                let keys: Vec<String> = idx
                    .iter()
                    .map_err(other)?
                    .map(|row| row.map(|(k, _)| k.value().to_owned()).map_err(other))
                    .collect::<StoreResult<_>>()?;
                drop(idx);
                drop(txn);
                let mut out = Vec::new();
                for k in keys {
                    out.extend(Self::reviews_by(db, index, &k)?);
                }
                Ok(out)
            }
        })
        .await
    }

    /// Test and repair aid: overwrites one stored audit record as-is, bypassing the chain.
    pub fn overwrite_audit_record(&self, record: &AuditRecord) -> StoreResult<()> {
        let txn = self.db.begin_write().map_err(other)?;
        {
            let mut t = txn.open_table(AUDIT).map_err(other)?;
            t.insert(
                (
                    record.message_id.as_str(),
                    record.chain.as_str(),
                    record.seq,
                ),
                encode(record)?.as_slice(),
            )
            .map_err(other)?;
        }
        txn.commit().map_err(other)
    }
}

fn apply_commit(db: &Database, c: Commit) -> StoreResult<()> {
    let txn = db.begin_write().map_err(other)?;
    {
        let mut messages = txn.open_table(MESSAGES).map_err(other)?;
        let mut by_authority = txn.open_multimap_table(AUTHORITY_MESSAGES).map_err(other)?;
        let mut timeline = txn.open_table(TIMELINE).map_err(other)?;
        for m in &c.messages {
            let stored: Option<Message> = messages
                .get(m.id.as_str())
                .map_err(other)?
                .map(|v| decode(v.value()))
                .transpose()?;
            let current = stored.as_ref().map(|s| s.revision);
            if current.unwrap_or(0) != m.revision || (stored.is_none() && m.revision != 0) {
                return Err(StoreError::Conflict(format!(
                    "le message {} a changé entre-temps",
                    m.id
                )));
            }
            if stored.is_none() && m.revision == 0 {
                by_authority
                    .insert(m.authority_id.as_str(), m.id.as_str())
                    .map_err(other)?;
            }
            let key = timeline_key(m);
            for scope in [m.authority_id.as_str(), ALL_MESSAGES] {
                timeline
                    .insert((scope, key.as_str()), m.id.as_str())
                    .map_err(other)?;
            }
            let mut next = m.clone();
            next.revision = m.revision + 1;
            messages
                .insert(m.id.as_str(), encode(&next)?.as_slice())
                .map_err(other)?;
        }

        for e in &c.timelines {
            timeline
                .insert((e.scope.as_str(), e.key.as_str()), e.message_id.as_str())
                .map_err(other)?;
        }
        let mut reviews = txn.open_table(REVIEWS).map_err(other)?;
        let mut by_message = txn.open_multimap_table(MESSAGE_REVIEWS).map_err(other)?;
        let mut disputes = txn.open_multimap_table(DISPUTES).map_err(other)?;
        let mut closed = txn.open_multimap_table(CLOSED_DISPUTES).map_err(other)?;
        let mut deadlines = txn.open_table(DEADLINES).map_err(other)?;
        let mut message_deadlines = txn.open_table(MESSAGE_DEADLINES).map_err(other)?;
        let mut standings = txn.open_table(STANDINGS).map_err(other)?;
        let mut counts = txn.open_table(STATE_COUNTS).map_err(other)?;
        let mut order = txn.open_table(REVIEW_ORDER).map_err(other)?;
        let mut inbox = txn.open_table(INBOX).map_err(other)?;
        for r in &c.reviews {
            let stored: Option<Review> = reviews
                .get(r.id.as_str())
                .map_err(other)?
                .map(|v| decode(v.value()))
                .transpose()?;
            match &stored {
                Some(s) if s.revision != r.revision => {
                    return Err(StoreError::Conflict(format!(
                        "la revue {} a changé entre-temps",
                        r.id
                    )));
                }
                None if r.revision != 0 => {
                    return Err(StoreError::Conflict(format!(
                        "la revue {} n'existe plus",
                        r.id
                    )));
                }
                _ => {}
            }
            if let Some(s) = &stored {
                let key = inbox_key(s);
                for owner in InboxOf::of(s).map(|i| i.owner()) {
                    for scope in [ALL_STATES, s.state.name()] {
                        inbox
                            .remove((owner.as_str(), scope, key.as_str()))
                            .map_err(other)?;
                    }
                }
                if let Some(at) = due_at(s) {
                    deadlines
                        .remove((nanos(at), s.id.as_str()))
                        .map_err(other)?;
                    message_deadlines
                        .remove((s.message_id.as_str(), nanos(at), s.id.as_str()))
                        .map_err(other)?;
                }
                if let Some(key) = open_dispute(s) {
                    disputes
                        .remove(key.as_str(), s.id.as_str())
                        .map_err(other)?;
                }
                if let Some(key) = closed_dispute(s) {
                    closed.remove(key.as_str(), s.id.as_str()).map_err(other)?;
                }
            } else {
                by_message
                    .insert(r.message_id.as_str(), r.id.as_str())
                    .map_err(other)?;
            }
            if let Some(at) = due_at(r) {
                deadlines
                    .insert((nanos(at), r.id.as_str()), ())
                    .map_err(other)?;
                message_deadlines
                    .insert((r.message_id.as_str(), nanos(at), r.id.as_str()), ())
                    .map_err(other)?;
            }
            let key = inbox_key(r);
            for owner in InboxOf::of(r).map(|i| i.owner()) {
                for scope in [ALL_STATES, r.state.name()] {
                    inbox
                        .insert((owner.as_str(), scope, key.as_str()), r.id.as_str())
                        .map_err(other)?;
                }
            }
            update_standing(&mut standings, &mut counts, r)?;
            order
                .insert(
                    (r.message_id.as_str(), review_order_key(r).as_str()),
                    r.id.as_str(),
                )
                .map_err(other)?;
            if let Some(key) = open_dispute(r) {
                disputes
                    .insert(key.as_str(), r.id.as_str())
                    .map_err(other)?;
            }
            if let Some(key) = closed_dispute(r) {
                closed.insert(key.as_str(), r.id.as_str()).map_err(other)?;
            }
            let mut next = r.clone();
            next.revision = r.revision + 1;
            reviews
                .insert(r.id.as_str(), encode(&next)?.as_slice())
                .map_err(other)?;
        }

        if !c.feed.is_empty() {
            apply_feed(&txn, &c.feed)?;
        }

        if !c.audit.is_empty() {
            let mut heads = txn.open_table(AUDIT_HEADS).map_err(other)?;
            let mut audit = txn.open_table(AUDIT).map_err(other)?;
            // Records arrive grouped by chain; each group must extend its chain's stored head.
            let mut expected: Option<ChainHead> = None;
            let mut current_chain: Option<(&str, &str)> = None;
            for rec in &c.audit {
                let key = (rec.message_id.as_str(), rec.chain.as_str());
                if current_chain != Some(key) {
                    let stored: ChainHead = heads
                        .get(key)
                        .map_err(other)?
                        .map(|v| decode(v.value()))
                        .transpose()?
                        .unwrap_or_default();
                    expected = Some(stored);
                    current_chain = Some(key);
                }
                let head = expected.take().unwrap_or_default();
                if rec.seq != head.seq + 1 || rec.prev_hash != head.hash {
                    return Err(StoreError::Conflict(
                        "le journal d'audit a avancé entre-temps".into(),
                    ));
                }
                audit
                    .insert(
                        (rec.message_id.as_str(), rec.chain.as_str(), rec.seq),
                        encode(rec)?.as_slice(),
                    )
                    .map_err(other)?;
                let next = ChainHead {
                    seq: rec.seq,
                    hash: rec.hash.clone(),
                };
                heads
                    .insert(key, encode(&next)?.as_slice())
                    .map_err(other)?;
                expected = Some(next);
            }
        }

        let mut outbox = txn.open_table(OUTBOX).map_err(other)?;
        let mut states = txn.open_table(MAIL_STATE).map_err(other)?;
        let mut due = txn.open_table(MAIL_DUE).map_err(other)?;
        // Due on this machine's clock, not the workflow's: a test or demo clock may be far off.
        let now = nanos(OffsetDateTime::now_utc());
        for e in &c.outbox {
            // Email ids are deterministic for once-only emails (reminders): a second one is refused.
            if states.get(e.id.as_str()).map_err(other)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "le courriel {} est déjà dans la file d'envoi",
                    e.id
                )));
            }
            outbox
                .insert((nanos(e.created_at), e.id.as_str()), encode(e)?.as_slice())
                .map_err(other)?;
            let record = MailRecord {
                delivery: Delivery::queued(),
                created: nanos(e.created_at),
                due: Some(now),
                dead: None,
                token: None,
            };
            states
                .insert(e.id.as_str(), encode(&record)?.as_slice())
                .map_err(other)?;
            due.insert((now, e.id.as_str()), ()).map_err(other)?;
        }

        if let Some(idem) = &c.idempotency {
            let mut t = txn.open_table(IDEMPOTENCY).map_err(other)?;
            if t.get(idem.key.as_str()).map_err(other)?.is_some() {
                return Err(StoreError::Conflict(
                    "clé d'idempotence déjà utilisée".into(),
                ));
            }
            t.insert(idem.key.as_str(), encode(idem)?.as_slice())
                .map_err(other)?;
            let mut at = txn.open_table(IDEMPOTENCY_AT).map_err(other)?;
            at.insert((now, idem.key.as_str()), ()).map_err(other)?;
        }

        if let Some(job) = &c.fan_out {
            write_fan_out(&txn, job)?;
        }
        webhooks::append_events(&txn, &c.events)?;
        webhooks::schedule(&txn, &c.scheduled, &c.unschedule)?;
    }
    // Dropping the transaction on any early return above aborts it: nothing is half-written.
    txn.commit().map_err(other)
}

/// Up to `limit` reviews of an ordered index, read from `rows` (each an index key and a review
/// id, from the key `after` on), skipping `after` itself and reviews that no longer exist; each
/// with its key (the next cursor).
fn reviews_after(
    rows: impl Iterator<Item = StoreResult<(String, String)>>,
    after: Option<&str>,
    limit: usize,
    reviews: &redb::ReadOnlyTable<&str, &[u8]>,
) -> StoreResult<Vec<(String, Review)>> {
    let mut out = Vec::with_capacity(limit);
    for row in rows {
        let (key, id) = row?;
        if after == Some(key.as_str()) {
            continue;
        }
        if let Some(raw) = reviews.get(id.as_str()).map_err(other)? {
            out.push((key, decode(raw.value())?));
        }
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// Writes a fan-out job if its stored revision is the one it was read at, with its index rows.
fn write_fan_out(txn: &redb::WriteTransaction, job: &FanOut) -> StoreResult<()> {
    let mut jobs = txn.open_table(FAN_OUTS).map_err(other)?;
    let stored: Option<FanOut> = jobs
        .get(job.message_id.as_str())
        .map_err(other)?
        .map(|v| decode(v.value()))
        .transpose()?;
    if stored.as_ref().map_or(0, |s| s.revision) != job.revision {
        return Err(StoreError::Conflict(format!(
            "l'ouverture des revues de {} a avancé entre-temps",
            job.message_id
        )));
    }
    let id = job.message_id.as_str();
    let mut pending = txn.open_table(FAN_OUTS_PENDING).map_err(other)?;
    match job.finished_at {
        None => {
            pending
                .insert((nanos(job.created_at), id), ())
                .map_err(other)?;
        }
        Some(at) => {
            pending.remove((nanos(job.created_at), id)).map_err(other)?;
            let mut done = txn.open_table(FAN_OUTS_DONE).map_err(other)?;
            done.insert((nanos(at), id), ()).map_err(other)?;
        }
    }
    let mut next = job.clone();
    next.revision = job.revision + 1;
    jobs.insert(id, encode(&next)?.as_slice()).map_err(other)?;
    Ok(())
}

/// Counts `r` in its message's summary if it is (or replaces) its school's current review.
fn update_standing(
    standings: &mut redb::Table<(&str, &str), &str>,
    counts: &mut redb::Table<(&str, &str), u64>,
    r: &Review,
) -> StoreResult<()> {
    let key = (r.message_id.as_str(), r.uai.as_str());
    let rank = standing_rank(r);
    let current: Option<String> = standings
        .get(key)
        .map_err(other)?
        .map(|v| v.value().to_owned());
    if let Some(cur) = current {
        let (cur_rank, cur_state) = cur.split_once('|').unwrap_or((cur.as_str(), ""));
        if rank.as_str() < cur_rank {
            return Ok(());
        }
        let n = counts
            .get((key.0, cur_state))
            .map_err(other)?
            .map_or(0, |v| v.value());
        if n <= 1 {
            counts.remove((key.0, cur_state)).map_err(other)?;
        } else {
            counts.insert((key.0, cur_state), n - 1).map_err(other)?;
        }
    }
    let state = r.state.name();
    let n = counts
        .get((key.0, state))
        .map_err(other)?
        .map_or(0, |v| v.value());
    counts.insert((key.0, state), n + 1).map_err(other)?;
    standings
        .insert(key, format!("{rank}|{state}").as_str())
        .map_err(other)?;
    Ok(())
}

/// Applies feed changes inside a commit's write transaction, bumping each touched school's version.
fn apply_feed(txn: &redb::WriteTransaction, changes: &[FeedChange]) -> StoreResult<()> {
    let mut feed = txn.open_table(FEED).map_err(other)?;
    let mut bounds = txn.open_table(FEED_BOUNDS).map_err(other)?;
    let mut versions = txn.open_table(FEED_VERSIONS).map_err(other)?;
    let mut touched = std::collections::BTreeSet::new();
    for ch in changes {
        let key = (ch.uai.as_str(), ch.message_id.as_str());
        let stored = feed.get(key).map_err(other)?.map(|v| v.value().to_vec());
        if stored.is_none() && ch.publication.is_none() {
            continue;
        }
        // An entry this version cannot read (written by an earlier one) is replaced all the same.
        let old = stored.and_then(|raw| {
            let line = std::str::from_utf8(&raw).ok()?;
            StoredPublication::parse(key.1, line).ok()
        });
        if let Some(old) = old {
            for b in [old.live_from_us, old.display_until_us] {
                bounds.remove((key.0, b, key.1)).map_err(other)?;
            }
        }
        match &ch.publication {
            Some(p) => {
                feed.insert(key, StoredPublication::line(p)?.as_bytes())
                    .map_err(other)?;
                for b in p.bounds_micros() {
                    bounds.insert((key.0, b, key.1), ()).map_err(other)?;
                }
            }
            None => {
                feed.remove(key).map_err(other)?;
            }
        }
        touched.insert(key.0);
    }
    // Versions start from the clock, so that a tag handed out before a store was wiped and
    // refilled cannot match again.
    let floor = micros(OffsetDateTime::now_utc()) as u64;
    for uai in touched {
        let current = versions.get(uai).map_err(other)?.map_or(0, |v| v.value());
        versions
            .insert(uai, (current + 1).max(floor))
            .map_err(other)?;
    }
    Ok(())
}

/// A school's feed tag, read in `txn`.
fn feed_tag_in(
    txn: &redb::ReadTransaction,
    uai: &str,
    now: OffsetDateTime,
) -> StoreResult<FeedTag> {
    Ok(feed_tag_and_next_bound(txn, uai, now)?.0)
}

/// A school's feed tag at `now`, and the next start or end of display (which will change it).
fn feed_tag_and_next_bound(
    txn: &redb::ReadTransaction,
    uai: &str,
    now: OffsetDateTime,
) -> StoreResult<(FeedTag, i64)> {
    let versions = txn.open_table(FEED_VERSIONS).map_err(other)?;
    let bounds = txn.open_table(FEED_BOUNDS).map_err(other)?;
    let version = versions.get(uai).map_err(other)?.map_or(0, |v| v.value());
    let mut upcoming = 0;
    let mut next = i64::MAX;
    for row in bounds
        .range((uai, micros(now) + 1, "")..=(uai, i64::MAX, "\u{10FFFF}"))
        .map_err(other)?
    {
        if upcoming == 0 {
            next = row.map_err(other)?.0.value().1;
        }
        upcoming += 1;
    }
    Ok((FeedTag { version, upcoming }, next))
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn inbox_page(
        &self,
        inbox: InboxOf<'_>,
        state: Option<ReviewState>,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Review)>> {
        let (owner, after) = (inbox.owner(), after.map(str::to_owned));
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let inbox = txn.open_table(INBOX).map_err(other)?;
            let reviews = txn.open_table(REVIEWS).map_err(other)?;
            let scope = state.map_or(ALL_STATES, ReviewState::name);
            let from = after.as_deref().unwrap_or("");
            let rows = inbox
                .range((owner.as_str(), scope, from)..=(owner.as_str(), scope, "\u{10FFFF}"))
                .map_err(other)?
                .map(|row| {
                    let (k, v) = row.map_err(other)?;
                    Ok((k.value().2.to_owned(), v.value().to_owned()))
                });
            reviews_after(rows, after.as_deref(), limit, &reviews)
        })
        .await
    }

    async fn reviews_at_school(
        &self,
        message_ids: &[String],
        uai: &Uai,
    ) -> StoreResult<Vec<Review>> {
        let (ids, uai) = (message_ids.to_vec(), uai.to_string());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let order = txn.open_table(REVIEW_ORDER).map_err(other)?;
            let reviews = txn.open_table(REVIEWS).map_err(other)?;
            // A school's reviews of a message sit together in its review order (`uai:…`).
            let (from, to) = (format!("{uai}:"), format!("{uai};"));
            let mut out = Vec::new();
            for id in &ids {
                for row in order
                    .range((id.as_str(), from.as_str())..(id.as_str(), to.as_str()))
                    .map_err(other)?
                {
                    let (_, review_id) = row.map_err(other)?;
                    if let Some(raw) = reviews.get(review_id.value()).map_err(other)? {
                        out.push(decode(raw.value())?);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn message_reviews_page(
        &self,
        message_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Review)>> {
        let (message, after) = (message_id.to_owned(), after.map(str::to_owned));
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let order = txn.open_table(REVIEW_ORDER).map_err(other)?;
            let reviews = txn.open_table(REVIEWS).map_err(other)?;
            let from = after.as_deref().unwrap_or("");
            let rows = order
                .range((message.as_str(), from)..=(message.as_str(), "\u{10FFFF}"))
                .map_err(other)?
                .map(|row| {
                    let (k, v) = row.map_err(other)?;
                    Ok((k.value().1.to_owned(), v.value().to_owned()))
                });
            reviews_after(rows, after.as_deref(), limit, &reviews)
        })
        .await
    }

    async fn review_context(&self, review_id: &str) -> StoreResult<Option<ReviewContext>> {
        let id = review_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let reviews = txn.open_table(REVIEWS).map_err(other)?;
            let Some(raw) = reviews.get(id.as_str()).map_err(other)? else {
                return Ok(None);
            };
            let review: Review = decode(raw.value())?;
            let messages = txn.open_table(MESSAGES).map_err(other)?;
            let Some(raw) = messages.get(review.message_id.as_str()).map_err(other)? else {
                return Ok(None);
            };
            let mut message: Message = decode(raw.value())?;
            // As on Redis, where leaving them out is what makes the read small.
            message.targets = Vec::new();
            let schools = txn.open_table(SCHOOLS).map_err(other)?;
            let school = schools
                .get(review.uai.as_str())
                .map_err(other)?
                .map(|v| decode(v.value()))
                .transpose()?;
            let audit_table = txn.open_table(AUDIT).map_err(other)?;
            let mut audit = Vec::new();
            let key = review.message_id.as_str();
            for chain in [crate::domain::audit::MESSAGE_CHAIN, review.uai.as_str()] {
                for row in audit_table
                    .range((key, chain, 0)..=(key, chain, u64::MAX))
                    .map_err(other)?
                {
                    let (_, v) = row.map_err(other)?;
                    audit.push(decode(v.value())?);
                }
            }
            Ok(Some(ReviewContext {
                review,
                message,
                school,
                audit,
            }))
        })
        .await
    }

    async fn timeline(
        &self,
        scope: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, String)>> {
        let (scope, after) = (scope.to_owned(), after.map(str::to_owned));
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(TIMELINE).map_err(other)?;
            let from = after.as_deref().unwrap_or("");
            let mut out = Vec::with_capacity(limit);
            for row in t
                .range((scope.as_str(), from)..=(scope.as_str(), "\u{10FFFF}"))
                .map_err(other)?
            {
                let (k, v) = row.map_err(other)?;
                let key = k.value().1;
                if after.as_deref() == Some(key) {
                    continue;
                }
                out.push((v.value().to_owned(), key.to_owned()));
                if out.len() == limit {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    async fn messages_with_summaries(
        &self,
        ids: &[String],
    ) -> StoreResult<Vec<(Message, MessageSummary)>> {
        let ids = ids.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let messages = txn.open_table(MESSAGES).map_err(other)?;
            let counts = txn.open_table(STATE_COUNTS).map_err(other)?;
            let deadlines = txn.open_table(MESSAGE_DEADLINES).map_err(other)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                let Some(raw) = messages.get(id.as_str()).map_err(other)? else {
                    continue;
                };
                let message: Message = decode(raw.value())?;
                let mut summary = MessageSummary::default();
                for row in counts
                    .range((id.as_str(), "")..=(id.as_str(), "\u{10FFFF}"))
                    .map_err(other)?
                {
                    let (k, v) = row.map_err(other)?;
                    if let Some(state) = ReviewState::parse(k.value().1) {
                        summary.counts.insert(state, v.value());
                    }
                }
                if let Some(row) = deadlines
                    .range((id.as_str(), i128::MIN, "")..=(id.as_str(), i128::MAX, "\u{10FFFF}"))
                    .map_err(other)?
                    .next()
                {
                    let (k, _) = row.map_err(other)?;
                    summary.next_deadline =
                        OffsetDateTime::from_unix_timestamp_nanos(k.value().1).ok();
                }
                out.push((message, summary));
            }
            Ok(out)
        })
        .await
    }

    async fn feed_tag(&self, uai: &Uai, now: OffsetDateTime) -> StoreResult<FeedTag> {
        let now_us = micros(now);
        if let Some(tag) = self.tags.get(uai.as_str(), now_us) {
            return Ok(tag);
        }
        let generation = self.tags.generation();
        let key = uai.as_str().to_owned();
        let (tag, next) = self.small_read(move |db| {
            let txn = db.begin_read().map_err(other)?;
            feed_tag_and_next_bound(&txn, &key, now)
        })?;
        if let Some(generation) = generation {
            self.tags.put(generation, uai.as_str(), tag, now_us..next);
        }
        Ok(tag)
    }

    async fn feed(
        &self,
        uai: &Uai,
        now: OffsetDateTime,
    ) -> StoreResult<(FeedTag, Vec<StoredPublication>)> {
        let uai = uai.as_str().to_owned();
        self.small_read(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let tag = feed_tag_in(&txn, &uai, now)?;
            let feed = txn.open_table(FEED).map_err(other)?;
            let mut items = Vec::new();
            for row in feed
                .range((uai.as_str(), "")..=(uai.as_str(), "\u{10FFFF}"))
                .map_err(other)?
            {
                let (k, v) = row.map_err(other)?;
                let line = std::str::from_utf8(v.value()).map_err(other)?;
                items.push(StoredPublication::parse(k.value().1, line)?);
            }
            Ok((tag, items))
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        self.blocking(|db| db.begin_read().map(|_| ()).map_err(other))
            .await
    }

    async fn commit(&self, commit: Commit) -> StoreResult<()> {
        let mail = !commit.outbox.is_empty();
        let changed: Vec<String> = commit.feed.iter().map(|c| c.uai.to_string()).collect();
        let result = self.blocking(move |db| apply_commit(db, commit)).await;
        // Forgotten once the commit is written (or failed): a read that began before it and
        // ends after it is not kept (see `FeedTags::put`).
        for uai in &changed {
            self.tags.invalidate(uai);
        }
        result?;
        if mail {
            self.queued.notify_one();
        }
        Ok(())
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        let id = id.to_owned();
        self.blocking(move |db| Self::get_json(db, MESSAGES, &id))
            .await
    }

    async fn messages_of_authority(&self, authority_id: &str) -> StoreResult<Vec<Message>> {
        let key = authority_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let idx = txn.open_multimap_table(AUTHORITY_MESSAGES).map_err(other)?;
            let messages = txn.open_table(MESSAGES).map_err(other)?;
            let mut out = Vec::new();
            for id in idx.get(key.as_str()).map_err(other)? {
                let id = id.map_err(other)?;
                if let Some(v) = messages.get(id.value()).map_err(other)? {
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn all_messages(&self) -> StoreResult<Vec<Message>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(MESSAGES).map_err(other)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(other)? {
                let (_, v) = row.map_err(other)?;
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn review(&self, id: &str) -> StoreResult<Option<Review>> {
        let id = id.to_owned();
        self.blocking(move |db| Self::get_json(db, REVIEWS, &id))
            .await
    }

    async fn reviews(&self, ids: &[String]) -> StoreResult<Vec<Review>> {
        let ids = ids.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(REVIEWS).map_err(other)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(v) = t.get(id.as_str()).map_err(other)? {
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn reviews_of_message(&self, message_id: &str) -> StoreResult<Vec<Review>> {
        let key = message_id.to_owned();
        self.blocking(move |db| Self::reviews_by(db, MESSAGE_REVIEWS, &key))
            .await
    }

    async fn open_disputes(&self, arbitrator: Option<&ArbitratorRef>) -> StoreResult<Vec<Review>> {
        self.disputes_in(DISPUTES, arbitrator).await
    }

    async fn closed_disputes(
        &self,
        arbitrator: Option<&ArbitratorRef>,
    ) -> StoreResult<Vec<Review>> {
        self.disputes_in(CLOSED_DISPUTES, arbitrator).await
    }

    async fn audit_heads(
        &self,
        message_id: &str,
        chains: &[String],
    ) -> StoreResult<Vec<ChainHead>> {
        let (key, chains) = (message_id.to_owned(), chains.to_vec());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(AUDIT_HEADS).map_err(other)?;
            chains
                .iter()
                .map(|chain| {
                    let found = t.get((key.as_str(), chain.as_str())).map_err(other)?;
                    Ok(found
                        .map(|v| decode(v.value()))
                        .transpose()?
                        .unwrap_or_default())
                })
                .collect()
        })
        .await
    }

    async fn audit_head(&self, message_id: &str, chain: &str) -> StoreResult<ChainHead> {
        let (key, chain) = (message_id.to_owned(), chain.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(AUDIT_HEADS).map_err(other)?;
            let found = t.get((key.as_str(), chain.as_str())).map_err(other)?;
            Ok(found
                .map(|v| decode(v.value()))
                .transpose()?
                .unwrap_or_default())
        })
        .await
    }

    async fn audit_of_chains(
        &self,
        message_id: &str,
        chains: &[String],
    ) -> StoreResult<Vec<AuditRecord>> {
        let (key, chains) = (message_id.to_owned(), chains.to_vec());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(AUDIT).map_err(other)?;
            let mut out = Vec::new();
            for chain in &chains {
                for row in t
                    .range(
                        (key.as_str(), chain.as_str(), 0)
                            ..=(key.as_str(), chain.as_str(), u64::MAX),
                    )
                    .map_err(other)?
                {
                    let (_, v) = row.map_err(other)?;
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn audit(&self, message_id: &str) -> StoreResult<Vec<AuditRecord>> {
        let key = message_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(AUDIT).map_err(other)?;
            let mut out = Vec::new();
            for row in t
                .range((key.as_str(), "", 0)..=(key.as_str(), "\u{10FFFF}", u64::MAX))
                .map_err(other)?
            {
                let (_, v) = row.map_err(other)?;
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn due_reviews(&self, now: OffsetDateTime, limit: usize) -> StoreResult<Vec<String>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(DEADLINES).map_err(other)?;
            let mut out = Vec::new();
            for row in t
                .range(..=(nanos(now), "\u{10FFFF}"))
                .map_err(other)?
                .take(limit)
            {
                let (k, _) = row.map_err(other)?;
                out.push(k.value().1.to_owned());
            }
            Ok(out)
        })
        .await
    }

    async fn due_reviews_of_message(
        &self,
        message_id: &str,
        now: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let message_id = message_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(MESSAGE_DEADLINES).map_err(other)?;
            let mut out = Vec::new();
            let (id, end) = (message_id.as_str(), nanos(now));
            for row in t
                .range((id, i128::MIN, "")..=(id, end, "\u{10FFFF}"))
                .map_err(other)?
                .take(limit)
            {
                let (k, _) = row.map_err(other)?;
                out.push(k.value().2.to_owned());
            }
            Ok(out)
        })
        .await
    }

    async fn deadline_counts(&self, until: OffsetDateTime) -> StoreResult<(u64, u64)> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(DEADLINES).map_err(other)?;
            let all = t.len().map_err(other)?;
            let due = t
                .range(..=(nanos(until), "\u{10FFFF}"))
                .map_err(other)?
                .count() as u64;
            Ok((all, due))
        })
        .await
    }

    async fn next_deadline(&self) -> StoreResult<Option<OffsetDateTime>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(DEADLINES).map_err(other)?;
            let first = t.first().map_err(other)?;
            Ok(
                first
                    .and_then(|(k, _)| OffsetDateTime::from_unix_timestamp_nanos(k.value().0).ok()),
            )
        })
        .await
    }

    async fn fan_out(&self, message_id: &str) -> StoreResult<Option<FanOut>> {
        let id = message_id.to_owned();
        self.blocking(move |db| Self::get_json(db, FAN_OUTS, &id))
            .await
    }

    async fn pending_fan_outs(&self, limit: usize) -> StoreResult<Vec<FanOut>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let pending = txn.open_table(FAN_OUTS_PENDING).map_err(other)?;
            let jobs = txn.open_table(FAN_OUTS).map_err(other)?;
            let mut out = Vec::new();
            for row in pending.iter().map_err(other)?.take(limit) {
                let (k, _) = row.map_err(other)?;
                if let Some(v) = jobs.get(k.value().1).map_err(other)? {
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let key = key.to_owned();
        self.blocking(move |db| Self::get_json(db, IDEMPOTENCY, &key))
            .await
    }

    async fn outbox(&self, limit: usize) -> StoreResult<Vec<OutboxEmail>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(OUTBOX).map_err(other)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(other)?.take(limit) {
                let (_, v) = row.map_err(other)?;
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn outbox_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Option<Vec<TrackedEmail>>> {
        let after = after.map(str::to_owned);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let outbox = txn.open_table(OUTBOX).map_err(other)?;
            let states = txn.open_table(MAIL_STATE).map_err(other)?;
            let start = match &after {
                None => None,
                Some(id) => match states.get(id.as_str()).map_err(other)? {
                    None => return Ok(None),
                    Some(v) => Some(decode::<MailRecord>(v.value())?.created),
                },
            };
            let rows = match (&start, &after) {
                (Some(created), Some(id)) => outbox
                    .range::<(i128, &str)>((
                        std::ops::Bound::Excluded((*created, id.as_str())),
                        std::ops::Bound::Unbounded,
                    ))
                    .map_err(other)?,
                _ => outbox.iter().map_err(other)?,
            };
            let mut out = Vec::new();
            for row in rows.take(limit) {
                let (k, v) = row.map_err(other)?;
                let email: OutboxEmail = decode(v.value())?;
                let delivery = match states.get(k.value().1).map_err(other)? {
                    Some(r) => decode::<MailRecord>(r.value())?.delivery,
                    None => Delivery::queued(),
                };
                out.push(TrackedEmail { email, delivery });
            }
            Ok(Some(out))
        })
        .await
    }

    async fn put_schools(&self, schools: Vec<School>) -> StoreResult<usize> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            {
                let mut t = txn.open_table(SCHOOLS).map_err(other)?;
                for s in &schools {
                    t.insert(s.uai.as_str(), encode(s)?.as_slice())
                        .map_err(other)?;
                }
            }
            txn.commit().map_err(other)?;
            Ok(schools.len())
        })
        .await
    }

    async fn school(&self, uai: &Uai) -> StoreResult<Option<School>> {
        let key = uai.as_str().to_owned();
        self.blocking(move |db| Self::get_json(db, SCHOOLS, &key))
            .await
    }

    async fn schools_of(&self, uais: &[Uai]) -> StoreResult<Vec<School>> {
        let keys: Vec<String> = uais.iter().map(|u| u.as_str().to_owned()).collect();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(SCHOOLS).map_err(other)?;
            let mut out = Vec::with_capacity(keys.len());
            for k in &keys {
                if let Some(v) = t.get(k.as_str()).map_err(other)? {
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn schools(&self) -> StoreResult<Vec<School>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(SCHOOLS).map_err(other)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(other)? {
                let (_, v) = row.map_err(other)?;
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(META).map_err(other)?;
            Ok(t.get(key.as_str())
                .map_err(other)?
                .map(|v| v.value().to_owned()))
        })
        .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            {
                let mut t = txn.open_table(META).map_err(other)?;
                t.insert(key.as_str(), value.as_str()).map_err(other)?;
            }
            txn.commit().map_err(other)
        })
        .await
    }

    async fn claim_mail(&self, lease: Duration, limit: usize) -> StoreResult<Vec<ClaimedMail>> {
        self.blocking(move |db| claim_mail(db, lease, limit)).await
    }

    async fn finish_mail(&self, id: &str, token: &str, outcome: MailOutcome) -> StoreResult<bool> {
        let (id, token) = (id.to_owned(), token.to_owned());
        self.blocking(move |db| finish_mail(db, &id, &token, outcome))
            .await
    }

    async fn mail_delivery(&self, id: &str) -> StoreResult<Option<Delivery>> {
        let id = id.to_owned();
        self.blocking(move |db| {
            Ok(Self::get_json::<MailRecord>(db, MAIL_STATE, &id)?.map(|r| r.delivery))
        })
        .await
    }

    async fn dead_letters(&self, limit: usize) -> StoreResult<Vec<TrackedEmail>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let dead = txn.open_table(MAIL_DEAD).map_err(other)?;
            let states = txn.open_table(MAIL_STATE).map_err(other)?;
            let outbox = txn.open_table(OUTBOX).map_err(other)?;
            let mut out = Vec::new();
            for row in dead.iter().map_err(other)?.take(limit) {
                let (k, _) = row.map_err(other)?;
                let id = k.value().1.to_owned();
                let Some(v) = states.get(id.as_str()).map_err(other)? else {
                    continue;
                };
                let record: MailRecord = decode(v.value())?;
                if let Some(e) = outbox.get((record.created, id.as_str())).map_err(other)? {
                    out.push(TrackedEmail {
                        email: decode(e.value())?,
                        delivery: record.delivery,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn requeue_dead_letter(&self, id: &str) -> StoreResult<Requeue> {
        let id = id.to_owned();
        self.blocking(move |db| requeue_dead_letter(db, &id)).await
    }

    async fn expire_before(&self, before: OffsetDateTime, limit: usize) -> StoreResult<usize> {
        self.blocking(move |db| expire_before(db, before, limit))
            .await
    }

    async fn mail_counts(&self) -> StoreResult<MailCounts> {
        use redb::ReadableTableMetadata;
        self.blocking(|db| {
            let txn = db.begin_read().map_err(other)?;
            let due = txn.open_table(MAIL_DUE).map_err(other)?;
            let dead = txn.open_table(MAIL_DEAD).map_err(other)?;
            let counters = txn.open_table(MAIL_COUNTERS).map_err(other)?;
            Ok(MailCounts {
                queued: due.len().map_err(other)?,
                dead: dead.len().map_err(other)?,
                sent: counters
                    .get("sent")
                    .map_err(other)?
                    .map_or(0, |v| v.value()),
            })
        })
        .await
    }

    fn mail_queued(&self) -> Arc<Notify> {
        self.queued.clone()
    }

    async fn put_calendar_feed(&self, feed: &CalendarFeed) -> StoreResult<()> {
        let feed = feed.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            {
                let mut t = txn.open_table(CALENDAR_FEEDS).map_err(other)?;
                t.insert(feed.id.as_str(), encode(&feed)?.as_slice())
                    .map_err(other)?;
                let mut of = txn.open_table(CALENDAR_FEEDS_OF).map_err(other)?;
                of.insert(owner_key(&feed), ()).map_err(other)?;
            }
            txn.commit().map_err(other)
        })
        .await
    }

    async fn calendar_feed(&self, id: &str) -> StoreResult<Option<CalendarFeed>> {
        let id = id.to_owned();
        self.blocking(move |db| Self::get_json(db, CALENDAR_FEEDS, &id))
            .await
    }

    async fn calendar_feeds_of(&self, subject: &str) -> StoreResult<Vec<CalendarFeed>> {
        let subject = subject.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let of = txn.open_table(CALENDAR_FEEDS_OF).map_err(other)?;
            let feeds = txn.open_table(CALENDAR_FEEDS).map_err(other)?;
            let mut out = Vec::new();
            let range = of
                .range(
                    (subject.as_str(), i128::MIN, "")..=(subject.as_str(), i128::MAX, "\u{10ffff}"),
                )
                .map_err(other)?;
            for row in range {
                let (k, _) = row.map_err(other)?;
                if let Some(v) = feeds.get(k.value().2).map_err(other)? {
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete_calendar_feed(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            let feed: CalendarFeed = {
                let mut t = txn.open_table(CALENDAR_FEEDS).map_err(other)?;
                // Nothing written yet: dropping the transaction leaves the store as it was.
                let Some(v) = t.remove(id.as_str()).map_err(other)? else {
                    return Ok(false);
                };
                decode(v.value())?
            };
            txn.open_table(CALENDAR_FEEDS_OF)
                .map_err(other)?
                .remove(owner_key(&feed))
                .map_err(other)?;
            txn.commit().map_err(other)?;
            Ok(true)
        })
        .await
    }
}

/// A calendar feed's place among its owner's: (subject, creation, id).
fn owner_key(feed: &CalendarFeed) -> (&str, i128, &str) {
    (
        feed.owner.subject.as_str(),
        nanos(feed.created_at),
        feed.id.as_str(),
    )
}

/// The first `limit` rows of a time index (ns, id) from before `before`.
fn older_than(
    index: &redb::Table<(i128, &str), ()>,
    before: OffsetDateTime,
    limit: usize,
) -> StoreResult<Vec<(i128, String)>> {
    index
        .range(..(nanos(before), ""))
        .map_err(other)?
        .take(limit)
        .map(|row| row.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
        .collect::<Result<_, _>>()
        .map_err(other)
}

/// Removes delivered emails and idempotency keys older than `before`, `limit` of each at most,
/// in one write transaction.
fn expire_before(db: &Database, before: OffsetDateTime, limit: usize) -> StoreResult<usize> {
    let txn = db.begin_write().map_err(other)?;
    let mut removed = 0;
    {
        let mut delivered = txn.open_table(MAIL_SENT).map_err(other)?;
        let mut states = txn.open_table(MAIL_STATE).map_err(other)?;
        let mut outbox = txn.open_table(OUTBOX).map_err(other)?;
        let old = older_than(&delivered, before, limit)?;
        for (at, id) in old {
            if let Some(record) = states
                .remove(id.as_str())
                .map_err(other)?
                .map(|v| decode::<MailRecord>(v.value()))
                .transpose()?
            {
                outbox
                    .remove((record.created, id.as_str()))
                    .map_err(other)?;
            }
            delivered.remove((at, id.as_str())).map_err(other)?;
            removed += 1;
        }
        let mut keys = txn.open_table(IDEMPOTENCY).map_err(other)?;
        let mut reserved = txn.open_table(IDEMPOTENCY_AT).map_err(other)?;
        let old = older_than(&reserved, before, limit)?;
        for (at, key) in old {
            keys.remove(key.as_str()).map_err(other)?;
            reserved.remove((at, key.as_str())).map_err(other)?;
            removed += 1;
        }
        let mut jobs = txn.open_table(FAN_OUTS).map_err(other)?;
        let mut done = txn.open_table(FAN_OUTS_DONE).map_err(other)?;
        let old = older_than(&done, before, limit)?;
        for (at, id) in old {
            jobs.remove(id.as_str()).map_err(other)?;
            done.remove((at, id.as_str())).map_err(other)?;
            removed += 1;
        }
    }
    txn.commit().map_err(other)?;
    Ok(removed)
}

fn lease_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn claim_mail(db: &Database, lease: Duration, limit: usize) -> StoreResult<Vec<ClaimedMail>> {
    let now = nanos(OffsetDateTime::now_utc());
    let until = now.saturating_add(lease.as_nanos() as i128);
    let txn = db.begin_write().map_err(other)?;
    let mut out = Vec::new();
    {
        let mut due = txn.open_table(MAIL_DUE).map_err(other)?;
        let mut states = txn.open_table(MAIL_STATE).map_err(other)?;
        let outbox = txn.open_table(OUTBOX).map_err(other)?;
        let ready: Vec<(i128, String)> = due
            .range(..=(now, "\u{10FFFF}"))
            .map_err(other)?
            .take(limit)
            .map(|row| {
                row.map(|(k, _)| (k.value().0, k.value().1.to_owned()))
                    .map_err(other)
            })
            .collect::<StoreResult<_>>()?;
        for (at, id) in ready {
            due.remove((at, id.as_str())).map_err(other)?;
            let Some(mut record) = states
                .get(id.as_str())
                .map_err(other)?
                .map(|v| decode::<MailRecord>(v.value()))
                .transpose()?
            else {
                continue;
            };
            let Some(email) = outbox
                .get((record.created, id.as_str()))
                .map_err(other)?
                .map(|v| decode(v.value()))
                .transpose()?
            else {
                continue;
            };
            // The lease is the due time: if the holder dies, the email simply falls due again.
            let token = lease_token();
            record.due = Some(until);
            record.token = Some(token.clone());
            due.insert((until, id.as_str()), ()).map_err(other)?;
            states
                .insert(id.as_str(), encode(&record)?.as_slice())
                .map_err(other)?;
            out.push(ClaimedMail {
                email,
                delivery: record.delivery,
                token,
            });
        }
    }
    txn.commit().map_err(other)?;
    Ok(out)
}

fn finish_mail(db: &Database, id: &str, token: &str, outcome: MailOutcome) -> StoreResult<bool> {
    let now_at = OffsetDateTime::now_utc();
    let now = nanos(now_at);
    let txn = db.begin_write().map_err(other)?;
    {
        let mut states = txn.open_table(MAIL_STATE).map_err(other)?;
        let Some(mut record) = states
            .get(id)
            .map_err(other)?
            .map(|v| decode::<MailRecord>(v.value()))
            .transpose()?
        else {
            return Ok(false);
        };
        if record.token.as_deref() != Some(token)
            || record.delivery.status != DeliveryStatus::Queued
        {
            return Ok(false);
        }
        let mut due = txn.open_table(MAIL_DUE).map_err(other)?;
        if let Some(at) = record.due.take() {
            due.remove((at, id)).map_err(other)?;
        }
        record.token = None;
        let d = &mut record.delivery;
        d.attempts += 1;
        d.updated_at = Some(now_at);
        match outcome {
            MailOutcome::Sent => {
                d.status = DeliveryStatus::Sent;
                let mut counters = txn.open_table(MAIL_COUNTERS).map_err(other)?;
                let sent = counters
                    .get("sent")
                    .map_err(other)?
                    .map_or(0, |v| v.value());
                counters.insert("sent", sent + 1).map_err(other)?;
                let mut delivered = txn.open_table(MAIL_SENT).map_err(other)?;
                delivered.insert((nanos(now_at), id), ()).map_err(other)?;
            }
            MailOutcome::Retry {
                after,
                error,
                permanent,
            } => {
                d.permanent_failures += u32::from(permanent);
                d.last_error = Some(error);
                let at = now.saturating_add(after.as_nanos() as i128);
                record.due = Some(at);
                due.insert((at, id), ()).map_err(other)?;
            }
            MailOutcome::Dead { error, permanent } => {
                d.permanent_failures += u32::from(permanent);
                d.last_error = Some(error);
                d.status = DeliveryStatus::Dead;
                record.dead = Some(now);
                let mut dead = txn.open_table(MAIL_DEAD).map_err(other)?;
                dead.insert((now, id), ()).map_err(other)?;
            }
        }
        states
            .insert(id, encode(&record)?.as_slice())
            .map_err(other)?;
    }
    txn.commit().map_err(other)?;
    Ok(true)
}

fn requeue_dead_letter(db: &Database, id: &str) -> StoreResult<Requeue> {
    let now = nanos(OffsetDateTime::now_utc());
    let txn = db.begin_write().map_err(other)?;
    let tracked = {
        let mut states = txn.open_table(MAIL_STATE).map_err(other)?;
        let Some(mut record) = states
            .get(id)
            .map_err(other)?
            .map(|v| decode::<MailRecord>(v.value()))
            .transpose()?
        else {
            return Ok(Requeue::NotFound);
        };
        if record.delivery.status != DeliveryStatus::Dead {
            return Ok(Requeue::NotDead(record.delivery.status));
        }
        let mut dead = txn.open_table(MAIL_DEAD).map_err(other)?;
        if let Some(at) = record.dead.take() {
            dead.remove((at, id)).map_err(other)?;
        }
        let mut due = txn.open_table(MAIL_DUE).map_err(other)?;
        due.insert((now, id), ()).map_err(other)?;
        record.due = Some(now);
        record.token = None;
        // The last error stays visible until the next attempt replaces it.
        record.delivery.status = DeliveryStatus::Queued;
        record.delivery.attempts = 0;
        record.delivery.permanent_failures = 0;
        states
            .insert(id, encode(&record)?.as_slice())
            .map_err(other)?;
        let outbox = txn.open_table(OUTBOX).map_err(other)?;
        let email = outbox
            .get((record.created, id))
            .map_err(other)?
            .map(|v| decode(v.value()))
            .transpose()?
            .ok_or_else(|| StoreError::Other(format!("courriel {id} absent de la file")))?;
        TrackedEmail {
            email,
            delivery: record.delivery,
        }
    };
    txn.commit().map_err(other)?;
    Ok(Requeue::Done(Box::new(tracked)))
}

/// Queues, once, the emails a store written before delivery existed holds without a record,
/// so that upgrading never silently drops them.
fn backfill_mail_states(db: &Database) -> StoreResult<()> {
    const DONE: &str = "mail_states_backfilled";
    let txn = db.begin_write().map_err(other)?;
    {
        let mut meta = txn.open_table(META).map_err(other)?;
        if meta.get(DONE).map_err(other)?.is_some() {
            return Ok(());
        }
        let outbox = txn.open_table(OUTBOX).map_err(other)?;
        let mut states = txn.open_table(MAIL_STATE).map_err(other)?;
        let mut due = txn.open_table(MAIL_DUE).map_err(other)?;
        let now = nanos(OffsetDateTime::now_utc());
        for row in outbox.iter().map_err(other)? {
            let (k, _) = row.map_err(other)?;
            let (created, id) = k.value();
            if states.get(id).map_err(other)?.is_some() {
                continue;
            }
            let record = MailRecord {
                delivery: Delivery::queued(),
                created,
                due: Some(now),
                dead: None,
                token: None,
            };
            states
                .insert(id, encode(&record)?.as_slice())
                .map_err(other)?;
            due.insert((now, id), ()).map_err(other)?;
        }
        meta.insert(DONE, "1").map_err(other)?;
    }
    txn.commit().map_err(other)
}
