//! The webhooks' keys on Redis: the event log is a stream each commit script appends to
//! (`events`); subscriptions and deliveries are JSON strings, a subscription's deliveries and
//! its queue sorted sets of [`delivery_key`]s.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, json, parse};
use crate::domain::webhook::{DeliveryState, Event, Webhook, WebhookDelivery};
use crate::store::{StoreError, StoreResult, WebhookStore, delivery_key};

/// Takes or renews a lease: KEYS[1] the lease, ARGV holder and milliseconds.
static LEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r#"local cur = redis.call("GET", KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
return 0"#,
    )
});

/// Releases scheduled events: KEYS the schedule (sorted set), the events (hash), the log
/// (stream); ARGV triples of event id, its message's set of scheduled events, and 1 to append it
/// to the log (0 to forget it). One no longer scheduled (cancelled meanwhile) is not appended.
static RELEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r#"for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call("ZREM", KEYS[1], id) == 1 then
    local body = redis.call("HGET", KEYS[2], id)
    redis.call("HDEL", KEYS[2], id)
    if ARGV[i + 2] == "1" and body then
      redis.call("XADD", KEYS[3], "*", "e", body)
    end
  end
  redis.call("SREM", ARGV[i + 1], id)
end
return 1"#,
    )
});

/// A stream entry id (`<ms>-<seq>`) as a position that sorts as the log does.
fn position(id: &str) -> StoreResult<String> {
    let bad = || StoreError::Other(format!("identifiant d'événement illisible : {id}"));
    let (ms, seq) = id.split_once('-').ok_or_else(bad)?;
    let ms: u64 = ms.parse().map_err(|_| bad())?;
    let seq: u64 = seq.parse().map_err(|_| bad())?;
    Ok(format!("{ms:020}-{seq:020}"))
}

/// A position back to its stream entry id.
fn entry_id(position: &str) -> StoreResult<String> {
    let bad = || StoreError::Other(format!("position illisible : {position}"));
    let (ms, seq) = position.split_once('-').ok_or_else(bad)?;
    let ms: u64 = ms.parse().map_err(|_| bad())?;
    let seq: u64 = seq.parse().map_err(|_| bad())?;
    Ok(format!("{ms}-{seq}"))
}

/// The delivery id at the end of a [`delivery_key`].
fn delivery_id(key: &str) -> &str {
    key.rsplit_once(':').map_or(key, |(_, id)| id)
}

impl RedisStore {
    /// Adds the writes of one delivery to an atomic pipeline.
    fn delivery_writes(&self, p: &mut redis::Pipeline, d: &WebhookDelivery) -> StoreResult<()> {
        let key = delivery_key(d);
        p.set(self.k(&["delivery", &d.id]), json(d)?).ignore();
        p.zadd(self.k(&["webhook_deliveries", &d.webhook_id]), &key, 0)
            .ignore();
        let queue = self.k(&["webhook_queue", &d.webhook_id]);
        if d.state == DeliveryState::Queued {
            p.zadd(queue, &key, 0).ignore();
        } else {
            p.zrem(queue, &key).ignore();
        }
        // Finished ones by when, for the retention: member `<subscription> <key>`.
        let finished = self.k(&["webhook_finished"]);
        let member = format!("{} {key}", d.webhook_id);
        match d.finished_at {
            Some(at) => p.zadd(finished, member, super::ms(at)).ignore(),
            None => p.zrem(finished, member).ignore(),
        };
        Ok(())
    }

    /// Deliveries by their keys, in that order, paired with them (missing ones skipped).
    async fn deliveries_by_keys(
        &self,
        keys: Vec<String>,
    ) -> StoreResult<Vec<(String, WebhookDelivery)>> {
        if keys.is_empty() {
            return Ok(vec![]);
        }
        let names: Vec<String> = keys
            .iter()
            .map(|k| self.k(&["delivery", delivery_id(k)]))
            .collect();
        let raws: Vec<Option<String>> = self
            .run(|mut c| async move { redis::cmd("MGET").arg(names).query_async(&mut c).await })
            .await?;
        keys.into_iter()
            .zip(raws)
            .filter_map(|(k, raw)| raw.map(|r| parse(&r).map(|d| (k, d))))
            .collect()
    }
}

#[async_trait]
impl WebhookStore for RedisStore {
    async fn events_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Event)>> {
        let start = match after {
            None => "-".to_owned(),
            Some(p) => format!("({}", entry_id(p)?),
        };
        let stream = self.k(&["events"]);
        let entries: Vec<(String, Vec<String>)> = self
            .run(|mut c| async move {
                redis::cmd("XRANGE")
                    .arg(stream)
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        entries
            .into_iter()
            .map(|(id, fields)| {
                let body = fields
                    .get(1)
                    .ok_or_else(|| StoreError::Other(format!("événement {id} sans contenu")))?;
                Ok((position(&id)?, parse(body)?))
            })
            .collect()
    }

    async fn last_event_position(&self) -> StoreResult<Option<String>> {
        let stream = self.k(&["events"]);
        let last: Vec<(String, Vec<String>)> = self
            .run(|mut c| async move {
                redis::cmd("XREVRANGE")
                    .arg(stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        last.first().map(|(id, _)| position(id)).transpose()
    }

    async fn routed_position(&self) -> StoreResult<Option<String>> {
        let key = self.k(&["webhook_router"]);
        self.run(|mut c| async move { c.get(key).await }).await
    }

    async fn route_events(
        &self,
        deliveries: &[WebhookDelivery],
        position: &str,
    ) -> StoreResult<()> {
        let mut p = redis::pipe();
        p.atomic();
        for d in deliveries {
            self.delivery_writes(&mut p, d)?;
        }
        p.set(self.k(&["webhook_router"]), position).ignore();
        self.run(|mut c| async move { p.query_async::<()>(&mut c).await })
            .await
    }

    async fn put_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let key = self.k(&["webhook", &webhook.id]);
        let all = self.k(&["webhooks"]);
        let (id, body) = (webhook.id.clone(), json(webhook)?);
        self.run(|mut c| async move {
            redis::pipe()
                .atomic()
                .set(key, body)
                .ignore()
                .sadd(all, id)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        self.get_json(self.k(&["webhook", id])).await
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        let all = self.k(&["webhooks"]);
        let ids: Vec<String> = self
            .run(|mut c| async move { c.smembers(all).await })
            .await?;
        let mut hooks: Vec<Webhook> = self
            .many(ids.iter().map(|id| self.k(&["webhook", id])).collect())
            .await?;
        hooks.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(hooks)
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        let (key, all, queue) = (
            self.k(&["webhook", id]),
            self.k(&["webhooks"]),
            self.k(&["webhook_queue", id]),
        );
        let id = id.to_owned();
        let (deleted, _, _): (u64, u64, u64) = self
            .run(|mut c| async move {
                redis::pipe()
                    .atomic()
                    .del(key)
                    .srem(all, id)
                    .del(queue)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn put_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<()> {
        let mut p = redis::pipe();
        p.atomic();
        self.delivery_writes(&mut p, delivery)?;
        self.run(|mut c| async move { p.query_async::<()>(&mut c).await })
            .await
    }

    async fn delivery(&self, id: &str) -> StoreResult<Option<WebhookDelivery>> {
        self.get_json(self.k(&["delivery", id])).await
    }

    async fn queued_deliveries(
        &self,
        webhook_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let queue = self.k(&["webhook_queue", webhook_id]);
        let keys: Vec<String> = self
            .run(|mut c| async move { c.zrange(queue, 0, limit as isize - 1).await })
            .await?;
        Ok(self
            .deliveries_by_keys(keys)
            .await?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    async fn deliveries_of(
        &self,
        webhook_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, WebhookDelivery)>> {
        let of = self.k(&["webhook_deliveries", webhook_id]);
        let from = before.map_or_else(|| "+".to_owned(), |b| format!("({b}"));
        let keys: Vec<String> = self
            .run(|mut c| async move {
                redis::cmd("ZREVRANGEBYLEX")
                    .arg(of)
                    .arg(from)
                    .arg("-")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        self.deliveries_by_keys(keys).await
    }

    async fn due_scheduled_events(
        &self,
        now: time::OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<Event>> {
        let (zset, hash) = (self.k(&["scheduled"]), self.k(&["scheduled_events"]));
        let until = super::ms(now);
        let ids: Vec<String> = self
            .run(|mut c| async move {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(zset)
                    .arg("-inf")
                    .arg(until)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let bodies: Vec<Option<String>> = self
            .run(|mut c| async move {
                redis::cmd("HMGET")
                    .arg(hash)
                    .arg(ids)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        bodies.into_iter().flatten().map(|b| parse(&b)).collect()
    }

    async fn next_scheduled_event(&self) -> StoreResult<Option<time::OffsetDateTime>> {
        let zset = self.k(&["scheduled"]);
        let first: Vec<(String, i64)> = self
            .run(|mut c| async move { c.zrange_withscores(zset, 0, 0).await })
            .await?;
        first
            .first()
            .map(|(_, ms)| {
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(*ms) * 1_000_000)
                    .map_err(|e| StoreError::Other(e.to_string()))
            })
            .transpose()
    }

    async fn release_scheduled(&self, publish: &[Event], drop: &[Event]) -> StoreResult<()> {
        if publish.is_empty() && drop.is_empty() {
            return Ok(());
        }
        let mut inv = RELEASE.prepare_invoke();
        inv.key(self.k(&["scheduled"]))
            .key(self.k(&["scheduled_events"]))
            .key(self.k(&["events"]));
        for (e, flag) in publish
            .iter()
            .map(|e| (e, "1"))
            .chain(drop.iter().map(|e| (e, "0")))
        {
            inv.arg(&e.id)
                .arg(self.k(&["scheduled_of", &e.data.message_id]))
                .arg(flag);
        }
        self.run(|mut c| async move { inv.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    async fn expire_webhook_records(
        &self,
        before: time::OffsetDateTime,
        limit: usize,
    ) -> StoreResult<usize> {
        // The log: its oldest events, routed and dated before `before` (as on the embedded store).
        let mut gone = 0;
        if let Some(routed) = self.routed_position().await? {
            let old: Vec<String> = self
                .events_after(None, limit)
                .await?
                .into_iter()
                .take_while(|(p, e)| *p <= routed && e.timestamp < before)
                .map(|(p, _)| entry_id(&p))
                .collect::<StoreResult<_>>()?;
            if !old.is_empty() {
                let stream = self.k(&["events"]);
                let n = old.len();
                self.run(|mut c| async move {
                    redis::cmd("XDEL")
                        .arg(stream)
                        .arg(old)
                        .query_async::<usize>(&mut c)
                        .await
                })
                .await?;
                gone += n;
            }
        }
        // Deliveries finished before `before`.
        let finished = self.k(&["webhook_finished"]);
        let (f, until) = (finished.clone(), super::ms(before));
        let members: Vec<String> = self
            .run(|mut c| async move {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(f)
                    .arg("-inf")
                    .arg(format!("({until}"))
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if members.is_empty() {
            return Ok(gone);
        }
        let mut p = redis::pipe();
        p.atomic();
        for m in &members {
            let (webhook, key) = m.split_once(' ').unwrap_or(("", m.as_str()));
            p.del(self.k(&["delivery", delivery_id(key)])).ignore();
            p.zrem(self.k(&["webhook_deliveries", webhook]), key)
                .ignore();
            p.zrem(&finished, m).ignore();
        }
        self.run(|mut c| async move { p.query_async::<()>(&mut c).await })
            .await?;
        Ok(gone + members.len())
    }

    async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<bool> {
        let key = self.k(&["lease", name]);
        let (holder, ms) = (holder.to_owned(), ttl.as_millis().max(1) as u64);
        let taken: i64 = self
            .run(|mut c| async move {
                LEASE
                    .key(key)
                    .arg(holder)
                    .arg(ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(taken == 1)
    }
}
