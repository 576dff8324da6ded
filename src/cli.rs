//! The command line: one binary, subcommands for the service and its admin tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use time::OffsetDateTime;

use crate::config::ServeConfig;
use crate::domain::calendar::{Calendar, CalendarMode, DeadlineQuery, Department};
use crate::http::auth::{Claims, DEV_AUDIENCE, DEV_ISSUER, dev_token};

/// charte — workflow de modération des communications des collectivités vers les familles par l'ENT.
#[derive(Debug, Parser)]
#[command(name = "charte", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lance le service HTTP (stockage embarqué dans ./data par défaut, données de démonstration au premier lancement).
    Serve(Box<ServeConfig>),
    /// Calcule un délai d'examen en jours ouvrables et l'affiche en JSON.
    Deadline {
        /// Instant de soumission (RFC 3339, ex. 2025-04-16T10:00:00+02:00).
        #[arg(long)]
        submitted_at: String,
        /// Nombre de jours ouvrables (5 récurrente, 3 ponctuelle).
        #[arg(long)]
        days: u32,
        /// Département de l'établissement (57, 2A, 974…).
        #[arg(long)]
        department: String,
        /// Mode de calcul : ouvrables, ouvrables_strict ou ouvres.
        #[arg(long, default_value = "ouvrables")]
        mode: CalendarMode,
    },
    /// Émet un jeton de développement accepté par `charte serve --dev` (même --data-dir).
    Token {
        /// Rôle : authority_agent, authority_representative, head, academic_services, arbitrator, ent, admin.
        #[arg(long)]
        role: String,
        /// Code UAI (chef d'établissement, ENT) ; répétable.
        #[arg(long)]
        uai: Vec<String>,
        /// Collectivité (agents et représentants), ex. region-grand-est.
        #[arg(long)]
        authority: Option<String>,
        /// Code académie (services académiques), ex. 12.
        #[arg(long)]
        academie: Option<String>,
        /// Autorité d'arbitrage, ex. rectorat:12 ou draaf:44.
        #[arg(long)]
        arbitrator: Option<String>,
        /// Nom affiché.
        #[arg(long)]
        name: Option<String>,
        /// Identifiant (sub).
        #[arg(long)]
        sub: Option<String>,
        /// Durée de validité en minutes.
        #[arg(long, default_value_t = 480)]
        ttl_minutes: u64,
        /// Dossier de données du service (où se trouve le secret de développement).
        #[arg(long, env = "CHARTE_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Importe les établissements d'un fichier de l'annuaire de l'éducation (CSV ; séparateur point-virgule).
    ImportSchools {
        /// Le fichier CSV.
        file: PathBuf,
        /// Dossier du stockage embarqué.
        #[arg(long, env = "CHARTE_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// URL Redis : importe dans le stockage Redis au lieu du stockage embarqué.
        #[arg(long, env = "REDIS_URL")]
        redis_url: Option<String>,
        /// Préfixe des clés Redis.
        #[arg(long, env = "CHARTE_REDIS_PREFIX", default_value = "charte")]
        redis_prefix: String,
    },
    /// Affiche le document OpenAPI de l'API.
    Openapi,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("erreur : {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up the logs on stderr; keep the returned guard alive: dropping it writes what is still
/// buffered.
fn init_logs(format: &str) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    // Colours only on a terminal: a file or a log collector would keep the escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    // Lines go to a thread of their own that writes them in batches (it flushes its buffer
    // whenever no line is waiting, so nothing is held back while the service is idle): one
    // write(2) per access-log line on the request's thread cost a quarter of /healthz's throughput.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Never drop a line: a full queue slows requests down rather than losing their trace.
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    if format == "json" {
        // json-subscriber, a drop-in for tracing-subscriber's JSON format that keeps each span's
        // fields serialised once: tracing-subscriber's parses them back for every line, which
        // doubled the access log's cost per request (BENCHMARKS.md). The request's fields once
        // (its span), not again in a list of every enclosing span.
        let _ = json_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init();
    } else if ansi {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(true)
            .with_writer(writer)
            .try_init();
    } else {
        // Same layout, written by our own formatter: tracing-subscriber's runs its colour
        // machinery even with colours off, and the access log writes one line per request.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .fmt_fields(crate::logging::TextFields)
            .event_format(crate::logging::TextLine)
            .with_writer(writer)
            .try_init();
    }
    guard
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(cfg) => {
            let _logs = init_logs(&cfg.log_format);
            runtime()?.block_on(crate::server::serve(*cfg))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deadline {
            submitted_at,
            days,
            department,
            mode,
        } => {
            let at = crate::domain::calendar::parse_instant(&submitted_at)
                .map_err(|e| anyhow::anyhow!("--submitted-at : {e}"))?;
            let dept = Department::parse(&department)?;
            let d = Calendar::new(mode).deadline(DeadlineQuery {
                submitted_at: at,
                business_days: days,
                department: &dept,
                zone: None,
            });
            let view = crate::app::present_deadline(&dept, at, days, &d);
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            role,
            uai,
            authority,
            academie,
            arbitrator,
            name,
            sub,
            ttl_minutes,
            data_dir,
        } => {
            let secret = crate::server::dev_secret(&data_dir)?;
            let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
            let claims = Claims {
                sub: sub.unwrap_or_else(|| format!("dev-{role}")),
                iss: DEV_ISSUER.into(),
                aud: DEV_AUDIENCE.into(),
                exp: now + ttl_minutes * 60,
                iat: now,
                name,
                role,
                authority,
                uai,
                academie,
                arbitrator,
            };
            // Refuse to print a token the server would refuse.
            crate::http::auth::actor_from_claims(claims.clone())
                .map_err(|e| anyhow::anyhow!(e.problem().detail))?;
            println!("{}", dev_token(&secret, &claims)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportSchools {
            file,
            data_dir,
            redis_url,
            redis_prefix,
        } => {
            let _logs = init_logs("text");
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("lecture de {} : {e}", file.display()))?;
            let import = crate::annuaire::parse_annuaire_csv(&text);
            for e in &import.errors {
                eprintln!("{} : {e}", file.display());
            }
            let n = runtime()?.block_on(async {
                let store: Box<dyn crate::store::Store> = match &redis_url {
                    Some(url) => Box::new(
                        crate::store::redis::RedisStore::connect(url, &redis_prefix).await?,
                    ),
                    None => Box::new(crate::store::embedded::EmbeddedStore::open(&data_dir)?),
                };
                let n = store.put_schools(import.schools).await?;
                // An imported directory replaces the demo: the service must not add demo schools to it.
                store.set_meta("demo_loaded", "imported").await?;
                anyhow::Ok(n)
            })?;
            println!(
                "{n} établissement(s) importé(s), {} ligne(s) rejetée(s).",
                import.errors.len()
            );
            Ok(if n == 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Openapi => {
            print!("{}", crate::http::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}
