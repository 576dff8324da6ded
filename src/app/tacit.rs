//! What silence decides: tacit approval when a deadline passes, and the reminders before.

use super::*;

impl Charte {
    /// Records tacit approval of a review whose deadline has passed. Idempotent: a review that is
    /// no longer pending, or not yet due, is left alone. Returns whether this call approved it.
    pub async fn expire(&self, review_id: &str) -> AppResult<bool> {
        let Some(review) = self.store.review(review_id).await? else {
            return Ok(false);
        };
        Ok(self
            .expire_many(&review.message_id, &[review_id.to_owned()])
            .await?
            > 0)
    }

    /// Records the tacit approval of several due reviews of one message in one commit (one audit
    /// extension), so that a thousand schools falling due together do not queue on the message's
    /// audit chain. Reviews no longer pending or not yet due are skipped. Returns how many it approved.
    pub async fn expire_many(&self, message_id: &str, review_ids: &[String]) -> AppResult<usize> {
        self.expire_chunk(message_id, review_ids, &mut None).await
    }

    /// [`Self::expire_many`], with the message as a previous chunk read it (`known`, used for the
    /// first attempt only, and left holding the message as this chunk read it).
    async fn expire_chunk(
        &self,
        message_id: &str,
        review_ids: &[String],
        known: &mut Option<Message>,
    ) -> AppResult<usize> {
        let mut schools: HashMap<Uai, (School, Department)> = HashMap::new();
        let mut retry = Retry::after_conflicts("conflits répétés pendant l'accord tacite");
        loop {
            retry.again()?;
            // Reviews' revisions are what the commit checks: a message changed since it was read
            // (a withdrawal) changes them too, and the next attempt reads it again.
            let message = match known.take() {
                Some(m) => m,
                None => match self.store.message(message_id).await? {
                    Some(m) => m,
                    None => return Ok(0),
                },
            };
            let now = self.now();
            let reviews = self.store.reviews(review_ids).await?;
            let mut changed = Vec::new();
            let mut entries = Vec::new();
            let mut outbox = Vec::new();
            // The schools not read yet, in one read.
            let mut unread: Vec<Uai> = reviews
                .iter()
                .filter(|r| !schools.contains_key(&r.uai))
                .map(|r| r.uai.clone())
                .collect();
            unread.sort();
            unread.dedup();
            if !unread.is_empty() {
                for school in self.store.schools_of(&unread).await? {
                    let dept = Self::department(&school)?;
                    schools.insert(school.uai.clone(), (school, dept));
                }
            }
            for review in reviews
                .into_iter()
                .filter(|r| r.state.deadline_runs() && r.message_id == message_id)
            {
                if !schools.contains_key(&review.uai) {
                    let school = self.school_or_placeholder(&review.uai).await?;
                    let dept = Self::department(&school)?;
                    schools.insert(review.uai.clone(), (school, dept));
                }
                let Some((school, dept)) = schools.get(&review.uai) else {
                    continue;
                };
                let deadline = review.deadline.as_ref().map(|d| d.expires_at);
                let ctx = TransitionContext {
                    at: now,
                    deadline,
                    department: dept,
                };
                let around = Surroundings {
                    publish_at: message.version(review.version).map(|v| v.publish_at),
                    ..Default::default()
                };
                let mut r = review.clone();
                let Ok(effects) = r.apply(ReviewEvent::Expire, ctx, around) else {
                    continue;
                };
                // The legal instant of the tacit approval, which the domain has recorded.
                let at = r.decided_at.unwrap_or(now);
                outbox.extend(self.notice_emails(
                    &effects.notices,
                    &message,
                    &r,
                    school,
                    dept,
                    None,
                    now,
                ));
                entries.push(review_entry(
                    None,
                    at,
                    AuditAction::TacitlyApproved,
                    &r,
                    None,
                ));
                changed.push(r);
            }
            if changed.is_empty() {
                *known = Some(message);
                return Ok(0);
            }
            let n = changed.len();
            if self
                .commit_chained(
                    &message,
                    entries,
                    Commit {
                        reviews: changed,
                        outbox,
                        ..Default::default()
                    },
                )
                .await?
            {
                tracing::info!(message = %message_id, accords_tacites = n, "accord tacite acquis");
                self.tacit_approvals
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                *known = Some(message);
                return Ok(n);
            }
            // Someone else moved: the next attempt re-reads; reviews they approved are skipped.
        }
    }

    /// Records tacit approval of every review due now, in bounded batches; returns how many.
    /// Safe with several replicas: each commit re-checks revisions, so a review is approved once;
    /// a replica that keeps losing races on a message leaves it to the one that wins.
    pub async fn sweep_due(&self, batch: usize) -> AppResult<usize> {
        use rand::seq::SliceRandom;
        let mut approved = 0;
        loop {
            let due = self.store.due_reviews(self.now(), batch).await?;
            if due.is_empty() {
                return Ok(approved);
            }
            let mut messages: Vec<String> = self
                .store
                .reviews(&due)
                .await?
                .into_iter()
                .map(|r| r.message_id)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            // Replicas sweeping the same backlog start at different messages, so they rarely collide.
            messages.shuffle(&mut rand::thread_rng());
            let mut progressed = false;
            for message_id in messages {
                // Every school of the message due now, a full commit at a time: a national
                // backlog falls due at one instant, and the batch above mixes its messages.
                // Its due schools are read several commits ahead, and the message once for them:
                // a commit's own reads are then only the reviews and schools it changes.
                let ahead = SWEEP_CHUNK * SWEEP_AHEAD;
                let mut known = None;
                'message: loop {
                    let now = self.now();
                    let ids = self
                        .store
                        .due_reviews_of_message(&message_id, now, ahead)
                        .await?;
                    let mut n = 0;
                    for chunk in ids.chunks(SWEEP_CHUNK) {
                        match self.expire_chunk(&message_id, chunk, &mut known).await {
                            Ok(k) => n += k,
                            Err(AppError::Conflict(_)) => {
                                progressed = true;
                                break 'message;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    approved += n;
                    progressed |= n > 0;
                    if ids.len() < ahead || n == 0 {
                        break;
                    }
                }
            }
            if !progressed {
                // Everything due was handled elsewhere but is still indexed: avoid spinning.
                return Ok(approved);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Queues, once per review, the reminder to a head who has not answered when the review's
    /// last day begins (one business day before tacit approval). Safe with several replicas:
    /// the reminder's id is fixed and the store refuses a second one; the commit re-checks
    /// the review's revision, so a head who answers meanwhile gets no reminder. Returns how
    /// many it queued.
    pub async fn queue_reminders(&self, limit: usize) -> AppResult<usize> {
        let now = self.now();
        // A last day lasts at most 25 hours (the autumn clock change).
        let horizon = now + time::Duration::hours(26);
        let ids = self.store.due_reviews(horizon, limit).await?;
        let mut queued = 0;
        for review in self.store.reviews(&ids).await? {
            let Some(deadline) = review.deadline.as_ref().map(|d| d.expires_at) else {
                continue;
            };
            if !review.state.deadline_runs() || deadline <= now {
                continue;
            }
            let id = notification::reminder_id(&review.id);
            if self.store.mail_delivery(&id).await?.is_some() {
                continue;
            }
            let school = self.school_or_placeholder(&review.uai).await?;
            let dept = Self::department(&school)?;
            if notification::reminder_at(&review, &dept).is_none_or(|at| at > now) {
                continue;
            }
            let Some(message) = self.store.message(&review.message_id).await? else {
                continue;
            };
            if message.withdrawn.is_some() {
                continue;
            }
            let sref = SchoolRef {
                name: &school.name,
                uai: school.uai.as_str(),
                department: &dept,
            };
            let Some(mail) = compose::review_reminder(
                &message,
                &review,
                &sref,
                &self.authority_name(&message.authority_id),
                Self::head_recipients(&school),
                &self.widget_url,
                now,
            )
            .filter(|m| !m.to.is_empty()) else {
                continue;
            };
            // Rewriting the review unchanged makes the commit conditional on its revision.
            if self
                .commit(
                    Commit {
                        reviews: vec![review],
                        outbox: vec![mail],
                        ..Default::default()
                    },
                    None,
                )
                .await?
            {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Queues, for each dispute still waiting, one reminder to its arbitrator per day of waiting
    /// (the charter makes arbitration urgent). Idempotent: each day's reminder has a fixed id.
    pub async fn queue_dispute_reminders(&self) -> AppResult<usize> {
        let now = self.now();
        let mut queued = 0;
        for review in self.store.open_disputes(None).await? {
            let (Some(escalation), Some(arbitrator)) = (&review.escalation, &review.arbitrator)
            else {
                continue;
            };
            let day = (now - escalation.at).whole_days();
            if day < 1 {
                continue;
            }
            let id = notification::dispute_reminder_id(&review.id, day);
            if self.store.mail_delivery(&id).await?.is_some() {
                continue;
            }
            let Some(contact) = self.directory.arbitrator_contact(arbitrator) else {
                continue;
            };
            let Some(message) = self.store.message(&review.message_id).await? else {
                continue;
            };
            let school = self.school_or_placeholder(&review.uai).await?;
            let dept = Self::department(&school)?;
            let sref = SchoolRef {
                name: &school.name,
                uai: school.uai.as_str(),
                department: &dept,
            };
            let Some(mail) = compose::dispute_reminder(
                &message,
                &review,
                &sref,
                &self.authority_name(&message.authority_id),
                &contact.name,
                vec![contact.email.to_string()],
                day,
                now,
            ) else {
                continue;
            };
            // Conditional on the review: a decision taken meanwhile cancels the reminder.
            if self
                .commit(
                    Commit {
                        reviews: vec![review],
                        outbox: vec![mail],
                        ..Default::default()
                    },
                    None,
                )
                .await?
            {
                queued += 1;
            }
        }
        Ok(queued)
    }
}
