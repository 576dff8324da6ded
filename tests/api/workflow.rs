//! The charter's workflow end to end, as the people involved see it.

use reqwest::StatusCode;
use serde_json::json;
use time::macros::datetime;

use crate::helpers::*;

#[tokio::test]
async fn a_one_off_message_opens_one_review_per_school_with_its_legal_deadline() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent("region-grand-est"),
            one_off(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;

    assert_eq!(m["status"], "in_review");
    assert_eq!(m["current_version"]["number"], 1);
    assert_eq!(m["current_version"]["hash"].as_str().unwrap().len(), 64);
    assert_eq!(m["summary"], json!({"pending": 2}), "{m}");
    assert_eq!(m["next_deadline"], "2026-11-27T00:00:00+01:00", "{m}");
    let reviews = &app.reviews_of(&m, None).await;
    assert_eq!(reviews.len(), 2);
    for r in reviews {
        assert_eq!(r["state"], "pending");
        // Submitted Monday: Tuesday, Wednesday, Thursday count; silence is consent at Thursday midnight.
        assert_eq!(r["deadline"], "2026-11-27T00:00:00+01:00");
        assert_eq!(r["deadline_last_day"], "2026-11-26");
        assert_eq!(r["deadline_in_words"], "jeudi 26 novembre 2026 à minuit");
        assert_eq!(r["business_days_left"], 3);
    }

    // Each head receives the exhaustive content with the deadline in words.
    let mails = app.outbox().await;
    let requests: Vec<_> = mails
        .iter()
        .filter(|m| m["kind"] == "review_request")
        .collect();
    assert_eq!(requests.len(), 2);
    let fabert = requests
        .iter()
        .find(|m| {
            m["to"][0]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("0570054z")
        })
        .expect("mail to Fabert");
    assert!(
        fabert["subject"]
            .as_str()
            .unwrap()
            .contains("jeudi 26 novembre 2026 à minuit")
    );
    let text = fabert["text"].as_str().unwrap();
    assert!(text.contains("la ligne 12 dessert le lycée"), "{text}");
    assert!(text.contains("accord tacite"));
}

#[tokio::test]
async fn a_recurring_message_ending_on_a_saturday_runs_on_to_monday() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent("region-grand-est"), recurring(&[LYCEE_FABERT]))
        .await;
    // Tue 24 … Sat 28 is five days; art. 642 carries a Saturday end to Monday 30.
    let reviews = app.reviews_of(&m, None).await;
    assert_eq!(reviews[0]["deadline_last_day"], "2026-11-30");
    assert_eq!(reviews[0]["deadline"], "2026-12-01T00:00:00+01:00");
    assert_eq!(m["next_deadline"], "2026-12-01T00:00:00+01:00");
}

#[tokio::test]
async fn an_approved_message_reaches_the_families_feed_from_its_publication_date() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent("region-grand-est"),
            one_off(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;

    let res = app.approve(&review, LYCEE_FABERT).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["review"]["state"], "approved");

    // Before the publication date nothing shows.
    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    assert_eq!(feed.body["items"].as_array().unwrap().len(), 0);

    app.advance_to(datetime!(2026-11-25 09:00 +01:00)).await;
    // Still before 30 November.
    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    assert_eq!(feed.body["items"].as_array().unwrap().len(), 0);

    app.advance_to(datetime!(2026-11-30 08:00 +01:00)).await;
    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    let items = feed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    // Exactly what the head approved.
    assert_eq!(items[0]["version_hash"], m["current_version"]["hash"]);
    assert_eq!(items[0]["body_html"], m["current_version"]["body_html"]);

    // The other school, silent, got tacit approval at Thursday midnight and shows it too.
    let other = app
        .get(
            &format!("/v1/schools/{LYCEE_KLEBER}/feed"),
            &app.ent(LYCEE_KLEBER),
        )
        .await;
    assert_eq!(other.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn silence_becomes_tacit_approval_at_the_exact_legal_instant() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent("region-grand-est"), one_off(&[LYCEE_FABERT]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let head = app.head(LYCEE_FABERT);

    app.advance_to(datetime!(2026-11-26 23:59:59 +01:00)).await;
    let r = app.get(&format!("/v1/reviews/{review}"), &head).await;
    assert_eq!(r.body["review"]["state"], "pending");

    app.advance_to(datetime!(2026-11-27 00:00 +01:00)).await;
    let r = app.get(&format!("/v1/reviews/{review}"), &head).await;
    assert_eq!(r.body["review"]["state"], "tacitly_approved");
    // The legal instant is the deadline itself.
    assert_eq!(r.body["review"]["decided_at"], "2026-11-27T00:00:00+01:00");

    let late = app
        .post(&format!("/v1/reviews/{review}/approve"), &head, json!({}))
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.content_type(), "application/problem+json");
    assert!(
        late.detail().contains("approuvée tacitement"),
        "{}",
        late.detail()
    );

    // Exactly one tacit approval in the audit trail, and the authority and head are told.
    let audit = app
        .get(
            &format!("/v1/messages/{}/audit", m["id"].as_str().unwrap()),
            &app.agent("region-grand-est"),
        )
        .await;
    let tacit = audit.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "tacitly_approved")
        .count();
    assert_eq!(tacit, 1);
    assert!(
        app.outbox()
            .await
            .iter()
            .any(|m| m["kind"] == "tacitly_approved")
    );
}

#[tokio::test]
async fn a_head_answering_after_the_deadline_before_the_sweep_is_told_tacit_approval_is_acquired() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent("region-grand-est"), one_off(&[LYCEE_FABERT]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    // Move time without waking the scheduler: the head's request is the first to notice.
    app.clock.set(datetime!(2026-11-27 00:00:01 +01:00));
    let late = app
        .request_rectification(&review, LYCEE_FABERT, "Le tarif annoncé est erroné.")
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(
        late.detail(),
        "Le délai a expiré le jeudi 26 novembre 2026 à minuit : l'accord tacite est acquis, il n'est plus possible de demander une rectification."
    );
    let r = app
        .get(&format!("/v1/reviews/{review}"), &app.head(LYCEE_FABERT))
        .await;
    assert_eq!(r.body["review"]["state"], "tacitly_approved");
}

#[tokio::test]
async fn concurrent_decisions_on_one_review_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent("region-grand-est"), one_off(&[LYCEE_FABERT]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let head = app.head(LYCEE_FABERT);
    let path = format!("/v1/reviews/{review}/approve");
    let calls = (0..12).map(|_| app.post(&path, &head, json!({})));
    // Polled together, so the requests really race on the server.
    let results = futures::future::join_all(calls).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let conflicts: Vec<_> = results
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .collect();
    assert_eq!(ok, 1);
    assert_eq!(conflicts.len(), 11);
    assert!(
        conflicts
            .iter()
            .all(|r| r.detail().contains("« approuvée »")),
        "{}",
        conflicts[0].detail()
    );
}

#[tokio::test]
async fn a_rectification_request_goes_back_to_the_authority_and_a_new_version_is_reviewed_anew() {
    let app = TestApp::spawn().await;
    let agent = app.agent("region-grand-est");
    let m = app
        .submit(&agent, one_off(&[LYCEE_FABERT, LYCEE_KLEBER]))
        .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let fabert_v1 = app.review_of(&m, LYCEE_FABERT).await;
    let kleber_v1 = app.review_of(&m, LYCEE_KLEBER).await;

    // Kléber approves version 1; Fabert doubts it.
    app.approve(&kleber_v1, LYCEE_KLEBER).await;
    let res = app
        .request_rectification(
            &fabert_v1,
            LYCEE_FABERT,
            "La date du 7 décembre est erronée : c'est le 14.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["review"]["state"], "rectification_requested");
    assert_eq!(
        res.body["review"]["rectification"]["text"],
        "La date du 7 décembre est erronée : c'est le 14."
    );

    let mails = app.outbox().await;
    let to_authority = mails
        .iter()
        .find(|m| m["kind"] == "rectification_requested")
        .expect("authority told");
    assert!(
        to_authority["text"]
            .as_str()
            .unwrap()
            .contains("c'est le 14")
    );
    let academic = mails
        .iter()
        .find(|m| m["kind"] == "academic_services_informed")
        .expect("academic services told");
    assert!(
        academic["to"][0].as_str().unwrap().contains("nancy-metz"),
        "{}",
        academic["to"]
    );

    // Two days later, the authority sends a rectified version.
    app.advance_to(datetime!(2026-11-25 10:00 +01:00)).await;
    let mut v2 = one_off(&[]);
    v2.as_object_mut().unwrap().remove("targets");
    v2.as_object_mut().unwrap().remove("kind");
    v2["body"] = json!(
        "<p>À partir du <strong>lundi 14 décembre</strong>, la ligne 12 dessert le lycée.</p>"
    );
    v2["change_note"] = json!("Date corrigée.");
    let res = app
        .post(&format!("/v1/messages/{id}/versions"), &agent, v2)
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["versions"], 2);

    let reviews = app.reviews_of(&res.body, None).await;
    let fabert: Vec<_> = reviews
        .iter()
        .filter(|r| r["uai"] == LYCEE_FABERT)
        .collect();
    assert_eq!(fabert.len(), 2);
    let new = fabert.iter().find(|r| r["version"] == 2).unwrap();
    let old = fabert.iter().find(|r| r["version"] == 1).unwrap();
    assert_eq!(old["state"], "superseded");
    assert_eq!(new["state"], "pending");
    // A fresh full period from Wednesday: Thursday, Friday, Saturday → runs on to Monday.
    assert_eq!(new["deadline_last_day"], "2026-11-30");
    // Kléber, which approved, is not asked again by default.
    assert!(
        reviews
            .iter()
            .filter(|r| r["uai"] == LYCEE_KLEBER)
            .all(|r| r["version"] == 1)
    );

    // The head sees what changed.
    let detail = app
        .get(
            &format!("/v1/reviews/{}", new["id"].as_str().unwrap()),
            &app.head(LYCEE_FABERT),
        )
        .await;
    assert_eq!(detail.body["previous_version"], 1);
    let changes = detail.body["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["tag"] == "delete" && c["text"].as_str().unwrap().contains("7 décembre"))
    );
    assert!(
        changes
            .iter()
            .any(|c| c["tag"] == "insert" && c["text"].as_str().unwrap().contains("14 décembre"))
    );
}

#[tokio::test]
async fn a_school_keeps_its_approved_version_on_display_until_it_approves_the_new_one() {
    let app = TestApp::spawn().await;
    let agent = app.agent("region-grand-est");
    let m = app.submit(&agent, one_off(&[LYCEE_FABERT])).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let v1 = app.review_of(&m, LYCEE_FABERT).await;
    app.approve(&v1, LYCEE_FABERT).await;
    app.advance_to(datetime!(2026-11-30 09:00 +01:00)).await;

    let mut v2 = one_off(&[]);
    v2["targets"] = json!([LYCEE_FABERT]);
    v2["title"] = json!("Transports scolaires : ligne 12 (horaires mis à jour)");
    let res = app
        .post(&format!("/v1/messages/{id}/versions"), &agent, v2)
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let v2_review = app
        .reviews_of(&res.body, None)
        .await
        .iter()
        .find(|r| r["version"] == 2)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    assert_eq!(feed.body["items"][0]["version"], 1);

    app.approve(&v2_review, LYCEE_FABERT).await;
    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    assert_eq!(feed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(feed.body["items"][0]["version"], 2);
    assert_eq!(
        feed.body["items"][0]["title"],
        "Transports scolaires : ligne 12 (horaires mis à jour)"
    );
}

#[tokio::test]
async fn a_persistent_dispute_goes_to_the_recteur_or_the_draaf_who_decides_with_a_motive() {
    let app = TestApp::spawn().await;
    let agent = app.agent("region-grand-est");
    let m = app
        .submit(&agent, one_off(&[LYCEE_FABERT, LYCEE_AGRICOLE]))
        .await;
    for uai in [LYCEE_FABERT, LYCEE_AGRICOLE] {
        let r = app.review_of(&m, uai).await;
        let res = app
            .post(
                &format!("/v1/reviews/{r}/rectification"),
                &app.head(uai),
                json!({"motive": "Ce contenu relève de la promotion commerciale."}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK);
    }
    let fabert = app.review_of(&m, LYCEE_FABERT).await;
    let agricole = app.review_of(&m, LYCEE_AGRICOLE).await;

    // An agent may not escalate; the representative may.
    let res = app
        .post(
            &format!("/v1/reviews/{fabert}/escalate"),
            &agent,
            json!({"statement": "Information de service public."}),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let rep = app.representative("region-grand-est");
    for r in [&fabert, &agricole] {
        let res = app.post(&format!("/v1/reviews/{r}/escalate"), &rep, json!({"statement": "Il s'agit d'une information de service public sur les transports."})).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.body["review"]["state"], "in_arbitration");
    }
    let fabert_view = app.get(&format!("/v1/reviews/{fabert}"), &rep).await;
    assert_eq!(fabert_view.body["review"]["arbitrator"], "rectorat:12");
    let agri_view = app.get(&format!("/v1/reviews/{agricole}"), &rep).await;
    assert_eq!(agri_view.body["review"]["arbitrator"], "draaf:44");
    assert!(
        app.outbox()
            .await
            .iter()
            .filter(|m| m["kind"] == "escalated")
            .count()
            == 2
    );

    // The recteur sees only the dispute of the académie, with both statements.
    let recteur = app.arbitrator("rectorat:12");
    app.advance_to(datetime!(2026-11-24 15:00 +01:00)).await;
    let disputes = app.get("/v1/disputes", &recteur).await;
    let items = disputes.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], fabert.as_str());
    assert_eq!(items[0]["age_hours"], 30);
    assert!(
        items[0]["review"]["rectification"]["text"]
            .as_str()
            .unwrap()
            .contains("promotion")
    );
    assert!(
        items[0]["review"]["escalation"]["text"]
            .as_str()
            .unwrap()
            .contains("service public")
    );

    let no_motive = app
        .post(
            &format!("/v1/disputes/{fabert}/decision"),
            &recteur,
            json!({"decision": "authorise"}),
        )
        .await;
    assert_eq!(no_motive.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .post(
            &format!("/v1/disputes/{fabert}/decision"),
            &recteur,
            json!({"decision": "authorise", "motive": "Information pratique liée à la scolarité."}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["review"]["state"], "authorised");

    let draaf = app.arbitrator("draaf:44");
    let res = app
        .post(
            &format!("/v1/disputes/{agricole}/decision"),
            &draaf,
            json!({"decision": "uphold", "motive": "Le refus du chef d'établissement est fondé."}),
        )
        .await;
    assert_eq!(res.body["review"]["state"], "upheld");

    app.advance_to(datetime!(2026-11-30 09:00 +01:00)).await;
    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_FABERT}/feed"),
            &app.ent(LYCEE_FABERT),
        )
        .await;
    assert_eq!(feed.body["items"].as_array().unwrap().len(), 1);
    let feed = app
        .get(
            &format!("/v1/schools/{LYCEE_AGRICOLE}/feed"),
            &app.ent(LYCEE_AGRICOLE),
        )
        .await;
    assert_eq!(feed.body["items"].as_array().unwrap().len(), 0);
    let outcome = app
        .outbox()
        .await
        .into_iter()
        .filter(|m| m["kind"] == "arbitration_outcome")
        .count();
    assert_eq!(outcome, 2);
}

#[tokio::test]
async fn an_emergency_publishes_at_once_everywhere_and_emails_a_copy_to_each_head() {
    let app = TestApp::spawn().await;
    let agent = app.agent("departement-moselle");
    let mut body = one_off(&[COLLEGE_JEAN_MOULIN, "0570095U"]);
    body["kind"] = json!("emergency");
    body["title"] = json!("Transports scolaires suspendus demain");
    body["publish_at"] = json!("2026-11-23T09:00:00+01:00");
    body["emergency"] = json!({"category": "weather", "justification": "Vigilance orange neige et verglas : circulation des cars interdite par arrêté préfectoral."});
    let m = app.submit(&agent, body).await;
    assert_eq!(m["status"], "emergency_published");
    assert!(
        app.reviews_of(&m, None)
            .await
            .iter()
            .all(|r| r["state"] == "emergency_published")
    );

    let feed = app
        .get(
            &format!("/v1/schools/{COLLEGE_JEAN_MOULIN}/feed"),
            &app.ent(COLLEGE_JEAN_MOULIN),
        )
        .await;
    assert_eq!(feed.body["items"][0]["emergency"], true);

    let copies: Vec<_> = app
        .outbox()
        .await
        .into_iter()
        .filter(|m| m["kind"] == "emergency_copy")
        .collect();
    assert_eq!(copies.len(), 2);
    assert!(
        copies
            .iter()
            .all(|c| c["subject"].as_str().unwrap().starts_with("[URGENCE]"))
    );
    assert!(copies.iter().all(|c| c["created_at"] == m["submitted_at"]));

    let authorities = app.get("/v1/authorities?kind=departement", &agent).await;
    let moselle = authorities
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "departement-moselle")
        .unwrap()
        .clone();
    assert_eq!(moselle["emergencies"], 1);
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_across_a_restart_and_the_audit_trail_still_verifies() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(
            &app.agent("region-grand-est"),
            one_off(&[LYCEE_FABERT, LYCEE_KLEBER]),
        )
        .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let review = app.review_of(&m, LYCEE_FABERT).await;
    let res = app.approve(&review, LYCEE_FABERT).await;
    assert_eq!(res.status, StatusCode::OK);

    let app = app.crash_and_restart().await;
    let after = app
        .get(
            &format!("/v1/messages/{id}"),
            &app.agent("region-grand-est"),
        )
        .await;
    assert_eq!(after.status, StatusCode::OK);
    let states: Vec<_> = app
        .reviews_of(&after.body, None)
        .await
        .iter()
        .map(|r| {
            (
                r["uai"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(states.contains(&(LYCEE_FABERT.to_owned(), "approved".to_owned())));
    assert!(states.contains(&(LYCEE_KLEBER.to_owned(), "pending".to_owned())));

    // The restarted scheduler still honours the pending deadline.
    app.advance_to(datetime!(2026-11-27 00:00 +01:00)).await;
    let after = app
        .get(
            &format!("/v1/messages/{id}"),
            &app.agent("region-grand-est"),
        )
        .await;
    let kleber = app
        .reviews_of(&after.body, None)
        .await
        .iter()
        .find(|r| r["uai"] == LYCEE_KLEBER)
        .unwrap()
        .clone();
    assert_eq!(kleber["state"], "tacitly_approved");

    let audit = app
        .get(
            &format!("/v1/messages/{id}/audit"),
            &app.agent("region-grand-est"),
        )
        .await;
    assert_eq!(
        audit.body["verification"]["valid"], true,
        "{}",
        audit.body["verification"]
    );
    let actions: Vec<_> = audit.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        vec![
            "submitted",
            "review_opened",
            "approved",
            "review_opened",
            "tacitly_approved"
        ]
    );
}

#[tokio::test]
async fn tampering_with_a_stored_audit_record_is_detected() {
    let mut app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent("region-grand-est"), one_off(&[LYCEE_FABERT]))
        .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let review = app.review_of(&m, LYCEE_FABERT).await;
    app.request_rectification(&review, LYCEE_FABERT, "Le numéro de téléphone est faux.")
        .await;

    let records = app.store.audit(&id).await.unwrap();
    assert_eq!(
        records.len(),
        3,
        "submitted, review opened, rectification requested"
    );
    // The head's rectification request is rewritten to look like no objection.
    let mut forged = records
        .iter()
        .find(|r| r.entry.action == charte::domain::audit::AuditAction::RectificationRequested)
        .unwrap()
        .clone();
    forged.entry.motive = Some("Aucune objection.".into());
    app.tamper(&forged).await;

    let audit = app
        .get(
            &format!("/v1/messages/{id}/audit"),
            &app.agent("region-grand-est"),
        )
        .await;
    assert_eq!(audit.body["verification"]["valid"], false);
    assert_eq!(
        audit.body["verification"]["first_invalid_chain"],
        LYCEE_FABERT
    );
    // The school's chain opens with its review; the forged record is the second.
    assert_eq!(audit.body["verification"]["first_invalid_seq"], 2);
    assert!(
        audit.body["verification"]["detail"]
            .as_str()
            .unwrap()
            .contains("modifié")
    );
}

#[tokio::test]
async fn the_deadline_service_gives_the_dates_of_the_worked_examples() {
    let app = TestApp::spawn().await;
    let t = app.agent("region-grand-est");
    let res = app
        .get(
            "/v1/deadlines?kind=recurring&uai=0540038Y&submitted_at=2025-04-16T10:00:00%2B02:00",
            &t,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // Meurthe-et-Moselle: only Easter Monday is skipped.
    assert_eq!(res.body["last_day"], "2025-04-23");
    assert_eq!(res.body["expires_at"], "2025-04-24T00:00:00+02:00");
    let res = app
        .get(
            "/v1/deadlines?kind=recurring&uai=0570054Z&submitted_at=2025-04-16T10:00:00%2B02:00",
            &t,
        )
        .await;
    // Moselle: Good Friday too.
    assert_eq!(res.body["last_day"], "2025-04-24");
}

#[test]
fn the_cli_prints_the_deadline_as_json() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_charte"))
        .args([
            "deadline",
            "--submitted-at",
            "2025-12-23T10:00:00+01:00",
            "--days",
            "3",
            "--department",
            "75",
        ])
        .output()
        .expect("run charte");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["last_day"], "2025-12-29");
    assert_eq!(v["extended_from"], "2025-12-27");
    assert_eq!(v["expires_at"], "2025-12-30T00:00:00+01:00");
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed");
    let generated = charte::http::openapi_json();
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the code: run `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[tokio::test]
async fn an_emergency_cannot_be_scheduled_for_later() {
    let app = TestApp::spawn().await;
    let mut body = one_off(&[COLLEGE_JEAN_MOULIN]);
    body["kind"] = json!("emergency");
    body["emergency"] = json!({"category": "strike", "justification": "Grève des agents de restauration annoncée ce matin."});
    let res = app
        .post("/v1/messages", &app.agent("departement-moselle"), body)
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.body["errors"][0]["field"], "publish_at");
    assert!(res.detail().contains("publiée immédiatement"));
}

#[tokio::test]
async fn a_waiting_dispute_reminds_its_arbitrator_once_a_day_until_decided() {
    let app = TestApp::spawn().await;
    let m = app
        .submit(&app.agent("region-grand-est"), one_off(&[LYCEE_FABERT]))
        .await;
    let review = app.review_of(&m, LYCEE_FABERT).await;
    app.request_rectification(
        &review,
        LYCEE_FABERT,
        "Contenu promotionnel sans lien avec la scolarité.",
    )
    .await;
    let res = app
        .escalate(
            &review,
            "region-grand-est",
            "Information utile aux familles.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let reminders = |mails: Vec<serde_json::Value>| {
        mails
            .into_iter()
            .filter(|m| m["kind"] == "dispute_reminder")
            .collect::<Vec<_>>()
    };

    // Not before a day has passed.
    assert_eq!(app.charte.queue_dispute_reminders().await.unwrap(), 0);
    app.clock.set(datetime!(2026-11-24 09:30 +01:00));
    assert_eq!(app.charte.queue_dispute_reminders().await.unwrap(), 1);
    // Asking again the same day (another replica, say) queues nothing more.
    assert_eq!(app.charte.queue_dispute_reminders().await.unwrap(), 0);
    let sent = reminders(app.outbox().await);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]["to"][0].as_str().unwrap().contains("ac-nancy-metz"),
        "{}",
        sent[0]["to"]
    );
    assert!(
        sent[0]["subject"]
            .as_str()
            .unwrap()
            .contains("depuis 1 jour"),
        "{}",
        sent[0]["subject"]
    );
    assert!(
        sent[0]["text"]
            .as_str()
            .unwrap()
            .contains("Contenu promotionnel")
    );

    app.clock.set(datetime!(2026-11-25 09:30 +01:00));
    assert_eq!(app.charte.queue_dispute_reminders().await.unwrap(), 1);
    assert!(
        reminders(app.outbox().await)
            .iter()
            .any(|m| m["subject"].as_str().unwrap().contains("depuis 2 jours"))
    );

    let res = app
        .decide(
            &review,
            "rectorat:12",
            "uphold",
            "Le refus est fondé sur la neutralité.",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    app.clock.set(datetime!(2026-11-26 09:30 +01:00));
    assert_eq!(app.charte.queue_dispute_reminders().await.unwrap(), 0);
    assert_eq!(reminders(app.outbox().await).len(), 2);
}

#[tokio::test]
async fn every_code_a_client_shows_comes_with_its_french_label_for_any_signed_in_role() {
    let app = TestApp::spawn().await;
    for token in [
        app.head(LYCEE_FABERT),
        app.agent("region-grand-est"),
        app.ent(LYCEE_FABERT),
    ] {
        let res = app.get("/v1/labels", &token).await;
        assert_eq!(res.status, StatusCode::OK);
        let l = &res.body;
        assert_eq!(
            l["kinds"]["one_off"],
            "Communication ponctuelle (3 jours ouvrables d'examen)"
        );
        assert_eq!(l["purposes"]["information"], "Information");
        assert_eq!(l["audiences"]["families"], "familles");
        assert_eq!(
            l["roles"]["authority_representative"],
            "représentant de la collectivité"
        );
        assert_eq!(l["roles"]["system"], "service charte");
        assert_eq!(
            l["states"]["rectification_requested"],
            "rectification demandée"
        );
        assert!(l["actions"]["tacitly_approved"].is_string(), "{l}");
    }
    // Like every API route, it needs a signed-in caller.
    let res = app
        .call(reqwest::Method::GET, "/v1/labels", None, None)
        .await;
    assert_problem(&res, StatusCode::UNAUTHORIZED);
}
