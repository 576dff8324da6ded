//! Webhooks: subscriptions managed by their owners; events derived from each commit and written
//! with it; routing of the event log to the subscriptions that want each event; deliveries
//! recorded attempt by attempt. Sending over HTTP is the worker's (`crate::webhooks`).

use std::net::IpAddr;
use std::time::Duration;

use super::*;
use crate::domain::webhook::{
    AttemptOutcome, DeliveryState, Disabled, EventFactory, EventType, MAX_WEBHOOKS_PER_OWNER,
    Webhook, WebhookDelivery, WebhookScope, WebhookSecret, destination_allowed,
};

/// Events routed per pass of the router.
pub const ROUTE_BATCH: usize = 500;

/// A subscription as asked for by the API.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    /// Where to deliver.
    pub url: Option<String>,
    /// Event type names (all of them when absent).
    pub events: Option<Vec<String>>,
    /// Whose events (by default: the ENT's schools, the authority's messages, or all for an
    /// administrator).
    pub scope: Option<WebhookScope>,
}

/// A subscription with its secret, shown this once.
#[derive(Debug, Clone)]
pub struct WebhookWithSecret {
    /// The subscription.
    pub webhook: Webhook,
    /// Its (new) signing secret.
    pub secret: String,
}

/// A page of a subscription's deliveries, newest first.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    /// The deliveries.
    pub items: Vec<WebhookDelivery>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

impl Charte {
    /// Takes or renews the lease of the replica that routes and delivers webhooks.
    pub async fn take_webhook_lease(&self, holder: &str, ttl: Duration) -> AppResult<bool> {
        Ok(self.store.take_lease("webhooks", holder, ttl).await?)
    }

    /// The service's public address, under which links are given.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Wakes the webhook worker when this instance commits events.
    pub fn events_queued(&self) -> Arc<Notify> {
        self.events_queued.clone()
    }

    /// Adds to a commit the events its audit records give rise to (and, for schools whose record
    /// puts a publication on display now, its start), before those a use case added itself.
    pub(super) fn derive_events(&self, commit: &mut Commit, context: &Message) {
        if commit.audit.is_empty() {
            // No transition (a re-indexing): nothing happened that a receiver should hear of.
            return;
        }
        let message = commit
            .messages
            .iter()
            .find(|m| m.id == context.id)
            .unwrap_or(context);
        let factory = EventFactory { message };
        let mut events: Vec<_> = commit
            .audit
            .iter()
            .flat_map(|r| factory.of_record(r))
            .collect();
        events.append(&mut commit.events);
        let now = self.now();
        let mut scheduled = Vec::new();
        for change in &commit.feed {
            let Some(p) = &change.publication else {
                continue;
            };
            if !commit.audit.iter().any(|r| r.chain == change.uai.as_str()) {
                continue;
            }
            // A display starts now or at its instant, and ends at its instant; a withdrawal
            // cancels what is scheduled, a newer version makes it stale (checked at release).
            let uai = &change.uai;
            if p.is_live(now) {
                events.push(factory.display(EventType::PublicationStarted, uai, p, now));
            } else if p.live_from > now {
                scheduled.push(factory.display(EventType::PublicationStarted, uai, p, p.live_from));
            }
            if p.display_until > now {
                scheduled.push(factory.display(
                    EventType::PublicationEnded,
                    uai,
                    p,
                    p.display_until,
                ));
            }
        }
        commit.events = events;
        commit.scheduled.extend(scheduled);
    }

    /// Releases to the event log the scheduled starts and ends of display whose instant has
    /// come, each if the school still displays that publication (a newer version or a
    /// withdrawal makes it stale); returns how many it took out of the schedule.
    pub async fn release_scheduled_events(&self) -> AppResult<usize> {
        let now = self.now();
        let due = self.store.due_scheduled_events(now, ROUTE_BATCH).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut feeds: HashMap<String, Vec<crate::store::StoredPublication>> = HashMap::new();
        let (mut publish, mut stale) = (Vec::new(), Vec::new());
        for e in due {
            let uai = e.data.uai.clone().unwrap_or_default();
            if !feeds.contains_key(&uai) {
                let publications = match uai.parse::<Uai>() {
                    Ok(u) => self.store.feed(&u, now).await?.1,
                    Err(_) => vec![],
                };
                feeds.insert(uai.clone(), publications);
            }
            let micros = |at: Option<OffsetDateTime>| at.map(crate::domain::message::micros);
            let current = feeds[&uai].iter().any(|sp| {
                sp.message_id == e.data.message_id
                    && Some(sp.live_from_us) == micros(e.data.live_from)
                    && Some(sp.display_until_us) == micros(e.data.display_until)
                    && sp
                        .publication()
                        .is_ok_and(|p| Some(p.version) == e.data.version)
            });
            if current {
                publish.push(e);
            } else {
                stale.push(e);
            }
        }
        self.store.release_scheduled(&publish, &stale).await?;
        Ok(publish.len() + stale.len())
    }

    /// The instant of the soonest scheduled event.
    pub async fn next_scheduled_event(&self) -> AppResult<Option<OffsetDateTime>> {
        Ok(self.store.next_scheduled_event().await?)
    }

    /// Creates a subscription; its secret is in the answer, this once.
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        new: NewWebhook,
    ) -> AppResult<WebhookWithSecret> {
        access::require(actor, Action::SubscribeWebhooks)?;
        let scope = match new.scope {
            Some(scope) => scope,
            None => match actor.role {
                crate::domain::actor::Role::Ent => WebhookScope::Schools {
                    uais: actor.uais.clone(),
                },
                crate::domain::actor::Role::Admin => WebhookScope::All,
                _ => WebhookScope::Authority {
                    authority_id: actor.authority.clone().unwrap_or_default(),
                },
            },
        };
        scope
            .allowed_for(actor)
            .map_err(|why| AppError::Forbidden(why.to_owned()))?;
        let mut violations = Vec::new();
        if let WebhookScope::Schools { uais } = &scope
            && uais.is_empty()
        {
            violations.push(Violation::new(
                "scope.uais",
                "Nommez au moins un établissement (UAI).",
            ));
        }
        let events = match new.events {
            None => EventType::ALL.to_vec(),
            Some(names) if names.is_empty() => {
                violations.push(Violation::new(
                    "events",
                    "Nommez au moins un type d'événement, ou omettez le champ pour les recevoir tous.",
                ));
                vec![]
            }
            Some(names) => {
                let mut types = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    match EventType::parse(name) {
                        Some(t) if !types.contains(&t) => types.push(t),
                        Some(_) => {}
                        None => violations.push(Violation::new(
                            format!("events[{i}]"),
                            format!(
                                "Type d'événement inconnu « {name} » ; types possibles : {}.",
                                EventType::ALL.map(EventType::name).join(", ")
                            ),
                        )),
                    }
                }
                types
            }
        };
        let url = match new.url.as_deref().map(str::trim) {
            None | Some("") => {
                violations.push(Violation::new(
                    "url",
                    "Indiquez l'adresse (https) où livrer les événements.",
                ));
                None
            }
            Some(url) => match self.check_destination(url).await {
                Ok(()) => Some(url.to_owned()),
                Err(why) => {
                    violations.push(Violation::new("url", why));
                    None
                }
            },
        };
        if !violations.is_empty() {
            return Err(AppError::Invalid(violations));
        }
        let owned = self
            .store
            .webhooks()
            .await?
            .iter()
            .filter(|w| w.owner.subject == actor.subject)
            .count();
        if owned >= MAX_WEBHOOKS_PER_OWNER {
            return Err(AppError::Conflict(format!(
                "Vous avez déjà {MAX_WEBHOOKS_PER_OWNER} abonnements : supprimez-en un avant d'en créer un autre."
            )));
        }
        let now = self.now();
        let secret = new_secret();
        let webhook = Webhook {
            id: uuid::Uuid::new_v4().to_string(),
            url: url.unwrap_or_default(),
            events,
            scope,
            owner: actor.clone(),
            secrets: vec![WebhookSecret {
                secret: secret.clone(),
                created_at: now,
                expires_at: None,
            }],
            created_at: now,
            disabled: None,
            since: self.store.last_event_position().await?,
        };
        self.store.put_webhook(&webhook).await?;
        tracing::info!(webhook = %webhook.id, url = %webhook.url, "abonnement webhook créé");
        Ok(WebhookWithSecret { webhook, secret })
    }

    /// The caller's subscriptions (every one, for an administrator), oldest first.
    pub async fn webhooks(&self, actor: &Actor) -> AppResult<Vec<Webhook>> {
        access::require(actor, Action::SubscribeWebhooks)?;
        Ok(self
            .store
            .webhooks()
            .await?
            .into_iter()
            .filter(|w| w.managed_by(actor))
            .collect())
    }

    /// One of the caller's subscriptions (404 for someone else's).
    pub async fn webhook(&self, actor: &Actor, id: &str) -> AppResult<Webhook> {
        access::require(actor, Action::SubscribeWebhooks)?;
        self.store
            .webhook(id)
            .await?
            .filter(|w| w.managed_by(actor))
            .ok_or_else(|| AppError::NotFound(format!("Aucun abonnement webhook « {id} ».")))
    }

    /// Deletes one of the caller's subscriptions: nothing more is delivered to it.
    pub async fn delete_webhook(&self, actor: &Actor, id: &str) -> AppResult<()> {
        self.webhook(actor, id).await?;
        self.store.delete_webhook(id).await?;
        Ok(())
    }

    /// Gives a subscription a new secret; the old one keeps signing for a day, beside it.
    pub async fn rotate_webhook_secret(
        &self,
        actor: &Actor,
        id: &str,
    ) -> AppResult<WebhookWithSecret> {
        let mut webhook = self.webhook(actor, id).await?;
        let secret = new_secret();
        webhook.rotate(secret.clone(), self.now());
        self.store.put_webhook(&webhook).await?;
        Ok(WebhookWithSecret { webhook, secret })
    }

    /// A page of a subscription's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        actor: &Actor,
        id: &str,
        q: &ListQuery,
    ) -> AppResult<DeliveryPage> {
        self.webhook(actor, id).await?;
        let limit = page_size(q)?;
        let cursor = decode_cursor(q)?;
        let mut rows = self
            .store
            .deliveries_of(id, cursor.as_deref(), limit + 1)
            .await?;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|(k, _)| encode_cursor(k))
        } else {
            None
        };
        Ok(DeliveryPage {
            items: rows.into_iter().map(|(_, d)| d).collect(),
            next_cursor,
        })
    }

    /// Queues a dead delivery again, at once (after whatever its subscription has queued
    /// before it).
    pub async fn retry_webhook_delivery(
        &self,
        actor: &Actor,
        id: &str,
        delivery_id: &str,
    ) -> AppResult<WebhookDelivery> {
        let webhook = self.webhook(actor, id).await?;
        let mut delivery = self
            .store
            .delivery(delivery_id)
            .await?
            .filter(|d| d.webhook_id == webhook.id)
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "Aucune livraison « {delivery_id} » pour cet abonnement."
                ))
            })?;
        if webhook.disabled.is_some() {
            return Err(AppError::Conflict(
                "L'abonnement est désactivé (le destinataire a répondu 410 Gone) : créez-en un nouveau."
                    .into(),
            ));
        }
        if !delivery.replay(self.now()) {
            return Err(AppError::Conflict(match delivery.state {
                DeliveryState::Queued => "Cette livraison est déjà en file d'envoi.".into(),
                _ => "Cette livraison a déjà été reçue : il n'y a rien à rejouer.".into(),
            }));
        }
        self.store.put_delivery(&delivery).await?;
        self.events_queued.notify_one();
        Ok(delivery)
    }

    /// Whether `url` may receive webhooks: https (http only to an allowed host), and an address
    /// on the public internet unless the host is allowed. `Err` says why not, in French.
    pub async fn check_destination(&self, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| format!("« {url} » n'est pas une adresse web valable."))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| "L'adresse doit nommer un hôte.".to_owned())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let allowed = self
            .webhook_allow_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host));
        match parsed.scheme() {
            "https" => {}
            "http" if allowed => {}
            _ => {
                return Err(
                    "L'adresse doit être en https (http n'est permis que vers un hôte autorisé par --webhook-allow-hosts)."
                        .into(),
                );
            }
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("L'adresse ne doit pas porter d'identifiants.".into());
        }
        let addresses = self.resolve(&parsed).await.map_err(|e| {
            // The resolver's own words (in English) are for the operator, not the caller.
            tracing::info!(hote = %host, error = %e, "destination de webhook introuvable");
            format!("L'hôte « {host} » est introuvable (DNS) : vérifiez l'adresse.")
        })?;
        if destination_allowed(&host, &addresses, &self.webhook_allow_hosts) {
            Ok(())
        } else {
            Err(format!(
                "L'hôte « {host} » désigne une adresse privée ou locale : un administrateur peut l'autoriser avec --webhook-allow-hosts."
            ))
        }
    }

    /// The addresses a URL's host resolves to.
    pub async fn resolve(&self, url: &reqwest::Url) -> std::io::Result<Vec<IpAddr>> {
        let host = url.host_str().unwrap_or_default();
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(vec![ip]);
        }
        let port = url.port_or_known_default().unwrap_or(443);
        Ok(tokio::net::lookup_host((host, port))
            .await?
            .map(|a| a.ip())
            .collect())
    }

    /// Whether deliveries to `host`, resolved to `addresses`, may go.
    pub fn webhook_destination_allowed(&self, host: &str, addresses: &[IpAddr]) -> bool {
        destination_allowed(host, addresses, &self.webhook_allow_hosts)
    }

    /// Routes the events logged since the last pass to the subscriptions that want them, at most
    /// [`ROUTE_BATCH`]; returns how many events it routed. Only the holder of the webhooks' lease
    /// calls it, so no event is routed twice.
    pub async fn route_webhook_events(&self) -> AppResult<usize> {
        let after = self.store.routed_position().await?;
        let events = self
            .store
            .events_after(after.as_deref(), ROUTE_BATCH)
            .await?;
        let Some((last, _)) = events.last() else {
            return Ok(0);
        };
        let hooks = self.store.webhooks().await?;
        let now = self.now();
        let deliveries: Vec<WebhookDelivery> = events
            .iter()
            .flat_map(|(position, event)| {
                hooks
                    .iter()
                    .filter(move |w| {
                        w.wants(event) && w.since.as_deref().is_none_or(|s| s < position.as_str())
                    })
                    .map(move |w| WebhookDelivery {
                        id: uuid::Uuid::new_v4().to_string(),
                        webhook_id: w.id.clone(),
                        position: position.clone(),
                        event: event.clone(),
                        state: DeliveryState::Queued,
                        attempts: 0,
                        next_attempt_at: now,
                        last_status: None,
                        last_error: None,
                        created_at: now,
                        finished_at: None,
                    })
            })
            .collect();
        self.store.route_events(&deliveries, last).await?;
        Ok(events.len())
    }

    /// The deliveries to attempt now — the first queued one of each enabled subscription not in
    /// `busy` (an attempt of theirs is under way), when its time has come: one at a time per
    /// subscription, so each receives its events in order — and, read with them, when the
    /// soonest of the others falls due.
    pub async fn webhook_heads(
        &self,
        busy: &std::collections::HashSet<String>,
    ) -> AppResult<(Vec<(Webhook, WebhookDelivery)>, Option<OffsetDateTime>)> {
        let now = self.now();
        let (mut due, mut next) = (Vec::new(), None::<OffsetDateTime>);
        for w in self.store.webhooks().await? {
            if w.disabled.is_some() || busy.contains(&w.id) {
                continue;
            }
            match self.store.queued_deliveries(&w.id, 1).await?.pop() {
                Some(d) if d.next_attempt_at <= now => due.push((w, d)),
                Some(d) => {
                    next = Some(next.map_or(d.next_attempt_at, |n| n.min(d.next_attempt_at)))
                }
                None => {}
            }
        }
        Ok((due, next))
    }

    /// Records an attempt's outcome; a 410 disables the subscription.
    pub async fn record_webhook_attempt(
        &self,
        webhook: &Webhook,
        mut delivery: WebhookDelivery,
        outcome: AttemptOutcome,
        schedule: &[Duration],
    ) -> AppResult<WebhookDelivery> {
        let now = self.now();
        delivery.record(&outcome, schedule, rand::random::<f64>(), now);
        self.store.put_delivery(&delivery).await?;
        if outcome == AttemptOutcome::Gone
            && let Some(mut current) = self.store.webhook(&webhook.id).await?
        {
            current.disabled = Some(Disabled {
                at: now,
                reason: "Le destinataire a répondu 410 Gone : il ne veut plus de ces événements."
                    .into(),
            });
            self.store.put_webhook(&current).await?;
            tracing::warn!(webhook = %webhook.id, "abonnement webhook désactivé (410 Gone)");
        }
        Ok(delivery)
    }
}
