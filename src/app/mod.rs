//! Use cases: load, apply the pure domain, save in one atomic commit. The clock is injected.

mod audit_trail;
pub mod calendar_feeds;
pub mod clock;
mod coproduce;
mod decide;
mod disputes;
pub mod error;
mod fan_out;
mod feed;
mod inbox;
mod messages;
mod notices;
mod operations;
mod present;
mod reference;
mod revise;
mod submit;
mod tacit;
pub mod views;
pub mod webhooks;
mod withdraw;

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
use crate::domain::review::{
    Notice, Refusal, ReviewEvent, ReviewState, Surroundings, TransitionContext,
};
use crate::domain::uai::Uai;
use crate::mail::compose;
use crate::store::{
    Commit, FanOut, FeedTag, IdempotencyRecord, InboxOf, MessageSummary, ReviewContext, Store,
    StoreError, academie_timeline, school_timeline,
};
pub use fan_out::FAN_OUT_CHUNK;
use sha2::{Digest, Sha256};
use views::*;

/// Tacit approvals of one message recorded in one commit by the sweep (each commit is one
/// audit extension and one script on Redis, so it stays short for the requests queued behind).
const SWEEP_CHUNK: usize = 25;
/// How many commits ahead the sweep reads a message's due schools.
const SWEEP_AHEAD: usize = 20;

/// How many times a use case re-reads and re-applies after losing an optimistic-concurrency race
/// on something other than the review itself (the audit chain of a busy message).
const MAX_ATTEMPTS: usize = 16;

/// Schools one message may target: every lycée of the largest Région many times over, and what
/// a request body of 256 KiB holds.
pub const MAX_TARGETS: usize = 10_000;

/// The one retry policy of the use cases: each attempt loads, applies and commits; one that
/// lost an optimistic-concurrency race goes round again and re-reads, at most [`MAX_ATTEMPTS`]
/// times, after which the caller is told, in French, to try again later.
struct Retry {
    left: usize,
    busy: &'static str,
}

impl Retry {
    /// A policy whose caller is told `busy` when every attempt lost its race.
    fn after_conflicts(busy: &'static str) -> Retry {
        Retry {
            left: MAX_ATTEMPTS,
            busy,
        }
    }

    /// Whether another attempt may start.
    fn again(&mut self) -> AppResult<()> {
        if self.left == 0 {
            return Err(AppError::Conflict(self.busy.to_owned()));
        }
        self.left -= 1;
        Ok(())
    }
}

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
    store: Arc<dyn Store>,
    /// Time.
    clock: Arc<dyn Clock>,
    /// Authorities and contacts.
    directory: Arc<Directory>,
    /// Business-day calendar.
    calendar: Arc<Calendar>,
    /// Wakes the deadline scheduler when a nearer deadline appears.
    wake: Arc<Notify>,
    /// Wakes the fan-out worker when a submission leaves reviews to open.
    fan_outs: Arc<Notify>,
    /// Where heads answer (put in emails).
    widget_url: String,
    /// The service's public address, for the links it hands out (calendar feeds).
    public_url: String,
    /// Tacit approvals recorded by this instance (exported as a metric).
    tacit_approvals: Arc<std::sync::atomic::AtomicU64>,
    /// Hosts webhooks may be delivered to although they resolve to private addresses.
    webhook_allow_hosts: Arc<Vec<String>>,
    /// Wakes the webhook worker when this instance commits events.
    events_queued: Arc<Notify>,
    /// Fingerprint of the authorities' names, computed once, for the feed's entity tag.
    names_tag: std::sync::OnceLock<String>,
    /// The last feed rendered for each school, with its entity tag.
    rendered_feeds: std::sync::Mutex<HashMap<String, (String, bytes::Bytes)>>,
}

/// Schools whose last rendered feed is kept (about 10 KB each).
const RENDERED_FEEDS_MAX: usize = 2048;

/// `scheme://host:port` of a URL (the text as given when it does not parse).
fn origin_of(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(|_| url.to_owned(), |u| u.origin().ascii_serialization())
}

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
    /// The use cases over their ports: storage, time, the directory and the calendar, and the
    /// widget's address (put in emails).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        directory: Directory,
        calendar: Calendar,
        widget_url: String,
    ) -> Charte {
        Charte {
            store,
            clock,
            directory: Arc::new(directory),
            calendar: Arc::new(calendar),
            wake: Arc::new(Notify::new()),
            public_url: origin_of(&widget_url),
            widget_url,
            tacit_approvals: Default::default(),
            names_tag: Default::default(),
            rendered_feeds: Default::default(),
            fan_outs: Default::default(),
            webhook_allow_hosts: Default::default(),
            events_queued: Default::default(),
        }
    }

    /// The same service, delivering webhooks to these hosts even on private addresses.
    pub fn with_webhook_allow_hosts(mut self, hosts: Vec<String>) -> Charte {
        self.webhook_allow_hosts = Arc::new(hosts);
        self
    }

    /// The same service, handing out links on `public_url` (by default the origin of the
    /// widget's address, which the service serves itself).
    pub fn with_public_url(mut self, public_url: String) -> Charte {
        self.public_url = public_url;
        self
    }

    /// Now, on the service's clock.
    pub fn now(&self) -> OffsetDateTime {
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
            self.derive_events(&mut commit, m);
        }
        let wakes = commit.reviews.iter().any(|r| r.state.deadline_runs());
        let events = !commit.events.is_empty();
        match self.store.commit(commit).await {
            Ok(()) => {
                if wakes {
                    self.wake.notify_one();
                }
                if events {
                    self.events_queued.notify_one();
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
