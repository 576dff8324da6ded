//! Submitting a message: its targets checked, version 1 frozen, the first reviews opened (or an emergency published), in one commit.

use super::*;

impl Charte {
    /// Opens a school's review of `version` and writes the email that goes with it: the
    /// exhaustive content to review, or, for an emergency, the copy of what was published.
    pub(super) fn open_for_school(
        &self,
        message: &Message,
        version: &Version,
        school: &School,
        deadline: Option<&Deadline>,
        now: OffsetDateTime,
        authority_name: &str,
    ) -> AppResult<(Review, Option<OutboxEmail>)> {
        let emergency = message.kind == MessageKind::Emergency;
        let state = if emergency {
            ReviewState::EmergencyPublished
        } else {
            ReviewState::Pending
        };
        let review = self.open_review(message, version, school, now, state, deadline)?;
        let dept = Self::department(school)?;
        let sref = SchoolRef {
            name: &school.name,
            uai: school.uai.as_str(),
            department: &dept,
        };
        let to = Self::head_recipients(school);
        let mail = if emergency {
            compose::emergency_copy(message, &review, &sref, authority_name, to, now)
        } else {
            compose::review_request(
                message,
                &review,
                &sref,
                authority_name,
                to,
                &self.widget_url,
                now,
            )
        };
        Ok((review, mail.filter(|m| !m.to.is_empty())))
    }

    /// A school's review deadline for a period of `days` business days opened `now`.
    pub(super) fn school_deadline(
        &self,
        school: &School,
        days: u32,
        now: OffsetDateTime,
    ) -> AppResult<(Department, Deadline)> {
        let dept = Self::department(school)?;
        let zone = zone_for_academie(&school.academie_name);
        let d = self.calendar.deadline(DeadlineQuery {
            submitted_at: now,
            business_days: days,
            department: &dept,
            zone: zone.as_ref(),
        });
        Ok((dept, d))
    }

    /// The display-window rule of the charter, against each school's fresh review deadline;
    /// also returns those deadlines (in the order of `schools`; none for an emergency), so the
    /// reviews opened next need not compute them again.
    pub(super) fn check_window(
        &self,
        kind: MessageKind,
        content: &mut crate::domain::message::ValidContent,
        schools: &[School],
        now: OffsetDateTime,
    ) -> AppResult<(Vec<Violation>, Vec<Deadline>)> {
        let Some(days) = kind.review_days() else {
            return Ok((vec![], vec![]));
        };
        let deadlines = self.deadlines_of(schools, days, now)?;
        let departments = schools
            .iter()
            .map(Self::department)
            .collect::<AppResult<Vec<_>>>()?;
        let refs: Vec<_> = schools
            .iter()
            .zip(&departments)
            .zip(&deadlines)
            .map(|((s, dept), d)| crate::domain::message::SchoolDeadline {
                uai: s.uai.as_str(),
                name: &s.name,
                department: dept,
                deadline: d,
            })
            .collect();
        let violations = crate::domain::message::check_display_window(content, &refs);
        Ok((violations, deadlines))
    }

    pub(super) fn open_review(
        &self,
        message: &Message,
        version: &Version,
        school: &School,
        now: OffsetDateTime,
        state: ReviewState,
        computed: Option<&Deadline>,
    ) -> AppResult<Review> {
        let deadline = match (state, message.kind.review_days()) {
            (state, Some(days)) if state.deadline_runs() => {
                let d = match computed {
                    Some(d) => d.clone(),
                    None => self.school_deadline(school, days, now)?.1,
                };
                Some(ReviewDeadline {
                    expires_at: d.expires_at,
                    last_day: d.last_day,
                    business_days: days,
                    mode: d.mode,
                    school_holiday_warning: d.school_holiday_warning,
                })
            }
            _ => None,
        };
        let published = state.is_publishable();
        Ok(Review {
            id: uuid::Uuid::new_v4().to_string(),
            message_id: message.id.clone(),
            authority_id: message.authority_id.clone(),
            uai: school.uai.clone(),
            department: school.department.clone(),
            academie_code: school.academie_code.clone(),
            version: version.number,
            version_hash: version.hash.clone(),
            state,
            opened_at: now,
            deadline,
            decided_at: published.then_some(now),
            rectification: None,
            escalation: None,
            arbitrator: None,
            arbitration: None,
            live_from: published.then(|| version.publish_at.max(now)),
            revision: 0,
        })
    }

    /// Resolves and checks target UAIs: known to the directory and within the authority's remit.
    pub(super) async fn resolve_targets(
        &self,
        authority_id: &str,
        raw: Option<&[String]>,
    ) -> AppResult<Vec<School>> {
        let authority = self.directory.authority(authority_id).ok_or_else(|| {
            AppError::Forbidden(format!(
                "La collectivité « {authority_id} » de votre jeton est inconnue de l'annuaire."
            ))
        })?;
        let raw = match raw {
            None | Some([]) => {
                return Err(AppError::invalid(
                    "targets",
                    "Indiquez au moins un établissement destinataire (codes UAI).",
                ));
            }
            Some(r) => r,
        };
        if raw.len() > MAX_TARGETS {
            return Err(AppError::invalid(
                "targets",
                "10 000 établissements au plus par communication : partagez les destinataires entre plusieurs communications.",
            ));
        }
        let mut violations = Vec::new();
        let mut seen = BTreeSet::new();
        let mut wanted = Vec::with_capacity(raw.len());
        for (i, code) in raw.iter().enumerate() {
            match Uai::parse_exact(code) {
                Ok(uai) => {
                    if seen.insert(uai.clone()) {
                        wanted.push((i, uai));
                    }
                }
                Err(e) => violations.push(Violation::new(format!("targets[{i}]"), e.to_string())),
            }
        }
        // One read for every school, whatever their number.
        let uais: Vec<Uai> = wanted.iter().map(|(_, u)| u.clone()).collect();
        let mut found: HashMap<Uai, School> = self
            .store
            .schools_of(&uais)
            .await?
            .into_iter()
            .map(|s| (s.uai.clone(), s))
            .collect();
        let mut schools = Vec::with_capacity(wanted.len());
        for (i, uai) in wanted {
            let field = format!("targets[{i}]");
            match found.remove(&uai) {
                None => violations.push(Violation::new(
                    field,
                    format!(
                        "L'établissement {uai} est inconnu de l'annuaire : vérifiez le code UAI."
                    ),
                )),
                Some(school) => match check_remit(authority, &school) {
                    Ok(()) => schools.push(school),
                    Err(refusal) => violations.push(Violation::new(field, refusal.to_string())),
                },
            }
        }
        violations.sort_by_key(|v| {
            v.field
                .trim_start_matches("targets[")
                .trim_end_matches(']')
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        });
        if violations.is_empty() {
            Ok(schools)
        } else {
            Err(AppError::Invalid(violations))
        }
    }

    pub(super) fn require_authority(actor: &Actor) -> AppResult<String> {
        Ok(access::writing_authority(actor)?.to_owned())
    }

    /// Submits a message: freezes version 1, opens one review per school (or publishes an
    /// emergency at once), queues the emails, all in one commit.
    pub async fn submit(
        &self,
        actor: &Actor,
        sub: Submission,
        idempotency: Option<(String, String)>,
    ) -> AppResult<(MessageView, bool)> {
        let authority_id = Self::require_authority(actor)?;
        let scoped_key = idempotency
            .as_ref()
            .map(|(k, h)| (format!("{authority_id}:{k}"), h.clone()));
        if let Some((key, hash)) = &scoped_key
            && let Some(view) = self.replay(actor, key, hash).await?
        {
            return Ok((view, false));
        }

        let now = self.now();
        let mut violations = Vec::new();
        let kind = match sub.kind.as_deref() {
            None | Some("") => {
                violations.push(Violation::new(
                    "kind",
                    "Le type est obligatoire : recurring, one_off ou emergency.",
                ));
                None
            }
            Some(k) => {
                let parsed = MessageKind::parse(k);
                if parsed.is_none() {
                    violations.push(Violation::new(
                        "kind",
                        format!("Type inconnu « {k} » : recurring, one_off ou emergency."),
                    ));
                }
                parsed
            }
        };
        let purpose = match sub.purpose.as_deref() {
            None | Some("information") => Purpose::Information,
            Some("evaluation") => Purpose::Evaluation,
            Some(p) => {
                violations.push(Violation::new(
                    "purpose",
                    format!("Finalité inconnue « {p} » : information ou evaluation."),
                ));
                Purpose::Information
            }
        };
        let content = validate_content(&sub.draft, now)
            .map_err(|v| violations.extend(v))
            .ok();
        if let (Some(MessageKind::Emergency), Some(c)) = (kind, &content)
            && c.publish_at > now + time::Duration::minutes(5)
        {
            violations.push(Violation::new(
                "publish_at",
                "Une communication d'urgence est publiée immédiatement, en même temps que sa copie aux chefs d'établissement : la date de publication ne peut pas être future.",
            ));
        }
        let emergency = if kind == Some(MessageKind::Emergency) {
            if purpose == Purpose::Evaluation {
                violations.push(Violation::new(
                    "purpose",
                    "Une communication d'évaluation ne peut pas être publiée en urgence.",
                ));
            }
            validate_emergency(
                sub.emergency_category.as_deref(),
                sub.emergency_justification.as_deref(),
            )
            .map_err(|v| violations.extend(v))
            .ok()
        } else {
            if sub.emergency_declared {
                violations.push(Violation::new(
                    "emergency",
                    "Une déclaration d'urgence n'accompagne que le type « emergency ».",
                ));
            }
            None
        };
        let schools = match self
            .resolve_targets(&authority_id, sub.targets.as_deref())
            .await
        {
            Ok(s) => s,
            Err(AppError::Invalid(v)) => {
                violations.extend(v);
                vec![]
            }
            Err(e) => return Err(e),
        };
        let mut content = content;
        let mut deadlines = vec![];
        if let (Some(k), Some(c)) = (kind, content.as_mut()) {
            let (window, computed) = self.check_window(k, c, &schools, now)?;
            violations.extend(window);
            deadlines = computed;
        }
        let (Some(kind), Some(content), true) = (kind, content, violations.is_empty()) else {
            return Err(AppError::Invalid(violations));
        };

        let version = Self::new_version(1, content, actor, now, None);
        let mut academies: Vec<String> = schools.iter().map(|s| s.academie_code.clone()).collect();
        academies.sort();
        academies.dedup();
        let message = Message {
            id: uuid::Uuid::new_v4().to_string(),
            authority_id: authority_id.clone(),
            kind,
            purpose,
            emergency,
            targets: schools.iter().map(|s| s.uai.clone()).collect(),
            academies: academies.clone(),
            versions: vec![version.clone()],
            submitted_at: now,
            submitted_by: actor.name.clone(),
            coproduction: vec![],
            withdrawn: None,
            revision: 0,
        };
        let authority_name = self.authority_name(&authority_id);
        let mut outbox = Vec::new();
        let mut first = entry(
            actor,
            now,
            if kind == MessageKind::Emergency {
                AuditAction::EmergencyPublished
            } else {
                AuditAction::Submitted
            },
        );
        first.version = Some(1);
        first.version_hash = Some(version.hash.clone());
        first.motive = message
            .emergency
            .as_ref()
            .map(|e| format!("{} — {}", e.category.label(), e.justification));
        let mut entries = vec![first];
        let mut reviews = Vec::new();
        let mut fan_out = None;

        if purpose == Purpose::Evaluation {
            for code in &academies {
                if let Some(c) = self.directory.academic_services_for(code) {
                    outbox.push(compose::coproduction_request(
                        &message,
                        &authority_name,
                        code,
                        vec![c.email.to_string()],
                        now,
                    ));
                }
            }
        } else {
            // The first chunk of reviews goes with the message; a job opens the others.
            let head = schools.len().min(fan_out::FAN_OUT_CHUNK);
            let known = (!deadlines.is_empty()).then(|| &deadlines[..head]);
            let opened = self.open_reviews(&message, &version, actor, &schools[..head], known)?;
            reviews = opened.reviews;
            outbox.extend(opened.outbox);
            entries.extend(opened.entries);
            if head < schools.len() {
                fan_out = Some(FanOut {
                    message_id: message.id.clone(),
                    actor: actor.clone(),
                    opened: head,
                    total: schools.len(),
                    created_at: now,
                    finished_at: None,
                    revision: 0,
                });
            }
        }
        if kind == MessageKind::Emergency {
            tracing::warn!(authority = %authority_id, message = %message.id, "communication d'urgence publiée");
        }
        let more = fan_out.is_some();
        let commit = Commit {
            messages: vec![message.clone()],
            reviews,
            audit: fan_out::fresh_chains(&message.id, entries),
            outbox,
            idempotency: scoped_key.as_ref().map(|(key, hash)| IdempotencyRecord {
                key: key.clone(),
                request_hash: hash.clone(),
                message_id: message.id.clone(),
            }),
            feed: vec![],
            fan_out,
            timelines: vec![],
            ..Default::default()
        };
        if !self.commit(commit, Some(&message)).await? {
            // Only the idempotency key can collide for a brand-new message: a concurrent twin won.
            if let Some((key, hash)) = &scoped_key
                && let Some(view) = self.replay(actor, key, hash).await?
            {
                return Ok((view, false));
            }
            return Err(AppError::Conflict(
                "La soumission est entrée en conflit avec une autre : réessayez.".into(),
            ));
        }
        if more {
            self.fan_outs.notify_one();
        }
        Ok((self.get_message(actor, &message.id).await?, true))
    }

    pub(super) async fn replay(
        &self,
        actor: &Actor,
        key: &str,
        hash: &str,
    ) -> AppResult<Option<MessageView>> {
        match self.store.idempotency(key).await? {
            None => Ok(None),
            Some(rec) if rec.request_hash == hash => {
                Ok(Some(self.get_message(actor, &rec.message_id).await?))
            }
            Some(_) => Err(AppError::Invalid(vec![Violation::new(
                "Idempotency-Key",
                "Cette clé d'idempotence a déjà servi pour une autre requête : utilisez une nouvelle clé pour une nouvelle communication.",
            )])),
        }
    }
}
