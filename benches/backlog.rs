//! A backlog of 100,000 reviews falling due at once on Redis: how long the sweep takes, and
//! whether the API stays responsive meanwhile (p99 of a head's inbox request, idle vs during the
//! sweep). Run with `cargo bench --bench backlog` (needs `redis-server`).

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
const MESSAGES: usize = 100;

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
    for _ in 0..MESSAGES {
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
    let app = charte::http::router(charte::http::AppState {
        charte: charte.clone(),
        verifier: Arc::new(Verifier::dev(SECRET.to_vec())),
        frame_ancestors: Arc::new(vec![]),
        metrics: Default::default(),
        rate_limits: Arc::new(charte::http::rate_limit::RateLimits::new(
            charte::http::rate_limit::RateSettings::unlimited(),
        )),
        metrics_here: true,
    });
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
    let started = Instant::now();
    let idle = probe(&http, &url, &token, || {
        started.elapsed() > Duration::from_secs(3)
    })
    .await;

    // Now the sweep, with the API probed all along.
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
    println!("| reviews due at once | {due} ({MESSAGES} messages × {SCHOOLS} schools) |");
    println!(
        "| seeding ({MESSAGES} submissions) | {:.1} s |",
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
        "| ratio p99 during / idle | {:.1} |",
        p(&during, 0.99) / p(&idle, 0.99)
    );
}
