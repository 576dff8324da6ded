//! A backlog of 100,000 reviews falling due at once on Redis: how long the sweep takes, and
//! whether the API stays responsive meanwhile (p99 of a head's inbox request, idle vs during the
//! sweep). Run with `cargo bench --bench backlog` (needs `redis-server`); it also reports what
//! Redis spent per tacit approval (bytes received, CPU, the costliest commands).

#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use charte::app::{ManualClock, Submission};
use charte::domain::actor::{Actor, Role};
use charte::domain::calendar::Calendar;
use charte::domain::directory::SchoolType;
use charte::domain::message::Draft;
use charte::http::auth::{Claims, DEV_AUDIENCE, DEV_ISSUER, Verifier, dev_token};
use charte::store::Store;
use charte::store::redis::RedisStore;
use time::OffsetDateTime;

const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret";
const SCHOOLS: usize = 1_000;
/// Messages to 1,000 schools falling due; `CHARTE_BENCH_MESSAGES` makes a quicker run.
fn messages() -> usize {
    std::env::var("CHARTE_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// Redis's own counters (`INFO`): bytes it received and holds, and its AOF rewrites.
fn redis_info(url: &str) -> std::collections::HashMap<String, f64> {
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let info: String = redis::cmd("INFO").arg("everything").query(&mut c).unwrap();
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .flat_map(|(k, v)| {
            // `cmdstat_zadd:calls=3,usec=10,...` becomes `cmdstat_zadd.calls` and `cmdstat_zadd.usec`.
            let fields: Vec<(String, String)> = if k.starts_with("cmdstat_") {
                v.split(',')
                    .filter_map(|f| f.split_once('='))
                    .map(|(f, x)| (format!("{k}.{f}"), x.to_owned()))
                    .collect()
            } else {
                vec![(k.to_owned(), v.to_owned())]
            };
            fields
        })
        .filter_map(|(k, v)| Some((k, v.trim().parse().ok()?)))
        .collect()
}

fn p(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3
}

async fn probe(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    until: impl Fn() -> bool,
) -> Vec<Duration> {
    let mut lat = Vec::new();
    while !until() || lat.len() < 20 {
        let t = Instant::now();
        let res = http.get(url).bearer_auth(token).send().await.unwrap();
        assert!(res.status().is_success());
        let _ = res.bytes().await;
        lat.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lat.sort();
    lat
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let redis = redis_server::RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "backlog").await.unwrap();
    let template = charte::demo::schools()
        .schools
        .into_iter()
        .find(|s| s.uai.as_str() == "0570054Z")
        .unwrap();
    let schools: Vec<_> = (0..SCHOOLS)
        .map(|i| {
            let digits = format!("{:07}", 5_700_000 + i);
            let mut s = template.clone();
            s.uai = format!(
                "{digits}{}",
                charte::domain::uai::check_letter(&digits).unwrap()
            )
            .parse()
            .unwrap();
            s.school_type = SchoolType::Lycee;
            s
        })
        .collect();
    store.put_schools(schools.clone()).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);

    // Seed: submitted ten days ago, so every deadline has passed.
    let then = OffsetDateTime::now_utc() - time::Duration::days(10);
    let clock = ManualClock::new(then);
    let charte = charte::server::charte(
        store.clone(),
        Arc::new(clock.clone()),
        charte::demo::directory(),
        Calendar::default(),
        String::new(),
    );
    let agent = Actor {
        subject: "a".into(),
        name: "A".into(),
        role: Role::AuthorityAgent,
        authority: Some("region-grand-est".into()),
        uais: vec![],
        academie: None,
        arbitrator: None,
    };
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let targets: Vec<String> = schools.iter().map(|s| s.uai.to_string()).collect();
    let seeding = Instant::now();
    let messages = messages();
    for _ in 0..messages {
        let sub = Submission {
            draft: Draft {
                title: Some("Restauration scolaire".into()),
                body: Some("<p>Nouveaux tarifs au 1er janvier.</p>".into()),
                audience: Some(vec!["families".into()]),
                publish_at: Some(fmt(then)),
                display_until: Some(fmt(then + time::Duration::days(90))),
            },
            kind: Some("one_off".into()),
            targets: Some(targets.clone()),
            ..Default::default()
        };
        let (view, _) = charte.submit(&agent, sub, None).await.unwrap();
        // No worker runs here: the reviews beyond the first chunk are opened now.
        charte.finish_fan_out(&view.id).await.unwrap();
    }
    let seeded = seeding.elapsed();
    clock.set(OffsetDateTime::now_utc());
    let due = store
        .due_reviews(OffsetDateTime::now_utc(), usize::MAX)
        .await
        .unwrap()
        .len();

    // The API (no scheduler yet): idle latency of a head's inbox.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let head_uai = targets[0].clone();
    let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
    let claims = Claims {
        sub: "h".into(),
        iss: DEV_ISSUER.into(),
        aud: DEV_AUDIENCE.into(),
        exp: now + 7200,
        iat: now,
        name: None,
        role: "head".into(),
        authority: None,
        uai: vec![head_uai.clone()],
        academie: None,
        arbitrator: None,
    };
    let token = dev_token(SECRET, &claims).unwrap();
    let http = reqwest::Client::new();
    // The HTTP server without the scheduler, to measure idle first.
    let (app_tx, app_rx) = tokio::sync::watch::channel(false);
    let app = charte::http::router(charte::http::AppState::new(charte::http::Services {
        charte: charte.clone(),
        verifier: Arc::new(Verifier::dev(SECRET.to_vec())),
        frame_ancestors: Arc::new(vec![]),
        metrics: Default::default(),
        rate_limits: Arc::new(charte::http::rate_limit::RateLimits::new(
            charte::http::rate_limit::RateSettings::unlimited(),
        )),
        metrics_here: true,
    }));
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut rx = app_rx;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
            .unwrap();
    });
    let url = format!("http://{addr}/v1/reviews?limit=20");
    // As many requests idle as during the sweep (about 1,300): a p99 of a hundred requests is
    // their second slowest, and the ratio swung with it.
    let started = Instant::now();
    let idle = probe(&http, &url, &token, || {
        started.elapsed() > Duration::from_secs(30)
    })
    .await;

    // Now the sweep, with the API probed all along.
    // `CHARTE_BENCH_APPENDFSYNC=everysec` measures what the fsync of each commit costs the sweep.
    if let Ok(policy) = std::env::var("CHARTE_BENCH_APPENDFSYNC") {
        let mut c = redis::Client::open(redis.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendfsync")
            .arg(&policy)
            .query(&mut c)
            .unwrap();
    }
    let before = redis_info(&redis.url());
    eprintln!(
        "seeded in {seeded:?}; sweeping (pid {})",
        std::process::id()
    );
    let sweeping = Instant::now();
    let sweeper = {
        let c = charte.clone();
        tokio::spawn(async move { c.sweep_due(charte::scheduler::BATCH).await.unwrap() })
    };
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let prober = {
        let http = http.clone();
        let url = url.clone();
        let token = token.clone();
        tokio::spawn(async move {
            probe(&http, &url, &token, || {
                flag.load(std::sync::atomic::Ordering::Relaxed)
            })
            .await
        })
    };
    let approved = sweeper.await.unwrap();
    let sweep = sweeping.elapsed();
    let after = redis_info(&redis.url());
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let during = prober.await.unwrap();
    let _ = app_tx.send(true);
    let _ = server.await;
    let left = store
        .due_reviews(OffsetDateTime::now_utc(), 10)
        .await
        .unwrap()
        .len();

    println!("\n## Backlog sweep on Redis — one run\n");
    println!("| measure | value |\n|---|---|");
    println!("| reviews due at once | {due} ({messages} messages × {SCHOOLS} schools) |");
    println!(
        "| seeding ({messages} submissions) | {:.1} s |",
        seeded.as_secs_f64()
    );
    println!("| tacitly approved by one sweep | {approved} (left due: {left}) |");
    println!(
        "| sweep duration | {:.1} s ({:.0} reviews/s) |",
        sweep.as_secs_f64(),
        approved as f64 / sweep.as_secs_f64()
    );
    println!(
        "| head inbox p50 / p99, idle | {:.1} / {:.1} ms ({} requests) |",
        p(&idle, 0.5),
        p(&idle, 0.99),
        idle.len()
    );
    println!(
        "| head inbox p50 / p99, during the sweep | {:.1} / {:.1} ms ({} requests) |",
        p(&during, 0.5),
        p(&during, 0.99),
        during.len()
    );
    println!(
        "| bytes Redis received per tacit approval | {:.0} (AOF rewrites during the sweep: {}) |",
        delta("total_net_input_bytes") / approved.max(1) as f64,
        delta("aof_rewrites")
    );
    println!(
        "| Redis CPU during the sweep | {:.1} s main thread + children {:.1} s |",
        delta("used_cpu_sys_main_thread") + delta("used_cpu_user_main_thread"),
        delta("used_cpu_sys_children") + delta("used_cpu_user_children")
    );
    let mut commands: Vec<(String, f64, f64)> = after
        .keys()
        .filter_map(|k| k.strip_suffix(".usec"))
        .filter(|k| !k.ends_with("_per_call"))
        .map(|k| {
            (
                k.to_owned(),
                delta(&format!("{k}.usec")),
                delta(&format!("{k}.calls")),
            )
        })
        .filter(|(_, usec, _)| *usec > 0.0)
        .collect();
    commands.sort_by(|a, b| b.1.total_cmp(&a.1));
    let per = |x: f64| x / approved.max(1) as f64;
    println!(
        "| Redis commands per tacit approval (calls, µs), costliest first | {} |",
        commands
            .iter()
            .take(12)
            .map(|(k, usec, calls)| format!(
                "{} {:.1}× {:.1} µs",
                k.trim_start_matches("cmdstat_"),
                per(*calls),
                per(*usec)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| Redis memory after the sweep | {:.0} MiB |",
        after.get("used_memory").copied().unwrap_or(0.0) / 1048576.0
    );
    println!(
        "| ratio p99 during / idle | {:.1} |",
        p(&during, 0.99) / p(&idle, 0.99)
    );
}
