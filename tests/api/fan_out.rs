//! A message to many schools: accepted at once, its reviews opened chunk by chunk, each school
//! getting exactly one review, one audit record and one email, whatever happens meanwhile.

use std::collections::BTreeMap;
use std::time::Duration;

use charte::domain::directory::{School, SchoolType};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// `n` lycées of Moselle (besides the demo's), all within the Région's remit.
async fn many_lycees(app: &TestApp, n: usize) -> Vec<String> {
    let template = charte::demo::schools()
        .schools
        .into_iter()
        .find(|s| s.uai.as_str() == LYCEE_FABERT)
        .unwrap();
    let schools: Vec<School> = (0..n)
        .map(|i| {
            let digits = format!("{:07}", 5_790_000 + i);
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
        .collect();
    let uais = schools.iter().map(|s| s.uai.to_string()).collect();
    app.store.put_schools(schools).await.unwrap();
    uais
}

/// Waits until every target of the message has its review; returns the message.
async fn all_opened(app: &TestApp, id: &str) -> Value {
    for _ in 0..500 {
        let m = app
            .get(&format!("/v1/messages/{id}"), &app.agent(REGION))
            .await;
        let opened: u64 = m.body["summary"]
            .as_object()
            .map(|o| o.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        if opened == m.body["target_count"].as_u64().unwrap() {
            return m.body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the reviews of {id} were never all opened");
}

/// Asserts each target has exactly one review in `state`, one `review_opened` record and one
/// review request email.
async fn exactly_one_of_each(app: &TestApp, message: &Value, targets: &[String], state: &str) {
    let id = message["id"].as_str().unwrap();
    let mut reviews: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in app.reviews_of(message, None).await {
        reviews
            .entry(r["uai"].as_str().unwrap().to_owned())
            .or_default()
            .push(r["state"].as_str().unwrap().to_owned());
    }
    let mut opened: BTreeMap<String, usize> = BTreeMap::new();
    for r in &app.audit_trail(message).await {
        if r["action"] == "review_opened" {
            *opened
                .entry(r["uai"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let mut emails: BTreeMap<String, usize> = BTreeMap::new();
    for e in app.emails_of_kind("review_request").await {
        if e["message_id"] == id {
            *emails
                .entry(e["to"][0].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(reviews.len(), targets.len(), "one review per school");
    assert_eq!(opened.len(), targets.len(), "one audit record per school");
    assert_eq!(emails.len(), targets.len(), "one email per school");
    for uai in targets {
        assert_eq!(reviews[uai], vec![state.to_owned()], "{uai}");
        assert_eq!(opened[uai], 1, "{uai}");
        let digits = &uai[..7];
        assert_eq!(emails[&format!("ce.{digits}@ac-nancy-metz.fr")], 1, "{uai}");
    }
}

#[tokio::test]
async fn a_message_to_many_schools_is_accepted_at_once_and_every_school_gets_one_review_one_record_and_one_email()
 {
    let app = TestApp::spawn().await;
    let targets = many_lycees(&app, 3 * charte::app::FAN_OUT_CHUNK + 7).await;
    let res = app
        .post("/v1/messages", &app.agent(REGION), one_off_to(&targets))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["target_count"], targets.len());
    // The answer stays small: a summary, never the reviews themselves.
    assert!(res.body.get("reviews").is_none());
    let pending = res.body["summary"]["pending"].as_u64().unwrap_or(0) as usize;
    assert!(
        (charte::app::FAN_OUT_CHUNK..=targets.len()).contains(&pending),
        "the first chunk is opened with the message: {pending}"
    );
    let message = all_opened(&app, res.body["id"].as_str().unwrap()).await;
    assert_eq!(message["summary"]["pending"], targets.len());
    exactly_one_of_each(&app, &message, &targets, "pending").await;
}

#[tokio::test]
async fn a_crash_while_reviews_are_opening_loses_none_and_doubles_none() {
    let app = TestApp::spawn().await;
    let targets = many_lycees(&app, 4 * charte::app::FAN_OUT_CHUNK).await;
    let message = app.submit(&app.agent(REGION), one_off_to(&targets)).await;
    // Killed at once: the worker may have opened some chunks, or none.
    let app = app.crash_and_restart().await;
    let message = all_opened(&app, message["id"].as_str().unwrap()).await;
    exactly_one_of_each(&app, &message, &targets, "pending").await;
}

#[tokio::test]
async fn several_instances_working_through_one_fan_out_open_each_review_once() {
    let app = TestApp::spawn().await;
    let targets = many_lycees(&app, 6 * charte::app::FAN_OUT_CHUNK).await;
    let message = app.submit(&app.agent(REGION), one_off_to(&targets)).await;
    let id = message["id"].as_str().unwrap();
    // Two more drivers beside the app's own worker, as replicas sharing a store would be.
    let (a, b) = tokio::join!(app.charte.finish_fan_out(id), app.charte.finish_fan_out(id));
    a.unwrap();
    b.unwrap();
    let message = all_opened(&app, id).await;
    exactly_one_of_each(&app, &message, &targets, "pending").await;
}

#[tokio::test]
async fn withdrawing_a_message_whose_reviews_are_still_opening_withdraws_every_school() {
    let app = TestApp::spawn().await;
    let targets = many_lycees(&app, 4 * charte::app::FAN_OUT_CHUNK).await;
    let message = app.submit(&app.agent(REGION), one_off_to(&targets)).await;
    let id = message["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/v1/messages/{id}/withdraw"),
            &app.agent(REGION),
            json!({"motive": "Envoyée par erreur."}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["summary"]["withdrawn"], targets.len());
    exactly_one_of_each(&app, &message, &targets, "withdrawn").await;
}

fn one_off_to(targets: &[String]) -> Value {
    let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    one_off(&refs)
}
