//! The deadline scheduler under paused tokio time: it sleeps until the deadline and grants
//! tacit approval at that instant, once, however many times it wakes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use charte::app::{Submission, TokioClock};
use charte::domain::actor::{Actor, Role};
use charte::domain::message::Draft;
use common::app::{MONDAY_9AM, TestApp};
use time::macros::datetime;

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

#[tokio::test(start_paused = true)]
async fn the_scheduler_sleeps_until_the_deadline_and_approves_exactly_then_and_once() {
    // The app's own scheduler, on a clock that follows tokio's paused time from Monday 09:00.
    // The webhook worker looks at its log once a second when idle: under paused time each look
    // is a step of the clock, and days of them would take minutes of real time.
    let app = TestApp::builder()
        .clock(Arc::new(TokioClock::starting_at(MONDAY_9AM)))
        .webhooks(charte::webhooks::WebhookSettings {
            poll: Duration::from_secs(3600),
            ..Default::default()
        })
        .spawn()
        .await;
    let (charte, store) = (&app.charte, &app.store);

    let sub = Submission {
        draft: Draft {
            title: Some("Cantine : nouveaux tarifs".into()),
            body: Some("<p>Les tarifs changent au 1er janvier.</p>".into()),
            audience: Some(vec!["families".into()]),
            publish_at: Some("2026-11-23T09:00:00+01:00".into()),
            display_until: Some("2027-01-31T00:00:00+01:00".into()),
        },
        kind: Some("one_off".into()),
        targets: Some(vec!["0570054Z".into()]),
        ..Default::default()
    };
    let (view, _) = charte.submit(&agent(), sub, None).await.unwrap();
    let review_id = store.reviews_of_message(&view.id).await.unwrap()[0]
        .id
        .clone();
    let deadline = datetime!(2026-11-27 00:00 +01:00);
    assert_eq!(
        view.next_deadline.as_deref(),
        Some("2026-11-27T00:00:00+01:00")
    );

    // Let almost four days of paused time pass; the scheduler wakes many times meanwhile.
    tokio::time::sleep(Duration::from_secs(4 * 24 * 3600)).await;

    let review = store.review(&review_id).await.unwrap().unwrap();
    assert_eq!(
        review.state,
        charte::domain::review::ReviewState::TacitlyApproved
    );
    assert_eq!(review.decided_at, Some(deadline));
    let audit = store.audit(&view.id).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|r| r.entry.action == charte::domain::audit::AuditAction::TacitlyApproved)
            .count(),
        1
    );
    // The notice was written when the scheduler woke: at the deadline, not a polling period later.
    let notice = store
        .outbox(100)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.kind == charte::domain::notification::EmailKind::TacitlyApproved)
        .unwrap();
    assert!(
        notice.created_at >= deadline,
        "approved early: {}",
        notice.created_at
    );
    assert!(
        notice.created_at - deadline < time::Duration::seconds(1),
        "approved late: {}",
        notice.created_at
    );

    app.stop().await;
}
