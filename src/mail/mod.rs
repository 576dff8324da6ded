//! Delivery of the outbox: an SMTP transport (lettre) for production, a folder of `.eml` files
//! when no SMTP server is configured, the retry policy, and the worker that drives them.

pub mod compose;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::Rng;

use crate::domain::notification::OutboxEmail;
use crate::store::{Delivery, MailOutcome};

/// Sender used when `--mail-from` is not given.
pub const DEFAULT_FROM: &str = "Charte ENT <ne-pas-repondre@charte.invalid>";

/// Why an attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// May work later: connection refused, timeout, 4xx reply.
    Temporary(String),
    /// The server refused it (5xx reply) or it cannot be built (bad address).
    Permanent(String),
}

impl SendError {
    fn parts(&self) -> (&str, bool) {
        match self {
            SendError::Temporary(m) => (m, false),
            SendError::Permanent(m) => (m, true),
        }
    }
}

/// Where emails go.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Hands one message over; `id` is its outbox id.
    async fn send(&self, id: &str, message: &Message) -> Result<(), SendError>;
}

/// An SMTP server, reached as lettre's connection URL says (`smtp://`, `smtps://`, `?tls=`).
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpTransport {
    /// Builds the transport from a URL such as `smtp://user:pass@host:587?tls=required`.
    pub fn from_url(url: &str, timeout: Duration) -> anyhow::Result<SmtpTransport> {
        let inner = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("URL SMTP invalide ({}) : {e}", redact_url(url)))?
            .timeout(Some(timeout))
            .build();
        Ok(SmtpTransport { inner })
    }
}

#[async_trait]
impl Transport for SmtpTransport {
    async fn send(&self, _id: &str, message: &Message) -> Result<(), SendError> {
        match self.inner.send(message.clone()).await {
            Ok(_) => Ok(()),
            // Only a 5xx reply is final; the network, timeouts and 4xx replies may heal.
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Temporary(e.to_string())),
        }
    }
}

/// A folder receiving one `<outbox id>.eml` file per email, for running without SMTP.
pub struct FolderTransport {
    dir: PathBuf,
}

impl FolderTransport {
    /// Creates the folder if needed.
    pub fn new(dir: &Path) -> anyhow::Result<FolderTransport> {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!("impossible de créer le dossier {} : {e}", dir.display())
        })?;
        Ok(FolderTransport {
            dir: dir.to_path_buf(),
        })
    }
}

#[async_trait]
impl Transport for FolderTransport {
    async fn send(&self, id: &str, message: &Message) -> Result<(), SendError> {
        let bytes = message.formatted();
        let path = self.dir.join(format!("{id}.eml"));
        let tmp = self.dir.join(format!(".{id}.eml.tmp"));
        // Written aside then renamed: a reader never sees half a file, and a resend after a
        // crash replaces the same file instead of adding a second one.
        let result = async {
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        result.map_err(|e| SendError::Temporary(format!("écriture de {} : {e}", path.display())))
    }
}

/// Keeps messages in memory (unit tests).
#[derive(Default)]
pub struct MemoryTransport {
    sent: Mutex<Vec<(String, Vec<u8>)>>,
}

impl MemoryTransport {
    /// Outbox ids and raw messages handed over so far.
    pub fn sent(&self) -> Vec<(String, Vec<u8>)> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn send(&self, id: &str, message: &Message) -> Result<(), SendError> {
        if let Ok(mut s) = self.sent.lock() {
            s.push((id.to_owned(), message.formatted()));
        }
        Ok(())
    }
}

/// The `Message-ID` of an outbox email: the same on every attempt, so a copy sent twice after
/// a crash can be recognised by the receiving side.
pub fn message_id(email: &OutboxEmail) -> String {
    format!("<{}@charte>", email.id)
}

/// Builds the MIME message of an outbox email (text, and HTML alternative when there is one).
pub fn build_message(email: &OutboxEmail, from: &Mailbox) -> Result<Message, SendError> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(email.subject.clone())
        .message_id(Some(message_id(email)));
    for to in &email.to {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("adresse « {to} » refusée : {e}")))?;
        builder = builder.to(mailbox);
    }
    let built = if email.html.is_empty() {
        builder.singlepart(SinglePart::plain(email.text.clone()))
    } else {
        builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
    };
    built.map_err(|e| SendError::Permanent(format!("courriel impossible à composer : {e}")))
}

/// The sender mailbox, checked once at start-up.
pub fn parse_from(from: &str) -> anyhow::Result<Mailbox> {
    from.parse()
        .map_err(|e| anyhow::anyhow!("adresse d'expédition « {from} » invalide : {e}"))
}

/// Whether a header of `raw` equals `value` (tests and tools reading `.eml` files).
pub fn has_header(raw: &str, name: &str, value: &str) -> bool {
    raw.lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .any(|(n, v)| n.eq_ignore_ascii_case(name) && v.trim() == value)
}

/// How failed attempts are retried, and when an email is given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure; doubled at each further one.
    pub base_delay: Duration,
    /// Longest wait between two attempts.
    pub max_delay: Duration,
    /// Attempts in all before an email becomes a dead letter.
    pub max_attempts: u32,
    /// Permanent refusals (5xx) before an email becomes a dead letter.
    pub max_permanent_failures: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            max_attempts: 12,
            max_permanent_failures: 3,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `failures + 1`: exponential, capped, with jitter so that a
    /// server coming back is not hit by every queued email at the same instant.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// What to record after a failed attempt on an email whose record was `delivery`.
    pub fn after_failure(&self, delivery: &Delivery, error: &SendError) -> MailOutcome {
        let (message, permanent) = error.parts();
        let attempts = delivery.attempts + 1;
        let permanent_failures = delivery.permanent_failures + u32::from(permanent);
        let error = message.to_owned();
        if attempts >= self.max_attempts
            || (permanent && permanent_failures >= self.max_permanent_failures)
        {
            MailOutcome::Dead { error, permanent }
        } else {
            MailOutcome::Retry {
                after: self.delay(attempts),
                error,
                permanent,
            }
        }
    }
}

/// Where the worker sends emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An SMTP server, by lettre connection URL.
    Smtp(String),
    /// A folder of `.eml` files.
    Folder(PathBuf),
}

/// Everything the outbox worker needs.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// Where emails go.
    pub destination: Destination,
    /// The `From` of every email.
    pub from: String,
    /// Retries and dead letters.
    pub policy: RetryPolicy,
    /// How long a worker holds an email it is sending; another worker takes it over after.
    pub lease: Duration,
    /// Longest pause between two looks at the outbox (other replicas' emails, retries).
    pub poll: Duration,
    /// Emails claimed, and sent concurrently, at a time.
    pub batch: usize,
    /// How often (in real time) reviews are checked for a reminder to send.
    pub reminder_check: Duration,
    /// Longest wait for the SMTP server in one attempt.
    pub smtp_timeout: Duration,
    /// How long delivered emails and idempotency keys are kept (the worker forgets them after).
    pub retention: Duration,
}

impl MailSettings {
    /// Settings with the usual timings for `destination`.
    pub fn new(destination: Destination) -> MailSettings {
        MailSettings {
            destination,
            from: DEFAULT_FROM.to_owned(),
            policy: RetryPolicy::default(),
            lease: Duration::from_secs(120),
            poll: Duration::from_secs(1),
            batch: 8,
            reminder_check: Duration::from_secs(30),
            smtp_timeout: Duration::from_secs(30),
            retention: Duration::from_secs(30 * 86_400),
        }
    }

    /// From `charte serve`'s configuration: SMTP if a URL is given, else `<data-dir>/mail/`.
    pub fn from_config(cfg: &crate::config::ServeConfig) -> MailSettings {
        let destination = match &cfg.smtp_url {
            Some(url) if !url.trim().is_empty() => Destination::Smtp(url.trim().to_owned()),
            _ => Destination::Folder(
                cfg.mail_dir
                    .clone()
                    .unwrap_or_else(|| cfg.data_dir.join("mail")),
            ),
        };
        let mut s = MailSettings::new(destination);
        s.from = cfg.mail_from.clone();
        s.retention = Duration::from_secs(u64::from(cfg.retention_days) * 86_400);
        s.policy = RetryPolicy {
            base_delay: Duration::from_secs(cfg.mail_retry_base_secs.max(1)),
            max_delay: Duration::from_secs(
                cfg.mail_retry_max_secs.max(cfg.mail_retry_base_secs.max(1)),
            ),
            max_attempts: cfg.mail_max_attempts.max(1),
            max_permanent_failures: cfg.mail_max_permanent_failures.max(1),
        };
        s
    }

    /// Builds the transport, and says in French where emails will go (for the start-up log).
    pub fn transport(&self) -> anyhow::Result<(std::sync::Arc<dyn Transport>, String)> {
        Ok(match &self.destination {
            Destination::Smtp(url) => (
                std::sync::Arc::new(SmtpTransport::from_url(url, self.smtp_timeout)?),
                format!("courriels envoyés par SMTP via {}", redact_url(url)),
            ),
            Destination::Folder(dir) => (
                std::sync::Arc::new(FolderTransport::new(dir)?),
                format!(
                    "aucun serveur SMTP configuré (--smtp-url) : les courriels sont écrits dans {} (un fichier .eml par courriel)",
                    dir.display()
                ),
            ),
        })
    }
}

/// The URL without its credentials, fit for a log.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryStatus;

    fn delivery(attempts: u32, permanent_failures: u32) -> Delivery {
        Delivery {
            status: DeliveryStatus::Queued,
            attempts,
            permanent_failures,
            last_error: None,
            updated_at: None,
        }
    }

    #[test]
    fn waits_grow_exponentially_with_jitter_and_a_cap() {
        let p = RetryPolicy {
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = p.delay(1);
            assert!((Duration::from_secs(5)..=Duration::from_secs(10)).contains(&first));
            let third = p.delay(3);
            assert!((Duration::from_secs(20)..=Duration::from_secs(40)).contains(&third));
            assert!(p.delay(30) <= Duration::from_secs(60));
        }
    }

    #[test]
    fn permanent_refusals_give_up_sooner_than_temporary_ones() {
        let p = RetryPolicy::default();
        let temp = SendError::Temporary("451".into());
        let perm = SendError::Permanent("550".into());
        assert!(matches!(
            p.after_failure(&delivery(0, 0), &perm),
            MailOutcome::Retry {
                permanent: true,
                ..
            }
        ));
        assert!(matches!(
            p.after_failure(&delivery(2, 2), &perm),
            MailOutcome::Dead {
                permanent: true,
                ..
            }
        ));
        assert!(matches!(
            p.after_failure(&delivery(2, 2), &temp),
            MailOutcome::Retry { .. }
        ));
        assert!(matches!(
            p.after_failure(&delivery(11, 0), &temp),
            MailOutcome::Dead {
                permanent: false,
                ..
            }
        ));
    }

    #[test]
    fn credentials_never_reach_the_log() {
        assert_eq!(
            redact_url("smtp://agent:s3cret@smtp.example.fr:587?tls=required"),
            "smtp://***@smtp.example.fr:587?tls=required"
        );
        assert_eq!(redact_url("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
    }
}
