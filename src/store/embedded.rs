//! The embedded adapter: one crash-safe redb file, zero setup.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    TableDefinition,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::{
    Commit, IdempotencyRecord, Store, StoreError, StoreResult, arbitrator_key, due_at, open_dispute,
};
use crate::domain::audit::{AuditRecord, ChainHead};
use crate::domain::directory::{ArbitratorRef, School};
use crate::domain::message::{Message, Review};
use crate::domain::notification::OutboxEmail;
use crate::domain::uai::Uai;

const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("messages");
const REVIEWS: TableDefinition<&str, &[u8]> = TableDefinition::new("reviews");
const MESSAGE_REVIEWS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("message_reviews");
const SCHOOL_REVIEWS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("school_reviews");
const AUTHORITY_MESSAGES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("authority_messages");
const DISPUTES: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("disputes");
const DEADLINES: TableDefinition<(i128, &str), ()> = TableDefinition::new("deadlines");
const AUDIT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("audit");
const AUDIT_HEADS: TableDefinition<&str, &[u8]> = TableDefinition::new("audit_heads");
const OUTBOX: TableDefinition<(i128, &str), &[u8]> = TableDefinition::new("outbox");
const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");
const SCHOOLS: TableDefinition<&str, &[u8]> = TableDefinition::new("schools");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// A store kept in one redb file; every commit is a single durable write transaction.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
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

impl EmbeddedStore {
    /// Opens (or creates) the store file `charte.redb` in `dir`.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Other(format!(
                "impossible de créer le dossier {} : {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("charte.redb");
        let db = Database::create(&path).map_err(|e| {
            StoreError::Other(format!("impossible d'ouvrir {} : {e}", path.display()))
        })?;
        // Creating every table up front lets read transactions assume they exist.
        let txn = db.begin_write().map_err(other)?;
        {
            txn.open_table(MESSAGES).map_err(other)?;
            txn.open_table(REVIEWS).map_err(other)?;
            txn.open_multimap_table(MESSAGE_REVIEWS).map_err(other)?;
            txn.open_multimap_table(SCHOOL_REVIEWS).map_err(other)?;
            txn.open_multimap_table(AUTHORITY_MESSAGES).map_err(other)?;
            txn.open_multimap_table(DISPUTES).map_err(other)?;
            txn.open_table(DEADLINES).map_err(other)?;
            txn.open_table(AUDIT).map_err(other)?;
            txn.open_table(AUDIT_HEADS).map_err(other)?;
            txn.open_table(OUTBOX).map_err(other)?;
            txn.open_table(IDEMPOTENCY).map_err(other)?;
            txn.open_table(SCHOOLS).map_err(other)?;
            txn.open_table(META).map_err(other)?;
        }
        txn.commit().map_err(other)?;
        Ok(Self { db: Arc::new(db) })
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

    /// Test and repair aid: overwrites one stored audit record as-is, bypassing the chain.
    pub fn overwrite_audit_record(&self, record: &AuditRecord) -> StoreResult<()> {
        let txn = self.db.begin_write().map_err(other)?;
        {
            let mut t = txn.open_table(AUDIT).map_err(other)?;
            t.insert(
                (record.message_id.as_str(), record.seq),
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
            let mut next = m.clone();
            next.revision = m.revision + 1;
            messages
                .insert(m.id.as_str(), encode(&next)?.as_slice())
                .map_err(other)?;
        }

        let mut reviews = txn.open_table(REVIEWS).map_err(other)?;
        let mut by_message = txn.open_multimap_table(MESSAGE_REVIEWS).map_err(other)?;
        let mut by_school = txn.open_multimap_table(SCHOOL_REVIEWS).map_err(other)?;
        let mut disputes = txn.open_multimap_table(DISPUTES).map_err(other)?;
        let mut deadlines = txn.open_table(DEADLINES).map_err(other)?;
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
                if let Some(at) = due_at(s) {
                    deadlines
                        .remove((nanos(at), s.id.as_str()))
                        .map_err(other)?;
                }
                if let Some(key) = open_dispute(s) {
                    disputes
                        .remove(key.as_str(), s.id.as_str())
                        .map_err(other)?;
                }
            } else {
                by_message
                    .insert(r.message_id.as_str(), r.id.as_str())
                    .map_err(other)?;
                by_school
                    .insert(r.uai.as_str(), r.id.as_str())
                    .map_err(other)?;
            }
            if let Some(at) = due_at(r) {
                deadlines
                    .insert((nanos(at), r.id.as_str()), ())
                    .map_err(other)?;
            }
            if let Some(key) = open_dispute(r) {
                disputes
                    .insert(key.as_str(), r.id.as_str())
                    .map_err(other)?;
            }
            let mut next = r.clone();
            next.revision = r.revision + 1;
            reviews
                .insert(r.id.as_str(), encode(&next)?.as_slice())
                .map_err(other)?;
        }

        if let Some(first) = c.audit.first() {
            let mut heads = txn.open_table(AUDIT_HEADS).map_err(other)?;
            let mut audit = txn.open_table(AUDIT).map_err(other)?;
            let head: ChainHead = heads
                .get(first.message_id.as_str())
                .map_err(other)?
                .map(|v| decode(v.value()))
                .transpose()?
                .unwrap_or_default();
            if first.seq != head.seq + 1 || first.prev_hash != head.hash {
                return Err(StoreError::Conflict(
                    "le journal d'audit a avancé entre-temps".into(),
                ));
            }
            for rec in &c.audit {
                audit
                    .insert((rec.message_id.as_str(), rec.seq), encode(rec)?.as_slice())
                    .map_err(other)?;
            }
            if let Some(last) = c.audit.last() {
                let head = ChainHead {
                    seq: last.seq,
                    hash: last.hash.clone(),
                };
                heads
                    .insert(first.message_id.as_str(), encode(&head)?.as_slice())
                    .map_err(other)?;
            }
        }

        let mut outbox = txn.open_table(OUTBOX).map_err(other)?;
        for e in &c.outbox {
            outbox
                .insert((nanos(e.created_at), e.id.as_str()), encode(e)?.as_slice())
                .map_err(other)?;
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
        }
    }
    // Dropping the transaction on any early return above aborts it: nothing is half-written.
    txn.commit().map_err(other)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.blocking(|db| db.begin_read().map(|_| ()).map_err(other))
            .await
    }

    async fn commit(&self, commit: Commit) -> StoreResult<()> {
        self.blocking(move |db| apply_commit(db, commit)).await
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

    async fn reviews_of_school(&self, uai: &Uai) -> StoreResult<Vec<Review>> {
        let key = uai.as_str().to_owned();
        self.blocking(move |db| Self::reviews_by(db, SCHOOL_REVIEWS, &key))
            .await
    }

    async fn open_disputes(&self, arbitrator: Option<&ArbitratorRef>) -> StoreResult<Vec<Review>> {
        let key = arbitrator.map(arbitrator_key);
        self.blocking(move |db| match key {
            Some(k) => Self::reviews_by(db, DISPUTES, &k),
            None => {
                let txn = db.begin_read().map_err(other)?;
                let idx = txn.open_multimap_table(DISPUTES).map_err(other)?;
                let keys: Vec<String> = idx
                    .iter()
                    .map_err(other)?
                    .map(|row| row.map(|(k, _)| k.value().to_owned()).map_err(other))
                    .collect::<StoreResult<_>>()?;
                drop(idx);
                drop(txn);
                let mut out = Vec::new();
                for k in keys {
                    out.extend(Self::reviews_by(db, DISPUTES, &k)?);
                }
                Ok(out)
            }
        })
        .await
    }

    async fn audit_head(&self, message_id: &str) -> StoreResult<ChainHead> {
        let key = message_id.to_owned();
        self.blocking(move |db| Ok(Self::get_json(db, AUDIT_HEADS, &key)?.unwrap_or_default()))
            .await
    }

    async fn audit(&self, message_id: &str) -> StoreResult<Vec<AuditRecord>> {
        let key = message_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let t = txn.open_table(AUDIT).map_err(other)?;
            let mut out = Vec::new();
            for row in t
                .range((key.as_str(), 0)..=(key.as_str(), u64::MAX))
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
}
