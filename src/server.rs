//! Wiring: builds the ports from configuration, serves HTTP, runs the scheduler and the outbox
//! worker, shuts down gracefully.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use jsonwebtoken::Algorithm;
use tokio::sync::watch;

use crate::app::{Charte, Clock, SystemClock};
use crate::config::ServeConfig;
use crate::domain::calendar::{Calendar, SchoolHolidays};
use crate::domain::directory::Directory;
use crate::http::auth::{KeySource, Verifier, load_pem_keys};
use crate::http::rate_limit::{Rate, RateLimits, RateSettings};
use crate::http::{AppState, router};
use crate::store::Store;
use crate::store::embedded::EmbeddedStore;

/// Name of the dev-mode secret file in the data folder.
pub const DEV_SECRET_FILE: &str = "dev-jwt-secret";

/// Reads the data folder's dev secret, creating a random one on first use.
pub fn dev_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join(DEV_SECRET_FILE);
    if let Ok(s) = std::fs::read_to_string(&path)
        && s.trim().len() >= 32
    {
        return Ok(s.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("création de {}", data_dir.display()))?;
    let secret: String = {
        use rand::Rng;
        let bytes: [u8; 32] = rand::thread_rng().r#gen();
        hex::encode(bytes)
    };
    write_private(&path, secret.as_bytes())
        .with_context(|| format!("écriture de {}", path.display()))?;
    Ok(secret.into_bytes())
}

/// Writes a file only its owner can read (mode 0600 on Unix), created so from the start.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        // A file that existed before keeps its mode through open(): tighten it too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(contents)
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(contents)
    }
}

/// Loads the demo schools into the store if it has never been loaded.
pub async fn load_demo_if_first_run(store: &dyn Store) -> anyhow::Result<()> {
    if store.meta("demo_loaded").await?.is_some() {
        return Ok(());
    }
    let import = crate::demo::schools();
    let n = store.put_schools(import.schools).await?;
    store.set_meta("demo_loaded", "1").await?;
    tracing::info!(
        etablissements = n,
        "données de démonstration chargées (Grand Est)"
    );
    Ok(())
}

/// Builds the store selected by the configuration, and the clock that goes with it.
pub async fn open_store(cfg: &ServeConfig) -> anyhow::Result<(Arc<dyn Store>, Arc<dyn Clock>)> {
    if let Some(url) = &cfg.redis_url {
        let store = crate::store::redis::RedisStore::connect(url, &cfg.redis_prefix).await?;
        tracing::info!(prefixe = %cfg.redis_prefix, "stockage Redis");
        let clock = crate::app::OffsetClock::default();
        follow_redis_clock(store.clone(), clock.clone()).await;
        return Ok((Arc::new(store), Arc::new(clock)));
    }
    let store = EmbeddedStore::open_with_cache(
        &cfg.data_dir,
        cfg.redb_cache_mb.saturating_mul(1024 * 1024),
    )?;
    tracing::info!(dossier = %cfg.data_dir.display(), "stockage embarqué");
    Ok((Arc::new(store), Arc::new(SystemClock)))
}

/// Keeps `clock` on Redis's time: every replica then agrees on "now" whatever its own clock says.
async fn follow_redis_clock(
    store: crate::store::redis::RedisStore,
    clock: crate::app::OffsetClock,
) {
    async fn sync(store: &crate::store::redis::RedisStore, clock: &crate::app::OffsetClock) {
        let before = time::OffsetDateTime::now_utc();
        if let Ok(server) = store.server_time().await {
            let after = time::OffsetDateTime::now_utc();
            let local: time::OffsetDateTime = before + (after - before) / 2;
            let offset: time::Duration = server - local;
            clock.set_offset(offset.whole_nanoseconds() as i64);
        }
    }
    sync(&store, &clock).await;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            sync(&store, &clock).await;
        }
    });
}

/// Builds the token verifier selected by the configuration.
pub fn verifier(cfg: &ServeConfig) -> anyhow::Result<Verifier> {
    let max_lifetime = std::time::Duration::from_secs(cfg.jwt_max_lifetime_secs);
    Ok(keyed_verifier(cfg)?.with_max_lifetime(max_lifetime))
}

/// The verifier for the configured keys (or the dev secret).
fn keyed_verifier(cfg: &ServeConfig) -> anyhow::Result<Verifier> {
    if cfg.dev {
        tracing::warn!(
            "MODE DÉVELOPPEMENT : jetons HS256 signés par le secret local acceptés (charte token). À ne jamais utiliser en production."
        );
        return Ok(Verifier::dev(dev_secret(&cfg.data_dir)?));
    }
    let algorithm = match cfg.jwt_algorithm.to_ascii_uppercase().as_str() {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        other => anyhow::bail!("algorithme JWT non pris en charge : {other} (RS256 ou ES256)"),
    };
    let keys = if let Some(url) = &cfg.jwks_url {
        KeySource::Jwks {
            url: url.clone(),
            cache: tokio::sync::RwLock::new((jsonwebtoken::jwk::JwkSet { keys: vec![] }, None)),
            client: reqwest::Client::new(),
            min_refetch: std::time::Duration::from_secs(30),
        }
    } else if !cfg.jwt_public_key.is_empty() {
        let pems = cfg
            .jwt_public_key
            .iter()
            .map(|p| std::fs::read(p).with_context(|| format!("lecture de la clé {}", p.display())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        KeySource::Static(load_pem_keys(algorithm, &pems)?)
    } else {
        tracing::warn!(
            "aucune clé de vérification configurée : toutes les requêtes authentifiées seront refusées (utilisez --dev pour essayer)"
        );
        KeySource::None
    };
    let issuer = match (&cfg.jwt_issuer, &keys) {
        (Some(i), _) => i.clone(),
        (None, KeySource::None) => String::new(),
        (None, _) => anyhow::bail!(
            "--jwt-issuer (CHARTE_JWT_ISSUER) est obligatoire avec des clés publiques"
        ),
    };
    Ok(Verifier::new(
        algorithm,
        issuer,
        cfg.jwt_audience.clone(),
        keys,
    ))
}

/// Builds the calendar from configuration.
pub fn calendar(cfg: &ServeConfig) -> anyhow::Result<Calendar> {
    let mut cal = Calendar::new(cfg.calendar_mode);
    if let Some(path) = &cfg.school_holidays {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("lecture de {}", path.display()))?;
        let (holidays, errors) = SchoolHolidays::parse_csv(&text);
        for e in &errors {
            tracing::warn!(fichier = %path.display(), "{e}");
        }
        tracing::info!(periodes = holidays.len(), "calendrier scolaire chargé");
        cal.school_holidays = Some(holidays);
    }
    if cfg.suspend_in_school_holidays {
        anyhow::ensure!(
            cal.school_holidays.is_some(),
            "--suspend-in-school-holidays exige --school-holidays"
        );
        cal.suspend_in_school_holidays = true;
    }
    Ok(cal)
}

/// Builds the directory from configuration.
pub fn directory(cfg: &ServeConfig) -> anyhow::Result<Directory> {
    match &cfg.directory {
        None => Ok(crate::demo::directory()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("lecture de {}", path.display()))?;
            Directory::parse_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
    }
}

/// A running instance: its address and how to stop it.
pub struct Running {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// The use cases (tests drive time and the store through it).
    pub charte: Arc<Charte>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests, stops the scheduler, and waits.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Kills the instance's tasks without any graceful step (crash simulation in tests).
    pub async fn abort(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Asks the instance to stop (without waiting).
    pub fn request_stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits for the instance to stop (after [`Running::request_stop`] or a signal).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// HTTP settings beyond the listener.
pub struct HttpOptions {
    /// Origins allowed to frame the widget.
    pub frame_ancestors: Vec<String>,
    /// Request quotas.
    pub rate_limits: RateSettings,
    /// A listener of its own for `/metrics` (then not served on the API's).
    pub metrics_listener: Option<tokio::net::TcpListener>,
    /// How webhooks are delivered.
    pub webhooks: crate::webhooks::WebhookSettings,
}

impl HttpOptions {
    /// The widget's framing origins, default quotas, metrics with the API.
    pub fn new(frame_ancestors: Vec<String>) -> Self {
        Self {
            frame_ancestors,
            rate_limits: RateSettings::default(),
            metrics_listener: None,
            webhooks: Default::default(),
        }
    }
}

/// Starts the HTTP server and the scheduler on an already bound listener, without sending
/// emails: they stay in the outbox (see [`start_with_mail`]).
pub async fn start(
    listener: tokio::net::TcpListener,
    charte: Arc<Charte>,
    verifier: Arc<Verifier>,
    frame_ancestors: Vec<String>,
) -> anyhow::Result<Running> {
    start_with(
        listener,
        charte,
        verifier,
        HttpOptions::new(frame_ancestors),
        None,
    )
    .await
}

/// Starts the HTTP server, the scheduler and, given settings, the outbox worker.
pub async fn start_with_mail(
    listener: tokio::net::TcpListener,
    charte: Arc<Charte>,
    verifier: Arc<Verifier>,
    frame_ancestors: Vec<String>,
    mail: Option<crate::mail::MailSettings>,
) -> anyhow::Result<Running> {
    start_with(
        listener,
        charte,
        verifier,
        HttpOptions::new(frame_ancestors),
        mail,
    )
    .await
}

/// Serves `app` on `listener` until `stop` turns true, with each connection's address known.
fn serve_until(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let result = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "serveur HTTP arrêté sur erreur");
        }
    })
}

/// Starts the HTTP server(s), the scheduler and, given settings, the outbox worker.
pub async fn start_with(
    listener: tokio::net::TcpListener,
    charte: Arc<Charte>,
    verifier: Arc<Verifier>,
    options: HttpOptions,
    mail: Option<crate::mail::MailSettings>,
) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let state = AppState::new(crate::http::Services {
        charte: charte.clone(),
        verifier,
        frame_ancestors: Arc::new(options.frame_ancestors),
        metrics: Arc::new(crate::http::metrics::Metrics::default()),
        rate_limits: Arc::new(RateLimits::new(options.rate_limits)),
        metrics_here: options.metrics_listener.is_none(),
    });
    let mut tasks = vec![];
    if let Some(metrics_listener) = options.metrics_listener {
        tracing::info!(adresse = %metrics_listener.local_addr()?, "métriques servies sur leur propre adresse");
        tasks.push(serve_until(
            metrics_listener,
            crate::http::metrics_router(state.clone()),
            rx.clone(),
        ));
    }
    tasks.push(serve_until(listener, router(state), rx.clone()));
    if let Some(settings) = mail {
        let (worker, description) =
            crate::mail::worker::spawn(charte.clone(), settings, rx.clone())?;
        tracing::info!("{description}");
        tasks.push(worker);
    }
    tasks.push(tokio::spawn(crate::scheduler::open_reviews(
        charte.clone(),
        rx.clone(),
    )));
    tasks.push(tokio::spawn(crate::webhooks::run(
        charte.clone(),
        options.webhooks,
        rx.clone(),
    )));
    tasks.push(tokio::spawn(crate::scheduler::run(charte.clone(), rx)));
    Ok(Running {
        addr,
        charte,
        shutdown: tx,
        tasks,
    })
}

/// Builds the use cases over the given ports.
pub fn charte(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    directory: Directory,
    calendar: Calendar,
    widget_url: String,
) -> Arc<Charte> {
    Arc::new(Charte::new(store, clock, directory, calendar, widget_url))
}

/// `charte serve`: runs until SIGTERM or SIGINT.
pub async fn serve(cfg: ServeConfig) -> anyhow::Result<()> {
    let (store, store_clock) = open_store(&cfg).await?;
    if !cfg.no_demo {
        load_demo_if_first_run(store.as_ref()).await?;
    }
    let verifier = Arc::new(verifier(&cfg)?);
    let clock: Arc<dyn Clock> = match cfg.dev_time_factor {
        Some(f) if cfg.dev => {
            tracing::warn!(facteur = f, "horloge accélérée (démonstration)");
            Arc::new(crate::app::WarpClock::new(f))
        }
        _ => store_clock,
    };
    let mut charte = Charte::new(
        store,
        clock,
        directory(&cfg)?,
        calendar(&cfg)?,
        cfg.widget_url(),
    );
    if let Some(url) = &cfg.public_url {
        charte = charte.with_public_url(url.clone());
    }
    charte = charte.with_webhook_allow_hosts(cfg.webhook_allow_hosts.clone());
    let charte = Arc::new(charte);
    let indexed = charte.index_read_models_once().await?;
    if indexed > 0 {
        tracing::info!(
            communications = indexed,
            "fils des établissements, synthèses et chronologies indexés"
        );
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("impossible d'écouter sur {}", cfg.listen))?;
    let metrics_listener = match cfg.metrics_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("impossible d'écouter sur {a} (métriques)"))?,
        ),
        None => None,
    };
    let options = HttpOptions {
        frame_ancestors: cfg.widget_frame_ancestors.clone(),
        rate_limits: RateSettings {
            per_subject: Rate::new(cfg.rate_per_subject, cfg.burst_per_subject),
            per_address: Rate::new(cfg.rate_per_address, cfg.burst_per_address),
        },
        metrics_listener,
        webhooks: crate::webhooks::WebhookSettings {
            schedule: cfg.webhook_retry_schedule.iter().map(|d| d.0).collect(),
            ..Default::default()
        },
    };
    let running = start_with(
        listener,
        charte,
        verifier,
        options,
        Some(crate::mail::MailSettings::from_config(&cfg)),
    )
    .await?;
    tracing::info!(adresse = %running.addr, "charte à l'écoute — documentation : http://{}/docs/", running.addr);
    shutdown_signal().await;
    tracing::info!("arrêt demandé : fin des requêtes en cours");
    running.stop().await;
    tracing::info!("arrêt terminé");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
