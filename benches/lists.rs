//! The lists under a growing store: the authority's `GET /v1/messages`, a head's inbox
//! `GET /v1/reviews` and one message's `GET /v1/messages/{id}/reviews`, read by 4 concurrent
//! clients (2,000 requests per measure), once with 10 messages × 1,000 schools (10,000 reviews)
//! and once with 100 messages × 1,000 schools (100,000 reviews), on the embedded store and on
//! Redis. The messages are seeded through the library (`Charte::submit`), not over HTTP. Also the
//! process's RSS after seeding 100,000 reviews. Run with `cargo bench --bench lists` (needs
//! `redis-server`). The targets are reported, not asserted; correctness (statuses, item counts)
//! is.

#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use charte::app::{Charte, Submission, SystemClock};
use charte::domain::actor::{Actor, Role};
use charte::domain::calendar::Calendar;
use charte::domain::directory::{School, SchoolType};
use charte::domain::message::Draft;
use charte::http::auth::Verifier;
use charte::server::Running;
use charte::store::Store;
use charte::store::embedded::EmbeddedStore;
use charte::store::redis::RedisStore;
use common::{SECRET, token};
use serde_json::Value;
use time::OffsetDateTime;

const AUTHORITY: &str = "region-grand-est";
const SCHOOLS: usize = 1_000;
/// Stage B (measured first), then stage A after growing the same store.
const STAGE_B: usize = 10;
const STAGE_A: usize = 100;
const REQUESTS: usize = 2_000;
const CLIENTS: usize = 4;
const WARM_UP: usize = 20;
const LIST_P99_MS: f64 = 20.0;
const LIST_BYTES: usize = 64 * 1024;
const GROWTH_RATIO: f64 = 1.5;
const RSS_MIB: f64 = 128.0;

fn schools() -> Vec<School> {
    let template = charte::demo::schools()
        .schools
        .into_iter()
        .find(|s| s.uai.as_str() == "0570054Z")
        .unwrap();
    (0..SCHOOLS)
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
            s.name = format!("Lycée n° {i}");
            s
        })
        .collect()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// `VmRSS` and `VmHWM` (peak) of this process, in MiB.
fn rss_mib() -> (f64, f64) {
    vm_mib("/proc/self/status")
}

/// `VmRSS` and `VmHWM` (peak), in MiB, from a process's `status` file.
fn vm_mib(status_file: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(status_file).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The submitting authority's agent, as the library sees it.
fn agent() -> Actor {
    Actor {
        subject: "authority_agent-bench".into(),
        name: "Agent de banc d'essai".into(),
        role: Role::AuthorityAgent,
        authority: Some(AUTHORITY.into()),
        uais: vec![],
        academie: None,
        arbitrator: None,
    }
}

fn submission(i: usize, targets: &[String]) -> Submission {
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let now = OffsetDateTime::now_utc();
    Submission {
        draft: Draft {
            title: Some(format!("Restauration scolaire n° {i} : nouveaux tarifs")),
            body: Some(
                "<p>Les tarifs de la <strong>restauration scolaire</strong> changent au 1er janvier.</p>"
                    .into(),
            ),
            audience: Some(vec!["families".into()]),
            publish_at: Some(fmt(now)),
            display_until: Some(fmt(now + time::Duration::days(60))),
        },
        kind: Some("one_off".into()),
        targets: Some(targets.to_vec()),
        ..Default::default()
    }
}

/// Submits messages `from..to` to every school through the library; returns the time taken.
async fn seed(charte: &Charte, targets: &[String], from: usize, to: usize) -> Duration {
    let actor = agent();
    let started = Instant::now();
    for i in from..to {
        let (view, created) = charte
            .submit(&actor, submission(i, targets), None)
            .await
            .unwrap_or_else(|e| panic!("submission {i}: {e:?}"));
        assert!(created, "submission {i} was a replay");
        // The reviews beyond the first chunk are opened now (a worker would, within seconds).
        charte.finish_fan_out(&view.id).await.unwrap();
    }
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One endpoint measured at one stage.
struct Timing {
    p50: Duration,
    p99: Duration,
    bytes: usize,
    items: usize,
}

/// One GET, checked: status 200 and `items` items. Returns the body.
async fn probe(http: &reqwest::Client, url: &str, bearer: &str, items: usize) -> (usize, Value) {
    let res = http.get(url).bearer_auth(bearer).send().await.unwrap();
    let status = res.status();
    let bytes = res.bytes().await.unwrap();
    assert_eq!(
        status,
        200,
        "{url}: {}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(2_000)])
    );
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let got = body["items"].as_array().map_or(0, Vec::len);
    assert_eq!(got, items, "{url}: {got} items, {items} expected");
    (bytes.len(), body)
}

/// REQUESTS GETs of `url`, CLIENTS at a time (each client sequential), after a warm-up.
async fn measure(http: &reqwest::Client, url: &str, bearer: &str, items: usize) -> Timing {
    let (bytes, _) = probe(http, url, bearer, items).await;
    for _ in 0..WARM_UP {
        let res = http.get(url).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url} (warm-up)");
        let _ = res.bytes().await.unwrap();
    }
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let (http, url, bearer, next) = (
            http.clone(),
            url.to_owned(),
            bearer.to_owned(),
            next.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(REQUESTS / CLIENTS + 1);
            while next.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                let t = Instant::now();
                let res = http.get(&url).bearer_auth(&bearer).send().await.unwrap();
                let status = res.status();
                let body = res.bytes().await.unwrap();
                latencies.push(t.elapsed());
                assert_eq!(status, 200, "{url}");
                assert_eq!(body.len(), bytes, "{url}: the answer changed under load");
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(REQUESTS);
    for c in clients {
        latencies.extend(c.await.unwrap());
    }
    latencies.sort();
    Timing {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        bytes,
        items,
    }
}

/// The measured endpoints, in the order printed.
const ENDPOINTS: [&str; 5] = [
    "GET /v1/messages?limit=20 (agent)",
    "GET /v1/messages?limit=10 (agent)",
    "GET /v1/reviews?limit=20 (head)",
    "GET /v1/reviews?limit=10 (head)",
    "GET /v1/messages/{id}/reviews?limit=50",
];

async fn start(charte: Arc<Charte>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Four clients from one address would meet the per-address quota: this measures the lists.
    let mut options = charte::server::HttpOptions::new(vec![]);
    options.rate_limits = charte::http::rate_limit::RateSettings::unlimited();
    charte::server::start_with(
        listener,
        charte,
        Arc::new(Verifier::dev(SECRET.to_vec())),
        options,
        None,
    )
    .await
    .unwrap()
}

/// Serves `charte` and measures every endpoint with `messages` messages in the store.
async fn stage(charte: Arc<Charte>, messages: usize, head_uai: &str) -> Vec<Timing> {
    let running = start(charte).await;
    let base = format!("http://{}", running.addr);
    let agent = token("authority_agent", |c| c.authority = Some(AUTHORITY.into()));
    let head = token("head", |c| c.uai = vec![head_uai.to_owned()]);
    let out = measure_all(&base, &agent, &head, messages).await;
    running.stop().await;
    out
}

/// Measures every endpoint of the service at `base`, with `messages` messages in its store.
async fn measure_all(base: &str, agent: &str, head: &str, messages: usize) -> Vec<Timing> {
    let http = reqwest::Client::new();
    // The newest message, whose reviews are listed.
    let (_, page) = probe(
        &http,
        &format!("{base}/v1/messages?limit=1"),
        agent,
        1.min(messages),
    )
    .await;
    let newest = page["items"][0]["id"].as_str().unwrap().to_owned();
    // A head's inbox holds one review per message; a message has one review per school.
    let runs = [
        (
            format!("{base}/v1/messages?limit=20"),
            agent,
            20.min(messages),
        ),
        (
            format!("{base}/v1/messages?limit=10"),
            agent,
            10.min(messages),
        ),
        (
            format!("{base}/v1/reviews?limit=20"),
            head,
            20.min(messages),
        ),
        (
            format!("{base}/v1/reviews?limit=10"),
            head,
            10.min(messages),
        ),
        (
            format!("{base}/v1/messages/{newest}/reviews?limit=50"),
            agent,
            50.min(SCHOOLS),
        ),
    ];
    let mut out = Vec::with_capacity(runs.len());
    for (url, bearer, items) in &runs {
        out.push(measure(&http, url, bearer, *items).await);
    }
    out
}

/// What `charte serve` itself holds once it has served every list from the grown store.
struct Service {
    rss: (f64, f64),
    list_p99: Duration,
}

/// Starts the service binary over the seeded store (`store_args`), serves every list from it
/// as in the stages, and reads its own `VmRSS` and `VmHWM`.
async fn service(store_args: &[&str], secret_dir: &std::path::Path, head_uai: &str) -> Service {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "serve",
        "--dev",
        "--listen",
        &listen,
        "--rate-per-subject",
        "0",
        "--rate-per-address",
        "0",
    ];
    args.extend_from_slice(store_args);
    if !store_args.contains(&"--data-dir") {
        args.extend_from_slice(&["--data-dir", secret_dir.to_str().unwrap()]);
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_charte"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "charte serve exited before answering"
        );
        assert!(Instant::now() < deadline, "charte serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secret = charte::server::dev_secret(secret_dir).unwrap();
    let agent = common::token_signed(&secret, "authority_agent", |c| {
        c.authority = Some(AUTHORITY.into())
    });
    let head = common::token_signed(&secret, "head", |c| c.uai = vec![head_uai.to_owned()]);
    let timings = measure_all(&base, &agent, &head, STAGE_A).await;
    let rss = vm_mib(&format!("/proc/{}/status", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    Service {
        rss,
        list_p99: timings[0].p99,
    }
}

/// The head whose inbox is measured: the middle school.
fn head_uai() -> String {
    schools()[SCHOOLS / 2].uai.to_string()
}

/// Everything measured on one store.
struct Outcome {
    seed_b: Duration,
    seed_a: Duration,
    rss: (f64, f64),
    at_b: Vec<Timing>,
    at_a: Vec<Timing>,
}

async fn run(store: Arc<dyn Store>) -> Outcome {
    let schools = schools();
    let targets: Vec<String> = schools.iter().map(|s| s.uai.to_string()).collect();
    let head_uai = head_uai();
    store.put_schools(schools).await.unwrap();
    let charte = charte::server::charte(
        store,
        Arc::new(SystemClock),
        charte::demo::directory(),
        Calendar::default(),
        String::new(),
    );
    // An empty store needs no indexing: marked so, the service started later over the seeded
    // store does not index it again.
    charte.index_read_models_once().await.unwrap();
    let seed_b = seed(&charte, &targets, 0, STAGE_B).await;
    let at_b = stage(charte.clone(), STAGE_B, &head_uai).await;
    let seed_a = seed(&charte, &targets, STAGE_B, STAGE_A).await;
    let rss = rss_mib();
    let at_a = stage(charte, STAGE_A, &head_uai).await;
    Outcome {
        seed_b,
        seed_a,
        rss,
        at_b,
        at_a,
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn report(name: &str, o: &Outcome) {
    let per = |d: Duration, n: usize| ms(d) / n as f64;
    println!("\n### {name}\n");
    println!(
        "seeding {STAGE_B} messages × {SCHOOLS} schools: {:.1} s ({:.0} ms per submission)",
        o.seed_b.as_secs_f64(),
        per(o.seed_b, STAGE_B)
    );
    println!(
        "seeding {} more (to {STAGE_A} × {SCHOOLS}): {:.1} s ({:.0} ms per submission)",
        STAGE_A - STAGE_B,
        o.seed_a.as_secs_f64(),
        per(o.seed_a, STAGE_A - STAGE_B)
    );
    println!(
        "RSS after seeding {} reviews: {:.0} MiB (peak so far {:.0} MiB; target ≤ {RSS_MIB} MiB: {}; \
         the process also holds the HTTP client{})",
        STAGE_A * SCHOOLS,
        o.rss.0,
        o.rss.1,
        verdict(o.rss.0 <= RSS_MIB),
        if name.starts_with("Redis") {
            ", and the peak includes the embedded run"
        } else {
            ""
        }
    );
    println!(
        "\n| measure | {}k reviews: items, p50 / p99 ms, bytes | {}k reviews: items, p50 / p99 ms, bytes | p99 ×{} (target ≤ {GROWTH_RATIO}) |",
        STAGE_B * SCHOOLS / 1000,
        STAGE_A * SCHOOLS / 1000,
        STAGE_A / STAGE_B
    );
    println!("|---|---|---|---|");
    for (i, endpoint) in ENDPOINTS.iter().enumerate() {
        let (b, a) = (&o.at_b[i], &o.at_a[i]);
        let ratio = ms(a.p99) / ms(b.p99);
        println!(
            "| {endpoint} | {}, {:.2} / {:.2}, {} | {}, {:.2} / {:.2}, {} | {ratio:.2} {} |",
            b.items,
            ms(b.p50),
            ms(b.p99),
            b.bytes,
            a.items,
            ms(a.p50),
            ms(a.p99),
            a.bytes,
            verdict(ratio <= GROWTH_RATIO)
        );
    }
    let list = &o.at_a[0];
    println!(
        "\nlist at {}k reviews: p99 {:.2} ms (target ≤ {LIST_P99_MS} ms: {}), {} bytes (target ≤ 64 KiB: {})",
        STAGE_A * SCHOOLS / 1000,
        ms(list.p99),
        verdict(ms(list.p99) <= LIST_P99_MS),
        list.bytes,
        verdict(list.bytes <= LIST_BYTES)
    );
}

#[tokio::main]
async fn main() {
    let load_before = loadavg();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());

    let dir = tempfile::TempDir::new().unwrap();
    let embedded = run(Arc::new(EmbeddedStore::open(dir.path()).unwrap())).await;
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let served_embedded = service(&["--data-dir", &data_dir], dir.path(), &head_uai()).await;
    drop(dir);

    let redis = redis_server::RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "lists").await.unwrap();
    let on_redis = run(Arc::new(store)).await;
    let secret_dir = tempfile::TempDir::new().unwrap();
    let url = redis.url();
    let served_redis = service(
        &["--redis-url", &url, "--redis-prefix", "lists"],
        secret_dir.path(),
        &head_uai(),
    )
    .await;
    drop(redis);
    let load_after = loadavg();

    println!(
        "\n## The lists — one run ({SCHOOLS} schools; {REQUESTS} requests per measure from {CLIENTS} \
         concurrent clients after {WARM_UP} warm-up requests; {cpus} CPUs)\n"
    );
    println!("load average before: {load_before}");
    println!(
        "stages: B = {STAGE_B} messages × {SCHOOLS} schools ({}k reviews), measured first; \
         A = grown to {STAGE_A} messages ({}k reviews). The 1,000,000-review stage is skipped \
         (too slow to seed in one run: about {:.0} min per store at the rates below).",
        STAGE_B * SCHOOLS / 1000,
        STAGE_A * SCHOOLS / 1000,
        [&embedded, &on_redis]
            .iter()
            .map(|o| (o.seed_b + o.seed_a).as_secs_f64() / STAGE_A as f64 * 1_000.0 / 60.0)
            .fold(0.0, f64::max)
    );
    println!(
        "At {}k reviews the message list and the head's inbox hold only {STAGE_B} items: \
         the limit=10 rows compare like with like.",
        STAGE_B * SCHOOLS / 1000
    );
    report("embedded (redb in a temporary folder)", &embedded);
    report(
        "Redis (AOF, appendfsync always; a real redis-server)",
        &on_redis,
    );
    println!(
        "\n### The service's own memory\n\n`charte serve` started over each grown store \
         ({}k reviews) in its own process, after serving {REQUESTS} requests of each list:\n",
        STAGE_A * SCHOOLS / 1000
    );
    println!("| store | RSS | peak (VmHWM) | target ≤ {RSS_MIB} MiB | list p99 |");
    println!("|---|---|---|---|---|");
    for (name, s) in [("embedded", &served_embedded), ("Redis", &served_redis)] {
        println!(
            "| {name} | {:.0} MiB | {:.0} MiB | {} | {:.2} ms |",
            s.rss.0,
            s.rss.1,
            verdict(s.rss.0 <= RSS_MIB),
            ms(s.list_p99)
        );
    }
    println!("\nload average after: {load_after}");
}
