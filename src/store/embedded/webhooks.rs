//! The webhooks' tables in the embedded store: the event log, subscriptions, deliveries.

use std::time::Duration;

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{EmbeddedStore, decode, encode, other};
use crate::domain::webhook::{DeliveryState, Event, Webhook, WebhookDelivery};
use crate::store::{StoreResult, WebhookStore, delivery_key};

/// The event log: sequence number → event.
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("webhook_events");
/// Subscriptions by id.
const WEBHOOKS: TableDefinition<&str, &[u8]> = TableDefinition::new("webhooks");
/// Deliveries by id.
const DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("webhook_deliveries");
/// Every delivery of a subscription: (subscription, [`delivery_key`]) → delivery id.
const DELIVERIES_OF: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("webhook_deliveries_of");
/// The queued deliveries of a subscription, in log order: (subscription, key) → delivery id.
const QUEUE: TableDefinition<(&str, &str), &str> = TableDefinition::new("webhook_queue");
/// Small values: the router's position, leases (`lease:<name>` → `<holder> <until ns>`).
const STATE: TableDefinition<&str, &str> = TableDefinition::new("webhook_state");

/// Scheduled events: (instant ns, event id) → event.
const SCHEDULED: TableDefinition<(i128, &str), &[u8]> = TableDefinition::new("webhook_scheduled");
/// Scheduled events of a message: (message, event id) → instant ns.
const SCHEDULED_OF: TableDefinition<(&str, &str), i128> =
    TableDefinition::new("webhook_scheduled_of");

/// Deliveries delivered or given up, by when: (instant ns, delivery id) → ().
const FINISHED: TableDefinition<(i128, &str), ()> = TableDefinition::new("webhook_finished");

const ROUTED: &str = "routed";

/// Creates the tables, so that read transactions may assume they exist.
pub(super) fn create_tables(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(EVENTS).map_err(other)?;
    txn.open_table(WEBHOOKS).map_err(other)?;
    txn.open_table(DELIVERIES).map_err(other)?;
    txn.open_table(DELIVERIES_OF).map_err(other)?;
    txn.open_table(QUEUE).map_err(other)?;
    txn.open_table(STATE).map_err(other)?;
    txn.open_table(SCHEDULED).map_err(other)?;
    txn.open_table(SCHEDULED_OF).map_err(other)?;
    txn.open_table(FINISHED).map_err(other)?;
    Ok(())
}

/// Schedules a commit's later events and cancels those of the messages it unschedules, in its
/// transaction.
pub(super) fn schedule(
    txn: &WriteTransaction,
    scheduled: &[Event],
    unschedule: &[String],
) -> StoreResult<()> {
    if scheduled.is_empty() && unschedule.is_empty() {
        return Ok(());
    }
    let mut by_time = txn.open_table(SCHEDULED).map_err(other)?;
    let mut of = txn.open_table(SCHEDULED_OF).map_err(other)?;
    for message in unschedule {
        let rows: Vec<(String, i128)> = of
            .range((message.as_str(), "")..(message.as_str(), "\u{10ffff}"))
            .map_err(other)?
            .map(|row| {
                row.map(|(k, v)| (k.value().1.to_owned(), v.value()))
                    .map_err(other)
            })
            .collect::<StoreResult<_>>()?;
        for (id, at) in rows {
            by_time.remove((at, id.as_str())).map_err(other)?;
            of.remove((message.as_str(), id.as_str())).map_err(other)?;
        }
    }
    for e in scheduled {
        let at = e.timestamp.unix_timestamp_nanos();
        by_time
            .insert((at, e.id.as_str()), encode(e)?.as_slice())
            .map_err(other)?;
        of.insert((e.data.message_id.as_str(), e.id.as_str()), at)
            .map_err(other)?;
    }
    Ok(())
}

/// A sequence number as a position (zero-padded, so positions sort as numbers do).
fn position(seq: u64) -> String {
    format!("{seq:020}")
}

/// Appends a commit's events to the log, in its transaction.
pub(super) fn append_events(txn: &WriteTransaction, events: &[Event]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut log = txn.open_table(EVENTS).map_err(other)?;
    let first = log.last().map_err(other)?.map_or(1, |(k, _)| k.value() + 1);
    for (seq, e) in (first..).zip(events) {
        log.insert(seq, encode(e)?.as_slice()).map_err(other)?;
    }
    Ok(())
}

fn write_delivery(txn: &WriteTransaction, d: &WebhookDelivery) -> StoreResult<()> {
    let key = delivery_key(d);
    let previous: Option<WebhookDelivery> = txn
        .open_table(DELIVERIES)
        .map_err(other)?
        .insert(d.id.as_str(), encode(d)?.as_slice())
        .map_err(other)?
        .map(|v| decode(v.value()))
        .transpose()?;
    let mut finished = txn.open_table(FINISHED).map_err(other)?;
    if let Some(at) = previous.and_then(|p| p.finished_at) {
        finished
            .remove((at.unix_timestamp_nanos(), d.id.as_str()))
            .map_err(other)?;
    }
    if let Some(at) = d.finished_at {
        finished
            .insert((at.unix_timestamp_nanos(), d.id.as_str()), ())
            .map_err(other)?;
    }
    txn.open_table(DELIVERIES_OF)
        .map_err(other)?
        .insert((d.webhook_id.as_str(), key.as_str()), d.id.as_str())
        .map_err(other)?;
    let mut queue = txn.open_table(QUEUE).map_err(other)?;
    if d.state == DeliveryState::Queued {
        queue
            .insert((d.webhook_id.as_str(), key.as_str()), d.id.as_str())
            .map_err(other)?;
    } else {
        queue
            .remove((d.webhook_id.as_str(), key.as_str()))
            .map_err(other)?;
    }
    Ok(())
}

#[async_trait]
impl WebhookStore for EmbeddedStore {
    async fn events_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Event)>> {
        let from = match after {
            None => 0,
            Some(p) => p
                .parse::<u64>()
                .map_err(|_| other(format!("position illisible : {p}")))?
                .saturating_add(1),
        };
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let log = txn.open_table(EVENTS).map_err(other)?;
            let mut out = Vec::new();
            for row in log.range(from..).map_err(other)?.take(limit) {
                let (k, v) = row.map_err(other)?;
                out.push((position(k.value()), decode(v.value())?));
            }
            Ok(out)
        })
        .await
    }

    async fn last_event_position(&self) -> StoreResult<Option<String>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(other)?;
            let log = txn.open_table(EVENTS).map_err(other)?;
            Ok(log.last().map_err(other)?.map(|(k, _)| position(k.value())))
        })
        .await
    }

    async fn routed_position(&self) -> StoreResult<Option<String>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(STATE).map_err(other)?;
            Ok(t.get(ROUTED).map_err(other)?.map(|v| v.value().to_owned()))
        })
        .await
    }

    async fn route_events(
        &self,
        deliveries: &[WebhookDelivery],
        position: &str,
    ) -> StoreResult<()> {
        let deliveries = deliveries.to_vec();
        let position = position.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            for d in &deliveries {
                write_delivery(&txn, d)?;
            }
            txn.open_table(STATE)
                .map_err(other)?
                .insert(ROUTED, position.as_str())
                .map_err(other)?;
            txn.commit().map_err(other)
        })
        .await
    }

    async fn put_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let (id, json) = (webhook.id.clone(), encode(webhook)?);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            txn.open_table(WEBHOOKS)
                .map_err(other)?
                .insert(id.as_str(), json.as_slice())
                .map_err(other)?;
            txn.commit().map_err(other)
        })
        .await
    }

    async fn webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        let id = id.to_owned();
        self.blocking(move |db| Self::get_json(db, WEBHOOKS, &id))
            .await
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        let mut all: Vec<Webhook> = self
            .blocking(|db| {
                let txn = db.begin_read().map_err(other)?;
                let t = txn.open_table(WEBHOOKS).map_err(other)?;
                t.iter()
                    .map_err(other)?
                    .map(|row| decode(row.map_err(other)?.1.value()))
                    .collect()
            })
            .await?;
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            if txn
                .open_table(WEBHOOKS)
                .map_err(other)?
                .remove(id.as_str())
                .map_err(other)?
                .is_none()
            {
                return Ok(false);
            }
            {
                let mut queue = txn.open_table(QUEUE).map_err(other)?;
                let keys: Vec<String> = queue
                    .range((id.as_str(), "")..(id.as_str(), "\u{10ffff}"))
                    .map_err(other)?
                    .map(|row| row.map(|(k, _)| k.value().1.to_owned()).map_err(other))
                    .collect::<StoreResult<_>>()?;
                for k in keys {
                    queue.remove((id.as_str(), k.as_str())).map_err(other)?;
                }
            }
            txn.commit().map_err(other)?;
            Ok(true)
        })
        .await
    }

    async fn put_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<()> {
        let d = delivery.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            write_delivery(&txn, &d)?;
            txn.commit().map_err(other)
        })
        .await
    }

    async fn delivery(&self, id: &str) -> StoreResult<Option<WebhookDelivery>> {
        let id = id.to_owned();
        self.blocking(move |db| Self::get_json(db, DELIVERIES, &id))
            .await
    }

    async fn queued_deliveries(
        &self,
        webhook_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let wid = webhook_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let queue = txn.open_table(QUEUE).map_err(other)?;
            let records = txn.open_table(DELIVERIES).map_err(other)?;
            let mut out = Vec::new();
            for row in queue
                .range((wid.as_str(), "")..(wid.as_str(), "\u{10ffff}"))
                .map_err(other)?
                .take(limit)
            {
                let (_, id) = row.map_err(other)?;
                if let Some(v) = records.get(id.value()).map_err(other)? {
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn deliveries_of(
        &self,
        webhook_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, WebhookDelivery)>> {
        let wid = webhook_id.to_owned();
        let before = before.map(str::to_owned);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let of = txn.open_table(DELIVERIES_OF).map_err(other)?;
            let records = txn.open_table(DELIVERIES).map_err(other)?;
            let end = before.as_deref().unwrap_or("\u{10ffff}");
            let mut out = Vec::new();
            for row in of
                .range((wid.as_str(), "")..(wid.as_str(), end))
                .map_err(other)?
                .rev()
            {
                if out.len() == limit {
                    break;
                }
                let (k, id) = row.map_err(other)?;
                if let Some(v) = records.get(id.value()).map_err(other)? {
                    out.push((k.value().1.to_owned(), decode(v.value())?));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn due_scheduled_events(
        &self,
        now: time::OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<Event>> {
        let until = now.unix_timestamp_nanos();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(SCHEDULED).map_err(other)?;
            let mut out = Vec::new();
            for row in t
                .range((i128::MIN, "")..=(until, "\u{10ffff}"))
                .map_err(other)?
                .take(limit)
            {
                out.push(decode(row.map_err(other)?.1.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn next_scheduled_event(&self) -> StoreResult<Option<time::OffsetDateTime>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(SCHEDULED).map_err(other)?;
            let first = t.first().map_err(other)?.map(|(k, _)| k.value().0);
            first
                .map(|ns| time::OffsetDateTime::from_unix_timestamp_nanos(ns).map_err(other))
                .transpose()
        })
        .await
    }

    async fn release_scheduled(&self, publish: &[Event], drop: &[Event]) -> StoreResult<()> {
        let (publish, drop) = (publish.to_vec(), drop.to_vec());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            let mut released = Vec::new();
            {
                let mut by_time = txn.open_table(SCHEDULED).map_err(other)?;
                let mut of = txn.open_table(SCHEDULED_OF).map_err(other)?;
                for (e, publishes) in publish
                    .iter()
                    .map(|e| (e, true))
                    .chain(drop.iter().map(|e| (e, false)))
                {
                    let at = e.timestamp.unix_timestamp_nanos();
                    let was = by_time
                        .remove((at, e.id.as_str()))
                        .map_err(other)?
                        .is_some();
                    of.remove((e.data.message_id.as_str(), e.id.as_str()))
                        .map_err(other)?;
                    if was && publishes {
                        released.push(e.clone());
                    }
                }
            }
            append_events(&txn, &released)?;
            txn.commit().map_err(other)
        })
        .await
    }

    async fn expire_webhook_records(
        &self,
        before: time::OffsetDateTime,
        limit: usize,
    ) -> StoreResult<usize> {
        let until = before.unix_timestamp_nanos();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            let mut gone = 0;
            {
                let routed = txn
                    .open_table(STATE)
                    .map_err(other)?
                    .get(ROUTED)
                    .map_err(other)?
                    .and_then(|v| v.value().parse::<u64>().ok())
                    .unwrap_or(0);
                let mut log = txn.open_table(EVENTS).map_err(other)?;
                let mut old = Vec::new();
                for row in log.range(..=routed).map_err(other)?.take(limit) {
                    let (k, v) = row.map_err(other)?;
                    let e: Event = decode(v.value())?;
                    if e.timestamp.unix_timestamp_nanos() >= until {
                        break;
                    }
                    old.push(k.value());
                }
                for seq in old {
                    log.remove(seq).map_err(other)?;
                    gone += 1;
                }
                let mut finished = txn.open_table(FINISHED).map_err(other)?;
                let done: Vec<(i128, String)> = finished
                    .range((i128::MIN, "")..(until, ""))
                    .map_err(other)?
                    .take(limit)
                    .map(|row| {
                        row.map(|(k, _)| (k.value().0, k.value().1.to_owned()))
                            .map_err(other)
                    })
                    .collect::<StoreResult<_>>()?;
                let mut records = txn.open_table(DELIVERIES).map_err(other)?;
                let mut of = txn.open_table(DELIVERIES_OF).map_err(other)?;
                for (at, id) in done {
                    finished.remove((at, id.as_str())).map_err(other)?;
                    if let Some(v) = records.remove(id.as_str()).map_err(other)? {
                        let d: WebhookDelivery = decode(v.value())?;
                        of.remove((d.webhook_id.as_str(), delivery_key(&d).as_str()))
                            .map_err(other)?;
                    }
                    gone += 1;
                }
            }
            txn.commit().map_err(other)?;
            Ok(gone)
        })
        .await
    }

    async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<bool> {
        let key = format!("lease:{name}");
        let holder = holder.to_owned();
        self.blocking(move |db| {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
            let txn = db.begin_write().map_err(other)?;
            let taken = {
                let mut t = txn.open_table(STATE).map_err(other)?;
                let current = t.get(key.as_str()).map_err(other)?.map(|v| {
                    let v = v.value();
                    let (who, until) = v.split_once(' ').unwrap_or(("", "0"));
                    (who.to_owned(), until.parse::<i128>().unwrap_or(0))
                });
                let free = current
                    .as_ref()
                    .is_none_or(|(who, until)| *who == holder || *until <= now);
                if free {
                    let until = now + ttl.as_nanos() as i128;
                    t.insert(key.as_str(), format!("{holder} {until}").as_str())
                        .map_err(other)?;
                }
                free
            };
            if taken {
                txn.commit().map_err(other)?;
            }
            Ok(taken)
        })
        .await
    }
}
