//! The Redis adapter: each commit is one Lua script (checks, then writes), keys namespaced by a prefix.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

mod webhooks;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::{
    ALL_MESSAGES, ClaimedMail, Commit, Delivery, DeliveryStatus, FanOut, FeedTag,
    IdempotencyRecord, InboxOf, MailCounts, MailOutcome, MessageSummary, Requeue, ReviewContext,
    Store, StoreError, StoreResult, StoredPublication, TrackedEmail, arbitrator_key,
    closed_dispute, due_at, inbox_key, inbox_review_id, open_dispute, review_order_key,
    standing_rank, timeline_key,
};
use crate::domain::audit::{AuditRecord, ChainHead};
use crate::domain::calendar_feed::CalendarFeed;
use crate::domain::directory::{ArbitratorRef, School};
use crate::domain::message::{Message, Review, micros};
use crate::domain::notification::OutboxEmail;
use crate::domain::review::ReviewState;
use crate::domain::uai::Uai;

/// Longest wait for one Redis round trip before the store is declared unavailable.
const CALL_TIMEOUT: Duration = Duration::from_millis(1500);

static COMMIT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("commit.lua")));

static REVIEW_CONTEXT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("review_context.lua")));

static MAIL: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("mail.lua")));

/// A store on Redis, shared by every replica.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    /// Feed tags kept between commits (see `feed_tags`).
    tags: Arc<super::feed_tags::FeedTags>,
    queued: Arc<Notify>,
}

/// Up to `limit` members of a sorted set ordered by its members (all scores 0), after `after`
/// (from the start without it).
fn keys_after_cmd(key: &str, after: Option<&str>, limit: usize) -> redis::Cmd {
    let from = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
    let mut cmd = redis::cmd("ZRANGEBYLEX");
    cmd.arg(key)
        .arg(from)
        .arg("+")
        .arg("LIMIT")
        .arg(0)
        .arg(limit);
    cmd
}

fn err(e: redis::RedisError) -> StoreError {
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
    {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Other(e.to_string())
    }
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(e.to_string()))
}

fn parse<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Other(format!("enregistrement illisible : {e}")))
}

impl RedisStore {
    /// Connects (with automatic reconnection) to `url`, namespacing keys under `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> StoreResult<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Other(format!("URL Redis invalide : {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(CALL_TIMEOUT)
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| StoreError::Unavailable(format!("Redis injoignable à {url}")))?
        .map_err(err)?;
        let prefix = prefix.trim_end_matches(':').to_owned();
        let tags = Arc::new(super::feed_tags::FeedTags::default());
        tokio::spawn(super::feed_tags::listen(
            client,
            conn.clone(),
            format!("{prefix}:feed_changed"),
            Arc::downgrade(&tags),
        ));
        Ok(Self {
            conn,
            prefix,
            tags,
            queued: Arc::new(Notify::new()),
        })
    }

    fn k(&self, parts: &[&str]) -> String {
        let mut s = self.prefix.clone();
        for p in parts {
            s.push(':');
            s.push_str(p);
        }
        s
    }

    async fn run<T, F, Fut>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(CALL_TIMEOUT, f(self.conn.clone())).await {
            Ok(r) => r.map_err(err),
            Err(_) => Err(StoreError::Unavailable("Redis ne répond pas".into())),
        }
    }

    async fn get_json<T: DeserializeOwned>(&self, key: String) -> StoreResult<Option<T>> {
        let raw: Option<String> = self.run(|mut c| async move { c.get(key).await }).await?;
        raw.map(|s| parse(&s)).transpose()
    }

    async fn many<T: DeserializeOwned>(&self, keys: Vec<String>) -> StoreResult<Vec<T>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            let chunk = chunk.to_vec();
            let raws: Vec<Option<String>> = self
                .run(|mut c| async move { redis::cmd("MGET").arg(chunk).query_async(&mut c).await })
                .await?;
            for r in raws.into_iter().flatten() {
                out.push(parse(&r)?);
            }
        }
        Ok(out)
    }

    async fn members(&self, key: String) -> StoreResult<Vec<String>> {
        self.run(|mut c| async move { c.smembers(key).await }).await
    }

    /// The reviews of a dispute index (`index:<arbitrator>` sets, listed in `keys`).
    async fn disputes_in(
        &self,
        index: &str,
        keys: &str,
        arbitrator: Option<&ArbitratorRef>,
    ) -> StoreResult<Vec<Review>> {
        let keys = match arbitrator {
            Some(a) => vec![arbitrator_key(a)],
            None => self.members(self.k(&[keys])).await?,
        };
        let mut out = Vec::new();
        for key in keys {
            out.extend(self.reviews_in(self.k(&[index, &key])).await?);
        }
        Ok(out)
    }

    /// Up to `limit` members of a sorted set ordered by its members (all scores 0), after
    /// `after` (from the start without it).
    async fn keys_after(
        &self,
        key: String,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let cmd = keys_after_cmd(&key, after, limit);
        self.run(|mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    /// The reviews named by index keys (`id_of` finds the review id in a key), read in one
    /// MGET; each with its key; reviews that no longer exist are skipped.
    async fn reviews_keyed(
        &self,
        keys: Vec<String>,
        id_of: impl Fn(&str) -> &str,
    ) -> StoreResult<Vec<(String, Review)>> {
        let ids: Vec<String> = keys.iter().map(|k| self.k(&["rev", id_of(k)])).collect();
        let raws: Vec<Option<String>> = self
            .run(|mut c| async move { redis::cmd("MGET").arg(ids).query_async(&mut c).await })
            .await?;
        keys.into_iter()
            .zip(raws)
            .filter_map(|(k, raw)| raw.map(|r| parse(&r).map(|review| (k, review))))
            .collect()
    }

    async fn reviews_in(&self, set: String) -> StoreResult<Vec<Review>> {
        let ids = self.members(set).await?;
        self.many(ids.iter().map(|id| self.k(&["rev", id])).collect())
            .await
    }

    /// Deletes every key of this prefix (tests, and `charte` deployments being removed).
    pub async fn purge(&self) -> StoreResult<u64> {
        self.tags.forget_all();
        let pattern = format!("{}:*", self.prefix);
        let mut deleted = 0;
        loop {
            let keys: Vec<String> = self
                .run(|mut c| {
                    let p = pattern.clone();
                    async move {
                        redis::cmd("SCAN")
                            .arg(0)
                            .arg("MATCH")
                            .arg(p)
                            .arg("COUNT")
                            .arg(1000)
                            .query_async::<(u64, Vec<String>)>(&mut c)
                            .await
                            .map(|r| r.1)
                    }
                })
                .await?;
            if keys.is_empty() {
                // SCAN from 0 may return an empty page while keys remain; confirm with KEYS on small sets.
                let rest: Vec<String> = self
                    .run(|mut c| {
                        let p = pattern.clone();
                        async move { c.keys(p).await }
                    })
                    .await?;
                if rest.is_empty() {
                    return Ok(deleted);
                }
                let n: u64 = self.run(|mut c| async move { c.del(rest).await }).await?;
                deleted += n;
                continue;
            }
            let n: u64 = self.run(|mut c| async move { c.del(keys).await }).await?;
            deleted += n;
        }
    }

    async fn chains(&self, message_id: &str, chains: &[&str]) -> StoreResult<Vec<AuditRecord>> {
        let mut out = Vec::new();
        // One pipeline per thousand chains: a message to 10,000 schools has 10,001 of them.
        for group in chains.chunks(1_000) {
            let mut pipe = redis::pipe();
            for chain in group {
                pipe.lrange(self.k(&["audit", message_id, chain]), 0, -1);
            }
            let lists: Vec<Vec<String>> = self
                .run(|mut c| async move { pipe.query_async(&mut c).await })
                .await?;
            for raw in lists.into_iter().flatten() {
                out.push(parse(&raw)?);
            }
        }
        Ok(out)
    }

    /// Redis's own clock.
    pub async fn server_time(&self) -> StoreResult<OffsetDateTime> {
        let (s, us): (i64, i64) = self
            .run(|mut c| async move { redis::cmd("TIME").query_async(&mut c).await })
            .await?;
        OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(s) * 1_000_000_000 + i128::from(us) * 1000,
        )
        .map_err(|e| StoreError::Other(e.to_string()))
    }

    /// The members of a deadline index (scored in ms) due by `now`, soonest first, at most `limit`.
    async fn due_in(
        &self,
        key: String,
        now: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let max = ms(now);
        // Redis takes a signed 64-bit count.
        let limit = limit.min(i64::MAX as usize);
        self.run(|mut c| async move {
            redis::cmd("ZRANGE")
                .arg(key)
                .arg("-inf")
                .arg(max)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query_async(&mut c)
                .await
        })
        .await
    }

    fn plan(&self, c: &Commit) -> StoreResult<Vec<String>> {
        let revs = self.k(&["revs"]);
        let mut checks: Vec<String> = Vec::new();
        let mut writes: Vec<String> = Vec::new();
        let push =
            |v: &mut Vec<String>, parts: &[&str]| v.extend(parts.iter().map(|s| (*s).to_owned()));
        // A record under optimistic concurrency: its revision (field `field` of `revs`) must be
        // the one it was read at; it is written at the next.
        let revisioned = |checks: &mut Vec<String>,
                          writes: &mut Vec<String>,
                          field: &str,
                          key: &str,
                          read_at: u64,
                          value: &str| {
            push(checks, &["CHK", &revs, field, &read_at.to_string()]);
            push(writes, &["SET", key, value]);
            push(writes, &["HSET", &revs, field, &(read_at + 1).to_string()]);
        };
        for m in &c.messages {
            let mut next = m.clone();
            next.revision = m.revision + 1;
            let key = self.k(&["msg", &m.id]);
            let field = format!("m:{}", m.id);
            revisioned(
                &mut checks,
                &mut writes,
                &field,
                &key,
                m.revision,
                &json(&next)?,
            );
            let key = timeline_key(m);
            for scope in [m.authority_id.as_str(), ALL_MESSAGES] {
                push(
                    &mut writes,
                    &["ZADD", &self.k(&["timeline", scope]), "0", &key],
                );
            }
            if m.revision == 0 {
                push(
                    &mut writes,
                    &[
                        "SADD",
                        &self.k(&["authority_messages", &m.authority_id]),
                        &m.id,
                    ],
                );
                push(&mut writes, &["SADD", &self.k(&["messages"]), &m.id]);
            }
        }
        for e in &c.timelines {
            push(
                &mut writes,
                &["ZADD", &self.k(&["timeline", &e.scope]), "0", &e.key],
            );
        }
        let mut latest_deadline = None;
        for r in &c.reviews {
            let mut next = r.clone();
            next.revision = r.revision + 1;
            let key = self.k(&["rev", &r.id]);
            let field = format!("r:{}", r.id);
            revisioned(
                &mut checks,
                &mut writes,
                &field,
                &key,
                r.revision,
                &json(&next)?,
            );
            if r.revision == 0 {
                push(
                    &mut writes,
                    &["SADD", &self.k(&["message_reviews", &r.message_id]), &r.id],
                );
            }
            let deadlines = self.k(&["deadlines"]);
            let message_deadlines = self.k(&["message_deadlines", &r.message_id]);
            match due_at(r) {
                Some(at) => {
                    push(
                        &mut writes,
                        &["ZADD", &deadlines, &ms(at).to_string(), &r.id],
                    );
                    push(
                        &mut writes,
                        &["ZADD", &message_deadlines, &ms(at).to_string(), &r.id],
                    );
                }
                None => {
                    push(&mut writes, &["ZREM", &deadlines, &r.id]);
                    push(&mut writes, &["ZREM", &message_deadlines, &r.id]);
                }
            }
            // A review's place among its message's reviews never moves: written once.
            if r.revision == 0 {
                push(
                    &mut writes,
                    &[
                        "ZADD",
                        &self.k(&["review_order", &r.message_id]),
                        "0",
                        &review_order_key(r),
                    ],
                );
            }
            let [school, authority] =
                InboxOf::of(r).map(|i| self.k(&["inbox", i.owner().as_str()]));
            push(
                &mut writes,
                &[
                    "INBOX",
                    &self.k(&["inbox_keys"]),
                    &r.id,
                    r.state.name(),
                    &inbox_key(r),
                    &school,
                    &authority,
                ],
            );
            push(
                &mut writes,
                &[
                    "STANDING",
                    &self.k(&["standings", &r.message_id]),
                    &self.k(&["state_counts", &r.message_id]),
                    r.uai.as_str(),
                    &standing_rank(r),
                    r.state.name(),
                ],
            );
            if let Some(a) = &r.arbitrator {
                let key = self.k(&["disputes", &arbitrator_key(a)]);
                let closed_key = self.k(&["closed_disputes", &arbitrator_key(a)]);
                if open_dispute(r).is_some() {
                    push(&mut writes, &["SADD", &key, &r.id]);
                    push(
                        &mut writes,
                        &["SADD", &self.k(&["dispute_keys"]), &arbitrator_key(a)],
                    );
                } else {
                    push(&mut writes, &["SREM", &key, &r.id]);
                }
                if closed_dispute(r).is_some() {
                    push(&mut writes, &["SADD", &closed_key, &r.id]);
                    push(
                        &mut writes,
                        &[
                            "SADD",
                            &self.k(&["closed_dispute_keys"]),
                            &arbitrator_key(a),
                        ],
                    );
                } else {
                    push(&mut writes, &["SREM", &closed_key, &r.id]);
                }
            }
            if r.state == ReviewState::TacitlyApproved
                && r.revision > 0
                && let Some(d) = &r.deadline
            {
                latest_deadline = latest_deadline.max(Some(d.expires_at));
            }
        }
        // Redis, not this replica's clock, says whether a deadline has passed: the latest one
        // of the commit stands for all.
        if let Some(at) = latest_deadline {
            push(&mut checks, &["NOTBEFORE", &ms(at).to_string()]);
        }
        // Records arrive grouped by chain: the first of each group is checked against the chain's
        // stored head, every record is appended, and the head moves to the group's last record.
        let mut previous: Option<&AuditRecord> = None;
        for (n, rec) in c.audit.iter().enumerate() {
            let head_key = self.k(&["audit_head", &rec.message_id, &rec.chain]);
            let starts_chain =
                previous.is_none_or(|p| p.chain != rec.chain || p.message_id != rec.message_id);
            if starts_chain {
                push(
                    &mut checks,
                    &[
                        "HEAD",
                        &head_key,
                        &(rec.seq - 1).to_string(),
                        &rec.prev_hash,
                    ],
                );
            }
            if rec.seq == 1 {
                push(
                    &mut writes,
                    &[
                        "SADD",
                        &self.k(&["audit_chains", &rec.message_id]),
                        &rec.chain,
                    ],
                );
            }
            push(
                &mut writes,
                &[
                    "RPUSH",
                    &self.k(&["audit", &rec.message_id, &rec.chain]),
                    &json(rec)?,
                ],
            );
            let ends_chain = c
                .audit
                .get(n + 1)
                .is_none_or(|next| next.chain != rec.chain || next.message_id != rec.message_id);
            if ends_chain {
                push(
                    &mut writes,
                    &["SET", &head_key, &format!("{}:{}", rec.seq, rec.hash)],
                );
            }
            previous = Some(rec);
        }
        let events = self.k(&["events"]);
        for e in &c.events {
            push(&mut writes, &["EVENT", &events, &json(e)?]);
        }
        let (scheduled, scheduled_events) = (self.k(&["scheduled"]), self.k(&["scheduled_events"]));
        for m in &c.unschedule {
            push(
                &mut writes,
                &[
                    "UNSCHEDULE",
                    &scheduled,
                    &scheduled_events,
                    &self.k(&["scheduled_of", m]),
                ],
            );
        }
        for e in &c.scheduled {
            push(
                &mut writes,
                &["ZADD", &scheduled, &ms(e.timestamp).to_string(), &e.id],
            );
            push(&mut writes, &["HSET", &scheduled_events, &e.id, &json(e)?]);
            push(
                &mut writes,
                &[
                    "SADD",
                    &self.k(&["scheduled_of", &e.data.message_id]),
                    &e.id,
                ],
            );
        }
        for e in &c.outbox {
            // Email ids are deterministic for once-only emails (reminders): a second one is refused.
            push(&mut checks, &["NEW", &self.k(&["mail", &e.id])]);
            push(
                &mut writes,
                &["HSET", &self.k(&["mail_state", &e.id]), "status", "queued"],
            );
            push(&mut writes, &["ZADDNOW", &self.k(&["mail_due"]), &e.id]);
            push(&mut writes, &["SET", &self.k(&["mail", &e.id]), &json(e)?]);
            push(
                &mut writes,
                &[
                    "ZADD",
                    &self.k(&["outbox"]),
                    &ms(e.created_at).to_string(),
                    &e.id,
                ],
            );
        }
        let mut touched = std::collections::BTreeSet::new();
        for ch in &c.feed {
            let uai = ch.uai.as_str();
            let (feed, bounds) = (self.k(&["feed", uai]), self.k(&["feed_bounds", uai]));
            let (start, end) = (
                format!("{}:start", ch.message_id),
                format!("{}:end", ch.message_id),
            );
            match &ch.publication {
                Some(p) => {
                    let line = StoredPublication::line(p)?;
                    push(&mut writes, &["HSET", &feed, &ch.message_id, &line]);
                    let [from, until] = p.bounds_micros();
                    push(&mut writes, &["ZADD", &bounds, &from.to_string(), &start]);
                    push(&mut writes, &["ZADD", &bounds, &until.to_string(), &end]);
                }
                None => {
                    push(&mut writes, &["HDEL", &feed, &ch.message_id]);
                    push(&mut writes, &["ZREM", &bounds, &start]);
                    push(&mut writes, &["ZREM", &bounds, &end]);
                }
            }
            touched.insert(uai);
        }
        for uai in touched {
            push(&mut writes, &["BUMP", &self.k(&["feed_version", uai])]);
            push(&mut writes, &["PUB", &self.k(&["feed_changed"]), uai]);
        }
        if let Some(idem) = &c.idempotency {
            let key = self.k(&["idem", &idem.key]);
            push(&mut checks, &["NEW", &key]);
            push(&mut writes, &["SET", &key, &json(idem)?]);
            // Indexed by when it was reserved, so that it expires after the retention.
            push(&mut writes, &["ZADDNOW", &self.k(&["idem_at"]), &idem.key]);
        }
        if let Some(job) = &c.fan_out {
            let mut next = job.clone();
            next.revision = job.revision + 1;
            let key = self.k(&["fan_out", &job.message_id]);
            let field = format!("f:{}", job.message_id);
            revisioned(
                &mut checks,
                &mut writes,
                &field,
                &key,
                job.revision,
                &json(&next)?,
            );
            let pending = self.k(&["fan_outs_pending"]);
            match job.finished_at {
                None => push(
                    &mut writes,
                    &[
                        "ZADD",
                        &pending,
                        &ms(job.created_at).to_string(),
                        &job.message_id,
                    ],
                ),
                Some(at) => {
                    push(&mut writes, &["ZREM", &pending, &job.message_id]);
                    push(
                        &mut writes,
                        &[
                            "ZADD",
                            &self.k(&["fan_outs_done"]),
                            &ms(at).to_string(),
                            &job.message_id,
                        ],
                    );
                }
            }
        }
        checks.extend(writes);
        Ok(checks)
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn inbox_page(
        &self,
        inbox: InboxOf<'_>,
        state: Option<ReviewState>,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Review)>> {
        let owner = inbox.owner();
        let keys = match state {
            Some(state) => {
                let key = self.k(&["inbox", owner.as_str(), state.name()]);
                self.keys_after(key, after, limit).await?
            }
            // Every state: each state's page in one pipeline, merged. Keys order the same way
            // in every set, so the first `limit` of the merge are the page.
            None => {
                let mut pipe = redis::pipe();
                for state in ReviewState::ALL {
                    let key = self.k(&["inbox", owner.as_str(), state.name()]);
                    pipe.add_command(keys_after_cmd(&key, after, limit));
                }
                let pages: Vec<Vec<String>> = self
                    .run(|mut c| {
                        let pipe = pipe.clone();
                        async move { pipe.query_async(&mut c).await }
                    })
                    .await?;
                let mut keys: Vec<String> = pages.into_iter().flatten().collect();
                keys.sort_unstable();
                keys.truncate(limit);
                keys
            }
        };
        if keys.is_empty() {
            return Ok(vec![]);
        }
        self.reviews_keyed(keys, inbox_review_id).await
    }

    async fn reviews_at_school(
        &self,
        message_ids: &[String],
        uai: &Uai,
    ) -> StoreResult<Vec<Review>> {
        if message_ids.is_empty() {
            return Ok(vec![]);
        }
        // A school's reviews of a message sit together in its review order (`uai:…`): one
        // pipeline of ranges, then one MGET.
        let mut pipe = redis::pipe();
        for id in message_ids {
            pipe.cmd("ZRANGE")
                .arg(self.k(&["review_order", id]))
                .arg(format!("[{uai}:"))
                .arg(format!("({uai};"))
                .arg("BYLEX");
        }
        let keys: Vec<Vec<String>> = self
            .run(|mut c| {
                let pipe = pipe.clone();
                async move { pipe.query_async(&mut c).await }
            })
            .await?;
        let keys: Vec<String> = keys.into_iter().flatten().collect();
        if keys.is_empty() {
            return Ok(vec![]);
        }
        Ok(self
            .reviews_keyed(keys, |k| k.rsplit(':').next().unwrap_or(""))
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    async fn message_reviews_page(
        &self,
        message_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Review)>> {
        let key = self.k(&["review_order", message_id]);
        let keys = self.keys_after(key, after, limit).await?;
        if keys.is_empty() {
            return Ok(vec![]);
        }
        self.reviews_keyed(keys, |k| k.rsplit(':').next().unwrap_or(""))
            .await
    }

    async fn review_context(&self, review_id: &str) -> StoreResult<Option<ReviewContext>> {
        let (prefix, id) = (self.prefix.clone(), review_id.to_owned());
        type Reply = (
            Option<String>,
            Option<String>,
            Option<String>,
            Vec<String>,
            Vec<String>,
        );
        let reply: Vec<redis::Value> = self
            .run(|mut c| async move {
                let mut inv = REVIEW_CONTEXT.prepare_invoke();
                inv.arg(prefix)
                    .arg(id)
                    .arg(crate::domain::audit::MESSAGE_CHAIN);
                inv.invoke_async(&mut c).await
            })
            .await?;
        if reply.len() < 5 {
            return Ok(None);
        }
        let (review, message, school, message_chain, school_chain): Reply =
            redis::FromRedisValue::from_redis_value(&redis::Value::Array(reply)).map_err(err)?;
        let (Some(review), Some(message)) = (review, message) else {
            return Ok(None);
        };
        Ok(Some(ReviewContext {
            review: parse(&review)?,
            message: parse(&message)?,
            school: school.map(|s| parse(&s)).transpose()?,
            audit: message_chain
                .iter()
                .chain(&school_chain)
                .map(|r| parse(r))
                .collect::<StoreResult<_>>()?,
        }))
    }

    async fn timeline(
        &self,
        scope: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, String)>> {
        let key = self.k(&["timeline", scope]);
        let keys = self.keys_after(key, after, limit).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| {
                let id = k.split_once(':')?.1.to_owned();
                Some((id, k))
            })
            .collect())
    }

    async fn messages_with_summaries(
        &self,
        ids: &[String],
    ) -> StoreResult<Vec<(Message, MessageSummary)>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.get(self.k(&["msg", id]))
                .hgetall(self.k(&["state_counts", id]))
                .zrange_withscores(self.k(&["message_deadlines", id]), 0, 0);
        }
        type Row = (Option<String>, HashMap<String, u64>, Vec<(String, f64)>);
        let rows: Vec<Row> = self
            .run(|mut c| async move { pipe.query_async(&mut c).await })
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (raw, counts, next) in rows {
            let Some(raw) = raw else { continue };
            let summary = MessageSummary {
                counts: counts
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .filter_map(|(s, n)| Some((ReviewState::parse(&s)?, n)))
                    .collect(),
                next_deadline: next.first().and_then(|(_, score)| {
                    OffsetDateTime::from_unix_timestamp_nanos(*score as i128 * 1_000_000).ok()
                }),
            };
            out.push((parse(&raw)?, summary));
        }
        Ok(out)
    }

    async fn feed_tag(&self, uai: &Uai, now: OffsetDateTime) -> StoreResult<FeedTag> {
        let (version, bounds) = (
            self.k(&["feed_version", uai.as_str()]),
            self.k(&["feed_bounds", uai.as_str()]),
        );
        let now_us = micros(now);
        if let Some(tag) = self.tags.get(uai.as_str(), now_us) {
            return Ok(tag);
        }
        let generation = self.tags.generation();
        let (version, upcoming, next): (Option<u64>, u64, Vec<(String, i64)>) = self
            .run(|mut c| async move {
                let after = format!("({now_us}");
                redis::pipe()
                    .get(version)
                    .zcount(&bounds, &after, "+inf")
                    .zrangebyscore_limit_withscores(&bounds, &after, "+inf", 0, 1)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let tag = FeedTag {
            version: version.unwrap_or(0),
            upcoming,
        };
        if let Some(generation) = generation {
            // Valid until the next start or end of display, which changes `upcoming`.
            let until = next.first().map_or(i64::MAX, |(_, at)| *at);
            self.tags.put(generation, uai.as_str(), tag, now_us..until);
        }
        Ok(tag)
    }

    async fn feed(
        &self,
        uai: &Uai,
        now: OffsetDateTime,
    ) -> StoreResult<(FeedTag, Vec<StoredPublication>)> {
        let (version, bounds, feed) = (
            self.k(&["feed_version", uai.as_str()]),
            self.k(&["feed_bounds", uai.as_str()]),
            self.k(&["feed", uai.as_str()]),
        );
        let (version, upcoming, raw): (Option<u64>, u64, Vec<(String, String)>) = self
            .run(|mut c| async move {
                redis::pipe()
                    .get(version)
                    .zcount(bounds, format!("({}", micros(now)), "+inf")
                    .hgetall(feed)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let items = raw
            .iter()
            .map(|(id, line)| StoredPublication::parse(id, line))
            .collect::<StoreResult<_>>()?;
        Ok((
            FeedTag {
                version: version.unwrap_or(0),
                upcoming,
            },
            items,
        ))
    }

    async fn ping(&self) -> StoreResult<()> {
        let _: String = self
            .run(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await?;
        Ok(())
    }

    async fn commit(&self, commit: Commit) -> StoreResult<()> {
        let mail = !commit.outbox.is_empty();
        let argv = self.plan(&commit)?;
        let reply = self
            .run(|mut c| async move {
                let mut inv = COMMIT.prepare_invoke();
                for a in &argv {
                    inv.arg(a);
                }
                inv.invoke_async::<String>(&mut c).await
            })
            .await;
        // This replica forgets the changed feeds' tags before it answers (whatever the outcome:
        // a timed-out commit may have been written); the others hear of it from Redis.
        for change in &commit.feed {
            self.tags.invalidate(change.uai.as_str());
        }
        let reply = reply?;
        match reply.split_once(':') {
            None if reply == "OK" => {
                if mail {
                    self.queued.notify_one();
                }
                Ok(())
            }
            Some(("CONFLICT", why)) => Err(StoreError::Conflict(why.to_owned())),
            Some(("EARLY", _)) => Err(StoreError::Conflict(
                "le délai n'est pas encore expiré selon l'horloge de Redis".into(),
            )),
            _ => Err(StoreError::Other(format!(
                "réponse inattendue du script : {reply}"
            ))),
        }
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        self.get_json(self.k(&["msg", id])).await
    }

    async fn messages_of_authority(&self, authority_id: &str) -> StoreResult<Vec<Message>> {
        let ids = self
            .members(self.k(&["authority_messages", authority_id]))
            .await?;
        self.many(ids.iter().map(|id| self.k(&["msg", id])).collect())
            .await
    }

    async fn all_messages(&self) -> StoreResult<Vec<Message>> {
        let ids = self.members(self.k(&["messages"])).await?;
        self.many(ids.iter().map(|id| self.k(&["msg", id])).collect())
            .await
    }

    async fn review(&self, id: &str) -> StoreResult<Option<Review>> {
        self.get_json(self.k(&["rev", id])).await
    }

    async fn reviews(&self, ids: &[String]) -> StoreResult<Vec<Review>> {
        self.many(ids.iter().map(|id| self.k(&["rev", id])).collect())
            .await
    }

    async fn reviews_of_message(&self, message_id: &str) -> StoreResult<Vec<Review>> {
        self.reviews_in(self.k(&["message_reviews", message_id]))
            .await
    }

    async fn open_disputes(&self, arbitrator: Option<&ArbitratorRef>) -> StoreResult<Vec<Review>> {
        self.disputes_in("disputes", "dispute_keys", arbitrator)
            .await
    }

    async fn closed_disputes(
        &self,
        arbitrator: Option<&ArbitratorRef>,
    ) -> StoreResult<Vec<Review>> {
        self.disputes_in("closed_disputes", "closed_dispute_keys", arbitrator)
            .await
    }

    async fn audit_heads(
        &self,
        message_id: &str,
        chains: &[String],
    ) -> StoreResult<Vec<ChainHead>> {
        if chains.is_empty() {
            return Ok(vec![]);
        }
        let keys: Vec<String> = chains
            .iter()
            .map(|c| self.k(&["audit_head", message_id, c]))
            .collect();
        let raws: Vec<Option<String>> = self
            .run(|mut c| async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await })
            .await?;
        raws.into_iter()
            .map(|raw| match raw.as_deref().and_then(|s| s.split_once(':')) {
                None => Ok(ChainHead::default()),
                Some((seq, hash)) => Ok(ChainHead {
                    seq: seq
                        .parse()
                        .map_err(|_| StoreError::Other("tête de journal illisible".into()))?,
                    hash: hash.to_owned(),
                }),
            })
            .collect()
    }

    async fn audit_head(&self, message_id: &str, chain: &str) -> StoreResult<ChainHead> {
        let key = self.k(&["audit_head", message_id, chain]);
        let raw: Option<String> = self.run(|mut c| async move { c.get(key).await }).await?;
        match raw.as_deref().and_then(|s| s.split_once(':')) {
            None => Ok(ChainHead::default()),
            Some((seq, hash)) => Ok(ChainHead {
                seq: seq
                    .parse()
                    .map_err(|_| StoreError::Other("tête de journal illisible".into()))?,
                hash: hash.to_owned(),
            }),
        }
    }

    async fn audit_of_chains(
        &self,
        message_id: &str,
        chains: &[String],
    ) -> StoreResult<Vec<AuditRecord>> {
        let chains: Vec<&str> = chains.iter().map(String::as_str).collect();
        self.chains(message_id, &chains).await
    }

    async fn audit(&self, message_id: &str) -> StoreResult<Vec<AuditRecord>> {
        let chains: Vec<String> = self.members(self.k(&["audit_chains", message_id])).await?;
        let chains: Vec<&str> = chains.iter().map(String::as_str).collect();
        self.chains(message_id, &chains).await
    }

    async fn due_reviews(&self, now: OffsetDateTime, limit: usize) -> StoreResult<Vec<String>> {
        self.due_in(self.k(&["deadlines"]), now, limit).await
    }

    async fn due_reviews_of_message(
        &self,
        message_id: &str,
        now: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.due_in(self.k(&["message_deadlines", message_id]), now, limit)
            .await
    }

    async fn deadline_counts(&self, until: OffsetDateTime) -> StoreResult<(u64, u64)> {
        let key = self.k(&["deadlines"]);
        let max = ms(until);
        self.run(|mut c| async move {
            let all: u64 = c.zcard(&key).await?;
            let due: u64 = c.zcount(&key, "-inf", max).await?;
            Ok((all, due))
        })
        .await
    }

    async fn next_deadline(&self) -> StoreResult<Option<OffsetDateTime>> {
        let key = self.k(&["deadlines"]);
        let first: Vec<(String, f64)> = self
            .run(|mut c| async move { c.zrange_withscores(key, 0, 0).await })
            .await?;
        Ok(first.first().and_then(|(_, score)| {
            OffsetDateTime::from_unix_timestamp_nanos(*score as i128 * 1_000_000).ok()
        }))
    }

    async fn fan_out(&self, message_id: &str) -> StoreResult<Option<FanOut>> {
        self.get_json(self.k(&["fan_out", message_id])).await
    }

    async fn pending_fan_outs(&self, limit: usize) -> StoreResult<Vec<FanOut>> {
        let key = self.k(&["fan_outs_pending"]);
        let ids: Vec<String> = self
            .run(|mut c| async move { c.zrange(key, 0, limit as isize - 1).await })
            .await?;
        self.many(ids.iter().map(|id| self.k(&["fan_out", id])).collect())
            .await
    }

    async fn idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.get_json(self.k(&["idem", key])).await
    }

    async fn outbox(&self, limit: usize) -> StoreResult<Vec<OutboxEmail>> {
        let key = self.k(&["outbox"]);
        let ids: Vec<String> = self
            .run(|mut c| async move { c.zrange(key, 0, limit as isize - 1).await })
            .await?;
        self.many(ids.iter().map(|id| self.k(&["mail", id])).collect())
            .await
    }

    async fn outbox_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Option<Vec<TrackedEmail>>> {
        let key = self.k(&["outbox"]);
        // New emails join at the end (scored by creation), so a rank is a stable position.
        let start = match after {
            None => 0,
            Some(id) => {
                let (key, id) = (key.clone(), id.to_owned());
                let rank: Option<isize> = self
                    .run(|mut c| async move { c.zrank(key, id).await })
                    .await?;
                match rank {
                    None => return Ok(None),
                    Some(r) => r + 1,
                }
            }
        };
        let stop = start + isize::try_from(limit).unwrap_or(isize::MAX / 2) - 1;
        let ids: Vec<String> = self
            .run(|mut c| async move { c.zrange(key, start, stop).await })
            .await?;
        if ids.is_empty() {
            return Ok(Some(vec![]));
        }
        // One round trip for the emails and their delivery records together.
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.get(self.k(&["mail", id]));
            pipe.hgetall(self.k(&["mail_state", id]));
        }
        let replies: Vec<(Option<String>, HashMap<String, String>)> = {
            let raw: Vec<redis::Value> = self
                .run(|mut c| async move { pipe.query_async(&mut c).await })
                .await?;
            let mut pairs = Vec::with_capacity(ids.len());
            let mut it = raw.into_iter();
            while let (Some(mail), Some(state)) = (it.next(), it.next()) {
                let mail: Option<String> =
                    redis::from_redis_value(&mail).map_err(|e| StoreError::Other(e.to_string()))?;
                let state: HashMap<String, String> = redis::from_redis_value(&state)
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                pairs.push((mail, state));
            }
            pairs
        };
        let mut out = Vec::with_capacity(ids.len());
        for (mail, state) in replies {
            let Some(mail) = mail else { continue };
            let delivery = if state.is_empty() {
                Delivery::queued()
            } else {
                delivery_from(&state)?
            };
            out.push(TrackedEmail {
                email: parse(&mail)?,
                delivery,
            });
        }
        Ok(Some(out))
    }

    async fn put_schools(&self, schools: Vec<School>) -> StoreResult<usize> {
        let n = schools.len();
        for chunk in schools.chunks(500) {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for s in chunk {
                pipe.set(self.k(&["school", s.uai.as_str()]), json(s)?)
                    .ignore();
                pipe.sadd(self.k(&["schools"]), s.uai.as_str()).ignore();
            }
            self.run(|mut c| async move { pipe.query_async::<()>(&mut c).await })
                .await?;
        }
        Ok(n)
    }

    async fn school(&self, uai: &Uai) -> StoreResult<Option<School>> {
        self.get_json(self.k(&["school", uai.as_str()])).await
    }

    async fn schools_of(&self, uais: &[Uai]) -> StoreResult<Vec<School>> {
        self.many(
            uais.iter()
                .map(|u| self.k(&["school", u.as_str()]))
                .collect(),
        )
        .await
    }

    async fn schools(&self) -> StoreResult<Vec<School>> {
        let ids = self.members(self.k(&["schools"])).await?;
        self.many(ids.iter().map(|id| self.k(&["school", id])).collect())
            .await
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let k = self.k(&["meta"]);
        let field = key.to_owned();
        self.run(|mut c| async move { c.hget(k, field).await })
            .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let k = self.k(&["meta"]);
        let (field, value) = (key.to_owned(), value.to_owned());
        self.run(|mut c| async move { c.hset(k, field, value).await })
            .await
    }

    async fn claim_mail(&self, lease: Duration, limit: usize) -> StoreResult<Vec<ClaimedMail>> {
        let argv = vec![
            "claim".to_owned(),
            self.prefix.clone(),
            lease.as_millis().to_string(),
            limit.to_string(),
            uuid::Uuid::new_v4().to_string(),
        ];
        let rows: Vec<(String, String, String, String, String, String, String)> = self
            .run(|mut c| async move {
                let mut inv = MAIL.prepare_invoke();
                for a in &argv {
                    inv.arg(a);
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        rows.into_iter()
            .map(|(_, mail, attempts, permanent, error, updated, token)| {
                let fields = HashMap::from([
                    ("status".to_owned(), "queued".to_owned()),
                    ("attempts".to_owned(), attempts),
                    ("permanent_failures".to_owned(), permanent),
                    ("last_error".to_owned(), error),
                    ("updated_at".to_owned(), updated),
                ]);
                Ok(ClaimedMail {
                    email: parse(&mail)?,
                    delivery: delivery_from(&fields)?,
                    token,
                })
            })
            .collect()
    }

    async fn finish_mail(&self, id: &str, token: &str, outcome: MailOutcome) -> StoreResult<bool> {
        let (kind, after, error, permanent) = match outcome {
            MailOutcome::Sent => ("sent", Duration::ZERO, String::new(), false),
            MailOutcome::Retry {
                after,
                error,
                permanent,
            } => ("retry", after, error, permanent),
            MailOutcome::Dead { error, permanent } => ("dead", Duration::ZERO, error, permanent),
        };
        let argv = vec![
            "finish".to_owned(),
            self.prefix.clone(),
            id.to_owned(),
            token.to_owned(),
            kind.to_owned(),
            after.as_millis().to_string(),
            error,
            if permanent { "1" } else { "0" }.to_owned(),
        ];
        let done: i64 = self
            .run(|mut c| async move {
                let mut inv = MAIL.prepare_invoke();
                for a in &argv {
                    inv.arg(a);
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(done == 1)
    }

    async fn expire_before(&self, before: OffsetDateTime, limit: usize) -> StoreResult<usize> {
        let argv = vec![
            "expire".to_owned(),
            self.prefix.clone(),
            ms(before).to_string(),
            limit.to_string(),
        ];
        let removed: i64 = self
            .run(|mut c| async move {
                let mut inv = MAIL.prepare_invoke();
                for a in &argv {
                    inv.arg(a);
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(removed as usize)
    }

    async fn mail_delivery(&self, id: &str) -> StoreResult<Option<Delivery>> {
        let key = self.k(&["mail_state", id]);
        let fields: HashMap<String, String> = self
            .run(|mut c| async move { c.hgetall(key).await })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        delivery_from(&fields).map(Some)
    }

    async fn dead_letters(&self, limit: usize) -> StoreResult<Vec<TrackedEmail>> {
        let key = self.k(&["mail_dead"]);
        let ids: Vec<String> = self
            .run(|mut c| async move { c.zrange(key, 0, limit as isize - 1).await })
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let email: Option<crate::domain::notification::OutboxEmail> =
                self.get_json(self.k(&["mail", &id])).await?;
            if let (Some(email), Some(delivery)) = (email, self.mail_delivery(&id).await?) {
                out.push(TrackedEmail { email, delivery });
            }
        }
        Ok(out)
    }

    async fn requeue_dead_letter(&self, id: &str) -> StoreResult<Requeue> {
        let argv = vec!["requeue".to_owned(), self.prefix.clone(), id.to_owned()];
        let reply: String = self
            .run(|mut c| async move {
                let mut inv = MAIL.prepare_invoke();
                for a in &argv {
                    inv.arg(a);
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        match reply.as_str() {
            "OK" => {
                let email = self.get_json(self.k(&["mail", id])).await?;
                let delivery = self.mail_delivery(id).await?;
                match (email, delivery) {
                    (Some(email), Some(delivery)) => {
                        Ok(Requeue::Done(Box::new(TrackedEmail { email, delivery })))
                    }
                    _ => Ok(Requeue::NotFound),
                }
            }
            "NOTFOUND" => Ok(Requeue::NotFound),
            other => Ok(Requeue::NotDead(status_from(other)?)),
        }
    }

    async fn mail_counts(&self) -> StoreResult<MailCounts> {
        let (due, dead, sent) = (
            self.k(&["mail_due"]),
            self.k(&["mail_dead"]),
            self.k(&["mail_sent"]),
        );
        let (queued, dead, sent): (u64, u64, Option<u64>) = self
            .run(|mut c| async move {
                redis::pipe()
                    .zcard(due)
                    .zcard(dead)
                    .get(sent)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(MailCounts {
            queued,
            sent: sent.unwrap_or(0),
            dead,
        })
    }

    fn mail_queued(&self) -> Arc<Notify> {
        self.queued.clone()
    }

    async fn put_calendar_feed(&self, feed: &CalendarFeed) -> StoreResult<()> {
        let key = self.k(&["calfeed", &feed.id]);
        let of = self.k(&["calfeeds", &feed.owner.subject]);
        let json = json(feed)?;
        let (id, at) = (feed.id.clone(), micros(feed.created_at));
        self.run(|mut c| async move {
            redis::pipe()
                .atomic()
                .set(key, json)
                .ignore()
                .zadd(of, id, at)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn calendar_feed(&self, id: &str) -> StoreResult<Option<CalendarFeed>> {
        self.get_json(self.k(&["calfeed", id])).await
    }

    async fn calendar_feeds_of(&self, subject: &str) -> StoreResult<Vec<CalendarFeed>> {
        let of = self.k(&["calfeeds", subject]);
        let ids: Vec<String> = self
            .run(|mut c| async move { c.zrange(of, 0, -1).await })
            .await?;
        self.many(ids.iter().map(|id| self.k(&["calfeed", id])).collect())
            .await
    }

    async fn delete_calendar_feed(&self, id: &str) -> StoreResult<bool> {
        let Some(feed) = self.calendar_feed(id).await? else {
            return Ok(false);
        };
        let key = self.k(&["calfeed", id]);
        let of = self.k(&["calfeeds", &feed.owner.subject]);
        let id = id.to_owned();
        let (deleted, _): (u64, u64) = self
            .run(|mut c| async move {
                redis::pipe()
                    .atomic()
                    .del(key)
                    .zrem(of, id)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(deleted > 0)
    }
}

fn status_from(s: &str) -> StoreResult<DeliveryStatus> {
    match s {
        "queued" => Ok(DeliveryStatus::Queued),
        "sent" => Ok(DeliveryStatus::Sent),
        "dead" => Ok(DeliveryStatus::Dead),
        other => Err(StoreError::Other(format!(
            "état d'envoi illisible : {other}"
        ))),
    }
}

fn delivery_from(fields: &HashMap<String, String>) -> StoreResult<Delivery> {
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let number = |k: &str| -> StoreResult<u32> {
        match get(k) {
            "" => Ok(0),
            n => n
                .parse()
                .map_err(|_| StoreError::Other(format!("compteur {k} illisible : {n}"))),
        }
    };
    let updated_at = match get("updated_at") {
        "" => None,
        ms => {
            let ms: i128 = ms
                .parse()
                .map_err(|_| StoreError::Other(format!("date d'envoi illisible : {ms}")))?;
            Some(
                OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
                    .map_err(|e| StoreError::Other(e.to_string()))?,
            )
        }
    };
    Ok(Delivery {
        status: status_from(get("status"))?,
        attempts: number("attempts")?,
        permanent_failures: number("permanent_failures")?,
        last_error: Some(get("last_error"))
            .filter(|e| !e.is_empty())
            .map(str::to_owned),
        updated_at,
    })
}
