//! The emails the workflow causes, composed in French from templates; the domain says which
//! follow a transition (`crate::domain::notification`), this composes their text.
//!
//! Bodies are rendered from the templates of `templates/mail/` (plain text, and an HTML
//! alternative in which every value is escaped), compiled into the binary.

use std::sync::LazyLock;

use minijinja::{Environment, Value, context};
use time::OffsetDateTime;

use crate::domain::calendar::Department;
use crate::domain::content;
use crate::domain::message::{Message, Review, Version};
use crate::domain::notification::{
    EmailKind, OutboxEmail, SchoolRef, dispute_reminder_id, reminder_id,
};
use crate::domain::review::deadline_words;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Text templates read as the email will: a tag alone on its line leaves no blank line.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // `.html` templates are autoescaped (minijinja's default for that extension).
    for (name, source) in [
        (
            "_base.html",
            include_str!("../../templates/mail/_base.html"),
        ),
        (
            "_contenu.html",
            include_str!("../../templates/mail/_contenu.html"),
        ),
        (
            "_contenu.txt",
            include_str!("../../templates/mail/_contenu.txt"),
        ),
        (
            "review_request.txt",
            include_str!("../../templates/mail/review_request.txt"),
        ),
        (
            "dispute_closed.txt",
            include_str!("../../templates/mail/dispute_closed.txt"),
        ),
        (
            "dispute_closed.html",
            include_str!("../../templates/mail/dispute_closed.html"),
        ),
        (
            "review_request.html",
            include_str!("../../templates/mail/review_request.html"),
        ),
        (
            "reminder.txt",
            include_str!("../../templates/mail/reminder.txt"),
        ),
        (
            "reminder.html",
            include_str!("../../templates/mail/reminder.html"),
        ),
        (
            "emergency_copy.txt",
            include_str!("../../templates/mail/emergency_copy.txt"),
        ),
        (
            "emergency_copy.html",
            include_str!("../../templates/mail/emergency_copy.html"),
        ),
        (
            "rectification_requested.txt",
            include_str!("../../templates/mail/rectification_requested.txt"),
        ),
        (
            "rectification_requested.html",
            include_str!("../../templates/mail/rectification_requested.html"),
        ),
        (
            "academic_services_informed.txt",
            include_str!("../../templates/mail/academic_services_informed.txt"),
        ),
        (
            "academic_services_informed.html",
            include_str!("../../templates/mail/academic_services_informed.html"),
        ),
        (
            "approval.txt",
            include_str!("../../templates/mail/approval.txt"),
        ),
        (
            "approval.html",
            include_str!("../../templates/mail/approval.html"),
        ),
        (
            "withdrawn.txt",
            include_str!("../../templates/mail/withdrawn.txt"),
        ),
        (
            "withdrawn.html",
            include_str!("../../templates/mail/withdrawn.html"),
        ),
        (
            "escalated.txt",
            include_str!("../../templates/mail/escalated.txt"),
        ),
        (
            "escalated.html",
            include_str!("../../templates/mail/escalated.html"),
        ),
        (
            "arbitration_outcome.txt",
            include_str!("../../templates/mail/arbitration_outcome.txt"),
        ),
        (
            "arbitration_outcome.html",
            include_str!("../../templates/mail/arbitration_outcome.html"),
        ),
        (
            "coproduction_request.txt",
            include_str!("../../templates/mail/coproduction_request.txt"),
        ),
        (
            "coproduction_request.html",
            include_str!("../../templates/mail/coproduction_request.html"),
        ),
    ] {
        // The templates ship inside the binary and a unit test renders each: a syntax error
        // is a build defect, not a runtime condition.
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("modèle de courriel {name} invalide : {e}"));
    }
    env
});

/// Renders the text and HTML bodies of template `name` (without extension).
fn render(name: &str, subject: &str, ctx: Value) -> (String, String) {
    let ctx = context! { sujet => subject, ..ctx };
    let one = |file: String| {
        TEMPLATES
            .get_template(&file)
            .and_then(|t| t.render(&ctx))
            // Only a template defect can fail here (every value is provided by this module);
            // an email saying so is better than losing the transition that caused it.
            .unwrap_or_else(|e| {
                tracing::error!(modele = %file, erreur = %e, "modèle de courriel en échec");
                format!("(contenu indisponible : modèle {file} en échec)")
            })
    };
    let mut text = one(format!("{name}.txt"));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    (text, one(format!("{name}.html")))
}

fn new_email(
    kind: EmailKind,
    to: Vec<String>,
    subject: String,
    (text, html): (String, String),
    message: &Message,
    review: Option<&Review>,
    now: OffsetDateTime,
) -> OutboxEmail {
    OutboxEmail {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        to,
        subject,
        text,
        html,
        message_id: message.id.clone(),
        review_id: review.map(|r| r.id.clone()),
        created_at: now,
    }
}

fn instant_words(at: OffsetDateTime, department: &Department) -> String {
    crate::domain::calendar::instant_in_words(at, department)
}

fn paris() -> Department {
    // "75" is always a valid department; the fallback only satisfies the type.
    Department::parse("75").unwrap_or_else(|_| unreachable!("département 75"))
}

fn school_ctx(school: &SchoolRef<'_>) -> Value {
    context! { nom => school.name, uai => school.uai }
}

fn exhaustive_content(version: &Version, department: &Department) -> Value {
    let audience: Vec<&str> = version.audience.iter().map(|a| a.label()).collect();
    // The stored body was sanitised on submission; sanitising again here means even a record
    // altered behind the service's back cannot put script into an email.
    let html = content::sanitise_body(&version.body_html).html;
    context! {
        numero => version.number,
        empreinte => &version.hash,
        titre => &version.title,
        public => audience.join(" et "),
        publication => instant_words(version.publish_at, department),
        fin_affichage => instant_words(version.display_until, department),
        corps_texte => content::to_plain_text(&version.body_html),
        corps_html => Value::from_safe_string(html),
    }
}

/// The version named without its content, for the notices that only refer to it (approvals,
/// withdrawals, arbitration outcomes): sanitising and rendering the body for them would be
/// paid on every decision and every tacit approval for text no template shows.
fn version_ref(version: &Version) -> Value {
    context! {
        numero => version.number,
        empreinte => &version.hash,
        titre => &version.title,
    }
}

/// The exhaustive content sent to a head, with the deadline in words and what silence means.
pub fn review_request(
    message: &Message,
    review: &Review,
    school: &SchoolRef<'_>,
    authority_name: &str,
    to: Vec<String>,
    widget_url: &str,
    now: OffsetDateTime,
) -> Option<OutboxEmail> {
    let version = message.version(review.version)?;
    let deadline = review.deadline.as_ref()?;
    let words = deadline_words(deadline.expires_at, school.department);
    let subject = format!(
        "[Charte ENT] À examiner avant le {words} : {}",
        version.title
    );
    let bodies = render(
        "review_request",
        &subject,
        context! {
            autorite => authority_name,
            type => message.kind.label(),
            etablissement => school_ctx(school),
            version => review.version,
            note => version.change_note.as_deref(),
            echeance => &words,
            vacances => deadline.school_holiday_warning.as_deref(),
            lien => widget_url,
            contenu => exhaustive_content(version, school.department),
        },
    );
    Some(new_email(
        EmailKind::ReviewRequest,
        to,
        subject,
        bodies,
        message,
        Some(review),
        now,
    ))
}

/// The reminder to a head who has not answered, one business day before tacit approval.
pub fn review_reminder(
    message: &Message,
    review: &Review,
    school: &SchoolRef<'_>,
    authority_name: &str,
    to: Vec<String>,
    widget_url: &str,
    now: OffsetDateTime,
) -> Option<OutboxEmail> {
    let version = message.version(review.version)?;
    let deadline = review.deadline.as_ref()?;
    let words = deadline_words(deadline.expires_at, school.department);
    let subject = format!(
        "[Charte ENT] Rappel : accord tacite le {words} : {}",
        version.title
    );
    let bodies = render(
        "reminder",
        &subject,
        context! {
            autorite => authority_name,
            type => message.kind.label(),
            etablissement => school_ctx(school),
            echeance => &words,
            lien => widget_url,
            contenu => exhaustive_content(version, school.department),
        },
    );
    let mut email = new_email(
        EmailKind::Reminder,
        to,
        subject,
        bodies,
        message,
        Some(review),
        now,
    );
    email.id = reminder_id(&review.id);
    Some(email)
}

/// The copy of an emergency publication, sent to a head at the moment it goes live.
pub fn emergency_copy(
    message: &Message,
    review: &Review,
    school: &SchoolRef<'_>,
    authority_name: &str,
    to: Vec<String>,
    now: OffsetDateTime,
) -> Option<OutboxEmail> {
    let version = message.version(review.version)?;
    let emergency = message.emergency.as_ref()?;
    let subject = format!("[URGENCE] {}", version.title);
    let bodies = render(
        "emergency_copy",
        &subject,
        context! {
            autorite => authority_name,
            categorie => emergency.category.label(),
            justification => &emergency.justification,
            etablissement => school_ctx(school),
            contenu => exhaustive_content(version, school.department),
        },
    );
    Some(new_email(
        EmailKind::EmergencyCopy,
        to,
        subject,
        bodies,
        message,
        Some(review),
        now,
    ))
}

/// A head's rectification request, sent to the authority, and the information to academic services.
pub fn rectification_requested(
    message: &Message,
    review: &Review,
    school: &SchoolRef<'_>,
    authority_to: Vec<String>,
    academic_to: Vec<String>,
    now: OffsetDateTime,
) -> Vec<OutboxEmail> {
    let Some(version) = message.version(review.version) else {
        return vec![];
    };
    let motive = review
        .rectification
        .as_ref()
        .map(|s| s.text.as_str())
        .unwrap_or("");
    let subject = format!(
        "[Charte ENT] Rectification demandée par {} : {}",
        school.name, version.title
    );
    let ctx = context! {
        etablissement => school_ctx(school),
        motif => motive,
        contenu => exhaustive_content(version, school.department),
    };
    let mut out = vec![new_email(
        EmailKind::RectificationRequested,
        authority_to,
        subject.clone(),
        render("rectification_requested", &subject, ctx.clone()),
        message,
        Some(review),
        now,
    )];
    if !academic_to.is_empty() {
        let subject = format!(
            "[Charte ENT] Pour information : doute exprimé par {}",
            school.name
        );
        out.push(new_email(
            EmailKind::AcademicServicesInformed,
            academic_to,
            subject.clone(),
            render("academic_services_informed", &subject, ctx),
            message,
            Some(review),
            now,
        ));
    }
    out
}

/// An approval (explicit or tacit) notice to the authority (and the head, for tacit ones).
pub fn approval_notice(
    message: &Message,
    review: &Review,
    school: &SchoolRef<'_>,
    to: Vec<String>,
    tacit: bool,
    now: OffsetDateTime,
) -> Option<OutboxEmail> {
    let version = message.version(review.version)?;
    let live = review
        .live_from
        .map(|at| instant_words(at, school.department))
        .unwrap_or_default();
    let (kind, subject) = if tacit {
        (
            EmailKind::TacitlyApproved,
            format!(
                "[Charte ENT] Accord tacite de {} : {}",
                school.name, version.title
            ),
        )
    } else {
        (
            EmailKind::Approved,
            format!(
                "[Charte ENT] Approuvée par {} : {}",
                school.name, version.title
            ),
        )
    };
    let bodies = render(
        "approval",
        &subject,
        context! {
            tacite => tacit,
            echeance => review
                .deadline
                .as_ref()
                .map(|d| deadline_words(d.expires_at, school.department))
                .unwrap_or_default(),
            etablissement => school_ctx(school),
            affichage => live,
            contenu => version_ref(version),
        },
    );
    Some(new_email(
        kind,
        to,
        subject,
        bodies,
        message,
        Some(review),
        now,
    ))
}

/// A withdrawal notice to a head.
pub fn withdrawal_notice(
    message: &Message,
    school: &SchoolRef<'_>,
    authority_name: &str,
    to: Vec<String>,
    now: OffsetDateTime,
) -> OutboxEmail {
    let version = message.current_version();
    let subject = format!("[Charte ENT] Communication retirée : {}", version.title);
    let bodies = render(
        "withdrawn",
        &subject,
        context! {
            autorite => authority_name,
            etablissement => school_ctx(school),
            motif => message.withdrawn.as_ref().and_then(|w| w.motive.as_deref()),
            contenu => version_ref(version),
        },
    );
    new_email(
        EmailKind::Withdrawn,
        to,
        subject,
        bodies,
        message,
        None,
        now,
    )
}

/// A dispute sent to the arbitrator, with both sides' statements.
pub fn escalation(
    message: &Message,
    review: &Review,
    school: &SchoolRef<'_>,
    authority_name: &str,
    arbitrator_name: &str,
    to: Vec<String>,
    now: OffsetDateTime,
) -> Option<OutboxEmail> {
    let version = message.version(review.version)?;
    let subject = format!(
        "[Charte ENT] Arbitrage urgent demandé : {} / {}",
        authority_name, school.name
    );
    let bodies = render(
        "escalated",
        &subject,
        context! {
            arbitre => arbitrator_name,
            autorite => authority_name,
            etablissement => school_ctx(school),
            motif => review.rectification.as_ref().map(|s| s.text.as_str()).unwrap_or(""),
            expose => review.escalation.as_ref().map(|s| s.text.as_str()).unwrap_or(""),
            contenu => exhaustive_content(version, school.department),
        },
    );
    Some(new_email(
        EmailKind::Escalated,
        to,
        subject,
        bodies,
        message,
        Some(review),
        now,
    ))
}

/// Tells the arbitrator that a dispute ended without their decision, and why.
pub fn dispute_closed(
    message: &Message,
    review: &Review,
    school: &SchoolRef<'_>,
    authority_name: &str,
    reason: &str,
    to: Vec<String>,
    now: OffsetDateTime,
) -> Option<OutboxEmail> {
    let version = message.version(review.version)?;
    let subject = format!(
        "[Charte ENT] Litige clos sans décision : {} / {}",
        authority_name, school.name
    );
    let bodies = render(
        "dispute_closed",
        &subject,
        context! {
            autorite => authority_name,
            etablissement => school_ctx(school),
            motif => reason,
            contenu => version_ref(version),
        },
    );
    Some(new_email(
        EmailKind::DisputeClosed,
        to,
        subject,
        bodies,
        message,
        Some(review),
        now,
    ))
}

/// The daily reminder to an arbitrator of a dispute still waiting, with both statements again.
#[allow(clippy::too_many_arguments)]
pub fn dispute_reminder(
    message: &Message,
    review: &Review,
    school: &SchoolRef<'_>,
    authority_name: &str,
    arbitrator_name: &str,
    to: Vec<String>,
    day: i64,
    now: OffsetDateTime,
) -> Option<OutboxEmail> {
    let version = message.version(review.version)?;
    let depuis = if day == 1 {
        "1 jour".to_owned()
    } else {
        format!("{day} jours")
    };
    let subject = format!(
        "[Charte ENT] Rappel : arbitrage urgent en attente depuis {depuis} : {} / {}",
        authority_name, school.name
    );
    let bodies = render(
        "escalated",
        &subject,
        context! {
            arbitre => arbitrator_name,
            autorite => authority_name,
            etablissement => school_ctx(school),
            motif => review.rectification.as_ref().map(|s| s.text.as_str()).unwrap_or(""),
            expose => review.escalation.as_ref().map(|s| s.text.as_str()).unwrap_or(""),
            contenu => exhaustive_content(version, school.department),
            depuis => depuis,
        },
    );
    let mut email = new_email(
        EmailKind::DisputeReminder,
        to,
        subject,
        bodies,
        message,
        Some(review),
        now,
    );
    email.id = dispute_reminder_id(&review.id, day);
    Some(email)
}

/// The arbitrator's decision, to the authority and the head.
pub fn arbitration_outcome(
    message: &Message,
    review: &Review,
    school: &SchoolRef<'_>,
    to: Vec<String>,
    now: OffsetDateTime,
) -> Option<OutboxEmail> {
    let version = message.version(review.version)?;
    let decision = review.arbitration.as_ref()?;
    let verdict = if review.state == crate::domain::review::ReviewState::Authorised {
        "autorise la publication"
    } else {
        "confirme le refus de publication"
    };
    let subject = format!("[Charte ENT] Décision d'arbitrage : {}", version.title);
    let bodies = render(
        "arbitration_outcome",
        &subject,
        context! {
            verdict => verdict,
            etablissement => school_ctx(school),
            motif => &decision.text,
            contenu => version_ref(version),
        },
    );
    Some(new_email(
        EmailKind::ArbitrationOutcome,
        to,
        subject,
        bodies,
        message,
        Some(review),
        now,
    ))
}

/// A request to academic services to co-produce an evaluation message before heads review it.
pub fn coproduction_request(
    message: &Message,
    authority_name: &str,
    academie_code: &str,
    to: Vec<String>,
    now: OffsetDateTime,
) -> OutboxEmail {
    let version = message.current_version();
    let subject = format!(
        "[Charte ENT] Communication d'évaluation à co-valider : {}",
        version.title
    );
    let bodies = render(
        "coproduction_request",
        &subject,
        context! {
            autorite => authority_name,
            academie => academie_code,
            contenu => exhaustive_content(version, &paris()),
        },
    );
    new_email(
        EmailKind::CoproductionRequest,
        to,
        subject,
        bodies,
        message,
        None,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAILS: [&str; 11] = [
        "dispute_closed",
        "review_request",
        "reminder",
        "emergency_copy",
        "rectification_requested",
        "academic_services_informed",
        "approval",
        "withdrawn",
        "escalated",
        "arbitration_outcome",
        "coproduction_request",
    ];

    fn everything(value: &str) -> Value {
        context! {
            autorite => value,
            type => "communication ponctuelle",
            etablissement => context! { nom => value, uai => "0570054Z" },
            version => 2,
            note => value,
            echeance => "jeudi 26 novembre 2026 à minuit",
            vacances => value,
            lien => "https://ent.example.fr/widget/",
            categorie => value,
            justification => value,
            motif => value,
            tacite => true,
            affichage => "lundi 30 novembre 2026 à 8 h 00",
            arbitre => value,
            expose => value,
            verdict => "autorise la publication",
            academie => "12",
            contenu => context! {
                numero => 2,
                empreinte => "ab12",
                titre => value,
                public => "familles",
                publication => "lundi 30 novembre 2026 à 8 h 00",
                fin_affichage => "jeudi 31 décembre 2026 à 18 h 00",
                corps_texte => value,
                corps_html => Value::from_safe_string("<p>Corps <strong>assaini</strong></p>".into()),
            },
        }
    }

    #[test]
    fn every_template_renders_and_escapes_every_value_in_html() {
        let hostile = "<script>alert('x')</script> & « Cie »";
        for name in EMAILS {
            let (text, html) = render(name, hostile, everything(hostile));
            assert!(!text.contains("contenu indisponible"), "{name}: {text}");
            assert!(!html.contains("contenu indisponible"), "{name}: {html}");
            assert!(text.contains(hostile), "{name}: {text}");
            assert!(!html.contains("<script>"), "{name}: {html}");
            assert!(html.contains("&lt;script&gt;"), "{name}: {html}");
            assert!(html.starts_with("<!DOCTYPE html>"), "{name}: {html}");
        }
    }

    #[test]
    fn text_bodies_have_no_stray_blank_lines_from_template_tags() {
        let (text, _) = render("approval", "s", everything("Lycée Fabert"));
        assert!(text.starts_with("Le délai d'examen a expiré"), "{text}");
        assert!(!text.contains("\n\n\n"), "{text}");
        let (text, _) = render("review_request", "s", everything("Lycée Fabert"));
        assert!(!text.contains("\n\n\n"), "{text}");
        assert!(text.contains("Il s'agit de la version 2"), "{text}");
    }
}
