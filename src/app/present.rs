//! Turns domain records into the views people and tools read.

use similar::{ChangeTag, TextDiff};

use super::views::*;
use super::{AppError, AppResult, Charte};
use crate::domain::calendar::{Deadline, Department};
use crate::domain::content;
use crate::domain::directory::{Authority, AuthorityKind, School, SchoolType};
use crate::domain::message::{Message, MessageKind, Purpose, Review, Version, rfc3339};
use crate::domain::review::{ReviewState, deadline_words};
use crate::store::MessageSummary;

/// A version as shown.
pub fn version_view(v: &Version) -> VersionView {
    VersionView {
        number: v.number,
        title: v.title.clone(),
        body_html: v.body_html.clone(),
        audience: v.audience.clone(),
        publish_at: rfc3339(v.publish_at),
        display_until: rfc3339(v.display_until),
        hash: v.hash.clone(),
        submitted_at: rfc3339(v.submitted_at),
        change_note: v.change_note.clone(),
        sanitised: v.sanitised.clone(),
        warnings: v.warnings.clone(),
    }
}

/// The API name of a school type.
pub fn school_type(s: &School) -> &'static str {
    match s.school_type {
        SchoolType::Ecole => "ecole",
        SchoolType::College => "college",
        SchoolType::Lycee => "lycee",
        SchoolType::Other => "other",
    }
}

/// The API name of an authority kind.
pub fn authority_kind(a: &Authority) -> &'static str {
    match a.kind {
        AuthorityKind::Region => "region",
        AuthorityKind::Departement => "departement",
        AuthorityKind::Commune => "commune",
    }
}

/// A school as shown.
pub fn school_view(s: &School) -> SchoolView {
    SchoolView {
        uai: s.uai.to_string(),
        name: s.name.clone(),
        school_type: school_type(s).to_owned(),
        public: s.public,
        department: s.department.clone(),
        commune_code: s.commune_code.clone(),
        academie_code: s.academie_code.clone(),
        academie_name: s.academie_name.clone(),
        region_code: s.region_code.clone(),
        agricultural: s.agricultural,
    }
}

/// A computed deadline as shown.
pub fn deadline_view(
    uai: Option<&str>,
    dept: &Department,
    at: time::OffsetDateTime,
    days: u32,
    d: &Deadline,
) -> DeadlineView {
    DeadlineView {
        uai: uai.map(str::to_owned),
        department: dept.to_string(),
        submitted_at: rfc3339(at),
        business_days: days,
        mode: d.mode.as_str().to_owned(),
        last_day: d.last_day.to_string(),
        expires_at: rfc3339(d.expires_at),
        in_words: crate::domain::calendar::deadline_in_words(d),
        time_zone: d.time_zone.to_owned(),
        extended_from: d.extended_from.map(|x| x.to_string()),
        skipped_days: d
            .skipped_days
            .iter()
            .map(|s| SkippedDayView {
                date: s.date.to_string(),
                reason: s.reason.clone(),
            })
            .collect(),
        school_holiday_warning: d.school_holiday_warning.clone(),
    }
}

/// A message's overall status from its summary: the same rules whatever part of its schools the
/// summary covers (all of them for its sender, some for a head or an académie).
fn status(message: &Message, summary: &MessageSummary, expected_schools: usize) -> MessageStatus {
    if message.withdrawn.is_some() {
        return MessageStatus::Withdrawn;
    }
    if message.kind == MessageKind::Emergency {
        return MessageStatus::EmergencyPublished;
    }
    let schools = summary.schools();
    if schools == 0 && message.purpose == Purpose::Evaluation {
        return MessageStatus::AwaitingCoproduction;
    }
    let any = |s: ReviewState| summary.counts.get(&s).is_some_and(|n| *n > 0);
    let publishable: u64 = summary
        .counts
        .iter()
        .filter(|(s, _)| s.is_publishable())
        .map(|(_, n)| n)
        .sum();
    if any(ReviewState::InArbitration) {
        MessageStatus::InArbitration
    } else if any(ReviewState::RectificationRequested) {
        MessageStatus::RectificationRequested
    } else if summary
        .counts
        .iter()
        .any(|(s, n)| s.deadline_runs() && *n > 0)
        || (message.purpose == Purpose::Evaluation && (schools as usize) < expected_schools)
    {
        MessageStatus::InReview
    } else if publishable == schools && publishable > 0 {
        MessageStatus::Approved
    } else if publishable > 0 {
        MessageStatus::PartiallyApproved
    } else {
        MessageStatus::Refused
    }
}

fn changes(previous: &str, current: &str) -> Vec<ChangeLine> {
    TextDiff::from_lines(previous, current)
        .iter_all_changes()
        .map(|c| ChangeLine {
            tag: match c.tag() {
                ChangeTag::Equal => "equal",
                ChangeTag::Insert => "insert",
                ChangeTag::Delete => "delete",
            }
            .to_owned(),
            text: c.value().trim_end_matches('\n').to_owned(),
        })
        .collect()
}

fn version_text(v: &Version) -> String {
    format!(
        "Titre : {}\nPublication : {}\nFin d'affichage : {}\n\n{}\n",
        v.title,
        crate::domain::calendar::instant_in_words(v.publish_at, &Department::paris()),
        crate::domain::calendar::instant_in_words(v.display_until, &Department::paris()),
        content::to_plain_text(&v.body_html)
    )
}

/// Which of a message's schools a caller sees, for its presentation.
pub(super) enum Seen {
    /// Every school it targets (its sender, an administrator); `listed` says whether the view
    /// names them.
    Every {
        /// Whether the view names them.
        listed: bool,
    },
    /// Only these (a head's, an académie's).
    Only(Vec<String>),
}

impl Charte {
    /// A review as shown, with its deadline in words and business days left.
    pub(super) async fn present_review(&self, r: &Review) -> AppResult<ReviewView> {
        let school = self.store.school(&r.uai).await?;
        self.present_review_at(r, school)
    }

    /// Several reviews as shown, their schools read together.
    pub(super) async fn present_reviews(&self, reviews: &[&Review]) -> AppResult<Vec<ReviewView>> {
        let mut uais: Vec<crate::domain::uai::Uai> =
            reviews.iter().map(|r| r.uai.clone()).collect();
        uais.sort();
        uais.dedup();
        let schools: std::collections::HashMap<String, School> = self
            .store
            .schools_of(&uais)
            .await?
            .into_iter()
            .map(|s| (s.uai.to_string(), s))
            .collect();
        reviews
            .iter()
            .map(|r| self.present_review_at(r, schools.get(r.uai.as_str()).cloned()))
            .collect()
    }

    /// [`Self::present_review`] with the school already read.
    pub(super) fn present_review_at(
        &self,
        r: &Review,
        school: Option<School>,
    ) -> AppResult<ReviewView> {
        let dept =
            Department::parse(&r.department).map_err(|e| AppError::Internal(e.to_string()))?;
        let now = self.now();
        let days_left = match (&r.deadline, r.state) {
            (Some(d), state) if state.deadline_runs() => {
                let zone = school
                    .as_ref()
                    .and_then(|s| crate::domain::calendar::zone_for_academie(&s.academie_name));
                // The opening day never counts, so the count starts the day after it at the earliest.
                let today = crate::domain::calendar::local_date(now, &dept);
                let first = crate::domain::calendar::local_date(r.opened_at, &dept)
                    .next_day()
                    .unwrap_or(today);
                let mut n = 0;
                let mut day = today.max(first);
                while day <= d.last_day {
                    if self
                        .calendar
                        .is_counted_day(day, &dept, zone.as_ref())
                        .is_ok()
                    {
                        n += 1;
                    }
                    match day.next_day() {
                        Some(x) => day = x,
                        None => break,
                    }
                }
                Some(n)
            }
            _ => None,
        };
        let arbitrator_name = r
            .arbitrator
            .as_ref()
            .and_then(|a| self.directory.arbitrator_contact(a))
            .map(|c| c.name.clone());
        Ok(ReviewView {
            id: r.id.clone(),
            message_id: r.message_id.clone(),
            uai: r.uai.to_string(),
            school_name: school.map(|s| s.name).unwrap_or_default(),
            state: r.state,
            state_label: r.state.label().to_owned(),
            version: r.version,
            version_hash: r.version_hash.clone(),
            deadline: r.deadline.as_ref().map(|d| rfc3339(d.expires_at)),
            deadline_last_day: r.deadline.as_ref().map(|d| d.last_day.to_string()),
            deadline_in_words: r
                .deadline
                .as_ref()
                .map(|d| deadline_words(d.expires_at, &dept)),
            business_days_left: days_left,
            school_holiday_warning: r
                .deadline
                .as_ref()
                .and_then(|d| d.school_holiday_warning.clone()),
            opened_at: rfc3339(r.opened_at),
            decided_at: r.decided_at.map(rfc3339),
            live_from: r.live_from.map(rfc3339),
            rectification: r.rectification.clone(),
            escalation: r.escalation.clone(),
            arbitrator: r.arbitrator.as_ref().map(|a| a.to_string()),
            arbitrator_name,
            arbitration: r.arbitration.clone(),
        })
    }

    /// A message as shown: its summary over the schools the caller may see (`targets`), and the
    /// caller's own reviews of it (a head's).
    pub(super) async fn present_message(
        &self,
        m: &Message,
        summary: &MessageSummary,
        seen: Seen,
        own: Vec<Review>,
    ) -> AppResult<MessageView> {
        let (target_count, targets) = match seen {
            Seen::Every { listed: true } => (
                m.targets.len(),
                m.targets.iter().map(|u| u.to_string()).collect(),
            ),
            // A list leaves the codes out: a thousand per Région's message.
            Seen::Every { listed: false } => (m.targets.len(), vec![]),
            Seen::Only(schools) => (schools.len(), schools),
        };
        let overall = status(m, summary, target_count);
        let counts = summary
            .counts
            .iter()
            .map(|(s, n)| (s.name().to_owned(), *n as usize))
            .collect();
        let mut own = own;
        // Current reviews first (highest version), then by school.
        own.sort_by(|a, b| b.version.cmp(&a.version).then(a.uai.cmp(&b.uai)));
        let mut own_reviews = Vec::with_capacity(own.len());
        for r in &own {
            own_reviews.push(self.present_review(r).await?);
        }
        let coproduction = if m.purpose == Purpose::Evaluation {
            let academies = self.message_academies(m).await?;
            Some(CoproductionView {
                validated: m.coproduction.clone(),
                awaiting: academies
                    .into_iter()
                    .filter(|a| !m.coproduction.iter().any(|c| &c.academie_code == a))
                    .collect(),
            })
        } else {
            None
        };
        Ok(MessageView {
            id: m.id.clone(),
            authority_id: m.authority_id.clone(),
            authority_name: self.authority_name(&m.authority_id),
            kind: m.kind,
            purpose: m.purpose,
            status: overall,
            status_label: overall.label().to_owned(),
            emergency: m.emergency.clone(),
            targets,
            target_count,
            submitted_at: rfc3339(m.submitted_at),
            current_version: version_view(m.current_version()),
            versions: m.versions.len() as u32,
            coproduction,
            withdrawn: m.withdrawn.clone(),
            summary: counts,
            // In Paris time, as the reviews' own deadlines read in metropolitan France.
            next_deadline: summary.next_deadline.map(|d| {
                rfc3339(crate::domain::calendar::in_zone(
                    d,
                    crate::domain::calendar::time_zone(&Department::paris()),
                ))
            }),
            own_reviews,
        })
    }

    /// A review with its content, the diff against the previous version, and its history, from
    /// the school and the audit records (the message's and the school's chains) already read.
    pub(super) async fn present_review_detail_from(
        &self,
        m: &Message,
        r: &Review,
        school: Option<School>,
        audit: Vec<crate::domain::audit::AuditRecord>,
    ) -> AppResult<ReviewDetail> {
        let version = m
            .version(r.version)
            .ok_or_else(|| AppError::Internal(format!("version {} absente", r.version)))?;
        let previous = r.version.checked_sub(1).and_then(|n| m.version(n));
        let history = audit
            .into_iter()
            .filter(|a| a.entry.uai.as_deref() == Some(r.uai.as_str()) || a.entry.uai.is_none())
            .map(|a| a.entry.into())
            .collect();
        Ok(ReviewDetail {
            review: self.present_review_at(r, school)?,
            authority_id: m.authority_id.clone(),
            authority_name: self.authority_name(&m.authority_id),
            kind: m.kind,
            purpose: m.purpose,
            emergency: m.emergency.clone(),
            content: version_view(version),
            previous_version: previous.map(|p| p.number),
            changes: previous
                .map(|p| changes(&version_text(p), &version_text(version)))
                .unwrap_or_default(),
            history,
        })
    }
}
