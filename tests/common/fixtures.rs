//! Records for store-level tests.

use charte::domain::calendar::CalendarMode;
use charte::domain::directory::ArbitratorRef;
use charte::domain::message::{
    AudienceMember, Message, MessageKind, Purpose, Review, ReviewDeadline, Version,
};
use charte::domain::review::ReviewState;
use charte::domain::uai::Uai;
use time::OffsetDateTime;

/// A one-version message to the given schools.
pub fn message(id: &str, authority: &str, targets: &[&str], at: OffsetDateTime) -> Message {
    Message {
        id: id.into(),
        authority_id: authority.into(),
        kind: MessageKind::OneOff,
        purpose: Purpose::Information,
        emergency: None,
        targets: targets.iter().map(|u| Uai::parse(u).unwrap()).collect(),
        academies: vec![],
        versions: vec![Version {
            number: 1,
            title: "Titre".into(),
            body_html: "<p>Corps</p>".into(),
            audience: vec![AudienceMember::Families],
            publish_at: at,
            display_until: at + time::Duration::days(30),
            hash: "ab".repeat(32),
            submitted_at: at,
            submitted_by: "Agent".into(),
            change_note: None,
            sanitised: vec![],
            warnings: vec![],
        }],
        submitted_at: at,
        submitted_by: "Agent".into(),
        coproduction: vec![],
        withdrawn: None,
        revision: 0,
    }
}

/// A pending review due at `due`.
pub fn review(id: &str, message: &str, uai: &str, due: OffsetDateTime) -> Review {
    Review {
        id: id.into(),
        message_id: message.into(),
        authority_id: "region-grand-est".into(),
        uai: Uai::parse(uai).unwrap(),
        department: "57".into(),
        academie_code: "12".into(),
        version: 1,
        version_hash: "ab".repeat(32),
        state: ReviewState::Pending,
        opened_at: due - time::Duration::days(3),
        deadline: Some(ReviewDeadline {
            expires_at: due,
            last_day: (due - time::Duration::days(1)).date(),
            business_days: 3,
            mode: CalendarMode::Ouvrables,
            school_holiday_warning: None,
        }),
        decided_at: None,
        rectification: None,
        escalation: None,
        arbitrator: None,
        arbitration: None,
        live_from: None,
        revision: 0,
    }
}

/// The recteur of académie 12.
pub fn rectorat_12() -> ArbitratorRef {
    "rectorat:12".parse().unwrap()
}
