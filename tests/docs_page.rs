//! The API documentation page as a person sees it: `/docs/` (and `/docs`) rendered by Swagger UI
//! in headless Chromium against the real app (`tests/browser/docs.spec.mjs`), operations listed
//! with their French summaries, no blocked asset and no console error under its CSP.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::app::TestApp;

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
    let app = TestApp::spawn().await;
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    let run = tokio::process::Command::new("node")
        .arg("docs.spec.mjs")
        .current_dir(browser_dir())
        .env("CHARTE_BASE_URL", &app.base)
        .env("CHARTE_CHROMIUM", chromium())
        .env("CHARTE_ARTIFACTS", &artifacts)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the docs page test took more than 3 minutes")
        .expect("node could not be started");
    app.stop().await;
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
