//! Co-validation of an evaluation communication by academic services.

use super::*;

impl Charte {
    /// Co-validates an evaluation message for the actor's académie and opens its schools' reviews.
    pub async fn coproduce(&self, actor: &Actor, message_id: &str) -> AppResult<MessageView> {
        access::require(actor, Action::Coproduce)?;
        let academie = actor.academie.clone().unwrap_or_default();
        let mut retry = Retry::after_conflicts(
            "La communication est très sollicitée en ce moment : réessayez.",
        );
        loop {
            retry.again()?;
            let mut message = self
                .store
                .message(message_id)
                .await?
                .ok_or_else(|| not_found("Communication"))?;
            let schools: Vec<School> = self
                .schools_in_order(&message.targets)
                .await?
                .into_iter()
                .filter(|s| s.academie_code == academie)
                .collect();
            if schools.is_empty() {
                return Err(not_found("Communication"));
            }
            if message.purpose != Purpose::Evaluation {
                return Err(AppError::Conflict("Cette communication n'est pas une communication d'évaluation : elle ne demande pas de co-validation.".into()));
            }
            if message.withdrawn.is_some() {
                return Err(AppError::Conflict(
                    "La communication a été retirée par la collectivité.".into(),
                ));
            }
            if let Some(c) = message
                .coproduction
                .iter()
                .find(|c| c.academie_code == academie)
            {
                return Err(AppError::Conflict(format!(
                    "L'académie {academie} a déjà co-validé cette communication le {} ({}).",
                    crate::domain::calendar::instant_in_words(c.at, &Department::paris()),
                    c.by
                )));
            }
            let now = self.now();
            message.coproduction.push(Coproduction {
                academie_code: academie.clone(),
                at: now,
                by: actor.name.clone(),
            });
            let version = message.current_version().clone();
            let authority_name = self.authority_name(&message.authority_id);
            let mut entries = vec![{
                let mut e = entry(actor, now, AuditAction::Coproduced);
                e.version = Some(version.number);
                e.version_hash = Some(version.hash.clone());
                e
            }];
            let mut reviews = Vec::new();
            let mut outbox = Vec::new();
            for school in &schools {
                let (review, mail) =
                    self.open_for_school(&message, &version, school, None, now, &authority_name)?;
                outbox.extend(mail);
                entries.push(review_entry(
                    Some(actor),
                    now,
                    AuditAction::ReviewOpened,
                    &review,
                    None,
                ));
                reviews.push(review);
            }
            if self
                .commit_chained(
                    &message,
                    entries,
                    Commit {
                        messages: vec![message.clone()],
                        reviews,
                        outbox,
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
}
