//! The contract of issue « a contract that tells the truth »: no input crashes a request, errors
//! name the field in French, input is strict, tokens follow the RFCs to the letter, floods get a
//! 429, and the charter's rules the API used to let slip.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use charte::http::rate_limit::{Rate, RateSettings};

fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

// ---------------------------------------------------------------------------------------------
// Dates: any value is an answer, never a dropped connection.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dates_outside_2000_to_2100_are_a_422_that_says_the_range() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    for (field, value) in [
        ("display_until", "9999-12-31T23:59:59Z"),
        ("publish_at", "0000-01-01T00:00:00Z"),
        ("display_until", "2100-12-31T23:30:00-23:59"),
    ] {
        let res = app
            .post(
                "/v1/messages",
                &agent,
                with(one_off(&[LYCEE_FABERT]), field, json!(value)),
            )
            .await;
        assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            message_of(&res, field).contains("de l'an 2000 à l'an 2100"),
            "{}",
            res.body
        );
    }
    // An emergency, which is published at once, and a new version are checked alike.
    let mut emergency = with(one_off(&[LYCEE_FABERT]), "kind", json!("emergency"));
    emergency["publish_at"] = json!("2026-11-23T09:00:00+01:00");
    emergency["display_until"] = json!("9999-12-31T23:59:59+14:00");
    emergency["emergency"] = json!({"category": "weather", "justification": "Tempête : les cars ne circulent pas ce matin."});
    let res = app.post("/v1/messages", &agent, emergency).await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message_of(&res, "display_until").contains("2100"));
    let m = app.submit(&agent, one_off(&[LYCEE_FABERT])).await;
    let res = app
        .post(
            &format!("/v1/messages/{}/versions", m["id"].as_str().unwrap()),
            &agent,
            json!({"display_until": "9999-12-31T23:59:59Z"}),
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message_of(&res, "display_until").contains("2100"));
}

#[tokio::test]
async fn the_deadline_preview_answers_any_instant_and_expires_at_is_always_rfc3339() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    for at in [
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-23:59",
        "1999-12-31T23:59:59Z",
    ] {
        let path = format!(
            "/v1/deadlines?kind=one_off&uai={LYCEE_FABERT}&submitted_at={}",
            at.replace('+', "%2B")
        );
        let res = app.get(&path, &agent).await;
        assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message_of(&res, "submitted_at").contains("de l'an 2000 à l'an 2100"));
    }
    let res = app
        .get(
            &format!("/v1/deadlines?kind=one_off&uai={LYCEE_FABERT}&submitted_at=2026-11-23T10:00:60%2B01:00"),
            &agent,
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message_of(&res, "submitted_at").contains("seconde intercalaire"));
    // The last accepted day still gives a deadline in RFC 3339.
    let res = app
        .get(
            &format!("/v1/deadlines?kind=recurring&uai={LYCEE_FABERT}&submitted_at=2100-12-31T10:00:00%2B01:00"),
            &agent,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let expires = res.body["expires_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{expires}"
    );
    assert!(expires.starts_with("2101-01-"), "{expires}");
}

// ---------------------------------------------------------------------------------------------
// Errors name the field, in French; input is strict.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_value_of_the_wrong_type_names_the_field_in_french() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let res = app
        .post(
            "/v1/messages",
            &agent,
            with(one_off(&[LYCEE_FABERT]), "title", json!(5)),
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        message_of(&res, "title"),
        "une chaîne de caractères est attendue (reçu : un nombre)"
    );
    assert_eq!(
        res.detail(),
        "« title » : une chaîne de caractères est attendue (reçu : un nombre)"
    );
    let res = app
        .post(
            "/v1/messages",
            &agent,
            with(
                one_off(&[LYCEE_FABERT]),
                "emergency",
                json!({"category": ["weather"]}),
            ),
        )
        .await;
    assert!(message_of(&res, "emergency.category").contains("reçu : une liste"));
    let res = post_bytes(
        &app,
        "/v1/messages",
        &agent,
        "application/json",
        b"{\n  \"title\": \"x\",,\n}".to_vec(),
    )
    .await;
    assert_problem(&res, StatusCode::BAD_REQUEST);
    assert!(
        res.detail().contains("(ligne 2, colonne"),
        "{}",
        res.detail()
    );
    let res = post_bytes(
        &app,
        "/v1/messages",
        &agent,
        "application/json",
        b"[1, 2]".to_vec(),
    )
    .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        message_of(&res, "$"),
        "un objet JSON est attendu (reçu : une liste)"
    );
}

#[tokio::test]
async fn only_json_is_read_and_bodiless_actions_take_nothing_or_an_empty_object() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let body = serde_json::to_vec(&one_off(&[LYCEE_FABERT])).unwrap();
    for ct in [
        "application/jsonp",
        "text/json",
        "application/x-www-form-urlencoded",
    ] {
        let res = post_bytes(&app, "/v1/messages", &agent, ct, body.clone()).await;
        assert_problem(&res, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let res = post_bytes(
        &app,
        "/v1/messages",
        &agent,
        "application/json; charset=utf-8",
        body,
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let review = app.review_of(&res.body, LYCEE_FABERT).await;
    let head = app.head(LYCEE_FABERT);
    let path = format!("/v1/reviews/{review}/approve");
    for refused in [
        &b"{\"motive\": \"d'accord\"}"[..],
        b"[]",
        b"null",
        b"\"ok\"",
    ] {
        let res = post_bytes(&app, &path, &head, "application/json", refused.to_vec()).await;
        assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = post_bytes(&app, &path, &head, "application/json", b"{}".to_vec()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["review"]["state"], "approved");
}

#[tokio::test]
async fn titles_are_plain_text_and_free_texts_have_a_maximum() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    for title in [
        "Cantine\r\nTarifs",
        "Cantine\u{0}",
        "Tarifs \u{202E}tnaveler",
        "Tarifs\u{200B}cantine",
        "<b>Tarifs</b>",
    ] {
        let res = app
            .post(
                "/v1/messages",
                &agent,
                with(one_off(&[LYCEE_FABERT]), "title", json!(title)),
            )
            .await;
        assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            fields(&res).contains(&"title".to_owned()),
            "{title:?}: {}",
            res.body
        );
    }
    // Bodies keep their text but lose invisible controls.
    let m = app
        .submit(
            &agent,
            with(
                one_off(&[LYCEE_FABERT]),
                "body",
                json!("<p>Payez \u{202E}ici\u{202C} avant le\u{200B} 5</p>"),
            ),
        )
        .await;
    assert_eq!(
        m["current_version"]["body_html"],
        "<p>Payez ici avant le 5</p>"
    );

    let id = m["id"].as_str().unwrap();
    let long = "x".repeat(2001);
    let res = app
        .post(
            &format!("/v1/messages/{id}/versions"),
            &agent,
            json!({"title": "Autre titre", "change_note": long}),
        )
        .await;
    assert_eq!(
        message_of(&res, "change_note"),
        "Le texte est trop long (2001 caractères) : 2000 caractères au plus."
    );
    let res = app
        .post(
            &format!("/v1/messages/{id}/withdraw"),
            &agent,
            json!({"motive": long}),
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(fields(&res).contains(&"motive".to_owned()));
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let res = app
        .post(
            &format!("/v1/reviews/{review}/rectification"),
            &app.head(LYCEE_FABERT),
            json!({"motive": "y".repeat(4001)}),
        )
        .await;
    assert!(message_of(&res, "motive").contains("4000 caractères au plus"));
    let mut emergency = with(one_off(&[LYCEE_FABERT]), "kind", json!("emergency"));
    emergency["publish_at"] = json!("2026-11-23T09:00:00+01:00");
    emergency["emergency"] = json!({"category": "weather", "justification": long});
    let res = app.post("/v1/messages", &agent, emergency).await;
    assert!(message_of(&res, "emergency.justification").contains("2000 caractères au plus"));
}

// ---------------------------------------------------------------------------------------------
// Tokens, to the letter of RFC 7519, 6750 and 9110.
// ---------------------------------------------------------------------------------------------

fn challenge(res: &Res) -> String {
    res.headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_every_401_carries_a_challenge() {
    let app = TestApp::spawn().await;
    let token = app.admin();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let res = app
            .get_with_authorization("/v1/schools?limit=1", Some(&format!("{scheme} {token}")))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{scheme}: {}", res.body);
    }
    let res = app.call(Method::GET, "/v1/schools", None, None).await;
    assert_problem(&res, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&res), "Bearer realm=\"charte\"");
    for bad in [
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "Bearer abc.def.ghi",
        "Bearer",
    ] {
        let res = app
            .get_with_authorization("/v1/schools?limit=1", Some(bad))
            .await;
        assert_problem(&res, StatusCode::UNAUTHORIZED);
        let c = challenge(&res);
        assert!(
            c.starts_with("Bearer realm=\"charte\", error=\"invalid_token\", error_description=\""),
            "{c}"
        );
        assert!(c.is_ascii(), "{c}");
    }
}

#[tokio::test]
async fn token_claims_are_checked_to_the_letter() {
    let app = TestApp::spawn().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "nbf in an hour",
            json!({"nbf": now + 3600}),
            "pas encore valable",
        ),
        (
            "aud without ours",
            json!({"aud": ["autre-service", "encore-un"]}),
            "Audience",
        ),
        ("iss mistyped", json!({"iss": 42}), "« iss »"),
        ("aud mistyped", json!({"aud": 7}), "« aud »"),
        ("iss missing", json!({"iss": null}), "iss"),
        (
            "exp two days ahead",
            json!({"exp": now + 2 * 86_400}),
            "durée de validité",
        ),
        ("iat in the future", json!({"iat": now + 3600}), "futur"),
        ("empty sub", json!({"sub": ""}), "sujet (sub) est vide"),
    ];
    for (what, change, expected) in cases {
        let mut claims = app.admin_claims();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        let res = app
            .get("/v1/schools?limit=1", &app.token_json(&claims))
            .await;
        assert_problem(&res, StatusCode::UNAUTHORIZED);
        assert!(res.detail().contains(expected), "{what}: {}", res.detail());
        assert!(
            challenge(&res).contains("error=\"invalid_token\""),
            "{what}"
        );
    }
    // `aud` may be an array that contains ours; `nbf` in the past is fine.
    let mut claims = app.admin_claims();
    claims["aud"] = json!(["autre-service", "charte"]);
    claims["nbf"] = json!(now - 10);
    let res = app
        .get("/v1/schools?limit=1", &app.token_json(&claims))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[tokio::test]
async fn oversized_tokens_and_headers_are_a_431_problem() {
    let app = TestApp::spawn().await;
    let mut claims = app.admin_claims();
    claims["padding"] = json!("p".repeat(17 * 1024));
    let res = app
        .get("/v1/schools?limit=1", &app.token_json(&claims))
        .await;
    assert_problem(&res, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(res.detail().contains("16 Kio"), "{}", res.detail());
    let res = app
        .client
        .get(format!("{}/v1/schools", app.base))
        .bearer_auth(app.admin())
        .header("x-padding", "p".repeat(33 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );
}

#[tokio::test]
async fn the_header_limit_counts_what_the_client_sent_not_the_request_id_added_to_it() {
    use charte::http::hardening::MAX_HEADER_BYTES;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let address = app.base.trim_start_matches("http://").to_owned();
    // Names and values plus four bytes each, as the limit counts them: `host` and `x-padding`.
    let fixed = "host".len() + address.len() + 4 + "x-padding".len() + 4;
    for (total, expected) in [
        (MAX_HEADER_BYTES, "HTTP/1.1 200"),
        (MAX_HEADER_BYTES + 1, "HTTP/1.1 431"),
    ] {
        let padding = "p".repeat(total - fixed);
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let request =
            format!("GET /healthz HTTP/1.1\r\nhost: {address}\r\nx-padding: {padding}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = vec![0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        let head = String::from_utf8_lossy(&head).into_owned();
        assert_eq!(head, expected, "headers of {total} bytes");
    }
}

// ---------------------------------------------------------------------------------------------
// Floods are slowed down, others are served.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_burst_from_one_caller_gets_429_while_another_caller_is_served() {
    let app = TestApp::spawn_with_rate_limits(RateSettings {
        per_subject: Rate::new(1, 5),
        per_address: None,
    })
    .await;
    let flooder = app.agent(REGION);
    let mut limited = None;
    for _ in 0..12 {
        let res = app.get("/v1/schools?limit=1", &flooder).await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(res);
            break;
        }
        assert_eq!(res.status, StatusCode::OK);
    }
    let res = limited.expect("the burst was never limited");
    assert_problem(&res, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.detail().contains("réessayez dans"), "{}", res.detail());
    let retry: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Another caller is served normally, and probes are never limited.
    let other = app
        .get("/v1/schools?limit=1", &app.head(LYCEE_FABERT))
        .await;
    assert_eq!(other.status, StatusCode::OK);
    for _ in 0..20 {
        let res = app.call(Method::GET, "/healthz", None, None).await;
        assert_eq!(res.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_burst_from_one_address_gets_429_whatever_the_token() {
    let app = TestApp::spawn_with_rate_limits(RateSettings {
        per_subject: None,
        per_address: Rate::new(1, 4),
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let token = app.head(if i % 2 == 0 {
            LYCEE_FABERT
        } else {
            LYCEE_KLEBER
        });
        statuses.push(app.get("/v1/schools?limit=1", &token).await.status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------------------------
// Small hardening.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn request_ids_are_kept_only_when_plain_and_api_answers_are_not_sniffed_or_stored() {
    let app = TestApp::spawn().await;
    let send = |id: &str| {
        app.client
            .get(format!("{}/v1/schools?limit=1", app.base))
            .bearer_auth(app.admin())
            .header("x-request-id", id.to_owned())
            .send()
    };
    let res = send("appel-42-ABC").await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "appel-42-ABC");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["cache-control"], "no-store");
    for bad in ["<script>alert(1)</script>", "a b", "x_y"] {
        let res = send(bad).await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, bad);
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{id}"
        );
    }
    let long = "a".repeat(65);
    let res = send(&long).await.unwrap();
    assert_ne!(res.headers()["x-request-id"], long.as_str());

    let docs = app
        .client
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(docs.headers()["x-frame-options"], "DENY");
    let page = docs.text().await.unwrap();
    assert!(
        page.contains("href=\"/docs/assets/swagger-ui.css\""),
        "{page}"
    );
    let css = app
        .client
        .get(format!("{}/docs/assets/swagger-ui.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// The charter's rules the API let slip.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_display_that_ends_before_a_schools_deadline_is_refused_per_school() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    // Monday 09:00: three business days run to Thursday 26 November at midnight.
    let mut body = one_off(&[LYCEE_FABERT, LYCEE_KLEBER]);
    body["publish_at"] = json!("2026-11-23T10:00:00+01:00");
    body["display_until"] = json!("2026-11-26T18:00:00+01:00");
    let res = app.post("/v1/messages", &agent, body).await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let per_school: Vec<&str> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == "display_until")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(per_school.len(), 2, "{}", res.body);
    assert!(per_school.iter().any(|m| m.contains(LYCEE_FABERT)));
    assert!(per_school.iter().any(|m| m.contains(LYCEE_KLEBER)));
    assert!(
        per_school[0].contains("jusqu'au jeudi 26 novembre 2026 à minuit")
            && per_school[0].contains("postérieure au jeudi 26 novembre 2026 à minuit"),
        "{}",
        per_school[0]
    );

    // A publication asked before the deadline is accepted, with a warning.
    let mut body = one_off(&[LYCEE_FABERT]);
    body["publish_at"] = json!("2026-11-23T10:00:00+01:00");
    let m = app.submit(&agent, body).await;
    let warnings = m["current_version"]["warnings"].as_array().unwrap();
    let w = warnings
        .iter()
        .find(|w| w["code"] == "publication_avant_fin_examen")
        .unwrap_or_else(|| panic!("no warning: {m}"));
    assert!(w["message"].as_str().unwrap().contains("qu'à l'accord"));
    // Publication after the deadline: no such warning.
    let m = app.submit(&agent, one_off(&[LYCEE_FABERT])).await;
    assert!(
        !m["current_version"]["warnings"]
            .to_string()
            .contains("publication_avant_fin_examen")
    );
}

#[tokio::test]
async fn a_new_version_keeps_what_it_omits_and_an_identical_one_is_refused() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let m = app.submit(&agent, one_off(&[LYCEE_FABERT])).await;
    let id = m["id"].as_str().unwrap();
    let res = app
        .post(&format!("/v1/messages/{id}/versions"), &agent, json!({}))
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message_of(&res, "$").contains("identique à la version en vigueur"));
    let res = app
        .post(
            &format!("/v1/messages/{id}/versions"),
            &agent,
            json!({"title": "Transports scolaires : ligne 12 modifiée"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let (v1, v2) = (&m["current_version"], &res.body["current_version"]);
    assert_eq!(v2["number"], 2);
    assert_eq!(v2["title"], "Transports scolaires : ligne 12 modifiée");
    for kept in ["body_html", "audience", "publish_at", "display_until"] {
        assert_eq!(v2[kept], v1[kept], "{kept}");
    }
}

/// A one-off message of the Région to `uai`, whose head asked for a rectification that the
/// Région's representative took to arbitration: the message and the review in dispute.
async fn dispute_in(app: &TestApp, uai: &str) -> (Value, String) {
    let m = app.submit(&app.agent(REGION), one_off(&[uai])).await;
    let review = app.review_of(&m, uai).await;
    let res = app
        .post(
            &format!("/v1/reviews/{review}/rectification"),
            &app.head(uai),
            json!({"motive": "Le contenu relève de la promotion commerciale."}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .post(
            &format!("/v1/reviews/{review}/escalate"),
            &app.representative(REGION),
            json!({"statement": "Information de service public sur les transports."}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    (m, review)
}

#[tokio::test]
async fn a_new_version_closes_the_dispute_and_tells_the_arbitrator() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let (m, review) = dispute_in(&app, LYCEE_FABERT).await;
    let id = m["id"].as_str().unwrap();
    let recteur = app.arbitrator("rectorat:12");
    assert_eq!(
        app.get("/v1/disputes", &recteur).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let res = app
        .post(
            &format!("/v1/messages/{id}/versions"),
            &agent,
            json!({"title": "Transports : ligne 12 (texte revu)", "targets": [LYCEE_FABERT]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);

    assert_eq!(
        app.get("/v1/disputes", &recteur).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let closed = app.get("/v1/disputes?state=closed", &recteur).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    let items = closed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", closed.body);
    assert_eq!(items[0]["id"], review.as_str());
    assert!(
        items[0]["closed_reason"]
            .as_str()
            .unwrap()
            .contains("nouvelle version")
    );
    for wrong in ["fini", "", "%20open"] {
        let res = app
            .get(&format!("/v1/disputes?state={wrong}"), &recteur)
            .await;
        assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    }

    let mails = app.emails_of_kind("dispute_closed").await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]["subject"]
            .as_str()
            .unwrap()
            .contains("Litige clos sans décision")
    );
    assert!(mails[0]["text"].as_str().unwrap().contains("version 2"));
    let audit = app.get(&format!("/v1/messages/{id}/audit"), &agent).await;
    let closure = audit.body.to_string();
    assert!(closure.contains("\"dispute_closed\""), "{closure}");
}

#[tokio::test]
async fn the_outbox_is_paged_and_says_each_emails_delivery_status() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    for _ in 0..3 {
        app.submit(&agent, one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
            .await;
    }
    let admin = app.admin();
    let mut seen = Vec::new();
    let mut path = "/v1/admin/outbox?limit=4".to_owned();
    let mut pages = 0;
    loop {
        let res = app.get(&path, &admin).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let items = res.body["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        for item in items {
            assert_eq!(item["delivery"]["status"], "queued");
            assert_eq!(item["status_label"], "en file d'envoi");
            seen.push(item["email"]["id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match res.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/admin/outbox?limit=4&cursor={c}"),
            None => break,
        }
    }
    // Six review requests, each once, over two pages.
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(pages, 2);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 6);
    for bad in ["limit=0", "limit=201", "cursor=%%%", "cursor=aW5jb25udQ"] {
        let res = app.get(&format!("/v1/admin/outbox?{bad}"), &admin).await;
        assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = app.get("/v1/admin/outbox", &agent).await;
    assert_problem(&res, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_withdrawal_closes_the_dispute_too() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    let (m, review) = dispute_in(&app, LYCEE_AGRICOLE).await;
    let id = m["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/v1/messages/{id}/withdraw"),
            &agent,
            json!({"motive": "Ligne supprimée."}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let draaf = app.arbitrator("draaf:44");
    assert!(
        app.get("/v1/disputes", &draaf).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let closed = app.get("/v1/disputes?state=closed", &draaf).await;
    assert_eq!(
        closed.body["items"][0]["id"],
        review.as_str(),
        "{}",
        closed.body
    );
    assert!(
        closed.body["items"][0]["closed_reason"]
            .as_str()
            .unwrap()
            .contains("retiré")
    );
    let mails = app.emails_of_kind("dispute_closed").await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]["text"]
            .as_str()
            .unwrap()
            .contains("a retiré la communication")
    );
}

#[tokio::test]
async fn stray_declarations_and_contradicting_filters_are_refused() {
    let app = TestApp::spawn().await;
    let agent = app.agent(REGION);
    for stray in [json!({}), json!({"category": null})] {
        let res = app
            .post(
                "/v1/messages",
                &agent,
                with(one_off(&[LYCEE_FABERT]), "emergency", stray),
            )
            .await;
        assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message_of(&res, "emergency").contains("« emergency »"));
    }
    let res = app
        .get(
            "/v1/reviews?state=pending&status=upheld",
            &app.head(LYCEE_FABERT),
        )
        .await;
    assert_problem(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(fields(&res).contains(&"status".to_owned()));
    let res = app
        .get(
            "/v1/reviews?state=pending&status=pending",
            &app.head(LYCEE_FABERT),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
}
