//! The decisions people take on a review: a head's, the representative's escalation, the arbitrator's.

use super::*;

impl Charte {
    /// Approve or request a rectification, as the school's head.
    pub async fn head_decides(
        &self,
        actor: &Actor,
        review_id: &str,
        event: ReviewEvent,
        motive: Option<String>,
    ) -> AppResult<ReviewDetail> {
        access::require(actor, Action::Review)?;
        let motive = match event {
            ReviewEvent::RequestRectification => Some(
                Motive::parse("motive", motive.as_deref())
                    .map_err(|v| AppError::Invalid(vec![v]))?,
            ),
            // Listed, not `_`: a new head event must say whether it carries a motive.
            ReviewEvent::Approve
            | ReviewEvent::Expire
            | ReviewEvent::Supersede
            | ReviewEvent::Escalate
            | ReviewEvent::Authorise
            | ReviewEvent::Uphold
            | ReviewEvent::Withdraw => None,
        };
        self.apply(actor, review_id, event, motive).await
    }

    /// Escalate a dispute to the arbitrator, as the authority's representative.
    pub async fn escalate(
        &self,
        actor: &Actor,
        review_id: &str,
        statement: Option<String>,
    ) -> AppResult<ReviewDetail> {
        access::require(actor, Action::Escalate)?;
        let statement = Motive::parse("statement", statement.as_deref())
            .map_err(|v| AppError::Invalid(vec![v]))?;
        self.apply(actor, review_id, ReviewEvent::Escalate, Some(statement))
            .await
    }

    /// Settle a dispute, as its arbitrator.
    pub async fn arbitrate(
        &self,
        actor: &Actor,
        review_id: &str,
        decision: ArbitrationDecision,
        motive: Option<String>,
    ) -> AppResult<ReviewDetail> {
        access::require(actor, Action::Arbitrate)?;
        let motive =
            Motive::parse("motive", motive.as_deref()).map_err(|v| AppError::Invalid(vec![v]))?;
        let event = match decision {
            ArbitrationDecision::Authorise => ReviewEvent::Authorise,
            ArbitrationDecision::Uphold => ReviewEvent::Uphold,
        };
        self.apply(actor, review_id, event, Some(motive)).await
    }

    /// Applies one event to one review, with its audit record and emails, in one commit.
    pub(super) async fn apply(
        &self,
        actor: &Actor,
        review_id: &str,
        event: ReviewEvent,
        motive: Option<Motive>,
    ) -> AppResult<ReviewDetail> {
        let mut retry =
            Retry::after_conflicts("La revue est très sollicitée en ce moment : réessayez.");
        loop {
            retry.again()?;
            // One read for the review, its message, its school and their audit chains.
            let context = self
                .store
                .review_context(review_id)
                .await?
                .filter(|c| access::sees_review(actor, &c.review))
                .ok_or_else(|| not_found("Revue"))?;
            let (review, message) = (&context.review, &context.message);
            if event == ReviewEvent::Escalate && !access::speaks_for(actor, &message.authority_id) {
                return Err(not_found("Revue"));
            }
            let school = match &context.school {
                Some(s) => s.clone(),
                None => self.school_or_placeholder(&review.uai).await?,
            };
            let dept = Self::department(&school)?;
            let now = self.now();
            let ctx = TransitionContext {
                at: now,
                deadline: review.deadline.as_ref().map(|d| d.expires_at),
                department: &dept,
            };
            let around = Surroundings {
                publish_at: message.version(review.version).map(|v| v.publish_at),
                arbitrator: (event == ReviewEvent::Escalate).then(|| arbitrator_for(&school)),
                statement: motive.as_ref().map(|m| statement(actor, now, m)),
            };
            let mut r = review.clone();
            let effects = match r.apply(event, ctx, around) {
                Ok(effects) => effects,
                Err(refusal @ Refusal::DeadlineExpired { .. }) => {
                    // The answer came too late: record the tacit approval now rather than leave it to the sweep.
                    self.expire(review_id).await?;
                    return Err(refusal.into());
                }
                Err(r) => return Err(r.into()),
            };
            let outbox =
                self.notice_emails(&effects.notices, message, &r, &school, &dept, None, now);
            // What the store now holds: the response needs no second read.
            let mut committed = r.clone();
            committed.revision += 1;
            if let Some(written) = self
                .commit_chained_from(
                    message,
                    vec![review_entry(
                        Some(actor),
                        now,
                        event.action(),
                        &r,
                        motive.as_ref().map(Motive::as_str),
                    )],
                    Commit {
                        reviews: vec![r],
                        outbox,
                        ..Default::default()
                    },
                    Some(&context),
                )
                .await?
            {
                // The school's history as it now stands: what was read, and what was just written.
                let mut audit = context.audit.clone();
                audit.extend(written);
                return self
                    .present_review_detail_from(message, &committed, context.school.clone(), audit)
                    .await;
            }
            // Lost a race: the next attempt re-reads; if the review itself moved, the transition
            // then refuses with its new state.
        }
    }
}
