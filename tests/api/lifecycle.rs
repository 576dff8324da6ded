//! Flows beyond the basic ones: evaluation co-production, withdrawal, pagination, the feed's
//! ETag, and the directory and deadline look-ups.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::macros::datetime;

use crate::helpers::*;

fn items(res: &Res) -> Vec<Value> {
    res.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no items in {}", res.body))
}

fn evaluation(targets: &[&str]) -> Value {
    let mut v = recurring(targets);
    v["purpose"] = json!("evaluation");
    v["title"] = json!("Enquête : satisfaction des familles sur la restauration");
    v
}

/// Emails in the outbox about one message.
async fn emails_about(app: &TestApp, message_id: &str) -> Vec<Value> {
    app.outbox()
        .await
        .into_iter()
        .filter(|e| e["message_id"] == message_id)
        .collect()
}

fn recipients(email: &Value) -> Vec<String> {
    email["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Evaluation: co-validated by academic services before heads review it.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_evaluation_message_awaits_both_academies_before_any_review() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent(REGION),
            evaluation(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;
    assert_eq!(m["purpose"], "evaluation");
    assert_eq!(m["status"], "awaiting_coproduction", "{m}");
    assert_eq!(m["summary"], json!({}), "{m}");
    assert_eq!(m["coproduction"]["awaiting"], json!(["12", "15"]), "{m}");
    for uai in [LYCEE_FABERT, LYCEE_KLEBER] {
        let res = app.get("/v1/reviews", &app.head(uai)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(items(&res).is_empty(), "{}", res.body);
    }
    // Each académie's services were asked to co-validate; no head was asked anything yet.
    let emails = emails_about(&app, m["id"].as_str().unwrap()).await;
    let kinds: BTreeSet<&str> = emails.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["coproduction_request"]),
        "{emails:?}"
    );
    let to: BTreeSet<String> = emails.iter().flat_map(recipients).collect();
    assert_eq!(
        to,
        BTreeSet::from([
            "dane@ac-nancy-metz.fr".to_owned(),
            "dane@ac-strasbourg.fr".to_owned()
        ])
    );
}

#[tokio::test]
async fn co_validation_by_one_academie_opens_the_review_of_its_schools_only() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent(REGION),
            evaluation(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    let res = app
        .call(
            Method::POST,
            &format!("/v1/messages/{id}/coproduction"),
            Some(&app.academic("12")),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let view = app
        .get(&format!("/v1/messages/{id}"), &app.agent(REGION))
        .await
        .body;
    let reviews = &app.reviews_of(&view, None).await;
    assert_eq!(reviews.len(), 1, "{view}");
    assert_eq!(reviews[0]["uai"], LYCEE_FABERT);
    assert_eq!(reviews[0]["state"], "pending");
    assert_eq!(view["coproduction"]["awaiting"], json!(["15"]), "{view}");
    assert_eq!(
        view["coproduction"]["validated"][0]["academie_code"], "12",
        "{view}"
    );
    assert_eq!(view["status"], "in_review", "{view}");

    let fabert = app.get("/v1/reviews", &app.head(LYCEE_FABERT)).await;
    assert_eq!(items(&fabert).len(), 1, "{}", fabert.body);
    let kleber = app.get("/v1/reviews", &app.head(LYCEE_KLEBER)).await;
    assert!(items(&kleber).is_empty(), "{}", kleber.body);
}

#[tokio::test]
async fn an_academie_cannot_co_validate_twice() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent(REGION),
            evaluation(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;
    let path = format!("/v1/messages/{}/coproduction", m["id"].as_str().unwrap());
    let first = app
        .call(Method::POST, &path, Some(&app.academic("12")), None)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = app
        .call(Method::POST, &path, Some(&app.academic("12")), None)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.content_type().starts_with("application/problem+json"));
    assert!(
        again.detail().contains("déjà co-validé"),
        "{}",
        again.detail()
    );
    // Still a single review for Fabert.
    let fabert = app.get("/v1/reviews", &app.head(LYCEE_FABERT)).await;
    assert_eq!(items(&fabert).len(), 1, "{}", fabert.body);
}

#[tokio::test]
async fn co_validation_emails_the_head_the_content_to_review() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent(REGION),
            evaluation(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    let res = app
        .call(
            Method::POST,
            &format!("/v1/messages/{id}/coproduction"),
            Some(&app.academic("12")),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let requests: Vec<Value> = emails_about(&app, id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "review_request")
        .collect();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        recipients(&requests[0]),
        vec!["ce.0570054Z@ac-nancy-metz.fr"]
    );
    let subject = requests[0]["subject"].as_str().unwrap();
    assert!(subject.contains("À examiner avant le"), "{subject}");
    assert!(
        subject.contains("Enquête : satisfaction des familles"),
        "{subject}"
    );
    assert_eq!(
        requests[0]["review_id"],
        app.review_of(&res.body, LYCEE_FABERT).await
    );
}

#[tokio::test]
async fn academic_services_of_an_academie_not_targeted_cannot_co_validate() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent(REGION),
            evaluation(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    let res = app
        .call(
            Method::POST,
            &format!("/v1/messages/{id}/coproduction"),
            Some(&app.academic("19")),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    assert!(res.content_type().starts_with("application/problem+json"));
    let view = app
        .get(&format!("/v1/messages/{id}"), &app.agent(REGION))
        .await
        .body;
    assert_eq!(
        view["coproduction"]["awaiting"],
        json!(["12", "15"]),
        "{view}"
    );
}

// ---------------------------------------------------------------------------------------------
// Withdrawal.
// ---------------------------------------------------------------------------------------------

/// A message to Fabert and Kléber, approved at Fabert, on display from Monday 30 November 09:00.
async fn published_at_fabert(app: &TestApp) -> String {
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let res = app.approve(&review, LYCEE_FABERT).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    app.advance_to(datetime!(2026-11-30 09:00 +01:00)).await;
    m["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_approved_message_is_in_the_feed_once_its_publication_time_has_passed() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    app.approve(&review, LYCEE_FABERT).await;
    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    assert!(
        items(&feed).is_empty(),
        "not before publish_at: {}",
        feed.body
    );
    app.advance_to(datetime!(2026-11-30 09:00 +01:00)).await;
    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    let it = items(&feed);
    assert_eq!(it.len(), 1, "{}", feed.body);
    assert_eq!(it[0]["message_id"], m["id"]);
    assert_eq!(it[0]["title"], "Transports scolaires : nouvelle ligne 12");
    assert_eq!(it[0]["live_from"], "2026-11-30T08:00:00+01:00");
}

#[tokio::test]
async fn withdrawing_a_published_message_ends_every_review_and_empties_the_feed() {
    let app = TestApp::spawn().await;
    let id = published_at_fabert(&app).await;
    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    assert_eq!(items(&feed).len(), 1, "{}", feed.body);

    let res = app
        .post(
            &format!("/v1/messages/{id}/withdraw"),
            &app.agent(REGION),
            json!({"motive": "La ligne 12 est reportée à janvier."}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["status"], "withdrawn", "{}", res.body);
    assert_eq!(
        res.body["withdrawn"]["motive"],
        "La ligne 12 est reportée à janvier."
    );
    let reviews = &app.reviews_of(&res.body, None).await;
    assert_eq!(reviews.len(), 2, "{}", res.body);
    assert!(
        reviews.iter().all(|r| r["state"] == "withdrawn"),
        "{}",
        res.body
    );

    for uai in [LYCEE_FABERT, LYCEE_KLEBER] {
        let feed = app
            .get(&format!("/v1/schools/{uai}/feed"), &app.ent(uai))
            .await;
        assert!(items(&feed).is_empty(), "{uai}: {}", feed.body);
    }
}

#[tokio::test]
async fn withdrawing_a_message_emails_each_head() {
    let app = TestApp::spawn().await;
    let id = published_at_fabert(&app).await;
    let res = app
        .post(
            &format!("/v1/messages/{id}/withdraw"),
            &app.agent(REGION),
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let notices: Vec<Value> = emails_about(&app, &id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "withdrawn")
        .collect();
    let to: BTreeSet<String> = notices.iter().flat_map(recipients).collect();
    assert_eq!(
        to,
        BTreeSet::from([
            "ce.0570054Z@ac-nancy-metz.fr".to_owned(),
            "ce.0670080Y@ac-strasbourg.fr".to_owned()
        ]),
        "{notices:?}"
    );
    assert_eq!(notices.len(), 2);
    assert!(notices.iter().all(|e| {
        e["subject"]
            .as_str()
            .unwrap()
            .contains("Communication retirée")
    }));
}

#[tokio::test]
async fn a_message_cannot_be_withdrawn_twice() {
    let app = TestApp::spawn().await;
    let id = published_at_fabert(&app).await;
    let first = app
        .post(
            &format!("/v1/messages/{id}/withdraw"),
            &app.agent(REGION),
            json!({}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = app
        .post(
            &format!("/v1/messages/{id}/withdraw"),
            &app.agent(REGION),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.content_type().starts_with("application/problem+json"));
    assert!(
        again
            .detail()
            .contains("déjà été retirée le lundi 30 novembre 2026 à"),
        "{}",
        again.detail()
    );
}

#[tokio::test]
async fn a_withdrawn_message_cannot_receive_a_new_version() {
    let app = TestApp::spawn().await;
    let id = published_at_fabert(&app).await;
    app.post(
        &format!("/v1/messages/{id}/withdraw"),
        &app.agent(REGION),
        json!({}),
    )
    .await;
    let mut v = one_off(&[LYCEE_FABERT]);
    v["publish_at"] = json!("2026-12-07T08:00:00+01:00");
    v["change_note"] = json!("Nouvelle date");
    v.as_object_mut().unwrap().remove("targets");
    let res = app
        .post(
            &format!("/v1/messages/{id}/versions"),
            &app.agent(REGION),
            v,
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(res.detail().contains("retirée"), "{}", res.detail());
    let view = app
        .get(&format!("/v1/messages/{id}"), &app.agent(REGION))
        .await
        .body;
    assert_eq!(view["versions"], 1);
}

// ---------------------------------------------------------------------------------------------
// Pagination.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn messages_come_in_pages_that_follow_the_cursor_without_duplicates() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let mut submitted = BTreeSet::new();
    for targets in [
        &[LYCEE_FABERT][..],
        &[LYCEE_KLEBER],
        &[LYCEE_FABERT, LYCEE_KLEBER],
    ] {
        submitted.insert(
            app.submit(&agent, one_off(targets)).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let first = app.get("/v1/messages?limit=2", &agent).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(items(&first).len(), 2);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
    let second = app
        .get(&format!("/v1/messages?limit=2&cursor={cursor}"), &agent)
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(items(&second).len(), 1);
    assert!(second.body["next_cursor"].is_null(), "{}", second.body);
    let seen: Vec<String> = items(&first)
        .iter()
        .chain(items(&second).iter())
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), submitted);
}

#[tokio::test]
async fn a_listed_message_carries_its_summary_and_its_reviews_are_paged_and_filtered_apart() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let m = app
        .submit(&agent, one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
        .await;
    let id = m["id"].as_str().unwrap();
    let fabert = app.review_of(&m, LYCEE_FABERT).await;
    let res = app.approve(&fabert, LYCEE_FABERT).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let list = app.get("/v1/messages", &agent).await;
    let item = &items(&list)[0];
    assert_eq!(
        item["summary"],
        json!({"approved": 1, "pending": 1}),
        "{item}"
    );
    assert_eq!(item["next_deadline"], "2026-11-27T00:00:00+01:00");
    assert!(
        item.get("reviews").is_none(),
        "no review list in a list: {item}"
    );

    let pending = app
        .get(&format!("/v1/messages/{id}/reviews?state=pending"), &agent)
        .await;
    assert_eq!(pending.status, StatusCode::OK, "{}", pending.body);
    let uais: Vec<Value> = items(&pending).iter().map(|r| r["uai"].clone()).collect();
    assert_eq!(uais, [LYCEE_KLEBER]);

    let res = app
        .get(
            &format!("/v1/messages/{id}/reviews?state=approuvee"),
            &agent,
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.detail().contains("approuvee") && res.detail().contains("pending"),
        "{}",
        res.body
    );
    assert_eq!(fields(&res), ["state"], "{}", res.body);

    // Another authority does not learn that the message exists.
    let res = app
        .get(
            &format!("/v1/messages/{id}/reviews"),
            &app.agent("departement-moselle"),
        )
        .await;
    assert_problem(&res, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_heads_inbox_walks_page_by_page_soonest_deadline_first() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    // Monday 09:00: a recurring one (5 days, ends Saturday 28 → runs on to Monday 30) and a one-off (Thursday 26).
    let recurring_id = app.submit(&agent, recurring(&[LYCEE_FABERT])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let monday_id = app.submit(&agent, one_off(&[LYCEE_FABERT])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Tuesday 10:00: another one-off (Friday 27).
    app.advance_to(datetime!(2026-11-24 10:00 +01:00)).await;
    let tuesday_id = app.submit(&agent, one_off(&[LYCEE_FABERT])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let head = app.head(LYCEE_FABERT);
    let mut walked = Vec::new();
    let mut path = "/v1/reviews?limit=1".to_owned();
    for _ in 0..10 {
        let page = app.get(&path, &head).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let it = items(&page);
        assert_eq!(it.len(), 1, "{}", page.body);
        walked.push((
            it[0]["message_id"].as_str().unwrap().to_owned(),
            it[0]["deadline_last_day"].as_str().unwrap().to_owned(),
        ));
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/reviews?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        walked,
        vec![
            (monday_id, "2026-11-26".to_owned()),
            (tuesday_id, "2026-11-27".to_owned()),
            (recurring_id, "2026-11-30".to_owned()),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The ENT's feed and its ETag.
// ---------------------------------------------------------------------------------------------

async fn feed_with(app: &TestApp, if_none_match: Option<&str>) -> (StatusCode, String, Value) {
    let mut req = app
        .client
        .get(format!("{}/v1/schools/{LYCEE_FABERT}/feed", app.base))
        .bearer_auth(app.ent(LYCEE_FABERT));
    if let Some(t) = if_none_match {
        req = req.header("if-none-match", t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, etag, body)
}

/// A message to Fabert, on display as soon as it is approved, approved by its head.
async fn approve_now(app: &TestApp, title: &str) {
    let mut body = one_off(&[LYCEE_FABERT]);
    body["title"] = json!(title);
    body["publish_at"] = json!("2026-11-23T09:00:00+01:00");
    let m = app.submit(&app.agent(REGION), body).await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let res = app.approve(&review, LYCEE_FABERT).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[tokio::test]
async fn the_feed_answers_304_when_nothing_changed_and_a_new_etag_after_an_approval() {
    let app = TestApp::spawn().await;
    approve_now(&app, "Transports scolaires : nouvelle ligne 12").await;
    let (status, etag, body) = feed_with(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(etag.starts_with('"') && etag.len() > 2, "etag: {etag}");
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");

    let (status, same, body) = feed_with(&app, Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(same, etag);
    assert!(body.is_null(), "a 304 has no body: {body}");

    approve_now(&app, "Cantine : nouveaux horaires").await;
    let (status, changed, body) = feed_with(&app, Some(&etag)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(changed, etag);
    assert_eq!(body["items"].as_array().unwrap().len(), 2, "{body}");
    let (status, _, _) = feed_with(&app, Some(&changed)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn the_feed_changes_its_etag_when_a_publication_starts_and_ends_without_any_write() {
    let app = TestApp::spawn().await;
    // Approved on Monday, on display from the next Monday (publish_at) to 31 December.
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let res = app.approve(&review, LYCEE_FABERT).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let (status, before, body) = feed_with(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"], json!([]), "not on display before its date");
    let (status, _, _) = feed_with(&app, Some(&before)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    app.clock.set(datetime!(2026-11-30 08:00 +01:00));
    let (status, live, body) = feed_with(&app, Some(&before)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the start of display changes the feed"
    );
    assert_ne!(live, before);
    assert_eq!(
        body["items"][0]["live_from"], "2026-11-30T08:00:00+01:00",
        "{body}"
    );
    let (status, _, _) = feed_with(&app, Some(&live)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    app.clock.set(datetime!(2026-12-31 18:00 +01:00));
    let (status, ended, body) = feed_with(&app, Some(&live)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the end of display changes the feed"
    );
    assert_ne!(ended, live);
    assert_ne!(ended, before);
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn data_stored_before_the_feed_index_is_indexed_once_at_start() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    let id = app.review_of(&m, LYCEE_FABERT).await;
    // An approval written as an older version of the service wrote it: no feed entry.
    let mut review = app.store.review(&id).await.unwrap().unwrap();
    review.state = charte::domain::review::ReviewState::Approved;
    review.live_from = Some(datetime!(2026-11-23 09:00 +01:00));
    app.store
        .commit(charte::store::Commit {
            reviews: vec![review],
            ..Default::default()
        })
        .await
        .unwrap();
    let (_, _, body) = feed_with(&app, None).await;
    assert_eq!(body["items"], json!([]));

    assert_eq!(app.charte.index_read_models_once().await.unwrap(), 1);
    let (_, _, body) = feed_with(&app, None).await;
    assert_eq!(body["items"][0]["message_id"], m["id"], "{body}");
    assert_eq!(
        app.charte.index_read_models_once().await.unwrap(),
        0,
        "done once per store"
    );
}

#[tokio::test]
async fn messages_stored_before_the_school_and_academie_timelines_are_listed_after_indexing() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    let id = m["id"].as_str().unwrap();
    // A copy written as an older version of the service wrote it: no académies, no timelines.
    let store = &app.store;
    let mut old = store.message(id).await.unwrap().unwrap();
    old.id = "message-ancien".into();
    old.academies.clear();
    old.revision = 0;
    let mut review = store
        .review(&app.review_of(&m, LYCEE_FABERT).await)
        .await
        .unwrap()
        .unwrap();
    review.id = "revue-ancienne".into();
    review.message_id = old.id.clone();
    review.revision = 0;
    store
        .commit(charte::store::Commit {
            messages: vec![old],
            reviews: vec![review],
            ..Default::default()
        })
        .await
        .unwrap();
    let listed = |token: String| {
        let app = &app;
        async move { ids_of(&every_page(app, "/v1/messages", &token, 50).await) }
    };
    assert_eq!(listed(app.head(LYCEE_FABERT)).await, [id]);
    assert_eq!(listed(app.academic("12")).await, [id]);

    assert_eq!(app.charte.index_read_models_once().await.unwrap(), 2);
    for token in [app.head(LYCEE_FABERT), app.academic("12")] {
        let seen = listed(token).await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen.contains(&"message-ancien".to_owned()));
    }
    assert!(listed(app.academic("15")).await.is_empty());
    let old = store.message("message-ancien").await.unwrap().unwrap();
    assert_eq!(old.academies, ["12"], "its académies kept from now on");
}

#[tokio::test]
async fn a_head_reads_only_their_school_part_of_the_audit_trail_and_it_verifies() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
        .await;
    let id = m["id"].as_str().unwrap();
    // Each head's decision starts that school's chain.
    for uai in [LYCEE_FABERT, LYCEE_KLEBER] {
        let review = app.review_of(&m, uai).await;
        let res = app
            .post(
                &format!("/v1/reviews/{review}/approve"),
                &app.head(uai),
                json!({}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    let res = app
        .get(&format!("/v1/messages/{id}/audit"), &app.head(LYCEE_FABERT))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["verification"]["valid"], true, "{}", res.body);
    assert_eq!(
        res.body["verification"]["chains"], 2,
        "the message's and Fabert's"
    );
    let schools: BTreeSet<&str> = res.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["uai"].as_str())
        .collect();
    assert_eq!(schools, BTreeSet::from([LYCEE_FABERT]), "{}", res.body);
    // The sender reads every chain.
    let res = app
        .get(&format!("/v1/messages/{id}/audit"), &app.agent(REGION))
        .await;
    assert_eq!(res.body["verification"]["chains"], 3, "{}", res.body);
}

// ---------------------------------------------------------------------------------------------
// Directory and deadlines.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_directory_lists_exactly_the_three_moselle_colleges() {
    let app = TestApp::spawn().await;
    let res = app
        .get(
            "/v1/schools?department=57&type=college",
            &app.agent("departement-moselle"),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let uais: Vec<&str> = res.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["uai"].as_str().unwrap())
        .collect();
    assert_eq!(
        uais,
        vec!["0570012D", "0570095U", "0572001R"],
        "{}",
        res.body
    );
    assert!(
        res.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["school_type"] == "college")
    );
}

async fn regions(app: &TestApp) -> Res {
    app.get("/v1/authorities?kind=region", &app.agent(REGION))
        .await
}

#[tokio::test]
async fn the_region_is_listed_with_its_count_of_emergencies() {
    let app = TestApp::spawn().await;
    let res = regions(&app).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let all = res.body.as_array().unwrap().clone();
    assert_eq!(all.len(), 1, "{}", res.body);
    assert_eq!(all[0]["id"], REGION);
    assert_eq!(all[0]["name"], "Région Grand Est");
    assert_eq!(all[0]["emergencies"], 0);

    let mut emergency = one_off(&[LYCEE_FABERT]);
    emergency["kind"] = json!("emergency");
    emergency["publish_at"] = json!("2026-11-23T09:00:00+01:00");
    emergency["emergency"] = json!({"category": "weather", "justification": "Routes verglacées : ramassage scolaire suspendu ce matin."});
    app.submit(&app.agent(REGION), emergency).await;
    app.submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    let res = regions(&app).await;
    assert_eq!(res.body[0]["emergencies"], 1, "{}", res.body);
}

#[tokio::test]
async fn a_recurring_deadline_in_moselle_skips_good_friday() {
    let app = TestApp::spawn().await;
    let res = app
        .get(
            &format!("/v1/deadlines?kind=recurring&uai={LYCEE_FABERT}&submitted_at=2025-04-16T10:00:00%2B02:00"),
            &app.agent(REGION),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["last_day"], "2025-04-24", "{}", res.body);
    assert_eq!(
        res.body["expires_at"], "2025-04-25T00:00:00+02:00",
        "{}",
        res.body
    );
    assert_eq!(res.body["business_days"], 5);
}

#[tokio::test]
async fn the_same_deadline_in_the_marne_does_not_skip_good_friday() {
    let app = TestApp::spawn().await;
    let res = app
        .get(
            "/v1/deadlines?kind=recurring&uai=0510031G&submitted_at=2025-04-16T10:00:00%2B02:00",
            &app.agent(REGION),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["last_day"], "2025-04-23", "{}", res.body);
    assert_eq!(
        res.body["expires_at"], "2025-04-24T00:00:00+02:00",
        "{}",
        res.body
    );
}

#[tokio::test]
async fn the_feed_answers_304_to_the_weak_form_of_its_etag() {
    let app = TestApp::spawn().await;
    approve_now(&app, "Transports scolaires : nouvelle ligne 12").await;
    let (_, etag, _) = feed_with(&app, None).await;
    let (status, _, _) = feed_with(&app, Some(&format!("W/{etag}"))).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
}

// ---------------------------------------------------------------------------------------------
// Races and French wording of refusals.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_head_answering_twice_at_once_gets_one_decision_and_conflicts_for_the_rest() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let mut handles = Vec::new();
    for i in 0..6 {
        let action = if i % 2 == 0 {
            "approve"
        } else {
            "rectification"
        };
        let req = app
            .client
            .post(format!("{}/v1/reviews/{review}/{action}", app.base))
            .bearer_auth(app.head(LYCEE_FABERT));
        // Approval takes no data; a rectification request carries its motive.
        let req = if action == "approve" {
            req
        } else {
            req.json(&json!({"motive": "La date de mise en service est erronée."}))
        };
        handles.push(tokio::spawn(async move {
            req.send().await.expect("request").status()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        5,
        "{statuses:?}"
    );
    let audit = app
        .get(
            &format!("/v1/messages/{}/audit", m["id"].as_str().unwrap()),
            &app.agent(REGION),
        )
        .await;
    assert_eq!(
        audit.body["records"].as_array().unwrap().len(),
        3,
        "submitted, review opened and one decision: {}",
        audit.body
    );
    assert_eq!(audit.body["verification"]["valid"], true);
}

#[tokio::test]
async fn approving_twice_is_a_409_that_says_the_review_is_already_approved() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let path = format!("/v1/reviews/{review}/approve");
    assert_eq!(
        app.post(&path, &app.head(LYCEE_FABERT), json!({}))
            .await
            .status,
        StatusCode::OK
    );
    let again = app.post(&path, &app.head(LYCEE_FABERT), json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.content_type().starts_with("application/problem+json"));
    assert!(
        again.detail().contains("« approuvée »"),
        "{}",
        again.detail()
    );
}

#[tokio::test]
async fn a_refusal_to_approve_is_written_in_correct_french() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let path = format!("/v1/reviews/{review}/approve");
    app.post(&path, &app.head(LYCEE_FABERT), json!({})).await;
    let again = app.post(&path, &app.head(LYCEE_FABERT), json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.detail().contains("impossible d'approuver"),
        "{}",
        again.detail()
    );
}

/// Every item of a list, page after page of `limit`, asserting each page is full but the last.
async fn every_page(app: &TestApp, path: &str, token: &str, limit: usize) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let res = app
            .get(&format!("{path}{sep}limit={limit}&cursor={cursor}"), token)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let page = items(&res);
        match res.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(page.len(), limit, "a page before the last is full");
                cursor = c.to_owned();
                out.extend(page);
            }
            None => {
                out.extend(page);
                return out;
            }
        }
    }
}

fn ids_of(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn heads_and_academie_services_page_their_messages_newest_first_and_see_no_other() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let mut aimed: Vec<(String, Vec<&str>)> = Vec::new();
    for targets in [
        vec![LYCEE_FABERT],
        vec![LYCEE_KLEBER],
        vec![LYCEE_FABERT, LYCEE_KLEBER],
        vec![LYCEE_FABERT],
        vec![LYCEE_KLEBER],
        vec![LYCEE_FABERT],
    ] {
        let m = app.submit(&agent, one_off(&targets)).await;
        aimed.push((m["id"].as_str().unwrap().to_owned(), targets));
        app.advance_to(app.clock_now() + time::Duration::minutes(1))
            .await;
    }
    // The authority's list gives the order every other list must keep: newest first.
    let all = ids_of(&every_page(&app, "/v1/messages", &agent, 50).await);
    assert_eq!(all.len(), 6);
    let aimed_at = |uai: &str| -> Vec<String> {
        all.iter()
            .filter(|id| aimed.iter().any(|(m, t)| m == *id && t.contains(&uai)))
            .cloned()
            .collect()
    };

    let fabert = every_page(&app, "/v1/messages", &app.head(LYCEE_FABERT), 2).await;
    assert_eq!(ids_of(&fabert), aimed_at(LYCEE_FABERT));
    assert!(
        fabert.iter().all(|m| m["target_count"] == 1
            && m["summary"] == json!({"pending": 1})
            && m["own_reviews"][0]["uai"] == LYCEE_FABERT),
        "a head learns of no other school: {fabert:?}"
    );
    // Académie 15 (Strasbourg) holds Kléber; académie 12 (Nancy-Metz) holds Fabert.
    let strasbourg = every_page(&app, "/v1/messages", &app.academic("15"), 2).await;
    assert_eq!(ids_of(&strasbourg), aimed_at(LYCEE_KLEBER));
    let nancy_metz = every_page(&app, "/v1/messages", &app.academic("12"), 1).await;
    assert_eq!(ids_of(&nancy_metz), aimed_at(LYCEE_FABERT));

    // A head of both schools sees each message once, in the same order, pages cut anywhere.
    let both = app.token_with(|c| {
        c.role = "head".into();
        c.sub = "head-both".into();
        c.uai = vec![LYCEE_FABERT.into(), LYCEE_KLEBER.into()];
    });
    for limit in [1, 2, 4, 50] {
        assert_eq!(
            ids_of(&every_page(&app, "/v1/messages", &both, limit).await),
            all,
            "pages of {limit}"
        );
    }
    // Filters apply within the store's pages.
    let pending = every_page(
        &app,
        "/v1/messages?status=in_review",
        &app.head(LYCEE_FABERT),
        1,
    )
    .await;
    assert_eq!(ids_of(&pending), aimed_at(LYCEE_FABERT));
    let emergencies = every_page(
        &app,
        "/v1/messages?kind=emergency",
        &app.head(LYCEE_FABERT),
        1,
    )
    .await;
    assert!(emergencies.is_empty());
}

#[tokio::test]
async fn an_authority_pages_the_reviews_of_all_its_messages_and_of_no_other_authority() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let mut region_messages = BTreeSet::new();
    for _ in 0..3 {
        let m = app
            .submit(&agent, one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
            .await;
        region_messages.insert(m["id"].as_str().unwrap().to_owned());
    }
    let moselle = app.agent("departement-moselle");
    let theirs = app.submit(&moselle, one_off(&[COLLEGE_JEAN_MOULIN])).await;

    let reviews = every_page(&app, "/v1/reviews", &agent, 4).await;
    assert_eq!(reviews.len(), 6, "{reviews:?}");
    assert_eq!(
        ids_of(&reviews).into_iter().collect::<BTreeSet<_>>().len(),
        6,
        "each review once"
    );
    assert!(
        reviews
            .iter()
            .all(|r| region_messages.contains(r["message_id"].as_str().unwrap()))
    );
    let theirs_listed = every_page(&app, "/v1/reviews", &moselle, 4).await;
    assert_eq!(theirs_listed.len(), 1);
    assert_eq!(theirs_listed[0]["message_id"], theirs["id"]);

    // Fabert approves one: the authority's list follows, by state and by school.
    let first = reviews.iter().find(|r| r["uai"] == LYCEE_FABERT).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app.approve(&first, LYCEE_FABERT).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let approved = every_page(&app, "/v1/reviews?state=approved", &agent, 1).await;
    assert_eq!(ids_of(&approved), [first.as_str()]);
    let pending = every_page(&app, "/v1/reviews?state=pending", &agent, 2).await;
    assert_eq!(pending.len(), 5);
    assert!(pending.iter().all(|r| r["id"] != first.as_str()));
    let kleber = every_page(&app, &format!("/v1/reviews?uai={LYCEE_KLEBER}"), &agent, 2).await;
    assert_eq!(kleber.len(), 3);
    assert!(kleber.iter().all(|r| r["uai"] == LYCEE_KLEBER));
    // Pending first, soonest deadline first; decided ones after.
    let all = every_page(&app, "/v1/reviews", &agent, 50).await;
    assert_eq!(all.last().unwrap()["id"], first.as_str());
}

#[tokio::test]
async fn the_audit_trail_comes_in_pages_of_whole_school_chains_each_verified() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let m = app
        .submit(
            &agent,
            one_off(&[LYCEE_KLEBER, LYCEE_FABERT, LYCEE_AGRICOLE]),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    for uai in [LYCEE_FABERT, LYCEE_KLEBER] {
        let review = app.review_of(&m, uai).await;
        let res = app
            .post(
                &format!("/v1/reviews/{review}/approve"),
                &app.head(uai),
                json!({}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    let whole = app.get(&format!("/v1/messages/{id}/audit"), &agent).await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
    assert_eq!(whole.body["verification"]["chains"], 4, "{}", whole.body);
    assert!(whole.body["next_cursor"].is_null());

    // One school's chain per page, in UAI order, the message's own chain first.
    let mut chains_seen = Vec::new();
    let mut records = Vec::new();
    let mut path = format!("/v1/messages/{id}/audit?limit=1");
    loop {
        let page = app.get(&path, &agent).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.body["verification"]["valid"], true, "{}", page.body);
        let mut chains: Vec<String> = page.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["chain"].as_str().unwrap().to_owned())
            .collect();
        chains.dedup();
        chains.sort();
        chains.dedup();
        chains_seen.push(chains);
        records.extend(page.body["records"].as_array().unwrap().clone());
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/messages/{id}/audit?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        chains_seen,
        [
            vec![LYCEE_FABERT, "message"],
            vec![LYCEE_AGRICOLE],
            vec![LYCEE_KLEBER],
        ]
    );
    let set = |list: &[Value]| -> BTreeSet<String> {
        list.iter().map(|r| r["hash"].to_string()).collect()
    };
    assert_eq!(
        set(&records),
        set(whole.body["records"].as_array().unwrap()),
        "the pages hold the whole trail, each record once"
    );
    assert_eq!(
        records.len(),
        whole.body["records"].as_array().unwrap().len()
    );

    // One school's part: its chain with the message's.
    let kleber = app
        .get(
            &format!("/v1/messages/{id}/audit?uai={LYCEE_KLEBER}"),
            &agent,
        )
        .await;
    assert_eq!(kleber.body["verification"]["chains"], 2, "{}", kleber.body);
    assert!(
        kleber.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["chain"] == "message" || r["chain"] == LYCEE_KLEBER)
    );
    // A head pages only their own school's chain.
    let head = app
        .get(
            &format!("/v1/messages/{id}/audit?limit=1"),
            &app.head(LYCEE_FABERT),
        )
        .await;
    assert_eq!(head.body["verification"]["chains"], 2, "{}", head.body);
    assert!(head.body["next_cursor"].is_null(), "{}", head.body);
    let res = app
        .get(
            &format!("/v1/messages/{id}/audit?uai={LYCEE_KLEBER}"),
            &app.head(LYCEE_FABERT),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.body["verification"]["chains"], 1,
        "only the message's: {}",
        res.body
    );

    for (query, field) in [
        ("limit=0", "limit"),
        ("uai=57", "uai"),
        ("cursor=%25%25", "cursor"),
    ] {
        let res = app
            .get(&format!("/v1/messages/{id}/audit?{query}"), &agent)
            .await;
        assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&res), [field], "{}", res.body);
    }
}

#[tokio::test]
async fn statuses_and_history_actions_come_with_their_french_labels() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let m = app.submit(&agent, one_off(&[LYCEE_FABERT])).await;
    let id = m["id"].as_str().unwrap();
    assert_eq!(m["status_label"], "en cours d’examen", "{m}");
    let list = app.get("/v1/messages", &agent).await;
    assert_eq!(items(&list)[0]["status_label"], "en cours d’examen");

    let review = app.review_of(&m, LYCEE_FABERT).await;
    let head = app.head(LYCEE_FABERT);
    let res = app
        .post(&format!("/v1/reviews/{review}/approve"), &head, json!({}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let detail = app.get(&format!("/v1/reviews/{review}"), &head).await;
    let lines: Vec<(String, String)> = detail.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["action_label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("submitted".to_owned(), "Communication soumise".to_owned()),
            ("review_opened".to_owned(), "Examen ouvert".to_owned()),
            ("approved".to_owned(), "Approuvée".to_owned()),
        ],
        "{}",
        detail.body
    );
    let after = app.get(&format!("/v1/messages/{id}"), &agent).await;
    assert_eq!(after.body["status"], "approved");
    assert_eq!(after.body["status_label"], "approuvée partout");
}
