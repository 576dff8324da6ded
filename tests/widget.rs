//! The ENT widget: its security headers over HTTP, then its views in headless Chromium against the
//! real app (`tests/browser/widget.spec.mjs`, driven by playwright-core, checked by axe-core).
//!
//! The browser test needs `/usr/bin/chromium` and `tests/browser/node_modules`; without them it fails
//! and says how to install them, so a machine lacking them can never pass it by accident.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::app::{REGION, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::macros::datetime;

const FABERT: &str = "0570054Z"; // Moselle, académie 12
const KLEBER: &str = "0670080Y"; // Bas-Rhin, académie 15
const SETUP_HINT: &str = "Les tests du widget dans le navigateur exigent Chromium (/usr/bin/chromium) et les modules npm de tests/browser. \
Lancez la commande de test du README : `apt-get install -y chromium && (cd tests/browser && npm ci) && cargo test --test widget` \
(le script de CI les installe).";

/// The titles the browser script looks for (kept in step with `widget.spec.mjs`).
const TITLE_APPROVE: &str = "Transports scolaires : nouvelle ligne 12";
const TITLE_RECTIFY: &str = "Fermeture exceptionnelle du self le 4 décembre";
const TITLE_DISPUTE: &str = "Enquête sur la restauration scolaire";
const TITLE_STATES: &str = "Nouveaux horaires du CDI";

/// The real app, framable by `embedders`, linking emails to the widget.
async fn app_framed_by(embedders: &[&str]) -> TestApp {
    TestApp::builder()
        .frame_ancestors(embedders)
        .widget_url("http://widget.test/widget/")
        .spawn()
        .await
}

/// A token for `role`, in the name of `name`, valid (or expired) relative to the real time,
/// which is what `exp` is checked against.
fn token(
    app: &TestApp,
    role: &str,
    name: &str,
    valid_for_secs: i64,
    scope: impl FnOnce(&mut charte::http::auth::Claims),
) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let mut claims = app.claims(role, name);
    claims.name = Some(name.into());
    claims.exp = (now + valid_for_secs).max(1) as u64;
    claims.iat = (now - 60).max(0) as u64;
    scope(&mut claims);
    app.token(&claims)
}

fn head(app: &TestApp, uai: &str, name: &str, valid_for_secs: i64) -> String {
    token(app, "head", name, valid_for_secs, |c| {
        c.uai = vec![uai.into()]
    })
}

fn authority(app: &TestApp, role: &str, name: &str) -> String {
    token(app, role, name, 3600, |c| c.authority = Some(REGION.into()))
}

fn message(title: &str, body: &str, kind: &str, targets: &[&str]) -> Value {
    json!({
        "title": title,
        "body": body,
        "kind": kind,
        "audience": ["families", "pupils"],
        "targets": targets,
        "publish_at": "2026-11-30T08:00:00+01:00",
        "display_until": "2026-12-31T18:00:00+01:00"
    })
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn widget_is_served_with_a_strict_policy_and_the_configured_embedders() {
    let app = app_framed_by(&[
        "https://ent.example.fr/",
        "https://*.monlycee.net",
        // Would add a directive if it reached the header verbatim.
        "https://evil.example; script-src *",
    ])
    .await;

    let page = app.fetch("/widget/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert_eq!(header(&page, "cache-control"), "no-store");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    let csp = header(&page, "content-security-policy").to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors https://ent.example.fr https://*.monlycee.net",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("evil"), "{csp}");
    assert_eq!(csp.matches("script-src").count(), 1, "{csp}");
    let html = page.text().await.expect("html");
    assert!(
        html.contains(
            r#"<meta name="charte-embedders" content="https://ent.example.fr https://*.monlycee.net">"#
        ),
        "{html}"
    );
    assert!(html.contains(r#"<html lang="fr">"#));
    assert!(
        !html.contains("<script>"),
        "no inline script under script-src 'self'"
    );

    for (asset, media) in [
        ("app.js", "text/javascript"),
        ("head.js", "text/javascript"),
        ("style.css", "text/css"),
    ] {
        let res = app.fetch(&format!("/widget/{asset}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        assert!(header(&res, "content-type").starts_with(media), "{asset}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        assert!(header(&res, "content-security-policy").contains("frame-ancestors"));
    }
    let missing = app.fetch("/widget/secret.txt").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bare = app.fetch("/widget").await;
    assert_eq!(
        bare.url().path(),
        "/widget/",
        "redirected to the slash form"
    );

    let closed = app_framed_by(&[]).await;
    let page = closed.fetch("/widget/").await;
    let csp = header(&page, "content-security-policy");
    assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
}

/// Serves the test ENT's page (`tests/browser/ent-host.html`) on its own origin.
async fn ent_host() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind ENT");
    let addr = listener.local_addr().expect("addr");
    let page = include_str!("browser/ent-host.html");
    let app = axum::Router::new().route(
        "/ent.html",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHARTE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails, never skips, when the browser tooling is missing.
fn require_browser_tooling() {
    let modules = browser_dir().join("node_modules");
    let missing: Vec<String> = [
        (!chromium().exists()).then(|| format!("{} absent", chromium().display())),
        (!modules.join("playwright-core").exists())
            .then(|| "tests/browser/node_modules/playwright-core absent".to_owned()),
        (!modules.join("axe-core").exists())
            .then(|| "tests/browser/node_modules/axe-core absent".to_owned()),
        std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_err()
            .then(|| "node introuvable dans le PATH".to_owned()),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(missing.is_empty(), "{} — {SETUP_HINT}", missing.join(", "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_views_work_in_headless_chromium() {
    require_browser_tooling();
    let ent = ent_host().await;
    let ent_origin = format!("http://127.0.0.1:{}", ent.port());
    let app = app_framed_by(&[&ent_origin]).await;

    let rep = authority(&app, "authority_representative", "Claire Martin");
    let agent = authority(&app, "authority_agent", "Paul Weber");
    let fabert = head(&app, FABERT, "Mme Durand", 3600);
    let kleber = head(&app, KLEBER, "M. Schmitt", 3600);
    let expired = head(&app, FABERT, "Mme Durand", -3600);
    let arbitrator = token(&app, "arbitrator", "Recteur de Nancy-Metz", 3600, |c| {
        c.arbitrator = Some("rectorat:12".into())
    });

    // To approve: a second version answering the head's first request, so the diff has something to show.
    let approve = app
        .post(
            "/v1/messages",
            &rep,
            message(
                TITLE_APPROVE,
                "<p>À partir du <strong>lundi 7 décembre</strong>, la ligne 12 dessert le lycée.</p><ul><li>Départ de la gare : 7 h 10</li><li>Arrivée au lycée : 7 h 45</li></ul>",
                "one_off",
                &[FABERT],
            ),
        )
        .await
        .expect_success();
    app.clock.advance(time::Duration::minutes(40));
    app.post(
        &format!(
            "/v1/reviews/{}/rectification",
            app.review_of(&approve, FABERT).await
        ),
        &fabert,
        json!({"motive": "L'horaire de départ ne correspond pas à celui du transporteur."}),
    )
    .await
    .expect_success();
    app.clock.advance(time::Duration::hours(1));
    let approve = app
        .post(
            &format!("/v1/messages/{}/versions", approve["id"].as_str().expect("id")),
            &rep,
            json!({
                "title": TITLE_APPROVE,
                "body": "<p>À partir du <strong>lundi 7 décembre</strong>, la ligne 12 dessert le lycée.</p><ul><li>Départ de la gare : 7 h 15</li><li>Arrivée au lycée : 7 h 45</li></ul>",
                "audience": ["families", "pupils"],
                "publish_at": "2026-11-30T08:00:00+01:00",
                "display_until": "2026-12-31T18:00:00+01:00",
                "change_note": "Horaire de départ aligné sur celui du transporteur."
            }),
        )
        .await
        .expect_success();
    let _ = app.review_of(&approve, FABERT).await;

    // To rectify in the widget.
    app.post(
        "/v1/messages",
        &rep,
        message(
            TITLE_RECTIFY,
            "<p>Le service de restauration sera fermé le <strong>vendredi 4 décembre</strong> pour travaux.</p>",
            "recurring",
            &[FABERT],
        ),
    )
    .await
    .expect_success();

    // To arbitrate: the head's refusal, then the representative's escalation.
    let dispute = app
        .post(
            "/v1/messages",
            &rep,
            message(
                TITLE_DISPUTE,
                "<p>Donnez votre avis sur la restauration scolaire en répondant au questionnaire de la Région.</p>",
                "one_off",
                &[FABERT],
            ),
        )
        .await
        .expect_success();
    app.post(
        &format!("/v1/reviews/{}/rectification", app.review_of(&dispute, FABERT).await),
        &fabert,
        json!({"motive": "Le questionnaire doit d'abord être présenté au conseil d'administration."}),
    )
    .await
    .expect_success();
    app.clock.advance(time::Duration::hours(1));
    app.post(
        &format!(
            "/v1/reviews/{}/escalate",
            app.review_of(&dispute, FABERT).await
        ),
        &rep,
        json!({"statement": "L'enquête est prévue par la convention de restauration signée avec l'établissement."}),
    )
    .await
    .expect_success();

    // To watch from the authority's view while another school's head decides.
    app.post(
        "/v1/messages",
        &rep,
        message(
            TITLE_STATES,
            "<p>Le CDI ouvre désormais de <strong>8 h à 18 h</strong> du lundi au vendredi.</p>",
            "recurring",
            &[KLEBER],
        ),
    )
    .await
    .expect_success();

    // Two days later: the dispute has an age, the reviews have days left.
    app.clock.set(datetime!(2026-11-25 10:00 +01:00));

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let run = tokio::process::Command::new("node")
        .arg("widget.spec.mjs")
        .current_dir(browser_dir())
        .env("CHARTE_BASE_URL", &app.base)
        .env("CHARTE_ENT_URL", format!("{ent_origin}/ent.html"))
        // Same page, other origin (localhost ≠ 127.0.0.1): not in frame-ancestors.
        .env(
            "CHARTE_ENT_BLOCKED_URL",
            format!("http://localhost:{}/ent.html", ent.port()),
        )
        .env("CHARTE_CHROMIUM", chromium())
        .env("CHARTE_ARTIFACTS", &artifacts)
        .env("HEAD_TOKEN", &fabert)
        .env("HEAD_KLEBER_TOKEN", &kleber)
        .env("ARBITRATOR_TOKEN", &arbitrator)
        .env("AUTHORITY_TOKEN", &agent)
        .env("EXPIRED_TOKEN", &expired)
        .env("TITLE_APPROVE", TITLE_APPROVE)
        .env("TITLE_RECTIFY", TITLE_RECTIFY)
        .env("TITLE_DISPUTE", TITLE_DISPUTE)
        .env("TITLE_STATES", TITLE_STATES)
        .env(
            "CHARTE_DOCS_SCREENSHOT",
            // Opt-in, so ordinary runs leave the committed README image alone.
            std::env::var_os("CHARTE_UPDATE_DOCS_SCREENSHOT")
                .map(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/widget-head.png"))
                .unwrap_or_default(),
        )
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser tests took more than 5 minutes")
        .expect("node could not be started");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "browser tests failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
