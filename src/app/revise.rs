//! A new version of a message, answering rectification requests: reviewed anew where it is to appear.

use super::*;

impl Charte {
    pub(super) fn new_version(
        number: u32,
        content: ValidContent,
        actor: &Actor,
        now: OffsetDateTime,
        note: Option<String>,
    ) -> Version {
        let hash = content.hash();
        Version {
            number,
            title: content.title,
            body_html: content.body_html,
            audience: content.audience,
            publish_at: content.publish_at,
            display_until: content.display_until,
            hash,
            submitted_at: now,
            submitted_by: actor.name.clone(),
            change_note: note,
            sanitised: content.sanitised,
            warnings: content.warnings,
        }
    }

    pub(super) async fn load_message_for_authority(
        &self,
        actor: &Actor,
        id: &str,
    ) -> AppResult<Message> {
        let authority_id = Self::require_authority(actor)?;
        match self.store.message(id).await? {
            Some(m) if m.authority_id == authority_id => Ok(m),
            _ => Err(not_found("Communication")),
        }
    }

    /// Submits a rectified version: supersedes the open reviews and opens new ones with a fresh deadline.
    pub async fn submit_version(
        &self,
        actor: &Actor,
        message_id: &str,
        nv: NewVersion,
    ) -> AppResult<MessageView> {
        // A new version supersedes every open review: they must all be open first.
        self.finish_fan_out(message_id).await?;
        let mut retry = Retry::after_conflicts(
            "La communication est très sollicitée en ce moment : réessayez.",
        );
        loop {
            retry.again()?;
            let message = self.load_message_for_authority(actor, message_id).await?;
            if message.withdrawn.is_some() {
                return Err(AppError::Conflict("La communication a été retirée : elle ne peut plus recevoir de nouvelle version.".into()));
            }
            if message.kind == MessageKind::Emergency {
                return Err(AppError::Conflict(
                    "Une communication d'urgence est publiée sans examen : retirez-la et soumettez une nouvelle communication.".into(),
                ));
            }
            let now = self.now();
            let current_version = message.current_version();
            let draft = over_current(current_version, nv.draft.clone());
            let mut content = validate_content(&draft, now).map_err(AppError::Invalid)?;
            if content.hash() == current_version.hash {
                return Err(AppError::invalid(
                    "$",
                    "La nouvelle version est identique à la version en vigueur (même empreinte) : elle relancerait le délai d'examen sans rien à examiner. Modifiez le titre, le corps, le public ou les dates.",
                ));
            }
            let reviews = self.store.reviews_of_message(message_id).await?;
            let current = current_reviews(&reviews);
            let coproduced: BTreeSet<String> = message
                .coproduction
                .iter()
                .map(|c| c.academie_code.clone())
                .collect();

            let targets: Vec<Uai> = match nv.targets.as_deref() {
                None => message
                    .targets
                    .iter()
                    .filter(|u| {
                        current
                            .get(u.as_str())
                            .is_none_or(|r| !r.state.is_publishable())
                    })
                    .cloned()
                    .collect(),
                Some(list) => {
                    let mut out = Vec::new();
                    let mut v = Vec::new();
                    for (i, raw) in list.iter().enumerate() {
                        match Uai::parse_exact(raw) {
                            Ok(u) if message.targets.contains(&u) => out.push(u),
                            Ok(u) => v.push(Violation::new(format!("targets[{i}]"), format!("L'établissement {u} n'est pas destinataire de cette communication."))),
                            Err(e) => v.push(Violation::new(format!("targets[{i}]"), e.to_string())),
                        }
                    }
                    if !v.is_empty() {
                        return Err(AppError::Invalid(v));
                    }
                    out.sort();
                    out.dedup();
                    out
                }
            };
            if targets.is_empty() {
                return Err(AppError::Conflict(
                    "Tous les établissements ont déjà approuvé une version : indiquez dans `targets` ceux qui doivent examiner la nouvelle.".into(),
                ));
            }
            let schools = self.schools_in_order(&targets).await?;
            let (window, deadlines) =
                self.check_window(message.kind, &mut content, &schools, now)?;
            if !window.is_empty() {
                return Err(AppError::Invalid(window));
            }
            let number = message.current_version().number + 1;
            let note = crate::domain::optional_note("change_note", nv.change_note.as_deref())
                .map_err(|v| AppError::Invalid(vec![v]))?;
            let version = Self::new_version(number, content, actor, now, note);
            let mut message = message;
            message.versions.push(version.clone());
            let authority_name = self.authority_name(&message.authority_id);

            let mut entries = vec![{
                let mut e = entry(actor, now, AuditAction::VersionSubmitted);
                e.version = Some(number);
                e.version_hash = Some(version.hash.clone());
                e.motive = version.change_note.clone();
                e
            }];
            let mut changed = Vec::new();
            let mut outbox = Vec::new();
            for old in reviews
                .iter()
                .filter(|r| targets.contains(&r.uai) && r.state.is_open())
            {
                let dept = Department::parse(&old.department)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                let ctx = TransitionContext {
                    at: now,
                    deadline: None,
                    department: &dept,
                };
                let mut r = old.clone();
                let effects = r.apply(ReviewEvent::Supersede, ctx, Surroundings::default())?;
                entries.push(review_entry(
                    Some(actor),
                    now,
                    AuditAction::Superseded,
                    &r,
                    None,
                ));
                if effects.notices.contains(&Notice::DisputeClosed) {
                    // The new version answers the dispute: the arbitrator has nothing left to decide.
                    let reason = format!(
                        "la collectivité a soumis une version {number} de la communication, qui sera examinée à nouveau par le chef d'établissement."
                    );
                    // Superseded reviews are among the targets, whose schools are loaded.
                    let school = match schools.iter().find(|s| s.uai == old.uai) {
                        Some(s) => s.clone(),
                        None => self.school_or_placeholder(&old.uai).await?,
                    };
                    let (e, mail) =
                        self.close_dispute(&message, &r, &school, &dept, &reason, actor, now);
                    entries.push(e);
                    outbox.extend(mail);
                }
                changed.push(r);
            }
            for (school, deadline) in schools.iter().zip(&deadlines) {
                if message.purpose == Purpose::Evaluation
                    && !coproduced.contains(&school.academie_code)
                {
                    continue;
                }
                let (review, mail) = self.open_for_school(
                    &message,
                    &version,
                    school,
                    Some(deadline),
                    now,
                    &authority_name,
                )?;
                outbox.extend(mail);
                entries.push(review_entry(
                    Some(actor),
                    now,
                    AuditAction::ReviewOpened,
                    &review,
                    None,
                ));
                changed.push(review);
            }
            if self
                .commit_chained(
                    &message,
                    entries,
                    Commit {
                        messages: vec![message.clone()],
                        reviews: changed,
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
