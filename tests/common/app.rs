//! One harness for every integration test: the real app on port 0 with its own store (a fresh
//! embedded one with demo data, or one the test gives), a clock the test moves, real signed
//! tokens per role, verb helpers, and shared assertions. Options, all optional:
//! `TestApp::builder().at(..).store(..).clock(..).mail(..).frame_ancestors(..).rate_limits(..)
//! .verifier(..).widget_url(..).spawn()`.

use std::sync::Arc;
use std::time::Duration;

use charte::app::{Charte, Clock, ManualClock};
use charte::domain::calendar::Calendar;
use charte::http::auth::{Claims, DEV_AUDIENCE, DEV_ISSUER, Verifier, dev_token};
use charte::http::rate_limit::RateSettings;
use charte::mail::MailSettings;
use charte::server::{HttpOptions, Running, load_demo_if_first_run};
use charte::store::Store;
use charte::store::embedded::EmbeddedStore;
use charte::webhooks::WebhookSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;

/// Monday 23 November 2026, 09:00 in Paris: the default "now" of a test.
pub const MONDAY_9AM: OffsetDateTime = datetime!(2026-11-23 09:00 +01:00);

/// Demo schools used by the tests.
pub const LYCEE_FABERT: &str = "0570054Z"; // Moselle, académie 12
pub const LYCEE_AGRICOLE: &str = "0570108H"; // agricultural, DRAAF 44
pub const LYCEE_KLEBER: &str = "0670080Y"; // Bas-Rhin, académie 15
pub const COLLEGE_JEAN_MOULIN: &str = "0570012D"; // Moselle collège
pub const COLLEGE_FOCH: &str = "0670011Y"; // Bas-Rhin collège

/// The demo Région.
pub const REGION: &str = "region-grand-est";

/// The development secret the test app verifies tokens with (unless given a verifier).
pub const DEV_SECRET: &[u8] = b"tests-secret-tests-secret-tests-secret";

/// A running app and a client for it.
pub struct TestApp {
    /// Base URL.
    pub base: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The clock the app reads (unless the builder was given another clock).
    pub clock: ManualClock,
    /// The use cases.
    pub charte: Arc<Charte>,
    /// The store under them (to look at records directly in tests).
    pub store: Arc<dyn Store>,
    running: Option<Running>,
    dir: Option<Arc<TempDir>>,
}

/// How a test app is made; every option has the default the API tests use.
pub struct TestAppBuilder {
    at: OffsetDateTime,
    store: Option<Arc<dyn Store>>,
    dir: Option<Arc<TempDir>>,
    clock: Option<Arc<dyn Clock>>,
    mail: Option<MailSettings>,
    frame_ancestors: Vec<String>,
    rate_limits: RateSettings,
    verifier: Option<Verifier>,
    widget_url: String,
    webhooks: WebhookSettings,
    webhook_allow_hosts: Vec<String>,
}

impl TestAppBuilder {
    /// The instant the app's manual clock starts at (default: Monday 23 November 2026, 09:00).
    pub fn at(mut self, at: OffsetDateTime) -> Self {
        self.at = at;
        self
    }
    /// Runs on this store, as it is (no demo data added); default: a fresh embedded store in a
    /// temporary folder, with the demo schools.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }
    /// The app reads this clock instead of the manual one (`TestApp::clock` then moves nothing).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }
    /// Sends emails with these settings (default: they stay in the outbox).
    pub fn mail(mut self, mail: MailSettings) -> Self {
        self.mail = Some(mail);
        self
    }
    /// Origins allowed to frame the widget (default: `http://ent.test`).
    pub fn frame_ancestors(mut self, origins: &[&str]) -> Self {
        self.frame_ancestors = origins.iter().map(|o| (*o).to_owned()).collect();
        self
    }
    /// Request quotas (default: none).
    pub fn rate_limits(mut self, limits: RateSettings) -> Self {
        self.rate_limits = limits;
        self
    }
    /// Verifies tokens with this verifier (the role helpers' tokens then no longer verify).
    pub fn verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = Some(verifier);
        self
    }
    /// The widget's address written in emails (default: `http://widget.test/`).
    pub fn widget_url(mut self, url: &str) -> Self {
        self.widget_url = url.to_owned();
        self
    }
    /// Delivers webhooks with these settings (default: the production schedule).
    pub fn webhooks(mut self, settings: WebhookSettings) -> Self {
        self.webhooks = settings;
        self
    }
    /// Hosts webhooks may go to although they are private or loopback (default: none).
    pub fn webhook_allow_hosts(mut self, hosts: &[&str]) -> Self {
        self.webhook_allow_hosts = hosts.iter().map(|h| (*h).to_owned()).collect();
        self
    }
    /// An embedded store kept in `dir` (a restart reopens it).
    fn in_dir(mut self, dir: Arc<TempDir>) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Starts the app: HTTP server, scheduler, fan-out worker and, given mail settings, the
    /// outbox worker.
    pub async fn spawn(self) -> TestApp {
        let (store, dir) = match self.store {
            Some(store) => (store, None),
            None => {
                let dir = self
                    .dir
                    .unwrap_or_else(|| Arc::new(TempDir::new().expect("tempdir")));
                (open_embedded(&dir).await, Some(dir))
            }
        };
        let clock = ManualClock::new(self.at);
        let charte = Arc::new(
            Charte::new(
                store.clone(),
                self.clock.unwrap_or_else(|| Arc::new(clock.clone())),
                charte::demo::directory(),
                Calendar::default(),
                self.widget_url,
            )
            .with_webhook_allow_hosts(self.webhook_allow_hosts),
        );
        let verifier = self
            .verifier
            .unwrap_or_else(|| Verifier::dev(DEV_SECRET.to_vec()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut options = HttpOptions::new(self.frame_ancestors);
        options.rate_limits = self.rate_limits;
        options.webhooks = self.webhooks;
        let running = charte::server::start_with(
            listener,
            charte.clone(),
            Arc::new(verifier),
            options,
            self.mail,
        )
        .await
        .expect("start");
        TestApp {
            base: format!("http://{}", running.addr),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            clock,
            charte,
            store,
            running: Some(running),
            dir,
        }
    }
}

/// Opens the embedded store in `dir` with the demo schools, waiting for a crashed app's
/// blocking calls still in flight to let go of the file.
async fn open_embedded(dir: &TempDir) -> Arc<dyn Store> {
    let mut store = EmbeddedStore::open(dir.path());
    for _ in 0..100 {
        if store.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        store = EmbeddedStore::open(dir.path());
    }
    let store = store.expect("store");
    load_demo_if_first_run(&store).await.expect("demo");
    Arc::new(store)
}

/// A response, read whole.
pub struct Res {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// JSON body (Null if none or not JSON).
    pub body: Value,
}

impl Res {
    /// Reads a response whole.
    pub async fn read(res: reqwest::Response) -> Res {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            body,
        }
    }

    /// The problem's `detail`.
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or("")
    }
    /// The content type.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// Asserts a 2xx answer and gives its body.
    pub fn expect_success(self) -> Value {
        assert!(
            self.status.is_success(),
            "expected a success: {} {}",
            self.status,
            self.body
        );
        self.body
    }
}

impl TestApp {
    /// A builder with every default (embedded store with demo data, Monday 09:00, no mail).
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            at: MONDAY_9AM,
            store: None,
            dir: None,
            clock: None,
            mail: None,
            frame_ancestors: vec!["http://ent.test".into()],
            rate_limits: RateSettings::unlimited(),
            verifier: None,
            widget_url: "http://widget.test/".into(),
            webhooks: WebhookSettings::default(),
            webhook_allow_hosts: vec![],
        }
    }

    /// A fresh app with demo data, stopped at Monday 09:00.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    /// A fresh app whose request quotas are `limits` (the others run without any).
    pub async fn spawn_with_rate_limits(limits: RateSettings) -> TestApp {
        Self::builder().rate_limits(limits).spawn().await
    }

    /// Stops the app gracefully and waits for its tasks.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    /// Simulates a crash: the tasks are aborted without any graceful step, then a new app opens
    /// the same embedded store (with the default options) at the same instant.
    pub async fn crash_and_restart(mut self) -> TestApp {
        let now = self.clock_now();
        if let Some(r) = self.running.take() {
            r.abort().await;
        }
        let dir = self.dir.clone().expect("an embedded store to reopen");
        drop(self);
        Self::builder().at(now).in_dir(dir).spawn().await
    }

    /// Stops the app, overwrites one stored audit record behind its back, and restarts.
    pub async fn tamper(&mut self, record: &charte::domain::audit::AuditRecord) {
        let now = self.clock_now();
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        let dir = self.dir.clone().expect("an embedded store to tamper with");
        let replacement = {
            // The old app must let go of the database file before it can be opened again.
            let (charte, store) = empty_charte();
            let placeholders = (
                std::mem::replace(&mut self.charte, charte),
                std::mem::replace(&mut self.store, store),
            );
            drop(placeholders);
            let store = EmbeddedStore::open(dir.path()).expect("store");
            store.overwrite_audit_record(record).expect("tamper");
            drop(store);
            Self::builder().at(now).in_dir(dir).spawn().await
        };
        *self = replacement;
    }

    /// Now, for the app.
    pub fn clock_now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Moves time to `at`, wakes the scheduler and waits until every due review is handled.
    pub async fn advance_to(&self, at: OffsetDateTime) {
        self.clock.set(at);
        self.charte.wake_scheduler();
        for _ in 0..500 {
            let due = self.store.due_reviews(at, 1).await.expect("due");
            if due.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the scheduler did not handle the due reviews");
    }

    /// Claims of `role` for `sub`, named "Test `sub`", valid for an hour of real time (which is
    /// what `exp` is checked against), to adjust before [`TestApp::token`].
    pub fn claims(&self, role: &str, sub: &str) -> Claims {
        let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
        Claims {
            sub: sub.into(),
            iss: DEV_ISSUER.into(),
            aud: DEV_AUDIENCE.into(),
            exp: now + 3600,
            iat: now,
            name: Some(format!("Test {sub}")),
            role: role.into(),
            authority: None,
            uai: vec![],
            academie: None,
            arbitrator: None,
        }
    }

    /// Signs `claims` with the app's development secret.
    pub fn token(&self, claims: &Claims) -> String {
        dev_token(DEV_SECRET, claims).expect("token")
    }

    fn sign(&self, role: &str, sub: &str, f: impl FnOnce(&mut Claims)) -> String {
        let mut c = self.claims(role, sub);
        f(&mut c);
        self.token(&c)
    }
    /// Standard valid claims of an administrator, as JSON, to bend in negative tests.
    pub fn admin_claims(&self) -> Value {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        json!({
            "sub": "admin-json", "iss": DEV_ISSUER, "aud": DEV_AUDIENCE,
            "exp": now + 3600, "iat": now, "role": "admin"
        })
    }

    /// Signs any JSON claims with the app's development secret (for claims `Claims` cannot hold).
    pub fn token_json(&self, claims: &Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(DEV_SECRET),
        )
        .expect("token")
    }

    /// A token with arbitrary claims (for negative tests).
    pub fn token_with(&self, f: impl FnOnce(&mut Claims)) -> String {
        self.sign("admin", "custom", f)
    }

    /// An authority agent's token.
    pub fn agent(&self, authority: &str) -> String {
        self.sign("authority_agent", &format!("agent-{authority}"), |c| {
            c.authority = Some(authority.into())
        })
    }
    /// An authority representative's token.
    pub fn representative(&self, authority: &str) -> String {
        self.sign(
            "authority_representative",
            &format!("pres-{authority}"),
            |c| c.authority = Some(authority.into()),
        )
    }
    /// A head's token.
    pub fn head(&self, uai: &str) -> String {
        self.sign("head", &format!("head-{uai}"), |c| c.uai = vec![uai.into()])
    }
    /// The ENT's token for one school.
    pub fn ent(&self, uai: &str) -> String {
        self.sign("ent", "ent", |c| c.uai = vec![uai.into()])
    }
    /// An arbitrator's token (`rectorat:12`, `draaf:44`).
    pub fn arbitrator(&self, who: &str) -> String {
        self.sign("arbitrator", who, |c| c.arbitrator = Some(who.into()))
    }
    /// Academic services' token.
    pub fn academic(&self, academie: &str) -> String {
        self.sign("academic_services", &format!("dsden-{academie}"), |c| {
            c.academie = Some(academie.into())
        })
    }
    /// An administrator's token.
    pub fn admin(&self) -> String {
        self.sign("admin", "admin", |_| {})
    }

    /// Sends a request.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Res::read(req.send().await.expect("request")).await
    }

    /// GET with a raw `Authorization` header value, or none.
    pub async fn get_with_authorization(&self, path: &str, authorization: Option<&str>) -> Res {
        let mut req = self.client.get(format!("{}{}", self.base, path));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        Res::read(req.send().await.expect("request")).await
    }

    /// GET.
    pub async fn get(&self, path: &str, token: &str) -> Res {
        self.call(Method::GET, path, Some(token), None).await
    }
    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Res {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// The head of `uai` approves `review`.
    pub async fn approve(&self, review: &str, uai: &str) -> Res {
        let path = format!("/v1/reviews/{review}/approve");
        self.post(&path, &self.head(uai), json!({})).await
    }

    /// The head of `uai` asks for a rectification of `review`, for `motive`.
    pub async fn request_rectification(&self, review: &str, uai: &str, motive: &str) -> Res {
        let path = format!("/v1/reviews/{review}/rectification");
        self.post(&path, &self.head(uai), json!({ "motive": motive }))
            .await
    }

    /// The representative of `authority` takes `review`'s dispute to arbitration.
    pub async fn escalate(&self, review: &str, authority: &str, statement: &str) -> Res {
        let path = format!("/v1/reviews/{review}/escalate");
        let token = self.representative(authority);
        self.post(&path, &token, json!({ "statement": statement }))
            .await
    }

    /// `arbitrator` (`rectorat:12`, `draaf:44`) settles `review`'s dispute: `authorise` or
    /// `uphold`, for `motive`.
    pub async fn decide(
        &self,
        review: &str,
        arbitrator: &str,
        decision: &str,
        motive: &str,
    ) -> Res {
        let path = format!("/v1/disputes/{review}/decision");
        let body = json!({ "decision": decision, "motive": motive });
        self.post(&path, &self.arbitrator(arbitrator), body).await
    }

    /// Submits a message and asserts it was created.
    pub async fn submit(&self, token: &str, body: Value) -> Value {
        let res = self.post("/v1/messages", token, body).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.body
    }

    /// The review id of a school's current review of a message (read as an administrator).
    pub async fn review_of(&self, message: &Value, uai: &str) -> String {
        self.reviews_of(message, Some(uai)).await[0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no review for {uai} in {message}"))
            .to_owned()
    }

    /// A message's reviews (every page), by school, each school's newest version first; only
    /// one school's with `uai`.
    pub async fn reviews_of(&self, message: &Value, uai: Option<&str>) -> Vec<Value> {
        let id = message["id"].as_str().expect("message id");
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut path = format!("/v1/messages/{id}/reviews?limit=200&cursor={cursor}");
            if let Some(u) = uai {
                path.push_str(&format!("&uai={u}"));
            }
            let res = self.get(&path, &self.admin()).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            out.extend(res.body["items"].as_array().cloned().unwrap_or_default());
            match res.body["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => return out,
            }
        }
    }

    /// A message's whole audit trail as its sender reads it (every page), asserting each page
    /// verifies.
    pub async fn audit_trail(&self, message: &Value) -> Vec<Value> {
        let id = message["id"].as_str().expect("message id");
        let agent = self.agent(message["authority_id"].as_str().expect("authority"));
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/v1/messages/{id}/audit?limit=200&cursor={cursor}");
            let res = self.get(&path, &agent).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            assert_eq!(res.body["verification"]["valid"], true, "{}", res.body);
            out.extend(res.body["records"].as_array().cloned().unwrap_or_default());
            match res.body["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => return out,
            }
        }
    }

    /// Emails of one kind queued so far, oldest first.
    pub async fn emails_of_kind(&self, kind: &str) -> Vec<Value> {
        self.outbox()
            .await
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    /// The outbox ids of the emails of one kind queued so far, oldest first.
    pub async fn outbox_ids(&self, kind: &str) -> Vec<String> {
        self.emails_of_kind(kind)
            .await
            .iter()
            .map(|e| e["id"].as_str().expect("email id").to_owned())
            .collect()
    }

    /// GET without credentials, the response as it comes (headers, redirects, text).
    pub async fn fetch(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// Emails queued so far, oldest first (every page of the outbox).
    pub async fn outbox(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = "/v1/admin/outbox?limit=200".to_owned();
        loop {
            let res = self.get(&path, &self.admin()).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            for item in res.body["items"].as_array().cloned().unwrap_or_default() {
                out.push(item["email"].clone());
            }
            match res.body["next_cursor"].as_str() {
                Some(c) => path = format!("/v1/admin/outbox?limit=200&cursor={c}"),
                None => return out,
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(r) = &self.running {
            r.request_stop();
        }
    }
}

/// A valid one-off message from the Région to the given lycées.
pub fn one_off(targets: &[&str]) -> Value {
    json!({
        "title": "Transports scolaires : nouvelle ligne 12",
        "body": "<p>À partir du <strong>lundi 7 décembre</strong>, la ligne 12 dessert le lycée.</p>",
        "kind": "one_off",
        "audience": ["families", "pupils"],
        "targets": targets,
        "publish_at": "2026-11-30T08:00:00+01:00",
        "display_until": "2026-12-31T18:00:00+01:00"
    })
}

/// The same, recurring.
pub fn recurring(targets: &[&str]) -> Value {
    let mut v = one_off(targets);
    v["kind"] = json!("recurring");
    v
}

fn empty_charte() -> (Arc<Charte>, Arc<dyn Store>) {
    let dir = TempDir::new().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let charte = Charte::new(
        store.clone(),
        Arc::new(ManualClock::new(MONDAY_9AM)),
        charte::demo::directory(),
        Calendar::default(),
        String::new(),
    );
    (Arc::new(charte), store)
}

/// Sends a request with raw bytes and extra headers.
pub async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Res {
    let mut req = app
        .client
        .request(method, format!("{}{}", app.base, path))
        .bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Res::read(req.body(body).send().await.expect("request")).await
}

/// POST of raw bytes sent as `content_type`.
pub async fn post_bytes(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> Res {
    raw(
        app,
        reqwest::Method::POST,
        path,
        token,
        &[("content-type", content_type)],
        body.into(),
    )
    .await
}

/// Asserts a problem+json answer with this status and a detail.
pub fn assert_problem(res: &Res, status: StatusCode) {
    assert_eq!(res.status, status, "{}", res.body);
    assert!(
        res.content_type().starts_with("application/problem+json"),
        "content-type: {}",
        res.content_type()
    );
    assert_eq!(res.body["status"], status.as_u16(), "{}", res.body);
    assert!(!res.detail().is_empty(), "{}", res.body);
}

/// The `errors[].field` of a 422.
pub fn fields(res: &Res) -> Vec<String> {
    res.body["errors"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The message of the violation on `field`.
pub fn message_of<'a>(res: &'a Res, field: &str) -> &'a str {
    res.body["errors"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["field"] == field))
        .and_then(|e| e["message"].as_str())
        .unwrap_or_else(|| panic!("no violation on {field}: {}", res.body))
}
