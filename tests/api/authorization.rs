//! The authorisation matrix: who may call what, across roles and tenants. What one may not
//! know exists answers 404, what one's role may not do answers 403, a bad identity 401.

use base64::Engine;
use charte::http::auth::{Claims, dev_token};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn now_secs() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as u64
}

/// Valid claims of Lycée Fabert's head, to be altered by each test.
fn head_claims(app: &TestApp) -> Claims {
    let mut claims = app.claims("head", "head-fabert");
    claims.name = Some("Chef Fabert".into());
    claims.uai = vec![LYCEE_FABERT.into()];
    claims
}

fn assert_unauthorized(res: &Res) {
    assert_problem(res, StatusCode::UNAUTHORIZED);
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A message of the Région to Lycée Fabert, and the id of its review there.
async fn region_message_to_fabert(app: &TestApp) -> (Value, String) {
    let m = app
        .submit(&app.agent("region-grand-est"), one_off(&[LYCEE_FABERT]))
        .await;
    let r = app.review_of(&m, LYCEE_FABERT).await;
    (m, r)
}

/// A dispute about Lycée Fabert before the recteur of académie 12.
async fn dispute_before_rectorat_12(app: &TestApp) -> String {
    let (_, review) = region_message_to_fabert(app).await;
    let res = app
        .request_rectification(
            &review,
            LYCEE_FABERT,
            "Le contenu fait la promotion d'une entreprise privée.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .escalate(
            &review,
            "region-grand-est",
            "La ligne 12 est un service public régional, pas une publicité.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        res.body["review"]["arbitrator"], "rectorat:12",
        "{}",
        res.body
    );
    review
}

// ---------------------------------------------------------------------------------------------
// Identity: 401 for anything but a valid token of this issuer, audience and algorithm.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_request_without_a_token_is_refused_with_401_in_french() {
    let app = TestApp::spawn().await;
    let res = app.call(Method::GET, "/v1/messages", None, None).await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("Authorization"), "{}", res.detail());
    assert!(res.detail().contains("manquant"), "{}", res.detail());
}

#[tokio::test]
async fn an_authorization_header_that_is_not_bearer_is_refused() {
    let app = TestApp::spawn().await;
    let res = app
        .get_with_authorization("/v1/messages", Some("Basic YWRtaW46YWRtaW4="))
        .await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("Bearer"), "{}", res.detail());
}

#[tokio::test]
async fn a_garbage_token_is_refused_as_unreadable() {
    let app = TestApp::spawn().await;
    let res = app.get("/v1/messages", "ceci-n-est-pas-un-jeton").await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("illisible"), "{}", res.detail());
}

#[tokio::test]
async fn an_expired_token_is_refused_and_the_user_is_told_it_expired() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| {
        c.role = "head".into();
        c.uai = vec![LYCEE_FABERT.into()];
        // Well beyond the 30 s leeway.
        c.exp = now_secs() - 120;
        c.iat = now_secs() - 3720;
    });
    let res = app.get("/v1/reviews", &token).await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("expiré"), "{}", res.detail());
}

#[tokio::test]
async fn a_token_expired_within_the_leeway_is_still_accepted() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| {
        c.role = "head".into();
        c.uai = vec![LYCEE_FABERT.into()];
        c.exp = now_secs() - 5;
    });
    let res = app.get("/v1/reviews", &token).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.aud = "another-service".into());
    let res = app.get("/v1/messages", &token).await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("aud"), "{}", res.detail());
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.iss = "https://idp.pirate.example".into());
    let res = app.get("/v1/messages", &token).await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("iss"), "{}", res.detail());
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused() {
    let app = TestApp::spawn().await;
    let token =
        dev_token(b"another-secret-another-secret-another", &head_claims(&app)).expect("token");
    let res = app.get("/v1/reviews", &token).await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("Signature"), "{}", res.detail());
    // The same claims signed with the right secret pass: the signature alone made the difference.
    let good = app.token(&head_claims(&app));
    assert_eq!(app.get("/v1/reviews", &good).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_accepted_before_does_not_open_the_door_to_a_forged_twin() {
    let app = TestApp::spawn().await;
    let good = app.token(&head_claims(&app));
    // Accepted twice: the second time from the verifier's memory of it.
    for _ in 0..2 {
        assert_eq!(app.get("/v1/reviews", &good).await.status, StatusCode::OK);
    }
    // The same claims under another signature are checked, not matched by their claims.
    let forged =
        dev_token(b"another-secret-another-secret-another", &head_claims(&app)).expect("token");
    let res = app.get("/v1/reviews", &forged).await;
    assert_unauthorized(&res);
    let (body, _) = good.rsplit_once('.').unwrap();
    let res = app
        .get("/v1/reviews", &format!("{body}.{}", "A".repeat(43)))
        .await;
    assert_unauthorized(&res);
    assert_eq!(app.get("/v1/reviews", &good).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_signed_with_hs512_is_refused_even_with_the_right_secret() {
    let app = TestApp::spawn().await;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &head_claims(&app),
        &jsonwebtoken::EncodingKey::from_secret(DEV_SECRET),
    )
    .expect("token");
    let header = token.split('.').next().unwrap();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    assert!(String::from_utf8_lossy(&decoded).contains("HS512"));
    let res = app.get("/v1/reviews", &token).await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("Algorithme"), "{}", res.detail());
}

#[tokio::test]
async fn a_hand_crafted_hs512_token_is_refused() {
    let app = TestApp::spawn().await;
    let header = b64(br#"{"alg":"HS512","typ":"JWT"}"#);
    let payload = b64(serde_json::to_string(&head_claims(&app))
        .unwrap()
        .as_bytes());
    let token = format!("{header}.{payload}.{}", b64(b"not-a-real-signature"));
    let res = app.get("/v1/reviews", &token).await;
    assert_unauthorized(&res);
}

#[tokio::test]
async fn an_unsigned_token_with_alg_none_is_refused() {
    let app = TestApp::spawn().await;
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64(serde_json::to_string(&head_claims(&app))
        .unwrap()
        .as_bytes());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        let res = app.get("/v1/reviews", &token).await;
        assert_unauthorized(&res);
    }
}

#[tokio::test]
async fn a_head_token_without_a_school_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.role = "head".into());
    let res = app.get("/v1/reviews", &token).await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("uai"), "{}", res.detail());
}

#[tokio::test]
async fn a_token_with_an_unknown_role_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.role = "superviseur".into());
    let res = app.get("/v1/messages", &token).await;
    assert_unauthorized(&res);
    assert!(res.detail().contains("Jeton refusé"), "{}", res.detail());
}

// ---------------------------------------------------------------------------------------------
// Tenancy: another school, authority, arbitrator or académie gets 404.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_head_of_another_school_cannot_see_the_review() {
    let app = TestApp::spawn().await;
    let (_, review) = region_message_to_fabert(&app).await;
    let res = app
        .get(&format!("/v1/reviews/{review}"), &app.head(LYCEE_KLEBER))
        .await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    assert!(res.detail().contains("introuvable"), "{}", res.detail());
    // Its own head does see it.
    let own = app
        .get(&format!("/v1/reviews/{review}"), &app.head(LYCEE_FABERT))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
}

#[tokio::test]
async fn a_head_of_another_school_cannot_approve_the_review() {
    let app = TestApp::spawn().await;
    let (_, review) = region_message_to_fabert(&app).await;
    let res = app.approve(&review, LYCEE_KLEBER).await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    let own = app
        .get(&format!("/v1/reviews/{review}"), &app.head(LYCEE_FABERT))
        .await;
    assert_eq!(own.body["review"]["state"], "pending", "{}", own.body);
}

#[tokio::test]
async fn another_authority_cannot_see_the_message() {
    let app = TestApp::spawn().await;
    let (m, _) = region_message_to_fabert(&app).await;
    let id = m["id"].as_str().unwrap();
    let moselle = app.agent("departement-moselle");
    let res = app.get(&format!("/v1/messages/{id}"), &moselle).await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    let res = app.get(&format!("/v1/messages/{id}/audit"), &moselle).await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    let list = app.get("/v1/messages", &moselle).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        0,
        "{}",
        list.body
    );
}

#[tokio::test]
async fn another_authority_cannot_submit_a_version_of_the_message() {
    let app = TestApp::spawn().await;
    let (m, _) = region_message_to_fabert(&app).await;
    let id = m["id"].as_str().unwrap();
    let mut v = one_off(&[LYCEE_FABERT]);
    v["change_note"] = json!("Nouvelle rédaction");
    let res = app
        .post(
            &format!("/v1/messages/{id}/versions"),
            &app.agent("departement-moselle"),
            v,
        )
        .await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    let owner = app
        .get(
            &format!("/v1/messages/{id}"),
            &app.agent("region-grand-est"),
        )
        .await;
    assert_eq!(owner.body["versions"], 1, "{}", owner.body);
}

#[tokio::test]
async fn another_authority_cannot_withdraw_the_message() {
    let app = TestApp::spawn().await;
    let (m, _) = region_message_to_fabert(&app).await;
    let id = m["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/v1/messages/{id}/withdraw"),
            &app.agent("departement-moselle"),
            json!({}),
        )
        .await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    let owner = app
        .get(
            &format!("/v1/messages/{id}"),
            &app.agent("region-grand-est"),
        )
        .await;
    assert_eq!(owner.body["status"], "in_review", "{}", owner.body);
}

#[tokio::test]
async fn an_arbitrator_of_another_academie_cannot_see_or_settle_the_dispute() {
    let app = TestApp::spawn().await;
    let review = dispute_before_rectorat_12(&app).await;
    let strasbourg = app.arbitrator("rectorat:15");
    let res = app.get(&format!("/v1/reviews/{review}"), &strasbourg).await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    let res = app
        .post(
            &format!("/v1/disputes/{review}/decision"),
            &strasbourg,
            json!({"decision": "authorise", "motive": "Information de service public légitime."}),
        )
        .await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    // The competent recteur still sees it in arbitration.
    let res = app
        .get(
            &format!("/v1/reviews/{review}"),
            &app.arbitrator("rectorat:12"),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["review"]["state"], "in_arbitration");
}

#[tokio::test]
async fn the_dispute_list_of_another_rectorat_does_not_show_the_dispute() {
    let app = TestApp::spawn().await;
    let review = dispute_before_rectorat_12(&app).await;
    let other = app
        .get("/v1/disputes", &app.arbitrator("rectorat:15"))
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    assert_eq!(
        other.body["items"].as_array().unwrap().len(),
        0,
        "{}",
        other.body
    );
    let own = app
        .get("/v1/disputes", &app.arbitrator("rectorat:12"))
        .await;
    let ids: Vec<&str> = own.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![review.as_str()], "{}", own.body);
}

#[tokio::test]
async fn the_ent_of_one_school_cannot_read_another_schools_feed() {
    let app = TestApp::spawn().await;
    let res = app
        .get(
            &format!("/v1/schools/{LYCEE_KLEBER}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    let own = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
}

#[tokio::test]
async fn academic_services_of_another_academie_cannot_see_the_message() {
    let app = TestApp::spawn().await;
    let (m, _) = region_message_to_fabert(&app).await;
    let id = m["id"].as_str().unwrap();
    let res = app
        .get(&format!("/v1/messages/{id}"), &app.academic("15"))
        .await;
    assert_problem(&res, StatusCode::NOT_FOUND);
    let res = app
        .get(&format!("/v1/messages/{id}"), &app.academic("12"))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

// ---------------------------------------------------------------------------------------------
// Roles: what one's role may not do is 403 (or 404 where the item is out of reach).
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_head_cannot_submit_a_message() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/v1/messages",
            &app.head(LYCEE_FABERT),
            one_off(&[LYCEE_FABERT]),
        )
        .await;
    assert_problem(&res, StatusCode::FORBIDDEN);
    assert!(res.detail().contains("collectivité"), "{}", res.detail());
}

#[tokio::test]
async fn an_authority_agent_cannot_approve_a_review_of_its_own_message() {
    let app = TestApp::spawn().await;
    let (_, review) = region_message_to_fabert(&app).await;
    let res = app
        .post(
            &format!("/v1/reviews/{review}/approve"),
            &app.agent("region-grand-est"),
            json!({}),
        )
        .await;
    assert_problem(&res, StatusCode::FORBIDDEN);
    assert!(
        res.detail().contains("chef d'établissement"),
        "{}",
        res.detail()
    );
    let own = app
        .get(&format!("/v1/reviews/{review}"), &app.head(LYCEE_FABERT))
        .await;
    assert_eq!(own.body["review"]["state"], "pending");
}

#[tokio::test]
async fn an_authority_agent_cannot_escalate_only_the_representative_can() {
    let app = TestApp::spawn().await;
    let (_, review) = region_message_to_fabert(&app).await;
    let res = app
        .request_rectification(
            &review,
            LYCEE_FABERT,
            "La date de mise en service est erronée.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .post(
            &format!("/v1/reviews/{review}/escalate"),
            &app.agent("region-grand-est"),
            json!({"statement": "La date est la bonne, voir l'arrêté régional."}),
        )
        .await;
    assert_problem(&res, StatusCode::FORBIDDEN);
    assert!(res.detail().contains("représentant"), "{}", res.detail());
    assert!(
        res.detail().contains("authority_representative"),
        "{}",
        res.detail()
    );
}

#[tokio::test]
async fn an_arbitrator_cannot_approve_a_review() {
    let app = TestApp::spawn().await;
    let review = dispute_before_rectorat_12(&app).await;
    let res = app
        .post(
            &format!("/v1/reviews/{review}/approve"),
            &app.arbitrator("rectorat:12"),
            json!({}),
        )
        .await;
    assert_problem(&res, StatusCode::FORBIDDEN);
    let res = app
        .get(
            &format!("/v1/reviews/{review}"),
            &app.arbitrator("rectorat:12"),
        )
        .await;
    assert_eq!(res.body["review"]["state"], "in_arbitration");
}

#[tokio::test]
async fn only_an_administrator_reads_the_outbox() {
    let app = TestApp::spawn().await;
    app.submit(&app.agent("region-grand-est"), one_off(&[LYCEE_FABERT]))
        .await;
    for token in [
        app.agent("region-grand-est"),
        app.representative("region-grand-est"),
        app.head(LYCEE_FABERT),
        app.ent(LYCEE_FABERT),
        app.arbitrator("rectorat:12"),
        app.academic("12"),
    ] {
        let res = app.get("/v1/admin/outbox", &token).await;
        assert_problem(&res, StatusCode::FORBIDDEN);
        assert!(res.detail().contains("administrateurs"), "{}", res.detail());
    }
    let res = app.get("/v1/admin/outbox", &app.admin()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(!res.body["items"].as_array().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// A head sees only their own school's part of a message.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_head_sees_only_their_own_schools_review_of_a_message_to_two_lycees() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent("region-grand-est"),
            one_off(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    let res = app
        .get(&format!("/v1/messages/{id}"), &app.head(LYCEE_FABERT))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let uais: Vec<&str> = res.body["own_reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uai"].as_str().unwrap())
        .collect();
    assert_eq!(uais, vec![LYCEE_FABERT], "{}", res.body);
    assert_eq!(res.body["targets"], json!([LYCEE_FABERT]), "{}", res.body);
    assert_eq!(res.body["summary"], json!({"pending": 1}), "{}", res.body);
    let res = app
        .get(
            &format!("/v1/messages/{id}/reviews"),
            &app.head(LYCEE_FABERT),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let uais: Vec<&str> = res.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uai"].as_str().unwrap())
        .collect();
    assert_eq!(uais, vec![LYCEE_FABERT], "{}", res.body);
    // The authority sees both, counted in the summary and listed page by page.
    let res = app
        .get(
            &format!("/v1/messages/{id}"),
            &app.agent("region-grand-est"),
        )
        .await;
    assert_eq!(res.body["summary"], json!({"pending": 2}), "{}", res.body);
    assert_eq!(res.body["own_reviews"], json!([]), "{}", res.body);
    let res = app
        .get(
            &format!("/v1/messages/{id}/reviews?limit=1"),
            &app.agent("region-grand-est"),
        )
        .await;
    assert_eq!(res.body["items"].as_array().unwrap().len(), 1);
    let next = res.body["next_cursor"].as_str().expect("a second page");
    let res = app
        .get(
            &format!("/v1/messages/{id}/reviews?limit=1&cursor={next}"),
            &app.agent("region-grand-est"),
        )
        .await;
    assert_eq!(res.body["items"][0]["uai"], LYCEE_KLEBER, "{}", res.body);
    assert_eq!(res.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn a_heads_review_list_holds_only_their_schools_reviews() {
    let app = TestApp::spawn().await;
    let agent = app.agent("region-grand-est");
    app.submit(&agent, one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
        .await;
    app.submit(&agent, one_off(&[LYCEE_KLEBER])).await;
    let fabert = app.get("/v1/reviews", &app.head(LYCEE_FABERT)).await;
    assert_eq!(fabert.status, StatusCode::OK, "{}", fabert.body);
    let items = fabert.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", fabert.body);
    assert!(items.iter().all(|r| r["uai"] == LYCEE_FABERT));
    let kleber = app.get("/v1/reviews", &app.head(LYCEE_KLEBER)).await;
    let items = kleber.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", kleber.body);
    assert!(items.iter().all(|r| r["uai"] == LYCEE_KLEBER));
}

#[tokio::test]
async fn a_head_does_not_learn_another_schools_rectification_request_from_the_message_status() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent("region-grand-est"),
            one_off(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    let kleber = app.review_of(&m, LYCEE_KLEBER).await;
    let res = app
        .request_rectification(
            &kleber,
            LYCEE_KLEBER,
            "Le contenu fait la promotion d'une entreprise privée.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .get(&format!("/v1/messages/{id}"), &app.head(LYCEE_FABERT))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["summary"], json!({"pending": 1}), "{}", res.body);
    // Only Fabert's pending review is the head's business.
    assert_eq!(res.body["status"], "in_review", "{}", res.body);
}
