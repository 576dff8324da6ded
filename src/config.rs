//! Configuration of `charte serve`, from flags and environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::domain::calendar::CalendarMode;

/// How `charte serve` is configured.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "CHARTE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Separate address serving `/metrics` (then not served on --listen), e.g. 0.0.0.0:9090.
    #[arg(long, env = "CHARTE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Requests per second allowed per caller (token subject); 0 turns the limit off.
    #[arg(long, env = "CHARTE_RATE_PER_SUBJECT", default_value_t = 100)]
    pub rate_per_subject: u32,
    /// Burst allowed per caller above that rate.
    #[arg(long, env = "CHARTE_BURST_PER_SUBJECT", default_value_t = 300)]
    pub burst_per_subject: u32,
    /// Requests per second allowed per client address; 0 turns the limit off.
    #[arg(long, env = "CHARTE_RATE_PER_ADDRESS", default_value_t = 300)]
    pub rate_per_address: u32,
    /// Burst allowed per client address above that rate.
    #[arg(long, env = "CHARTE_BURST_PER_ADDRESS", default_value_t = 600)]
    pub burst_per_address: u32,
    /// Longest token lifetime accepted, in seconds (`exp` further ahead is refused).
    #[arg(long, env = "CHARTE_JWT_MAX_LIFETIME_SECS", default_value_t = 86_400)]
    pub jwt_max_lifetime_secs: u64,
    /// Folder of the embedded store (used when no Redis URL is given).
    #[arg(long, env = "CHARTE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Page cache of the embedded store, in MiB (memory stays bounded as history grows).
    #[arg(long, env = "CHARTE_REDB_CACHE_MB", default_value_t = 64)]
    pub redb_cache_mb: usize,
    /// Days delivered emails and idempotency keys are kept (the audit trail is kept for ever).
    #[arg(long, env = "CHARTE_RETENTION_DAYS", default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_days: u32,
    /// Redis URL (e.g. redis://127.0.0.1:6379/0); selects the Redis store.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so deployments can share one Redis.
    #[arg(long, env = "CHARTE_REDIS_PREFIX", default_value = "charte")]
    pub redis_prefix: String,
    /// Development mode: accept HS256 tokens signed with the data folder's dev secret (see `charte token`).
    #[arg(long, env = "CHARTE_DEV")]
    pub dev: bool,
    /// Expected token issuer (`iss`), required outside dev mode.
    #[arg(long, env = "CHARTE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Expected token audience (`aud`).
    #[arg(long, env = "CHARTE_JWT_AUDIENCE", default_value = "charte")]
    pub jwt_audience: String,
    /// Token signature algorithm: RS256 or ES256.
    #[arg(long, env = "CHARTE_JWT_ALGORITHM", default_value = "RS256")]
    pub jwt_algorithm: String,
    /// PEM public key file(s) to verify tokens with (repeat or comma-separate for rotation).
    #[arg(long, env = "CHARTE_JWT_PUBLIC_KEY", value_delimiter = ',')]
    pub jwt_public_key: Vec<PathBuf>,
    /// JWKS URL to fetch verification keys from.
    #[arg(long, env = "CHARTE_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Directory file (authorities, rectorats, DRAAF, academic services); default: the demo one.
    #[arg(long, env = "CHARTE_DIRECTORY")]
    pub directory: Option<PathBuf>,
    /// Business-day mode: ouvrables, ouvrables_strict or ouvres.
    #[arg(long, env = "CHARTE_CALENDAR_MODE", default_value = "ouvrables")]
    pub calendar_mode: CalendarMode,
    /// School holidays file in the official `fr-en-calendrier-scolaire` CSV format.
    #[arg(long, env = "CHARTE_SCHOOL_HOLIDAYS")]
    pub school_holidays: Option<PathBuf>,
    /// Do not count school-holiday days in review periods (needs --school-holidays).
    #[arg(long, env = "CHARTE_SUSPEND_IN_SCHOOL_HOLIDAYS")]
    pub suspend_in_school_holidays: bool,
    /// Address of the review widget, put in emails to heads (default: `http://<--listen>/widget/`).
    #[arg(long, env = "CHARTE_WIDGET_URL")]
    pub widget_url: Option<String>,
    /// The service's public address, in the links it hands out (calendar feeds); default: the
    /// origin of --widget-url.
    #[arg(long, env = "CHARTE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Origins allowed to embed the widget in a frame (the ENT), comma-separated; none by default.
    #[arg(long, env = "CHARTE_WIDGET_FRAME_ANCESTORS", value_delimiter = ',')]
    pub widget_frame_ancestors: Vec<String>,
    /// Do not load the demo schools into an empty store.
    #[arg(long, env = "CHARTE_NO_DEMO")]
    pub no_demo: bool,
    /// Development only: run the service clock this many times faster than real time (3600: one hour per second).
    #[arg(long, env = "CHARTE_DEV_TIME_FACTOR", requires = "dev")]
    pub dev_time_factor: Option<u32>,
    /// Log format: text or json.
    #[arg(long, env = "CHARTE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// SMTP server as a URL: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (implicit TLS), `smtp://host:25` (no TLS, local relays).
    /// Without it, emails are written as `.eml` files to --mail-dir.
    #[arg(long, env = "CHARTE_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender of every email.
    #[arg(long, env = "CHARTE_MAIL_FROM", default_value = crate::mail::DEFAULT_FROM)]
    pub mail_from: String,
    /// Folder receiving the emails when no SMTP server is configured (default: <data-dir>/mail).
    #[arg(long, env = "CHARTE_MAIL_DIR")]
    pub mail_dir: Option<PathBuf>,
    /// Attempts in all before an email is given up on (a dead letter).
    #[arg(long, env = "CHARTE_MAIL_MAX_ATTEMPTS", default_value_t = 12)]
    pub mail_max_attempts: u32,
    /// Permanent refusals (5xx replies) before an email is given up on.
    #[arg(long, env = "CHARTE_MAIL_MAX_PERMANENT_FAILURES", default_value_t = 3)]
    pub mail_max_permanent_failures: u32,
    /// Wait after a first failed attempt, in seconds; doubled at each further failure.
    #[arg(long, env = "CHARTE_MAIL_RETRY_BASE_SECS", default_value_t = 30)]
    pub mail_retry_base_secs: u64,
    /// Longest wait between two attempts, in seconds.
    #[arg(long, env = "CHARTE_MAIL_RETRY_MAX_SECS", default_value_t = 3600)]
    pub mail_retry_max_secs: u64,
    /// Hosts webhooks may be delivered to although they resolve to private or loopback
    /// addresses (an ENT on the same network), comma-separated; none by default.
    #[arg(long, env = "CHARTE_WEBHOOK_ALLOW_HOSTS", value_delimiter = ',')]
    pub webhook_allow_hosts: Vec<String>,
    /// Pauses before each retry of a failed webhook delivery, comma-separated (`5s`, `5m`, `2h`);
    /// the delivery is given up after the last. Default: Standard Webhooks' schedule.
    #[arg(
        long,
        env = "CHARTE_WEBHOOK_RETRY_SCHEDULE",
        value_delimiter = ',',
        default_value = "5s,5m,30m,2h,5h,10h,10h"
    )]
    pub webhook_retry_schedule: Vec<Pause>,
}

/// A pause written `<n>s`, `<n>m` or `<n>h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause(pub std::time::Duration);

impl std::str::FromStr for Pause {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (n, unit) = s.split_at(s.len().saturating_sub(1));
        let n: u64 = n
            .parse()
            .map_err(|_| format!("durée illisible « {s} » : écrivez par exemple 5s, 5m ou 2h"))?;
        let secs = match unit {
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            _ => return Err(format!("unité inconnue dans « {s} » : s, m ou h")),
        };
        Ok(Pause(std::time::Duration::from_secs(secs)))
    }
}

impl ServeConfig {
    /// The widget's address for emails: as configured, or on the address the service listens on.
    pub fn widget_url(&self) -> String {
        match &self.widget_url {
            Some(url) => url.clone(),
            None => {
                let ip = self.listen.ip();
                // 0.0.0.0 is where to listen, not where to browse.
                let host = if ip.is_unspecified() {
                    "localhost".to_owned()
                } else if ip.is_ipv6() {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                format!("http://{host}:{}/widget/", self.listen.port())
            }
        }
    }
}
