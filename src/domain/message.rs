//! Messages, their immutable versions, the per-school review records, and the rules a
//! submission must satisfy.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::Violation;
use crate::domain::calendar::{self, CalendarMode};
use crate::domain::content;
use crate::domain::directory::ArbitratorRef;
use crate::domain::review::ReviewState;
use crate::domain::uai::Uai;

/// The kind of communication, which sets the review period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A recurring communication: five business days of review.
    Recurring,
    /// A one-off communication: three business days, then tacit approval.
    OneOff,
    /// Published at once after a disruption, with a copy emailed to each head.
    Emergency,
}

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 3] = [
        MessageKind::Recurring,
        MessageKind::OneOff,
        MessageKind::Emergency,
    ];

    /// The review period in business days; none for emergencies.
    pub fn review_days(self) -> Option<u32> {
        match self {
            MessageKind::Recurring => Some(5),
            MessageKind::OneOff => Some(3),
            MessageKind::Emergency => None,
        }
    }

    /// The kind in French.
    pub fn label(self) -> &'static str {
        match self {
            MessageKind::Recurring => "communication récurrente",
            MessageKind::OneOff => "communication ponctuelle",
            MessageKind::Emergency => "communication d'urgence",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "recurring" => Some(Self::Recurring),
            "one_off" => Some(Self::OneOff),
            "emergency" => Some(Self::Emergency),
            _ => None,
        }
    }
}

/// Why the message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Ordinary institutional information.
    #[default]
    Information,
    /// Evaluation of the service, co-produced with the academic authorities first.
    Evaluation,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 2] = [Purpose::Information, Purpose::Evaluation];

    /// The purpose in French.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Information => "information",
            Purpose::Evaluation => {
                "évaluation du service (coproduite avec les services académiques)"
            }
        }
    }
}

/// Who reads the message.
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
pub enum AudienceMember {
    /// Parents and legal guardians.
    Families,
    /// Pupils.
    Pupils,
}

impl AudienceMember {
    /// Every audience.
    pub const ALL: [AudienceMember; 2] = [AudienceMember::Families, AudienceMember::Pupils];

    /// The audience in French.
    pub fn label(self) -> &'static str {
        match self {
            AudienceMember::Families => "familles",
            AudienceMember::Pupils => "élèves",
        }
    }
}

/// The disruption that justifies an emergency publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmergencyCategory {
    /// School transport suspended or disrupted.
    Transport,
    /// Severe weather.
    Weather,
    /// A building or a school closed.
    Closure,
    /// School catering disrupted.
    Canteen,
    /// A health event.
    Health,
    /// A strike.
    Strike,
    /// Any other break of a service or a usage.
    Other,
}

impl EmergencyCategory {
    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "transport" => Self::Transport,
            "weather" => Self::Weather,
            "closure" => Self::Closure,
            "canteen" => Self::Canteen,
            "health" => Self::Health,
            "strike" => Self::Strike,
            "other" => Self::Other,
            _ => return None,
        })
    }

    /// The category in French.
    pub fn label(self) -> &'static str {
        match self {
            Self::Transport => "transports scolaires",
            Self::Weather => "intempéries",
            Self::Closure => "fermeture",
            Self::Canteen => "restauration scolaire",
            Self::Health => "santé",
            Self::Strike => "grève",
            Self::Other => "autre rupture de service",
        }
    }
}

/// The authority's declaration of the disruption behind an emergency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmergencyDeclaration {
    /// What broke.
    pub category: EmergencyCategory,
    /// Why prior review was impossible.
    pub justification: String,
}

/// A warning from screening, kept with the version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Warning {
    /// Machine-readable code.
    pub code: String,
    /// What to check, in French.
    pub message: String,
    /// Where it was found (personal data masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

/// The exhaustive content of one version: immutable once frozen, identified by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1 for the first submission, then 2, 3…
    pub number: u32,
    /// Title shown to families.
    pub title: String,
    /// Sanitised HTML body shown to families.
    pub body_html: String,
    /// Who reads it.
    pub audience: Vec<AudienceMember>,
    /// Earliest display.
    #[serde(with = "time::serde::rfc3339")]
    pub publish_at: OffsetDateTime,
    /// End of display.
    #[serde(with = "time::serde::rfc3339")]
    pub display_until: OffsetDateTime,
    /// SHA-256 of the exhaustive content (title, body, audience, dates).
    pub hash: String,
    /// When this version was frozen.
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
    /// Who submitted it.
    pub submitted_by: String,
    /// What the author says changed, for a new version.
    #[serde(default)]
    pub change_note: Option<String>,
    /// What sanitising removed from the submitted body.
    #[serde(default)]
    pub sanitised: Vec<String>,
    /// Screening warnings.
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

/// A record of the academic services' co-validation of an evaluation message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Coproduction {
    /// The académie whose services validated.
    pub academie_code: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (display name).
    pub by: String,
}

/// A withdrawal by the authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Withdrawal {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (display name).
    pub by: String,
    /// Why, if said.
    pub motive: Option<String>,
}

/// A message from one authority to some of its schools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Identifier.
    pub id: String,
    /// The authority that sends it.
    pub authority_id: String,
    /// Recurring, one-off or emergency.
    pub kind: MessageKind,
    /// Information or evaluation.
    pub purpose: Purpose,
    /// The declared disruption, for emergencies.
    pub emergency: Option<EmergencyDeclaration>,
    /// Every school the message was ever aimed at.
    #[serde(deserialize_with = "crate::domain::uai::stored::list")]
    pub targets: Vec<Uai>,
    /// The académies of those schools, sorted (empty in records written before it was kept).
    #[serde(default)]
    pub academies: Vec<String>,
    /// All versions, oldest first; never rewritten.
    pub versions: Vec<Version>,
    /// When first submitted.
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
    /// Who first submitted it.
    pub submitted_by: String,
    /// Co-validations for evaluation messages.
    #[serde(default)]
    pub coproduction: Vec<Coproduction>,
    /// Set when the authority withdrew the message.
    pub withdrawn: Option<Withdrawal>,
    /// Optimistic-concurrency revision, bumped by the store on each write.
    pub revision: u64,
}

impl Message {
    /// The latest version.
    pub fn current_version(&self) -> &Version {
        // A message is created with its first version and versions are never removed.
        self.versions
            .last()
            .expect("a message always has a version")
    }

    /// A given version.
    pub fn version(&self, number: u32) -> Option<&Version> {
        self.versions.iter().find(|v| v.number == number)
    }
}

/// A person's statement attached to a review (motive of a rectification, escalation, arbitration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Statement {
    /// The text.
    pub text: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (display name).
    pub by: String,
    /// Their role.
    pub role: String,
}

/// The deadline of a review, as computed when it opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewDeadline {
    /// The instant silence becomes consent (24:00 local time on the last day).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The last day of the period, local date.
    pub last_day: time::Date,
    /// Business days granted.
    pub business_days: u32,
    /// The calendar mode used.
    #[schema(value_type = String)]
    pub mode: CalendarMode,
    /// Set when the last day falls in school holidays.
    pub school_holiday_warning: Option<String>,
}

/// One school's review of one version of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Identifier.
    pub id: String,
    /// The message reviewed.
    pub message_id: String,
    /// The authority that sent it (denormalised for scope checks).
    pub authority_id: String,
    /// The school.
    #[serde(deserialize_with = "crate::domain::uai::stored::deserialize")]
    pub uai: Uai,
    /// The school's department (for its calendar and time zone).
    pub department: String,
    /// The school's académie code.
    pub academie_code: String,
    /// The version under review.
    pub version: u32,
    /// That version's hash: an approval binds to exactly this content.
    pub version_hash: String,
    /// Where it stands.
    pub state: ReviewState,
    /// When the review opened.
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// When silence becomes consent (none for emergencies).
    pub deadline: Option<ReviewDeadline>,
    /// The head's (or the deadline's) decision time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// The head's rectification request.
    pub rectification: Option<Statement>,
    /// The authority's escalation statement.
    pub escalation: Option<Statement>,
    /// Who arbitrates, once escalated.
    pub arbitrator: Option<ArbitratorRef>,
    /// The arbitrator's decision.
    pub arbitration: Option<Statement>,
    /// When the version may go on display in this school.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub live_from: Option<OffsetDateTime>,
    /// Optimistic-concurrency revision, bumped by the store on each write.
    pub revision: u64,
}

#[cfg(test)]
impl Review {
    /// A pending review at Lycée Fabert (Moselle, académie 12) of the Région Grand Est's
    /// message `m`, with no deadline: unit tests change what they are about.
    pub(crate) fn sample() -> Review {
        Review {
            id: "r".into(),
            message_id: "m".into(),
            authority_id: "region-grand-est".into(),
            uai: "0570054Z"
                .parse()
                .unwrap_or_else(|_| unreachable!("UAI valide")),
            department: "57".into(),
            academie_code: "12".into(),
            version: 1,
            version_hash: "h".into(),
            state: crate::domain::review::ReviewState::Pending,
            opened_at: OffsetDateTime::UNIX_EPOCH,
            deadline: None,
            decided_at: None,
            rectification: None,
            escalation: None,
            arbitrator: None,
            arbitration: None,
            live_from: None,
            revision: 0,
        }
    }
}

/// Microseconds since the epoch.
pub fn micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000) as i64
}

/// `at` truncated to the microsecond, so that a publication and its indexed bounds agree.
fn whole_micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

/// What one school displays of one message: the approved version's content, copied once when
/// the review became publishable, so that serving a feed reads nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// The message.
    pub message_id: String,
    /// The sending authority.
    pub authority_id: String,
    /// The version on display.
    pub version: u32,
    /// Its content hash: exactly what was approved.
    pub version_hash: String,
    /// Title shown to families.
    pub title: String,
    /// Sanitised HTML body.
    pub body_html: String,
    /// Who reads it.
    pub audience: Vec<AudienceMember>,
    /// Whether it was published as an emergency.
    pub emergency: bool,
    /// On display from.
    #[serde(with = "time::serde::rfc3339")]
    pub live_from: OffsetDateTime,
    /// On display until (excluded).
    #[serde(with = "time::serde::rfc3339")]
    pub display_until: OffsetDateTime,
}

impl Publication {
    /// What `review` puts on display for its school, if anything: a publishable review of a
    /// message that is not withdrawn, with its start of display set.
    pub fn of(message: &Message, review: &Review) -> Option<Publication> {
        if !review.state.is_publishable()
            || message.withdrawn.is_some()
            || review.message_id != message.id
        {
            return None;
        }
        let v = message.version(review.version)?;
        Some(Publication {
            message_id: message.id.clone(),
            authority_id: message.authority_id.clone(),
            version: v.number,
            version_hash: v.hash.clone(),
            title: v.title.clone(),
            body_html: v.body_html.clone(),
            audience: v.audience.clone(),
            emergency: message.kind == MessageKind::Emergency,
            live_from: whole_micros(review.live_from?),
            display_until: whole_micros(v.display_until),
        })
    }

    /// Its starts and ends of display in whole microseconds since the epoch: the resolution at
    /// which stores index them (a Redis score holds microseconds exactly, not nanoseconds).
    pub fn bounds_micros(&self) -> [i64; 2] {
        [micros(self.live_from), micros(self.display_until)]
    }

    /// Whether it is on display at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.live_from <= now && now < self.display_until
    }
}

/// A submission as received, before validation (everything optional so that every
/// missing or malformed field can be reported at once, in French).
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// Title.
    pub title: Option<String>,
    /// Rich-text body.
    pub body: Option<String>,
    /// `families`, `pupils`.
    pub audience: Option<Vec<String>>,
    /// RFC 3339.
    pub publish_at: Option<String>,
    /// RFC 3339.
    pub display_until: Option<String>,
}

/// A validated, sanitised content ready to be frozen as a version.
#[derive(Debug, Clone)]
pub struct ValidContent {
    /// Title.
    pub title: String,
    /// Sanitised body.
    pub body_html: String,
    /// Audience, sorted and deduplicated.
    pub audience: Vec<AudienceMember>,
    /// Earliest display.
    pub publish_at: OffsetDateTime,
    /// End of display.
    pub display_until: OffsetDateTime,
    /// What sanitising removed.
    pub sanitised: Vec<String>,
    /// Screening warnings.
    pub warnings: Vec<Warning>,
}

impl ValidContent {
    /// The content hash that approvals bind to.
    pub fn hash(&self) -> String {
        let audience: Vec<&str> = self
            .audience
            .iter()
            .map(|a| match a {
                AudienceMember::Families => "families",
                AudienceMember::Pupils => "pupils",
            })
            .collect();
        let audience = audience.join(",");
        let publish_at = rfc3339(self.publish_at);
        let display_until = rfc3339(self.display_until);
        content::content_hash(&[
            ("title", &self.title),
            ("body_html", &self.body_html),
            ("audience", &audience),
            ("publish_at", &publish_at),
            ("display_until", &display_until),
        ])
    }
}

/// Formats an instant as RFC 3339 (infallible for the dates this service handles).
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

fn parse_instant(
    field: &str,
    raw: Option<&str>,
    out: &mut Vec<Violation>,
) -> Option<OffsetDateTime> {
    match calendar::parse_instant(raw.unwrap_or("")) {
        Ok(t) => Some(t),
        Err(e) => {
            out.push(Violation::new(field, capitalise(&format!("{e}."))));
            None
        }
    }
}

/// French sentences start with a capital; domain errors are written to follow a field name.
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Validates and sanitises a content; `now` bounds the display window.
pub fn validate_content(
    draft: &Draft,
    now: OffsetDateTime,
) -> Result<ValidContent, Vec<Violation>> {
    let mut v = Vec::new();

    let title = draft.title.as_deref().map(str::trim).unwrap_or("");
    let title_len = title.chars().count();
    if title_len == 0 {
        v.push(Violation::new("title", "Le titre est obligatoire."));
    } else if title_len > content::TITLE_MAX_CHARS {
        v.push(Violation::new(
            "title",
            format!(
                "Le titre est trop long ({title_len} caractères) : {} caractères au plus.",
                content::TITLE_MAX_CHARS
            ),
        ));
    } else if let Some(problem) = content::plain_text_problem(title) {
        v.push(Violation::new("title", problem));
    }

    let raw_body = draft.body.as_deref().unwrap_or("");
    let raw_len = raw_body.chars().count();
    let sanitised = content::sanitise_body(raw_body);
    let visible = content::to_plain_text(&sanitised.html);
    let body_len = sanitised.html.chars().count();
    if raw_len > content::BODY_MAX_CHARS {
        v.push(Violation::new(
            "body",
            format!(
                "Le contenu est trop long ({raw_len} caractères) : {} caractères au plus.",
                content::BODY_MAX_CHARS
            ),
        ));
    } else if visible.trim().is_empty() {
        v.push(Violation::new(
            "body",
            "Le contenu est vide : rédigez le texte qui sera montré aux familles.",
        ));
    } else if body_len > content::BODY_MAX_CHARS {
        v.push(Violation::new(
            "body",
            format!(
                "Le contenu est trop long ({body_len} caractères après nettoyage) : {} caractères au plus.",
                content::BODY_MAX_CHARS
            ),
        ));
    }

    let mut audience = Vec::new();
    match draft.audience.as_deref() {
        None | Some([]) => v.push(Violation::new(
            "audience",
            "Le public est obligatoire : « families », ou « families » et « pupils ».",
        )),
        Some(list) => {
            for (i, a) in list.iter().enumerate() {
                match a.as_str() {
                    "families" => audience.push(AudienceMember::Families),
                    "pupils" => audience.push(AudienceMember::Pupils),
                    other => v.push(Violation::new(
                        format!("audience[{i}]"),
                        format!("Public inconnu « {other} » : valeurs possibles « families » et « pupils »."),
                    )),
                }
            }
            audience.sort();
            audience.dedup();
            if audience == [AudienceMember::Pupils] {
                v.push(Violation::new(
                    "audience",
                    "Une information de la collectivité ne peut avoir pour seuls destinataires des élèves : ajoutez les familles.",
                ));
            }
        }
    }

    let publish_at = parse_instant("publish_at", draft.publish_at.as_deref(), &mut v);
    let display_until = parse_instant("display_until", draft.display_until.as_deref(), &mut v);
    if let (Some(p), Some(d)) = (publish_at, display_until) {
        // Publication can happen no earlier than now (an approval is instantaneous at best).
        let earliest = p.max(now);
        if d <= earliest {
            v.push(Violation::new(
                "display_until",
                format!(
                    "La fin d'affichage ({}) doit suivre la publication la plus précoce possible ({}).",
                    calendar::instant_in_words(d, &calendar::Department::paris()),
                    calendar::instant_in_words(earliest, &calendar::Department::paris())
                ),
            ));
        }
    }

    if !v.is_empty() {
        return Err(v);
    }
    let warnings = content::screen(title, &sanitised.html)
        .into_iter()
        .filter_map(|w| serde_json::to_value(w).ok())
        .filter_map(|w| serde_json::from_value::<Warning>(w).ok())
        .collect();
    Ok(ValidContent {
        title: title.to_owned(),
        body_html: sanitised.html,
        audience,
        // Both are Some here: a None pushed a violation above.
        publish_at: publish_at.unwrap_or(now),
        display_until: display_until.unwrap_or(now),
        sanitised: sanitised.removed,
        warnings,
    })
}

/// One targeted school's review deadline, as the display window is checked against it.
pub struct SchoolDeadline<'a> {
    /// The school's UAI.
    pub uai: &'a str,
    /// The school's name.
    pub name: &'a str,
    /// Its department (time zone).
    pub department: &'a calendar::Department,
    /// When silence there becomes consent.
    pub deadline: &'a calendar::Deadline,
}

/// The charter's "dans un temps compatible avec le délai nécessaire à son examen": a display
/// that ends before a school's review can end leaves its head no time, and is refused (one
/// violation per school); a publication asked before the deadline is accepted with a warning,
/// since it starts there only at approval.
pub fn check_display_window(
    content: &mut ValidContent,
    schools: &[SchoolDeadline<'_>],
) -> Vec<Violation> {
    let mut v = Vec::new();
    for s in schools {
        if content.display_until <= s.deadline.expires_at {
            v.push(Violation::new(
                "display_until",
                format!(
                    "{} ({}) : l'examen peut durer jusqu'au {} ; la fin d'affichage ({}) ne laisse pas au chef d'établissement le temps d'examiner la communication. Choisissez une fin d'affichage postérieure au {}.",
                    s.name,
                    s.uai,
                    calendar::deadline_in_words(s.deadline),
                    calendar::instant_in_words(content.display_until, s.department),
                    calendar::deadline_in_words(s.deadline),
                ),
            ));
        }
    }
    let early: Vec<&SchoolDeadline<'_>> = schools
        .iter()
        .filter(|s| content.publish_at < s.deadline.expires_at)
        .collect();
    if v.is_empty()
        && let Some(latest) = early.iter().max_by_key(|s| s.deadline.expires_at)
    {
        content.warnings.push(Warning {
            code: "publication_avant_fin_examen".into(),
            message: format!(
                "La date de publication demandée précède la fin du délai d'examen dans {} établissement(s) (jusqu'au {} au plus tard) : la communication n'y paraîtra qu'à l'accord, exprès ou tacite, du chef d'établissement.",
                early.len(),
                calendar::deadline_in_words(latest.deadline)
            ),
            excerpt: None,
        });
    }
    v
}

/// Validates an emergency declaration.
pub fn validate_emergency(
    category: Option<&str>,
    justification: Option<&str>,
) -> Result<EmergencyDeclaration, Vec<Violation>> {
    let mut v = Vec::new();
    let category = match category {
        None | Some("") => {
            v.push(Violation::new(
                "emergency.category",
                "La catégorie de l'urgence est obligatoire : transport, weather, closure, canteen, health, strike ou other.",
            ));
            None
        }
        Some(c) => {
            let parsed = EmergencyCategory::parse(c);
            if parsed.is_none() {
                v.push(Violation::new(
                    "emergency.category",
                    format!("Catégorie inconnue « {c} » : transport, weather, closure, canteen, health, strike ou other."),
                ));
            }
            parsed
        }
    };
    let justification = justification.map(str::trim).unwrap_or("");
    if justification.chars().count() > content::NOTE_MAX_CHARS {
        v.push(Violation::new(
            "emergency.justification",
            format!(
                "La justification est trop longue : {} caractères au plus.",
                content::NOTE_MAX_CHARS
            ),
        ));
    } else if justification.chars().count() < 20 {
        v.push(Violation::new(
            "emergency.justification",
            "Justifiez l'urgence en au moins 20 caractères : quelle rupture de service rend impossible la transmission préalable ?",
        ));
    }
    match (category, v.is_empty()) {
        (Some(category), true) => Ok(EmergencyDeclaration {
            category,
            justification: justification.to_owned(),
        }),
        _ => Err(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn draft() -> Draft {
        Draft {
            title: Some("Transports scolaires : nouvelle ligne".into()),
            body: Some("<p>Une nouvelle ligne dessert le lycée dès lundi.</p>".into()),
            audience: Some(vec!["families".into(), "pupils".into()]),
            publish_at: Some("2026-11-30T08:00:00+01:00".into()),
            display_until: Some("2026-12-20T18:00:00+01:00".into()),
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-23 10:00 +01:00);

    fn fields(errs: Vec<Violation>) -> Vec<String> {
        errs.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn a_complete_draft_is_valid_and_hashed() {
        let c = validate_content(&draft(), NOW).unwrap();
        assert_eq!(
            c.audience,
            vec![AudienceMember::Families, AudienceMember::Pupils]
        );
        assert_eq!(c.hash().len(), 64);
        let mut other = draft();
        other.title = Some("Transports scolaires : nouvelle ligne !".into());
        assert_ne!(validate_content(&other, NOW).unwrap().hash(), c.hash());
    }

    #[test]
    fn pupils_alone_are_refused() {
        let mut d = draft();
        d.audience = Some(vec!["pupils".into()]);
        assert_eq!(
            fields(validate_content(&d, NOW).unwrap_err()),
            vec!["audience"]
        );
    }

    #[test]
    fn every_missing_field_is_reported_at_once() {
        let errs = validate_content(&Draft::default(), NOW).unwrap_err();
        assert_eq!(
            fields(errs),
            vec!["title", "body", "audience", "publish_at", "display_until"]
        );
    }

    #[test]
    fn display_end_must_follow_the_earliest_publication() {
        let mut d = draft();
        d.publish_at = Some("2026-11-01T08:00:00+01:00".into());
        d.display_until = Some("2026-11-20T08:00:00+01:00".into());
        // Both dates are past: the message could never be displayed.
        assert_eq!(
            fields(validate_content(&d, NOW).unwrap_err()),
            vec!["display_until"]
        );
        d.display_until = Some("hier".into());
        let errs = validate_content(&d, NOW).unwrap_err();
        assert!(errs[0].message.contains("RFC 3339"));
    }

    #[test]
    fn a_body_of_only_markup_or_script_is_empty() {
        let mut d = draft();
        d.body = Some("<script>alert(1)</script><p> </p>".into());
        assert_eq!(fields(validate_content(&d, NOW).unwrap_err()), vec!["body"]);
        d.body = Some(format!(
            "<p>{}</p>",
            "a".repeat(content::BODY_MAX_CHARS + 1)
        ));
        assert_eq!(fields(validate_content(&d, NOW).unwrap_err()), vec!["body"]);
    }

    #[test]
    fn script_is_removed_and_reported() {
        let mut d = draft();
        d.body = Some("<p onclick=\"x()\">Bonjour</p><script>alert(1)</script>".into());
        let c = validate_content(&d, NOW).unwrap();
        assert!(!c.body_html.contains("script") && !c.body_html.contains("onclick"));
        assert!(!c.sanitised.is_empty());
    }

    #[test]
    fn an_emergency_needs_a_category_and_a_justification() {
        assert!(
            validate_emergency(
                Some("weather"),
                Some("Chutes de neige : routes fermées par arrêté")
            )
            .is_ok()
        );
        let errs = validate_emergency(None, Some("court")).unwrap_err();
        assert_eq!(
            fields(errs),
            vec!["emergency.category", "emergency.justification"]
        );
        assert!(
            validate_emergency(
                Some("meteo"),
                Some("Chutes de neige : routes fermées par arrêté")
            )
            .is_err()
        );
    }
}
