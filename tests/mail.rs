//! Email delivery against a real SMTP server (aiosmtpd, started by the tests): every email of
//! the workflow arrives with the right recipients, subject and content; nothing is lost while
//! the server is down; refusals are retried, or become dead letters an administrator can send
//! again; two workers never send the same email twice; emergencies arrive within seconds.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use charte::http::auth::{Claims, DEV_AUDIENCE, DEV_ISSUER, dev_token};
use charte::mail::{Destination, MailSettings, RetryPolicy};
use charte::server::load_demo_if_first_run;
use charte::store::redis::RedisStore;
use common::app::{REGION, TestApp, one_off};
use common::redis_server::RedisServer;
use common::smtp_server::{Received, SmtpServer};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tempfile::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;

const FABERT: &str = "0570054Z"; // Moselle, académie 12
const AGRICOLE: &str = "0570108H"; // agricultural: DRAAF
const KLEBER: &str = "0670080Y"; // Bas-Rhin, académie 15
const HEAD_FABERT: &str = "ce.0570054Z@ac-nancy-metz.fr";
const HEAD_AGRICOLE: &str = "legta.courcelles-chaussy@educagri.fr";
const HEAD_KLEBER: &str = "ce.0670080Y@ac-strasbourg.fr";
const REGION_MAIL: &str = "communication@grandest.example.fr";
const WIDGET: &str = "http://widget.test/widget/";
const WAIT: Duration = Duration::from_secs(15);

/// Retries fast enough for a test, and a mail server that comes back within seconds.
fn settings(smtp: &SmtpServer) -> MailSettings {
    let mut s = MailSettings::new(Destination::Smtp(smtp.url()));
    s.from = "Charte ENT <charte@region-test.fr>".into();
    s.policy = RetryPolicy {
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        max_attempts: 60,
        max_permanent_failures: 3,
    };
    s.poll = Duration::from_millis(200);
    s.reminder_check = Duration::from_millis(100);
    s.lease = Duration::from_secs(20);
    s.smtp_timeout = Duration::from_secs(5);
    s
}

/// The real app on the embedded store, sending with `mail`.
async fn app_sending(mail: MailSettings) -> TestApp {
    TestApp::builder()
        .mail(mail)
        .widget_url(WIDGET)
        .spawn()
        .await
}

fn to(r: &Received, address: &str) -> bool {
    r.rcpt_tos.iter().any(|t| t.eq_ignore_ascii_case(address))
}

/// The text a reader sees in an HTML body (the entities the template engine escapes with).
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn subject_has(part: &'static str) -> impl Fn(&Received) -> bool {
    move |r: &Received| r.subject.contains(part)
}

#[tokio::test]
async fn each_head_receives_the_review_request_with_the_exhaustive_content_and_the_deadline() {
    let smtp = SmtpServer::start();
    let app = app_sending(settings(&smtp)).await;
    app.submit(&app.agent(REGION), one_off(&[FABERT, KLEBER]))
        .await;

    let got = smtp
        .wait_for(2, WAIT, subject_has("À examiner avant le"))
        .await;
    assert_eq!(got.len(), 2);
    let ids = app.outbox_ids("review_request").await;
    for (head, school) in [(HEAD_FABERT, "Lycée Fabert"), (HEAD_KLEBER, "Lycée Kléber")] {
        let mail = got.iter().find(|r| to(r, head)).expect(head);
        assert_eq!(mail.rcpt_tos.len(), 1, "only the head: {:?}", mail.rcpt_tos);
        assert_eq!(
            mail.subject,
            "[Charte ENT] À examiner avant le jeudi 26 novembre 2026 à minuit : Transports scolaires : nouvelle ligne 12"
        );
        assert_eq!(mail.mail_from, "charte@region-test.fr");
        assert!(mail.from.contains("Charte ENT"), "{}", mail.from);
        // The Message-ID is derived from the outbox record, so a resend can be recognised.
        assert!(
            ids.iter()
                .any(|id| mail.message_id == format!("<{id}@charte>")),
            "{} not among {ids:?}",
            mail.message_id
        );
        for body in [&mail.text, &unescape(&mail.html)] {
            assert!(body.contains("Région Grand Est"), "{body}");
            assert!(body.contains(school), "{body}");
            assert!(body.contains("jeudi 26 novembre 2026 à minuit"), "{body}");
            assert!(body.contains("accord tacite"), "{body}");
            assert!(body.contains(WIDGET), "{body}");
            assert!(body.contains("la ligne 12 dessert le lycée"), "{body}");
            assert!(body.contains("lundi 30 novembre 2026 à 8 h 00"), "{body}");
        }
        assert!(mail.text.contains("Contenu exhaustif"), "{}", mail.text);
        // The HTML alternative shows the body as families will see it.
        assert!(
            mail.html.contains("<strong>lundi 7 décembre</strong>"),
            "{}",
            mail.html
        );
    }
}

#[tokio::test]
async fn approvals_and_tacit_approvals_are_announced_and_a_silent_head_is_reminded_once() {
    let smtp = SmtpServer::start();
    let app = app_sending(settings(&smtp)).await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[FABERT, KLEBER]))
        .await;
    smtp.wait_for(2, WAIT, subject_has("À examiner")).await;

    // Fabert approves on Tuesday: the Région is told.
    app.advance_to(datetime!(2026-11-24 10:00 +01:00)).await;
    let review = app.review_of(&m, FABERT).await;
    app.approve(&review, FABERT).await.expect_success();
    let approved = smtp
        .wait_for(1, WAIT, subject_has("Approuvée par Lycée Fabert"))
        .await;
    assert_eq!(approved[0].rcpt_tos, vec![REGION_MAIL]);
    assert!(
        approved[0]
            .text
            .contains("Le chef d'établissement a approuvé la communication"),
        "{}",
        approved[0].text
    );

    // Wednesday evening: the last day has not begun, nobody is reminded yet.
    app.advance_to(datetime!(2026-11-25 23:00 +01:00)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        smtp.received()
            .iter()
            .all(|r| !r.subject.contains("Rappel"))
    );

    // Thursday, the last day: Kléber, still silent, is reminded; Fabert, who answered, is not.
    app.advance_to(datetime!(2026-11-26 07:30 +01:00)).await;
    let reminders = smtp.wait_for(1, WAIT, subject_has("Rappel")).await;
    assert_eq!(reminders[0].rcpt_tos, vec![HEAD_KLEBER]);
    assert_eq!(
        reminders[0].subject,
        "[Charte ENT] Rappel : accord tacite le jeudi 26 novembre 2026 à minuit : Transports scolaires : nouvelle ligne 12"
    );
    assert!(reminders[0].text.contains("Sans réponse de votre part"));
    assert!(reminders[0].text.contains(WIDGET));
    // Many more checks run during the day: still one reminder.
    app.advance_to(datetime!(2026-11-26 18:00 +01:00)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        smtp.received()
            .iter()
            .filter(|r| r.subject.contains("Rappel"))
            .count(),
        1
    );

    // Friday 00:00: silence is consent; the Région and the head are told.
    app.advance_to(datetime!(2026-11-27 00:00:01 +01:00)).await;
    let tacit = smtp
        .wait_for(1, WAIT, subject_has("Accord tacite de Lycée Kléber"))
        .await;
    let mut rcpt = tacit[0].rcpt_tos.clone();
    rcpt.sort();
    assert_eq!(rcpt, vec![HEAD_KLEBER, REGION_MAIL]);
    assert!(
        tacit[0]
            .text
            .contains("Le délai d'examen a expiré le jeudi 26 novembre 2026 à minuit"),
        "{}",
        tacit[0].text
    );
}

#[tokio::test]
async fn a_rectification_request_reaches_the_authority_and_academic_services_escaped_in_html() {
    let smtp = SmtpServer::start();
    let app = app_sending(settings(&smtp)).await;
    let m = app.submit(&app.agent(REGION), one_off(&[KLEBER])).await;
    let motive = "Le tarif <b>« 3 € »</b> & la date du <script>alert(1)</script> sont erronés.";
    let review = app.review_of(&m, KLEBER).await;
    app.request_rectification(&review, KLEBER, motive)
        .await
        .expect_success();

    let to_region = smtp
        .wait_for(
            1,
            WAIT,
            subject_has("Rectification demandée par Lycée Kléber"),
        )
        .await;
    assert_eq!(to_region[0].rcpt_tos, vec![REGION_MAIL]);
    assert!(to_region[0].text.contains(motive), "{}", to_region[0].text);
    let informed = smtp
        .wait_for(
            1,
            WAIT,
            subject_has("Pour information : doute exprimé par Lycée Kléber"),
        )
        .await;
    assert_eq!(informed[0].rcpt_tos, vec!["dane@ac-strasbourg.fr"]);
    assert!(informed[0].text.contains(motive));
    for mail in [&to_region[0], &informed[0]] {
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(!mail.html.contains("<b>"), "{}", mail.html);
        assert!(
            mail.html.contains("&lt;script&gt;alert(1)"),
            "{}",
            mail.html
        );
        assert!(mail.html.contains("&amp; la date"), "{}", mail.html);
        assert!(unescape(&mail.html).contains(motive), "{}", mail.html);
    }
}

#[tokio::test]
async fn an_escalation_reaches_the_right_arbitrator_and_the_outcome_both_parties() {
    let smtp = SmtpServer::start();
    let app = app_sending(settings(&smtp)).await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[FABERT, AGRICOLE]))
        .await;
    for uai in [FABERT, AGRICOLE] {
        let review = app.review_of(&m, uai).await;
        let motive = "Ce contenu relève de la promotion commerciale.";
        app.request_rectification(&review, uai, motive)
            .await
            .expect_success();
        let statement = "Il s'agit d'une information de service public sur les transports.";
        app.escalate(&review, REGION, statement)
            .await
            .expect_success();
    }
    let escalations = smtp
        .wait_for(2, WAIT, subject_has("Arbitrage urgent demandé"))
        .await;
    let recteur = escalations
        .iter()
        .find(|r| r.subject.contains("Lycée Fabert"))
        .unwrap();
    assert_eq!(recteur.rcpt_tos, vec!["ce.recteur@ac-nancy-metz.fr"]);
    assert!(
        recteur
            .text
            .starts_with("Rectorat de l'académie de Nancy-Metz,")
    );
    assert!(recteur.text.contains("promotion commerciale"));
    assert!(recteur.text.contains("information de service public"));
    assert!(recteur.text.contains("caractère d'urgence"));
    let draaf = escalations
        .iter()
        .find(|r| r.subject.contains("Lycée agricole"))
        .unwrap();
    assert_eq!(draaf.rcpt_tos, vec!["draaf-grand-est@agriculture.gouv.fr"]);

    let fabert = app.review_of(&m, FABERT).await;
    let motive = "Information pratique liée à la scolarité.";
    app.decide(&fabert, "rectorat:12", "authorise", motive)
        .await
        .expect_success();
    let agricole = app.review_of(&m, AGRICOLE).await;
    let motive = "Le refus du chef d'établissement est fondé.";
    app.decide(&agricole, "draaf:44", "uphold", motive)
        .await
        .expect_success();
    let outcomes = smtp
        .wait_for(2, WAIT, subject_has("Décision d'arbitrage"))
        .await;
    let by_head: BTreeMap<bool, &Received> =
        outcomes.iter().map(|r| (to(r, HEAD_FABERT), r)).collect();
    let fabert = by_head[&true];
    assert!(to(fabert, REGION_MAIL));
    assert!(fabert.text.contains("autorise la publication"));
    assert!(
        fabert
            .text
            .contains("Information pratique liée à la scolarité.")
    );
    let agricole = by_head[&false];
    assert!(to(agricole, REGION_MAIL) && to(agricole, HEAD_AGRICOLE));
    assert!(agricole.text.contains("confirme le refus de publication"));
}

#[tokio::test]
async fn a_withdrawal_is_announced_to_each_head() {
    let smtp = SmtpServer::start();
    let app = app_sending(settings(&smtp)).await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[FABERT, KLEBER]))
        .await;
    app.post(
        &format!("/v1/messages/{}/withdraw", m["id"].as_str().unwrap()),
        &app.agent(REGION),
        json!({"motive": "Ligne reportée à janvier."}),
    )
    .await
    .expect_success();
    let notices = smtp
        .wait_for(2, WAIT, subject_has("Communication retirée"))
        .await;
    for head in [HEAD_FABERT, HEAD_KLEBER] {
        let n = notices.iter().find(|r| to(r, head)).expect(head);
        assert!(
            n.text
                .contains("« Région Grand Est » a retiré la communication")
        );
        assert!(n.text.contains("Motif : Ligne reportée à janvier."));
    }
}

#[tokio::test]
async fn an_emergency_copy_arrives_within_five_seconds_of_the_declaration() {
    let smtp = SmtpServer::start();
    let mut mail = settings(&smtp);
    // Only the wake-up on commit can be this fast: the outbox is otherwise looked at each minute.
    mail.poll = Duration::from_secs(60);
    let app = app_sending(mail).await;
    // Let the worker settle into its long wait before the emergency.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let res = app
        .post(
            "/v1/messages",
            &app.agent("departement-moselle"),
            json!({
                "title": "Transports scolaires suspendus demain",
                "body": "<p>Aucun car ne circulera mardi.</p>",
                "kind": "emergency",
                "audience": ["families"],
                "targets": ["0570012D", "0570095U"],
                "publish_at": "2026-11-23T09:00:00+01:00",
                "display_until": "2026-11-25T18:00:00+01:00",
                "emergency": {"category": "weather", "justification": "Vigilance orange neige et verglas : circulation des cars interdite par arrêté préfectoral."}
            }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let copies = smtp
        .wait_for(2, Duration::from_secs(5), |r| {
            r.subject.starts_with("[URGENCE]")
        })
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut rcpt: Vec<_> = copies.iter().flat_map(|r| r.rcpt_tos.clone()).collect();
    rcpt.sort();
    assert_eq!(
        rcpt,
        vec![
            "ce.0570012D@ac-nancy-metz.fr",
            "ce.0570095U@ac-nancy-metz.fr"
        ]
    );
    for c in &copies {
        assert_eq!(c.subject, "[URGENCE] Transports scolaires suspendus demain");
        assert!(c.text.contains("intempéries"), "{}", c.text);
        assert!(c.text.contains("arrêté préfectoral"), "{}", c.text);
        assert!(
            c.text.contains("Aucun car ne circulera mardi."),
            "{}",
            c.text
        );
    }
}

#[tokio::test]
async fn nothing_is_lost_while_the_mail_server_is_down() {
    let mut smtp = SmtpServer::start();
    let app = app_sending(settings(&smtp)).await;
    smtp.kill();
    app.submit(&app.agent(REGION), one_off(&[FABERT, KLEBER]))
        .await;
    app.submit(&app.agent(REGION), one_off(&[AGRICOLE])).await;
    // Several attempts fail with "connection refused" meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counts = app.store.mail_counts().await.unwrap();
    assert_eq!((counts.queued, counts.sent, counts.dead), (3, 0, 0));
    let dead = app.get("/v1/admin/dead-letters", &app.admin()).await;
    assert_eq!(dead.body, json!([]));

    smtp.restart();
    let got = smtp.wait_for(3, WAIT, |_| true).await;
    let mut rcpt: Vec<_> = got.iter().flat_map(|r| r.rcpt_tos.clone()).collect();
    rcpt.sort();
    assert_eq!(rcpt, vec![HEAD_FABERT, HEAD_KLEBER, HEAD_AGRICOLE]);
    // The server has them; the worker records each as sent once the server's answer is read.
    let mut counts = app.store.mail_counts().await.unwrap();
    for _ in 0..50 {
        if counts.sent == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        counts = app.store.mail_counts().await.unwrap();
    }
    assert_eq!((counts.queued, counts.sent, counts.dead), (0, 3, 0));
}

#[tokio::test]
async fn temporary_refusals_are_retried_until_the_email_is_delivered() {
    let smtp = SmtpServer::start();
    smtp.refuse_next(451, 2);
    let app = app_sending(settings(&smtp)).await;
    app.submit(&app.agent(REGION), one_off(&[FABERT])).await;
    let got = smtp.wait_for(1, WAIT, |_| true).await;
    assert_eq!(got[0].rcpt_tos, vec![HEAD_FABERT]);
    let id = &app.outbox_ids("review_request").await[0];
    assert_eq!(got[0].message_id, format!("<{id}@charte>"));
    // The server has the email; the worker records it as sent once the server's answer is read.
    let mut delivery = app.store.mail_delivery(id).await.unwrap().unwrap();
    for _ in 0..50 {
        if delivery.status == charte::store::DeliveryStatus::Sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        delivery = app.store.mail_delivery(id).await.unwrap().unwrap();
    }
    assert_eq!(
        delivery.status,
        charte::store::DeliveryStatus::Sent,
        "{delivery:?}"
    );
    assert_eq!(delivery.attempts, 3, "{delivery:?}");
    assert!(
        delivery.last_error.as_deref().unwrap_or("").contains("451"),
        "{delivery:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1, "delivered once");
}

#[tokio::test]
async fn permanent_refusals_become_dead_letters_that_an_administrator_sends_again() {
    let smtp = SmtpServer::start();
    smtp.refuse_next(550, 3);
    let app = app_sending(settings(&smtp)).await;
    app.submit(&app.agent(REGION), one_off(&[KLEBER])).await;
    let id = app.outbox_ids("review_request").await[0].clone();

    let deadline = Instant::now() + WAIT;
    let dead = loop {
        let res = app.get("/v1/admin/dead-letters", &app.admin()).await;
        assert_eq!(res.status, StatusCode::OK);
        if res.body.as_array().is_some_and(|a| !a.is_empty()) {
            break res.body;
        }
        assert!(Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead[0]["email"]["id"], id.as_str());
    assert_eq!(dead[0]["email"]["to"], json!([HEAD_KLEBER]));
    assert_eq!(dead[0]["delivery"]["status"], "dead");
    assert_eq!(dead[0]["delivery"]["attempts"], 3);
    assert_eq!(dead[0]["delivery"]["permanent_failures"], 3);
    assert!(
        dead[0]["delivery"]["last_error"]
            .as_str()
            .unwrap()
            .contains("550"),
        "{dead}"
    );
    assert!(smtp.received().is_empty());
    assert_eq!(app.store.mail_counts().await.unwrap().dead, 1);

    // Only administrators see and retry dead letters.
    let agent = app.agent(REGION);
    let res = app.get("/v1/admin/dead-letters", &agent).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let retry = format!("/v1/admin/dead-letters/{id}/retry");
    let res = app.call(Method::POST, &retry, Some(&agent), None).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    let res = app
        .call(Method::POST, &retry, Some(&app.admin()), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["delivery"]["status"], "queued");
    let got = smtp.wait_for(1, WAIT, |_| true).await;
    assert_eq!(got[0].rcpt_tos, vec![HEAD_KLEBER]);
    assert_eq!(got[0].message_id, format!("<{id}@charte>"));
    let dead = app.get("/v1/admin/dead-letters", &app.admin()).await;
    assert_eq!(dead.body, json!([]));

    let res = app
        .call(Method::POST, &retry, Some(&app.admin()), None)
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(res.detail().contains("envoyé"), "{}", res.body);
    let unknown = "/v1/admin/dead-letters/inconnu/retry";
    let res = app
        .call(Method::POST, unknown, Some(&app.admin()), None)
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn two_workers_on_one_redis_never_send_the_same_email_twice() {
    let smtp = SmtpServer::start();
    let redis = RedisServer::start();
    let prefix = format!("mail-{}", uuid::Uuid::new_v4());
    let first = RedisStore::connect(&redis.url(), &prefix).await.unwrap();
    load_demo_if_first_run(&first).await.unwrap();
    let second = RedisStore::connect(&redis.url(), &prefix).await.unwrap();
    let on = |store: RedisStore| {
        TestApp::builder()
            .store(Arc::new(store))
            .mail(settings(&smtp))
            .widget_url(WIDGET)
            .spawn()
    };
    let a = on(first).await;
    let b = on(second).await;

    let mut expected = 0;
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        let mut body = one_off(&[FABERT, KLEBER, AGRICOLE]);
        body["title"] = json!(format!("Transports scolaires : ligne {i}"));
        app.submit(&app.agent(REGION), body).await;
        expected += 3;
    }
    smtp.wait_for(expected, WAIT, |_| true).await;
    // Leave time for any duplicate to show up.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = smtp.received();
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &got {
        *per_id.entry(r.message_id.as_str()).or_default() += 1;
    }
    assert_eq!(got.len(), expected, "{per_id:?}");
    assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");
    let ids = a.outbox_ids("review_request").await;
    assert_eq!(ids.len(), expected);
    for id in &ids {
        assert!(
            per_id.contains_key(format!("<{id}@charte>").as_str()),
            "{id}"
        );
    }
    let counts = a.store.mail_counts().await.unwrap();
    assert_eq!(
        (counts.queued, counts.sent, counts.dead),
        (0, expected as u64, 0)
    );
}

#[tokio::test]
async fn without_smtp_the_service_writes_emails_to_the_folder_it_names_at_start_up() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let data = TempDir::new().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_charte"))
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path())
        .env_remove("CHARTE_SMTP_URL")
        .env_remove("CHARTE_MAIL_DIR")
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mail_dir = data.path().join("mail");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut named = false;
    let mut listening = false;
    while !(named && listening) {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("start-up log");
        named |= line.contains("les courriels sont écrits dans")
            && line.contains(&mail_dir.display().to_string());
        listening |= line.contains("charte à l'écoute");
    }

    let secret = std::fs::read_to_string(data.path().join("dev-jwt-secret")).unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
    let token = dev_token(
        secret.trim().as_bytes(),
        &Claims {
            sub: "agent".into(),
            iss: DEV_ISSUER.into(),
            aud: DEV_AUDIENCE.into(),
            exp: now + 600,
            iat: now,
            name: Some("Agent".into()),
            role: "authority_agent".into(),
            authority: Some(REGION.into()),
            uai: vec![],
            academie: None,
            arbitrator: None,
        },
    )
    .unwrap();
    let today = OffsetDateTime::now_utc();
    let fmt = &time::format_description::well_known::Rfc3339;
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/messages"))
        .bearer_auth(token)
        .json(&json!({
            "title": "Restauration scolaire : nouveaux tarifs",
            "body": "<p>Les tarifs changent au <strong>1er janvier</strong>.</p>",
            "kind": "one_off",
            "audience": ["families"],
            "targets": [FABERT, KLEBER],
            "publish_at": (today + time::Duration::days(7)).format(fmt).unwrap(),
            "display_until": (today + time::Duration::days(40)).format(fmt).unwrap(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    let deadline = Instant::now() + WAIT;
    let files = loop {
        let files: Vec<_> = std::fs::read_dir(&mail_dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if files.len() >= 2 || Instant::now() > deadline {
            break files;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(files.len(), 2, "{files:?}");
    let raw: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for head in [HEAD_FABERT, HEAD_KLEBER] {
        let (path, eml) = files
            .iter()
            .zip(&raw)
            .find(|(_, r)| r.contains(&format!("To: {head}")))
            .unwrap_or_else(|| panic!("no .eml to {head}: {raw:?}"));
        let id = path.file_stem().unwrap().to_str().unwrap();
        assert!(
            charte::mail::has_header(eml, "Message-ID", &format!("<{id}@charte>")),
            "{eml}"
        );
        assert!(eml.contains("multipart/alternative"), "{eml}");
    }
}
