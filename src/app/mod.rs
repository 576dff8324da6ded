//! Use cases: load, apply the pure domain, save in one atomic commit. The clock is injected.

pub mod clock;
pub mod error;
mod fan_out;
mod present;
pub mod views;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use base64::Engine;
use time::OffsetDateTime;
use tokio::sync::Notify;

pub use clock::{Clock, ManualClock, OffsetClock, SystemClock, TokioClock, WarpClock};
pub use error::{AppError, AppResult};

use crate::domain::Motive;
use crate::domain::Violation;
use crate::domain::access::{self, Action, Reach};
use crate::domain::actor::Actor;
use crate::domain::audit::AuditRecord;
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::domain::calendar::{Calendar, Deadline, DeadlineQuery, Department, zone_for_academie};
use crate::domain::directory::{Directory, School, arbitrator_for, check_remit};
use crate::domain::message::{
    Coproduction, Draft, Message, MessageKind, Purpose, Review, ReviewDeadline, Statement,
    ValidContent, Version, Withdrawal, validate_content, validate_emergency,
};
use crate::domain::notification::{self, OutboxEmail, SchoolRef};
use crate::domain::review::{Refusal, ReviewEvent, ReviewState, TransitionContext, transition};
use crate::domain::uai::Uai;
use crate::store::{
    Commit, FanOut, FeedTag, IdempotencyRecord, InboxOf, MessageSummary, ReviewContext, Store,
    StoreError, academie_timeline, school_timeline,
};
pub use fan_out::FAN_OUT_CHUNK;
use sha2::{Digest, Sha256};
use views::*;

/// Tacit approvals of one message recorded in one commit by the sweep (each commit is one
/// audit extension and one script on Redis, so it stays short for the requests queued behind).
const SWEEP_CHUNK: usize = 50;

/// How many times a use case re-reads and re-applies after losing an optimistic-concurrency race
/// on something other than the review itself (the audit chain of a busy message).
const MAX_ATTEMPTS: usize = 16;

/// Schools one message may target: every lycée of the largest Région many times over, and what
/// a request body of 256 KiB holds.
pub const MAX_TARGETS: usize = 10_000;

/// A new message as received by the API.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// The content.
    pub draft: Draft,
    /// `recurring`, `one_off`, `emergency`.
    pub kind: Option<String>,
    /// `information` (default) or `evaluation`.
    pub purpose: Option<String>,
    /// UAIs.
    pub targets: Option<Vec<String>>,
    /// Emergency category.
    pub emergency_category: Option<String>,
    /// Emergency justification.
    pub emergency_justification: Option<String>,
    /// Whether an emergency declaration was sent at all (even an empty one).
    pub emergency_declared: bool,
}

/// A new version as received by the API.
#[derive(Debug, Clone, Default)]
pub struct NewVersion {
    /// The rectified content.
    pub draft: Draft,
    /// Schools to review it (default: those that have not approved yet).
    pub targets: Option<Vec<String>>,
    /// What changed, for the heads.
    pub change_note: Option<String>,
}

/// A new version's draft: what the authority omitted keeps the current version's value.
fn over_current(current: &Version, draft: Draft) -> Draft {
    let audience = current
        .audience
        .iter()
        .map(|a| match a {
            crate::domain::message::AudienceMember::Families => "families".to_owned(),
            crate::domain::message::AudienceMember::Pupils => "pupils".to_owned(),
        })
        .collect();
    Draft {
        title: draft.title.or_else(|| Some(current.title.clone())),
        body: draft.body.or_else(|| Some(current.body_html.clone())),
        audience: draft.audience.or(Some(audience)),
        publish_at: draft
            .publish_at
            .or_else(|| Some(crate::domain::message::rfc3339(current.publish_at))),
        display_until: draft
            .display_until
            .or_else(|| Some(crate::domain::message::rfc3339(current.display_until))),
    }
}

/// Why a dispute ended, in French (`None` while it waits).
fn dispute_closed_reason(state: ReviewState) -> Option<String> {
    let reason = match state {
        ReviewState::InArbitration => return None,
        ReviewState::Authorised => "publication autorisée par l'autorité d'arbitrage",
        ReviewState::Upheld => "refus confirmé par l'autorité d'arbitrage",
        ReviewState::Superseded => {
            "clos sans décision : la collectivité a soumis une nouvelle version"
        }
        ReviewState::Withdrawn => "clos sans décision : la collectivité a retiré la communication",
        ReviewState::Pending
        | ReviewState::Approved
        | ReviewState::TacitlyApproved
        | ReviewState::RectificationRequested
        | ReviewState::EmergencyPublished => "clos",
    };
    Some(reason.to_owned())
}

/// An arbitrator's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArbitrationDecision {
    /// Publication authorised.
    Authorise,
    /// Refusal upheld.
    Uphold,
}

/// Filters for lists.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<usize>,
    /// Only this state / status.
    pub state: Option<String>,
    /// Only this school.
    pub uai: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
}

/// The charte service: every use case, over injected ports.
pub struct Charte {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Authorities and contacts.
    pub directory: Arc<Directory>,
    /// Business-day calendar.
    pub calendar: Arc<Calendar>,
    /// Wakes the deadline scheduler when a nearer deadline appears.
    pub wake: Arc<Notify>,
    /// Wakes the fan-out worker when a submission leaves reviews to open.
    pub fan_outs: Arc<Notify>,
    /// Where heads answer (put in emails).
    pub widget_url: String,
    /// Tacit approvals recorded by this instance (exported as a metric).
    pub tacit_approvals: Arc<std::sync::atomic::AtomicU64>,
    /// Fingerprint of the authorities' names, computed once, for the feed's entity tag.
    pub names_tag: std::sync::OnceLock<String>,
    /// The last feed rendered for each school, with its entity tag.
    pub rendered_feeds: std::sync::Mutex<HashMap<String, (String, Arc<str>)>>,
}

/// Schools whose last rendered feed is kept (about 10 KB each).
const RENDERED_FEEDS_MAX: usize = 2048;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// Cuts a sorted list into a page after `cursor`.
/// The page size asked for: 1 to 200, 50 by default.
fn page_size(query: &ListQuery) -> AppResult<usize> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid(
            "limit",
            format!("La taille de page doit être comprise entre 1 et 200 (reçu {limit})."),
        ));
    }
    Ok(limit)
}

/// The position a cursor stands for.
fn decode_cursor(query: &ListQuery) -> AppResult<Option<String>> {
    match query.cursor.as_deref() {
        None | Some("") => Ok(None),
        Some(c) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| {
                AppError::invalid(
                    "cursor",
                    "Curseur illisible : reprenez la valeur `next_cursor` de la page précédente.",
                )
            }),
    }
}

/// The opaque cursor of a position.
fn encode_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
}

/// Cuts one page out of keyed items, after the query's cursor.
pub fn paginate<T>(
    mut items: Vec<(String, T)>,
    query: &ListQuery,
) -> AppResult<(Vec<T>, Option<String>)> {
    let limit = page_size(query)?;
    let after = decode_cursor(query)?;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rest: Vec<(String, T)> = match after {
        Some(a) => items.into_iter().filter(|(k, _)| *k > a).collect(),
        None => items,
    };
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next = if more {
        rest.last().map(|(k, _)| b64(k))
    } else {
        None
    };
    Ok((rest.into_iter().map(|(_, v)| v).collect(), next))
}

/// The review state a list is filtered by, if any.
fn parse_state(state: Option<&str>) -> AppResult<Option<ReviewState>> {
    let Some(s) = state else { return Ok(None) };
    ReviewState::parse(s).map(Some).ok_or_else(|| {
        let names: Vec<&str> = ReviewState::ALL.iter().map(|s| s.name()).collect();
        AppError::invalid(
            "state",
            format!("État inconnu « {s} » : {}.", names.join(", ")),
        )
    })
}

fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("{what} introuvable (ou hors de votre périmètre)."))
}

fn entry(actor: &Actor, at: OffsetDateTime, action: AuditAction) -> AuditEntry {
    AuditEntry {
        at,
        actor: actor.subject.clone(),
        actor_name: actor.name.clone(),
        role: actor.role.as_str().to_owned(),
        action,
        uai: None,
        review_id: None,
        version: None,
        version_hash: None,
        motive: None,
    }
}

fn review_entry(
    actor: Option<&Actor>,
    at: OffsetDateTime,
    action: AuditAction,
    r: &Review,
    motive: Option<&str>,
) -> AuditEntry {
    AuditEntry {
        at,
        actor: actor.map_or("charte".into(), |a| a.subject.clone()),
        actor_name: actor.map_or("Service charte".into(), |a| a.name.clone()),
        role: actor.map_or("system".into(), |a| a.role.as_str().to_owned()),
        action,
        uai: Some(r.uai.as_str().to_owned()),
        review_id: Some(r.id.clone()),
        version: Some(r.version),
        version_hash: Some(r.version_hash.clone()),
        motive: motive.map(str::to_owned),
    }
}

fn statement(actor: &Actor, at: OffsetDateTime, motive: &Motive) -> Statement {
    Statement {
        text: motive.as_str().to_owned(),
        at,
        by: actor.name.clone(),
        role: actor.role.as_str().to_owned(),
    }
}

/// The review per school that currently speaks for it: the highest version, latest opened.
pub fn current_reviews(reviews: &[Review]) -> BTreeMap<String, &Review> {
    let mut out: BTreeMap<String, &Review> = BTreeMap::new();
    for r in reviews {
        let key = r.uai.as_str().to_owned();
        match out.get(&key) {
            Some(cur) if (cur.version, cur.opened_at) >= (r.version, r.opened_at) => {}
            _ => {
                out.insert(key, r);
            }
        }
    }
    out
}

impl Charte {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn authority_name(&self, id: &str) -> String {
        self.directory
            .authority(id)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| id.to_owned())
    }

    async fn school_or_placeholder(&self, uai: &Uai) -> AppResult<School> {
        self.store
            .school(uai)
            .await?
            .ok_or_else(|| AppError::Internal(format!("établissement {uai} absent de l'annuaire")))
    }

    /// Schools of `uais`, in their order, read together; each must be in the directory (a
    /// message's schools are checked when it is submitted).
    async fn schools_in_order(&self, uais: &[Uai]) -> AppResult<Vec<School>> {
        let found: HashMap<Uai, School> = self
            .store
            .schools_of(uais)
            .await?
            .into_iter()
            .map(|s| (s.uai.clone(), s))
            .collect();
        uais.iter()
            .map(|u| {
                found.get(u).cloned().ok_or_else(|| {
                    AppError::Internal(format!("établissement {u} absent de l'annuaire"))
                })
            })
            .collect()
    }

    fn department(school: &School) -> AppResult<Department> {
        Department::parse(&school.department)
            .map_err(|e| AppError::Internal(format!("département de {} : {e}", school.uai)))
    }

    fn head_recipients(school: &School) -> Vec<String> {
        school.email.iter().map(|e| e.to_string()).collect()
    }

    fn authority_recipients(&self, authority_id: &str) -> Vec<String> {
        self.directory
            .authority(authority_id)
            .map(|a| vec![a.email.to_string()])
            .unwrap_or_default()
    }

    /// Commits; `about` is the message the reviews belong to (as read), from which the feed
    /// changes are derived. Returns false when a concurrent write won.
    async fn commit(&self, mut commit: Commit, about: Option<&Message>) -> AppResult<bool> {
        if let Some(m) = about {
            commit.derive_feed(m);
            commit.derive_timelines(m);
        }
        let wakes = commit.reviews.iter().any(|r| r.state.deadline_runs());
        match self.store.commit(commit).await {
            Ok(()) => {
                if wakes {
                    self.wake.notify_one();
                }
                Ok(true)
            }
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Commits `base` with `entries` appended to the message's audit chain. When another
    /// transition of the same message got in first and only the chain head moved (our own records
    /// are unchanged), it re-reads the head and tries again, so that many heads deciding on one
    /// message at once all succeed. Returns false when one of our records changed: the caller must
    /// re-read and re-decide (and will then refuse with the new state).
    async fn commit_chained(
        &self,
        message: &Message,
        entries: Vec<AuditEntry>,
        base: Commit,
    ) -> AppResult<bool> {
        Ok(self
            .commit_chained_from(message, entries, base, None)
            .await?
            .is_some())
    }

    /// [`Self::commit_chained`], starting from the chain heads of a context read just before
    /// (no read of its own unless another transition got in first); returns the audit records
    /// written, or `None` when one of our records changed.
    async fn commit_chained_from(
        &self,
        message: &Message,
        entries: Vec<AuditEntry>,
        mut base: Commit,
        context: Option<&ReviewContext>,
    ) -> AppResult<Option<Vec<AuditRecord>>> {
        for attempt in 0..64u32 {
            // One chain per school, one for the message: group the entries and extend each chain.
            let mut by_chain: BTreeMap<String, Vec<AuditEntry>> = BTreeMap::new();
            for e in &entries {
                by_chain
                    .entry(crate::domain::audit::chain_of(e).to_owned())
                    .or_default()
                    .push(e.clone());
            }
            base.audit.clear();
            // The heads come from the context read just before, or all in one read.
            let heads = match context {
                Some(c) if attempt == 0 => by_chain.keys().map(|chain| c.head(chain)).collect(),
                _ => {
                    let chains: Vec<String> = by_chain.keys().cloned().collect();
                    self.store.audit_heads(&message.id, &chains).await?
                }
            };
            for ((chain, list), head) in by_chain.into_iter().zip(heads) {
                base.audit.extend(head.extend(&message.id, &chain, list).0);
            }
            if self.commit(base.clone(), Some(message)).await? {
                return Ok(Some(base.audit));
            }
            if !self.records_unchanged(&base).await? {
                return Ok(None);
            }
            // Jitter spreads the contenders so they stop colliding.
            let pause = rand::random::<u64>() % (200 * u64::from(attempt.min(10) + 1));
            tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
        }
        Ok(None)
    }

    async fn records_unchanged(&self, c: &Commit) -> AppResult<bool> {
        for m in &c.messages {
            let now = self.store.message(&m.id).await?.map_or(0, |s| s.revision);
            if now != m.revision {
                return Ok(false);
            }
        }
        let ids: Vec<String> = c.reviews.iter().map(|r| r.id.clone()).collect();
        let stored: HashMap<String, u64> = self
            .store
            .reviews(&ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r.revision))
            .collect();
        Ok(c.reviews
            .iter()
            .all(|r| stored.get(&r.id).copied().unwrap_or(0) == r.revision))
    }

    /// Opens a school's review of `version` and writes the email that goes with it: the
    /// exhaustive content to review, or, for an emergency, the copy of what was published.
    fn open_for_school(
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
            notification::emergency_copy(message, &review, &sref, authority_name, to, now)
        } else {
            notification::review_request(
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
    fn school_deadline(
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
    fn check_window(
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

    fn open_review(
        &self,
        message: &Message,
        version: &Version,
        school: &School,
        now: OffsetDateTime,
        state: ReviewState,
        computed: Option<&Deadline>,
    ) -> AppResult<Review> {
        let deadline = match (state, message.kind.review_days()) {
            (ReviewState::Pending, Some(days)) => {
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

    fn new_version(
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

    /// Resolves and checks target UAIs: known to the directory and within the authority's remit.
    async fn resolve_targets(
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

    fn require_authority(actor: &Actor) -> AppResult<String> {
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
                    outbox.push(notification::coproduction_request(
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

    async fn replay(&self, actor: &Actor, key: &str, hash: &str) -> AppResult<Option<MessageView>> {
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

    async fn load_message_for_authority(&self, actor: &Actor, id: &str) -> AppResult<Message> {
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
        for _ in 0..MAX_ATTEMPTS {
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
                let next = transition(old.state, ReviewEvent::Supersede, ctx)?;
                let mut r = old.clone();
                r.state = next;
                entries.push(review_entry(
                    Some(actor),
                    now,
                    AuditAction::Superseded,
                    &r,
                    None,
                ));
                if old.state == ReviewState::InArbitration {
                    // The new version answers the dispute: the arbitrator has nothing left to decide.
                    let reason = format!(
                        "la collectivité a soumis une version {number} de la communication, qui sera examinée à nouveau par le chef d'établissement."
                    );
                    // Superseded reviews are among the targets, whose schools are loaded.
                    let school = match schools.iter().find(|s| s.uai == old.uai) {
                        Some(s) => s.clone(),
                        None => self.school_or_placeholder(&old.uai).await?,
                    };
                    let (e, mail) = self.close_dispute(
                        &message,
                        &r,
                        &school,
                        &dept,
                        &authority_name,
                        &reason,
                        actor,
                        now,
                    );
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
                        audit: vec![],
                        outbox,
                        idempotency: None,
                        feed: vec![],
                        fan_out: None,
                        timelines: vec![],
                    },
                )
                .await?
            {
                return self.get_message(actor, message_id).await;
            }
        }
        Err(AppError::Conflict(
            "La communication est très sollicitée en ce moment : réessayez.".into(),
        ))
    }

    /// Withdraws a message everywhere: open reviews end, publications stop.
    pub async fn withdraw(
        &self,
        actor: &Actor,
        message_id: &str,
        motive: Option<String>,
    ) -> AppResult<MessageView> {
        // A withdrawal ends every open review: they must all be open first.
        self.finish_fan_out(message_id).await?;
        for _ in 0..MAX_ATTEMPTS {
            let mut message = self.load_message_for_authority(actor, message_id).await?;
            if let Some(w) = &message.withdrawn {
                return Err(AppError::Conflict(format!(
                    "La communication a déjà été retirée le {} par {}.",
                    crate::domain::calendar::instant_in_words(w.at, &Department::paris()),
                    w.by
                )));
            }
            let now = self.now();
            let motive = crate::domain::optional_note("motive", motive.as_deref())
                .map_err(|v| AppError::Invalid(vec![v]))?;
            message.withdrawn = Some(Withdrawal {
                at: now,
                by: actor.name.clone(),
                motive: motive.clone(),
            });
            let reviews = self.store.reviews_of_message(message_id).await?;
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
                if let Ok(next) = transition(r.state, ReviewEvent::Withdraw, ctx) {
                    let mut r2 = r.clone();
                    r2.state = next;
                    entries.push(review_entry(
                        Some(actor),
                        now,
                        AuditAction::Withdrawn,
                        &r2,
                        motive.as_deref(),
                    ));
                    let first_of_school = notified.insert(r.uai.clone());
                    let disputed = r.state == ReviewState::InArbitration;
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
                                &authority_name,
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
                            let mail = notification::withdrawal_notice(
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
                        audit: vec![],
                        outbox,
                        idempotency: None,
                        feed: vec![],
                        fan_out: None,
                        timelines: vec![],
                    },
                )
                .await?
            {
                return self.get_message(actor, message_id).await;
            }
        }
        Err(AppError::Conflict(
            "La communication est très sollicitée en ce moment : réessayez.".into(),
        ))
    }

    /// A dispute ended without decision: its audit record, and the email telling its arbitrator.
    #[allow(clippy::too_many_arguments)]
    fn close_dispute(
        &self,
        message: &Message,
        review: &Review,
        school: &School,
        dept: &Department,
        authority_name: &str,
        reason: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> (AuditEntry, Option<OutboxEmail>) {
        let audit = review_entry(
            Some(actor),
            now,
            AuditAction::DisputeClosed,
            review,
            Some(reason),
        );
        let Some(arb) = &review.arbitrator else {
            return (audit, None);
        };
        let sref = SchoolRef {
            name: &school.name,
            uai: school.uai.as_str(),
            department: dept,
        };
        let to = self
            .directory
            .arbitrator_contact(arb)
            .map(|c| vec![c.email.to_string()])
            .unwrap_or_default();
        let mail =
            notification::dispute_closed(message, review, &sref, authority_name, reason, to, now);
        (audit, mail)
    }

    async fn message_academies(&self, m: &Message) -> AppResult<BTreeSet<String>> {
        if !m.academies.is_empty() || m.targets.is_empty() {
            return Ok(m.academies.iter().cloned().collect());
        }
        // Written before the message kept its académies: from its schools, in one read.
        Ok(self
            .store
            .schools_of(&m.targets)
            .await?
            .into_iter()
            .map(|s| s.academie_code)
            .collect())
    }

    /// Whether someone who sees only some schools of a message sees it at all: académie
    /// services whenever it goes to their académie, others when one of its reviews is theirs.
    async fn sees_part_of(
        &self,
        actor: &Actor,
        message: &Message,
        visible: &[Review],
    ) -> AppResult<bool> {
        Ok(match access::reach(actor) {
            Reach::Academie(mine) => self.message_academies(message).await?.contains(mine),
            Reach::Everything
            | Reach::Authority(_)
            | Reach::Schools(_)
            | Reach::Disputes(_)
            | Reach::Nothing => !visible.is_empty(),
        })
    }

    /// Presents a message to someone who sees only some of its schools, from the reviews of it
    /// they may see; `None` when they may not see it at all.
    async fn present_partial(
        &self,
        actor: &Actor,
        message: &Message,
        visible: Vec<Review>,
    ) -> AppResult<Option<MessageView>> {
        if !self.sees_part_of(actor, message, &visible).await? {
            return Ok(None);
        }
        // Whoever sees only some schools must not learn the others' decisions from the summary,
        // nor which other schools are targeted.
        let targets: BTreeSet<String> = visible.iter().map(|r| r.uai.to_string()).collect();
        let summary = MessageSummary::of(&visible);
        // A head's own reviews are shown whole; others see the schools' summary only.
        let own = match access::reach(actor) {
            Reach::Schools(_) => visible,
            Reach::Everything
            | Reach::Authority(_)
            | Reach::Academie(_)
            | Reach::Disputes(_)
            | Reach::Nothing => vec![],
        };
        Ok(Some(
            self.present_message(
                message,
                &summary,
                present::Seen::Only(targets.into_iter().collect()),
                own,
            )
            .await?,
        ))
    }

    /// One message as the actor may see it: its summary, and a head's own reviews.
    pub async fn get_message(&self, actor: &Actor, id: &str) -> AppResult<MessageView> {
        let Some((message, summary)) = self
            .store
            .messages_with_summaries(&[id.to_owned()])
            .await?
            .into_iter()
            .next()
        else {
            return Err(not_found("Communication"));
        };
        if access::sees_whole_message(actor, &message) {
            let every = present::Seen::Every { listed: true };
            return self
                .present_message(&message, &summary, every, vec![])
                .await;
        }
        let visible = self.visible_reviews_of(actor, &message).await?;
        self.present_partial(actor, &message, visible)
            .await?
            .ok_or_else(|| not_found("Communication"))
    }

    /// The reviews of a message the actor may see.
    async fn visible_reviews_of(&self, actor: &Actor, message: &Message) -> AppResult<Vec<Review>> {
        Ok(self
            .store
            .reviews_of_message(&message.id)
            .await?
            .into_iter()
            .filter(|r| access::sees_review(actor, r))
            .collect())
    }

    /// A message's reviews the actor may see, by school (each school's newest version first),
    /// a page at a time, optionally only those in one state or of one school.
    pub async fn message_reviews(
        &self,
        actor: &Actor,
        id: &str,
        q: &ListQuery,
    ) -> AppResult<ReviewPage> {
        let state = parse_state(q.state.as_deref())?;
        let uai = match q.uai.as_deref() {
            Some(u) => {
                Some(Uai::parse_exact(u).map_err(|e| AppError::invalid("uai", e.to_string()))?)
            }
            None => None,
        };
        let message = self
            .store
            .message(id)
            .await?
            .ok_or_else(|| not_found("Communication"))?;
        let wanted = |r: &Review| {
            state.is_none_or(|s| r.state == s) && uai.as_ref().is_none_or(|u| &r.uai == u)
        };
        if access::sees_whole_message(actor, &message) {
            // The sender pages through the store's order; a school filter starts at the school.
            let limit = page_size(q)?;
            let mut cursor = decode_cursor(q)?;
            if let Some(u) = &uai {
                let start = format!("{u}:");
                if cursor.as_deref().is_none_or(|c| c < start.as_str()) {
                    cursor = Some(start);
                }
            }
            let mut page: Vec<(String, Review)> = Vec::with_capacity(limit + 1);
            'scan: loop {
                let batch = self
                    .store
                    .message_reviews_page(&message.id, cursor.as_deref(), limit + 1)
                    .await?;
                let Some((last, _)) = batch.last() else {
                    break;
                };
                cursor = Some(last.clone());
                for (key, r) in batch {
                    if uai.as_ref().is_some_and(|u| r.uai != *u) {
                        break 'scan;
                    }
                    if wanted(&r) {
                        page.push((key, r));
                        if page.len() > limit {
                            break 'scan;
                        }
                    }
                }
            }
            let next_cursor = if page.len() > limit {
                page.truncate(limit);
                page.last().map(|(k, _)| encode_cursor(k))
            } else {
                None
            };
            let reviews: Vec<&Review> = page.iter().map(|(_, r)| r).collect();
            let items = self.present_reviews(&reviews).await?;
            return Ok(ReviewPage { items, next_cursor });
        }
        let visible = self.visible_reviews_of(actor, &message).await?;
        if !self.sees_part_of(actor, &message, &visible).await? {
            return Err(not_found("Communication"));
        }
        let keyed: Vec<(String, &Review)> = visible
            .iter()
            .filter(|r| wanted(r))
            .map(|r| (crate::store::review_order_key(r), r))
            .collect();
        let (page, next_cursor) = paginate(keyed, q)?;
        let items = self.present_reviews(&page).await?;
        Ok(ReviewPage { items, next_cursor })
    }

    /// The actor's messages, newest first, a page at a time: the sender's and an administrator's
    /// are read a page at a time from the store's timeline, with their stored summaries.
    pub async fn list_messages(&self, actor: &Actor, q: &ListQuery) -> AppResult<MessagePage> {
        let kind = match q.kind.as_deref() {
            None => None,
            Some(k) => Some(MessageKind::parse(k).ok_or_else(|| {
                AppError::invalid(
                    "kind",
                    format!("Type inconnu « {k} » : recurring, one_off ou emergency."),
                )
            })?),
        };
        if let Some(st) = q
            .state
            .as_deref()
            .filter(|st| !MessageStatus::ALL.iter().any(|s| s.name() == *st))
        {
            let names: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.name()).collect();
            return Err(AppError::invalid(
                "status",
                format!("Statut inconnu « {st} » : {}.", names.join(", ")),
            ));
        }
        let limit = page_size(q)?;
        let after = decode_cursor(q)?;
        let wanted = |m: &Message, v: &MessageView| {
            kind.is_none_or(|k| m.kind == k)
                && q.state.as_deref().is_none_or(|s| v.status.name() == s)
        };
        // Every list is a timeline in the store, read a page at a time: an authority's, all
        // messages for administrators, a head's schools', académie services' académie.
        let reach = access::reach(actor);
        let scopes: Vec<String> = match reach {
            Reach::Everything => vec![crate::store::ALL_MESSAGES.to_owned()],
            Reach::Authority(a) => vec![a.to_owned()],
            Reach::Schools(uais) => uais.iter().map(school_timeline).collect(),
            Reach::Academie(a) => vec![academie_timeline(a)],
            Reach::Disputes(_) | Reach::Nothing => vec![],
        };
        let mut items = Vec::with_capacity(limit);
        let mut last_key: Option<String> = None;
        let mut cursor = after;
        loop {
            let (batch, next) = self
                .merged_timelines(&scopes, cursor.as_deref(), limit + 1)
                .await?;
            let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
            let loaded: HashMap<String, (Message, MessageSummary)> = self
                .store
                .messages_with_summaries(&ids)
                .await?
                .into_iter()
                .map(|(m, s)| (m.id.clone(), (m, s)))
                .collect();
            // A head's reviews of the page's messages, read together.
            let mut visible: HashMap<String, Vec<Review>> = HashMap::new();
            if let Reach::Schools(uais) = reach {
                for u in uais {
                    for r in self.store.reviews_at_school(&ids, u).await? {
                        visible.entry(r.message_id.clone()).or_default().push(r);
                    }
                }
            }
            for (id, key) in &batch {
                let Some((m, summary)) = loaded.get(id) else {
                    continue;
                };
                if kind.is_some_and(|k| m.kind != k) {
                    continue;
                }
                let view = if access::sees_whole_message(actor, m) {
                    let every = present::Seen::Every { listed: false };
                    self.present_message(m, summary, every, vec![]).await?
                } else {
                    let reviews = match (reach, visible.remove(id)) {
                        (_, Some(rs)) => rs,
                        (Reach::Academie(_), None) => self.visible_reviews_of(actor, m).await?,
                        (_, None) => continue,
                    };
                    match self.present_partial(actor, m, reviews).await? {
                        Some(view) => view,
                        None => continue,
                    }
                };
                if !wanted(m, &view) {
                    continue;
                }
                if items.len() == limit {
                    return Ok(MessagePage {
                        items,
                        next_cursor: last_key.as_deref().map(encode_cursor),
                    });
                }
                items.push(view.into());
                last_key = Some(key.clone());
            }
            match next {
                Some(n) => cursor = Some(n),
                None => {
                    return Ok(MessagePage {
                        items,
                        next_cursor: None,
                    });
                }
            }
        }
    }

    /// The next entries of several timelines merged (each message once), newest first, after
    /// `after`: every entry up to the point all of them were read to, with that point (the
    /// cursor of the next batch), or `None` when every timeline is exhausted.
    async fn merged_timelines(
        &self,
        scopes: &[String],
        after: Option<&str>,
        per_scope: usize,
    ) -> AppResult<(Vec<(String, String)>, Option<String>)> {
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        let mut read_to: Option<String> = None;
        for scope in scopes {
            let batch = self.store.timeline(scope, after, per_scope).await?;
            if batch.len() == per_scope
                && let Some((_, last)) = batch.last()
                && read_to.as_ref().is_none_or(|r| last < r)
            {
                read_to = Some(last.clone());
            }
            merged.extend(batch.into_iter().map(|(id, key)| (key, id)));
        }
        let entries = merged
            .into_iter()
            .filter(|(key, _)| read_to.as_ref().is_none_or(|r| key <= r))
            .map(|(key, id)| (id, key))
            .collect();
        Ok((entries, read_to))
    }

    /// Reviews visible to the actor: a head's inbox, soonest deadline first.
    pub async fn list_reviews(&self, actor: &Actor, q: &ListQuery) -> AppResult<ReviewPage> {
        let filter_uai = match q.uai.as_deref() {
            Some(u) => {
                Some(Uai::parse_exact(u).map_err(|e| AppError::invalid("uai", e.to_string()))?)
            }
            None => None,
        };
        let state_filter = parse_state(q.state.as_deref())?;
        // Inboxes (a school's, an authority's) are indexes in the store: only the page is read.
        let reach = access::reach(actor);
        let inboxes: Vec<InboxOf<'_>> = match reach {
            Reach::Schools(uais) => uais
                .iter()
                .filter(|u| filter_uai.as_ref().is_none_or(|f| f == *u))
                .map(InboxOf::School)
                .collect(),
            Reach::Academie(_) | Reach::Everything => match &filter_uai {
                Some(u) => vec![InboxOf::School(u)],
                None => {
                    return Err(AppError::invalid(
                        "uai",
                        "Précisez l'établissement (paramètre `uai`).",
                    ));
                }
            },
            Reach::Authority(authority) => vec![InboxOf::Authority(authority)],
            Reach::Disputes(_) | Reach::Nothing => vec![],
        };
        let limit = page_size(q)?;
        let after = decode_cursor(q)?;
        let keep = |r: &Review| {
            access::sees_review(actor, r)
                && filter_uai.as_ref().is_none_or(|u| *u == r.uai)
                && state_filter.is_none_or(|s| s == r.state)
        };
        let mut merged = Vec::new();
        if let Reach::Disputes(arbitrator) = reach {
            // Waiting disputes are few: their index holds them all.
            for r in self.store.open_disputes(arbitrator).await? {
                let key = crate::store::inbox_key(&r);
                if keep(&r) && after.as_ref().is_none_or(|a| key > *a) {
                    merged.push((key, r));
                }
            }
        }
        for inbox in inboxes {
            merged.extend(
                self.inbox_matching(inbox, state_filter, after.as_deref(), limit + 1, keep)
                    .await?,
            );
        }
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        let more = merged.len() > limit;
        merged.truncate(limit);
        let next_cursor = if more {
            merged.last().map(|(k, _)| b64(k))
        } else {
            None
        };
        // Only the page is presented, its schools read together.
        let page: Vec<&Review> = merged.iter().map(|(_, r)| r).collect();
        let items = self.present_reviews(&page).await?;
        Ok(ReviewPage { items, next_cursor })
    }

    /// Up to `limit` reviews of an inbox after `after` that `keep` keeps, read a page at a time
    /// (one read when, as for a school's own head, every review is kept).
    async fn inbox_matching(
        &self,
        inbox: InboxOf<'_>,
        state: Option<ReviewState>,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&Review) -> bool,
    ) -> AppResult<Vec<(String, Review)>> {
        let mut out = Vec::with_capacity(limit);
        let mut cursor = after.map(str::to_owned);
        loop {
            let batch = self
                .store
                .inbox_page(inbox, state, cursor.as_deref(), limit)
                .await?;
            let exhausted = batch.len() < limit;
            cursor = batch.last().map(|(k, _)| k.clone());
            out.extend(batch.into_iter().filter(|(_, r)| keep(r)));
            if exhausted || out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
        }
    }

    /// One review with its content, the changes since the previous version, and its history.
    pub async fn get_review(&self, actor: &Actor, id: &str) -> AppResult<ReviewDetail> {
        // One read: the review, its message, its school and its history.
        let c = self
            .store
            .review_context(id)
            .await?
            .filter(|c| access::sees_review(actor, &c.review))
            .ok_or_else(|| not_found("Revue"))?;
        self.present_review_detail_from(&c.message, &c.review, c.school.clone(), c.audit)
            .await
    }

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
            _ => None,
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
    async fn apply(
        &self,
        actor: &Actor,
        review_id: &str,
        event: ReviewEvent,
        motive: Option<Motive>,
    ) -> AppResult<ReviewDetail> {
        for _ in 0..MAX_ATTEMPTS {
            // One read for the review, its message, its school and their audit chains.
            let context = self
                .store
                .review_context(review_id)
                .await?
                .filter(|c| access::sees_review(actor, &c.review))
                .ok_or_else(|| not_found("Revue"))?;
            let (review, message) = (&context.review, &context.message);
            if matches!(event, ReviewEvent::Escalate)
                && actor.authority.as_deref() != Some(&message.authority_id)
            {
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
            let next = match transition(review.state, event, ctx) {
                Ok(n) => n,
                Err(refusal @ Refusal::DeadlineExpired { .. }) => {
                    // The answer came too late: record the tacit approval now rather than leave it to the sweep.
                    self.expire(review_id).await?;
                    return Err(refusal.into());
                }
                Err(r) => return Err(r.into()),
            };
            let mut r = review.clone();
            r.state = next;
            let sref = SchoolRef {
                name: &school.name,
                uai: school.uai.as_str(),
                department: &dept,
            };
            let mut outbox = Vec::new();
            let authority_to = self.authority_recipients(&message.authority_id);
            match event {
                ReviewEvent::Approve => {
                    r.decided_at = Some(now);
                    r.live_from = message.version(r.version).map(|v| v.publish_at.max(now));
                    outbox.extend(notification::approval_notice(
                        message,
                        &r,
                        &sref,
                        authority_to,
                        false,
                        now,
                    ));
                }
                ReviewEvent::RequestRectification => {
                    r.decided_at = Some(now);
                    r.rectification = motive.as_ref().map(|m| statement(actor, now, m));
                    let academic = self
                        .directory
                        .academic_services_for(&school.academie_code)
                        .map(|c| vec![c.email.to_string()])
                        .unwrap_or_default();
                    outbox.extend(notification::rectification_requested(
                        message,
                        &r,
                        &sref,
                        authority_to,
                        academic,
                        now,
                    ));
                }
                ReviewEvent::Escalate => {
                    let arb = arbitrator_for(&school);
                    let contact = self.directory.arbitrator_contact(&arb);
                    r.escalation = motive.as_ref().map(|m| statement(actor, now, m));
                    r.arbitrator = Some(arb);
                    let authority_name = self.authority_name(&message.authority_id);
                    let (name, to) = contact
                        .map(|c| (c.name.clone(), vec![c.email.to_string()]))
                        .unwrap_or_default();
                    outbox.extend(notification::escalation(
                        message,
                        &r,
                        &sref,
                        &authority_name,
                        &name,
                        to,
                        now,
                    ));
                }
                ReviewEvent::Authorise | ReviewEvent::Uphold => {
                    r.arbitration = motive.as_ref().map(|m| statement(actor, now, m));
                    if event == ReviewEvent::Authorise {
                        r.live_from = message.version(r.version).map(|v| v.publish_at.max(now));
                    }
                    let mut to = authority_to;
                    to.extend(Self::head_recipients(&school));
                    outbox.extend(notification::arbitration_outcome(
                        message, &r, &sref, to, now,
                    ));
                }
                _ => {}
            }
            outbox.retain(|m: &OutboxEmail| !m.to.is_empty());
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
            // Lost a race: loop to re-read; if the review itself moved, the transition now refuses with its new state.
        }
        Err(AppError::Conflict(
            "La revue est très sollicitée en ce moment : réessayez.".into(),
        ))
    }

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
        let mut schools: HashMap<Uai, (School, Department)> = HashMap::new();
        for _ in 0..MAX_ATTEMPTS {
            let Some(message) = self.store.message(message_id).await? else {
                return Ok(0);
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
                let Ok(next) = transition(review.state, ReviewEvent::Expire, ctx) else {
                    continue;
                };
                let mut r = review.clone();
                r.state = next;
                // The legal instant of the tacit approval is the deadline, not when the sweep ran.
                let at = deadline.unwrap_or(now);
                r.decided_at = Some(at);
                r.live_from = message.version(r.version).map(|v| v.publish_at.max(at));
                let sref = SchoolRef {
                    name: &school.name,
                    uai: school.uai.as_str(),
                    department: dept,
                };
                let mut to = self.authority_recipients(&message.authority_id);
                to.extend(Self::head_recipients(school));
                outbox.extend(
                    notification::approval_notice(&message, &r, &sref, to, true, now)
                        .filter(|m| !m.to.is_empty()),
                );
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
                return Ok(0);
            }
            let n = changed.len();
            if self
                .commit_chained(
                    &message,
                    entries,
                    Commit {
                        messages: vec![],
                        reviews: changed,
                        audit: vec![],
                        outbox,
                        idempotency: None,
                        feed: vec![],
                        fan_out: None,
                        timelines: vec![],
                    },
                )
                .await?
            {
                tracing::info!(message = %message_id, accords_tacites = n, "accord tacite acquis");
                self.tacit_approvals
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                return Ok(n);
            }
            // Someone else moved: re-read; reviews they approved are skipped next time round.
        }
        Err(AppError::Conflict(
            "conflits répétés pendant l'accord tacite".into(),
        ))
    }

    /// Co-validates an evaluation message for the actor's académie and opens its schools' reviews.
    pub async fn coproduce(&self, actor: &Actor, message_id: &str) -> AppResult<MessageView> {
        access::require(actor, Action::Coproduce)?;
        let academie = actor.academie.clone().unwrap_or_default();
        for _ in 0..MAX_ATTEMPTS {
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
                        audit: vec![],
                        outbox,
                        idempotency: None,
                        feed: vec![],
                        fan_out: None,
                        timelines: vec![],
                    },
                )
                .await?
            {
                return self.get_message(actor, message_id).await;
            }
        }
        Err(AppError::Conflict(
            "La communication est très sollicitée en ce moment : réessayez.".into(),
        ))
    }

    /// Open disputes for the arbitrator, oldest first.
    pub async fn disputes(&self, actor: &Actor, q: &ListQuery) -> AppResult<DisputePage> {
        let closed = match q.state.as_deref() {
            None | Some("open") => false,
            Some("closed") => true,
            Some(other) => {
                return Err(AppError::invalid(
                    "state",
                    format!(
                        "État de litige inconnu « {other} » : open (en attente d'arbitrage) ou closed (décidé ou clos)."
                    ),
                ));
            }
        };
        access::require(actor, Action::ListDisputes)?;
        // An arbitrator's index holds their disputes; others read all and keep what they see.
        let arbitrator = match access::reach(actor) {
            Reach::Disputes(arbitrator) => arbitrator,
            Reach::Everything
            | Reach::Authority(_)
            | Reach::Schools(_)
            | Reach::Academie(_)
            | Reach::Nothing => None,
        };
        let reviews = if closed {
            self.store.closed_disputes(arbitrator).await?
        } else {
            self.store.open_disputes(arbitrator).await?
        };
        let now = self.now();
        let mut keyed = Vec::new();
        for r in reviews.iter().filter(|r| access::sees_review(actor, r)) {
            let Some(message) = self.store.message(&r.message_id).await? else {
                continue;
            };
            let Some(version) = message.version(r.version) else {
                continue;
            };
            let since = r.escalation.as_ref().map_or(r.opened_at, |s| s.at);
            let age = now - since;
            let key = format!("{:020}{}", since.unix_timestamp() - i64::MIN / 2, r.id);
            keyed.push((
                key,
                DisputeView {
                    id: r.id.clone(),
                    closed_reason: dispute_closed_reason(r.state),
                    age_days: age.whole_days(),
                    age_hours: age.whole_hours(),
                    authority_name: self.authority_name(&message.authority_id),
                    review: self.present_review(r).await?,
                    content: present::version_view(version),
                },
            ));
        }
        let (items, next_cursor) = paginate(keyed, q)?;
        Ok(DisputePage { items, next_cursor })
    }

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

    fn feed_school(actor: &Actor, uai: &str) -> AppResult<Uai> {
        let uai = Uai::parse_exact(uai).map_err(|e| AppError::invalid("uai", e.to_string()))?;
        if !access::reads_feed(actor, &uai) {
            return Err(not_found("Établissement"));
        }
        Ok(uai)
    }

    /// The entity tag of what a school's feed shows now: equal tags, equal feeds. It names the
    /// school's feed version, the starts and ends of display still ahead, and the authorities'
    /// names (the one thing in a feed that comes from configuration).
    fn feed_etag(&self, tag: FeedTag) -> String {
        let names = self.names_tag.get_or_init(|| {
            let mut h = Sha256::new();
            for a in &self.directory.authorities {
                h.update(a.id.as_bytes());
                h.update([0]);
                h.update(a.name.as_bytes());
                h.update([0]);
            }
            hex::encode(&h.finalize()[..6])
        });
        format!("\"{tag}.{names}\"")
    }

    /// The entity tag of a school's feed, read without its content (for a conditional request).
    pub async fn feed_tag(&self, actor: &Actor, uai: &str) -> AppResult<String> {
        let uai = Self::feed_school(actor, uai)?;
        let tag = self.store.feed_tag(&uai, self.now()).await?;
        Ok(self.feed_etag(tag))
    }

    /// What a school displays now (for each message, the newest approved version, within its
    /// window), with its entity tag: one read of the school's publication index. The answer is
    /// the JSON of a [`Feed`], assembled from the publications as the store keeps them (each
    /// written as JSON once, at commit) with the authorities' names added.
    pub async fn feed(&self, actor: &Actor, uai: &str) -> AppResult<(String, Arc<str>)> {
        let uai = Self::feed_school(actor, uai)?;
        let now = self.now();
        // Equal tags mean equal feeds: a feed rendered for this tag is served again as it is.
        let tag = self.feed_etag(self.store.feed_tag(&uai, now).await?);
        if let Ok(cache) = self.rendered_feeds.lock()
            && let Some((cached, body)) = cache.get(uai.as_str())
            && *cached == tag
        {
            return Ok((tag, body.clone()));
        }
        let (tag, mut publications) = self.store.feed(&uai, now).await?;
        publications.retain(|p| p.is_live(now));
        // Newest on display first.
        publications.sort_by(|a, b| {
            b.live_from_us
                .cmp(&a.live_from_us)
                .then_with(|| a.message_id.cmp(&b.message_id))
        });
        let json_string = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let size: usize = publications.iter().map(|p| p.json.len() + 64).sum();
        let mut body = String::with_capacity(size + 32);
        body.push_str("{\"uai\":");
        body.push_str(&json_string(uai.as_str()));
        body.push_str(",\"items\":[");
        for (i, p) in publications.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            let Some(fields) = p.json.strip_prefix('{') else {
                return Err(AppError::Internal(format!(
                    "publication illisible : {}",
                    p.message_id
                )));
            };
            body.push_str("{\"authority_name\":");
            body.push_str(&json_string(&self.authority_name(&p.authority_id)));
            body.push(',');
            body.push_str(fields);
        }
        body.push_str("]}");
        let (tag, body): (String, Arc<str>) = (self.feed_etag(tag), body.into());
        if let Ok(mut cache) = self.rendered_feeds.lock() {
            // A cache, not a record: dropped whole when full (memory stays bounded).
            if cache.len() >= RENDERED_FEEDS_MAX {
                cache.clear();
            }
            cache.insert(uai.to_string(), (tag.clone(), body.clone()));
        }
        Ok((tag, body))
    }

    /// A message's audit trail, verified.
    pub async fn audit(
        &self,
        actor: &Actor,
        message_id: &str,
        q: &ListQuery,
    ) -> AppResult<AuditView> {
        let limit = page_size(q)?;
        let after = decode_cursor(q)?;
        let only = match q.uai.as_deref() {
            Some(u) => {
                Some(Uai::parse_exact(u).map_err(|e| AppError::invalid("uai", e.to_string()))?)
            }
            None => None,
        };
        let view = self.get_message(actor, message_id).await?;
        // The schools whose chains the caller may read: every target for the sender and
        // administrators, their own schools for the others. A page holds whole chains, the
        // message's own on the first page, then schools in UAI order.
        let mut schools: Vec<&str> = view
            .targets
            .iter()
            .map(String::as_str)
            .filter(|u| only.as_ref().is_none_or(|o| o.as_str() == *u))
            .filter(|u| after.as_deref().is_none_or(|a| *u > a))
            .collect();
        schools.sort_unstable();
        let more = schools.len() > limit;
        schools.truncate(limit);
        let mut chains: Vec<String> = Vec::with_capacity(schools.len() + 1);
        if after.is_none() {
            chains.push(crate::domain::audit::MESSAGE_CHAIN.to_owned());
        }
        chains.extend(schools.iter().map(|u| (*u).to_owned()));
        let mut records = self.store.audit_of_chains(message_id, &chains).await?;
        // In order of events; within one commit the message-wide record comes first.
        records.sort_by(|a, b| {
            (
                a.entry.at,
                a.chain != crate::domain::audit::MESSAGE_CHAIN,
                &a.chain,
                a.seq,
            )
                .cmp(&(
                    b.entry.at,
                    b.chain != crate::domain::audit::MESSAGE_CHAIN,
                    &b.chain,
                    b.seq,
                ))
        });
        let verification = crate::domain::audit::verify(&records).into();
        // The message's own chain may name other schools: only the sender and administrators
        // read those records (the chain is verified whole all the same).
        let full = access::reads_message_chain(actor);
        let mine: BTreeSet<&str> = view.targets.iter().map(String::as_str).collect();
        let records = records
            .into_iter()
            .filter(|r| full || r.entry.uai.as_deref().is_none_or(|u| mine.contains(u)))
            .collect();
        Ok(AuditView {
            message_id: message_id.to_owned(),
            verification,
            records,
            next_cursor: more
                .then(|| schools.last().map(|u| encode_cursor(u)))
                .flatten(),
        })
    }

    /// The deadline a review would get, for planning before submitting.
    pub async fn preview_deadline(
        &self,
        kind: Option<&str>,
        uai: Option<&str>,
        submitted_at: Option<&str>,
    ) -> AppResult<DeadlineView> {
        let mut v = Vec::new();
        let days = match kind.map(MessageKind::parse) {
            Some(Some(k)) => match k.review_days() {
                Some(d) => Some(d),
                None => {
                    v.push(Violation::new(
                        "kind",
                        "Une communication d'urgence est publiée sans délai d'examen.",
                    ));
                    None
                }
            },
            _ => {
                v.push(Violation::new("kind", "Précisez `kind` : recurring (5 jours ouvrables) ou one_off (3 jours ouvrables)."));
                None
            }
        };
        let school = match uai.map(Uai::parse_exact) {
            Some(Ok(u)) => match self.store.school(&u).await? {
                Some(s) => Some(s),
                None => {
                    v.push(Violation::new(
                        "uai",
                        format!("L'établissement {u} est inconnu de l'annuaire."),
                    ));
                    None
                }
            },
            Some(Err(e)) => {
                v.push(Violation::new("uai", e.to_string()));
                None
            }
            None => {
                v.push(Violation::new(
                    "uai",
                    "Précisez `uai` : le calendrier dépend de l'établissement.",
                ));
                None
            }
        };
        let at = match submitted_at {
            None => Some(self.now()),
            Some(s) => match crate::domain::calendar::parse_instant(s) {
                Ok(t) => Some(t),
                Err(e) => {
                    let hint = if matches!(e, crate::domain::calendar::InstantError::Unreadable(_))
                    {
                        " (encodez « + » en %2B dans l'URL)"
                    } else {
                        ""
                    };
                    v.push(Violation::new(
                        "submitted_at",
                        crate::domain::message::capitalise(&format!("{e}{hint}.")),
                    ));
                    None
                }
            },
        };
        let (Some(days), Some(school), Some(at)) = (days, school, at) else {
            return Err(AppError::Invalid(v));
        };
        let dept = Self::department(&school)?;
        let zone = zone_for_academie(&school.academie_name);
        let d = self.calendar.deadline(DeadlineQuery {
            submitted_at: at,
            business_days: days,
            department: &dept,
            zone: zone.as_ref(),
        });
        Ok(present::deadline_view(
            Some(school.uai.as_str()),
            &dept,
            at,
            days,
            &d,
        ))
    }

    /// The directory's schools, filtered.
    pub async fn schools(
        &self,
        q: &ListQuery,
        department: Option<&str>,
        academie: Option<&str>,
        school_type: Option<&str>,
    ) -> AppResult<SchoolPage> {
        let mut v = Vec::new();
        let uai = match q.uai.as_deref() {
            Some(u) => Uai::parse_exact(u)
                .map_err(|e| v.push(Violation::new("uai", e.to_string())))
                .ok(),
            None => None,
        };
        let department = match department {
            Some(d) => Department::parse(d)
                .map_err(|e| {
                    v.push(Violation::new(
                        "department",
                        crate::domain::message::capitalise(&format!("{e}.")),
                    ))
                })
                .ok(),
            None => None,
        };
        if let Some(t) = school_type
            && !["ecole", "college", "lycee", "other"].contains(&t)
        {
            v.push(Violation::new(
                "type",
                format!("Type d'établissement inconnu « {t} » : ecole, college, lycee ou other."),
            ));
        }
        if !v.is_empty() {
            return Err(AppError::Invalid(v));
        }
        let all = self.store.schools().await?;
        let keyed = all
            .into_iter()
            .filter(|s| {
                department
                    .as_ref()
                    .is_none_or(|d| Department::parse(&s.department).is_ok_and(|own| &own == d))
            })
            .filter(|s| academie.is_none_or(|a| s.academie_code == a))
            .filter(|s| school_type.is_none_or(|t| present::school_type(s) == t))
            .filter(|s| uai.as_ref().is_none_or(|u| &s.uai == u))
            .map(|s| (s.uai.as_str().to_owned(), present::school_view(&s)))
            .collect();
        let (items, next_cursor) = paginate(keyed, q)?;
        Ok(SchoolPage { items, next_cursor })
    }

    /// The directory's authorities, with their count of emergencies.
    pub async fn authorities(&self, kind: Option<&str>) -> AppResult<Vec<AuthorityView>> {
        if let Some(k) = kind
            && !["region", "departement", "commune"].contains(&k)
        {
            return Err(AppError::invalid(
                "kind",
                format!("Type de collectivité inconnu « {k} » : region, departement ou commune."),
            ));
        }
        let mut out = Vec::new();
        for a in &self.directory.authorities {
            let k = present::authority_kind(a);
            if kind.is_some_and(|want| want != k) {
                continue;
            }
            let emergencies = self
                .store
                .messages_of_authority(&a.id)
                .await?
                .iter()
                .filter(|m| m.kind == MessageKind::Emergency)
                .count();
            out.push(AuthorityView {
                id: a.id.clone(),
                name: a.name.clone(),
                kind: k.to_owned(),
                code: a.code.clone(),
                emergencies,
            });
        }
        Ok(out)
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
                return Ok(total);
            }
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
                loop {
                    let now = self.now();
                    let ids = self
                        .store
                        .due_reviews_of_message(&message_id, now, SWEEP_CHUNK)
                        .await?;
                    let n = match self.expire_many(&message_id, &ids).await {
                        Ok(n) => n,
                        Err(AppError::Conflict(_)) => {
                            progressed = true;
                            break;
                        }
                        Err(e) => return Err(e),
                    };
                    approved += n;
                    progressed |= n > 0;
                    if ids.len() < SWEEP_CHUNK || n == 0 {
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
            let Some(mail) = notification::review_reminder(
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
            let Some(mail) = notification::dispute_reminder(
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

/// Presents a computed deadline without a school (for the CLI).
pub fn present_deadline(
    dept: &Department,
    at: OffsetDateTime,
    days: u32,
    d: &crate::domain::calendar::Deadline,
) -> DeadlineView {
    present::deadline_view(None, dept, at, days, d)
}
