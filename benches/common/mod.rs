//! What the bench binaries share: tokens, generated schools, the server under test, `wrk` and
//! the machine's load. Each bench includes it with `mod common;` and uses what it needs.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use charte::domain::calendar::Calendar;
use charte::domain::directory::{School, SchoolType};
use charte::http::auth::{Claims, DEV_AUDIENCE, DEV_ISSUER, Verifier, dev_token};
use charte::server::Running;
use charte::store::Store;
use time::OffsetDateTime;

/// The development secret the benches sign with.
pub const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret";

/// A development token for `role`, adjusted by `f`.
pub fn token(role: &str, f: impl FnOnce(&mut Claims)) -> String {
    token_signed(SECRET, role, f)
}

/// A development token signed with `secret` (a `charte serve --dev`'s own, from its data folder).
pub fn token_signed(secret: &[u8], role: &str, f: impl FnOnce(&mut Claims)) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
    let mut c = Claims {
        sub: format!("{role}-bench"),
        iss: DEV_ISSUER.into(),
        aud: DEV_AUDIENCE.into(),
        exp: now + 7200,
        iat: now,
        name: None,
        role: role.into(),
        authority: None,
        uai: vec![],
        academie: None,
        arbitrator: None,
    };
    f(&mut c);
    dev_token(secret, &c).unwrap()
}

/// `n` public lycées of Moselle (within the Région Grand Est's remit), each with its head's
/// address, numbered from the 7-digit `first`.
pub fn lycees(first: usize, n: usize) -> Vec<School> {
    let template = charte::demo::schools()
        .schools
        .into_iter()
        .find(|s| s.uai.as_str() == "0570054Z")
        .unwrap();
    (0..n)
        .map(|i| {
            let digits = format!("{:07}", first + i);
            let mut s = template.clone();
            s.uai = format!(
                "{digits}{}",
                charte::domain::uai::check_letter(&digits).unwrap()
            )
            .parse()
            .unwrap();
            s.school_type = SchoolType::Lycee;
            s.name = format!("Lycée n° {i}");
            s.email = Some(format!("ce.{digits}@ac-nancy-metz.fr").parse().unwrap());
            s
        })
        .collect()
}

/// Starts a charte over `store` on 127.0.0.1:0 on the system clock, without request quotas
/// (the benches load it from one address on purpose).
pub async fn start(store: Arc<dyn Store>) -> Running {
    let charte = charte::server::charte(
        store,
        Arc::new(charte::app::SystemClock),
        charte::demo::directory(),
        Calendar::default(),
        String::new(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
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

/// The load average (1, 5, 15 min).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The `p` quantile (0–1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// RFC 3339, as the API reads instants.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// What one `wrk` run reported.
pub struct Load {
    /// Requests per second.
    pub rps: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Requests completed.
    pub requests: u64,
}

/// `wrk` milliseconds from "850.00us", "4.10ms", "1.02s" or "1.50m".
pub fn wrk_ms(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let n: f64 = v[..split].parse().unwrap_or(f64::NAN);
    match &v[split..] {
        "us" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        "m" => n * 60e3,
        _ => f64::NAN,
    }
}

/// Loads `url` with `wrk` and `args`; panics on socket errors or any answer outside 2xx/3xx.
pub async fn wrk(args: &[&str], url: &str, headers: &[String]) -> Load {
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.args(args).arg("--latency");
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    let out = cmd
        .arg(url)
        .output()
        .await
        .expect("wrk (apt-get install -y wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed on {url}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Non-2xx or 3xx responses") && !text.contains("Socket errors"),
        "wrk on {url} saw errors:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no « {prefix} » in wrk's output:\n{text}"))
            .to_owned()
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Load {
        rps: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        p99_ms: wrk_ms(&field("99%")),
        requests,
    }
}

/// Redis commands slower than this are logged by Redis during a measure (µs).
pub const SLOWLOG_US: u64 = 2_000;

/// Redis's slow log: how many commands took over `SLOWLOG_US` and over 10 ms, the longest (ms),
/// and the longest of those that write a message record (a submission's commit) and of the
/// others (fan-out chunks, decisions, reads).
pub async fn slow_log(url: &str) -> SlowLog {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let entries: Vec<Vec<redis::Value>> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(-1)
        .query_async(&mut c)
        .await
        .unwrap();
    let mut log = SlowLog::default();
    for e in &entries {
        let Some(us) = e
            .get(2)
            .and_then(|v| redis::from_redis_value::<i64>(v).ok())
        else {
            continue;
        };
        let args: Vec<String> = e
            .get(3)
            .and_then(|v| redis::from_redis_value::<Vec<String>>(v).ok())
            .unwrap_or_default();
        let ms = us as f64 / 1e3;
        log.over_threshold += 1;
        if us > 10_000 {
            log.over_10ms += 1;
        }
        log.longest = log.longest.max(ms);
        // A submission's commit checks its message's revision (`m:<id>`) first.
        if args.iter().take(8).any(|a| a.starts_with("m:")) {
            log.longest_with_message = log.longest_with_message.max(ms);
        } else {
            log.longest_other = log.longest_other.max(ms);
        }
    }
    log
}

/// What Redis's slow log held.
#[derive(Debug, Default, Clone, Copy)]
pub struct SlowLog {
    /// Commands slower than `SLOWLOG_US`.
    pub over_threshold: usize,
    /// Commands slower than 10 ms.
    pub over_10ms: usize,
    /// The longest, ms.
    pub longest: f64,
    /// The longest commit writing a message, ms.
    pub longest_with_message: f64,
    /// The longest of the others, ms.
    pub longest_other: f64,
}

/// Empties Redis's slow log and has it keep every command slower than `SLOWLOG_US`.
pub async fn reset_slow_log(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(SLOWLOG_US)
        .arg("slowlog-max-len")
        .arg(100_000)
        .query_async(&mut c)
        .await
        .unwrap();
    let _: () = redis::cmd("SLOWLOG")
        .arg("RESET")
        .query_async(&mut c)
        .await
        .unwrap();
}
