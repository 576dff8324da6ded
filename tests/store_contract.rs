//! One contract, two adapters: the embedded store and Redis must behave the same.

mod common;

use std::sync::Arc;

use charte::domain::audit::{AuditAction, AuditEntry, ChainHead, MESSAGE_CHAIN};
use charte::domain::calendar_feed::CalendarFeed;
use charte::domain::notification::{EmailKind, OutboxEmail};
use charte::domain::review::ReviewState;
use charte::domain::webhook::{
    DeliveryState, Event, EventData, EventType, Webhook, WebhookDelivery, WebhookScope,
};
use charte::store::embedded::EmbeddedStore;
use charte::store::redis::RedisStore;
use charte::store::{Commit, FeedTag, IdempotencyRecord, InboxOf, Store, StoreError};
use common::fixtures::{message, rectorat_12, review};
use common::redis_server::RedisServer;
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2025-11-24 09:00 +01:00);

fn entry(action: AuditAction) -> AuditEntry {
    AuditEntry {
        at: T0,
        actor: "a".into(),
        actor_name: "A".into(),
        role: "authority_agent".into(),
        action,
        uai: None,
        review_id: None,
        version: Some(1),
        version_hash: None,
        motive: None,
    }
}

fn mail(id: &str, at: OffsetDateTime) -> OutboxEmail {
    OutboxEmail {
        id: id.into(),
        kind: EmailKind::ReviewRequest,
        to: vec!["ce.0570054Z@ac-nancy-metz.fr".into()],
        subject: "Sujet".into(),
        text: "Texte".into(),
        html: "<p>Texte</p>".into(),
        message_id: "m1".into(),
        review_id: None,
        created_at: at,
    }
}

async fn seed(store: &dyn Store) {
    let (audit, _) =
        ChainHead::default().extend("m1", MESSAGE_CHAIN, vec![entry(AuditAction::Submitted)]);
    store
        .commit(Commit {
            messages: vec![message(
                "m1",
                "region-grand-est",
                &["0570054Z", "0670080Y"],
                T0,
            )],
            reviews: vec![
                review("r1", "m1", "0570054Z", datetime!(2025-11-28 00:00 +01:00)),
                review("r2", "m1", "0670080Y", datetime!(2025-11-27 00:00 +01:00)),
            ],
            audit,
            outbox: vec![mail("e2", T0 + time::Duration::seconds(1)), mail("e1", T0)],
            idempotency: Some(IdempotencyRecord {
                key: "region:k1".into(),
                request_hash: "h".into(),
                message_id: "m1".into(),
            }),
            ..Commit::default()
        })
        .await
        .expect("seed commit");
}

async fn a_commit_writes_records_and_every_index_together(store: &dyn Store) {
    seed(store).await;
    let m = store.message("m1").await.unwrap().unwrap();
    assert_eq!(m.revision, 1);
    assert_eq!(
        store
            .messages_of_authority("region-grand-est")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.all_messages().await.unwrap().len(), 1);
    let mut ids: Vec<_> = store
        .reviews_of_message("m1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["r1", "r2"]);
    let school = store
        .inbox_page(
            InboxOf::School(&"0570054Z".parse().unwrap()),
            None,
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(school.len(), 1);
    assert_eq!(school[0].1.revision, 1);
    assert_eq!(store.audit("m1").await.unwrap().len(), 1);
    assert_eq!(store.audit_head("m1", MESSAGE_CHAIN).await.unwrap().seq, 1);
    let outbox: Vec<_> = store
        .outbox(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(outbox, vec!["e1", "e2"], "oldest first");
    assert_eq!(
        store
            .idempotency("region:k1")
            .await
            .unwrap()
            .unwrap()
            .message_id,
        "m1"
    );
}

async fn a_stale_revision_refuses_the_whole_commit(store: &dyn Store) {
    seed(store).await;
    let mut r1 = store.review("r1").await.unwrap().unwrap();
    r1.state = ReviewState::Approved;
    let head = store.audit_head("m1", MESSAGE_CHAIN).await.unwrap();
    let (audit, _) = head.extend("m1", MESSAGE_CHAIN, vec![entry(AuditAction::Approved)]);
    store
        .commit(Commit {
            reviews: vec![r1.clone()],
            audit: audit.clone(),
            ..Default::default()
        })
        .await
        .expect("first writer wins");
    // A second writer that read the same revision loses, and writes nothing at all.
    let mut stale = r1.clone();
    stale.state = ReviewState::RectificationRequested;
    let (audit2, _) = ChainHead {
        seq: 2,
        hash: audit[0].hash.clone(),
    }
    .extend(
        "m1",
        MESSAGE_CHAIN,
        vec![entry(AuditAction::RectificationRequested)],
    );
    let res = store
        .commit(Commit {
            reviews: vec![stale],
            audit: audit2,
            outbox: vec![mail("e9", T0)],
            ..Default::default()
        })
        .await;
    assert!(matches!(res, Err(StoreError::Conflict(_))), "{res:?}");
    assert_eq!(
        store.review("r1").await.unwrap().unwrap().state,
        ReviewState::Approved
    );
    assert_eq!(store.audit("m1").await.unwrap().len(), 2);
    assert!(store.outbox(10).await.unwrap().iter().all(|e| e.id != "e9"));
}

async fn an_audit_record_must_extend_the_stored_chain(store: &dyn Store) {
    seed(store).await;
    // Built on the genesis head although the chain already has one record.
    let (audit, _) =
        ChainHead::default().extend("m1", MESSAGE_CHAIN, vec![entry(AuditAction::Upheld)]);
    let res = store
        .commit(Commit {
            audit,
            ..Default::default()
        })
        .await;
    assert!(matches!(res, Err(StoreError::Conflict(_))));
    assert_eq!(store.audit("m1").await.unwrap().len(), 1);
}

async fn a_reused_idempotency_key_is_refused(store: &dyn Store) {
    seed(store).await;
    let res = store
        .commit(Commit {
            messages: vec![message("m2", "region-grand-est", &["0570054Z"], T0)],
            idempotency: Some(IdempotencyRecord {
                key: "region:k1".into(),
                request_hash: "h2".into(),
                message_id: "m2".into(),
            }),
            ..Default::default()
        })
        .await;
    assert!(matches!(res, Err(StoreError::Conflict(_))));
    assert!(
        store.message("m2").await.unwrap().is_none(),
        "nothing of the refused commit was written"
    );
}

async fn pending_reviews_are_due_in_deadline_order_until_they_leave_pending(store: &dyn Store) {
    seed(store).await;
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(datetime!(2025-11-27 00:00 +01:00))
    );
    assert!(
        store
            .due_reviews(datetime!(2025-11-26 23:59:59 +01:00), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .due_reviews(datetime!(2025-11-27 00:00 +01:00), 10)
            .await
            .unwrap(),
        vec!["r2"]
    );
    assert_eq!(
        store
            .due_reviews(datetime!(2025-12-01 00:00 +01:00), 10)
            .await
            .unwrap(),
        vec!["r2", "r1"]
    );
    assert_eq!(
        store
            .due_reviews(datetime!(2025-12-01 00:00 +01:00), 1)
            .await
            .unwrap(),
        vec!["r2"]
    );
    // The same, for one message: what the sweep approves together.
    let of_message = |id: &'static str, at, limit| async move {
        store.due_reviews_of_message(id, at, limit).await.unwrap()
    };
    assert_eq!(
        of_message("m1", datetime!(2025-12-01 00:00 +01:00), 10).await,
        vec!["r2", "r1"]
    );
    assert_eq!(
        of_message("m1", datetime!(2025-11-27 00:00 +01:00), 10).await,
        vec!["r2"]
    );
    assert_eq!(
        of_message("m1", datetime!(2025-12-01 00:00 +01:00), 1).await,
        vec!["r2"]
    );
    assert!(
        of_message("m2", datetime!(2025-12-01 00:00 +01:00), 10)
            .await
            .is_empty()
    );

    let mut r2 = store.review("r2").await.unwrap().unwrap();
    r2.state = ReviewState::TacitlyApproved;
    store
        .commit(Commit {
            reviews: vec![r2],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .due_reviews(datetime!(2025-12-01 00:00 +01:00), 10)
            .await
            .unwrap(),
        vec!["r1"]
    );
    assert_eq!(
        store
            .due_reviews_of_message("m1", datetime!(2025-12-01 00:00 +01:00), 10)
            .await
            .unwrap(),
        vec!["r1"],
        "a review no longer pending leaves its message's deadlines"
    );
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(datetime!(2025-11-28 00:00 +01:00))
    );
}

async fn disputes_are_listed_for_their_arbitrator_while_open(store: &dyn Store) {
    seed(store).await;
    let mut r1 = store.review("r1").await.unwrap().unwrap();
    r1.state = ReviewState::InArbitration;
    r1.arbitrator = Some(rectorat_12());
    store
        .commit(Commit {
            reviews: vec![r1],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .open_disputes(Some(&rectorat_12()))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.open_disputes(None).await.unwrap().len(), 1);
    assert!(
        store
            .open_disputes(Some(&"rectorat:15".parse().unwrap()))
            .await
            .unwrap()
            .is_empty()
    );

    assert!(store.closed_disputes(None).await.unwrap().is_empty());

    let mut r1 = store.review("r1").await.unwrap().unwrap();
    r1.state = ReviewState::Authorised;
    store
        .commit(Commit {
            reviews: vec![r1],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        store
            .open_disputes(Some(&rectorat_12()))
            .await
            .unwrap()
            .is_empty()
    );
    // Decided, it moves to the arbitrator's closed disputes, in the same commit.
    let closed = store.closed_disputes(Some(&rectorat_12())).await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].state, ReviewState::Authorised);
    assert_eq!(store.closed_disputes(None).await.unwrap().len(), 1);
    assert!(
        store
            .closed_disputes(Some(&"rectorat:15".parse().unwrap()))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_outbox_pages_oldest_first_with_delivery_records(store: &dyn Store) {
    use charte::store::DeliveryStatus;
    seed(store).await;
    store
        .commit(Commit {
            outbox: (3..=6)
                .map(|i| mail(&format!("e{i}"), T0 + time::Duration::seconds(i)))
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids = |page: &[charte::store::TrackedEmail]| -> Vec<String> {
        page.iter().map(|t| t.email.id.clone()).collect()
    };
    let first = store.outbox_after(None, 4).await.unwrap().unwrap();
    assert_eq!(ids(&first), vec!["e1", "e2", "e3", "e4"]);
    assert!(
        first
            .iter()
            .all(|t| t.delivery.status == DeliveryStatus::Queued)
    );
    let rest = store.outbox_after(Some("e4"), 4).await.unwrap().unwrap();
    assert_eq!(ids(&rest), vec!["e5", "e6"]);
    assert!(
        store
            .outbox_after(Some("e6"), 4)
            .await
            .unwrap()
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .outbox_after(Some("inconnu"), 4)
            .await
            .unwrap()
            .is_none()
    );
}

async fn schools_and_settings_round_trip(store: &dyn Store) {
    let schools = charte::demo::schools().schools;
    let n = schools.len();
    assert_eq!(store.put_schools(schools).await.unwrap(), n);
    assert_eq!(store.schools().await.unwrap().len(), n);
    let fabert = store
        .school(&"0570054Z".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fabert.department, "57");
    assert_eq!(store.meta("demo_loaded").await.unwrap(), None);
    store.set_meta("demo_loaded", "1").await.unwrap();
    assert_eq!(
        store.meta("demo_loaded").await.unwrap().as_deref(),
        Some("1")
    );
}

async fn calendar_feeds_are_kept_per_owner_oldest_first_until_deleted(store: &dyn Store) {
    let head = |subject: &str| charte::domain::actor::Actor {
        subject: subject.into(),
        name: "Mme Martin".into(),
        role: charte::domain::actor::Role::Head,
        authority: None,
        uais: vec!["0570054Z".parse().unwrap()],
        academie: None,
        arbitrator: None,
    };
    let older = CalendarFeed::new(
        "f-old".into(),
        "s1",
        head("h1"),
        datetime!(2026-12-01 08:00 UTC),
    );
    let newer = CalendarFeed::new(
        "f-new".into(),
        "s2",
        head("h1"),
        datetime!(2026-12-02 08:00 UTC),
    );
    let other = CalendarFeed::new(
        "f-other".into(),
        "s3",
        head("h2"),
        datetime!(2026-12-01 09:00 UTC),
    );
    for f in [&newer, &other, &older] {
        store.put_calendar_feed(f).await.unwrap();
    }
    let ids = |feeds: Vec<CalendarFeed>| feeds.into_iter().map(|f| f.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.calendar_feeds_of("h1").await.unwrap()),
        ["f-old", "f-new"]
    );
    assert_eq!(
        ids(store.calendar_feeds_of("h2").await.unwrap()),
        ["f-other"]
    );
    assert!(store.calendar_feeds_of("nobody").await.unwrap().is_empty());
    let read = store.calendar_feed("f-new").await.unwrap().unwrap();
    assert_eq!(read, newer);
    assert!(read.opens_with("s2"));

    assert!(store.delete_calendar_feed("f-old").await.unwrap());
    assert!(!store.delete_calendar_feed("f-old").await.unwrap());
    assert_eq!(store.calendar_feed("f-old").await.unwrap(), None);
    assert_eq!(ids(store.calendar_feeds_of("h1").await.unwrap()), ["f-new"]);
}

fn event(n: u32) -> Event {
    Event {
        id: format!("evt_{n}"),
        kind: EventType::ReviewOpened,
        timestamp: T0,
        data: EventData {
            message_id: "m1".into(),
            authority_id: "region-grand-est".into(),
            uai: Some("0570054Z".into()),
            review_id: Some(format!("r{n}")),
            version: Some(1),
            decision: None,
            live_from: None,
            display_until: None,
        },
    }
}

async fn events_are_logged_by_the_commit_in_order_and_read_after_a_position(store: &dyn Store) {
    assert_eq!(store.last_event_position().await.unwrap(), None);
    assert!(store.events_after(None, 10).await.unwrap().is_empty());
    store
        .commit(Commit {
            events: vec![event(1), event(2)],
            ..Default::default()
        })
        .await
        .unwrap();
    // A refused commit logs nothing.
    let refused = store
        .commit(Commit {
            messages: vec![{
                let mut m = message("m-stale", "region-grand-est", &["0570054Z"], T0);
                m.revision = 3;
                m
            }],
            events: vec![event(99)],
            ..Default::default()
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))));
    store
        .commit(Commit {
            events: (3..=12).map(event).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    let all = store.events_after(None, 100).await.unwrap();
    let ids: Vec<String> = all.iter().map(|(_, e)| e.id.clone()).collect();
    assert_eq!(
        ids,
        (1..=12).map(|n| format!("evt_{n}")).collect::<Vec<_>>()
    );
    let positions: Vec<&String> = all.iter().map(|(p, _)| p).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(all[3].1, event(4));
    // Paging after a position.
    let page = store.events_after(Some(&all[9].0), 100).await.unwrap();
    assert_eq!(
        page.iter().map(|(_, e)| e.id.as_str()).collect::<Vec<_>>(),
        ["evt_11", "evt_12"]
    );
    let first = store.events_after(None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(
        store.last_event_position().await.unwrap().as_ref(),
        Some(&all[11].0)
    );
}

async fn webhook_deliveries_are_routed_once_queued_in_log_order_and_paged(store: &dyn Store) {
    let admin = charte::domain::actor::Actor {
        subject: "admin".into(),
        name: "Admin".into(),
        role: charte::domain::actor::Role::Admin,
        authority: None,
        uais: vec![],
        academie: None,
        arbitrator: None,
    };
    let hook = |id: &str, at: OffsetDateTime| Webhook {
        id: id.into(),
        url: "https://ent.example/hook".into(),
        events: EventType::ALL.to_vec(),
        scope: WebhookScope::All,
        owner: admin.clone(),
        secrets: vec![],
        created_at: at,
        disabled: None,
        since: None,
    };
    store
        .put_webhook(&hook("w2", T0 + time::Duration::hours(1)))
        .await
        .unwrap();
    store.put_webhook(&hook("w1", T0)).await.unwrap();
    let ids: Vec<String> = store
        .webhooks()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(ids, ["w1", "w2"]);
    assert_eq!(store.webhook("w1").await.unwrap(), Some(hook("w1", T0)));

    store
        .commit(Commit {
            events: (1..=5).map(event).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.routed_position().await.unwrap(), None);
    let log = store.events_after(None, 10).await.unwrap();
    let delivery = |(position, e): &(String, Event), n: usize| WebhookDelivery {
        id: format!("d{n}"),
        webhook_id: "w1".into(),
        position: position.clone(),
        event: e.clone(),
        state: DeliveryState::Queued,
        attempts: 0,
        next_attempt_at: T0,
        last_status: None,
        last_error: None,
        created_at: T0,
        finished_at: None,
    };
    let deliveries: Vec<WebhookDelivery> = log
        .iter()
        .enumerate()
        .map(|(n, e)| delivery(e, n))
        .collect();
    // Routed in reverse order of writing: the queue still follows the log.
    let mut reversed = deliveries.clone();
    reversed.reverse();
    store.route_events(&reversed, &log[4].0).await.unwrap();
    assert_eq!(
        store.routed_position().await.unwrap().as_ref(),
        Some(&log[4].0)
    );
    let queued = store.queued_deliveries("w1", 2).await.unwrap();
    assert_eq!(queued, deliveries[..2].to_vec());
    assert!(store.queued_deliveries("w2", 10).await.unwrap().is_empty());

    // The first one delivered leaves the queue; its record stays, changed.
    let mut done = deliveries[0].clone();
    done.state = DeliveryState::Delivered;
    done.attempts = 1;
    store.put_delivery(&done).await.unwrap();
    let queued = store.queued_deliveries("w1", 10).await.unwrap();
    assert_eq!(queued.first().map(|d| d.id.as_str()), Some("d1"));
    assert_eq!(queued.len(), 4);
    assert_eq!(store.delivery("d0").await.unwrap(), Some(done.clone()));

    // Every delivery, newest first, paged by cursor.
    let page = store.deliveries_of("w1", None, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|(_, d)| d.id.as_str()).collect::<Vec<_>>(),
        ["d4", "d3", "d2"]
    );
    let rest = store
        .deliveries_of("w1", Some(&page[2].0), 3)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|(_, d)| d.id.as_str()).collect::<Vec<_>>(),
        ["d1", "d0"]
    );
    assert_eq!(rest[1].1, done);

    // Deleting the subscription empties its queue.
    assert!(store.delete_webhook("w1").await.unwrap());
    assert!(!store.delete_webhook("w1").await.unwrap());
    assert_eq!(store.webhook("w1").await.unwrap(), None);
    assert!(store.queued_deliveries("w1", 10).await.unwrap().is_empty());
    assert_eq!(store.webhooks().await.unwrap().len(), 1);
}

async fn a_lease_is_held_by_one_holder_until_it_runs_out(store: &dyn Store) {
    let ttl = std::time::Duration::from_millis(300);
    assert!(store.take_lease("webhooks", "a", ttl).await.unwrap());
    assert!(!store.take_lease("webhooks", "b", ttl).await.unwrap());
    // Its holder renews it.
    assert!(store.take_lease("webhooks", "a", ttl).await.unwrap());
    assert!(store.take_lease("other", "b", ttl).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(store.take_lease("webhooks", "b", ttl).await.unwrap());
    assert!(!store.take_lease("webhooks", "a", ttl).await.unwrap());
}

async fn scheduled_events_wait_for_their_instant_and_a_cancelled_one_is_never_logged(
    store: &dyn Store,
) {
    let at = |n: u32, message: &str, hours: i64| {
        let mut e = event(n);
        e.data.message_id = message.into();
        e.timestamp = T0 + time::Duration::hours(hours);
        e
    };
    store
        .commit(Commit {
            scheduled: vec![
                at(1, "m1", 3),
                at(2, "m2", 1),
                at(3, "m1", 2),
                at(4, "m2", 30),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.next_scheduled_event().await.unwrap(),
        Some(T0 + time::Duration::hours(1))
    );
    assert!(store.due_scheduled_events(T0, 10).await.unwrap().is_empty());
    let due = store
        .due_scheduled_events(T0 + time::Duration::hours(2), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["evt_2", "evt_3"]
    );
    assert_eq!(due[0], at(2, "m2", 1));
    // m2 withdrawn: its scheduled events are cancelled in the same commit.
    store
        .commit(Commit {
            unschedule: vec!["m2".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    // Releasing evt_2 (cancelled meanwhile) logs nothing; evt_3 is logged; evt_1 is forgotten.
    store
        .release_scheduled(&[at(2, "m2", 1), at(3, "m1", 2)], &[at(1, "m1", 3)])
        .await
        .unwrap();
    let log = store.events_after(None, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|(_, e)| e.id.as_str()).collect::<Vec<_>>(),
        ["evt_3"]
    );
    assert_eq!(store.next_scheduled_event().await.unwrap(), None);
    assert!(
        store
            .due_scheduled_events(T0 + time::Duration::days(9), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Released twice: logged once.
    store
        .release_scheduled(&[at(3, "m1", 2)], &[])
        .await
        .unwrap();
    assert_eq!(store.events_after(None, 10).await.unwrap().len(), 1);
}

async fn routed_events_and_finished_deliveries_expire_and_queued_ones_stay(store: &dyn Store) {
    let dated = |n: u32, days: i64| {
        let mut e = event(n);
        e.timestamp = T0 + time::Duration::days(days);
        e
    };
    store
        .commit(Commit {
            events: vec![dated(1, 0), dated(2, 1), dated(3, 10)],
            ..Default::default()
        })
        .await
        .unwrap();
    let log = store.events_after(None, 10).await.unwrap();
    let before = T0 + time::Duration::days(5);
    // Nothing routed yet: nothing expires.
    assert_eq!(store.expire_webhook_records(before, 100).await.unwrap(), 0);
    let delivery = |id: &str, n: usize, state: DeliveryState, finished: Option<OffsetDateTime>| {
        WebhookDelivery {
            id: id.into(),
            webhook_id: "w".into(),
            position: log[n].0.clone(),
            event: log[n].1.clone(),
            state,
            attempts: 1,
            next_attempt_at: T0,
            last_status: None,
            last_error: None,
            created_at: T0,
            finished_at: finished,
        }
    };
    store
        .route_events(
            &[
                delivery("old", 0, DeliveryState::Delivered, Some(T0)),
                delivery("dead", 1, DeliveryState::Dead, Some(T0)),
                delivery("queued", 1, DeliveryState::Queued, None),
                delivery(
                    "recent",
                    2,
                    DeliveryState::Delivered,
                    Some(T0 + time::Duration::days(9)),
                ),
            ],
            &log[2].0,
        )
        .await
        .unwrap();
    // A replayed delivery is queued again: it no longer counts as finished.
    let mut replayed = delivery("dead", 1, DeliveryState::Dead, Some(T0));
    assert!(replayed.replay(T0));
    store.put_delivery(&replayed).await.unwrap();
    // Two old events and one old delivery go; the recent ones and the queued ones stay.
    assert_eq!(store.expire_webhook_records(before, 100).await.unwrap(), 3);
    let kept: Vec<String> = store
        .events_after(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.id)
        .collect();
    assert_eq!(kept, ["evt_3"]);
    assert_eq!(store.delivery("old").await.unwrap(), None);
    let left: Vec<String> = store
        .deliveries_of("w", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, d)| d.id)
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["dead", "queued", "recent"]);
    assert_eq!(store.expire_webhook_records(before, 100).await.unwrap(), 0);
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::TempDir::new().unwrap();
                    let store = EmbeddedStore::open(dir.path()).unwrap();
                    super::$name(&store).await;
                }
            )*
        }
        mod on_redis {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let redis = shared_redis();
                    // Each test gets its own key prefix on one shared server.
                    let store = RedisStore::connect(&redis.url(), &format!("test-{}", stringify!($name))).await.unwrap();
                    store.purge().await.unwrap();
                    super::$name(&store).await;
                    store.purge().await.unwrap();
                }
            )*
        }
    };
}

/// A Redis of the test's own: a static one would never be dropped, and its process would outlive the tests.
fn shared_redis() -> Arc<RedisServer> {
    Arc::new(RedisServer::start())
}

contract!(
    a_commit_writes_records_and_every_index_together,
    a_stale_revision_refuses_the_whole_commit,
    an_audit_record_must_extend_the_stored_chain,
    a_reused_idempotency_key_is_refused,
    pending_reviews_are_due_in_deadline_order_until_they_leave_pending,
    disputes_are_listed_for_their_arbitrator_while_open,
    the_outbox_pages_oldest_first_with_delivery_records,
    schools_and_settings_round_trip,
    queued_emails_are_claimed_by_one_worker_until_the_lease_runs_out,
    failed_emails_are_retried_later_then_become_dead_letters_an_admin_can_requeue,
    an_email_id_is_queued_only_once,
    a_school_feed_follows_its_publications_in_the_same_commit,
    a_message_summary_counts_each_school_current_review_once,
    timelines_page_newest_first_per_authority_and_for_all,
    a_review_context_reads_the_review_its_message_school_and_chains,
    a_message_reviews_page_by_school_newest_version_first,
    delivered_emails_and_idempotency_keys_expire_and_the_audit_trail_stays,
    a_fan_out_job_advances_under_its_revision_and_expires_once_finished,
    a_school_inbox_pages_pending_by_deadline_then_the_others_and_follows_state_changes,
    an_authority_inbox_holds_the_reviews_of_all_its_messages_and_only_those,
    schools_and_academies_enter_a_message_timeline_with_the_commit_that_concerns_them,
    a_school_s_reviews_of_several_messages_are_read_together,
    calendar_feeds_are_kept_per_owner_oldest_first_until_deleted,
    events_are_logged_by_the_commit_in_order_and_read_after_a_position,
    webhook_deliveries_are_routed_once_queued_in_log_order_and_paged,
    a_lease_is_held_by_one_holder_until_it_runs_out,
    scheduled_events_wait_for_their_instant_and_a_cancelled_one_is_never_logged,
    routed_events_and_finished_deliveries_expire_and_queued_ones_stay,
);

#[tokio::test]
async fn keys_of_two_prefixes_never_mix_on_one_redis() {
    let redis = shared_redis();
    let a = RedisStore::connect(&redis.url(), "deploy-a").await.unwrap();
    let b = RedisStore::connect(&redis.url(), "deploy-b").await.unwrap();
    a.purge().await.unwrap();
    b.purge().await.unwrap();
    seed(&a).await;
    assert!(b.message("m1").await.unwrap().is_none());
    assert!(b.all_messages().await.unwrap().is_empty());
    seed(&b).await;
    assert_eq!(a.all_messages().await.unwrap().len(), 1);
}

#[tokio::test]
async fn redis_refuses_a_tacit_approval_before_its_own_clock_reaches_the_deadline() {
    let redis = shared_redis();
    let store = RedisStore::connect(&redis.url(), "test-early")
        .await
        .unwrap();
    store.purge().await.unwrap();
    let now = store.server_time().await.unwrap();
    // A replica whose clock runs an hour fast believes this deadline has passed; Redis does not.
    let mut r = review(
        "r-early",
        "m-early",
        "0570054Z",
        now + time::Duration::minutes(30),
    );
    store
        .commit(Commit {
            reviews: vec![r.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    r.revision = 1;
    r.state = ReviewState::TacitlyApproved;
    let res = store
        .commit(Commit {
            reviews: vec![r.clone()],
            ..Default::default()
        })
        .await;
    assert!(matches!(res, Err(StoreError::Conflict(_))), "{res:?}");
    assert_eq!(
        store.review("r-early").await.unwrap().unwrap().state,
        ReviewState::Pending
    );

    // Once Redis's clock is past the deadline, the same commit goes through.
    let mut due = review(
        "r-due",
        "m-early",
        "0670080Y",
        now - time::Duration::seconds(1),
    );
    store
        .commit(Commit {
            reviews: vec![due.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    due.revision = 1;
    due.state = ReviewState::TacitlyApproved;
    store
        .commit(Commit {
            reviews: vec![due],
            ..Default::default()
        })
        .await
        .unwrap();
    store.purge().await.unwrap();
}

fn ids_of(claimed: &[charte::store::ClaimedMail]) -> Vec<String> {
    let mut ids: Vec<String> = claimed.iter().map(|c| c.email.id.clone()).collect();
    ids.sort();
    ids
}

async fn queued_emails_are_claimed_by_one_worker_until_the_lease_runs_out(store: &dyn Store) {
    use charte::store::{DeliveryStatus, MailCounts, MailOutcome};
    use std::time::Duration;
    seed(store).await;
    let lease = Duration::from_millis(400);
    let first = store.claim_mail(lease, 10).await.unwrap();
    assert_eq!(ids_of(&first), vec!["e1", "e2"]);
    assert!(first.iter().all(|c| c.delivery.attempts == 0));
    assert_eq!(first[0].email.html, "<p>Texte</p>");
    // While the lease runs, nobody else gets them.
    assert!(store.claim_mail(lease, 10).await.unwrap().is_empty());

    // The holder "dies": once the lease has run out, another worker takes them over.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = store.claim_mail(lease, 1).await.unwrap();
    assert_eq!(second.len(), 1, "the limit is respected");
    let taken = &second[0];
    let stale = first.iter().find(|c| c.email.id == taken.email.id).unwrap();
    // The dead holder's late report is refused: the new holder's is recorded.
    assert!(
        !store
            .finish_mail(&stale.email.id, &stale.token, MailOutcome::Sent)
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_mail(&taken.email.id, &taken.token, MailOutcome::Sent)
            .await
            .unwrap()
    );
    let d = store.mail_delivery(&taken.email.id).await.unwrap().unwrap();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Sent, 1));
    assert!(d.updated_at.is_some());
    // Reporting twice changes nothing.
    assert!(
        !store
            .finish_mail(&taken.email.id, &taken.token, MailOutcome::Sent)
            .await
            .unwrap()
    );
    assert_eq!(
        store.mail_counts().await.unwrap(),
        MailCounts {
            queued: 1,
            sent: 1,
            dead: 0
        }
    );
    let rest = store.claim_mail(lease, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_ne!(
        rest[0].email.id, taken.email.id,
        "a sent email is never claimed again"
    );
    // The outbox still lists every email, sent or not.
    assert_eq!(store.outbox(10).await.unwrap().len(), 2);
}

async fn failed_emails_are_retried_later_then_become_dead_letters_an_admin_can_requeue(
    store: &dyn Store,
) {
    use charte::store::{DeliveryStatus, MailCounts, MailOutcome, Requeue};
    use std::time::Duration;
    seed(store).await;
    let lease = Duration::from_secs(30);
    let claimed = store.claim_mail(lease, 10).await.unwrap();
    let e1 = claimed.iter().find(|c| c.email.id == "e1").unwrap();
    let e2 = claimed.iter().find(|c| c.email.id == "e2").unwrap();
    assert!(
        store
            .finish_mail("e2", &e2.token, MailOutcome::Sent)
            .await
            .unwrap()
    );
    let retry = MailOutcome::Retry {
        after: Duration::from_millis(400),
        error: "451 4.3.0 réessayez".into(),
        permanent: false,
    };
    assert!(store.finish_mail("e1", &e1.token, retry).await.unwrap());
    // Not before its retry time, even though no lease holds it.
    assert!(store.claim_mail(lease, 10).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = store.claim_mail(lease, 10).await.unwrap();
    assert_eq!(ids_of(&again), vec!["e1"]);
    assert_eq!(again[0].delivery.attempts, 1);
    assert_eq!(again[0].delivery.permanent_failures, 0);
    assert!(
        again[0]
            .delivery
            .last_error
            .as_deref()
            .unwrap()
            .contains("451")
    );

    let dead = MailOutcome::Dead {
        error: "550 5.1.1 inconnu".into(),
        permanent: true,
    };
    assert!(
        store
            .finish_mail("e1", &again[0].token, dead)
            .await
            .unwrap()
    );
    let d = store.mail_delivery("e1").await.unwrap().unwrap();
    assert_eq!(
        (d.status, d.attempts, d.permanent_failures),
        (DeliveryStatus::Dead, 2, 1)
    );
    let letters = store.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].email.id, "e1");
    assert_eq!(
        letters[0].delivery.last_error.as_deref(),
        Some("550 5.1.1 inconnu")
    );
    assert_eq!(
        store.mail_counts().await.unwrap(),
        MailCounts {
            queued: 0,
            sent: 1,
            dead: 1
        }
    );
    assert!(store.claim_mail(lease, 10).await.unwrap().is_empty());

    match store.requeue_dead_letter("e1").await.unwrap() {
        Requeue::Done(t) => {
            assert_eq!(t.email.id, "e1");
            assert_eq!(t.delivery.status, DeliveryStatus::Queued);
            assert_eq!((t.delivery.attempts, t.delivery.permanent_failures), (0, 0));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.requeue_dead_letter("e1").await.unwrap(),
        Requeue::NotDead(DeliveryStatus::Queued)
    );
    assert_eq!(
        store.requeue_dead_letter("e2").await.unwrap(),
        Requeue::NotDead(DeliveryStatus::Sent)
    );
    assert_eq!(
        store.requeue_dead_letter("absent").await.unwrap(),
        Requeue::NotFound
    );
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(
        ids_of(&store.claim_mail(lease, 10).await.unwrap()),
        vec!["e1"]
    );
}

async fn an_email_id_is_queued_only_once(store: &dyn Store) {
    use charte::store::DeliveryStatus;
    seed(store).await;
    store
        .commit(Commit {
            outbox: vec![mail("rappel-r1", T0)],
            ..Default::default()
        })
        .await
        .expect("first reminder");
    let res = store
        .commit(Commit {
            outbox: vec![mail("rappel-r1", T0 + time::Duration::hours(1))],
            idempotency: Some(IdempotencyRecord {
                key: "region:k2".into(),
                request_hash: "h".into(),
                message_id: "m1".into(),
            }),
            ..Default::default()
        })
        .await;
    assert!(matches!(res, Err(StoreError::Conflict(_))), "{res:?}");
    // The refused commit wrote nothing at all.
    assert!(store.idempotency("region:k2").await.unwrap().is_none());
    assert_eq!(store.outbox(10).await.unwrap().len(), 3);
    assert_eq!(
        store
            .mail_delivery("rappel-r1")
            .await
            .unwrap()
            .unwrap()
            .status,
        DeliveryStatus::Queued
    );
    assert!(store.mail_delivery("absent").await.unwrap().is_none());
}

async fn a_school_feed_follows_its_publications_in_the_same_commit(store: &dyn Store) {
    seed(store).await;
    let fabert: charte::domain::uai::Uai = "0570054Z".parse().unwrap();
    let other: charte::domain::uai::Uai = "0670080Y".parse().unwrap();
    let before = T0 - time::Duration::days(1);
    let (tag, items) = store.feed(&fabert, before).await.unwrap();
    assert_eq!((tag, items.len()), (FeedTag::default(), 0), "no feed yet");

    // The head approves: the version goes on display from T0 + 1 h, until T0 + 30 days.
    approve_r1(store).await;
    let m = store.message("m1").await.unwrap().unwrap();

    let (tag, items) = store.feed(&fabert, before).await.unwrap();
    assert_eq!(items.len(), 1);
    let publication = items[0].publication().unwrap();
    assert_eq!(publication.title, "Titre");
    assert_eq!(publication.version_hash, "ab".repeat(32));
    assert_eq!(items[0].message_id, "m1");
    assert_eq!(items[0].authority_id, "region-grand-est");
    assert!(items[0].is_live(T0 + time::Duration::hours(1)));
    assert!(!items[0].is_live(T0 + time::Duration::minutes(59)));
    assert!(tag.version > 0);
    assert_eq!(tag.upcoming, 2, "its start and its end are ahead");
    assert_eq!(store.feed_tag(&fabert, before).await.unwrap(), tag);
    let during = T0 + time::Duration::days(2);
    assert_eq!(store.feed_tag(&fabert, during).await.unwrap().upcoming, 1);
    let after = T0 + time::Duration::days(31);
    assert_eq!(store.feed_tag(&fabert, after).await.unwrap().upcoming, 0);
    assert_eq!(
        store.feed(&other, before).await.unwrap().1.len(),
        0,
        "other school untouched"
    );

    // A commit that does not touch Fabert's feed leaves its tag alone.
    let r2 = store.review("r2").await.unwrap().unwrap();
    store
        .commit(Commit {
            reviews: vec![r2],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.feed_tag(&fabert, before).await.unwrap(), tag);

    // A withdrawal takes it off every school, in the commit that withdraws the message.
    let mut withdrawn = m.clone();
    withdrawn.withdrawn = Some(charte::domain::message::Withdrawal {
        at: T0,
        by: "Agent".into(),
        motive: None,
    });
    let mut c = Commit {
        messages: vec![withdrawn],
        ..Default::default()
    };
    c.derive_feed(&m);
    store.commit(c).await.unwrap();
    let (after_withdrawal, items) = store.feed(&fabert, before).await.unwrap();
    assert!(items.is_empty());
    assert_eq!(after_withdrawal.upcoming, 0);
    assert!(after_withdrawal.version > tag.version);

    // A refused commit changes no feed.
    let stale = store.review("r1").await.unwrap().unwrap();
    let mut again = stale.clone();
    again.revision = 0;
    let mut c = Commit {
        reviews: vec![again],
        ..Default::default()
    };
    c.derive_feed(&m);
    assert!(matches!(
        store.commit(c).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.feed(&fabert, before).await.unwrap().1.is_empty());
}

async fn a_message_summary_counts_each_school_current_review_once(store: &dyn Store) {
    seed(store).await;
    let ids = vec!["m1".to_owned(), "absent".to_owned()];
    let read = store.messages_with_summaries(&ids).await.unwrap();
    assert_eq!(read.len(), 1, "a missing message is skipped");
    assert_eq!(read[0].0.id, "m1");
    let summary = &read[0].1;
    assert_eq!(summary.counts.get(&ReviewState::Pending), Some(&2));
    assert_eq!(
        summary.next_deadline,
        Some(datetime!(2025-11-27 00:00 +01:00)),
        "the soonest pending deadline (r2's)"
    );

    // r2 approved: one pending, one approved; the next deadline is r1's.
    let mut r2 = store.review("r2").await.unwrap().unwrap();
    r2.state = ReviewState::Approved;
    store
        .commit(Commit {
            reviews: vec![r2.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let summary = store.messages_with_summaries(&ids).await.unwrap()[0]
        .1
        .clone();
    assert_eq!(summary.counts.get(&ReviewState::Pending), Some(&1));
    assert_eq!(summary.counts.get(&ReviewState::Approved), Some(&1));
    assert_eq!(
        summary.next_deadline,
        Some(datetime!(2025-11-28 00:00 +01:00))
    );

    // A second version's review at r2's school replaces it in the count; rewriting the older,
    // no longer current, review changes nothing.
    let mut v2 = review("r3", "m1", "0670080Y", datetime!(2025-12-05 00:00 +01:00));
    v2.version = 2;
    v2.opened_at = r2.opened_at + time::Duration::days(1);
    store
        .commit(Commit {
            reviews: vec![v2],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut old = store.review("r2").await.unwrap().unwrap();
    old.state = ReviewState::Withdrawn;
    store
        .commit(Commit {
            reviews: vec![old],
            ..Default::default()
        })
        .await
        .unwrap();
    let summary = store.messages_with_summaries(&ids).await.unwrap()[0]
        .1
        .clone();
    assert_eq!(summary.counts.get(&ReviewState::Pending), Some(&2));
    assert_eq!(
        summary.counts.get(&ReviewState::Approved),
        None,
        "no zero counts"
    );
    assert_eq!(summary.counts.get(&ReviewState::Withdrawn), None);
    assert_eq!(summary.counts.values().sum::<u64>(), 2, "one per school");
}

async fn timelines_page_newest_first_per_authority_and_for_all(store: &dyn Store) {
    let at = |i: i64| T0 + time::Duration::minutes(i);
    let mut messages = Vec::new();
    for i in 0..5 {
        let authority = if i % 2 == 0 {
            "region-grand-est"
        } else {
            "cd-57"
        };
        messages.push(message(&format!("m{i}"), authority, &["0570054Z"], at(i)));
    }
    for m in messages {
        store
            .commit(Commit {
                messages: vec![m],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let ids = |page: &[(String, String)]| page.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    let first = store.timeline("*", None, 3).await.unwrap();
    assert_eq!(ids(&first), ["m4", "m3", "m2"]);
    let next = store.timeline("*", Some(&first[2].1), 3).await.unwrap();
    assert_eq!(ids(&next), ["m1", "m0"]);
    let region = store.timeline("region-grand-est", None, 10).await.unwrap();
    assert_eq!(ids(&region), ["m4", "m2", "m0"]);
    // Rewriting a message keeps its one place.
    let m2 = store.message("m2").await.unwrap().unwrap();
    store
        .commit(Commit {
            messages: vec![m2],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&store.timeline("region-grand-est", None, 10).await.unwrap()),
        ["m4", "m2", "m0"]
    );
}

async fn a_review_context_reads_the_review_its_message_school_and_chains(store: &dyn Store) {
    seed(store).await;
    assert!(store.review_context("absent").await.unwrap().is_none());
    let (school_chain, _) = ChainHead::default().extend(
        "m1",
        "0570054Z",
        vec![AuditEntry {
            uai: Some("0570054Z".into()),
            ..entry(AuditAction::ReviewOpened)
        }],
    );
    store
        .commit(Commit {
            audit: school_chain,
            ..Default::default()
        })
        .await
        .unwrap();
    let fabert = charte::domain::directory::School {
        uai: "0570054Z".parse().unwrap(),
        ..charte::demo::schools()
            .schools
            .into_iter()
            .find(|s| s.uai.as_str() == "0570054Z")
            .unwrap()
    };
    store.put_schools(vec![fabert]).await.unwrap();

    let c = store.review_context("r1").await.unwrap().expect("r1");
    assert_eq!(c.review.id, "r1");
    assert_eq!(c.message.id, "m1");
    let stored = store.message("m1").await.unwrap().expect("m1");
    assert_eq!(stored.targets.len(), 2);
    assert!(c.message.targets.is_empty(), "a decision reads no targets");
    assert_eq!(
        c.message.versions, stored.versions,
        "the rest of the message is whole"
    );
    assert_eq!(c.school.as_ref().map(|s| s.uai.as_str()), Some("0570054Z"));
    let chains: Vec<(&str, u64)> = c.audit.iter().map(|r| (r.chain.as_str(), r.seq)).collect();
    assert_eq!(
        chains,
        [(MESSAGE_CHAIN, 1), ("0570054Z", 1)],
        "message chain first"
    );
    assert_eq!(
        c.head(MESSAGE_CHAIN),
        store.audit_head("m1", MESSAGE_CHAIN).await.unwrap()
    );
    assert_eq!(
        c.head("0570054Z"),
        store.audit_head("m1", "0570054Z").await.unwrap()
    );
    assert_eq!(
        c.head("0670080Y"),
        ChainHead::default(),
        "no record, genesis"
    );
    let other = store.review_context("r2").await.unwrap().expect("r2");
    assert!(other.school.is_none(), "school not in the directory");
    assert_eq!(other.audit.len(), 1, "only the message chain");
}

async fn a_message_reviews_page_by_school_newest_version_first(store: &dyn Store) {
    seed(store).await;
    let mut v2 = review("r3", "m1", "0670080Y", datetime!(2025-12-05 00:00 +01:00));
    v2.version = 2;
    store
        .commit(Commit {
            reviews: vec![v2],
            ..Default::default()
        })
        .await
        .unwrap();
    let ids = |page: &[(String, charte::domain::message::Review)]| {
        page.iter().map(|(_, r)| r.id.clone()).collect::<Vec<_>>()
    };
    let first = store.message_reviews_page("m1", None, 2).await.unwrap();
    assert_eq!(ids(&first), ["r1", "r3"], "Fabert, then Kléber's version 2");
    let rest = store
        .message_reviews_page("m1", Some(&first[1].0), 2)
        .await
        .unwrap();
    assert_eq!(ids(&rest), ["r2"], "then Kléber's version 1");
    assert!(
        store
            .message_reviews_page("absent", None, 2)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn delivered_emails_and_idempotency_keys_expire_and_the_audit_trail_stays(store: &dyn Store) {
    use charte::store::{DeliveryStatus, MailOutcome};
    use std::time::Duration;
    seed(store).await;
    let claimed = store.claim_mail(Duration::from_secs(60), 1).await.unwrap();
    let sent = claimed[0].email.id.clone();
    assert!(
        store
            .finish_mail(&sent, &claimed[0].token, MailOutcome::Sent)
            .await
            .unwrap()
    );
    let now = OffsetDateTime::now_utc();
    // Nothing is older than an hour ago.
    assert_eq!(
        store
            .expire_before(now - time::Duration::hours(1), 100)
            .await
            .unwrap(),
        0
    );
    assert!(store.idempotency("region:k1").await.unwrap().is_some());

    // A day later, everything delivered and every key reserved before then goes, one at a time.
    let later = now + time::Duration::days(1);
    assert_eq!(
        store.expire_before(later, 1).await.unwrap(),
        2,
        "one of each"
    );
    assert_eq!(store.expire_before(later, 1).await.unwrap(), 0);
    assert_eq!(store.mail_delivery(&sent).await.unwrap(), None);
    assert!(store.idempotency("region:k1").await.unwrap().is_none());
    let left: Vec<String> = store
        .outbox_after(None, 10)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|t| {
            assert_eq!(t.delivery.status, DeliveryStatus::Queued);
            t.email.id
        })
        .collect();
    assert_eq!(left.len(), 1, "the email still queued stays");
    assert_ne!(left[0], sent);
    assert_eq!(
        store.audit("m1").await.unwrap().len(),
        1,
        "the audit trail stays"
    );
}

async fn a_fan_out_job_advances_under_its_revision_and_expires_once_finished(store: &dyn Store) {
    use charte::domain::actor::{Actor, Role};
    use charte::store::FanOut;
    let now = OffsetDateTime::now_utc();
    let m = message("m-fan", "region", &["0570054Z", "0670080Y", "0570108H"], T0);
    let job = FanOut {
        message_id: "m-fan".into(),
        actor: Actor {
            subject: "agent".into(),
            name: "Agent".into(),
            role: Role::AuthorityAgent,
            authority: Some("region".into()),
            uais: vec![],
            academie: None,
            arbitrator: None,
        },
        opened: 1,
        total: 3,
        created_at: T0,
        finished_at: None,
        revision: 0,
    };
    store
        .commit(Commit {
            messages: vec![m],
            reviews: vec![review("r1", "m-fan", "0570054Z", T0)],
            fan_out: Some(job.clone()),
            ..Commit::default()
        })
        .await
        .unwrap();
    let stored = store.fan_out("m-fan").await.unwrap().unwrap();
    assert_eq!((stored.opened, stored.revision), (1, 1));
    assert_eq!(
        store.pending_fan_outs(10).await.unwrap(),
        vec![stored.clone()]
    );

    // A chunk committed from a stale read of the job is refused whole: its review is not written.
    let err = store
        .commit(Commit {
            reviews: vec![review("r2", "m-fan", "0670080Y", T0)],
            fan_out: Some(FanOut {
                opened: 2,
                ..job.clone()
            }),
            ..Commit::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(store.review("r2").await.unwrap().is_none());

    // The last chunk finishes it: it leaves the pending jobs.
    store
        .commit(Commit {
            reviews: vec![
                review("r2", "m-fan", "0670080Y", T0),
                review("r3", "m-fan", "0570108H", T0),
            ],
            fan_out: Some(FanOut {
                opened: 3,
                finished_at: Some(now),
                ..stored
            }),
            ..Commit::default()
        })
        .await
        .unwrap();
    assert!(store.pending_fan_outs(10).await.unwrap().is_empty());
    let finished = store.fan_out("m-fan").await.unwrap().unwrap();
    assert_eq!((finished.opened, finished.revision), (3, 2));
    assert_eq!(store.reviews_of_message("m-fan").await.unwrap().len(), 3);

    // Kept for the retention, then forgotten; the reviews stay.
    assert_eq!(
        store
            .expire_before(now - time::Duration::hours(1), 10)
            .await
            .unwrap(),
        0
    );
    assert!(store.fan_out("m-fan").await.unwrap().is_some());
    assert_eq!(
        store
            .expire_before(now + time::Duration::days(1), 10)
            .await
            .unwrap(),
        1
    );
    assert!(store.fan_out("m-fan").await.unwrap().is_none());
    assert_eq!(store.reviews_of_message("m-fan").await.unwrap().len(), 3);
}

async fn a_school_inbox_pages_pending_by_deadline_then_the_others_and_follows_state_changes(
    store: &dyn Store,
) {
    use charte::domain::uai::Uai;
    let fabert = Uai::parse("0570054Z").unwrap();
    let kleber = Uai::parse("0670080Y").unwrap();
    let a = review("ra", "m1", "0570054Z", datetime!(2025-12-03 00:00 +01:00));
    let b = review("rb", "m2", "0570054Z", datetime!(2025-12-01 00:00 +01:00));
    let c = review("rc", "m3", "0570054Z", datetime!(2025-12-05 00:00 +01:00));
    store
        .commit(Commit {
            reviews: vec![a, b.clone(), c],
            ..Default::default()
        })
        .await
        .unwrap();
    let ids = |page: &[(String, charte::domain::message::Review)]| {
        page.iter().map(|(_, r)| r.id.clone()).collect::<Vec<_>>()
    };
    let first = store
        .inbox_page(InboxOf::School(&fabert), None, None, 2)
        .await
        .unwrap();
    assert_eq!(ids(&first), ["rb", "ra"], "soonest deadline first");
    let rest = store
        .inbox_page(InboxOf::School(&fabert), None, Some(&first[1].0), 2)
        .await
        .unwrap();
    assert_eq!(ids(&rest), ["rc"]);

    // Approved, b leaves the pending reviews and goes after them.
    let mut approved = b;
    approved.state = ReviewState::Approved;
    approved.deadline = None;
    approved.revision = 1;
    store
        .commit(Commit {
            reviews: vec![approved],
            ..Default::default()
        })
        .await
        .unwrap();
    let all = store
        .inbox_page(InboxOf::School(&fabert), None, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&all), ["ra", "rc", "rb"]);
    let pending = store
        .inbox_page(
            InboxOf::School(&fabert),
            Some(ReviewState::Pending),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(ids(&pending), ["ra", "rc"]);
    let decided = store
        .inbox_page(
            InboxOf::School(&fabert),
            Some(ReviewState::Approved),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(ids(&decided), ["rb"]);
    assert!(
        store
            .inbox_page(InboxOf::School(&kleber), None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_authority_inbox_holds_the_reviews_of_all_its_messages_and_only_those(
    store: &dyn Store,
) {
    let a = review("ra", "m1", "0570054Z", datetime!(2025-12-03 00:00 +01:00));
    let b = review("rb", "m2", "0670080Y", datetime!(2025-12-01 00:00 +01:00));
    let mut other = review("rc", "m3", "0570054Z", datetime!(2025-12-02 00:00 +01:00));
    other.authority_id = "cd-57".into();
    store
        .commit(Commit {
            reviews: vec![a, b.clone(), other],
            ..Default::default()
        })
        .await
        .unwrap();
    let ids = |page: &[(String, charte::domain::message::Review)]| {
        page.iter().map(|(_, r)| r.id.clone()).collect::<Vec<_>>()
    };
    let region = InboxOf::Authority("region-grand-est");
    let all = store.inbox_page(region, None, None, 10).await.unwrap();
    assert_eq!(
        ids(&all),
        ["rb", "ra"],
        "two schools, soonest deadline first"
    );
    let page = store
        .inbox_page(region, None, Some(&all[0].0), 10)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["ra"]);
    let cd = store
        .inbox_page(InboxOf::Authority("cd-57"), None, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&cd), ["rc"]);

    // A decision moves the review in the authority's inbox as in the school's.
    let mut approved = b;
    approved.state = ReviewState::Approved;
    approved.deadline = None;
    approved.revision = 1;
    store
        .commit(Commit {
            reviews: vec![approved],
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = store
        .inbox_page(region, Some(ReviewState::Pending), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&pending), ["ra"]);
    let approved = store
        .inbox_page(region, Some(ReviewState::Approved), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&approved), ["rb"]);
    assert_eq!(
        ids(&store.inbox_page(region, None, None, 10).await.unwrap()),
        ["ra", "rb"]
    );
}

async fn schools_and_academies_enter_a_message_timeline_with_the_commit_that_concerns_them(
    store: &dyn Store,
) {
    use charte::domain::uai::Uai;
    use charte::store::{academie_timeline, school_timeline};
    let fabert = Uai::parse("0570054Z").unwrap();
    let kleber = Uai::parse("0670080Y").unwrap();
    let mut m = message("m1", "region-grand-est", &["0570054Z", "0670080Y"], T0);
    m.academies = vec!["12".into(), "15".into()];
    // The message is written with its first school's review; the second opens later.
    let mut c = Commit {
        messages: vec![m.clone()],
        reviews: vec![review("ra", "m1", "0570054Z", T0 + time::Duration::days(3))],
        ..Default::default()
    };
    c.derive_timelines(&m);
    store.commit(c).await.unwrap();
    let ids = |page: Vec<(String, String)>| page.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .timeline(&school_timeline(&fabert), None, 10)
            .await
            .unwrap()),
        ["m1"]
    );
    assert!(
        store
            .timeline(&school_timeline(&kleber), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    for code in ["12", "15"] {
        assert_eq!(
            ids(store
                .timeline(&academie_timeline(code), None, 10)
                .await
                .unwrap()),
            ["m1"]
        );
    }
    assert!(
        store
            .timeline(&academie_timeline("01"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let mut c = Commit {
        reviews: vec![review("rb", "m1", "0670080Y", T0 + time::Duration::days(3))],
        ..Default::default()
    };
    c.derive_timelines(&m);
    store.commit(c).await.unwrap();
    assert_eq!(
        ids(store
            .timeline(&school_timeline(&kleber), None, 10)
            .await
            .unwrap()),
        ["m1"]
    );
    // A decision is no new entry: the message keeps its one place.
    let mut decided = store.review("ra").await.unwrap().unwrap();
    decided.state = ReviewState::Approved;
    let mut c = Commit {
        reviews: vec![decided],
        ..Default::default()
    };
    c.derive_timelines(&m);
    assert!(c.timelines.is_empty());
    store.commit(c).await.unwrap();
    assert_eq!(
        ids(store
            .timeline(&school_timeline(&fabert), None, 10)
            .await
            .unwrap()),
        ["m1"]
    );
}

async fn a_school_s_reviews_of_several_messages_are_read_together(store: &dyn Store) {
    use charte::domain::uai::Uai;
    let fabert = Uai::parse("0570054Z").unwrap();
    let due = T0 + time::Duration::days(3);
    let mut v2 = review("ra2", "m1", "0570054Z", due);
    v2.version = 2;
    store
        .commit(Commit {
            reviews: vec![
                review("ra", "m1", "0570054Z", due),
                v2,
                review("rb", "m1", "0670080Y", due),
                review("rc", "m2", "0570054Z", due),
                review("rd", "m3", "0570054Z", due),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut ids: Vec<String> = store
        .reviews_at_school(&["m1".into(), "m2".into(), "m9".into()], &fabert)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["ra", "ra2", "rc"],
        "every version, only this school, only these messages"
    );
    assert!(
        store
            .reviews_at_school(&[], &fabert)
            .await
            .unwrap()
            .is_empty()
    );
}

/// How many times Redis has run `command` since it started.
async fn calls(redis: &RedisServer, command: &str) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut con)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// Approves r1 (on display from T0 + 1 h): Fabert's feed changes.
async fn approve_r1(store: &dyn Store) {
    let m = store.message("m1").await.unwrap().unwrap();
    let mut r1 = store.review("r1").await.unwrap().unwrap();
    r1.state = ReviewState::Approved;
    r1.live_from = Some(T0 + time::Duration::hours(1));
    let mut c = Commit {
        reviews: vec![r1],
        ..Default::default()
    };
    c.derive_feed(&m);
    store.commit(c).await.unwrap();
}

#[tokio::test]
async fn a_replica_answers_feed_tags_without_redis_until_any_replica_changes_the_feed() {
    let redis = shared_redis();
    let a = RedisStore::connect(&redis.url(), "tags").await.unwrap();
    let b = RedisStore::connect(&redis.url(), "tags").await.unwrap();
    a.purge().await.unwrap();
    seed(&a).await;
    let fabert: charte::domain::uai::Uai = "0570054Z".parse().unwrap();
    let before = T0 - time::Duration::days(1);
    // Each replica's subscription proves itself with a heartbeat (one a second) before its
    // tags are kept.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let first = b.feed_tag(&fabert, before).await.unwrap();
    let reads = calls(&redis, "zcount").await;
    for _ in 0..20 {
        assert_eq!(b.feed_tag(&fabert, before).await.unwrap(), first);
    }
    assert_eq!(
        calls(&redis, "zcount").await,
        reads,
        "served from the replica"
    );

    // Replica A approves: B hears of it through Redis within moments, and A at once.
    approve_r1(&a).await;
    let changed = a.feed_tag(&fabert, before).await.unwrap();
    assert_ne!(changed, first, "the committing replica forgets at once");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while b.feed_tag(&fabert, before).await.unwrap() != changed {
        assert!(
            std::time::Instant::now() < deadline,
            "replica B still answers the old tag"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Time alone moves the tag: once display starts, one bound fewer is ahead.
    let during = T0 + time::Duration::days(2);
    assert_eq!(b.feed_tag(&fabert, during).await.unwrap().upcoming, 1);
    assert_eq!(
        b.feed_tag(&fabert, during).await.unwrap(),
        a.feed_tag(&fabert, during).await.unwrap()
    );

    // When the subscriptions are cut, nothing kept is served: each read goes to Redis again.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut con)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let reads = calls(&redis, "zcount").await;
    assert_eq!(b.feed_tag(&fabert, during).await.unwrap().upcoming, 1);
    assert_eq!(calls(&redis, "zcount").await, reads + 1, "read from Redis");
}
