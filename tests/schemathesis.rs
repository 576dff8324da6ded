//! Schemathesis 4.32.5 against the real server: every check, the examples, coverage, fuzzing and
//! stateful phases, once per role, each against its own `charte serve --dev` started from a fresh
//! data directory (demo Grand Est data) and seeded with what that role needs to act on.
//!
//! Why one fresh server per role rather than one shared: a role's run then depends only on its
//! seed (not on what the roles before it created, withdrew or decided), a failure reproduces with
//! that role alone, and the roles can be run in any order. Starting a server and seeding it takes
//! well under a second.
//!
//! The roles run one after the other (CI has two cores, shared by schemathesis and the server), with a budget
//! bounded by `tests/schemathesis/schemathesis.toml` (examples per operation, stateful scenarios
//! and steps) and a watchdog per role. Reports go to `tests/artifacts/schemathesis/<role>/`
//! (gitignored): `schemathesis.txt` (the console output, failures with a curl to reproduce each),
//! `junit.xml`, `events.ndjson` (every request and response) and `serve.log` (the server's JSON log).
//! `tests/schemathesis/hooks.py` is loaded through `SCHEMATHESIS_HOOKS`.
//!
//! Schemathesis is found through `CHARTE_SCHEMATHESIS`, else `.venv/bin/schemathesis` (where
//! `scripts/test.sh` installs `tests/requirements.txt`). `CHARTE_SCHEMATHESIS_SPEC=file.json` runs
//! it with that OpenAPI document instead of the server's `/openapi.json` (to try a change of the
//! document before making it in the annotations). `CHARTE_SCHEMATHESIS_SEED` explores with another seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The version `tests/schemathesis/schemathesis.toml` is written for.
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Fixed, so a failing run can be replayed (`--seed` in `schemathesis.txt`); `CHARTE_SCHEMATHESIS_SEED`
/// explores with another.
const SEED: &str = "20261201";
/// Longest a role's run may take before it is stopped and the test fails (a normal one takes
/// 15–40 s on two cores).
const ROLE_TIMEOUT: Duration = Duration::from_secs(180);

const LYCEE_FABERT: &str = "0570054Z"; // Moselle, académie 12 (Nancy-Metz)
const LYCEE_KLEBER: &str = "0670080Y"; // Bas-Rhin, académie 15

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$CHARTE_SCHEMATHESIS`, else `.venv/bin/schemathesis`; fails clearly if neither exists or the
/// version is not the one the configuration is written for.
fn schemathesis() -> PathBuf {
    let venv = manifest_dir().join(".venv/bin/schemathesis");
    let path = match std::env::var_os("CHARTE_SCHEMATHESIS").filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.exists(),
                "CHARTE_SCHEMATHESIS={} n'existe pas : indiquez le chemin de l'exécutable schemathesis {SCHEMATHESIS_VERSION}.",
                p.display()
            );
            p
        }
        None if venv.exists() => venv,
        None => panic!(
            "schemathesis introuvable : ni CHARTE_SCHEMATHESIS ni {} n'existent. Lancez `bash scripts/test.sh` \
             (qui installe tests/requirements.txt dans .venv/), ou `python3 -m venv .venv && \
             .venv/bin/pip install schemathesis=={SCHEMATHESIS_VERSION}`, ou pointez CHARTE_SCHEMATHESIS \
             sur un exécutable schemathesis {SCHEMATHESIS_VERSION}.",
            venv.display()
        ),
    };
    let out = Command::new(&path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{} --version : {e}", path.display()));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.trim().ends_with(SCHEMATHESIS_VERSION),
        "{} est « {} » ; tests/schemathesis/schemathesis.toml est écrit pour schemathesis {SCHEMATHESIS_VERSION}.",
        path.display(),
        version.trim()
    );
    path
}

fn charte(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_charte"));
    c.args(args);
    c
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `charte serve --dev` on a random port; stopped (SIGTERM, then kill) when dropped.
struct Server {
    child: Child,
    base: String,
    data: tempfile::TempDir,
}

impl Server {
    fn start(log: &Path, extra: &[&str]) -> Server {
        let data = tempfile::TempDir::new().unwrap();
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec![
            "serve",
            "--dev",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--listen",
            &listen,
            "--log-format",
            "json",
        ];
        args.extend_from_slice(extra);
        let child = charte(&args)
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "charte serve n'a pas démarré : voir {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            data,
        }
    }

    /// A development token for this server (signed with its data directory's secret).
    fn token(&self, args: &[&str]) -> String {
        let mut all = vec!["token", "--data-dir", self.data.path().to_str().unwrap()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--name", "Schemathesis"]);
        let out = charte(&all).output().unwrap();
        assert!(
            out.status.success(),
            "charte token {args:?} : {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds: what each role needs to find on the server for its stateful phase to walk real
// resources (a head only sees reviews once an authority has submitted to its school; an
// arbitrator only sees disputes once a representative has escalated one).

/// What to create before a role's run.
#[derive(Clone, Copy)]
enum Seed {
    /// Nothing: the role creates its own messages.
    Nothing,
    /// Messages to the lycée Fabert (and Kléber), pending review: something for a head to decide.
    PendingReviews,
    /// Reviews in `rectification_requested`: something for a representative to escalate.
    Rectifications,
    /// Disputes before the recteur of Nancy-Metz: something for an arbitrator to settle.
    Disputes,
    /// Evaluation messages awaiting co-production by the académie de Nancy-Metz.
    Evaluations,
    /// Messages (hence emails in the outbox), with delivery failing: dead letters to retry.
    DeadLetters,
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, token: &str, path: &str, body: Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "amorçage : POST {path} a répondu {status} : {body}"
        );
        body
    }

    /// The id of the first review of a message, read by its sender.
    async fn first_review(&self, agent: &str, message: &Value) -> String {
        let id = message["id"].as_str().unwrap();
        let page: Value = self
            .http
            .get(format!("{}/v1/messages/{id}/reviews?limit=1", self.base))
            .bearer_auth(agent)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"][0]["id"].as_str().unwrap().to_owned()
    }

    async fn submit(&self, agent: &str, n: usize, targets: &[&str], purpose: &str) -> Value {
        self.post(
            agent,
            "/v1/messages",
            json!({
                "title": format!("Transports scolaires : horaires n° {n}"),
                "body": format!("<p>Les horaires du car changent à la rentrée (avis n° {n}).</p>"),
                "kind": "one_off",
                "purpose": purpose,
                "audience": ["families"],
                "targets": targets,
                "publish_at": "2030-01-07T08:00:00+01:00",
                "display_until": "2030-03-07T18:00:00+01:00",
            }),
        )
        .await
    }

    /// Submits to the lycée Fabert and has its head request a rectification; returns the review id.
    async fn rectification(&self, agent: &str, head: &str, n: usize) -> String {
        let message = self.submit(agent, n, &[LYCEE_FABERT], "information").await;
        let review = self.first_review(agent, &message).await;
        self.post(
            head,
            &format!("/v1/reviews/{review}/rectification"),
            json!({"motive": "La date de reprise annoncée est erronée."}),
        )
        .await;
        review
    }
}

fn seed(server: &Server, seed: Seed) {
    if matches!(seed, Seed::Nothing) {
        return;
    }
    let agent = server.token(&[
        "--role",
        "authority_agent",
        "--authority",
        "region-grand-est",
    ]);
    let head = server.token(&["--role", "head", "--uai", LYCEE_FABERT]);
    let representative = server.token(&[
        "--role",
        "authority_representative",
        "--authority",
        "region-grand-est",
    ]);
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        base: server.base.clone(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match seed {
            Seed::Nothing => {}
            // Several of each: the coverage and fuzzing phases already decide some before the
            // stateful phase starts, and a decided review cannot be decided again (409).
            Seed::PendingReviews => {
                for n in 1..=16 {
                    api.submit(&agent, n, &[LYCEE_FABERT, LYCEE_KLEBER], "information")
                        .await;
                }
            }
            Seed::DeadLetters => {
                for n in 1..=3 {
                    api.submit(&agent, n, &[LYCEE_FABERT, LYCEE_KLEBER], "information")
                        .await;
                }
            }
            Seed::Rectifications => {
                for n in 1..=6 {
                    api.rectification(&agent, &head, n).await;
                }
            }
            Seed::Disputes => {
                for n in 1..=12 {
                    let review = api.rectification(&agent, &head, n).await;
                    api.post(
                        &representative,
                        &format!("/v1/reviews/{review}/escalate"),
                        json!({"statement": "La collectivité maintient sa communication, exacte et neutre."}),
                    )
                    .await;
                }
            }
            Seed::Evaluations => {
                for n in 1..=10 {
                    api.submit(&agent, n, &[LYCEE_FABERT], "evaluation").await;
                }
            }
        }
    });
    if matches!(seed, Seed::DeadLetters) {
        // The outbox worker gives each email one attempt (see the server's flags below).
        let deadline = Instant::now() + Duration::from_secs(15);
        let admin = server.token(&["--role", "admin"]);
        loop {
            let dead: Value = rt.block_on(async {
                api.http
                    .get(format!("{}/v1/admin/dead-letters", api.base))
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap()
            });
            if dead.as_array().is_some_and(|d| !d.is_empty()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "amorçage : aucune lettre morte après 15 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// One role's run.
struct Role {
    /// Also the artifacts folder's name.
    name: &'static str,
    /// `charte token` arguments.
    token: &'static [&'static str],
    seed: Seed,
    /// The stateful phase must have created a message (201 on POST /v1/messages): proof that it
    /// walks real resources rather than random identifiers.
    stateful_must_create: bool,
    /// Decisions of which at least one must have succeeded (200) in some phase: proof that the
    /// seed gave the role something to decide and that the success path was exercised.
    must_decide: &'static [&'static str],
}

const APPROVE: &str = "POST /v1/reviews/{id}/approve";
const RECTIFY: &str = "POST /v1/reviews/{id}/rectification";
const ESCALATE: &str = "POST /v1/reviews/{id}/escalate";
const DECIDE: &str = "POST /v1/disputes/{id}/decision";
const COPRODUCE: &str = "POST /v1/messages/{id}/coproduction";
const WITHDRAW: &str = "POST /v1/messages/{id}/withdraw";
const RETRY: &str = "POST /v1/admin/dead-letters/{id}/retry";
/// Transitions that answer 200 when they succeed (a new version answers 201).
const DECISIONS: &[&str] = &[
    APPROVE, RECTIFY, ESCALATE, DECIDE, COPRODUCE, WITHDRAW, RETRY,
];

const ROLES: &[Role] = &[
    Role {
        name: "authority_agent",
        token: &[
            "--role",
            "authority_agent",
            "--authority",
            "region-grand-est",
        ],
        seed: Seed::Nothing,
        stateful_must_create: true,
        must_decide: &[WITHDRAW],
    },
    Role {
        name: "authority_representative",
        token: &[
            "--role",
            "authority_representative",
            "--authority",
            "region-grand-est",
        ],
        seed: Seed::Rectifications,
        stateful_must_create: true,
        must_decide: &[],
    },
    Role {
        name: "head",
        token: &["--role", "head", "--uai", LYCEE_FABERT],
        seed: Seed::PendingReviews,
        stateful_must_create: false,
        must_decide: &[APPROVE, RECTIFY],
    },
    Role {
        name: "academic_services",
        token: &["--role", "academic_services", "--academie", "12"],
        seed: Seed::Evaluations,
        stateful_must_create: false,
        must_decide: &[COPRODUCE],
    },
    Role {
        name: "arbitrator",
        token: &["--role", "arbitrator", "--arbitrator", "rectorat:12"],
        seed: Seed::Disputes,
        stateful_must_create: false,
        must_decide: &[DECIDE],
    },
    Role {
        name: "admin",
        token: &["--role", "admin"],
        seed: Seed::DeadLetters,
        stateful_must_create: false,
        must_decide: &[RETRY],
    },
];

/// What a run's events say.
#[derive(Default)]
struct Tally {
    /// Requests sent, per phase.
    requests: BTreeMap<String, usize>,
    /// Stateful phase: responses per (operation, status).
    stateful: BTreeMap<(String, u16), usize>,
    /// All phases: responses per (operation, status).
    all: BTreeMap<(String, u16), usize>,
    /// Distinct failures: (check, operation, first line of the message).
    failures: BTreeSet<(String, String, String)>,
}

impl Tally {
    fn read(ndjson: &Path) -> Tally {
        let mut t = Tally::default();
        let Ok(file) = fs::File::open(ndjson) else {
            return t;
        };
        for line in BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            if !line.starts_with("{\"ScenarioFinished\"") {
                continue;
            }
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let scenario = &event["ScenarioFinished"];
            let phase = scenario["phase"].as_str().unwrap_or("?").to_owned();
            let recorder = &scenario["recorder"];
            let label = |id: &str| {
                let case = &recorder["cases"][id]["value"];
                format!(
                    "{} {}",
                    case["method"].as_str().unwrap_or("?"),
                    case["path"].as_str().unwrap_or("?")
                )
            };
            if let Some(interactions) = recorder["interactions"].as_object() {
                for (id, interaction) in interactions {
                    *t.requests.entry(phase.clone()).or_default() += 1;
                    if let Some(status) = interaction["response"]["status_code"].as_u64() {
                        let key = (label(id), status as u16);
                        if phase == "stateful" {
                            *t.stateful.entry(key.clone()).or_default() += 1;
                        }
                        *t.all.entry(key).or_default() += 1;
                    }
                }
            }
            if let Some(checks) = recorder["checks"].as_object() {
                for results in checks.values() {
                    for check in results.as_array().into_iter().flatten() {
                        if check["status"] != "failure" {
                            continue;
                        }
                        let failure = &check["failure_info"]["failure"];
                        t.failures.insert((
                            check["name"].as_str().unwrap_or("?").to_owned(),
                            failure["operation"].as_str().unwrap_or("?").to_owned(),
                            failure["message"]
                                .as_str()
                                .unwrap_or("")
                                .lines()
                                .next()
                                .unwrap_or("")
                                .to_owned(),
                        ));
                    }
                }
            }
        }
        t
    }

    fn stateful(&self, operation: &str, status: u16) -> usize {
        self.stateful
            .get(&(operation.to_owned(), status))
            .copied()
            .unwrap_or(0)
    }

    fn any_phase(&self, operation: &str, status: u16) -> usize {
        self.all
            .get(&(operation.to_owned(), status))
            .copied()
            .unwrap_or(0)
    }

    /// Successful transitions (decisions, withdrawals, retries, new versions).
    fn transitions(&self, count: impl Fn(&str, u16) -> usize) -> usize {
        DECISIONS.iter().map(|op| count(op, 200)).sum::<usize>()
            + count("POST /v1/messages/{id}/versions", 201)
    }
}

/// Waits for `child`, killing it after `timeout`; `None` if it had to be killed.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Schemathesis's errors (what it could not test, and why) and its summary, shortened.
fn summary_excerpt(output: &str) -> String {
    let section = |title: &str| -> Option<String> {
        let start = output.find(title)?;
        let body = &output[start + title.len()..];
        // A section runs to the next `=====… TITLE …=====` line.
        let end = body.find("\n=====").map_or(body.len(), |i| i + 1);
        let lines: Vec<String> = output[start..start + title.len() + end]
            .lines()
            .take(60)
            .map(|l| l.chars().take(300).collect())
            .collect();
        Some(lines.join("\n"))
    };
    ["===== ERRORS", "===== SUMMARY"]
        .into_iter()
        .filter_map(section)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn schemathesis_finds_no_failure_for_any_role() {
    let schemathesis = schemathesis();
    let config = manifest_dir().join("tests/schemathesis/schemathesis.toml");
    let hooks = manifest_dir().join("tests/schemathesis/hooks.py");
    let spec_override = std::env::var_os("CHARTE_SCHEMATHESIS_SPEC")
        .filter(|p| !p.is_empty())
        .map(|p| std::path::absolute(PathBuf::from(p)).unwrap());
    let artifacts = manifest_dir().join("tests/artifacts/schemathesis");
    let started = Instant::now();
    let mut problems = Vec::new();
    let run_seed = std::env::var("CHARTE_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.to_owned());

    for role in ROLES {
        let dir = artifacts.join(role.name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();

        // The admin's server cannot deliver mail (nothing listens on the port and each email gets
        // one attempt), so that dead letters exist for its retry operation.
        let smtp = format!("smtp://127.0.0.1:{}", free_port());
        let extra: Vec<&str> = match role.seed {
            Seed::DeadLetters => vec!["--smtp-url", &smtp, "--mail-max-attempts", "1"],
            _ => vec![],
        };
        let server = Server::start(&dir.join("serve.log"), &extra);
        seed(&server, role.seed);
        let token = server.token(role.token);

        let output_path = dir.join("schemathesis.txt");
        let output = fs::File::create(&output_path).unwrap();
        let role_started = Instant::now();
        let mut child = Command::new(&schemathesis)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .args(match &spec_override {
                // A hand-edited document, to try a change of the spec before making it in Rust.
                Some(file) => vec![
                    file.clone().into_os_string(),
                    "--url".into(),
                    server.base.clone().into(),
                ],
                None => vec![format!("{}/openapi.json", server.base).into()],
            })
            .args([
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--seed",
                &run_seed,
                "--no-color",
                "--wait-for-schema",
                "15",
                "--report",
                "junit,ndjson",
            ])
            .arg("--report-dir")
            .arg(&dir)
            .arg("--report-junit-path")
            .arg(dir.join("junit.xml"))
            .arg("--report-ndjson-path")
            .arg(dir.join("events.ndjson"))
            .env("CHARTE_TOKEN", &token)
            .env("SCHEMATHESIS_HOOKS", &hooks)
            // Hypothesis and schemathesis write their working folders in the current directory.
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("{} : {e}", schemathesis.display()));
        let status = wait_with_timeout(&mut child, ROLE_TIMEOUT);
        let elapsed = role_started.elapsed();
        drop(server);

        let tally = Tally::read(&dir.join("events.ndjson"));
        let output = fs::read_to_string(&output_path).unwrap_or_default();
        let requests: usize = tally.requests.values().sum();
        let per_phase = tally
            .requests
            .iter()
            .map(|(phase, n)| format!("{phase} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        // Schemathesis's own count, from its summary ("1740 generated, 6 found 6 unique failures").
        let generated = output
            .lines()
            .filter_map(|l| l.trim().split_once(" generated, "))
            .find(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
            .map_or("?", |(n, _)| n)
            .to_owned();
        let created = tally.stateful("POST /v1/messages", 201);
        let in_stateful = tally.transitions(|op, st| tally.stateful(op, st));
        let in_all = tally.transitions(|op, st| tally.any_phase(op, st));
        println!(
            "schemathesis {:<25} {:>5.1} s  {generated} cas générés, {requests} requêtes ({per_phase}) ; \
             {} échec(s) distinct(s) ; phase stateful : {created} × 201 sur POST /v1/messages, \
             {in_stateful} transition(s) réussie(s) ({in_all} toutes phases) ; rapports : {}",
            role.name,
            elapsed.as_secs_f64(),
            tally.failures.len(),
            dir.display()
        );

        match status {
            None => problems.push(format!(
                "{} : schemathesis arrêté après {} s (budget dépassé) ; sortie : {}",
                role.name,
                ROLE_TIMEOUT.as_secs(),
                output_path.display()
            )),
            Some(s) if !s.success() => problems.push(format!(
                "{} : schemathesis a terminé avec {s} ; {} échec(s) distinct(s) (contrôle — opération — motif) :\n{}\n\
                 Détail de chaque échec, avec la commande curl qui le reproduit : {}\n{}",
                role.name,
                tally.failures.len(),
                tally
                    .failures
                    .iter()
                    .map(|(check, operation, message)| format!("  {check} — {operation} — {message}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                output_path.display(),
                summary_excerpt(&output)
            )),
            Some(_) => {}
        }
        if role.stateful_must_create && created == 0 {
            let seen: Vec<String> = tally
                .stateful
                .iter()
                .filter(|((op, _), _)| op == "POST /v1/messages")
                .map(|((_, st), n)| format!("{st} × {n}"))
                .collect();
            problems.push(format!(
                "{} : la phase stateful n'a créé aucune communication (POST /v1/messages : {}) ; \
                 sans 201 elle ne parcourt aucune ressource réelle (schéma de SubmitRequest, liens OpenAPI)",
                role.name,
                if seen.is_empty() { "jamais appelé".to_owned() } else { seen.join(", ") }
            ));
        }
        if !role.must_decide.is_empty()
            && role
                .must_decide
                .iter()
                .all(|op| tally.any_phase(op, 200) == 0)
        {
            problems.push(format!(
                "{} : aucune de ces transitions n'a abouti (200) : {} ; l'amorçage ou les liens ne \
                 donnent rien à décider à ce rôle",
                role.name,
                role.must_decide.join(", ")
            ));
        }
    }
    println!(
        "schemathesis : {} rôles en {:.0} s",
        ROLES.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
