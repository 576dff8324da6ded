//! Operators' views and housekeeping: the outbox, dead letters, retention, read-model backfill.

use super::*;

impl Charte {
    /// Builds the read models (schools' feeds, message summaries, timelines) from the stored
    /// records, once per store: data written before they existed gets them at the first start.
    /// Each message is rewritten unchanged with its reviews, so the store derives them as it does
    /// for every commit. Returns how many messages it indexed.
    pub async fn index_read_models_once(&self) -> AppResult<usize> {
        // Named after the format of the read models: a new format indexes them anew.
        const DONE: &str = "read_models_indexed_v4";
        if self.store.meta(DONE).await?.is_some() {
            return Ok(0);
        }
        let messages = self.store.all_messages().await?;
        for message in &messages {
            let mut message = message.clone();
            if message.academies.is_empty() {
                message.academies = self
                    .message_academies(&message)
                    .await?
                    .into_iter()
                    .collect();
            }
            let mut reviews = self.store.reviews_of_message(&message.id).await?;
            // Older reviews first, so that each school ends with its current one.
            reviews.sort_by_key(|r| (r.version, r.opened_at));
            let key = crate::store::timeline_key(&message);
            let mut timelines: Vec<crate::store::TimelineEntry> = reviews
                .iter()
                .map(|r| crate::store::TimelineEntry {
                    scope: crate::store::school_timeline(&r.uai),
                    key: key.clone(),
                    message_id: message.id.clone(),
                })
                .collect();
            timelines.dedup();
            let c = Commit {
                messages: vec![message.clone()],
                reviews,
                timelines,
                ..Default::default()
            };
            if !self.commit(c, Some(&message)).await? {
                return Err(AppError::Conflict(
                    "Une écriture concurrente a interrompu l'indexation : redémarrez le service."
                        .into(),
                ));
            }
        }
        self.store.set_meta(DONE, "1").await?;
        Ok(messages.len())
    }

    /// Queued emails, for administrators.
    pub async fn outbox(&self, actor: &Actor, q: &ListQuery) -> AppResult<OutboxPage> {
        access::require(actor, Action::Administer)?;
        let limit = page_size(q)?;
        let after = decode_cursor(q)?;
        // One more than the page, to know whether another follows.
        let Some(mut items) = self.store.outbox_after(after.as_deref(), limit + 1).await? else {
            return Err(AppError::invalid(
                "cursor",
                "Curseur inconnu : reprenez la valeur `next_cursor` de la page précédente.",
            ));
        };
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = match (more, items.last()) {
            (true, Some(last)) => Some(encode_cursor(&last.email.id)),
            _ => None,
        };
        let items = items
            .into_iter()
            .map(|t| OutboxItem {
                status_label: t.delivery.status.label().to_owned(),
                email: t.email,
                delivery: t.delivery,
            })
            .collect();
        Ok(OutboxPage { items, next_cursor })
    }

    /// Forgets delivered emails and idempotency keys older than `retention`, a thousand at a
    /// time until none is left; idempotent. The audit trail stays. Measured in real time, as the
    /// store records deliveries (not on the workflow's clock, which a demo may speed up).
    pub async fn expire_old(&self, retention: std::time::Duration) -> AppResult<usize> {
        const BATCH: usize = 1000;
        let before = OffsetDateTime::now_utc() - retention;
        let mut total = 0;
        loop {
            let n = self.store.expire_before(before, BATCH).await?;
            total += n;
            if n < BATCH {
                break;
            }
        }
        loop {
            let n = self.store.expire_webhook_records(before, BATCH).await?;
            total += n;
            if n < BATCH {
                return Ok(total);
            }
        }
    }

    /// Emails given up on after too many failures, for administrators.
    pub async fn dead_letters(
        &self,
        actor: &Actor,
        limit: usize,
    ) -> AppResult<Vec<crate::store::TrackedEmail>> {
        access::require(actor, Action::Administer)?;
        if !(1..=1000).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("Le nombre demandé doit être compris entre 1 et 1000 (reçu {limit})."),
            ));
        }
        Ok(self.store.dead_letters(limit).await?)
    }

    /// Queues a dead letter again (administrators), once the cause has been fixed.
    pub async fn retry_dead_letter(
        &self,
        actor: &Actor,
        id: &str,
    ) -> AppResult<crate::store::TrackedEmail> {
        use crate::store::Requeue;
        access::require(actor, Action::Administer)?;
        match self.store.requeue_dead_letter(id).await? {
            Requeue::Done(tracked) => {
                tracing::info!(courriel = %id, acteur = %actor.subject, "courriel abandonné remis en file");
                self.store.mail_queued().notify_one();
                Ok(*tracked)
            }
            Requeue::NotDead(status) => Err(AppError::Conflict(format!(
                "Ce courriel n'est pas en échec définitif (il est {}) : il n'y a rien à relancer.",
                status.label()
            ))),
            Requeue::NotFound => Err(not_found("Courriel")),
        }
    }
}

/// What the service's own workers and probes reach through the use cases rather than the
/// store: the deadline scheduler, the fan-out worker, the mail worker, readiness and metrics.
impl Charte {
    /// Whether the store answers (readiness).
    pub async fn ready(&self) -> AppResult<()> {
        Ok(self.store.ping().await?)
    }

    /// How much faster than real time the clock runs (1 but in an accelerated demo).
    pub fn clock_speed(&self) -> u32 {
        self.clock.speed()
    }

    /// The soonest deadline of any pending review.
    pub async fn next_deadline(&self) -> AppResult<Option<OffsetDateTime>> {
        Ok(self.store.next_deadline().await?)
    }

    /// Waits until a nearer deadline may have appeared (or [`Self::wake_scheduler`] is called).
    pub async fn deadline_added(&self) {
        self.wake.notified().await
    }

    /// Wakes the deadline scheduler, whose clock has moved.
    pub fn wake_scheduler(&self) {
        self.wake.notify_one()
    }

    /// Waits until a submission leaves reviews for the fan-out worker to open.
    pub async fn fan_out_queued(&self) {
        self.fan_outs.notified().await
    }

    /// Tacit approvals this instance recorded since it started.
    pub fn tacit_approvals_recorded(&self) -> u64 {
        self.tacit_approvals
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many reviews are pending, and how many fall due by `until`.
    pub async fn deadline_counts(&self, until: OffsetDateTime) -> AppResult<(u64, u64)> {
        Ok(self.store.deadline_counts(until).await?)
    }

    /// Every dispute waiting for its arbitrator.
    pub async fn waiting_disputes(&self) -> AppResult<Vec<Review>> {
        Ok(self.store.open_disputes(None).await?)
    }

    /// Emails queued, sent and given up on.
    pub async fn mail_counts(&self) -> AppResult<crate::store::MailCounts> {
        Ok(self.store.mail_counts().await?)
    }

    /// Signalled whenever an email is queued.
    pub fn mail_queued(&self) -> Arc<Notify> {
        self.store.mail_queued()
    }

    /// Claims up to `limit` emails due now for `lease` (see [`Store::claim_mail`]).
    pub async fn claim_mail(
        &self,
        lease: std::time::Duration,
        limit: usize,
    ) -> AppResult<Vec<crate::store::ClaimedMail>> {
        Ok(self.store.claim_mail(lease, limit).await?)
    }

    /// Records the outcome of an attempt on a claimed email (see [`Store::finish_mail`]).
    pub async fn finish_mail(
        &self,
        id: &str,
        token: &str,
        outcome: crate::store::MailOutcome,
    ) -> AppResult<bool> {
        Ok(self.store.finish_mail(id, token, outcome).await?)
    }
}
