//! Fault tests on Redis: real `redis-server` and real `charte serve` processes, killed with SIGKILL.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use charte::app::Submission;
use charte::domain::actor::{Actor, Role};
use charte::domain::directory::{School, SchoolType};
use charte::domain::message::Draft;
use charte::store::Store;
use charte::store::redis::RedisStore;
use common::app::{REGION, TestApp};
use common::redis_server::RedisServer;
use redis::AsyncCommands;
use serde_json::{Value, json};
use time::OffsetDateTime;

fn agent() -> Actor {
    Actor {
        subject: "agent".into(),
        name: "Agent".into(),
        role: Role::AuthorityAgent,
        authority: Some("region-grand-est".into()),
        uais: vec![],
        academie: None,
        arbitrator: None,
    }
}

/// `count` synthetic lycées of the Région, with valid UAIs.
fn lycees(count: usize) -> Vec<School> {
    let template = charte::demo::schools()
        .schools
        .into_iter()
        .find(|s| s.uai.as_str() == "0570054Z")
        .unwrap();
    (0..count)
        .map(|i| {
            let digits = format!("{:07}", 5_700_000 + i);
            let letter = charte::domain::uai::check_letter(&digits).unwrap();
            let mut s = template.clone();
            s.uai = format!("{digits}{letter}").parse().unwrap();
            s.name = format!("Lycée d'essai n° {i}");
            s.school_type = SchoolType::Lycee;
            s
        })
        .collect()
}

fn submission(targets: Vec<String>, publish_at: OffsetDateTime) -> Submission {
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    Submission {
        draft: Draft {
            title: Some("Restauration scolaire : nouveaux tarifs".into()),
            body: Some("<p>Les tarifs changent au 1er janvier.</p>".into()),
            audience: Some(vec!["families".into()]),
            publish_at: Some(fmt(publish_at)),
            display_until: Some(fmt(OffsetDateTime::now_utc() + time::Duration::days(60))),
        },
        kind: Some("one_off".into()),
        targets: Some(targets),
        ..Default::default()
    }
}

/// The real app on `store`, its clock stopped at `at`.
async fn app_on(store: Arc<dyn Store>, at: OffsetDateTime) -> TestApp {
    TestApp::builder().store(store).at(at).spawn().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_acknowledged_before_redis_is_killed_survives_the_restart() {
    let mut redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "faults-a").await.unwrap();
    let schools = lycees(300);
    store.put_schools(schools.clone()).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let now = OffsetDateTime::now_utc();
    let app = app_on(store.clone(), now).await;
    let targets: Vec<String> = schools.iter().map(|s| s.uai.to_string()).collect();
    let (view, _) = app
        .charte
        .submit(&agent(), submission(targets, now), None)
        .await
        .unwrap();
    // Every school's review is open before the stream of decisions starts.
    app.charte.finish_fan_out(&view.id).await.unwrap();
    let base = app.base.clone();

    // Four clients approve reviews one after the other while Redis is killed and restarted.
    let reviews: Vec<(String, String)> = store
        .reviews_of_message(&view.id)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.id.clone(), app.head(r.uai.as_str())))
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, u16)>();
    let mut clients = Vec::new();
    for chunk in reviews.chunks(reviews.len() / 4 + 1) {
        let chunk = chunk.to_vec();
        let base = base.clone();
        let tx = tx.clone();
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for (id, head) in chunk {
                let res = http
                    .post(format!("{base}/v1/reviews/{id}/approve"))
                    .bearer_auth(&head)
                    .send()
                    .await;
                let status = res.map(|r| r.status().as_u16()).unwrap_or(0);
                let _ = tx.send((id, status));
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(150)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(400)).await;
    redis.restart();
    for c in clients {
        c.await.unwrap();
    }
    let mut acknowledged = Vec::new();
    let mut statuses = BTreeMap::new();
    while let Some((id, status)) = rx.recv().await {
        *statuses.entry(status).or_insert(0) += 1;
        if status == 200 {
            acknowledged.push(id);
        }
    }
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "the kill happened during the stream: {statuses:?}"
    );
    assert!(acknowledged.len() > 10, "{statuses:?}");
    assert!(
        statuses.keys().all(|s| [200, 503].contains(s)),
        "only successes and 503s: {statuses:?}"
    );

    // A fresh connection to the restarted Redis (replayed from the AOF) finds every acknowledged decision.
    let fresh = RedisStore::connect(&redis.url(), "faults-a").await.unwrap();
    let stored = fresh.reviews(&acknowledged).await.unwrap();
    assert_eq!(stored.len(), acknowledged.len());
    assert!(
        stored
            .iter()
            .all(|r| r.state == charte::domain::review::ReviewState::Approved)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_answers_503_quickly_and_the_service_recovers_by_itself() {
    let mut redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "faults-c").await.unwrap();
    store
        .put_schools(charte::demo::schools().schools)
        .await
        .unwrap();
    let app = app_on(Arc::new(store), OffsetDateTime::now_utc()).await;
    let base = app.base.clone();
    let http = reqwest::Client::new();
    let agent = app.agent(REGION);
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    redis.kill();
    let started = Instant::now();
    let res = http
        .get(format!("{base}/v1/messages"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("réessayez"),
        "{body}"
    );

    let started = Instant::now();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(ready.status(), 503);
    let res = http
        .post(format!("{base}/v1/messages"))
        .bearer_auth(&agent)
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert!(
        res.status() == 503 || res.status() == 422,
        "never a 500: {}",
        res.status()
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = http
            .get(format!("{base}/v1/messages"))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: still {}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}

/// A `charte serve` process on Redis, killable with SIGKILL.
struct Replica(Child);

impl Replica {
    fn start(url: &str, prefix: &str) -> Replica {
        let child = Command::new(env!("CARGO_BIN_EXE_charte"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-demo",
                "--redis-url",
                url,
                "--redis-prefix",
                prefix,
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start charte");
        Replica(child)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_reviews_falling_due_together_are_tacitly_approved_once_despite_replicas_dying()
 {
    const SCHOOLS: usize = 1_000;
    const MESSAGES: usize = 3;
    let redis = RedisServer::start();
    let prefix = "faults-b";
    let store = RedisStore::connect(&redis.url(), prefix).await.unwrap();
    let schools = lycees(SCHOOLS);
    store.put_schools(schools.clone()).await.unwrap();
    store.set_meta("demo_loaded", "1").await.unwrap();

    // Submitted ten days ago (by the clock of this seeding process): every deadline has passed.
    let then = OffsetDateTime::now_utc() - time::Duration::days(10);
    let seeder = app_on(Arc::new(store.clone()), then).await;
    let targets: Vec<String> = schools.iter().map(|s| s.uai.to_string()).collect();
    // The independent ledger: what we seeded, not what the service says.
    let mut ledger = BTreeSet::new();
    for _ in 0..MESSAGES {
        let (view, _) = seeder
            .charte
            .submit(&agent(), submission(targets.clone(), then), None)
            .await
            .unwrap();
        // The reviews beyond the first chunk are opened now (by this call or the seeder's own
        // fan-out worker, whichever takes each chunk first).
        seeder.charte.finish_fan_out(&view.id).await.unwrap();
        let reviews = store.reviews_of_message(&view.id).await.unwrap();
        ledger.extend(reviews.into_iter().map(|r| r.id));
    }
    assert_eq!(ledger.len(), SCHOOLS * MESSAGES);
    seeder.stop().await;

    // Three replicas sweep together; one of them is killed at random moments and replaced.
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| Replica::start(&redis.url(), prefix))
        .collect();
    let mut kills = 0;
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 250 + 50)).await;
        let left = store
            .due_reviews(OffsetDateTime::now_utc(), 1)
            .await
            .unwrap()
            .len();
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the sweep did not finish"
        );
        let victim = rand::random::<u64>() as usize % replicas.len();
        replicas[victim] = Replica::start(&redis.url(), prefix);
        kills += 1;
    }
    drop(replicas);
    assert!(kills > 0, "at least one replica died mid-sweep");

    // Check against the ledger with raw Redis reads.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let mut tacit_audit: BTreeMap<String, usize> = BTreeMap::new();
    let message_ids: Vec<String> = con.smembers(format!("{prefix}:messages")).await.unwrap();
    for m in &message_ids {
        let chains: Vec<String> = con
            .smembers(format!("{prefix}:audit_chains:{m}"))
            .await
            .unwrap();
        let mut records: Vec<String> = Vec::new();
        for chain in chains {
            let part: Vec<String> = con
                .lrange(format!("{prefix}:audit:{m}:{chain}"), 0, -1)
                .await
                .unwrap();
            records.extend(part);
        }
        for r in records {
            let v: Value = serde_json::from_str(&r).unwrap();
            if v["action"] == "tacitly_approved" {
                *tacit_audit
                    .entry(v["review_id"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    let mut notices: BTreeMap<String, usize> = BTreeMap::new();
    let keys: Vec<String> = con.keys(format!("{prefix}:mail:*")).await.unwrap();
    for chunk in keys.chunks(1000) {
        let raws: Vec<Option<String>> = redis::cmd("MGET")
            .arg(chunk)
            .query_async(&mut con)
            .await
            .unwrap();
        for raw in raws.into_iter().flatten() {
            let v: Value = serde_json::from_str(&raw).unwrap();
            if v["kind"] == "tacitly_approved" {
                *notices
                    .entry(v["review_id"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    for id in &ledger {
        let raw: String = con.get(format!("{prefix}:rev:{id}")).await.unwrap();
        let v: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(v["state"], "tacitly_approved", "review {id}");
        assert_eq!(tacit_audit.get(id), Some(&1), "one audit record for {id}");
        assert_eq!(notices.get(id), Some(&1), "one notice for {id}");
    }
    assert_eq!(tacit_audit.len(), ledger.len());
    assert_eq!(notices.len(), ledger.len());
    eprintln!(
        "{} reviews approved once each; {kills} replica kills; {:?}",
        ledger.len(),
        started.elapsed()
    );
}

#[tokio::test]
async fn the_annuaire_can_be_imported_into_redis() {
    let redis = RedisServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_charte"))
        .args([
            "import-schools",
            concat!(env!("CARGO_MANIFEST_DIR"), "/demo/annuaire-demo.csv"),
        ])
        .args(["--redis-url", &redis.url(), "--redis-prefix", "import"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = RedisStore::connect(&redis.url(), "import").await.unwrap();
    let expected = charte::demo::schools().schools.len();
    assert_eq!(store.schools().await.unwrap().len(), expected);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("{expected} établissement(s) importé(s)"))
    );
    assert_eq!(
        store.meta("demo_loaded").await.unwrap().as_deref(),
        Some("imported")
    );
}

/// The commit script gathers each key's writes into one variadic command; whatever the
/// interleaving, the result must be that of the operations one by one, in order.
#[tokio::test]
async fn the_commit_script_writes_as_if_each_operation_ran_in_order() {
    let redis = RedisServer::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let script = redis::Script::new(include_str!("../src/store/commit.lua"));
    #[rustfmt::skip]
    let ops: Vec<&str> = vec![
        // A member added, removed, added again with another score: present, last score.
        "ZADD", "z", "1", "a", "ZREM", "z", "a", "ZADD", "z", "2", "a",
        // Removed then added in one commit, among other members.
        "ZREM", "z", "old", "ZADD", "z", "3", "b", "ZADD", "z", "4", "old",
        // A member added then removed: absent.
        "SADD", "s", "x", "SADD", "s", "y", "SREM", "s", "x",
        // A field set twice, another deleted then set, one deleted.
        "HSET", "h", "f", "1", "HSET", "h", "f", "2", "HDEL", "h", "g", "HSET", "h", "g", "3",
        "HDEL", "h", "kept",
        // A list keeps its order; a string set twice keeps the last value.
        "RPUSH", "l", "1", "RPUSH", "l", "2", "SET", "k", "v1", "RPUSH", "l", "3",
        "SET", "k", "v2",
        // A key written as a string after the script gathered list writes for it.
        "RPUSH", "w", "gone", "SET", "w", "string",
    ];
    // A commit of a few writes sends them as they come, a large one gathers them: both ways.
    for padding in [0, 100] {
        let _: () = redis::cmd("FLUSHDB").query_async(&mut c).await.unwrap();
        let _: () = c.hset("h", "kept", "1").await.unwrap();
        let _: () = c.zadd("z", "old", 5).await.unwrap();
        let mut inv = script.prepare_invoke();
        for i in 0..padding {
            inv.arg("SADD").arg("pad").arg(i);
        }
        for op in &ops {
            inv.arg(*op);
        }
        let reply: String = inv.invoke_async(&mut c).await.unwrap();
        assert_eq!(reply, "OK");
        let z: Vec<(String, f64)> = c.zrange_withscores("z", 0, -1).await.unwrap();
        assert_eq!(
            z,
            vec![("a".into(), 2.0), ("b".into(), 3.0), ("old".into(), 4.0)]
        );
        let s: BTreeSet<String> = c.smembers("s").await.unwrap();
        assert_eq!(s, BTreeSet::from(["y".to_owned()]));
        let h: BTreeMap<String, String> = c.hgetall("h").await.unwrap();
        assert_eq!(
            h,
            BTreeMap::from([("f".into(), "2".into()), ("g".into(), "3".into())])
        );
        let l: Vec<String> = c.lrange("l", 0, -1).await.unwrap();
        assert_eq!(l, ["1", "2", "3"]);
        let k: String = c.get("k").await.unwrap();
        assert_eq!(k, "v2");
        let w: String = c.get("w").await.unwrap();
        assert_eq!(w, "string");
        let pad: usize = c.scard("pad").await.unwrap();
        assert_eq!(pad, padding);
    }
    // A check that fails leaves nothing written.
    let reply: String = script
        .prepare_invoke()
        .arg("NEW")
        .arg("k")
        .arg("SET")
        .arg("fresh")
        .arg("1")
        .invoke_async(&mut c)
        .await
        .unwrap();
    assert!(reply.starts_with("CONFLICT:"), "{reply}");
    let fresh: Option<String> = c.get("fresh").await.unwrap();
    assert_eq!(fresh, None);
}
