//! The webhook worker: routes the event log to subscriptions and delivers each subscription's
//! events in order, signed as Standard Webhooks says (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`). One replica at a time holds the webhooks' lease and works; the others
//! wait to take over, so no event is routed or sent by two of them.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::app::Charte;
use crate::domain::webhook::{
    AttemptOutcome, MAX_RETRY_AFTER, RETRY_SCHEDULE, Webhook, WebhookDelivery,
};

/// How the worker delivers.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Pauses before each retry (after the first attempt); a delivery dies after the last.
    pub schedule: Vec<Duration>,
    /// Longest wait for a receiver's answer.
    pub timeout: Duration,
    /// How long the lease of the worker that delivers lasts without renewal.
    pub lease: Duration,
    /// Longest sleep between two looks at the log (events committed by other replicas are
    /// noticed within it).
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            schedule: RETRY_SCHEDULE.to_vec(),
            timeout: Duration::from_secs(15),
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

/// Pause after a store error.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);

/// Runs until `shutdown` turns true; attempts under way are finished and recorded first.
pub async fn run(
    charte: Arc<Charte>,
    settings: WebhookSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let holder = uuid::Uuid::new_v4().to_string();
    let woken = charte.events_queued();
    // Attempts under way, each yielding its subscription's id; a subscription has at most one,
    // so a slow receiver holds up its own events only.
    let mut attempts: JoinSet<String> = JoinSet::new();
    let mut in_flight: HashSet<String> = HashSet::new();
    loop {
        while let Some(done) = attempts.try_join_next() {
            if let Ok(id) = done {
                in_flight.remove(&id);
            }
        }
        if *shutdown.borrow() {
            break;
        }
        let pause = match work(&charte, &settings, &holder, &mut attempts, &mut in_flight).await {
            Ok(pause) => pause,
            Err(e) => {
                tracing::warn!(error = %e, "livraison des webhooks interrompue");
                RETRY_AFTER_ERROR
            }
        };
        if pause.is_zero() {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = woken.notified() => {}
            _ = shutdown.changed() => {}
            Some(done) = attempts.join_next(), if !attempts.is_empty() => {
                if let Ok(id) = done {
                    in_flight.remove(&id);
                }
            }
        }
    }
    while attempts.join_next().await.is_some() {}
}

/// One pass: release what is scheduled, route what is new, start the attempts that are due.
/// Returns how long to sleep (zero: at once).
async fn work(
    charte: &Arc<Charte>,
    settings: &WebhookSettings,
    holder: &str,
    attempts: &mut JoinSet<String>,
    in_flight: &mut HashSet<String>,
) -> crate::app::AppResult<Duration> {
    if !charte.take_webhook_lease(holder, settings.lease).await? {
        return Ok(settings.poll);
    }
    while charte.release_scheduled_events().await? == crate::app::webhooks::ROUTE_BATCH {}
    while charte.route_webhook_events().await? == crate::app::webhooks::ROUTE_BATCH {}
    let (due, next_attempt) = charte.webhook_heads(in_flight).await?;
    if due.is_empty() {
        let now = charte.now();
        let next = [next_attempt, charte.next_scheduled_event().await?]
            .into_iter()
            .flatten()
            .min();
        return Ok(match next {
            Some(at) if at > now => {
                let wait = Duration::try_from(at - now).unwrap_or_default();
                wait.min(settings.poll)
            }
            Some(_) => Duration::ZERO,
            None => settings.poll,
        });
    }
    for (webhook, delivery) in due {
        in_flight.insert(webhook.id.clone());
        let (charte, settings) = (charte.clone(), settings.clone());
        attempts.spawn(async move {
            let outcome = attempt(&charte, &webhook, &delivery, settings.timeout).await;
            let status = outcome_label(&outcome);
            match charte
                .record_webhook_attempt(&webhook, delivery, outcome, &settings.schedule)
                .await
            {
                Ok(d) => tracing::info!(
                    webhook = %webhook.id,
                    livraison = %d.id,
                    evenement = %d.event.id,
                    type_evenement = d.event.kind.name(),
                    tentative = d.attempts,
                    resultat = %status,
                    "livraison de webhook"
                ),
                Err(e) => tracing::warn!(error = %e, "issue d'une livraison non enregistrée"),
            }
            webhook.id
        });
    }
    Ok(Duration::ZERO)
}

fn outcome_label(outcome: &AttemptOutcome) -> String {
    match outcome {
        AttemptOutcome::Delivered { status } => format!("reçue ({status})"),
        AttemptOutcome::Gone => "refusée définitivement (410)".into(),
        AttemptOutcome::Failed { error, .. } => format!("échec : {error}"),
    }
}

/// The `webhook-signature` header: one `v1,<base64>` per secret that signs at `now` (the
/// service's clock, which rotations are dated by).
pub fn signature(
    webhook: &Webhook,
    now: time::OffsetDateTime,
    event_id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    webhook
        .signing_secrets(now)
        .filter_map(|secret| {
            standardwebhooks::Webhook::new(secret)
                .and_then(|w| w.sign(event_id, timestamp, body.as_bytes()))
                .ok()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One attempt: the destination checked again (its addresses may have changed since the
/// subscription), then a signed POST to exactly the addresses checked, without following
/// redirects.
async fn attempt(
    charte: &Charte,
    webhook: &Webhook,
    delivery: &WebhookDelivery,
    timeout: Duration,
) -> AttemptOutcome {
    let failed = |error: String| AttemptOutcome::Failed {
        status: None,
        error,
        retry_after: None,
    };
    let Ok(url) = reqwest::Url::parse(&webhook.url) else {
        return failed("adresse de destination illisible".into());
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addresses = match charte.resolve(&url).await {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => return failed(format!("l'hôte {host} ne se résout pas")),
        Err(e) => return failed(format!("l'hôte {host} ne se résout pas : {e}")),
    };
    if !charte.webhook_destination_allowed(&host, &addresses) {
        return failed(format!(
            "l'hôte {host} désigne une adresse privée ou locale non autorisée (--webhook-allow-hosts)"
        ));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let pinned: Vec<SocketAddr> = addresses
        .iter()
        .map(|ip| SocketAddr::new(*ip, port))
        .collect();
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(&host, &pinned)
        .user_agent(concat!("charte-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => return failed(format!("client HTTP : {e}")),
    };
    let body = delivery.event.payload(charte.public_url());
    // The receiver checks the timestamp against its own clock: real time, whatever the
    // service's clock says (an accelerated demo).
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(webhook, charte.now(), &delivery.event.id, timestamp, &body),
        )
        .body(body)
        .send()
        .await;
    match response {
        Err(e) if e.is_timeout() => {
            failed(format!("pas de réponse en {} s", timeout.as_secs_f32()))
        }
        Err(e) => failed(format!("destinataire injoignable : {e}")),
        Ok(r) => {
            let status = r.status().as_u16();
            if r.status().is_success() {
                AttemptOutcome::Delivered { status }
            } else if status == 410 {
                AttemptOutcome::Gone
            } else {
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after)
                    .map(|d| d.min(MAX_RETRY_AFTER));
                AttemptOutcome::Failed {
                    status: Some(status),
                    error: format!("le destinataire a répondu {status}"),
                    retry_after,
                }
            }
        }
    }
}

/// A `Retry-After` value: seconds, or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // HTTP dates name their zone GMT, which RFC 2822 parsers read as +0000 only when obsolete
    // forms are accepted.
    let value = value.replace(" GMT", " +0000");
    let at =
        time::OffsetDateTime::parse(&value, &time::format_description::well_known::Rfc2822).ok()?;
    Duration::try_from(at - time::OffsetDateTime::now_utc()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let date = later
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap()
            .replace("+0000", "GMT");
        let wait = retry_after(&date).unwrap();
        assert!(wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after("bientôt"), None);
    }
}
