//! Large submissions, on the embedded store and on Redis: the answer to a message to 1,000
//! schools (p50/p99, alone and in a stream), the ENT feed's p99 during that stream beside the
//! same feed idle (and `/healthz` as the run's reference), how long the chunks behind it hold
//! Redis (its slow log), a message to 10,000 schools, and a 60,000-school annuaire imported by
//! the binary. Run with `cargo bench --bench submissions` (needs `wrk` and `redis-server`).
//! The targets are reported, not asserted; correctness (statuses, every review opened) is.

#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use charte::store::Store;
use charte::store::embedded::EmbeddedStore;
use charte::store::redis::RedisStore;
use common::{
    Load, loadavg, lycees, percentile, reset_slow_log, rfc3339, slow_log, start, token, wrk,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SCHOOLS: usize = 1_000;
const BIG: usize = 10_000;
const FEED_ITEMS: usize = 20;
const QUIET: usize = 30;
/// The pace of the first stream of submissions: two a second, 2,000 reviews a second to open.
const STREAM_EVERY: Duration = Duration::from_millis(500);
const ANNUAIRE: usize = 60_000;
const WRK: [&str; 4] = ["-t2", "-c64", "-d8s", "--timeout=5s"];
const SUBMIT_P99_MS: f64 = 100.0;
const FEED_RATIO: f64 = 2.0;
const BIG_ANSWER_S: f64 = 1.0;
const IMPORT_S: f64 = 30.0;

fn one_off(i: usize, targets: &[String]) -> Value {
    let now = OffsetDateTime::now_utc();
    json!({
        "title": format!("Restauration scolaire n° {i} : nouveaux tarifs"),
        "body": "<p>Les <strong>tarifs</strong> de la demi-pension changent au 1er janvier.</p>",
        "kind": "one_off", "audience": ["families"], "targets": targets,
        "publish_at": rfc3339(now + time::Duration::days(20)),
        "display_until": rfc3339(now + time::Duration::days(60)),
    })
}

fn emergency(i: usize, targets: &[String]) -> Value {
    let now = OffsetDateTime::now_utc();
    json!({
        "title": format!("Intempéries n° {i} : transports scolaires suspendus"),
        "body": "<p>En raison de la tempête, les <strong>cars scolaires</strong> ne circulent pas ce matin.</p>",
        "kind": "emergency", "audience": ["families", "pupils"], "targets": targets,
        "publish_at": rfc3339(now), "display_until": rfc3339(now + time::Duration::days(30)),
        "emergency": {"category": "weather", "justification": "Tempête : les cars ne circulent pas ce matin."},
    })
}

/// Submits `body`; returns the message id and the time to the answer.
async fn submit(
    http: &reqwest::Client,
    base: &str,
    agent: &str,
    body: &Value,
) -> (String, Duration) {
    let t = Instant::now();
    let res = http
        .post(format!("{base}/v1/messages"))
        .bearer_auth(agent)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    let took = t.elapsed();
    assert_eq!(status, 201, "{v}");
    (v["id"].as_str().unwrap().to_owned(), took)
}

/// Waits until no fan-out job is left; returns how long that took.
async fn drained(store: &dyn Store) -> Duration {
    let t = Instant::now();
    while !store.pending_fan_outs(1).await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.elapsed()
}

/// One stream of submissions to 1,000 schools, with the feed read by wrk meanwhile.
struct Stream {
    /// One submission per this; back to back without.
    every: Option<Duration>,
    submits: Vec<Duration>,
    feed: Load,
    /// How long the fan-outs went on after the stream.
    tail: Duration,
    reviews_per_s: f64,
}

struct Figures {
    quiet: Vec<Duration>,
    streams: Vec<Stream>,
    idle: Load,
    healthz: Load,
    big_answer: Duration,
    big_open: Duration,
    slow: Option<common::SlowLog>,
}

async fn measure(store: Arc<dyn Store>, redis_url: Option<&str>) -> Figures {
    let schools = lycees(5_700_000, BIG);
    let all: Vec<String> = schools.iter().map(|s| s.uai.to_string()).collect();
    store.put_schools(schools).await.unwrap();
    let running = start(store.clone()).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let agent = token("authority_agent", |c| {
        c.authority = Some("region-grand-est".into())
    });
    let thousand = &all[..SCHOOLS];

    // A feed of 20 publications at the school watched.
    for i in 0..FEED_ITEMS {
        let (id, _) = submit(&http, &base, &agent, &emergency(i, thousand)).await;
        running.charte.finish_fan_out(&id).await.unwrap();
    }
    let uai = thousand[SCHOOLS / 2].clone();
    let ent = token("ent", |c| c.uai = vec![uai.clone()]);
    let feed_url = format!("{base}/v1/schools/{uai}/feed");
    let feed: Value = http
        .get(&feed_url)
        .bearer_auth(&ent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(feed["items"].as_array().unwrap().len(), FEED_ITEMS);

    // Submissions one at a time, each fan-out finished before the next.
    let mut quiet = Vec::with_capacity(QUIET);
    for i in 0..QUIET {
        let (id, took) = submit(&http, &base, &agent, &one_off(i, thousand)).await;
        quiet.push(took);
        running.charte.finish_fan_out(&id).await.unwrap();
    }
    quiet.sort();

    let auth = format!("Authorization: Bearer {ent}");
    let idle = wrk(&WRK, &feed_url, std::slice::from_ref(&auth)).await;
    let healthz = wrk(&WRK, &format!("{base}/healthz"), &[]).await;

    // Streams of submissions while wrk reads the feed: one every STREAM_EVERY, then back to back.
    if let Some(url) = redis_url {
        reset_slow_log(url).await;
    }
    let mut streams = Vec::new();
    for every in [Some(STREAM_EVERY), None] {
        let stop = Arc::new(AtomicBool::new(false));
        let streamer = {
            let (http, base, agent, stop) =
                (http.clone(), base.clone(), agent.clone(), stop.clone());
            let targets = thousand.to_vec();
            tokio::spawn(async move {
                let mut times = Vec::new();
                let mut i = QUIET;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    times.push(submit(&http, &base, &agent, &one_off(i, &targets)).await.1);
                    i += 1;
                    if let Some(every) = every {
                        tokio::time::sleep(every.saturating_sub(started.elapsed())).await;
                    }
                }
                times
            })
        };
        let started = Instant::now();
        let feed = wrk(&WRK, &feed_url, std::slice::from_ref(&auth)).await;
        stop.store(true, Ordering::Relaxed);
        let mut submits = streamer.await.unwrap();
        let tail = drained(store.as_ref()).await;
        let reviews_per_s = (submits.len() * SCHOOLS) as f64 / started.elapsed().as_secs_f64();
        submits.sort();
        streams.push(Stream {
            every,
            submits,
            feed,
            tail,
            reviews_per_s,
        });
    }

    // One message to 10,000 schools.
    let (id, big_answer) = submit(&http, &base, &agent, &one_off(0, &all)).await;
    let t = Instant::now();
    loop {
        let job = store.fan_out(&id).await.unwrap();
        if job.is_none_or(|j| j.finished_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let big_open = big_answer + t.elapsed();
    let summary = store.messages_with_summaries(&[id]).await.unwrap();
    assert_eq!(
        summary[0].1.schools(),
        BIG as u64,
        "every school has its review"
    );
    let slow = match redis_url {
        Some(url) => Some(slow_log(url).await),
        None => None,
    };
    running.stop().await;
    Figures {
        quiet,
        streams,
        idle,
        healthz,
        big_answer,
        big_open,
        slow,
    }
}

/// The official annuaire's header and `n` generated rows.
fn annuaire(n: usize) -> String {
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/demo/annuaire-demo.csv"
    ))
    .unwrap();
    let mut lines = demo.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let mut csv = format!("{header}\n");
    for i in 0..n {
        let model = rows[i % rows.len()];
        let old = &model[..8];
        let digits = format!("{:07}", 1_000_000 + i);
        let uai = format!(
            "{digits}{}",
            charte::domain::uai::check_letter(&digits).unwrap()
        );
        csv.push_str(&model.replacen(old, &uai, 1).replace(old, &uai));
        csv.push('\n');
    }
    csv
}

/// Imports `csv` with the binary; returns the time taken.
fn import(csv: &std::path::Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_charte"))
        .arg("import-schools")
        .arg(csv)
        .args(args)
        .output()
        .unwrap();
    let took = t.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "{ANNUAIRE} établissement(s) importé(s), 0 ligne(s)"
        )),
        "{stdout}"
    );
    took
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

#[tokio::main]
async fn main() {
    let load_before = loadavg();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());

    let dir = tempfile::TempDir::new().unwrap();
    let embedded = measure(Arc::new(EmbeddedStore::open(dir.path()).unwrap()), None).await;
    drop(dir);
    let redis = redis_server::RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "submissions")
        .await
        .unwrap();
    let on_redis = measure(Arc::new(store), Some(&redis.url())).await;

    let dir = tempfile::TempDir::new().unwrap();
    let csv = dir.path().join("annuaire.csv");
    std::fs::write(&csv, annuaire(ANNUAIRE)).unwrap();
    let import_embedded = import(
        &csv,
        &["--data-dir", dir.path().join("data").to_str().unwrap()],
    );
    let import_redis = import(
        &csv,
        &["--redis-url", &redis.url(), "--redis-prefix", "import"],
    );
    drop(redis);
    let load_after = loadavg();

    println!(
        "\n## Large submissions — one run (messages to {SCHOOLS} schools; wrk {}; {cpus} CPUs)\n",
        WRK.join(" ")
    );
    println!("load average before             {load_before}");
    for (name, f) in [("embedded", &embedded), ("Redis", &on_redis)] {
        let p99 = ms(percentile(&f.quiet, 0.99));
        println!("### {name}");
        println!(
            "submit to {SCHOOLS}, one at a time      p50 {:>6.1} ms   p99 {p99:>6.1} ms   ({QUIET} submissions; target p99 ≤ {SUBMIT_P99_MS}: {})",
            ms(percentile(&f.quiet, 0.5)),
            verdict(p99 <= SUBMIT_P99_MS)
        );
        println!(
            "feed idle                        {:>8.0} req/s   p99 {:>6.2} ms",
            f.idle.rps, f.idle.p99_ms
        );
        for st in &f.streams {
            let pace = match st.every {
                Some(e) => format!("one every {} ms", e.as_millis()),
                None => "back to back".to_owned(),
            };
            let stream_p99 = ms(percentile(&st.submits, 0.99));
            println!("stream of submissions, {pace}:");
            println!(
                "  submit to {SCHOOLS}                   p50 {:>6.1} ms   p99 {stream_p99:>6.1} ms   ({} submissions; target p99 ≤ {SUBMIT_P99_MS}: {})",
                ms(percentile(&st.submits, 0.5)),
                st.submits.len(),
                verdict(stream_p99 <= SUBMIT_P99_MS)
            );
            let ratio = st.feed.p99_ms / f.idle.p99_ms;
            println!(
                "  feed meanwhile                 {:>8.0} req/s   p99 {:>6.2} ms   ratio {ratio:.2} of idle (target ≤ {FEED_RATIO}: {})",
                st.feed.rps,
                st.feed.p99_ms,
                verdict(ratio <= FEED_RATIO)
            );
            println!(
                "  reviews opened                 {:>8.0} /s   (the last fan-out finished {:.1} s after the stream)",
                st.reviews_per_s,
                st.tail.as_secs_f64()
            );
        }
        println!(
            "/healthz (reference)             {:>8.0} req/s   p99 {:>6.2} ms",
            f.healthz.rps, f.healthz.p99_ms
        );
        println!(
            "message to {BIG}: answered in {:.0} ms (target ≤ {:.0} ms: {}), every review open after {:.1} s",
            ms(f.big_answer),
            BIG_ANSWER_S * 1e3,
            verdict(f.big_answer.as_secs_f64() <= BIG_ANSWER_S),
            f.big_open.as_secs_f64()
        );
        if let Some(s) = f.slow {
            println!(
                "Redis slow log (stream + 10,000) {} commands over {} ms, {} over 10 ms, longest {:.1} ms (submission commits {:.1} ms, others {:.1} ms)",
                s.over_threshold,
                common::SLOWLOG_US / 1000,
                s.over_10ms,
                s.longest,
                s.longest_with_message,
                s.longest_other
            );
        }
    }
    println!(
        "annuaire of {ANNUAIRE} schools imported: embedded {:.1} s, Redis {:.1} s (target ≤ {IMPORT_S} s: {})",
        import_embedded.as_secs_f64(),
        import_redis.as_secs_f64(),
        verdict(
            import_embedded
                .as_secs_f64()
                .max(import_redis.as_secs_f64())
                <= IMPORT_S
        )
    );
    println!("load average after              {load_after}");
}
