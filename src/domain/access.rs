//! Who may see or do what: every access rule of the charter, per role and scope, in one place.
//!
//! Use cases ask here before they act; the rules are tested below as one table of roles and
//! actions, and a new role or action does not compile until each rule has answered for it.

use crate::domain::actor::{Actor, Role};
use crate::domain::directory::ArbitratorRef;
use crate::domain::message::{Message, Review};
use crate::domain::uai::Uai;

/// Something an actor asks to do, whatever the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Write, submit, revise or withdraw a message, or declare an emergency.
    WriteMessages,
    /// Approve, or request a rectification of, a message sent to one's school.
    Review,
    /// Take a dispute to the recteur or the DRAAF.
    Escalate,
    /// Settle a dispute one was seized of.
    Arbitrate,
    /// Co-validate an evaluation communication for one's académie.
    Coproduce,
    /// List disputes.
    ListDisputes,
    /// Operate the service: the outbox, dead letters.
    Administer,
    /// Subscribe a calendar to one's own deadlines (reviews, disputes, pending schools).
    FollowDeadlines,
    /// Subscribe a receiver to webhooks (the ENT for its schools, an authority for its
    /// messages, administrators for anything).
    SubscribeWebhooks,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 9] = [
        Action::WriteMessages,
        Action::Review,
        Action::Escalate,
        Action::Arbitrate,
        Action::Coproduce,
        Action::ListDisputes,
        Action::Administer,
        Action::FollowDeadlines,
        Action::SubscribeWebhooks,
    ];

    /// Whether the role may take this action at all (its scope is checked on the item).
    pub fn allowed_to(self, role: Role) -> bool {
        use Role::*;
        match self {
            Action::WriteMessages => matches!(role, AuthorityAgent | AuthorityRepresentative),
            Action::Review => role == Head,
            // The charter reserves the escalation to the authority's president or representative.
            Action::Escalate => role == AuthorityRepresentative,
            Action::Arbitrate => role == Arbitrator,
            Action::Coproduce => role == AcademicServices,
            Action::ListDisputes => {
                matches!(
                    role,
                    Arbitrator | Admin | AuthorityAgent | AuthorityRepresentative
                )
            }
            Action::Administer => role == Admin,
            Action::FollowDeadlines => matches!(
                role,
                Head | Arbitrator | AuthorityAgent | AuthorityRepresentative
            ),
            Action::SubscribeWebhooks => {
                matches!(role, Admin | Ent | AuthorityAgent | AuthorityRepresentative)
            }
        }
    }

    /// What to tell, in French, someone whose role may not take this action.
    pub fn refusal(self) -> &'static str {
        match self {
            Action::WriteMessages => {
                "Seuls les agents et représentants d'une collectivité peuvent soumettre ou modifier une communication."
            }
            Action::Review => {
                "Seul le chef d'établissement destinataire peut approuver ou demander une rectification."
            }
            Action::Escalate => {
                "Seul le président de la collectivité ou son représentant (rôle authority_representative) peut saisir l'autorité d'arbitrage."
            }
            Action::Arbitrate => {
                "Seuls le recteur ou le DRAAF saisis du litige peuvent le trancher."
            }
            Action::Coproduce => {
                "Seuls les services académiques co-valident une communication d'évaluation."
            }
            Action::ListDisputes => {
                "Les litiges ne sont visibles que des autorités d'arbitrage et des collectivités concernées."
            }
            Action::Administer => "Réservé aux administrateurs.",
            Action::FollowDeadlines => {
                "Seuls les chefs d'établissement, les autorités d'arbitrage et les agents des collectivités ont des échéances à suivre dans un calendrier."
            }
            Action::SubscribeWebhooks => {
                "Seuls l'ENT, les collectivités et les administrateurs s'abonnent aux webhooks."
            }
        }
    }
}

/// A refused action: the French sentence that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub &'static str);

/// Allows the action to the actor's role, or says why not.
pub fn require(actor: &Actor, action: Action) -> Result<(), Denied> {
    if action.allowed_to(actor.role) {
        Ok(())
    } else {
        Err(Denied(action.refusal()))
    }
}

/// The authority an actor writes for, if their role writes messages.
pub fn writing_authority(actor: &Actor) -> Result<&str, Denied> {
    require(actor, Action::WriteMessages)?;
    actor
        .authority
        .as_deref()
        .ok_or(Denied(Action::WriteMessages.refusal()))
}

/// Whether the actor speaks for `authority` in a dispute about one of its messages (to take it
/// to arbitration): that authority's representative, no one else.
pub fn speaks_for(actor: &Actor, authority: &str) -> bool {
    Action::Escalate.allowed_to(actor.role) && actor.authority.as_deref() == Some(authority)
}

/// What an actor's lists (messages, reviews, disputes) reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    /// Everything (administrators).
    Everything,
    /// One authority's messages and every review of them.
    Authority(&'a str),
    /// The reviews at these schools, and the messages sent to them (heads).
    Schools(&'a [Uai]),
    /// The schools of one académie (academic services).
    Academie(&'a str),
    /// The disputes one arbitrator is seized of.
    Disputes(Option<&'a ArbitratorRef>),
    /// Nothing (the ENT reads feeds only).
    Nothing,
}

/// What the actor's lists reach, from their role and scope.
pub fn reach(actor: &Actor) -> Reach<'_> {
    match actor.role {
        Role::Admin => Reach::Everything,
        Role::AuthorityAgent | Role::AuthorityRepresentative => {
            Reach::Authority(actor.authority.as_deref().unwrap_or(""))
        }
        Role::Head => Reach::Schools(&actor.uais),
        Role::AcademicServices => Reach::Academie(actor.academie.as_deref().unwrap_or("")),
        Role::Arbitrator => Reach::Disputes(actor.arbitrator.as_ref()),
        Role::Ent => Reach::Nothing,
    }
}

/// Whether the actor may see this review (its school's decision, its statements).
pub fn sees_review(actor: &Actor, review: &Review) -> bool {
    match reach(actor) {
        Reach::Everything => true,
        Reach::Authority(a) => review.authority_id == a,
        Reach::Schools(uais) => uais.contains(&review.uai),
        Reach::Academie(code) => review.academie_code == code,
        Reach::Disputes(arbitrator) => {
            arbitrator.is_some() && review.arbitrator.as_ref() == arbitrator
        }
        Reach::Nothing => false,
    }
}

/// Whether the actor sees every school of a message (its sender, an administrator); others
/// see only the schools their reviews show.
pub fn sees_whole_message(actor: &Actor, message: &Message) -> bool {
    match reach(actor) {
        Reach::Everything => true,
        Reach::Authority(a) => message.authority_id == a,
        Reach::Schools(_) | Reach::Academie(_) | Reach::Disputes(_) | Reach::Nothing => false,
    }
}

/// Whether the actor may read the message's own audit chain, which names every school (its
/// sender's staff, administrators); others read their schools' chains only.
pub fn reads_message_chain(actor: &Actor) -> bool {
    match reach(actor) {
        Reach::Everything | Reach::Authority(_) => true,
        Reach::Schools(_) | Reach::Academie(_) | Reach::Disputes(_) | Reach::Nothing => false,
    }
}

/// Whether the actor may read a school's feed: the ENT and the head of that school, and
/// administrators.
pub fn reads_feed(actor: &Actor, uai: &Uai) -> bool {
    match actor.role {
        Role::Ent | Role::Head => actor.uais.contains(uai),
        Role::Admin => true,
        Role::AuthorityAgent
        | Role::AuthorityRepresentative
        | Role::AcademicServices
        | Role::Arbitrator => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::actor::Role::*;

    /// The charter's table: which role may take which action. One row per role, in the
    /// order of [`Action::ALL`].
    #[rustfmt::skip]
    const TABLE: [(Role, [bool; 9]); 7] = [
        //                        write  review escal. arbit. coprod disput admin  calendar
        (AuthorityAgent,          [true,  false, false, false, false, true,  false, true,  true]),
        (AuthorityRepresentative, [true,  false, true,  false, false, true,  false, true,  true]),
        (Head,                    [false, true,  false, false, false, false, false, true,  false]),
        (AcademicServices,        [false, false, false, false, true,  false, false, false, false]),
        (Arbitrator,              [false, false, false, true,  false, true,  false, true,  false]),
        (Ent,                     [false, false, false, false, false, false, false, false, true]),
        (Admin,                   [false, false, false, false, false, true,  true,  false, true]),
    ];

    fn index(role: Role) -> usize {
        // Exhaustive: a new role must find its row.
        match role {
            AuthorityAgent => 0,
            AuthorityRepresentative => 1,
            Head => 2,
            AcademicServices => 3,
            Arbitrator => 4,
            Ent => 5,
            Admin => 6,
        }
    }

    /// A valid UAI that is not the actors' school.
    fn other_school() -> String {
        let digits = "0670081";
        format!(
            "{digits}{}",
            crate::domain::uai::check_letter(digits).unwrap()
        )
    }

    fn actor(role: Role) -> Actor {
        Actor {
            subject: "s".into(),
            name: "N".into(),
            role,
            authority: Some("region-grand-est".into()),
            uais: vec!["0570054Z".parse().unwrap()],
            academie: Some("12".into()),
            arbitrator: None,
        }
    }

    #[test]
    fn every_role_may_take_exactly_the_actions_the_charter_gives_it() {
        for role in Role::ALL {
            let (row_role, row) = TABLE[index(role)];
            assert_eq!(row_role, role);
            for (action, allowed) in Action::ALL.into_iter().zip(row) {
                assert_eq!(action.allowed_to(role), allowed, "{role:?} / {action:?}");
                let answer = require(&actor(role), action);
                if allowed {
                    assert_eq!(answer, Ok(()));
                } else {
                    assert_eq!(answer, Err(Denied(action.refusal())));
                }
            }
        }
    }

    #[test]
    fn every_refusal_is_a_french_sentence() {
        for action in Action::ALL {
            let why = action.refusal();
            assert!(
                why.ends_with('.') && why.chars().next().unwrap().is_uppercase(),
                "{why}"
            );
        }
    }

    #[test]
    fn only_the_authoritys_own_representative_speaks_for_it_in_a_dispute() {
        for role in Role::ALL {
            let who = actor(role);
            assert_eq!(
                speaks_for(&who, "region-grand-est"),
                role == AuthorityRepresentative,
                "{role:?}"
            );
            assert!(!speaks_for(&who, "departement-moselle"), "{role:?}");
        }
    }

    #[test]
    fn only_authority_staff_write_and_for_their_own_authority() {
        for role in Role::ALL {
            let who = actor(role);
            let written = writing_authority(&who);
            if matches!(role, AuthorityAgent | AuthorityRepresentative) {
                assert_eq!(written, Ok("region-grand-est"));
            } else {
                assert!(written.is_err(), "{role:?}");
            }
        }
        let mut without = actor(AuthorityAgent);
        without.authority = None;
        assert!(writing_authority(&without).is_err());
    }

    #[test]
    fn the_feed_is_read_by_the_schools_ent_and_head_and_administrators_only() {
        let mine: Uai = "0570054Z".parse().unwrap();
        let other: Uai = other_school().parse().unwrap();
        for role in Role::ALL {
            let expected = matches!(role, Ent | Head | Admin);
            assert_eq!(reads_feed(&actor(role), &mine), expected, "{role:?}");
            assert_eq!(reads_feed(&actor(role), &other), role == Admin, "{role:?}");
        }
    }

    #[test]
    fn the_message_chain_is_read_by_its_sender_and_administrators() {
        for role in Role::ALL {
            let expected = matches!(role, AuthorityAgent | AuthorityRepresentative | Admin);
            assert_eq!(reads_message_chain(&actor(role)), expected, "{role:?}");
        }
    }

    fn review_at(uai: &str, authority: &str, academie: &str, arbitrator: Option<&str>) -> Review {
        let mut r = Review::sample();
        r.uai = uai.parse().unwrap();
        r.authority_id = authority.into();
        r.academie_code = academie.into();
        r.arbitrator = arbitrator.map(|a| a.parse().unwrap());
        r
    }

    #[test]
    fn each_role_sees_the_reviews_of_its_scope_and_no_other() {
        let mut arbitrator = actor(Arbitrator);
        arbitrator.arbitrator = Some("rectorat:12".parse().unwrap());
        let own = review_at("0570054Z", "region-grand-est", "12", Some("rectorat:12"));
        // Another school, of another authority, académie and arbitrator.
        let foreign = review_at(&other_school(), "region-hdf", "09", Some("draaf:44"));
        // (who, sees own review, sees the foreign one)
        let table = [
            (actor(AuthorityAgent), true, false),
            (actor(AuthorityRepresentative), true, false),
            (actor(Head), true, false),
            (actor(AcademicServices), true, false),
            (arbitrator, true, false),
            (actor(Arbitrator), false, false),
            (actor(Ent), false, false),
            (actor(Admin), true, true),
        ];
        for (who, sees_own, sees_foreign) in table {
            assert_eq!(sees_review(&who, &own), sees_own, "{:?}", who.role);
            assert_eq!(sees_review(&who, &foreign), sees_foreign, "{:?}", who.role);
        }
    }
}
