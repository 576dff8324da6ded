//! The emails the workflow causes, composed in French and queued in the outbox in the
//! same atomic step as the transition that causes them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::calendar::Department;
use crate::domain::content;
use crate::domain::message::{Message, Review, Version};
use crate::domain::review::deadline_words;

/// What an email is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// Exhaustive content sent to a head for review.
    ReviewRequest,
    /// Copy of an emergency publication sent to a head.
    EmergencyCopy,
    /// A head's rectification request, to the authority.
    RectificationRequested,
    /// A head's doubt, to the académie's services.
    AcademicServicesInformed,
    /// A head's approval, to the authority.
    Approved,
    /// A tacit approval, to the authority and the head.
    TacitlyApproved,
    /// A withdrawal, to the heads.
    Withdrawn,
    /// A dispute, to the arbitrator.
    Escalated,
    /// An arbitration decision, to both parties.
    ArbitrationOutcome,
    /// An evaluation message awaiting co-production, to academic services.
    CoproductionRequest,
}

/// A complete email waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxEmail {
    /// Identifier, also the basis of the `Message-ID` header.
    pub id: String,
    /// What it is about.
    pub kind: EmailKind,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// The message it concerns.
    pub message_id: String,
    /// The review it concerns, if one.
    pub review_id: Option<String>,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What an email needs to know about the school.
#[derive(Debug, Clone)]
pub struct SchoolRef<'a> {
    /// Name.
    pub name: &'a str,
    /// UAI.
    pub uai: &'a str,
    /// Department, for the local time of deadlines.
    pub department: &'a Department,
}

fn new_email(
    kind: EmailKind,
    to: Vec<String>,
    subject: String,
    text: String,
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
        message_id: message.id.clone(),
        review_id: review.map(|r| r.id.clone()),
        created_at: now,
    }
}

fn exhaustive_content(version: &Version) -> String {
    let audience: Vec<&str> = version
        .audience
        .iter()
        .map(|a| match a {
            crate::domain::message::AudienceMember::Families => "familles",
            crate::domain::message::AudienceMember::Pupils => "élèves",
        })
        .collect();
    format!(
        "----- Contenu exhaustif (version {n}, empreinte {hash}) -----\nTitre : {title}\nPublic : {audience}\nPublication à partir du : {from}\nFin d'affichage : {until}\n\n{body}\n----- Fin du contenu -----",
        n = version.number,
        hash = version.hash,
        title = version.title,
        audience = audience.join(" et "),
        from = crate::domain::message::rfc3339(version.publish_at),
        until = crate::domain::message::rfc3339(version.display_until),
        body = content::to_plain_text(&version.body_html),
    )
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
    let new_version = if review.version > 1 {
        format!(
            "Il s'agit de la version {} de cette communication, rectifiée par la collectivité.{}\n\n",
            review.version,
            version
                .change_note
                .as_deref()
                .map(|n| format!(" Modifications annoncées : {n}"))
                .unwrap_or_default()
        )
    } else {
        String::new()
    };
    let text = format!(
        "Madame, Monsieur le chef d'établissement,\n\n{authority_name} souhaite diffuser par l'ENT la {kind} ci-dessous auprès des familles de {school} ({uai}).\n\n{new_version}Vous disposez jusqu'au {words} pour l'examiner. Vous pouvez l'approuver, ou demander une rectification en indiquant votre motif. Sans réponse de votre part à cette échéance, votre accord sera réputé acquis (accord tacite) et la communication sera publiée.{holidays}\n\nPour répondre : {widget_url}\n\n{content}\n",
        kind = message.kind.label(),
        school = school.name,
        uai = school.uai,
        holidays = deadline
            .school_holiday_warning
            .as_deref()
            .map(|w| format!("\n\nAttention : {w}"))
            .unwrap_or_default(),
        content = exhaustive_content(version),
    );
    Some(new_email(
        EmailKind::ReviewRequest,
        to,
        format!(
            "[Charte ENT] À examiner avant le {words} : {}",
            version.title
        ),
        text,
        message,
        Some(review),
        now,
    ))
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
    let text = format!(
        "Madame, Monsieur le chef d'établissement,\n\nEn raison d'une situation d'urgence ({category}), {authority_name} a publié immédiatement par l'ENT la communication ci-dessous auprès des familles de {school} ({uai}), sans transmission préalable, comme la charte le permet exceptionnellement.\n\nJustification donnée par la collectivité : {justification}\n\nCopie du contenu exhaustif de la diffusion :\n\n{content}\n",
        category = emergency.category.label(),
        school = school.name,
        uai = school.uai,
        justification = emergency.justification,
        content = exhaustive_content(version),
    );
    Some(new_email(
        EmailKind::EmergencyCopy,
        to,
        format!("[URGENCE] {}", version.title),
        text,
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
    let mut out = vec![new_email(
        EmailKind::RectificationRequested,
        authority_to,
        format!(
            "[Charte ENT] Rectification demandée par {} : {}",
            school.name, version.title
        ),
        format!(
            "Le chef d'établissement de {school} ({uai}) demande la rectification de la communication « {title} » (version {n}) avant diffusion.\n\nMotif : {motive}\n\nVous pouvez transmettre une version rectifiée, retirer la communication, ou, en cas de désaccord persistant, saisir l'autorité d'arbitrage (recteur ou DRAAF).\n",
            school = school.name,
            uai = school.uai,
            title = version.title,
            n = version.number,
        ),
        message,
        Some(review),
        now,
    )];
    if !academic_to.is_empty() {
        out.push(new_email(
            EmailKind::AcademicServicesInformed,
            academic_to,
            format!("[Charte ENT] Pour information : doute exprimé par {}", school.name),
            format!(
                "Pour information, conformément à la charte, le chef d'établissement de {school} ({uai}) a demandé la rectification d'une communication de la collectivité.\n\nMotif : {motive}\n\n{content}\n",
                school = school.name,
                uai = school.uai,
                content = exhaustive_content(version),
            ),
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
        .map(crate::domain::message::rfc3339)
        .unwrap_or_default();
    let (kind, subject, how) = if tacit {
        (
            EmailKind::TacitlyApproved,
            format!(
                "[Charte ENT] Accord tacite de {} : {}",
                school.name, version.title
            ),
            format!(
                "Le délai d'examen a expiré le {} sans réponse : l'accord tacite du chef d'établissement est acquis.",
                review
                    .deadline
                    .as_ref()
                    .map(|d| deadline_words(d.expires_at, school.department))
                    .unwrap_or_default()
            ),
        )
    } else {
        (
            EmailKind::Approved,
            format!(
                "[Charte ENT] Approuvée par {} : {}",
                school.name, version.title
            ),
            "Le chef d'établissement a approuvé la communication.".to_owned(),
        )
    };
    Some(new_email(
        kind,
        to,
        subject,
        format!(
            "{how}\n\nCommunication : « {title} » (version {n}, empreinte {hash})\nÉtablissement : {school} ({uai})\nAffichée à partir du : {live}\n",
            title = version.title,
            n = version.number,
            hash = version.hash,
            school = school.name,
            uai = school.uai,
        ),
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
    new_email(
        EmailKind::Withdrawn,
        to,
        format!("[Charte ENT] Communication retirée : {}", version.title),
        format!(
            "{authority_name} a retiré la communication « {title} ». Elle n'est plus soumise à votre examen et n'est plus affichée aux familles de {school} ({uai}).{motive}\n",
            title = version.title,
            school = school.name,
            uai = school.uai,
            motive = message
                .withdrawn
                .as_ref()
                .and_then(|w| w.motive.as_deref())
                .map(|m| format!("\n\nMotif : {m}"))
                .unwrap_or_default(),
        ),
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
    Some(new_email(
        EmailKind::Escalated,
        to,
        format!(
            "[Charte ENT] Arbitrage urgent demandé : {} / {}",
            authority_name, school.name
        ),
        format!(
            "{arbitrator_name},\n\nEn application de la charte, {authority_name} vous saisit d'un désaccord persistant avec le chef d'établissement de {school} ({uai}). Cette procédure revêt un caractère d'urgence.\n\nMotif du chef d'établissement : {head}\n\nExposé de la collectivité : {authority}\n\n{content}\n",
            school = school.name,
            uai = school.uai,
            head = review
                .rectification
                .as_ref()
                .map(|s| s.text.as_str())
                .unwrap_or(""),
            authority = review
                .escalation
                .as_ref()
                .map(|s| s.text.as_str())
                .unwrap_or(""),
            content = exhaustive_content(version),
        ),
        message,
        Some(review),
        now,
    ))
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
    Some(new_email(
        EmailKind::ArbitrationOutcome,
        to,
        format!("[Charte ENT] Décision d'arbitrage : {}", version.title),
        format!(
            "L'autorité d'arbitrage {verdict} de la communication « {title} » (version {n}) dans l'établissement {school} ({uai}).\n\nMotif : {motive}\n",
            title = version.title,
            n = version.number,
            school = school.name,
            uai = school.uai,
            motive = decision.text,
        ),
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
    new_email(
        EmailKind::CoproductionRequest,
        to,
        format!(
            "[Charte ENT] Communication d'évaluation à co-valider : {}",
            version.title
        ),
        format!(
            "{authority_name} soumet une communication à des fins d'évaluation du dispositif. La charte prévoit qu'elle soit coproduite en amont avec les autorités académiques : elle ne sera transmise aux chefs d'établissement de l'académie {academie_code} qu'après votre validation.\n\n{content}\n",
            content = exhaustive_content(version),
        ),
        message,
        None,
        now,
    )
}
