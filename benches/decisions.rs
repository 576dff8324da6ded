//! Decisions per second and p99 latency through the HTTP API on Redis, beside `redis-benchmark`
//! running a comparable Lua script on the same Redis; and the time to submit one message to 1,000
//! schools. Run with `cargo bench --bench decisions` (needs `redis-server` and `redis-benchmark`).

#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use charte::app::ManualClock;
use charte::domain::calendar::Calendar;
use charte::domain::directory::SchoolType;
use charte::http::auth::Verifier;
use charte::store::Store;
use charte::store::redis::RedisStore;
use common::{SECRET, token};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SCHOOLS: usize = 1_000;
/// Messages to 1,000 schools decided; `CHARTE_BENCH_MESSAGES` makes a longer run (to profile).
fn messages() -> usize {
    std::env::var("CHARTE_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}
const CONCURRENCY: usize = 16;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let redis = redis_server::RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "bench").await.unwrap();
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
            s.name = format!("Lycée n° {i}");
            s
        })
        .collect();
    store.put_schools(schools.clone()).await.unwrap();
    let charte = charte::server::charte(
        Arc::new(store),
        Arc::new(ManualClock::new(OffsetDateTime::now_utc())),
        charte::demo::directory(),
        Calendar::default(),
        String::new(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Sixteen clients on one address would meet the per-address quota: this measures decisions.
    let mut options = charte::server::HttpOptions::new(vec![]);
    options.rate_limits = charte::http::rate_limit::RateSettings::unlimited();
    let running = charte::server::start_with(
        listener,
        charte,
        Arc::new(Verifier::dev(SECRET.to_vec())),
        options,
        None,
    )
    .await
    .unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let agent = token("authority_agent", |c| {
        c.authority = Some("region-grand-est".into())
    });
    let targets: Vec<String> = schools.iter().map(|s| s.uai.to_string()).collect();
    let now = OffsetDateTime::now_utc();
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };

    // 1. Submitting one message to 1,000 schools, end to end over HTTP.
    let mut submit_times = Vec::new();
    let mut reviews: Vec<(String, String)> = Vec::new();
    for i in 0..messages() {
        let body = json!({
            "title": format!("Transports scolaires n° {i}"), "body": "<p>La ligne 12 change d'horaires.</p>",
            "kind": "recurring", "audience": ["families"], "targets": targets,
            "publish_at": fmt(now), "display_until": fmt(now + time::Duration::days(30)),
        });
        let t = Instant::now();
        let res = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&agent)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        submit_times.push(t.elapsed());
        // The submission answers with its summary; the reviews, opened in chunks behind it, come
        // a page at a time once all are open.
        let id = v["id"].as_str().unwrap().to_owned();
        running.charte.finish_fan_out(&id).await.unwrap();
        let mut cursor = String::new();
        loop {
            let page: Value = http
                .get(format!(
                    "{base}/v1/messages/{id}/reviews?limit=200&cursor={cursor}"
                ))
                .bearer_auth(&agent)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for r in page["items"].as_array().unwrap() {
                reviews.push((
                    r["id"].as_str().unwrap().to_owned(),
                    r["uai"].as_str().unwrap().to_owned(),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
    }
    submit_times.sort();

    // 2. Decisions: each request approves a distinct review, CONCURRENCY clients at once.
    let tokens: std::collections::HashMap<String, String> = targets
        .iter()
        .map(|u| (u.clone(), token("head", |c| c.uai = vec![u.clone()])))
        .collect();
    let tokens = Arc::new(tokens);
    let queue = Arc::new(tokio::sync::Mutex::new(reviews));
    // Every command of the decision phase in Redis's slow log, with its duration.
    let mut probe = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    for (name, value) in [
        // Room for every command of the phase (about 35 per decision): none is dropped.
        ("slowlog-max-len", "1000000"),
        ("slowlog-log-slower-than", "0"),
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(&mut probe)
            .unwrap();
    }
    let _: () = redis::cmd("SLOWLOG")
        .arg("RESET")
        .query(&mut probe)
        .unwrap();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (queue, tokens, http, base) =
            (queue.clone(), tokens.clone(), http.clone(), base.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let Some((id, uai)) = queue.lock().await.pop() else {
                    break;
                };
                let t = Instant::now();
                let res = http
                    .post(format!("{base}/v1/reviews/{id}/approve"))
                    .bearer_auth(&tokens[&uai])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                let _ = res.bytes().await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let api_rps = latencies.len() as f64 / elapsed.as_secs_f64();
    let api_p99 = percentile(&latencies, 0.99);
    running.stop().await;
    let inside = redis_time_per_decision(&mut probe, latencies.len());

    // 3. The same Redis running a comparable script (the commit script with one decision's writes).
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(include_str!("../src/store/commit.lua"))
        .query(&mut con)
        .unwrap();
    let review_json = "x".repeat(1500);
    let audit_json = "y".repeat(600);
    let mail_json = "z".repeat(2500);
    let out = std::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &redis.port.to_string(),
            "-n",
            "20000",
            "-c",
            &CONCURRENCY.to_string(),
            "-r",
            "100000000",
            "--csv",
        ])
        .args(["EVALSHA", &sha, "0"])
        .args(["CHK", "bb:revs", "r:__rand_int__", "0"])
        .args([
            "SET",
            "bb:rev:__rand_int__",
            &review_json,
            "HSET",
            "bb:revs",
            "r:__rand_int__",
            "1",
        ])
        .args([
            "ZREM",
            "bb:deadlines",
            "__rand_int__",
            "RPUSH",
            "bb:audit:m",
            &audit_json,
            "SET",
            "bb:audit_head:m",
            "1:abc",
        ])
        .args([
            "SET",
            "bb:mail:__rand_int__",
            &mail_json,
            "ZADD",
            "bb:outbox",
            "1",
            "__rand_int__",
        ])
        .output()
        .expect("redis-benchmark");
    let csv = String::from_utf8_lossy(&out.stdout);
    let row: Vec<f64> = csv
        .lines()
        .nth(1)
        .map(|l| {
            l.split(',')
                .skip(1)
                .filter_map(|f| f.trim_matches('"').parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let (lua_rps, lua_p99_ms) = (
        row.first().copied().unwrap_or(f64::NAN),
        row.get(5).copied().unwrap_or(f64::NAN),
    );

    println!(
        "\n## charte on Redis — one run ({} decisions, {CONCURRENCY} concurrent clients, AOF appendfsync always)\n",
        latencies.len()
    );
    println!("| measure | value |\n|---|---|");
    println!("| decisions through the HTTP API | {api_rps:.0} /s |");
    println!(
        "| p50 decision latency | {:.2} ms |",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3
    );
    println!(
        "| p99 decision latency | {:.2} ms |",
        api_p99.as_secs_f64() * 1e3
    );
    println!("| redis-benchmark, comparable commit script | {lua_rps:.0} /s |");
    println!("| redis-benchmark p99 | {lua_p99_ms:.2} ms |");
    println!(
        "| ratio API / bare script (throughput) | {:.3} |",
        api_rps / lua_rps
    );
    println!(
        "| ratio API / bare script (p99) | {:.1} |",
        api_p99.as_secs_f64() * 1e3 / lua_p99_ms
    );
    println!(
        "| submit one message to {SCHOOLS} schools (median of {}) | {:.0} ms |",
        messages(),
        percentile(&submit_times, 0.5).as_secs_f64() * 1e3
    );
    println!(
        "| submit one message to {SCHOOLS} schools (max) | {:.0} ms |",
        submit_times.last().unwrap().as_secs_f64() * 1e3
    );
    println!("\n### Inside Redis, per decision (its slow log, every command timed)\n");
    println!("| command | calls | µs (mean) |\n|---|---|---|");
    for (name, calls, micros) in inside {
        println!("| {name} | {calls:.2} | {micros:.1} |");
    }
}

/// What Redis spent per decision, by command (the scripts by their number of arguments: the
/// decision's read has three, its commit many), from the slow log set to record everything.
fn redis_time_per_decision(
    con: &mut redis::Connection,
    decisions: usize,
) -> Vec<(String, f64, f64)> {
    let entries: Vec<redis::Value> = redis::cmd("SLOWLOG").arg("GET").arg(-1).query(con).unwrap();
    let mut by: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for e in entries {
        let redis::Value::Array(fields) = e else {
            continue;
        };
        let (Some(redis::Value::Int(micros)), Some(redis::Value::Array(args))) =
            (fields.get(2), fields.get(3))
        else {
            continue;
        };
        let word = |v: &redis::Value| match v {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).to_lowercase(),
            _ => String::new(),
        };
        let mut name = args.first().map(word).unwrap_or_default();
        if name == "config" || name == "slowlog" {
            continue;
        }
        if name == "evalsha" {
            name = if args.len() <= 6 {
                "evalsha (read)".into()
            } else {
                "evalsha (commit)".into()
            };
        }
        let row = by.entry(name).or_default();
        row.0 += 1;
        row.1 += *micros as u64;
    }
    let n = decisions as f64;
    let mut rows: Vec<(String, f64, f64)> = by
        .into_iter()
        .map(|(k, (calls, micros))| (k, calls as f64 / n, micros as f64 / n))
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    rows
}
