//! Withdrawing a message: every open review closed, every display ended, each head told.

use super::*;
use crate::domain::message::Publication;
use crate::domain::webhook::{EventFactory, EventType};

impl Charte {
    /// Withdraws a message everywhere: open reviews end, publications stop.
    pub async fn withdraw(
        &self,
        actor: &Actor,
        message_id: &str,
        motive: Option<String>,
    ) -> AppResult<MessageView> {
        // A withdrawal ends every open review: they must all be open first.
        self.finish_fan_out(message_id).await?;
        let mut retry = Retry::after_conflicts(
            "La communication est très sollicitée en ce moment : réessayez.",
        );
        loop {
            retry.again()?;
            let mut message = self.load_message_for_authority(actor, message_id).await?;
            if let Some(w) = &message.withdrawn {
                return Err(AppError::Conflict(format!(
                    "La communication a déjà été retirée le {} par {}.",
                    crate::domain::calendar::instant_in_words(w.at, &Department::paris()),
                    w.by
                )));
            }
            let now = self.now();
            let displayed = message.clone();
            let motive = crate::domain::optional_note("motive", motive.as_deref())
                .map_err(|v| AppError::Invalid(vec![v]))?;
            message.withdrawn = Some(Withdrawal {
                at: now,
                by: actor.name.clone(),
                motive: motive.clone(),
            });
            let reviews = self.store.reviews_of_message(message_id).await?;
            // The schools displaying it now see their display end with the withdrawal.
            let factory = EventFactory {
                message: &displayed,
            };
            let live: BTreeMap<&Uai, Publication> = reviews
                .iter()
                .filter_map(|r| {
                    let p = Publication::of(&displayed, r).filter(|p| p.is_live(now))?;
                    Some((&r.uai, p))
                })
                .collect();
            let events: Vec<_> = live
                .iter()
                .map(|(uai, p)| factory.display(EventType::PublicationEnded, uai, p, now))
                .collect();
            // Every school told of the withdrawal, read at once.
            let mut uais: Vec<Uai> = reviews.iter().map(|r| r.uai.clone()).collect();
            uais.sort();
            uais.dedup();
            let schools: HashMap<Uai, School> = self
                .schools_in_order(&uais)
                .await?
                .into_iter()
                .map(|s| (s.uai.clone(), s))
                .collect();
            let mut entries = vec![{
                let mut e = entry(actor, now, AuditAction::Withdrawn);
                e.motive = motive.clone();
                e
            }];
            let mut changed = Vec::new();
            let mut notified = BTreeSet::new();
            let mut outbox = Vec::new();
            let authority_name = self.authority_name(&message.authority_id);
            for r in &reviews {
                let dept = Department::parse(&r.department)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                let ctx = TransitionContext {
                    at: now,
                    deadline: None,
                    department: &dept,
                };
                let mut r2 = r.clone();
                if let Ok(effects) = r2.apply(ReviewEvent::Withdraw, ctx, Surroundings::default()) {
                    entries.push(review_entry(
                        Some(actor),
                        now,
                        AuditAction::Withdrawn,
                        &r2,
                        motive.as_deref(),
                    ));
                    let first_of_school = notified.insert(r.uai.clone());
                    let disputed = effects.notices.contains(&Notice::DisputeClosed);
                    if first_of_school || disputed {
                        let school = schools.get(&r.uai).cloned().ok_or_else(|| {
                            AppError::Internal(format!(
                                "établissement {} absent de l'annuaire",
                                r.uai
                            ))
                        })?;
                        if disputed {
                            let (e, mail) = self.close_dispute(
                                &message,
                                &r2,
                                &school,
                                &dept,
                                "la collectivité a retiré la communication.",
                                actor,
                                now,
                            );
                            entries.push(e);
                            outbox.extend(mail);
                        }
                        if first_of_school {
                            let sref = SchoolRef {
                                name: &school.name,
                                uai: school.uai.as_str(),
                                department: &dept,
                            };
                            let mail = compose::withdrawal_notice(
                                &message,
                                &sref,
                                &authority_name,
                                Self::head_recipients(&school),
                                now,
                            );
                            if !mail.to.is_empty() {
                                outbox.push(mail);
                            }
                        }
                    }
                    changed.push(r2);
                }
            }
            if self
                .commit_chained(
                    &message,
                    entries,
                    Commit {
                        messages: vec![message.clone()],
                        reviews: changed,
                        outbox,
                        events,
                        unschedule: vec![message.id.clone()],
                        ..Default::default()
                    },
                )
                .await?
            {
                return self.get_message(actor, message_id).await;
            }
            // Lost a race: the next attempt re-reads.
        }
    }

    /// A dispute ended without decision: its audit record, and the email telling its arbitrator
    /// why (`reason`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn close_dispute(
        &self,
        message: &Message,
        review: &Review,
        school: &School,
        dept: &Department,
        reason: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> (AuditEntry, Vec<OutboxEmail>) {
        let audit = review_entry(
            Some(actor),
            now,
            AuditAction::DisputeClosed,
            review,
            Some(reason),
        );
        let closed = [Notice::DisputeClosed];
        let mail = self.notice_emails(&closed, message, review, school, dept, Some(reason), now);
        (audit, mail)
    }
}
