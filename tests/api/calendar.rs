//! Private calendar feeds: what a calendar application subscribed to one shows, read by an
//! independent iCalendar parser (Python's `icalendar`, tests/support/ics_check.py).

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::*;

/// The events of a feed as the independent parser reads them.
fn parse_ics(text: &str) -> Value {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} introuvable : lancez scripts/test.sh, qui installe tests/requirements.txt dans .venv/",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/ics_check.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "iCalendar refusé : {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Creates a calendar feed with `token`; returns its id and the path (with the secret) to read.
async fn create_feed(app: &TestApp, token: &str) -> (String, String) {
    let res = app.post("/v1/calendar-feeds", token, json!({})).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let url = res.body["url"].as_str().unwrap();
    let path = url
        .strip_prefix("http://widget.test")
        .unwrap_or_else(|| panic!("the feed is not on the service's public origin: {url}"));
    assert!(path.contains("?token="), "{url}");
    (res.body["id"].as_str().unwrap().to_owned(), path.to_owned())
}

/// Reads a feed as a calendar application does (no credentials) and parses it.
async fn read_feed(app: &TestApp, path: &str) -> Value {
    let res = app.fetch(path).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/calendar; charset=utf-8"
    );
    parse_ics(&res.text().await.unwrap())
}

fn uids(feed: &Value) -> Vec<String> {
    feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap().to_owned())
        .collect()
}

/// The review's legal deadline as an instant, and in French words, as the API shows them.
async fn deadline_of(app: &TestApp, review: &str) -> (OffsetDateTime, String) {
    let res = app
        .get(&format!("/v1/reviews/{review}"), &app.admin())
        .await;
    let r = &res.body["review"];
    let text = r["deadline"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", res.body));
    (
        OffsetDateTime::parse(text, &Rfc3339).unwrap(),
        r["deadline_in_words"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_head_s_calendar_shows_each_open_deadline_at_its_legal_instant_until_decided() {
    let app = TestApp::spawn().await;
    let head = app.head(LYCEE_FABERT);
    let (_, path) = create_feed(&app, &head).await;
    assert_eq!(uids(&read_feed(&app, &path).await), Vec::<String>::new());

    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let feed = read_feed(&app, &path).await;
    assert_eq!(uids(&feed), [format!("echeance-{review}@charte")]);
    let event = &feed["events"][0];
    let start = OffsetDateTime::parse(event["start"].as_str().unwrap(), &Rfc3339).unwrap();
    let (deadline, in_words) = deadline_of(&app, &review).await;
    assert_eq!(start, deadline);
    assert_eq!(
        event["summary"],
        "Avis à rendre : Transports scolaires : nouvelle ligne 12"
    );
    let description = event["description"].as_str().unwrap();
    assert!(description.contains("Lycée"), "{description}");
    assert!(description.contains(&in_words), "{description}");
    assert!(description.contains("accord tacite"), "{description}");
    assert_eq!(event["url"], "http://widget.test/");
    assert_eq!(event["alarms"], json!([-86_400]), "an alarm the day before");
    assert!(
        feed["name"]
            .as_str()
            .unwrap()
            .starts_with("Échéances charte")
    );

    // Reading it again gives the same event (calendars update it rather than adding one).
    assert_eq!(uids(&read_feed(&app, &path).await), uids(&feed));

    assert_eq!(
        app.approve(&review, LYCEE_FABERT).await.status,
        StatusCode::OK
    );
    assert_eq!(
        uids(&read_feed(&app, &path).await),
        Vec::<String>::new(),
        "a decided review leaves the feed"
    );
}

#[tokio::test]
async fn an_authority_s_calendar_shows_each_school_that_has_not_answered_yet() {
    let app = TestApp::spawn().await;
    let (_, path) = create_feed(&app, &app.agent(REGION)).await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
        .await;
    let fabert = app.review_of(&m, LYCEE_FABERT).await;
    let kleber = app.review_of(&m, LYCEE_KLEBER).await;
    let mut both = vec![
        format!("echeance-{fabert}@charte"),
        format!("echeance-{kleber}@charte"),
    ];
    both.sort();
    let mut listed = uids(&read_feed(&app, &path).await);
    listed.sort();
    assert_eq!(listed, both);

    app.approve(&fabert, LYCEE_FABERT).await;
    let feed = read_feed(&app, &path).await;
    assert_eq!(uids(&feed), [format!("echeance-{kleber}@charte")]);
    assert!(
        feed["events"][0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Accord tacite possible"),
        "{feed}"
    );
    // Another authority's feed shows none of the Région's schools.
    let (_, other) = create_feed(&app, &app.agent("departement-moselle")).await;
    assert_eq!(uids(&read_feed(&app, &other).await), Vec::<String>::new());
}

#[tokio::test]
async fn an_arbitrator_s_calendar_shows_the_disputes_waiting_for_them() {
    let app = TestApp::spawn().await;
    let (_, path) = create_feed(&app, &app.arbitrator("rectorat:12")).await;
    let m = app
        .submit(&app.agent(REGION), one_off(&[LYCEE_FABERT]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    app.request_rectification(
        &review,
        LYCEE_FABERT,
        "Contenu promotionnel sans lien avec la scolarité.",
    )
    .await;
    assert_eq!(uids(&read_feed(&app, &path).await), Vec::<String>::new());
    let res = app
        .escalate(&review, REGION, "Information utile aux familles.")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let feed = read_feed(&app, &path).await;
    assert_eq!(uids(&feed), [format!("litige-{review}@charte")]);
    assert!(
        feed["events"][0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Litige à arbitrer"),
        "{feed}"
    );
    // The DRAAF is not seized of it.
    let (_, draaf) = create_feed(&app, &app.arbitrator("draaf:44")).await;
    assert_eq!(uids(&read_feed(&app, &draaf).await), Vec::<String>::new());
}

#[tokio::test]
async fn a_feed_opens_with_its_own_secret_only_and_answers_404_once_revoked() {
    let app = TestApp::spawn().await;
    let head = app.head(LYCEE_FABERT);
    let (id, path) = create_feed(&app, &head).await;
    let (base, _) = path.split_once("?token=").unwrap();

    for wrong in [
        format!("{base}?token=not-the-secret"),
        "/v1/calendar-feeds/unknown/calendar.ics?token=x".to_owned(),
    ] {
        let res = Res::read(app.fetch(&wrong).await).await;
        assert_problem(&res, StatusCode::NOT_FOUND);
        assert!(
            res.detail().contains("Calendrier introuvable"),
            "{}",
            res.body
        );
    }

    // Listed for its owner, without its secret.
    let listed = app.get("/v1/calendar-feeds", &head).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    assert!(listed.body["items"][0].get("url").is_none());
    assert_eq!(
        app.get("/v1/calendar-feeds", &app.head(LYCEE_KLEBER))
            .await
            .body["items"],
        json!([])
    );

    // Someone else cannot revoke it.
    let other = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/calendar-feeds/{id}"),
            Some(&app.head(LYCEE_KLEBER)),
            None,
        )
        .await;
    assert_problem(&other, StatusCode::NOT_FOUND);
    assert_eq!(app.fetch(&path).await.status(), StatusCode::OK);

    let own = format!("/v1/calendar-feeds/{id}");
    let revoke = || app.call(reqwest::Method::DELETE, &own, Some(&head), None);
    assert_eq!(revoke().await.status, StatusCode::NO_CONTENT);
    let res = Res::read(app.fetch(&path).await).await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    assert_problem(&revoke().await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_people_with_deadlines_get_a_calendar_and_only_ten_each() {
    let app = TestApp::spawn().await;
    for token in [app.ent(LYCEE_FABERT), app.academic("12"), app.admin()] {
        let res = app.post("/v1/calendar-feeds", &token, json!({})).await;
        assert_problem(&res, StatusCode::FORBIDDEN);
        assert!(res.detail().contains("calendrier"), "{}", res.body);
    }
    let res = app
        .call(reqwest::Method::POST, "/v1/calendar-feeds", None, None)
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);

    let head = app.head(LYCEE_FABERT);
    for _ in 0..10 {
        create_feed(&app, &head).await;
    }
    let res = app.post("/v1/calendar-feeds", &head, json!({})).await;
    assert_problem(&res, StatusCode::CONFLICT);
    assert!(res.detail().contains("révoquez-en un"), "{}", res.body);
    let res = app
        .post(
            "/v1/calendar-feeds",
            &app.head(LYCEE_KLEBER),
            json!({"nom": "x"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
}
