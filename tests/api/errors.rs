//! Every user error is a 4xx problem+json in French, naming what to fix — never a 500.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// POST /v1/messages with a JSON body and an `Idempotency-Key`.
async fn submit_with_key(app: &TestApp, token: &str, key: &str, body: &Value) -> Res {
    raw(
        app,
        Method::POST,
        "/v1/messages",
        token,
        &[
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

/// Submits as the Région and expects a 422 with a violation on `field`; returns the response.
async fn refused(app: &TestApp, authority: &str, body: Value, field: &str) -> Res {
    let res = app.post("/v1/messages", &app.agent(authority), body).await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        fields(&res).iter().any(|f| f == field),
        "expected a violation on {field}: {}",
        res.body
    );
    res
}

async fn no_message_was_created(app: &TestApp, authority: &str) {
    let list = app.get("/v1/messages", &app.agent(authority)).await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        list.body
    );
}

// ---------------------------------------------------------------------------------------------
// The request itself.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unreadable_json_body_is_a_400_in_french() {
    let app = TestApp::spawn().await;
    let token = app.agent("region-grand-est");
    let res = raw(
        &app,
        Method::POST,
        "/v1/messages",
        &token,
        &[("content-type", "application/json")],
        br#"{"title": "Transports"#.to_vec(),
    )
    .await;
    assert_problem(&res, StatusCode::BAD_REQUEST);
    assert!(res.detail().contains("JSON valide"), "{}", res.detail());
    no_message_was_created(&app, "region-grand-est").await;
}

#[tokio::test]
async fn a_body_without_a_content_type_is_a_415() {
    let app = TestApp::spawn().await;
    let token = app.agent("region-grand-est");
    let body = serde_json::to_vec(&one_off(&[LYCEE_FABERT])).unwrap();
    let res = raw(
        &app,
        Method::POST,
        "/v1/messages",
        &token,
        &[],
        body.clone(),
    )
    .await;
    assert_problem(&res, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        res.detail().contains("Content-Type: application/json"),
        "{}",
        res.detail()
    );
    let res = raw(
        &app,
        Method::POST,
        "/v1/messages",
        &token,
        &[("content-type", "text/plain")],
        body,
    )
    .await;
    assert_problem(&res, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    no_message_was_created(&app, "region-grand-est").await;
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_422() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["targets"] = json!(LYCEE_FABERT);
    let res = app
        .post("/v1/messages", &app.agent("region-grand-est"), body)
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    // The field is named, and what is wrong is said in French (not serde's English).
    assert_eq!(res.body["errors"][0]["field"], "targets", "{}", res.body);
    assert_eq!(
        res.body["errors"][0]["message"],
        "une liste est attendue (reçu : une chaîne de caractères)"
    );
    assert!(
        res.detail().starts_with("« targets » :"),
        "{}",
        res.detail()
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let res = app.get("/v1/communications", &app.admin()).await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    assert!(
        res.detail().contains("Aucune ressource"),
        "{}",
        res.detail()
    );
    let res = app.call(Method::GET, "/v2/messages", None, None).await;
    assert_problem(&res, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = TestApp::spawn().await;
    let res = app
        .call(Method::DELETE, "/v1/messages", Some(&app.admin()), None)
        .await;
    assert_problem(&res, StatusCode::METHOD_NOT_ALLOWED);
    assert!(res.detail().contains("méthode"), "{}", res.detail());
    let allow = res
        .headers
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        allow.contains("POST") && allow.contains("GET"),
        "allow: {allow}"
    );
}

#[tokio::test]
async fn a_body_over_256_kib_is_a_413_problem() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["body"] = json!(format!("<p>{}</p>", "a".repeat(300 * 1024)));
    let res = app
        .post("/v1/messages", &app.agent("region-grand-est"), body)
        .await;
    assert_problem(&res, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.detail().contains("dépasse"), "{}", res.detail());
    no_message_was_created(&app, "region-grand-est").await;
}

// ---------------------------------------------------------------------------------------------
// Submission rules: 422 naming each field.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_uai_with_a_wrong_check_letter_is_refused_naming_the_expected_letter() {
    let app = TestApp::spawn().await;
    let res = refused(
        &app,
        "region-grand-est",
        one_off(&["0570054A"]),
        "targets[0]",
    )
    .await;
    let msg = message_of(&res, "targets[0]");
    assert!(msg.contains("doit être Z"), "{msg}");
    assert!(res.detail().contains("doit être Z"), "{}", res.detail());
}

#[tokio::test]
async fn an_unknown_uai_is_refused() {
    let app = TestApp::spawn().await;
    let digits = "0570001";
    let unknown = format!(
        "{digits}{}",
        charte::domain::uai::check_letter(digits).unwrap()
    );
    let res = refused(
        &app,
        "region-grand-est",
        one_off(&[LYCEE_FABERT, &unknown]),
        "targets[1]",
    )
    .await;
    let msg = message_of(&res, "targets[1]");
    assert!(
        msg.contains("inconnu de l'annuaire") && msg.contains(&unknown),
        "{msg}"
    );
    assert_eq!(
        fields(&res),
        vec!["targets[1]"],
        "the known lycée is fine: {}",
        res.body
    );
    no_message_was_created(&app, "region-grand-est").await;
}

#[tokio::test]
async fn a_region_cannot_target_a_college() {
    let app = TestApp::spawn().await;
    let res = refused(
        &app,
        "region-grand-est",
        one_off(&[COLLEGE_JEAN_MOULIN]),
        "targets[0]",
    )
    .await;
    let msg = message_of(&res, "targets[0]");
    assert!(msg.contains("ne relève pas du ressort"), "{msg}");
    assert!(msg.contains("lycées"), "{msg}");
}

#[tokio::test]
async fn the_moselle_cannot_target_a_bas_rhin_college_and_is_told_its_department() {
    let app = TestApp::spawn().await;
    let res = refused(
        &app,
        "departement-moselle",
        one_off(&["0570012D", COLLEGE_FOCH]),
        "targets[1]",
    )
    .await;
    let msg = message_of(&res, "targets[1]");
    assert!(msg.contains("département 67"), "{msg}");
    assert!(msg.contains("hors du ressort"), "{msg}");
    assert!(msg.contains("Moselle"), "{msg}");
    no_message_was_created(&app, "departement-moselle").await;
}

#[tokio::test]
async fn pupils_alone_cannot_be_the_audience() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["audience"] = json!(["pupils"]);
    let res = refused(&app, "region-grand-est", body, "audience").await;
    assert!(
        message_of(&res, "audience").contains("familles"),
        "{}",
        res.body
    );
}

#[tokio::test]
async fn the_publication_and_display_end_dates_are_required() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body.as_object_mut().unwrap().remove("publish_at");
    body.as_object_mut().unwrap().remove("display_until");
    let res = refused(&app, "region-grand-est", body, "publish_at").await;
    assert!(
        fields(&res).contains(&"display_until".to_owned()),
        "{}",
        res.body
    );
    assert!(
        message_of(&res, "publish_at").contains("obligatoire"),
        "{}",
        res.body
    );
}

#[tokio::test]
async fn a_date_that_is_not_rfc_3339_is_refused_with_an_example() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["publish_at"] = json!("30/11/2026 08:00");
    let res = refused(&app, "region-grand-est", body, "publish_at").await;
    let msg = message_of(&res, "publish_at");
    assert!(
        msg.contains("RFC 3339") && msg.contains("30/11/2026 08:00"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_display_end_before_the_publication_is_refused() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["publish_at"] = json!("2026-12-10T08:00:00+01:00");
    body["display_until"] = json!("2026-12-01T08:00:00+01:00");
    let res = refused(&app, "region-grand-est", body, "display_until").await;
    assert!(
        message_of(&res, "display_until").contains("fin d'affichage"),
        "{}",
        res.body
    );
}

#[tokio::test]
async fn an_empty_title_is_refused() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["title"] = json!("   ");
    let res = refused(&app, "region-grand-est", body, "title").await;
    assert!(
        message_of(&res, "title").contains("titre est obligatoire"),
        "{}",
        res.body
    );
}

#[tokio::test]
async fn an_empty_body_is_refused() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["body"] = json!("");
    let res = refused(&app, "region-grand-est", body, "body").await;
    assert!(message_of(&res, "body").contains("vide"), "{}", res.body);
}

#[tokio::test]
async fn a_body_that_is_only_a_script_is_refused_as_empty() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["body"] = json!("<script>alert('ENT')</script>");
    let res = refused(&app, "region-grand-est", body, "body").await;
    assert!(message_of(&res, "body").contains("vide"), "{}", res.body);
    no_message_was_created(&app, "region-grand-est").await;
}

#[tokio::test]
async fn a_body_over_20000_characters_is_refused() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["body"] = json!(format!("<p>{}</p>", "é".repeat(20_001)));
    let res = refused(&app, "region-grand-est", body, "body").await;
    let msg = message_of(&res, "body");
    assert!(msg.contains("trop long") && msg.contains("20000"), "{msg}");
}

#[tokio::test]
async fn an_unknown_kind_is_refused() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["kind"] = json!("urgent");
    let res = refused(&app, "region-grand-est", body, "kind").await;
    let msg = message_of(&res, "kind");
    assert!(msg.contains("Type inconnu « urgent »"), "{msg}");
}

#[tokio::test]
async fn an_emergency_needs_a_category_and_a_justification() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["kind"] = json!("emergency");
    body["publish_at"] = json!("2026-11-23T09:00:00+01:00");
    let res = refused(&app, "region-grand-est", body, "emergency.category").await;
    assert!(
        fields(&res).contains(&"emergency.justification".to_owned()),
        "{}",
        res.body
    );
    assert!(
        message_of(&res, "emergency.justification").contains("20 caractères"),
        "{}",
        res.body
    );
    no_message_was_created(&app, "region-grand-est").await;
}

#[tokio::test]
async fn an_emergency_of_an_unknown_category_is_refused() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[LYCEE_FABERT]);
    body["kind"] = json!("emergency");
    body["publish_at"] = json!("2026-11-23T09:00:00+01:00");
    body["emergency"] = json!({"category": "meteorite", "justification": "Chute de météorite sur la ligne 12 ce matin."});
    let res = refused(&app, "region-grand-est", body, "emergency.category").await;
    assert!(
        message_of(&res, "emergency.category").contains("Catégorie inconnue « meteorite »"),
        "{}",
        res.body
    );
    assert_eq!(fields(&res), vec!["emergency.category"], "{}", res.body);
}

#[tokio::test]
async fn every_missing_field_is_listed_at_once() {
    let app = TestApp::spawn().await;
    let res = app
        .post("/v1/messages", &app.agent("region-grand-est"), json!({}))
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let got = fields(&res);
    for f in [
        "kind",
        "title",
        "body",
        "audience",
        "targets",
        "publish_at",
        "display_until",
    ] {
        assert!(got.iter().any(|g| g == f), "{f} missing from {got:?}");
    }
    assert!(
        res.detail()
            .contains(&format!("{} champs sont à corriger", got.len())),
        "{}",
        res.detail()
    );
}

// ---------------------------------------------------------------------------------------------
// Motives.
// ---------------------------------------------------------------------------------------------

async fn fabert_review(app: &TestApp) -> String {
    let m = app
        .submit(&app.agent("region-grand-est"), one_off(&[LYCEE_FABERT]))
        .await;
    app.review_of(&m, LYCEE_FABERT).await
}

async fn state_of(app: &TestApp, review: &str) -> Value {
    app.get(&format!("/v1/reviews/{review}"), &app.head(LYCEE_FABERT))
        .await
        .body["review"]["state"]
        .clone()
}

#[tokio::test]
async fn a_rectification_request_without_a_body_needs_a_motive() {
    let app = TestApp::spawn().await;
    let review = fabert_review(&app).await;
    let res = app
        .call(
            Method::POST,
            &format!("/v1/reviews/{review}/rectification"),
            Some(&app.head(LYCEE_FABERT)),
            None,
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["motive"]);
    assert!(
        res.detail().contains("motif est obligatoire"),
        "{}",
        res.detail()
    );
    assert_eq!(state_of(&app, &review).await, "pending");
}

#[tokio::test]
async fn a_rectification_request_with_an_empty_object_needs_a_motive() {
    let app = TestApp::spawn().await;
    let review = fabert_review(&app).await;
    let res = app
        .post(
            &format!("/v1/reviews/{review}/rectification"),
            &app.head(LYCEE_FABERT),
            json!({}),
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.detail().contains("motif est obligatoire"),
        "{}",
        res.detail()
    );
    assert_eq!(state_of(&app, &review).await, "pending");
}

#[tokio::test]
async fn a_rectification_request_motivated_by_non_is_too_short() {
    let app = TestApp::spawn().await;
    let review = fabert_review(&app).await;
    let res = app
        .request_rectification(&review, LYCEE_FABERT, "non")
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.detail().contains("trop court"), "{}", res.detail());
    assert_eq!(state_of(&app, &review).await, "pending");
}

async fn dispute(app: &TestApp) -> String {
    let review = fabert_review(app).await;
    let res = app
        .request_rectification(
            &review,
            LYCEE_FABERT,
            "La date de mise en service est erronée.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .escalate(
            &review,
            "region-grand-est",
            "La date figure dans la délibération du conseil régional.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    review
}

#[tokio::test]
async fn an_arbitration_decision_without_a_motive_is_refused() {
    let app = TestApp::spawn().await;
    let review = dispute(&app).await;
    let recteur = app.arbitrator("rectorat:12");
    let res = app
        .post(
            &format!("/v1/disputes/{review}/decision"),
            &recteur,
            json!({"decision": "uphold"}),
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["motive"]);
    assert!(
        res.detail().contains("motif est obligatoire"),
        "{}",
        res.detail()
    );
    let r = app.get(&format!("/v1/reviews/{review}"), &recteur).await;
    assert_eq!(r.body["review"]["state"], "in_arbitration");
}

#[tokio::test]
async fn an_arbitration_decision_must_be_authorise_or_uphold() {
    let app = TestApp::spawn().await;
    let review = dispute(&app).await;
    let res = app
        .decide(
            &review,
            "rectorat:12",
            "approve",
            "Information de service public légitime.",
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["decision"]);
    assert!(
        res.detail().contains("authorise") && res.detail().contains("uphold"),
        "{}",
        res.detail()
    );
}

// ---------------------------------------------------------------------------------------------
// Query parameters.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_page_size_of_zero_or_five_hundred_is_refused() {
    let app = TestApp::spawn().await;
    let head = app.head(LYCEE_FABERT);
    for limit in ["0", "500"] {
        let res = app.get(&format!("/v1/reviews?limit={limit}"), &head).await;
        assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&res), vec!["limit"]);
        assert!(res.detail().contains("entre 1 et 200"), "{}", res.detail());
    }
    assert_eq!(
        app.get("/v1/reviews?limit=200", &head).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unreadable_cursor_is_refused() {
    let app = TestApp::spawn().await;
    let res = app
        .get("/v1/reviews?cursor=@@@", &app.head(LYCEE_FABERT))
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["cursor"]);
    assert!(
        res.detail().contains("Curseur illisible"),
        "{}",
        res.detail()
    );
}

#[tokio::test]
async fn a_non_numeric_page_size_is_a_422_not_a_400() {
    let app = TestApp::spawn().await;
    let res = app
        .get(
            "/v1/messages?limit=beaucoup",
            &app.agent("region-grand-est"),
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.body["errors"][0]["field"], "limit", "{}", res.body);
    assert_eq!(
        res.body["errors"][0]["message"],
        "un nombre entier est attendu"
    );
}

#[tokio::test]
async fn a_deadline_query_without_parameters_lists_kind_and_uai() {
    let app = TestApp::spawn().await;
    let res = app
        .get("/v1/deadlines", &app.agent("region-grand-est"))
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["kind", "uai"], "{}", res.body);
}

#[tokio::test]
async fn a_deadline_query_with_a_bad_submission_instant_is_refused() {
    let app = TestApp::spawn().await;
    let res = app
        .get(
            &format!("/v1/deadlines?kind=one_off&uai={LYCEE_FABERT}&submitted_at=mercredi"),
            &app.agent("region-grand-est"),
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["submitted_at"], "{}", res.body);
    assert!(res.detail().contains("RFC 3339"), "{}", res.detail());
}

// ---------------------------------------------------------------------------------------------
// Idempotency.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn replaying_a_submission_with_the_same_idempotency_key_returns_the_same_message() {
    let app = TestApp::spawn().await;
    let token = app.agent("region-grand-est");
    let body = one_off(&[LYCEE_FABERT]);
    let first = submit_with_key(&app, &token, "envoi-2026-11-23-ligne-12", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let second = submit_with_key(&app, &token, "envoi-2026-11-23-ligne-12", &body).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(first.body["id"], second.body["id"]);
    let list = app.get("/v1/messages", &token).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        list.body
    );
    // The head was asked to review only once.
    let head = app.get("/v1/reviews", &app.head(LYCEE_FABERT)).await;
    assert_eq!(head.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_another_body_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.agent("region-grand-est");
    let first = submit_with_key(&app, &token, "cle-1", &one_off(&[LYCEE_FABERT])).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let mut other = one_off(&[LYCEE_FABERT]);
    other["title"] = json!("Cantine : nouveaux tarifs");
    let res = submit_with_key(&app, &token, "cle-1", &other).await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["Idempotency-Key"]);
    assert!(res.detail().contains("Idempotency-Key"), "{}", res.detail());
    let list = app.get("/v1/messages", &token).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        list.body
    );
}

#[tokio::test]
async fn concurrent_replays_of_one_idempotency_key_create_a_single_message() {
    let app = TestApp::spawn().await;
    let token = app.agent("region-grand-est");
    let body = serde_json::to_vec(&one_off(&[LYCEE_FABERT])).unwrap();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let req = app
            .client
            .post(format!("{}/v1/messages", app.base))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("idempotency-key", "envoi-concurrent")
            .body(body.clone());
        handles.push(tokio::spawn(async move {
            let res = req.send().await.expect("request");
            let status = res.status();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            (status, v["id"].as_str().unwrap_or("").to_owned())
        }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap());
    }
    assert_eq!(
        results
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::OK),
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|(_, id)| *id == results[0].1 && !id.is_empty()),
        "{results:?}"
    );
    let list = app.get("/v1/messages", &token).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        list.body
    );
}

#[tokio::test]
async fn an_unknown_status_filter_on_messages_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.agent("region-grand-est");
    app.submit(&token, one_off(&[LYCEE_FABERT])).await;
    let res = app.get("/v1/messages?status=en_cours", &token).await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["status"]);
    let res = app.get("/v1/messages?kind=urgent", &token).await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["kind"]);
}

#[tokio::test]
async fn an_unknown_review_state_filter_is_refused() {
    let app = TestApp::spawn().await;
    let res = app
        .get("/v1/reviews?state=en_cours", &app.head(LYCEE_FABERT))
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&res), vec!["state"]);
    assert!(
        res.detail().contains("État inconnu « en_cours »"),
        "{}",
        res.detail()
    );
}
