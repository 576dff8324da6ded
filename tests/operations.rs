//! Operating the real binary: metrics, JSON logs without secrets, and SIGTERM under load losing
//! no acknowledged request.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn charte(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_charte"));
    c.args(args);
    c
}

fn token(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["token", "--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = charte(&all).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

fn serve(dir: &Path) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join(format!("serve-{port}.log"));
    let child = charte(&[
        "serve",
        "--dev",
        "--data-dir",
        dir.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--log-format",
        "json",
        // These tests load the service on purpose; quotas have their own tests.
        "--rate-per-subject",
        "0",
        "--rate-per-address",
        "0",
    ])
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "charte serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, base, log }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn message(i: usize) -> Value {
    json!({
        "title": format!("Information n° {i} : horaires du car"),
        "body": format!("<p>Corps confidentiel numéro {i}.</p>"),
        "kind": "one_off",
        "audience": ["families"],
        "targets": ["0570054Z", "0670080Y"],
        "publish_at": "2030-01-06T08:00:00+01:00",
        "display_until": "2030-02-06T08:00:00+01:00"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_loses_no_acknowledged_request_and_logs_hold_no_secret() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut server = serve(dir.path());
    let agent = token(
        dir.path(),
        &[
            "--role",
            "authority_agent",
            "--authority",
            "region-grand-est",
        ],
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Eight clients submit messages as fast as they can; SIGTERM arrives in the middle.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u16, Option<String>)>();
    let mut clients = Vec::new();
    for c in 0..8 {
        let (http, base, agent, tx) =
            (http.clone(), server.base.clone(), agent.clone(), tx.clone());
        clients.push(tokio::spawn(async move {
            for i in 0..200 {
                let res = http
                    .post(format!("{base}/v1/messages"))
                    .bearer_auth(&agent)
                    .json(&message(c * 1000 + i))
                    .send()
                    .await;
                match res {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        let _ = tx.send((status, body["id"].as_str().map(str::to_owned)));
                    }
                    // Refused connections after the listener closed: never acknowledged.
                    Err(_) => break,
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(700)).await;
    sigterm(&server.child);
    for c in clients {
        c.await.unwrap();
    }
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "graceful exit after SIGTERM: {exit:?}");

    let mut acknowledged = Vec::new();
    while let Some((status, id)) = rx.recv().await {
        assert!(
            status == 201 || status == 503,
            "no other answer during shutdown: {status}"
        );
        if status == 201 {
            acknowledged.push(id.expect("a created message has an id"));
        }
    }
    assert!(
        acknowledged.len() > 10,
        "load really ran: {}",
        acknowledged.len()
    );

    // The logs are JSON, carry request ids, and never the token or a message body.
    let text = std::fs::read_to_string(&server.log).unwrap();
    let mut with_request_id = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v.to_string().contains("request_id") {
            with_request_id += 1;
        }
        assert!(!line.contains(&agent), "a token reached the logs");
        assert!(
            !line.contains("Corps confidentiel"),
            "a message body reached the logs"
        );
    }
    assert!(with_request_id > 0, "request ids in the logs");
    assert!(text.contains("arrêt terminé"), "the shutdown completed");

    // Restarted on the same data: every acknowledged submission is there.
    let restarted = serve(dir.path());
    for id in &acknowledged {
        let res = http
            .get(format!("{}/v1/messages/{id}", restarted.base))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "acknowledged message {id} lost");
    }
    sigterm(&restarted.child);
    let mut child = restarted.child;
    assert!(child.wait().unwrap().success());
    server.child = child;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_requests_per_route_and_the_workflow_figures() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut server = serve(dir.path());
    let http = reqwest::Client::new();
    let agent = token(
        dir.path(),
        &[
            "--role",
            "authority_agent",
            "--authority",
            "departement-moselle",
        ],
    );
    let mut m = message(1);
    m["targets"] = json!(["0570012D", "0570095U"]);
    let res = http
        .post(format!("{}/v1/messages", server.base))
        .bearer_auth(&agent)
        .json(&m)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let mut e = message(2);
    e["targets"] = json!(["0570012D"]);
    e["kind"] = json!("emergency");
    e["publish_at"] = json!("2020-01-01T00:00:00Z");
    e["emergency"] = json!({"category": "weather", "justification": "Routes verglacées, cars interdits par arrêté."});
    let res = http
        .post(format!("{}/v1/messages", server.base))
        .bearer_auth(&agent)
        .json(&e)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let res = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = res.text().await.unwrap();
    let has = |needle: &str| assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    has(r#"charte_http_requests_total{method="POST",route="/v1/messages",status="201"} 2"#);
    has(r#"charte_http_request_duration_seconds_count{method="POST",route="/v1/messages"} 2"#);
    has("charte_reviews_pending 2");
    has("charte_reviews_due_24h 0");
    has(r#"charte_emergencies{authority="departement-moselle"} 1"#);
    has(r#"charte_emergencies{authority="region-grand-est"} 0"#);
    has("charte_disputes_waiting 0");
    has("charte_emails_queued");
    has("charte_tacit_approvals_total 0");
    sigterm(&server.child);
    assert!(server.child.wait().unwrap().success());
}

#[test]
fn the_serve_log_names_where_it_listens() {
    // A quick smoke test of start-up output in text format.
    let dir = tempfile::TempDir::new().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = charte(&[
        "serve",
        "--dev",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = String::new();
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("à l'écoute") {
            break;
        }
    }
    sigterm(&child);
    let _ = child.wait();
    assert!(seen.contains(&format!("127.0.0.1:{port}")), "{seen}");
    assert!(seen.contains("MODE DÉVELOPPEMENT"), "{seen}");
}

#[test]
fn importing_an_annuaire_keeps_the_good_rows_and_reports_the_bad_ones_by_line() {
    let dir = tempfile::TempDir::new().unwrap();
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/demo/annuaire-demo.csv"
    ))
    .unwrap();
    let mut lines: Vec<&str> = demo.lines().collect();
    // Line 3 of the file gets a UAI with a wrong check letter.
    let broken = lines[2].replacen("0", "9", 1);
    lines[2] = &broken;
    let csv = dir.path().join("annuaire.csv");
    std::fs::write(&csv, lines.join("\n")).unwrap();
    let out = charte(&[
        "import-schools",
        csv.to_str().unwrap(),
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let good = lines.len() - 2;
    assert!(
        stdout.contains(&format!(
            "{good} établissement(s) importé(s), 1 ligne(s) rejetée(s)"
        )),
        "{stdout}"
    );
    assert!(stderr.to_lowercase().contains("ligne 3"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_their_own_address_plain_logs_in_a_file_and_a_private_dev_secret() {
    let dir = tempfile::TempDir::new().unwrap();
    let free = || {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, metrics_port) = (free(), free());
    let log = dir.path().join("serve.log");
    let mut child = charte(&[
        "serve",
        "--dev",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--metrics-listen",
        &format!("127.0.0.1:{metrics_port}"),
    ])
    .env_remove("NO_COLOR")
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "charte serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Prometheus scrapes the dedicated address; the API's answers 404 there.
    let api = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(api.status(), 404);
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("charte_"));
    // Emails link to the widget on the address the service listens on.
    let agent = token(
        dir.path(),
        &[
            "--role",
            "authority_agent",
            "--authority",
            "region-grand-est",
        ],
    );
    let res = http
        .post(format!("{base}/v1/messages"))
        .bearer_auth(&agent)
        .json(&message(1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    sigterm(&child);
    assert!(child.wait().unwrap().success());

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("à l'écoute"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file: {text:?}"
    );
    let mail_dir = dir.path().join("mail");
    let emails: Vec<String> = std::fs::read_dir(&mail_dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        emails
            .iter()
            .any(|e| e.contains(&format!("http://127.0.0.1:{port}/widget/"))),
        "no email links to the widget on port {port}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("dev-jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "dev secret mode {mode:o}");
    }
}

/// The annuaire's header and `n` generated public lycées of Moselle, each with its head's
/// address; with their UAIs.
fn annuaire_of_lycees(n: usize) -> (String, Vec<String>) {
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/demo/annuaire-demo.csv"
    ))
    .unwrap();
    let mut lines = demo.lines();
    let header = lines.next().unwrap();
    let fabert = lines.find(|l| l.starts_with("0570054Z;")).unwrap();
    let mut csv = format!("{header}\n");
    let mut uais = Vec::with_capacity(n);
    for i in 0..n {
        let digits = format!("{:07}", 5_780_000 + i);
        let uai = format!(
            "{digits}{}",
            charte::domain::uai::check_letter(&digits).unwrap()
        );
        let row = fabert
            .replacen("0570054Z", &uai, 1)
            .replace("Lycée Fabert", &format!("Lycée n° {i}"))
            .replace("ce.0570054Z@", &format!("ce.{uai}@"));
        csv.push_str(&row);
        csv.push('\n');
        uais.push(uai);
    }
    (csv, uais)
}

/// How many of the message's schools have their review, and how many there are.
async fn opened(http: &reqwest::Client, base: &str, token: &str, id: &str) -> (u64, u64) {
    let m: Value = http
        .get(format!("{base}/v1/messages/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let opened = m["summary"]
        .as_object()
        .map(|o| o.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    (opened, m["target_count"].as_u64().unwrap())
}

/// Every item of a paged list, following `next_cursor`.
/// Every page of a paged endpoint, following `next_cursor` from `first`.
async fn pages(http: &reqwest::Client, first: String, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = first.clone();
    loop {
        let page: Value = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let next = page["next_cursor"].as_str().map(str::to_owned);
        out.push(page);
        match next {
            Some(c) => url = format!("{first}&cursor={c}"),
            None => return out,
        }
    }
}

/// Every item of a paged list.
async fn every_page(http: &reqwest::Client, first: String, token: &str) -> Vec<Value> {
    pages(http, first, token)
        .await
        .into_iter()
        .flat_map(|p| p["items"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_a_message_to_10000_schools_opens_its_reviews_loses_none_and_doubles_none() {
    let dir = tempfile::TempDir::new().unwrap();
    let (csv, uais) = annuaire_of_lycees(10_000);
    let csv_path = dir.path().join("annuaire.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let out = charte(&[
        "import-schools",
        csv_path.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut server = serve(dir.path());
    let agent = token(
        dir.path(),
        &[
            "--role",
            "authority_agent",
            "--authority",
            "region-grand-est",
        ],
    );
    let admin = token(dir.path(), &["--role", "admin"]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut body = message(1);
    body["targets"] = json!(uais);
    let res = http
        .post(format!("{}/v1/messages", server.base))
        .bearer_auth(&agent)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    // Killed once the worker is under way, before it is done.
    let killed_at = loop {
        let (n, total) = opened(&http, &server.base, &agent, &id).await;
        assert_eq!(total, 10_000);
        if n > 2 * charte::app::FAN_OUT_CHUNK as u64 {
            server.child.kill().unwrap();
            server.child.wait().unwrap();
            break n;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(killed_at < 10_000, "killed during the fan-out: {killed_at}");

    let mut restarted = serve(dir.path());
    let deadline = Instant::now() + Duration::from_secs(300);
    while opened(&http, &restarted.base, &agent, &id).await.0 < 10_000 {
        assert!(
            Instant::now() < deadline,
            "the reviews were never all opened"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let base = &restarted.base;
    let mut reviews: std::collections::BTreeMap<String, usize> = Default::default();
    let first = format!("{base}/v1/messages/{id}/reviews?limit=200");
    for r in every_page(&http, first, &admin).await {
        *reviews
            .entry(r["uai"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    // The trail comes a page of school chains at a time, each page verified.
    let mut records: std::collections::BTreeMap<String, usize> = Default::default();
    let first = format!("{base}/v1/messages/{id}/audit?limit=200");
    for page in pages(&http, first, &admin).await {
        assert_eq!(
            page["verification"]["valid"], true,
            "{}",
            page["verification"]
        );
        for r in page["records"].as_array().unwrap() {
            if r["action"] == "review_opened" {
                *records
                    .entry(r["uai"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    let mut emails: std::collections::BTreeMap<String, usize> = Default::default();
    let first = format!("{base}/v1/admin/outbox?limit=200");
    for e in every_page(&http, first, &admin).await {
        if e["email"]["message_id"] == id.as_str() {
            let to = e["email"]["to"][0].as_str().unwrap();
            *emails.entry(to.to_owned()).or_default() += 1;
        }
    }
    for uai in &uais {
        assert_eq!(reviews.get(uai), Some(&1), "reviews of {uai}");
        assert_eq!(records.get(uai), Some(&1), "audit records of {uai}");
        let to = format!("ce.{uai}@ac-nancy-metz.fr");
        assert_eq!(emails.get(&to), Some(&1), "emails to {uai}");
    }
    assert_eq!(reviews.len(), 10_000);
    assert_eq!(records.len(), 10_000);
    assert_eq!(emails.len(), 10_000);
    sigterm(&restarted.child);
    assert!(restarted.child.wait().unwrap().success());
}
