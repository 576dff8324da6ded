//! Webhooks: the events a transition gives rise to, who subscribes to which, and how a delivery
//! is retried. Sending them (signing, HTTP) is an adapter's; this is what they say and when.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::actor::{Actor, Role};
use super::audit::{AuditAction, AuditRecord};
use super::message::{Message, Publication};
use super::uai::Uai;

/// Subscriptions one person or system may hold at once.
pub const MAX_WEBHOOKS_PER_OWNER: usize = 20;

/// How long a rotated-out secret still signs deliveries, so a receiver can switch without losing
/// any (Standard Webhooks: both signatures are sent during the overlap).
pub const SECRET_OVERLAP: time::Duration = time::Duration::hours(24);

/// What happened, as a webhook tells it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum EventType {
    /// A school's review opened.
    #[serde(rename = "review.opened")]
    ReviewOpened,
    /// A review was decided (approved, tacitly approved, rectification requested, authorised,
    /// upheld).
    #[serde(rename = "review.decided")]
    ReviewDecided,
    /// A publication went on display at a school.
    #[serde(rename = "publication.started")]
    PublicationStarted,
    /// A publication left a school's display (withdrawal).
    #[serde(rename = "publication.ended")]
    PublicationEnded,
    /// An emergency message was published at once.
    #[serde(rename = "emergency.published")]
    EmergencyPublished,
    /// A dispute was taken to the arbitrator.
    #[serde(rename = "dispute.opened")]
    DisputeOpened,
    /// A dispute ended (the arbitrator's decision, or closed by a new version or a withdrawal).
    #[serde(rename = "dispute.decided")]
    DisputeDecided,
    /// The authority withdrew a message.
    #[serde(rename = "message.withdrawn")]
    MessageWithdrawn,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 8] = [
        EventType::ReviewOpened,
        EventType::ReviewDecided,
        EventType::PublicationStarted,
        EventType::PublicationEnded,
        EventType::EmergencyPublished,
        EventType::DisputeOpened,
        EventType::DisputeDecided,
        EventType::MessageWithdrawn,
    ];

    /// The type's name, as the payload's `type` says it.
    pub const fn name(self) -> &'static str {
        match self {
            EventType::ReviewOpened => "review.opened",
            EventType::ReviewDecided => "review.decided",
            EventType::PublicationStarted => "publication.started",
            EventType::PublicationEnded => "publication.ended",
            EventType::EmergencyPublished => "emergency.published",
            EventType::DisputeOpened => "dispute.opened",
            EventType::DisputeDecided => "dispute.decided",
            EventType::MessageWithdrawn => "message.withdrawn",
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// What it says, in French.
    pub const fn label(self) -> &'static str {
        match self {
            EventType::ReviewOpened => "Examen ouvert dans un établissement",
            EventType::ReviewDecided => "Décision sur un examen",
            EventType::PublicationStarted => "Début d'affichage dans un établissement",
            EventType::PublicationEnded => "Fin d'affichage dans un établissement",
            EventType::EmergencyPublished => "Publication en urgence",
            EventType::DisputeOpened => "Litige porté devant l'autorité d'arbitrage",
            EventType::DisputeDecided => "Litige tranché ou clos",
            EventType::MessageWithdrawn => "Communication retirée",
        }
    }
}

/// The event's facts: ids and links, never the message's content (a receiver that wants it
/// reads it with its own credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventData {
    /// The message.
    pub message_id: String,
    /// Its authority.
    pub authority_id: String,
    /// The school concerned, if one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uai: Option<String>,
    /// The review concerned, if one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub review_id: Option<String>,
    /// The message version concerned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<u32>,
    /// For decisions: `approved`, `tacitly_approved`, `rectification_requested`, `authorised`,
    /// `upheld`, `closed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision: Option<String>,
    /// For displays: start and end (excluded).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub live_from: Option<OffsetDateTime>,
    /// End of display (excluded).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub display_until: Option<OffsetDateTime>,
}

/// Links to the resources an event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventLinks {
    /// The message.
    pub message: String,
    /// The review, if one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub review: Option<String>,
    /// The school's feed, for displays.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub feed: Option<String>,
}

/// One event: its id (the `webhook-id` of every delivery of it) and the payload sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id, stable across retries.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// Its facts.
    pub data: EventData,
}

/// The body of a delivery, as Standard Webhooks shapes it: `{type, timestamp, data}`.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    data: PayloadData<'a>,
}

/// The event's facts with their links.
#[derive(Serialize)]
struct PayloadData<'a> {
    #[serde(flatten)]
    facts: &'a EventData,
    links: EventLinks,
}

impl Event {
    /// Links to the resources it concerns, under `base` (the service's public address): built
    /// when it is sent rather than stored with it, as they follow from its ids.
    pub fn links(&self, base: &str) -> EventLinks {
        let d = &self.data;
        let is_display = matches!(
            self.kind,
            EventType::PublicationStarted | EventType::PublicationEnded
        );
        EventLinks {
            message: format!("{base}/v1/messages/{}", d.message_id),
            review: d
                .review_id
                .as_ref()
                .map(|r| format!("{base}/v1/reviews/{r}")),
            feed: d
                .uai
                .as_ref()
                .filter(|_| is_display)
                .map(|u| format!("{base}/v1/schools/{u}/feed")),
        }
    }

    /// The body sent to receivers, its links under `base`.
    pub fn payload(&self, base: &str) -> String {
        serde_json::to_string(&Payload {
            kind: self.kind.name(),
            timestamp: self.timestamp,
            data: PayloadData {
                facts: &self.data,
                links: self.links(base),
            },
        })
        .unwrap_or_default()
    }
}

/// Builds events about one message, with fresh ids.
pub struct EventFactory<'a> {
    /// The message.
    pub message: &'a Message,
}

impl EventFactory<'_> {
    fn event(
        &self,
        kind: EventType,
        at: OffsetDateTime,
        data: impl FnOnce(&mut EventData),
    ) -> Event {
        let mut d = EventData {
            message_id: self.message.id.clone(),
            authority_id: self.message.authority_id.clone(),
            uai: None,
            review_id: None,
            version: None,
            decision: None,
            live_from: None,
            display_until: None,
        };
        data(&mut d);
        Event {
            id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
            kind,
            timestamp: at,
            data: d,
        }
    }

    /// The events an audit record gives rise to (none for submissions, versions and
    /// co-validations, which only the message's own history tells).
    pub fn of_record(&self, record: &AuditRecord) -> Vec<Event> {
        let e = &record.entry;
        let with_review = |d: &mut EventData| {
            d.uai = e.uai.clone();
            d.review_id = e.review_id.clone();
            d.version = e.version;
        };
        let decided = |decision: &str| {
            let decision = decision.to_owned();
            move |d: &mut EventData| {
                with_review(d);
                d.decision = Some(decision);
            }
        };
        match e.action {
            AuditAction::ReviewOpened => {
                vec![self.event(EventType::ReviewOpened, e.at, with_review)]
            }
            AuditAction::Approved => {
                vec![self.event(EventType::ReviewDecided, e.at, decided("approved"))]
            }
            AuditAction::TacitlyApproved => {
                vec![self.event(EventType::ReviewDecided, e.at, decided("tacitly_approved"))]
            }
            AuditAction::RectificationRequested => vec![self.event(
                EventType::ReviewDecided,
                e.at,
                decided("rectification_requested"),
            )],
            AuditAction::Authorised => vec![
                self.event(EventType::ReviewDecided, e.at, decided("authorised")),
                self.event(EventType::DisputeDecided, e.at, decided("authorised")),
            ],
            AuditAction::Upheld => vec![
                self.event(EventType::ReviewDecided, e.at, decided("upheld")),
                self.event(EventType::DisputeDecided, e.at, decided("upheld")),
            ],
            AuditAction::DisputeClosed => {
                vec![self.event(EventType::DisputeDecided, e.at, decided("closed"))]
            }
            AuditAction::Escalated => {
                vec![self.event(EventType::DisputeOpened, e.at, with_review)]
            }
            AuditAction::EmergencyPublished => {
                vec![self.event(EventType::EmergencyPublished, e.at, |d| {
                    d.version = e.version
                })]
            }
            // The message's own record; each open review's closing record says nothing more.
            AuditAction::Withdrawn if e.uai.is_none() => {
                vec![self.event(EventType::MessageWithdrawn, e.at, |_| {})]
            }
            AuditAction::Withdrawn => vec![],
            AuditAction::Submitted
            | AuditAction::Coproduced
            | AuditAction::VersionSubmitted
            | AuditAction::Superseded => vec![],
        }
    }

    /// A publication's start or end of display at a school, at `at`.
    pub fn display(
        &self,
        kind: EventType,
        uai: &Uai,
        p: &Publication,
        at: OffsetDateTime,
    ) -> Event {
        self.event(kind, at, |d| {
            d.uai = Some(uai.to_string());
            d.version = Some(p.version);
            d.live_from = Some(p.live_from);
            d.display_until = Some(p.display_until);
        })
    }
}

/// What a subscription receives events about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WebhookScope {
    /// Events at these schools (an ENT's).
    Schools {
        /// The schools.
        uais: Vec<Uai>,
    },
    /// Events about one authority's messages.
    Authority {
        /// The authority.
        authority_id: String,
    },
    /// Every event (administrators).
    All,
}

impl WebhookScope {
    /// Whether an event falls within it.
    pub fn covers(&self, event: &Event) -> bool {
        match self {
            WebhookScope::All => true,
            WebhookScope::Authority { authority_id } => event.data.authority_id == *authority_id,
            WebhookScope::Schools { uais } => event
                .data
                .uai
                .as_deref()
                .is_some_and(|u| uais.iter().any(|s| s.as_str() == u)),
        }
    }

    /// Whether `actor` may subscribe to it: an administrator to anything, the ENT to its own
    /// schools, an authority's staff to their authority's messages. `Err` says why not, in
    /// French.
    pub fn allowed_for(&self, actor: &Actor) -> Result<(), &'static str> {
        match (actor.role, self) {
            (Role::Admin, _) => Ok(()),
            (Role::Ent, WebhookScope::Schools { uais }) => {
                if uais.iter().all(|u| actor.uais.contains(u)) {
                    Ok(())
                } else {
                    Err("Un ENT ne s'abonne qu'aux établissements que son jeton nomme.")
                }
            }
            (
                Role::AuthorityAgent | Role::AuthorityRepresentative,
                WebhookScope::Authority { authority_id },
            ) => {
                if actor.authority.as_deref() == Some(authority_id.as_str()) {
                    Ok(())
                } else {
                    Err(
                        "Une collectivité ne s'abonne qu'aux événements de ses propres communications.",
                    )
                }
            }
            (Role::Ent, _) => {
                Err("Un ENT s'abonne avec une portée « schools » (ses établissements).")
            }
            (Role::AuthorityAgent | Role::AuthorityRepresentative, _) => {
                Err("Une collectivité s'abonne avec une portée « authority » (ses communications).")
            }
            (Role::Head | Role::AcademicServices | Role::Arbitrator, _) => Err(
                "Seuls les administrateurs, l'ENT et les collectivités s'abonnent aux webhooks.",
            ),
        }
    }
}

/// A signing secret of a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecret {
    /// `whsec_` and the base64 of 32 random bytes.
    pub secret: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops signing (set when it is rotated out).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
}

/// Why a subscription no longer receives anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why, in French.
    pub reason: String,
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Identifier.
    pub id: String,
    /// Where deliveries go (https, or http to an allowed host).
    pub url: String,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// Whose events.
    pub scope: WebhookScope,
    /// Who created it (only they, and administrators, manage it).
    pub owner: Actor,
    /// Signing secrets, newest last; older ones sign until they expire.
    pub secrets: Vec<WebhookSecret>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set when the receiver answered 410 Gone.
    #[serde(default)]
    pub disabled: Option<Disabled>,
    /// The event log's position when it was created: it receives what happens after.
    #[serde(default)]
    pub since: Option<String>,
}

impl Webhook {
    /// Whether it receives `event`.
    pub fn wants(&self, event: &Event) -> bool {
        self.disabled.is_none() && self.events.contains(&event.kind) && self.scope.covers(event)
    }

    /// The secrets that sign at `now`.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> impl Iterator<Item = &str> {
        self.secrets
            .iter()
            .filter(move |s| s.expires_at.is_none_or(|e| now < e))
            .map(|s| s.secret.as_str())
    }

    /// Replaces the current secret by `secret`; the old ones keep signing for
    /// [`SECRET_OVERLAP`].
    pub fn rotate(&mut self, secret: String, now: OffsetDateTime) {
        self.secrets
            .retain(|s| s.expires_at.is_none_or(|e| now < e));
        for s in &mut self.secrets {
            if s.expires_at.is_none() {
                s.expires_at = Some(now + SECRET_OVERLAP);
            }
        }
        self.secrets.push(WebhookSecret {
            secret,
            created_at: now,
            expires_at: None,
        });
    }

    /// Whether `actor` manages it: its owner, or an administrator.
    pub fn managed_by(&self, actor: &Actor) -> bool {
        actor.role == Role::Admin || actor.subject == self.owner.subject
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Queued,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the retry schedule (or its subscription was disabled); may be replayed.
    Dead,
}

/// One event's delivery to one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Identifier.
    pub id: String,
    /// The subscription.
    pub webhook_id: String,
    /// Position of the event in the event log (deliveries of one subscription go in this order).
    pub position: String,
    /// The event.
    pub event: Event,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts so far (since it was last queued).
    pub attempts: u32,
    /// When the next attempt may go.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// The receiver's last HTTP status, if it answered.
    #[serde(default)]
    pub last_status: Option<u16>,
    /// The last failure, in French.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was delivered, or given up.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub finished_at: Option<OffsetDateTime>,
}

/// What an attempt's outcome makes of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx.
    Delivered {
        /// The status.
        status: u16,
    },
    /// 410 Gone: the receiver wants no more; the subscription is disabled.
    Gone,
    /// Any other answer, or none.
    Failed {
        /// The status, if the receiver answered.
        status: Option<u16>,
        /// What went wrong, in French.
        error: String,
        /// The receiver's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
}

/// The pause before each retry, after the first attempt (Standard Webhooks' suggested
/// schedule): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// A `Retry-After` longer than this is not honoured as such (the schedule's longest wait).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);

impl WebhookDelivery {
    /// Records an attempt's outcome at `now`: delivered, dead, or queued again after the
    /// schedule's next pause (`jitter` in [0, 1) spreads it by up to a fifth, and a receiver's
    /// `Retry-After` is honoured when longer). A 410 makes the delivery dead; the caller disables
    /// the subscription.
    pub fn record(
        &mut self,
        outcome: &AttemptOutcome,
        schedule: &[Duration],
        jitter: f64,
        now: OffsetDateTime,
    ) {
        self.attempts += 1;
        match outcome {
            AttemptOutcome::Delivered { status } => {
                self.state = DeliveryState::Delivered;
                self.last_status = Some(*status);
                self.last_error = None;
                self.finished_at = Some(now);
            }
            AttemptOutcome::Gone => {
                self.state = DeliveryState::Dead;
                self.last_status = Some(410);
                self.last_error =
                    Some("Le destinataire a répondu 410 Gone : l'abonnement est désactivé.".into());
                self.finished_at = Some(now);
            }
            AttemptOutcome::Failed {
                status,
                error,
                retry_after,
            } => {
                self.last_status = *status;
                self.last_error = Some(error.clone());
                match schedule.get(self.attempts as usize - 1) {
                    Some(pause) => {
                        let spread = pause.mul_f64(jitter.clamp(0.0, 1.0) / 5.0);
                        let mut wait = *pause + spread;
                        if let Some(asked) = retry_after {
                            wait = wait.max((*asked).min(MAX_RETRY_AFTER));
                        }
                        self.next_attempt_at = now + wait;
                    }
                    None => {
                        self.state = DeliveryState::Dead;
                        self.finished_at = Some(now);
                    }
                }
            }
        }
    }

    /// Queues a dead delivery again, at once, with its attempts counted anew.
    pub fn replay(&mut self, now: OffsetDateTime) -> bool {
        if self.state != DeliveryState::Dead {
            return false;
        }
        self.state = DeliveryState::Queued;
        self.attempts = 0;
        self.next_attempt_at = now;
        self.finished_at = None;
        true
    }
}

/// Whether a destination address may be called: private, loopback, link-local and other
/// non-public addresses are refused unless the host is named in the allow-list (SSRF).
pub fn destination_allowed(host: &str, addresses: &[IpAddr], allow_hosts: &[String]) -> bool {
    if allow_hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return true;
    }
    !addresses.is_empty() && addresses.iter().all(|a| is_public(*a))
}

/// Whether an address is on the public internet.
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_documentation()
                || a.is_multicast()
                || o[0] == 0
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                // Benchmarking, 198.18.0.0/15; reserved, 240.0.0.0/4.
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = a.segments();
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10.
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_event_type_has_a_name_that_parses_back_and_a_french_label() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.name()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.name())
            );
            assert!(!t.label().is_empty());
        }
        assert_eq!(EventType::parse("review.closed"), None);
    }

    fn delivery() -> WebhookDelivery {
        let at = datetime!(2026-12-01 10:00 UTC);
        WebhookDelivery {
            id: "dlv".into(),
            webhook_id: "wh".into(),
            position: "1".into(),
            event: Event {
                id: "evt".into(),
                kind: EventType::ReviewOpened,
                timestamp: at,
                data: EventData {
                    message_id: "m".into(),
                    authority_id: "a".into(),
                    uai: None,
                    review_id: None,
                    version: None,
                    decision: None,
                    live_from: None,
                    display_until: None,
                },
            },
            state: DeliveryState::Queued,
            attempts: 0,
            next_attempt_at: at,
            last_status: None,
            last_error: None,
            created_at: at,
            finished_at: None,
        }
    }

    fn failed(retry_after: Option<Duration>) -> AttemptOutcome {
        AttemptOutcome::Failed {
            status: Some(500),
            error: "500".into(),
            retry_after,
        }
    }

    #[test]
    fn a_failed_delivery_waits_the_schedule_with_up_to_a_fifth_of_jitter_then_dies() {
        let now = datetime!(2026-12-01 10:00 UTC);
        let mut d = delivery();
        d.record(&failed(None), &RETRY_SCHEDULE, 0.0, now);
        assert_eq!(d.state, DeliveryState::Queued);
        assert_eq!(d.next_attempt_at, now + Duration::from_secs(5));
        d.record(&failed(None), &RETRY_SCHEDULE, 0.999, now);
        let wait = d.next_attempt_at - now;
        assert!(wait > time::Duration::minutes(5) && wait < time::Duration::minutes(6));
        for _ in 2..RETRY_SCHEDULE.len() {
            d.record(&failed(None), &RETRY_SCHEDULE, 0.5, now);
            assert_eq!(d.state, DeliveryState::Queued);
        }
        d.record(&failed(None), &RETRY_SCHEDULE, 0.5, now);
        assert_eq!(d.state, DeliveryState::Dead);
        assert_eq!(d.attempts, 8);
        assert!(d.replay(now));
        assert_eq!((d.state, d.attempts), (DeliveryState::Queued, 0));
        assert!(!d.replay(now));
    }

    #[test]
    fn retry_after_is_honoured_when_longer_than_the_schedule_and_capped() {
        let now = datetime!(2026-12-01 10:00 UTC);
        let mut d = delivery();
        d.record(
            &failed(Some(Duration::from_secs(60))),
            &RETRY_SCHEDULE,
            0.0,
            now,
        );
        assert_eq!(d.next_attempt_at, now + Duration::from_secs(60));
        let mut d = delivery();
        d.record(
            &failed(Some(Duration::from_secs(1))),
            &RETRY_SCHEDULE,
            0.0,
            now,
        );
        assert_eq!(d.next_attempt_at, now + Duration::from_secs(5));
        let mut d = delivery();
        d.record(
            &failed(Some(Duration::from_secs(1 << 30))),
            &RETRY_SCHEDULE,
            0.0,
            now,
        );
        assert_eq!(d.next_attempt_at, now + MAX_RETRY_AFTER);
    }

    #[test]
    fn gone_kills_the_delivery_and_success_finishes_it() {
        let now = datetime!(2026-12-01 10:00 UTC);
        let mut d = delivery();
        d.record(&AttemptOutcome::Gone, &RETRY_SCHEDULE, 0.0, now);
        assert_eq!((d.state, d.last_status), (DeliveryState::Dead, Some(410)));
        let mut d = delivery();
        d.record(
            &AttemptOutcome::Delivered { status: 204 },
            &RETRY_SCHEDULE,
            0.0,
            now,
        );
        assert_eq!(
            (d.state, d.finished_at),
            (DeliveryState::Delivered, Some(now))
        );
    }

    #[test]
    fn private_and_loopback_destinations_are_refused_unless_allowed_by_name() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!destination_allowed("h", &[ip(private)], &[]), "{private}");
            assert!(
                destination_allowed("h", &[ip(private)], &["H".into()]),
                "{private}"
            );
        }
        assert!(!destination_allowed(
            "ent.example",
            &[ip("203.0.113.9")],
            &[]
        ));
        assert!(destination_allowed(
            "ent.example",
            &[ip("81.2.69.160")],
            &[]
        ));
        // One private address among public ones is enough to refuse (DNS rebinding).
        assert!(!destination_allowed(
            "ent.example",
            &[ip("81.2.69.160"), ip("10.0.0.1")],
            &[]
        ));
        assert!(!destination_allowed("ent.example", &[], &[]));
    }

    #[test]
    fn rotation_keeps_the_old_secret_signing_for_the_overlap_only() {
        let now = datetime!(2026-12-01 10:00 UTC);
        let owner = Actor {
            subject: "admin".into(),
            name: "A".into(),
            role: Role::Admin,
            authority: None,
            uais: vec![],
            academie: None,
            arbitrator: None,
        };
        let mut w = Webhook {
            id: "w".into(),
            url: "https://ent.example/hook".into(),
            events: EventType::ALL.to_vec(),
            scope: WebhookScope::All,
            owner,
            secrets: vec![WebhookSecret {
                secret: "whsec_old".into(),
                created_at: now,
                expires_at: None,
            }],
            created_at: now,
            disabled: None,
            since: None,
        };
        w.rotate("whsec_new".into(), now);
        let signing: Vec<&str> = w.signing_secrets(now).collect();
        assert_eq!(signing, ["whsec_old", "whsec_new"]);
        let later = now + SECRET_OVERLAP;
        assert_eq!(w.signing_secrets(later).collect::<Vec<_>>(), ["whsec_new"]);
    }
}
