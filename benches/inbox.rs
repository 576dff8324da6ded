//! A head's inbox (`GET /v1/reviews?limit=20`) at a school with 10,000 reviews, on the embedded
//! store and on Redis, beside the service's own `/healthz` measured the same way in the same run:
//! 4 concurrent clients, 2,000 requests per measure. Also the pending-only filter and a page deep
//! in the inbox (after 5,000 reviews). Run with `cargo bench --bench inbox` (needs
//! `redis-server`). The target is reported, not asserted; correctness (statuses, order) is.

#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use charte::app::Submission;
use charte::domain::actor::{Actor, Role};
use charte::domain::message::Draft;
use charte::store::Store;
use charte::store::embedded::EmbeddedStore;
use charte::store::redis::RedisStore;
use common::{loadavg, percentile, rfc3339, start, token};
use serde_json::Value;
use time::OffsetDateTime;

const REVIEWS: usize = 10_000;
const REQUESTS: usize = 2_000;
const CLIENTS: usize = 4;
const P99_MS: f64 = 10.0;
const FABERT: &str = "0570054Z";

fn agent() -> Actor {
    Actor {
        subject: "authority_agent-bench".into(),
        name: "Agent de banc d'essai".into(),
        role: Role::AuthorityAgent,
        authority: Some("region-grand-est".into()),
        uais: vec![],
        academie: None,
        arbitrator: None,
    }
}

/// `REQUESTS` GETs of `url` by `CLIENTS` clients; the latencies, sorted.
async fn load(http: &reqwest::Client, url: &str, bearer: Option<&str>) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (http, url, bearer) = (http.clone(), url.to_owned(), bearer.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(REQUESTS / CLIENTS);
            for _ in 0..REQUESTS / CLIENTS {
                let t = Instant::now();
                let mut req = http.get(&url);
                if let Some(b) = &bearer {
                    req = req.bearer_auth(b);
                }
                let res = req.send().await.unwrap();
                assert!(res.status().is_success(), "{url}: {}", res.status());
                res.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::with_capacity(REQUESTS);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all
}

struct Figures {
    seeding: Duration,
    first: Vec<Duration>,
    pending: Vec<Duration>,
    deep: Vec<Duration>,
    healthz: Vec<Duration>,
}

async fn measure(store: Arc<dyn Store>) -> Figures {
    store
        .put_schools(charte::demo::schools().schools)
        .await
        .unwrap();
    let running = start(store).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let now = OffsetDateTime::now_utc();
    let seeding = Instant::now();
    for i in 0..REVIEWS {
        let sub = Submission {
            draft: Draft {
                title: Some(format!("Restauration scolaire n° {i}")),
                body: Some("<p>Nouveaux tarifs au 1er janvier.</p>".into()),
                audience: Some(vec!["families".into()]),
                publish_at: Some(rfc3339(now + time::Duration::days(20))),
                display_until: Some(rfc3339(now + time::Duration::days(60))),
            },
            kind: Some(if i % 2 == 0 { "one_off" } else { "recurring" }.into()),
            targets: Some(vec![FABERT.into()]),
            ..Default::default()
        };
        running.charte.submit(&agent(), sub, None).await.unwrap();
    }
    let seeding = seeding.elapsed();
    let head = token("head", |c| c.uai = vec![FABERT.into()]);

    // The first page: the 20 soonest deadlines; and the same order deep in the inbox.
    let url = format!("{base}/v1/reviews?limit=20");
    let page: Value = http
        .get(&url)
        .bearer_auth(&head)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    let mut cursor = page["next_cursor"].as_str().unwrap().to_owned();
    for _ in 0..(REVIEWS / 2 / 200) {
        let p: Value = http
            .get(format!("{base}/v1/reviews?limit=200&cursor={cursor}"))
            .bearer_auth(&head)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(p["items"].as_array().unwrap().len(), 200);
        cursor = p["next_cursor"].as_str().unwrap().to_owned();
    }
    let deep_url = format!("{base}/v1/reviews?limit=20&cursor={cursor}");

    let first = load(&http, &url, Some(&head)).await;
    let pending = load(&http, &format!("{url}&state=pending"), Some(&head)).await;
    let deep = load(&http, &deep_url, Some(&head)).await;
    let healthz = load(&http, &format!("{base}/healthz"), None).await;
    running.stop().await;
    Figures {
        seeding,
        first,
        pending,
        deep,
        healthz,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let load_before = loadavg();
    let dir = tempfile::TempDir::new().unwrap();
    let embedded = measure(Arc::new(EmbeddedStore::open(dir.path()).unwrap())).await;
    drop(dir);
    let redis = redis_server::RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "inbox").await.unwrap();
    let on_redis = measure(Arc::new(store)).await;
    drop(redis);
    let load_after = loadavg();

    println!(
        "\n## A head's inbox at a school with {REVIEWS} reviews — one run ({CLIENTS} clients, {REQUESTS} requests per line)\n"
    );
    println!("load average before                 {load_before}");
    for (name, f) in [("embedded", &embedded), ("Redis", &on_redis)] {
        println!("### {name} (seeded in {:.1} s)", f.seeding.as_secs_f64());
        for (what, lat) in [
            ("GET /v1/reviews?limit=20", &f.first),
            ("  …&state=pending", &f.pending),
            ("  page after 5,000 reviews", &f.deep),
            ("/healthz (reference)", &f.healthz),
        ] {
            println!(
                "{what:<36} p50 {:>6.2} ms   p99 {:>6.2} ms",
                ms(percentile(lat, 0.5)),
                ms(percentile(lat, 0.99))
            );
        }
        let p99 = ms(percentile(&f.first, 0.99));
        println!(
            "inbox p99 {p99:.2} ms: target ≤ {P99_MS} ms {}; {:.1}× /healthz's p99",
            if p99 <= P99_MS { "met" } else { "MISSED" },
            p99 / ms(percentile(&f.healthz, 0.99))
        );
    }
    println!("load average after                  {load_after}");
}
