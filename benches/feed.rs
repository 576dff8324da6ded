//! The ENT's feed under load, beside references measured in the same run: an axum hello-world
//! (reference A) and `redis-benchmark` GET on the same Redis (reference B). One school's feed
//! holds 20 published messages (each sent to 1,000 schools); it is read with `wrk`, plain and
//! with a matching `If-None-Match` (304), on the embedded store and on Redis, beside `/healthz`.
//! Run with `cargo bench --bench feed` (needs `wrk`, `redis-server` and `redis-benchmark`).
//! The targets are reported, not asserted; correctness (statuses, 20 items, the 304) is.

#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

mod common;

use std::sync::Arc;
use std::time::Instant;

use charte::server::Running;
use charte::store::Store;
use charte::store::embedded::EmbeddedStore;
use charte::store::redis::RedisStore;
use common::{Load, loadavg, lycees, start, token, wrk};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SCHOOLS: usize = 1_000;
const MESSAGES: usize = 20;
const WRK: [&str; 4] = ["-t2", "-c64", "-d5s", "--timeout=5s"];

/// `redis-benchmark -t get` on `port`: requests per second and p99 (ms).
async fn redis_get(port: u16) -> (f64, f64) {
    let out = tokio::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-t",
            "get",
            "-c",
            "64",
            "-n",
            "200000",
            "--csv",
        ])
        .output()
        .await
        .expect("redis-benchmark");
    let csv = String::from_utf8_lossy(&out.stdout);
    let row: Vec<f64> = csv
        .lines()
        .find(|l| l.starts_with("\"GET\""))
        .map(|l| {
            l.split(',')
                .skip(1)
                .filter_map(|f| f.trim_matches('"').parse().ok())
                .collect()
        })
        .unwrap_or_else(|| panic!("no GET row in redis-benchmark's output:\n{csv}"));
    (row[0], row.get(5).copied().unwrap_or(f64::NAN))
}

/// Serves an axum hello-world on 127.0.0.1:0 until the sender is dropped or fired.
async fn hello_world() -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (url, tx, task)
}

/// Sends MESSAGES emergencies to every school over HTTP (published at once, the reviews opened in
/// chunks behind the answer); returns the time until every school has them.
async fn seed(http: &reqwest::Client, running: &Running) -> f64 {
    let base = format!("http://{}", running.addr);
    let agent = token("authority_agent", |c| {
        c.authority = Some("region-grand-est".into())
    });
    let targets: Vec<String> = lycees(5_700_000, SCHOOLS)
        .iter()
        .map(|s| s.uai.to_string())
        .collect();
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let started = Instant::now();
    for i in 0..MESSAGES {
        let now = OffsetDateTime::now_utc();
        let body = json!({
            "title": format!("Intempéries n° {i} : transports scolaires suspendus"),
            "body": "<p>En raison de la tempête, les <strong>cars scolaires</strong> ne circulent pas ce matin.</p>",
            "kind": "emergency", "audience": ["families", "pupils"], "targets": targets,
            "publish_at": fmt(now), "display_until": fmt(now + time::Duration::days(30)),
            "emergency": {"category": "weather", "justification": "Tempête : les cars ne circulent pas ce matin."},
        });
        let res = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&agent)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 201, "submission {i}: {text}");
        let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        running.charte.finish_fan_out(&id).await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Checks the feed (200 with MESSAGES items, then 304 on its ETag); returns the ETag.
async fn check_feed(http: &reqwest::Client, url: &str, ent: &str) -> String {
    let res = http.get(url).bearer_auth(ent).send().await.unwrap();
    assert_eq!(res.status(), 200, "feed: {:?}", res.text().await);
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("the feed has an ETag")
        .to_owned();
    let body: Value = res.json().await.unwrap();
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), MESSAGES, "the feed after seeding: {body}");
    assert!(items.iter().all(|i| i["emergency"] == true), "{body}");
    let res = http
        .get(url)
        .bearer_auth(ent)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304, "the feed on its own ETag");
    assert!(res.bytes().await.unwrap().is_empty(), "a 304 has no body");
    let res = http
        .get(url)
        .bearer_auth(ent)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        304,
        "the feed stays unchanged between two reads"
    );
    etag
}

/// The three wrk runs on one charte: feed, feed with If-None-Match, /healthz.
struct Runs {
    seeding_s: f64,
    feed: Load,
    not_modified: Load,
    healthz: Load,
}

async fn measure(store: Arc<dyn Store>) -> Runs {
    store.put_schools(lycees(5_700_000, SCHOOLS)).await.unwrap();
    let running = start(store).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let res = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "/healthz");
    let seeding_s = seed(&http, &running).await;
    let uai = lycees(5_700_000, SCHOOLS)[SCHOOLS / 2].uai.to_string();
    let ent = token("ent", |c| c.uai = vec![uai.clone()]);
    let url = format!("{base}/v1/schools/{uai}/feed");
    let etag = check_feed(&http, &url, &ent).await;
    let auth = format!("Authorization: Bearer {ent}");
    let feed = wrk(&WRK, &url, std::slice::from_ref(&auth)).await;
    let not_modified = wrk(
        &WRK,
        &url,
        &[auth.clone(), format!("If-None-Match: {etag}")],
    )
    .await;
    let healthz = wrk(&WRK, &format!("{base}/healthz"), &[]).await;
    // Still the same feed after the load (nothing changed it).
    let res = http
        .get(&url)
        .bearer_auth(&ent)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304, "the feed after the load");
    running.stop().await;
    Runs {
        seeding_s,
        feed,
        not_modified,
        healthz,
    }
}

fn line(name: &str, l: &Load, ratio: Option<(f64, &str, f64)>) {
    let mut s = format!(
        "{name:<28} {:>8.0} req/s   p99 {:>6.2} ms   ({} requests)",
        l.rps, l.p99_ms, l.requests
    );
    if let Some((r, of, target)) = ratio {
        let verdict = if r >= target { "met" } else { "MISSED" };
        s += &format!("   ratio {r:.3} of {of} (target ≥ {target}: {verdict})");
    }
    println!("{s}");
}

#[tokio::main]
async fn main() {
    let load_before = loadavg();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());

    // Reference A: axum's hello-world, served here.
    let (url, stop_hello, hello_task) = hello_world().await;
    let hello = wrk(&WRK, &url, &[]).await;
    let _ = stop_hello.send(());
    hello_task.await.unwrap();

    // The embedded store (redb in a temporary folder).
    let dir = tempfile::TempDir::new().unwrap();
    let embedded = measure(Arc::new(EmbeddedStore::open(dir.path()).unwrap())).await;
    drop(dir);

    // Redis: reference B on the same server, then the same measures on a charte over it.
    let redis = redis_server::RedisServer::start();
    let (get_rps, get_p99) = redis_get(redis.port).await;
    let store = RedisStore::connect(&redis.url(), "feed").await.unwrap();
    let on_redis = measure(Arc::new(store)).await;
    drop(redis);
    let load_after = loadavg();

    println!(
        "\n## The ENT's feed — one run ({MESSAGES} items of {MESSAGES} messages to {SCHOOLS} schools; wrk {}; {cpus} CPUs)\n",
        WRK.join(" ")
    );
    println!("load average before         {load_before}");
    line("hello-world (reference A)", &hello, None);
    println!(
        "redis-benchmark GET (ref. B) {get_rps:>8.0} req/s   p99 {get_p99:>6.2} ms   (-c 64 -n 200000)"
    );
    for (store, runs, reference) in [
        ("embedded", &embedded, ("hello-world", hello.rps)),
        ("Redis", &on_redis, ("redis-benchmark GET", get_rps)),
    ] {
        println!(
            "{:<28} {:>8.1} s        ({MESSAGES} emergencies to {SCHOOLS} schools over HTTP)",
            format!("seeding ({store})"),
            runs.seeding_s
        );
        line(
            &format!("feed ({store})"),
            &runs.feed,
            Some((runs.feed.rps / reference.1, reference.0, 0.5)),
        );
        line(
            &format!("feed 304 ({store})"),
            &runs.not_modified,
            Some((runs.not_modified.rps / runs.healthz.rps, "/healthz", 0.7)),
        );
        line(&format!("/healthz ({store})"), &runs.healthz, None);
    }
    println!(
        "feed (Redis) / hello-world   {:>8.3}",
        on_redis.feed.rps / hello.rps
    );
    println!("load average after          {load_after}");
}
