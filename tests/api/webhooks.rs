//! Webhooks as a receiver sees them: a real receiver (tests/support/webhook_receiver.py) checks
//! every signature with the `standardwebhooks` package, an implementation independent of ours.

use std::time::Duration;

use charte::webhooks::WebhookSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::webhook_receiver::{Delivered, WebhookReceiver};
use crate::helpers::*;

/// Retries a second apart (the test moves the app's clock past them).
fn quick_retries(retries: usize) -> WebhookSettings {
    WebhookSettings {
        schedule: vec![Duration::from_secs(1); retries],
        poll: Duration::from_millis(100),
        ..Default::default()
    }
}

async fn app_delivering_to_loopback(retries: usize) -> TestApp {
    TestApp::builder()
        .webhooks(quick_retries(retries))
        .webhook_allow_hosts(&["127.0.0.1"])
        .spawn()
        .await
}

/// Subscribes `receiver` with `token`, tells it the secret, and returns the subscription.
async fn subscribe(app: &TestApp, token: &str, receiver: &WebhookReceiver, extra: Value) -> Value {
    let mut body = json!({ "url": receiver.url() });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let res = app.post("/v1/admin/webhooks", token, body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let secret = res.body["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.trust(&[&secret]);
    res.body
}

fn kinds(delivered: &[Delivered]) -> Vec<String> {
    delivered
        .iter()
        .map(|d| {
            let decision = d.body["data"]["decision"].as_str().map(|s| format!(":{s}"));
            let uai = d.body["data"]["uai"].as_str().map(|s| format!("@{s}"));
            format!(
                "{}{}{}",
                d.kind(),
                decision.unwrap_or_default(),
                uai.unwrap_or_default()
            )
        })
        .collect()
}

/// A one-off message on display as soon as it is approved.
fn live_at_once(targets: &[&str]) -> Value {
    let mut m = one_off(targets);
    m["publish_at"] = json!("2026-11-23T08:00:00+01:00");
    m
}

async fn deliveries(app: &TestApp, hook: &Value) -> Vec<Value> {
    let id = hook["id"].as_str().unwrap();
    let res = app
        .get(
            &format!("/v1/admin/webhooks/{id}/deliveries?limit=200"),
            &app.admin(),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_whole_workflow_reaches_the_receiver_once_in_order_and_signed() {
    let app = app_delivering_to_loopback(3).await;
    let receiver = WebhookReceiver::start();
    let hook = subscribe(&app, &app.admin(), &receiver, json!({})).await;
    assert_eq!(hook["scope"], json!({ "kind": "all" }));
    assert_eq!(hook["events"].as_array().unwrap().len(), 8);

    let agent = app.agent(REGION);
    let message = app
        .submit(&agent, live_at_once(&[LYCEE_FABERT, LYCEE_AGRICOLE]))
        .await;
    let id = message["id"].as_str().unwrap().to_owned();
    let fabert = app.review_of(&message, LYCEE_FABERT).await;
    let agricole = app.review_of(&message, LYCEE_AGRICOLE).await;
    assert_eq!(
        app.approve(&fabert, LYCEE_FABERT).await.status,
        StatusCode::OK
    );
    let res = app
        .request_rectification(&agricole, LYCEE_AGRICOLE, "Le lieu de l'atelier manque.")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .escalate(
            &agricole,
            REGION,
            "Le lieu est donné dans la brochure jointe.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .decide(
            &agricole,
            "draaf:44",
            "authorise",
            "Le lieu figure bien dans la brochure.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .post(
            &format!("/v1/messages/{id}/withdraw"),
            &agent,
            json!({ "motive": "Ligne supprimée." }),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let expected = [
        format!("review.opened@{LYCEE_FABERT}"),
        format!("review.opened@{LYCEE_AGRICOLE}"),
        format!("review.decided:approved@{LYCEE_FABERT}"),
        format!("publication.started@{LYCEE_FABERT}"),
        format!("review.decided:rectification_requested@{LYCEE_AGRICOLE}"),
        format!("dispute.opened@{LYCEE_AGRICOLE}"),
        format!("review.decided:authorised@{LYCEE_AGRICOLE}"),
        format!("dispute.decided:authorised@{LYCEE_AGRICOLE}"),
        format!("publication.started@{LYCEE_AGRICOLE}"),
        "message.withdrawn".to_owned(),
        format!("publication.ended@{LYCEE_FABERT}"),
        format!("publication.ended@{LYCEE_AGRICOLE}"),
    ];
    let got = receiver
        .wait_for(expected.len(), Duration::from_secs(20))
        .await;
    // Nothing more comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = receiver.accepted();
    assert_eq!(got_all.len(), got.len(), "{:?}", kinds(&got_all));
    assert_eq!(kinds(&got), expected);
    let mut ids: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "each event delivered once");
    for d in &got {
        assert_eq!(
            d.verified,
            [0],
            "signature checked by standardwebhooks: {d:?}"
        );
        assert_eq!(d.body["data"]["message_id"], json!(id));
        assert_eq!(d.body["data"]["authority_id"], json!(REGION));
        assert!(
            d.body["timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-23T")
        );
        assert_eq!(
            d.body["data"]["links"]["message"],
            json!(format!("http://widget.test/v1/messages/{id}"))
        );
        let skew =
            time::OffsetDateTime::now_utc().unix_timestamp() - d.timestamp.parse::<i64>().unwrap();
        assert!(skew.abs() < 60, "webhook-timestamp is real time");
    }
    assert_eq!(got[2].body["data"]["review_id"], json!(fabert));
    assert_eq!(
        got[3].body["data"]["links"]["feed"],
        json!(format!("http://widget.test/v1/schools/{LYCEE_FABERT}/feed"))
    );
    let until = time::OffsetDateTime::parse(
        got[3].body["data"]["display_until"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(until, time::macros::datetime!(2026-12-31 18:00 +01:00));

    // The subscription's deliveries say the same, newest first.
    let listed = deliveries(&app, &hook).await;
    assert_eq!(listed.len(), expected.len());
    assert!(
        listed
            .iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1)
    );
    assert_eq!(listed[0]["type"], "publication.ended");
    assert_eq!(listed.last().unwrap()["event_id"], json!(got[0].id));
    // What the listing shows of a delivery is the body the receiver got.
    assert_eq!(listed.last().unwrap()["payload"], got[0].body);
    assert_eq!(listed[0]["payload"], got.last().unwrap().body);
}

#[tokio::test]
async fn a_receiver_that_fails_or_is_down_loses_nothing_and_gets_each_event_once_in_order() {
    let app = app_delivering_to_loopback(8).await;
    let mut receiver = WebhookReceiver::start();
    let hook = subscribe(
        &app,
        &app.admin(),
        &receiver,
        json!({ "events": ["review.opened"] }),
    )
    .await;
    // Two 500s, the second with a Retry-After of 3 seconds.
    receiver.refuse_next(500, 1, None);
    let agent = app.agent(REGION);
    app.submit(&agent, one_off(&[LYCEE_FABERT])).await;
    // The first attempt fails; its retry waits for the schedule, on the app's clock.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while receiver.requests().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no first attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.requests().len(), 1, "no retry before its time");
    let listed = deliveries(&app, &hook).await;
    assert_eq!(listed[0]["state"], "queued");
    assert_eq!(listed[0]["last_status"], 500);
    assert_eq!(listed[0]["last_error"], "le destinataire a répondu 500");
    receiver.refuse_next(503, 1, Some(3));
    app.clock.set(app.clock_now() + time::Duration::seconds(2));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while receiver.requests().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no second attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Retry-After (3 s) is longer than the schedule's second: it is what counts.
    app.clock.set(app.clock_now() + time::Duration::seconds(2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.requests().len(), 2, "Retry-After honoured");

    // Down: more events queue behind the first.
    receiver.kill();
    app.submit(&agent, one_off(&[LYCEE_KLEBER])).await;
    app.submit(&agent, one_off(&[LYCEE_AGRICOLE])).await;
    for _ in 0..3 {
        app.clock.set(app.clock_now() + time::Duration::seconds(2));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    receiver.restart();
    app.clock.set(app.clock_now() + time::Duration::seconds(2));
    let got = receiver.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(
        kinds(&got),
        [
            format!("review.opened@{LYCEE_FABERT}"),
            format!("review.opened@{LYCEE_KLEBER}"),
            format!("review.opened@{LYCEE_AGRICOLE}"),
        ]
    );
    assert!(got.iter().all(|d| d.verified == [0]));
    let listed = deliveries(&app, &hook).await;
    assert!(
        listed.iter().all(|d| d["state"] == "delivered"),
        "{listed:#?}"
    );
    let first = listed.last().unwrap();
    assert!(first["attempts"].as_u64().unwrap() >= 3, "{first}");
    // Every attempt of one event carries the same webhook-id.
    let first_id = first["event_id"].as_str().unwrap();
    let answers: Vec<Option<u16>> = receiver
        .requests()
        .iter()
        .filter(|d| d.id == first_id)
        .map(|d| d.refused)
        .collect();
    assert_eq!(answers, [Some(500), Some(503), None]);
}

#[tokio::test]
async fn gone_disables_the_subscription_and_a_dead_delivery_is_replayed_on_request() {
    let app = app_delivering_to_loopback(1).await;
    let receiver = WebhookReceiver::start();
    let gone = WebhookReceiver::start();
    let admin = app.admin();
    let hook = subscribe(
        &app,
        &admin,
        &receiver,
        json!({ "events": ["review.opened"] }),
    )
    .await;
    let gone_hook = subscribe(&app, &admin, &gone, json!({ "events": ["review.opened"] })).await;
    gone.refuse_next(410, 1, None);
    receiver.refuse_next(500, 2, None);
    app.submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    // One retry in the schedule: two attempts, then a dead letter.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        app.clock.set(app.clock_now() + time::Duration::seconds(2));
        let listed = deliveries(&app, &hook).await;
        if listed.first().is_some_and(|d| d["state"] == "dead") {
            assert_eq!(listed[0]["attempts"], 2);
            assert_eq!(listed[0]["last_status"], 500);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{listed:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 410: the subscription is disabled, said in French.
    let gone_id = gone_hook["id"].as_str().unwrap();
    let res = app
        .get(&format!("/v1/admin/webhooks/{gone_id}"), &admin)
        .await;
    assert!(
        res.body["disabled"]["reason"]
            .as_str()
            .unwrap()
            .contains("410 Gone"),
        "{}",
        res.body
    );
    app.submit(&app.agent(REGION), one_off(&[LYCEE_KLEBER]))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gone.requests().len(), 1, "nothing after 410");

    // The dead delivery, replayed: delivered, once.
    let id = hook["id"].as_str().unwrap();
    let listed = deliveries(&app, &hook).await;
    let dead = listed
        .iter()
        .find(|d| d["state"] == "dead")
        .unwrap()
        .clone();
    let dead_id = dead["id"].as_str().unwrap();
    let retry = format!("/v1/admin/webhooks/{id}/deliveries/{dead_id}/retry");
    let res = app.post(&retry, &admin, json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["state"], "queued");
    assert_eq!(res.body["attempts"], 0);
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(
        got.iter()
            .any(|d| d.id == dead["event_id"].as_str().unwrap())
    );
    let res = app.post(&retry, &admin, json!({})).await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(res.detail().contains("déjà été reçue"), "{}", res.detail());
    let res = app
        .post(
            &format!("/v1/admin/webhooks/{id}/deliveries/nope/retry"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_during_the_overlap() {
    let app = app_delivering_to_loopback(3).await;
    let receiver = WebhookReceiver::start();
    let hook = subscribe(
        &app,
        &app.admin(),
        &receiver,
        json!({ "events": ["review.opened"] }),
    )
    .await;
    let old = hook["secret"].as_str().unwrap().to_owned();
    let id = hook["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/v1/admin/webhooks/{id}/rotate-secret"),
            &app.admin(),
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let new = res.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        res.body["previous_secret_expires_at"],
        json!("2026-11-24T09:00:00+01:00")
    );
    receiver.trust(&[&old, &new]);
    app.submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        got[0].verified,
        [0, 1],
        "both secrets sign: {}",
        got[0].signature
    );
    assert_eq!(got[0].signature.split(' ').count(), 2);
    // A receiver that trusts only a secret it was never given refuses the signature.
    receiver.trust(&["whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCBhdCBhbGwh"]);
    app.submit(&app.agent(REGION), one_off(&[LYCEE_KLEBER]))
        .await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(got[1].verified.is_empty());
}

#[tokio::test]
async fn each_owner_subscribes_within_their_reach_and_private_addresses_need_the_allow_list() {
    let app = app_delivering_to_loopback(1).await;
    let receiver = WebhookReceiver::start();
    // The ENT, by default for its own schools; the authority for its messages.
    let ent = app.ent(LYCEE_FABERT);
    let ent_hook = subscribe(&app, &ent, &receiver, json!({})).await;
    assert_eq!(
        ent_hook["scope"],
        json!({ "kind": "schools", "uais": [LYCEE_FABERT] })
    );
    let agent = app.agent(REGION);
    let region_hook = subscribe(
        &app,
        &agent,
        &receiver,
        json!({ "events": ["review.decided"] }),
    )
    .await;
    assert_eq!(
        region_hook["scope"],
        json!({ "kind": "authority", "authority_id": REGION })
    );
    let res = app
        .post(
            "/v1/admin/webhooks",
            &ent,
            json!({ "url": receiver.url(), "scope": { "kind": "schools", "uais": [LYCEE_KLEBER] } }),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    let res = app
        .post(
            "/v1/admin/webhooks",
            &agent,
            json!({ "url": receiver.url(), "scope": { "kind": "all" } }),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = app
        .post(
            "/v1/admin/webhooks",
            &app.head(LYCEE_FABERT),
            json!({ "url": receiver.url() }),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.detail().contains("webhooks"), "{}", res.detail());

    // Each sees only their own; someone else's is not found.
    let listed = app.get("/v1/admin/webhooks", &ent).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let region_id = region_hook["id"].as_str().unwrap();
    let res = app
        .get(&format!("/v1/admin/webhooks/{region_id}"), &ent)
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let all = app.get("/v1/admin/webhooks", &app.admin()).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);

    // Bad input: each field named, in French.
    let res = app
        .post(
            "/v1/admin/webhooks",
            &agent,
            json!({ "url": "ftp://ent.example/hook", "events": ["review.opened", "review.closed"] }),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    let fields: Vec<&str> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["events[1]", "url"]);

    // Only schools' events reach the ENT, only its authority's decisions reach the Région.
    app.submit(&agent, one_off(&[LYCEE_KLEBER])).await;
    let message = app.submit(&agent, one_off(&[LYCEE_FABERT])).await;
    let review = app.review_of(&message, LYCEE_FABERT).await;
    app.approve(&review, LYCEE_FABERT).await;
    receiver.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = kinds(&receiver.accepted());
    got.sort();
    assert_eq!(
        got,
        [
            format!("review.decided:approved@{LYCEE_FABERT}"),
            format!("review.decided:approved@{LYCEE_FABERT}"),
            format!("review.opened@{LYCEE_FABERT}"),
        ]
    );

    // Deleted: nothing more.
    let ent_id = ent_hook["id"].as_str().unwrap();
    let res = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/admin/webhooks/{ent_id}"),
            Some(&ent),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let res = app.get(&format!("/v1/admin/webhooks/{ent_id}"), &ent).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn loopback_and_private_destinations_are_refused_without_the_allow_list() {
    let app = TestApp::spawn().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest",
    ] {
        let res = app
            .post("/v1/admin/webhooks", &app.admin(), json!({ "url": url }))
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            res.body
        );
        assert_eq!(res.body["errors"][0]["field"], "url");
        let message = res.body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("--webhook-allow-hosts"),
            "{url}: {message}"
        );
    }
    // A host that does not resolve is named, in French.
    let res = app
        .post(
            "/v1/admin/webhooks",
            &app.admin(),
            json!({ "url": "https://ent.nulle-part.invalid/hook" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert_eq!(
        res.body["errors"][0]["message"],
        "L'hôte « ent.nulle-part.invalid » est introuvable (DNS) : vérifiez l'adresse."
    );
}

#[tokio::test]
async fn two_replicas_on_one_redis_deliver_each_event_once() {
    let redis = crate::common::redis_server::RedisServer::start();
    let replica = || async {
        let store = charte::store::redis::RedisStore::connect(&redis.url(), "replicas")
            .await
            .expect("redis");
        charte::server::load_demo_if_first_run(&store)
            .await
            .expect("demo");
        let settings = WebhookSettings {
            lease: Duration::from_secs(2),
            ..quick_retries(3)
        };
        TestApp::builder()
            .store(std::sync::Arc::new(store))
            .webhooks(settings)
            .webhook_allow_hosts(&["127.0.0.1"])
            .spawn()
            .await
    };
    let a = replica().await;
    let b = replica().await;
    let receiver = WebhookReceiver::start();
    subscribe(
        &a,
        &a.admin(),
        &receiver,
        json!({ "events": ["review.opened"] }),
    )
    .await;
    let targets = [LYCEE_FABERT, LYCEE_KLEBER, LYCEE_AGRICOLE];
    for round in 0..4 {
        for (n, uai) in targets.iter().enumerate() {
            let app = if (round + n) % 2 == 0 { &a } else { &b };
            app.submit(&app.agent(REGION), one_off(&[uai])).await;
        }
    }
    let got = receiver.wait_for(12, Duration::from_secs(20)).await;
    // Both replicas' workers run; one holds the lease and delivers, the other waits.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_all = receiver.accepted();
    assert_eq!(got_all.len(), 12, "{:?}", kinds(&got_all));
    let mut ids: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "no event twice");
    assert!(got.iter().all(|d| d.verified == [0]));

    // One replica stops (whichever held the lease): the other delivers what follows.
    a.stop().await;
    b.submit(&b.agent(REGION), one_off(&[LYCEE_FABERT])).await;
    let got = receiver.wait_for(13, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 13);
}

#[tokio::test]
async fn a_display_is_announced_when_it_starts_and_when_it_ends_unless_withdrawn_first() {
    let app = app_delivering_to_loopback(3).await;
    let receiver = WebhookReceiver::start();
    subscribe(
        &app,
        &app.ent(LYCEE_FABERT),
        &receiver,
        json!({ "events": ["publication.started", "publication.ended"] }),
    )
    .await;
    let agent = app.agent(REGION);
    // On display from Monday 30 November 08:00 to 31 December 18:00; approved a week before.
    let message = app.submit(&agent, one_off(&[LYCEE_FABERT])).await;
    let review = app.review_of(&message, LYCEE_FABERT).await;
    assert_eq!(
        app.approve(&review, LYCEE_FABERT).await.status,
        StatusCode::OK
    );
    // Another, withdrawn before its display starts: never announced.
    let withdrawn = app.submit(&agent, one_off(&[LYCEE_FABERT])).await;
    let other = app.review_of(&withdrawn, LYCEE_FABERT).await;
    assert_eq!(
        app.approve(&other, LYCEE_FABERT).await.status,
        StatusCode::OK
    );
    let res = app
        .post(
            &format!(
                "/v1/messages/{}/withdraw",
                withdrawn["id"].as_str().unwrap()
            ),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.requests().is_empty(), "nothing on display yet");

    app.clock
        .set(time::macros::datetime!(2026-11-30 08:00 +01:00));
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(kinds(&got), [format!("publication.started@{LYCEE_FABERT}")]);
    assert_eq!(got[0].body["data"]["message_id"], message["id"]);
    let at = time::OffsetDateTime::parse(
        got[0].body["timestamp"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(at, time::macros::datetime!(2026-11-30 08:00 +01:00));

    app.clock
        .set(time::macros::datetime!(2026-12-31 18:00 +01:00));
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        kinds(&got),
        [
            format!("publication.started@{LYCEE_FABERT}"),
            format!("publication.ended@{LYCEE_FABERT}"),
        ]
    );
    assert_eq!(got[1].body["data"]["message_id"], message["id"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.accepted().len(), 2, "the withdrawn one never came");
}

#[tokio::test]
async fn an_emergency_and_a_tacit_approval_are_told_like_any_transition() {
    let app = app_delivering_to_loopback(3).await;
    let receiver = WebhookReceiver::start();
    subscribe(&app, &app.admin(), &receiver, json!({})).await;
    // An emergency publishes at once at both schools.
    let agent = app.agent("departement-moselle");
    let mut body = one_off(&[COLLEGE_JEAN_MOULIN, "0570095U"]);
    body["kind"] = json!("emergency");
    body["title"] = json!("Transports scolaires suspendus demain");
    body["publish_at"] = json!("2026-11-23T09:00:00+01:00");
    body["emergency"] = json!({"category": "weather", "justification": "Vigilance orange neige et verglas : circulation des cars interdite par arrêté préfectoral."});
    let emergency = app.submit(&agent, body).await;
    let got = receiver.wait_for(5, Duration::from_secs(10)).await;
    let mut told = kinds(&got);
    told.sort();
    assert_eq!(
        told,
        [
            "emergency.published".to_owned(),
            format!("publication.started@{COLLEGE_JEAN_MOULIN}"),
            "publication.started@0570095U".to_owned(),
            format!("review.opened@{COLLEGE_JEAN_MOULIN}"),
            "review.opened@0570095U".to_owned(),
        ]
    );
    assert!(
        got.iter()
            .all(|d| d.body["data"]["message_id"] == emergency["id"])
    );

    // A review left unanswered past its deadline: tacitly approved, and told so.
    let message = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_KLEBER]))
        .await;
    let review = app.review_of(&message, LYCEE_KLEBER).await;
    app.advance_to(time::macros::datetime!(2026-11-27 00:00 +01:00))
        .await;
    let got = receiver.wait_for(7, Duration::from_secs(10)).await;
    let last = &got[6];
    assert_eq!(last.kind(), "review.decided");
    assert_eq!(last.body["data"]["decision"], "tacitly_approved");
    assert_eq!(last.body["data"]["review_id"], json!(review));
    assert!(got.iter().all(|d| d.verified == [0]));
}

#[tokio::test]
async fn a_receiver_that_never_answers_holds_up_only_its_own_events() {
    let app = TestApp::builder()
        .webhooks(WebhookSettings {
            timeout: Duration::from_secs(5),
            ..quick_retries(3)
        })
        .webhook_allow_hosts(&["127.0.0.1"])
        .spawn()
        .await;
    // A receiver that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let res = app
        .post(
            "/v1/admin/webhooks",
            &app.admin(),
            json!({ "url": silent_url }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let receiver = WebhookReceiver::start();
    subscribe(
        &app,
        &app.admin(),
        &receiver,
        json!({ "events": ["review.opened"] }),
    )
    .await;
    let started = std::time::Instant::now();
    app.submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    app.submit(&app.agent(REGION), one_off(&[LYCEE_KLEBER]))
        .await;
    receiver.wait_for(2, Duration::from_secs(4)).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the other receiver waited for the silent one"
    );
    // The silent one's attempt times out and is recorded as a failure, in French.
    let id = res.body["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let listed = app
            .get(&format!("/v1/admin/webhooks/{id}/deliveries"), &app.admin())
            .await;
        let first = listed.body["items"].as_array().unwrap().last().cloned();
        if let Some(d) = first.filter(|d| d["attempts"] == 1) {
            assert_eq!(d["state"], "queued");
            assert_eq!(d["last_error"], "pas de réponse en 5 s");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", listed.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    held.abort();
}
