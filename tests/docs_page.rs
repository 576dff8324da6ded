//! The API documentation page as a person sees it: `/docs/` (and `/docs`) rendered by Swagger UI
//! in headless Chromium against the real app (`tests/browser/docs.spec.mjs`), operations listed
//! with their French summaries, no blocked asset and no console error under its CSP.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use charte::app::ManualClock;
use charte::domain::calendar::Calendar;
use charte::http::auth::Verifier;
use charte::server::load_demo_if_first_run;
use charte::store::Store;
use charte::store::embedded::EmbeddedStore;
use time::macros::datetime;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHARTE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_every_operation_in_french() {
    // Fails, never skips, without the tooling the README's test command installs.
    assert!(
        chromium().exists() && browser_dir().join("node_modules/playwright-core").exists(),
        "Chromium (/usr/bin/chromium) et tests/browser/node_modules sont nécessaires : lancez `bash scripts/test.sh`."
    );
    let dir = tempfile::TempDir::new().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    load_demo_if_first_run(&store).await.expect("demo");
    let store: Arc<dyn Store> = Arc::new(store);
    let charte = charte::server::charte(
        store,
        Arc::new(ManualClock::new(datetime!(2026-11-23 09:00 +01:00))),
        charte::demo::directory(),
        Calendar::default(),
        "http://widget.test/".into(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let running = charte::server::start(
        listener,
        charte,
        Arc::new(Verifier::dev(b"docs-page-secret-docs-page-secret".to_vec())),
        vec![],
    )
    .await
    .expect("start");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    let run = tokio::process::Command::new("node")
        .arg("docs.spec.mjs")
        .current_dir(browser_dir())
        .env("CHARTE_BASE_URL", format!("http://{}", running.addr))
        .env("CHARTE_CHROMIUM", chromium())
        .env("CHARTE_ARTIFACTS", &artifacts)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the docs page test took more than 3 minutes")
        .expect("node could not be started");
    running.stop().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "docs page test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(artifacts.join("docs.png").exists());
}
