//! The outbox worker: claims due emails under a lease, sends them, records the outcome, and
//! queues the reminders of reviews entering their last day. Safe with several replicas: the
//! store hands each email to one worker at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{MailSettings, SendError, Transport, build_message};
use crate::app::Charte;
use crate::store::{ClaimedMail, MailOutcome};

/// Reviews looked at per reminder check.
const REMINDER_BATCH: usize = 1000;
/// Pause after a store error.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);

/// One worker over one store and one transport.
pub struct MailWorker {
    charte: Arc<Charte>,
    transport: Arc<dyn Transport>,
    from: Mailbox,
    settings: MailSettings,
}

impl MailWorker {
    /// A worker sending through `transport` as the settings say.
    pub fn new(
        charte: Arc<Charte>,
        transport: Arc<dyn Transport>,
        settings: MailSettings,
    ) -> anyhow::Result<MailWorker> {
        let from = super::parse_from(&settings.from)?;
        Ok(MailWorker {
            charte,
            transport,
            from,
            settings,
        })
    }

    /// Runs until `shutdown` turns true; an attempt under way is finished and recorded first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let queued = self.charte.mail_queued();
        let mut last_reminder_check: Option<Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Real time, divided by the demo speed-up, so an accelerated demo still reminds in time.
            let every = self.settings.reminder_check / self.charte.clock_speed().max(1);
            if last_reminder_check.is_none_or(|t| t.elapsed() >= every) {
                last_reminder_check = Some(Instant::now());
                match self.charte.queue_reminders(REMINDER_BATCH).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rappels = n, "rappels mis en file"),
                    Err(e) => tracing::warn!(error = %e, "recherche des rappels interrompue"),
                }
                match self.charte.expire_old(self.settings.retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        enregistrements = n,
                        "courriels envoyés et clés d'idempotence anciens oubliés"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "expiration des anciens envois interrompue")
                    }
                }
                match self.charte.queue_dispute_reminders().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rappels = n, "rappels d'arbitrage mis en file"),
                    Err(e) => {
                        tracing::warn!(error = %e, "recherche des litiges en attente interrompue")
                    }
                }
            }
            let pause = match self.deliver_batch().await {
                // A full batch suggests more are waiting: go on at once.
                Ok(n) if n >= self.settings.batch => continue,
                Ok(_) => self.settings.poll,
                Err(e) => {
                    tracing::warn!(error = %e, "file d'envoi des courriels inaccessible");
                    RETRY_AFTER_ERROR
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = queued.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("envoi des courriels arrêté");
    }

    /// Claims and sends one batch; returns how many emails it claimed.
    pub async fn deliver_batch(&self) -> crate::app::AppResult<usize> {
        let claimed = self
            .charte
            .claim_mail(self.settings.lease, self.settings.batch)
            .await?;
        let n = claimed.len();
        let mut attempts = JoinSet::new();
        for mail in claimed {
            attempts.spawn(deliver(
                self.charte.clone(),
                self.transport.clone(),
                self.from.clone(),
                self.settings.clone(),
                mail,
            ));
        }
        while attempts.join_next().await.is_some() {}
        Ok(n)
    }
}

async fn deliver(
    charte: Arc<Charte>,
    transport: Arc<dyn Transport>,
    from: Mailbox,
    settings: MailSettings,
    mail: ClaimedMail,
) {
    let email = &mail.email;
    // The attempt must end well within the lease, or another worker would send it meanwhile.
    let limit = settings.lease.mul_f64(0.75);
    let result = match build_message(email, &from) {
        Err(e) => Err(e),
        Ok(message) => tokio::time::timeout(limit, transport.send(&email.id, &message))
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Temporary(format!(
                    "pas de réponse du serveur en {} s",
                    limit.as_secs()
                )))
            }),
    };
    let outcome = match &result {
        Ok(()) => MailOutcome::Sent,
        Err(e) => settings.policy.after_failure(&mail.delivery, e),
    };
    match &outcome {
        MailOutcome::Sent => {
            tracing::info!(courriel = %email.id, type_ = ?email.kind, "courriel envoyé")
        }
        MailOutcome::Retry { after, error, .. } => tracing::warn!(
            courriel = %email.id, erreur = %error, nouvel_essai_dans_s = after.as_secs_f64(),
            "envoi du courriel en échec, nouvel essai prévu"
        ),
        MailOutcome::Dead { error, .. } => tracing::error!(
            courriel = %email.id, erreur = %error,
            "courriel abandonné après trop d'échecs : visible dans /v1/admin/dead-letters"
        ),
    }
    match charte.finish_mail(&email.id, &mail.token, outcome).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            courriel = %email.id,
            "bail expiré avant la fin de l'envoi : un autre processus a pu l'envoyer aussi (même Message-ID)"
        ),
        // The lease will run out and the email be sent again: better twice than never.
        Err(e) => {
            tracing::warn!(courriel = %email.id, error = %e, "résultat d'envoi non enregistré")
        }
    }
}

/// Starts a worker as a task, from settings; returns the task and what to log at start-up.
pub fn spawn(
    charte: Arc<Charte>,
    settings: MailSettings,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, String)> {
    let (transport, description) = settings.transport()?;
    let worker = MailWorker::new(charte, transport, settings)?;
    Ok((tokio::spawn(worker.run(shutdown)), description))
}
