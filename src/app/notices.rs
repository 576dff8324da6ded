//! The emails a transition's notices become: the domain says who is told of what
//! ([`Notice`]); this finds their addresses and has the mail adapter compose each one.

use super::*;
use crate::domain::review::Notice;

impl Charte {
    /// The emails telling of `review`'s transition, one per notice (those nobody can receive
    /// are dropped). `closing` says why a dispute closed, in the arbitrator's email (the new
    /// state's reason otherwise).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn notice_emails(
        &self,
        notices: &[Notice],
        message: &Message,
        review: &Review,
        school: &School,
        department: &Department,
        closing: Option<&str>,
        now: OffsetDateTime,
    ) -> Vec<OutboxEmail> {
        let sref = SchoolRef {
            name: &school.name,
            uai: school.uai.as_str(),
            department,
        };
        let authority = || self.authority_recipients(&message.authority_id);
        let authority_and_head = || {
            let mut to = authority();
            to.extend(Self::head_recipients(school));
            to
        };
        let arbitrator = || {
            review
                .arbitrator
                .as_ref()
                .and_then(|a| self.directory.arbitrator_contact(a))
                .map(|c| (c.name.clone(), vec![c.email.to_string()]))
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for notice in notices {
            match notice {
                Notice::Approved => out.extend(compose::approval_notice(
                    message,
                    review,
                    &sref,
                    authority(),
                    false,
                    now,
                )),
                Notice::TacitlyApproved => out.extend(compose::approval_notice(
                    message,
                    review,
                    &sref,
                    authority_and_head(),
                    true,
                    now,
                )),
                Notice::RectificationRequested => {
                    let academic = self
                        .directory
                        .academic_services_for(&school.academie_code)
                        .map(|c| vec![c.email.to_string()])
                        .unwrap_or_default();
                    out.extend(compose::rectification_requested(
                        message,
                        review,
                        &sref,
                        authority(),
                        academic,
                        now,
                    ));
                }
                Notice::Escalated => {
                    let (name, to) = arbitrator();
                    out.extend(compose::escalation(
                        message,
                        review,
                        &sref,
                        &self.authority_name(&message.authority_id),
                        &name,
                        to,
                        now,
                    ));
                }
                Notice::ArbitrationOutcome => out.extend(compose::arbitration_outcome(
                    message,
                    review,
                    &sref,
                    authority_and_head(),
                    now,
                )),
                Notice::DisputeClosed => {
                    let reason = match closing {
                        Some(why) => why.to_owned(),
                        None => dispute_closed_reason(review.state).unwrap_or_default(),
                    };
                    out.extend(compose::dispute_closed(
                        message,
                        review,
                        &sref,
                        &self.authority_name(&message.authority_id),
                        &reason,
                        arbitrator().1,
                        now,
                    ));
                }
            }
        }
        out.retain(|m| !m.to.is_empty());
        out
    }
}
