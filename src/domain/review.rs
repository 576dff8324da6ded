//! One review per targeted school: its state machine, in a single transition function.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::calendar::{Department, date_in_words};

/// Where a school's review stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Awaiting the head's decision until the deadline.
    Pending,
    /// Approved by the head.
    Approved,
    /// Approved by silence when the deadline passed.
    TacitlyApproved,
    /// The head doubts the content and asked, with a motive, for a rectification.
    RectificationRequested,
    /// Replaced by the review of a newer version.
    Superseded,
    /// Escalated by the authority to the recteur or the DRAAF.
    InArbitration,
    /// The arbitrator authorised publication.
    Authorised,
    /// The arbitrator upheld the head's refusal.
    Upheld,
    /// The authority withdrew the message.
    Withdrawn,
    /// Published at once for an emergency, with a copy emailed to the head.
    EmergencyPublished,
}

impl ReviewState {
    /// Every state, in the order of the workflow.
    pub const ALL: [ReviewState; 10] = [
        ReviewState::Pending,
        ReviewState::Approved,
        ReviewState::TacitlyApproved,
        ReviewState::RectificationRequested,
        ReviewState::Superseded,
        ReviewState::InArbitration,
        ReviewState::Authorised,
        ReviewState::Upheld,
        ReviewState::Withdrawn,
        ReviewState::EmergencyPublished,
    ];

    /// The state's name in the API (snake case, as serialised).
    pub fn name(self) -> &'static str {
        match self {
            ReviewState::Pending => "pending",
            ReviewState::Approved => "approved",
            ReviewState::TacitlyApproved => "tacitly_approved",
            ReviewState::RectificationRequested => "rectification_requested",
            ReviewState::Superseded => "superseded",
            ReviewState::InArbitration => "in_arbitration",
            ReviewState::Authorised => "authorised",
            ReviewState::Upheld => "upheld",
            ReviewState::Withdrawn => "withdrawn",
            ReviewState::EmergencyPublished => "emergency_published",
        }
    }

    /// Parses the API name.
    pub fn parse(name: &str) -> Option<ReviewState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The state in French, as people read it.
    pub fn label(self) -> &'static str {
        match self {
            ReviewState::Pending => "en attente de décision",
            ReviewState::Approved => "approuvée",
            ReviewState::TacitlyApproved => "approuvée tacitement",
            ReviewState::RectificationRequested => "rectification demandée",
            ReviewState::Superseded => "remplacée par une nouvelle version",
            ReviewState::InArbitration => "en arbitrage",
            ReviewState::Authorised => "autorisée par l'arbitre",
            ReviewState::Upheld => "refus confirmé par l'arbitre",
            ReviewState::Withdrawn => "retirée par la collectivité",
            ReviewState::EmergencyPublished => "publiée en urgence",
        }
    }

    /// Whether the version of this review may be on display in the school.
    pub fn is_publishable(self) -> bool {
        matches!(
            self,
            ReviewState::Approved
                | ReviewState::TacitlyApproved
                | ReviewState::Authorised
                | ReviewState::EmergencyPublished
        )
    }

    /// Whether the review's deadline is running: silence until it passes is consent (the one
    /// predicate the sweep, the deadline index, reminders and the inbox order rely on).
    pub const fn deadline_runs(self) -> bool {
        match self {
            ReviewState::Pending => true,
            ReviewState::Approved
            | ReviewState::TacitlyApproved
            | ReviewState::RectificationRequested
            | ReviewState::Superseded
            | ReviewState::InArbitration
            | ReviewState::Authorised
            | ReviewState::Upheld
            | ReviewState::Withdrawn
            | ReviewState::EmergencyPublished => false,
        }
    }

    /// Whether the review still awaits someone's action (head, authority or arbitrator).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ReviewState::Pending | ReviewState::RectificationRequested | ReviewState::InArbitration
        )
    }
}

/// Something that happens to a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewEvent {
    /// The head approves.
    Approve,
    /// The head asks for a rectification (with a motive).
    RequestRectification,
    /// The deadline passes with no answer.
    Expire,
    /// The authority submits a new version for this school.
    Supersede,
    /// The authority's representative takes the dispute to arbitration.
    Escalate,
    /// The arbitrator authorises publication.
    Authorise,
    /// The arbitrator upholds the refusal.
    Uphold,
    /// The authority withdraws the message.
    Withdraw,
}

impl ReviewEvent {
    /// Every event.
    pub const ALL: [ReviewEvent; 8] = [
        ReviewEvent::Approve,
        ReviewEvent::RequestRectification,
        ReviewEvent::Expire,
        ReviewEvent::Supersede,
        ReviewEvent::Escalate,
        ReviewEvent::Authorise,
        ReviewEvent::Uphold,
        ReviewEvent::Withdraw,
    ];

    /// The action in French, as an infinitive clause ("approuver").
    pub fn label(self) -> &'static str {
        match self {
            ReviewEvent::Approve => "approuver",
            ReviewEvent::RequestRectification => "demander une rectification",
            ReviewEvent::Expire => "constater l'accord tacite",
            ReviewEvent::Supersede => "remplacer par une nouvelle version",
            ReviewEvent::Escalate => "saisir l'autorité d'arbitrage",
            ReviewEvent::Authorise => "autoriser la publication",
            ReviewEvent::Uphold => "confirmer le refus",
            ReviewEvent::Withdraw => "retirer",
        }
    }

    /// The action after « de », with the elision French requires (« d'approuver », « de retirer »).
    pub fn after_de(self) -> String {
        let label = self.label();
        if label.starts_with(['a', 'e', 'é', 'i', 'o', 'u']) {
            format!("d'{label}")
        } else {
            format!("de {label}")
        }
    }

    /// The audit action name.
    pub fn action(self) -> crate::domain::audit::AuditAction {
        use crate::domain::audit::AuditAction;
        match self {
            ReviewEvent::Approve => AuditAction::Approved,
            ReviewEvent::RequestRectification => AuditAction::RectificationRequested,
            ReviewEvent::Expire => AuditAction::TacitlyApproved,
            ReviewEvent::Supersede => AuditAction::Superseded,
            ReviewEvent::Escalate => AuditAction::Escalated,
            ReviewEvent::Authorise => AuditAction::Authorised,
            ReviewEvent::Uphold => AuditAction::Upheld,
            ReviewEvent::Withdraw => AuditAction::Withdrawn,
        }
    }
}

/// What the transition needs to know besides the state: the instant and the deadline.
#[derive(Debug, Clone, Copy)]
pub struct TransitionContext<'a> {
    /// When the event happens.
    pub at: OffsetDateTime,
    /// When silence becomes consent, for reviews that have a deadline.
    pub deadline: Option<OffsetDateTime>,
    /// The school's department, to say the deadline in its local time.
    pub department: &'a Department,
}

/// Why a transition is not possible; rendered to people as a 409 in French.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The deadline passed: the review is (or is about to be recorded as) tacitly approved.
    #[error(
        "Le délai a expiré le {expired_in_words} : l'accord tacite est acquis, il n'est plus possible {action}."
    )]
    DeadlineExpired {
        /// The event refused, after « de » (« d'approuver »).
        action: String,
        /// The legal deadline.
        expired_at: OffsetDateTime,
        /// The deadline in French words, local time.
        expired_in_words: String,
    },
    /// Tacit approval asked for before the deadline.
    #[error(
        "Le délai court jusqu'au {deadline_in_words} : l'accord tacite n'est pas encore acquis."
    )]
    NotYetDue {
        /// The deadline in French words, local time.
        deadline_in_words: String,
    },
    /// The event makes no sense from the current state.
    #[error("La revue est à l'état « {} » : impossible {}. {reason}", .state.label(), .event.after_de())]
    InvalidState {
        /// The current state.
        state: ReviewState,
        /// The event refused.
        event: ReviewEvent,
        /// Why, in French.
        reason: &'static str,
    },
}

/// Says a deadline ("jeudi 26 novembre 2026 à minuit") in the school's local time.
pub fn deadline_words(deadline: OffsetDateTime, department: &Department) -> String {
    // The deadline is 00:00 of the day after the last day: people say "the last day, at midnight".
    let last_day = crate::domain::calendar::local_date(deadline, department)
        .previous_day()
        .unwrap_or(time::Date::MIN);
    format!("{} à minuit", date_in_words(last_day))
}

/// The one transition function: where a review goes when `event` happens, or why it cannot.
pub fn transition(
    state: ReviewState,
    event: ReviewEvent,
    ctx: TransitionContext<'_>,
) -> Result<ReviewState, Refusal> {
    use ReviewEvent as E;
    use ReviewState as S;

    let expired = ctx.deadline.is_some_and(|d| ctx.at >= d);
    let invalid = |reason: &'static str| Refusal::InvalidState {
        state,
        event,
        reason,
    };

    match (state, event) {
        (S::Pending, E::Approve | E::RequestRectification) => {
            if expired {
                let d = ctx.deadline.unwrap_or(ctx.at);
                Err(Refusal::DeadlineExpired {
                    action: event.after_de(),
                    expired_at: d,
                    expired_in_words: deadline_words(d, ctx.department),
                })
            } else if event == E::Approve {
                Ok(S::Approved)
            } else {
                Ok(S::RectificationRequested)
            }
        }
        (S::Pending, E::Expire) => match ctx.deadline {
            Some(_) if expired => Ok(S::TacitlyApproved),
            Some(d) => Err(Refusal::NotYetDue {
                deadline_in_words: deadline_words(d, ctx.department),
            }),
            None => Err(invalid("Cette revue n'a pas de délai.")),
        },
        (S::Pending | S::RectificationRequested | S::InArbitration, E::Supersede) => {
            Ok(S::Superseded)
        }
        (S::RectificationRequested, E::Escalate) => Ok(S::InArbitration),
        (S::InArbitration, E::Authorise) => Ok(S::Authorised),
        (S::InArbitration, E::Uphold) => Ok(S::Upheld),
        (
            S::Pending
            | S::RectificationRequested
            | S::InArbitration
            | S::Approved
            | S::TacitlyApproved
            | S::Authorised
            | S::EmergencyPublished,
            E::Withdraw,
        ) => Ok(S::Withdrawn),

        // Everything else is refused, with the reason a person needs.
        (S::Approved | S::TacitlyApproved | S::Authorised, _) => Err(invalid(
            "La décision est acquise et la version est publiable dans l'établissement.",
        )),
        (S::EmergencyPublished, _) => Err(invalid(
            "Une communication d'urgence est publiée sans examen préalable ; seule la collectivité peut la retirer.",
        )),
        (S::Superseded, _) => Err(invalid(
            "Une version plus récente a été transmise : c'est elle qu'il faut examiner.",
        )),
        (S::Withdrawn, _) => Err(invalid("La collectivité a retiré cette communication.")),
        (S::Upheld, _) => Err(invalid(
            "L'arbitre a confirmé le refus ; la collectivité peut transmettre une version rectifiée.",
        )),
        (S::RectificationRequested, E::Approve | E::RequestRectification | E::Expire) => {
            Err(invalid(
                "Le chef d'établissement a demandé une rectification : la collectivité doit transmettre une version rectifiée, retirer la communication ou saisir l'arbitre.",
            ))
        }
        (S::RectificationRequested, E::Authorise | E::Uphold) => Err(invalid(
            "Le litige n'a pas été porté devant l'autorité d'arbitrage.",
        )),
        (S::InArbitration, _) => Err(invalid(
            "Le litige est entre les mains de l'autorité d'arbitrage, qui doit autoriser la publication ou confirmer le refus.",
        )),
        (S::Pending, E::Escalate | E::Authorise | E::Uphold) => Err(invalid(
            "Aucune rectification n'a été demandée : il n'y a pas de litige à arbitrer.",
        )),
    }
}

/// Someone told of a transition: the emails that follow it (their text is the mail adapter's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The head approved: the authority is told.
    Approved,
    /// The deadline passed in silence: the authority and the head are told.
    TacitlyApproved,
    /// The head asked for a rectification: the authority and the académie's services are told.
    RectificationRequested,
    /// The representative took the dispute to arbitration: the arbitrator is told.
    Escalated,
    /// The arbitrator decided: the authority and the head are told.
    ArbitrationOutcome,
    /// A dispute ended without a decision (new version, withdrawal): its arbitrator is told.
    DisputeClosed,
}

/// What a transition brings about besides the review's own fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Effects {
    /// Who is told, in order.
    pub notices: Vec<Notice>,
}

/// What a review needs to know of its surroundings to move, besides the instant and deadline.
#[derive(Debug, Clone, Default)]
pub struct Surroundings {
    /// The publication date of the version the review judges (display starts at the later of
    /// it and the decision).
    pub publish_at: Option<OffsetDateTime>,
    /// Who settles a dispute about the school (needed to escalate).
    pub arbitrator: Option<crate::domain::directory::ArbitratorRef>,
    /// The statement the event carries: the head's motive, the representative's statement, the
    /// arbitrator's motive.
    pub statement: Option<crate::domain::message::Statement>,
}

impl crate::domain::message::Review {
    /// Applies `event`: the new state, the decision instant, the start of display, the
    /// statements, and which notices follow — or why the event is refused, the review unchanged.
    pub fn apply(
        &mut self,
        event: ReviewEvent,
        ctx: TransitionContext<'_>,
        around: Surroundings,
    ) -> Result<Effects, Refusal> {
        let before = self.state;
        let next = transition(before, event, ctx)?;
        self.state = next;
        let live_from = |decided: OffsetDateTime| around.publish_at.map(|p| p.max(decided));
        let notices = match event {
            ReviewEvent::Approve => {
                self.decided_at = Some(ctx.at);
                self.live_from = live_from(ctx.at);
                vec![Notice::Approved]
            }
            ReviewEvent::RequestRectification => {
                self.decided_at = Some(ctx.at);
                self.rectification = around.statement;
                vec![Notice::RectificationRequested]
            }
            ReviewEvent::Expire => {
                // The legal instant of a tacit approval is the deadline, not when it is recorded.
                let at = ctx.deadline.unwrap_or(ctx.at);
                self.decided_at = Some(at);
                self.live_from = live_from(at);
                vec![Notice::TacitlyApproved]
            }
            ReviewEvent::Escalate => {
                self.escalation = around.statement;
                self.arbitrator = around.arbitrator;
                vec![Notice::Escalated]
            }
            ReviewEvent::Authorise => {
                self.arbitration = around.statement;
                self.live_from = live_from(ctx.at);
                vec![Notice::ArbitrationOutcome]
            }
            ReviewEvent::Uphold => {
                self.arbitration = around.statement;
                vec![Notice::ArbitrationOutcome]
            }
            ReviewEvent::Supersede | ReviewEvent::Withdraw => {
                if before == ReviewState::InArbitration {
                    vec![Notice::DisputeClosed]
                } else {
                    vec![]
                }
            }
        };
        Ok(Effects { notices })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn paris() -> Department {
        Department::parse("75").unwrap()
    }

    fn before_deadline(dept: &Department) -> TransitionContext<'_> {
        TransitionContext {
            at: datetime!(2026-11-23 10:00 +01:00),
            deadline: Some(datetime!(2026-11-28 00:00 +01:00)),
            department: dept,
        }
    }

    fn after_deadline(dept: &Department) -> TransitionContext<'_> {
        TransitionContext {
            at: datetime!(2026-11-28 00:00 +01:00),
            deadline: Some(datetime!(2026-11-28 00:00 +01:00)),
            department: dept,
        }
    }

    /// The complete table of allowed transitions; everything else must be refused.
    fn expected(state: ReviewState, event: ReviewEvent) -> Option<ReviewState> {
        use ReviewEvent as E;
        use ReviewState as S;
        match (state, event) {
            (S::Pending, E::Approve) => Some(S::Approved),
            (S::Pending, E::RequestRectification) => Some(S::RectificationRequested),
            (S::Pending | S::RectificationRequested | S::InArbitration, E::Supersede) => {
                Some(S::Superseded)
            }
            (S::RectificationRequested, E::Escalate) => Some(S::InArbitration),
            (S::InArbitration, E::Authorise) => Some(S::Authorised),
            (S::InArbitration, E::Uphold) => Some(S::Upheld),
            (S::Superseded | S::Upheld | S::Withdrawn, E::Withdraw) => None,
            (_, E::Withdraw) => Some(S::Withdrawn),
            _ => None,
        }
    }

    #[test]
    fn every_state_and_event_before_the_deadline_follows_the_table() {
        let dept = paris();
        for state in ReviewState::ALL {
            for event in ReviewEvent::ALL {
                let got = transition(state, event, before_deadline(&dept));
                match expected(state, event) {
                    Some(next) => assert_eq!(got, Ok(next), "{state:?} + {event:?}"),
                    None => {
                        let refusal =
                            got.expect_err(&format!("{state:?} + {event:?} must be refused"));
                        let text = refusal.to_string();
                        if event != ReviewEvent::Expire || state != ReviewState::Pending {
                            assert!(text.contains(state.label()), "{text}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn silence_becomes_consent_only_once_the_deadline_has_passed() {
        let dept = paris();
        let early = transition(
            ReviewState::Pending,
            ReviewEvent::Expire,
            before_deadline(&dept),
        );
        assert_eq!(
            early.unwrap_err().to_string(),
            "Le délai court jusqu'au vendredi 27 novembre 2026 à minuit : l'accord tacite n'est pas encore acquis."
        );
        assert_eq!(
            transition(
                ReviewState::Pending,
                ReviewEvent::Expire,
                after_deadline(&dept)
            ),
            Ok(ReviewState::TacitlyApproved)
        );
        // Once tacitly approved, a second expiry is refused: tacit approval happens exactly once.
        assert!(
            transition(
                ReviewState::TacitlyApproved,
                ReviewEvent::Expire,
                after_deadline(&dept)
            )
            .is_err()
        );
    }

    #[test]
    fn a_head_answering_at_the_deadline_is_told_tacit_approval_is_acquired() {
        let dept = paris();
        for event in [ReviewEvent::Approve, ReviewEvent::RequestRectification] {
            let refusal =
                transition(ReviewState::Pending, event, after_deadline(&dept)).unwrap_err();
            assert_eq!(
                refusal.to_string(),
                format!(
                    "Le délai a expiré le vendredi 27 novembre 2026 à minuit : l'accord tacite est acquis, il n'est plus possible {}.",
                    event.after_de()
                )
            );
        }
        // One second before midnight the head is still in time.
        let ctx = TransitionContext {
            at: datetime!(2026-11-27 23:59:59 +01:00),
            ..after_deadline(&dept)
        };
        assert_eq!(
            transition(ReviewState::Pending, ReviewEvent::Approve, ctx),
            Ok(ReviewState::Approved)
        );
    }

    #[test]
    fn a_refusal_names_the_current_state_and_the_reason() {
        let dept = paris();
        let refusal = transition(
            ReviewState::Approved,
            ReviewEvent::RequestRectification,
            before_deadline(&dept),
        )
        .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "La revue est à l'état « approuvée » : impossible de demander une rectification. La décision est acquise et la version est publiable dans l'établissement."
        );
    }

    #[test]
    fn refusals_elide_de_before_a_vowel() {
        let dept = paris();
        let twice = transition(
            ReviewState::Approved,
            ReviewEvent::Approve,
            before_deadline(&dept),
        )
        .unwrap_err();
        assert!(
            twice.to_string().contains("impossible d'approuver."),
            "{twice}"
        );
        let withdraw = transition(
            ReviewState::Withdrawn,
            ReviewEvent::Withdraw,
            before_deadline(&dept),
        )
        .unwrap_err();
        assert!(
            withdraw.to_string().contains("impossible de retirer."),
            "{withdraw}"
        );
    }

    #[test]
    fn only_published_states_are_publishable() {
        let publishable: Vec<_> = ReviewState::ALL
            .into_iter()
            .filter(|s| s.is_publishable())
            .collect();
        assert_eq!(
            publishable,
            vec![
                ReviewState::Approved,
                ReviewState::TacitlyApproved,
                ReviewState::Authorised,
                ReviewState::EmergencyPublished
            ]
        );
    }
}

#[cfg(test)]
mod names {
    use super::ReviewState;

    #[test]
    fn only_a_pending_review_has_a_deadline_running() {
        let running: Vec<ReviewState> = ReviewState::ALL
            .into_iter()
            .filter(|s| s.deadline_runs())
            .collect();
        assert_eq!(running, [ReviewState::Pending]);
    }

    #[test]
    fn every_state_is_listed_once_and_named_as_serialised() {
        let mut seen = std::collections::BTreeSet::new();
        for s in ReviewState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
            assert_eq!(ReviewState::parse(s.name()), Some(s));
            assert!(seen.insert(s.name()));
        }
        assert_eq!(ReviewState::parse("approuvée"), None);
    }

    #[test]
    fn every_event_is_listed_once() {
        use super::ReviewEvent as E;
        // Exhaustive: a new event does not compile until it has a place here, and then the
        // assertion below fails until it is in `ALL`.
        let place = |e: E| match e {
            E::Approve => 0,
            E::RequestRectification => 1,
            E::Expire => 2,
            E::Supersede => 3,
            E::Escalate => 4,
            E::Authorise => 5,
            E::Uphold => 6,
            E::Withdraw => 7,
        };
        for (i, e) in E::ALL.into_iter().enumerate() {
            assert_eq!(place(e), i, "{e:?}");
        }
    }
}

#[cfg(test)]
mod apply {
    use super::*;
    use crate::domain::message::{Review, ReviewDeadline, Statement};
    use time::macros::{date, datetime};

    const DEADLINE: OffsetDateTime = datetime!(2026-11-28 00:00 +01:00);
    const PUBLISH_AT: OffsetDateTime = datetime!(2026-11-20 08:00 +01:00);

    fn review(state: ReviewState) -> Review {
        let mut r = Review::sample();
        r.state = state;
        r.opened_at = datetime!(2026-11-23 09:00 +01:00);
        r.deadline = Some(ReviewDeadline {
            expires_at: DEADLINE,
            last_day: date!(2026 - 11 - 27),
            business_days: 3,
            mode: crate::domain::calendar::CalendarMode::default(),
            school_holiday_warning: None,
        });
        r.revision = 3;
        r
    }

    fn said(text: &str) -> Statement {
        Statement {
            text: text.into(),
            at: datetime!(2026-11-24 10:00 +01:00),
            by: "Mme Martin".into(),
            role: "head".into(),
        }
    }

    fn around(statement: Option<Statement>) -> Surroundings {
        Surroundings {
            publish_at: Some(PUBLISH_AT),
            arbitrator: Some("rectorat:12".parse().unwrap()),
            statement,
        }
    }

    fn at(when: OffsetDateTime, dept: &Department) -> TransitionContext<'_> {
        TransitionContext {
            at: when,
            deadline: Some(DEADLINE),
            department: dept,
        }
    }

    #[test]
    fn an_approval_is_decided_now_displayed_from_then_and_told_to_the_authority() {
        let dept = Department::parse("57").unwrap();
        let now = datetime!(2026-11-24 10:00 +01:00);
        let mut r = review(ReviewState::Pending);
        let effects = r
            .apply(ReviewEvent::Approve, at(now, &dept), around(None))
            .unwrap();
        assert_eq!(r.state, ReviewState::Approved);
        assert_eq!(r.decided_at, Some(now));
        assert_eq!(
            r.live_from,
            Some(now),
            "published already: on display at once"
        );
        assert_eq!(effects.notices, [Notice::Approved]);
    }

    #[test]
    fn a_tacit_approval_takes_the_deadline_as_its_instant_whenever_it_is_recorded() {
        let dept = Department::parse("57").unwrap();
        let mut r = review(ReviewState::Pending);
        let later = datetime!(2026-11-30 03:00 +01:00);
        let effects = r
            .apply(ReviewEvent::Expire, at(later, &dept), around(None))
            .unwrap();
        assert_eq!(r.state, ReviewState::TacitlyApproved);
        assert_eq!(r.decided_at, Some(DEADLINE));
        assert_eq!(r.live_from, Some(DEADLINE));
        assert_eq!(effects.notices, [Notice::TacitlyApproved]);
    }

    #[test]
    fn a_rectification_request_keeps_the_heads_motive_and_informs_two_parties() {
        let dept = Department::parse("57").unwrap();
        let now = datetime!(2026-11-24 10:00 +01:00);
        let mut r = review(ReviewState::Pending);
        let motive = said("Le numéro de téléphone est faux.");
        let effects = r
            .apply(
                ReviewEvent::RequestRectification,
                at(now, &dept),
                around(Some(motive.clone())),
            )
            .unwrap();
        assert_eq!(r.state, ReviewState::RectificationRequested);
        assert_eq!(r.decided_at, Some(now));
        assert_eq!(r.rectification, Some(motive));
        assert_eq!(r.live_from, None, "nothing goes on display");
        assert_eq!(effects.notices, [Notice::RectificationRequested]);
    }

    #[test]
    fn an_escalation_names_the_arbitrator_and_an_authorisation_puts_the_version_on_display() {
        let dept = Department::parse("57").unwrap();
        let now = datetime!(2026-11-25 10:00 +01:00);
        let mut r = review(ReviewState::RectificationRequested);
        let statement = said("La rectification demandée n'est pas fondée.");
        let effects = r
            .apply(
                ReviewEvent::Escalate,
                at(now, &dept),
                around(Some(statement.clone())),
            )
            .unwrap();
        assert_eq!(r.state, ReviewState::InArbitration);
        assert_eq!(r.escalation, Some(statement));
        assert_eq!(r.arbitrator, Some("rectorat:12".parse().unwrap()));
        assert_eq!(effects.notices, [Notice::Escalated]);

        let decided = datetime!(2026-11-26 15:00 +01:00);
        let motive = said("Le contenu est conforme à la charte.");
        let effects = r
            .apply(
                ReviewEvent::Authorise,
                at(decided, &dept),
                around(Some(motive.clone())),
            )
            .unwrap();
        assert_eq!(r.state, ReviewState::Authorised);
        assert_eq!(r.arbitration, Some(motive));
        assert_eq!(r.live_from, Some(decided));
        assert_eq!(effects.notices, [Notice::ArbitrationOutcome]);
    }

    #[test]
    fn withdrawing_or_replacing_a_disputed_review_tells_its_arbitrator_and_no_other_does() {
        let dept = Department::parse("57").unwrap();
        let now = datetime!(2026-11-25 10:00 +01:00);
        for event in [ReviewEvent::Withdraw, ReviewEvent::Supersede] {
            for state in ReviewState::ALL {
                let mut r = review(state);
                let Ok(effects) = r.apply(event, at(now, &dept), Surroundings::default()) else {
                    continue;
                };
                let expected: &[Notice] = if state == ReviewState::InArbitration {
                    &[Notice::DisputeClosed]
                } else {
                    &[]
                };
                assert_eq!(effects.notices, expected, "{state:?} / {event:?}");
            }
        }
    }

    #[test]
    fn a_refused_event_leaves_the_review_as_it_was() {
        let dept = Department::parse("57").unwrap();
        let late = datetime!(2026-11-28 00:00 +01:00);
        for state in ReviewState::ALL {
            for event in ReviewEvent::ALL {
                let mut r = review(state);
                if r.apply(event, at(late, &dept), around(Some(said("x"))))
                    .is_err()
                {
                    assert_eq!(r, review(state), "{state:?} / {event:?}");
                }
            }
        }
    }
}
