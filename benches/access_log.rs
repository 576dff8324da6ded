//! What the per-request access log costs: `/healthz` throughput of the release binary
//! (`charte serve --dev`, quotas off) under `wrk -t2 -c64 -d5s`, (a) without the access log
//! (`RUST_LOG=warn`), (b) with the default filter and `--log-format json`, (c) with the default
//! filter and the text format; in (b) and (c) stderr goes to a file, as a container's log
//! collector would read it. Three child processes, measured twice each in the order a, b, c, a, b,
//! c. Run with `cargo bench --bench access_log` (needs `wrk` in /usr/bin). The target (the access
//! log costs at most 10 % of the throughput) is reported, not asserted; correctness (answers all
//! 200, about one log line per answered request with the log on, none with it off) is.
//!
//! Throughput on two shared cores swings by more than the target between runs of one binary, so
//! the bench also counts, with valgrind's callgrind (instructions, not seconds: the same for the
//! same binary whatever else the machine does), the instructions the service runs per request
//! in each configuration.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WRK: &str = "/usr/bin/wrk";
const THREADS: u32 = 2;
const CONNECTIONS: u32 = 64;
const SECONDS: u32 = 5;
/// Runs per configuration, alternating; the median of each is kept (one run disturbed by the
/// machine's other work moves a mean by several points).
const ROUNDS: usize = 5;
const WARM_UP_SECONDS: u32 = 1;
const READY_WITHIN: Duration = Duration::from_secs(10);
const READY_UNDER_VALGRIND_WITHIN: Duration = Duration::from_secs(120);
/// Requests of the two callgrind runs per configuration: their difference, divided by the
/// difference of their counts, is the cost of one request without start-up and shutdown.
const COUNTED_REQUESTS: (u64, u64) = (1_000, 5_000);
const TARGET_COST: f64 = 0.10;

#[derive(Clone, Copy)]
struct Config {
    name: &'static str,
    /// `RUST_LOG` for the child; `None`: unset, the service's default filter.
    rust_log: Option<&'static str>,
    log_format: &'static str,
    /// Whether one line per answered request is expected.
    access_log: bool,
}

const CONFIGS: [Config; 3] = [
    Config {
        name: "(a) no access log (RUST_LOG=warn)",
        rust_log: Some("warn"),
        log_format: "text",
        access_log: false,
    },
    Config {
        name: "(b) default filter, json -> file",
        rust_log: None,
        log_format: "json",
        access_log: true,
    },
    Config {
        name: "(c) default filter, text -> file",
        rust_log: None,
        log_format: "text",
        access_log: true,
    },
];

/// A running `charte serve`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    ready_within: Duration,
    port: u16,
    log: PathBuf,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(cfg: &Config, logs: &Path, index: usize) -> Server {
        Self::start_under(cfg, logs, index, &[])
    }

    /// [`Server::start`], the binary run by the command `under` (e.g. valgrind) when not empty.
    fn start_under(cfg: &Config, logs: &Path, index: usize, under: &[String]) -> Server {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let data = tempfile::TempDir::new().unwrap();
        let log = logs.join(format!("stderr-{index}.log"));
        let mut cmd = match under.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_charte"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_charte")),
        };
        cmd.arg("serve")
            .arg("--dev")
            .arg("--data-dir")
            .arg(data.path())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--log-format")
            .arg(cfg.log_format)
            .args(["--rate-per-subject", "0", "--rate-per-address", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        // Nothing from the environment the bench runs in may change the configuration.
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(|k| k.starts_with("CHARTE_")) {
                cmd.env_remove(k);
            }
        }
        cmd.env_remove("REDIS_URL").env_remove("NO_COLOR");
        match cfg.rust_log {
            Some(filter) => cmd.env("RUST_LOG", filter),
            None => cmd.env_remove("RUST_LOG"),
        };
        let child = cmd.spawn().unwrap();
        let mut server = Server {
            child,
            ready_within: if under.is_empty() {
                READY_WITHIN
            } else {
                READY_UNDER_VALGRIND_WITHIN
            },
            port,
            log,
            _data: data,
        };
        server.wait_ready();
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/healthz", self.port)
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "charte exited before answering ({status}); its stderr:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if healthz_answers(self.port) {
                return;
            }
            assert!(
                start.elapsed() < self.ready_within,
                "/healthz did not answer within {:?} on port {}",
                self.ready_within,
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Lines written to stderr so far.
    fn log_lines(&self) -> u64 {
        // Let the responses still in flight when wrk stopped be logged.
        std::thread::sleep(Duration::from_millis(300));
        let mut f = File::open(&self.log).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut lines = 0u64;
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                return lines;
            }
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }

    /// The last complete line of the log (to check what a line looks like).
    fn last_line(&self) -> String {
        let mut f = File::open(&self.log).unwrap();
        let len = f.metadata().unwrap().len();
        f.seek(SeekFrom::Start(len.saturating_sub(4096))).unwrap();
        let mut tail = String::new();
        f.read_to_string(&mut tail).unwrap();
        tail.lines().last().unwrap_or_default().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn healthz_answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let request =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

struct Run {
    rps: f64,
    p99_ms: f64,
    requests: u64,
    socket_errors: Option<String>,
    lines: u64,
}

fn wrk(url: &str, seconds: u32) -> String {
    let out = Command::new(WRK)
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `1.23ms`, `456.78us`, `1.02s`, `1.5m` → milliseconds.
fn duration_ms(s: &str) -> f64 {
    let (number, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        panic!("unknown duration in wrk's output: {s}")
    };
    number.parse::<f64>().unwrap() * factor
}

fn parse_wrk(text: &str) -> (f64, f64, u64, Option<String>) {
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no `{prefix}` in wrk's output:\n{text}"))
    };
    let rps: f64 = field("Requests/sec:").parse().unwrap();
    let p99 = duration_ms(field("99%"));
    let requests: u64 = text
        .lines()
        .map(str::trim)
        .find_map(request_count)
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    assert!(
        !text.contains("Non-2xx or 3xx responses"),
        "some answers were not 200 (quotas on?):\n{text}"
    );
    let socket_errors = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Socket errors:"))
        .map(str::to_owned);
    (rps, p99, requests, socket_errors)
}

/// `123456 requests in 5.00s, 20.00MB read` → 123456.
fn request_count(line: &str) -> Option<u64> {
    let (n, rest) = line.split_once(' ')?;
    if rest.starts_with("requests in ") {
        n.parse().ok()
    } else {
        None
    }
}

fn measure(server: &Server) -> Run {
    let before = server.log_lines();
    let text = wrk(&server.url(), SECONDS);
    let (rps, p99_ms, requests, socket_errors) = parse_wrk(&text);
    let lines = server.log_lines() - before;
    Run {
        rps,
        p99_ms,
        requests,
        socket_errors,
        lines,
    }
}

/// Instructions the service runs per `/healthz` request in `cfg` (callgrind), over one kept-alive
/// connection (curl's URL ranges); `None` when valgrind or curl is missing.
fn instructions_per_request(cfg: &Config, logs: &Path, index: usize) -> Option<f64> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        return None;
    }
    let mut totals = Vec::new();
    for (k, requests) in [COUNTED_REQUESTS.0, COUNTED_REQUESTS.1]
        .into_iter()
        .enumerate()
    {
        let out = logs.join(format!("callgrind-{index}-{k}.out"));
        let under = vec![
            "valgrind".to_owned(),
            "--tool=callgrind".to_owned(),
            format!("--callgrind-out-file={}", out.display()),
        ];
        let mut server = Server::start_under(cfg, logs, 100 + index * 2 + k, &under);
        let status = Command::new("curl")
            .args(["-s", "-f", "-o", "/dev/null"])
            .arg(format!("{}?n=[1-{requests}]", server.url()))
            .status()
            .ok()?;
        assert!(
            status.success(),
            "{}: curl under valgrind: {status}",
            cfg.name
        );
        // A clean exit, so callgrind writes its totals.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(server.child.id().to_string())
            .status();
        let exit = server.child.wait().unwrap();
        assert!(
            exit.success(),
            "{}: charte under valgrind: {exit}",
            cfg.name
        );
        let text = std::fs::read_to_string(&out).unwrap();
        let total: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("summary: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no summary in {}", out.display()));
        totals.push(total);
    }
    Some((totals[1] - totals[0]) as f64 / (COUNTED_REQUESTS.1 - COUNTED_REQUESTS.0) as f64)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn main() {
    let load_before = loadavg();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let logs = tempfile::TempDir::new().unwrap();

    let servers: Vec<Server> = CONFIGS
        .iter()
        .enumerate()
        .map(|(i, cfg)| Server::start(cfg, logs.path(), i))
        .collect();
    for s in &servers {
        wrk(&s.url(), WARM_UP_SECONDS);
    }

    let mut runs: Vec<Vec<Run>> = CONFIGS.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (i, s) in servers.iter().enumerate() {
            runs[i].push(measure(s));
        }
    }

    // Correctness: one line per answered request with the access log, (nearly) none without.
    let mut samples = Vec::new();
    for ((cfg, server), rs) in CONFIGS.iter().zip(&servers).zip(&runs) {
        for r in rs {
            if cfg.access_log {
                assert!(
                    r.lines as f64 >= 0.9 * r.requests as f64,
                    "{}: {} log lines for {} requests",
                    cfg.name,
                    r.lines,
                    r.requests
                );
                // wrk does not count the answers still in flight when it stops.
                assert!(
                    r.lines as f64 <= 1.1 * r.requests as f64 + CONNECTIONS as f64,
                    "{}: {} log lines for {} requests (more than one per request?)",
                    cfg.name,
                    r.lines,
                    r.requests
                );
            } else {
                assert!(
                    r.lines <= 2,
                    "{}: {} log lines for {} requests with the access log off",
                    cfg.name,
                    r.lines,
                    r.requests
                );
            }
        }
        let last = server.last_line();
        if cfg.access_log {
            assert!(
                last.contains("/healthz") && last.contains("200"),
                "{}: the last log line is not an access log line: {last}",
                cfg.name
            );
            if cfg.log_format == "json" {
                serde_json::from_str::<serde_json::Value>(&last)
                    .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {last}", cfg.name));
            }
            samples.push((cfg.name, last));
        }
    }
    let total_lines: Vec<u64> = servers.iter().map(|s| s.log_lines()).collect();
    let log_bytes: Vec<u64> = servers
        .iter()
        .map(|s| std::fs::metadata(&s.log).map_or(0, |m| m.len()))
        .collect();
    drop(servers);
    let load_after = loadavg();

    let median = |rs: &[Run], f: fn(&Run) -> f64| {
        let mut v: Vec<f64> = rs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rps: Vec<f64> = runs.iter().map(|rs| median(rs, |r| r.rps)).collect();
    let p99: Vec<f64> = runs.iter().map(|rs| median(rs, |r| r.p99_ms)).collect();

    println!(
        "\n## The access log — GET /healthz, wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s, \
         {ROUNDS} runs per configuration in the order a, b, c, a, b, c, … (after a {WARM_UP_SECONDS} s \
         warm-up each); {cpus} CPUs shared by wrk and the three servers\n"
    );
    println!("load average before: {load_before}");
    println!("\n| run | configuration | req/s | p99 ms | requests | log lines | lines/request |");
    println!("|---|---|---|---|---|---|---|");
    for round in 0..ROUNDS {
        for (cfg, rs) in CONFIGS.iter().zip(&runs) {
            let r = &rs[round];
            println!(
                "| {} | {} | {:.0} | {:.2} | {} | {} | {:.3} |{}",
                round + 1,
                cfg.name,
                r.rps,
                r.p99_ms,
                r.requests,
                r.lines,
                r.lines as f64 / r.requests as f64,
                r.socket_errors
                    .as_deref()
                    .map(|e| format!(" {e}"))
                    .unwrap_or_default()
            );
        }
    }
    println!(
        "\n| configuration | req/s (median) | p99 ms (median) | cost = 1 - rps / rps(a) | target ≤ {:.0} % |",
        TARGET_COST * 100.0
    );
    println!("|---|---|---|---|---|");
    for (i, cfg) in CONFIGS.iter().enumerate() {
        if i == 0 {
            println!(
                "| {} | {:.0} | {:.2} | (reference) | |",
                cfg.name, rps[0], p99[0]
            );
        } else {
            let cost = 1.0 - rps[i] / rps[0];
            println!(
                "| {} | {:.0} | {:.2} | {:.1} % | {} |",
                cfg.name,
                rps[i],
                p99[i],
                cost * 100.0,
                verdict(cost <= TARGET_COST)
            );
        }
    }
    println!();
    for (cfg, (lines, bytes)) in CONFIGS.iter().zip(total_lines.iter().zip(&log_bytes)) {
        println!(
            "{}: {lines} lines, {:.1} MiB on stderr in all ({:.0} bytes per line)",
            cfg.name,
            *bytes as f64 / (1024.0 * 1024.0),
            if *lines > 0 {
                *bytes as f64 / *lines as f64
            } else {
                0.0
            }
        );
    }
    for (name, line) in &samples {
        println!("last line of {name}: {line}");
    }

    let counted: Vec<Option<f64>> = CONFIGS
        .iter()
        .enumerate()
        .map(|(i, cfg)| instructions_per_request(cfg, logs.path(), i))
        .collect();
    if let Some(reference) = counted[0] {
        println!(
            "\n| configuration | instructions per request (callgrind, {} − {} requests) | cost = extra / (a) |",
            COUNTED_REQUESTS.1, COUNTED_REQUESTS.0
        );
        println!("|---|---|---|");
        for (cfg, n) in CONFIGS.iter().zip(&counted) {
            let n = n.unwrap_or(f64::NAN);
            println!(
                "| {} | {n:.0} | {:.1} % |",
                cfg.name,
                (n / reference - 1.0) * 100.0
            );
        }
        println!(
            "(user-space instructions of every thread of the service, the log's writer included; \
             not the kernel's share of each request, which the throughput above counts)"
        );
    } else {
        println!("\n(valgrind or curl missing: no instruction counts)");
    }
    println!("\nload average after: {load_after}");
}
