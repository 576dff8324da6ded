//! Repérage des contenus à risque au regard de la charte de l'ENT (avertissements, jamais bloquants).

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::text::to_plain_text;

/// Avertissement de relecture : n'empêche jamais la publication, signale un risque.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "WarningRecord", try_from = "WarningRecord")]
pub enum ScreeningWarning {
    /// Adresse électronique qui n'est pas manifestement institutionnelle.
    PersonalEmail {
        /// Extrait masqué.
        excerpt: String,
    },
    /// Numéro de téléphone français.
    PhoneNumber {
        /// Extrait masqué.
        excerpt: String,
    },
    /// Numéro de sécurité sociale (NIR).
    Nir {
        /// Extrait masqué.
        excerpt: String,
    },
    /// Identifiant national élève (INE).
    Ine {
        /// Extrait masqué.
        excerpt: String,
    },
    /// Coordonnées bancaires (IBAN français).
    Iban {
        /// Extrait masqué.
        excerpt: String,
    },
    /// Mention publicitaire ou commerciale.
    Commercial {
        /// Extrait autour de la mention.
        excerpt: String,
    },
    /// Mention à caractère politique.
    Political {
        /// Extrait autour de la mention.
        excerpt: String,
    },
}

impl ScreeningWarning {
    /// Code stable de l'avertissement (snake_case).
    pub fn code(&self) -> &'static str {
        match self {
            Self::PersonalEmail { .. } => "personal_email",
            Self::PhoneNumber { .. } => "phone_number",
            Self::Nir { .. } => "nir",
            Self::Ine { .. } => "ine",
            Self::Iban { .. } => "iban",
            Self::Commercial { .. } => "commercial",
            Self::Political { .. } => "political",
        }
    }

    /// Phrase en français expliquant l'avertissement.
    pub fn message(&self) -> &'static str {
        match self {
            Self::PersonalEmail { .. } => {
                "Le contenu semble contenir une adresse électronique personnelle ; les données personnelles ne doivent pas être publiées sur l'ENT."
            }
            Self::PhoneNumber { .. } => {
                "Le contenu semble contenir un numéro de téléphone ; vérifiez qu'il s'agit d'un numéro institutionnel et non d'un numéro personnel."
            }
            Self::Nir { .. } => {
                "Le contenu semble contenir un numéro de sécurité sociale (NIR), donnée personnelle qui ne doit pas être publiée."
            }
            Self::Ine { .. } => {
                "Le contenu semble contenir un identifiant national élève (INE), donnée personnelle qui ne doit pas être publiée."
            }
            Self::Iban { .. } => {
                "Le contenu semble contenir des coordonnées bancaires (IBAN) ; vérifiez qu'elles ne sont pas personnelles."
            }
            Self::Commercial { .. } => {
                "Le contenu semble contenir une mention publicitaire ou commerciale, interdite par la charte de l'ENT (art. 5.1)."
            }
            Self::Political { .. } => {
                "Le contenu semble contenir une mention à caractère politique, contraire au principe de neutralité (charte de l'ENT, art. 5.1)."
            }
        }
    }

    /// Extrait du contenu (masqué s'il s'agit d'une donnée personnelle).
    pub fn excerpt(&self) -> &str {
        match self {
            Self::PersonalEmail { excerpt }
            | Self::PhoneNumber { excerpt }
            | Self::Nir { excerpt }
            | Self::Ine { excerpt }
            | Self::Iban { excerpt }
            | Self::Commercial { excerpt }
            | Self::Political { excerpt } => excerpt,
        }
    }

    fn from_code(code: &str, excerpt: String) -> Option<Self> {
        Some(match code {
            "personal_email" => Self::PersonalEmail { excerpt },
            "phone_number" => Self::PhoneNumber { excerpt },
            "nir" => Self::Nir { excerpt },
            "ine" => Self::Ine { excerpt },
            "iban" => Self::Iban { excerpt },
            "commercial" => Self::Commercial { excerpt },
            "political" => Self::Political { excerpt },
            _ => return None,
        })
    }
}

impl fmt::Display for ScreeningWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (« {} »)", self.message(), self.excerpt())
    }
}

// Wire shape: the message travels with the code so clients need no
// translation table, but it is recomputed on read so stored text cannot drift.
#[derive(Serialize, Deserialize)]
struct WarningRecord {
    code: String,
    #[serde(default)]
    message: String,
    excerpt: String,
}

impl From<ScreeningWarning> for WarningRecord {
    fn from(w: ScreeningWarning) -> Self {
        Self {
            code: w.code().to_owned(),
            message: w.message().to_owned(),
            excerpt: w.excerpt().to_owned(),
        }
    }
}

impl TryFrom<WarningRecord> for ScreeningWarning {
    type Error = String;

    fn try_from(r: WarningRecord) -> Result<Self, Self::Error> {
        let code = r.code;
        ScreeningWarning::from_code(&code, r.excerpt)
            .ok_or_else(|| format!("code d'avertissement inconnu : {code}"))
    }
}

/// Longueur maximale d'un extrait, points de suspension compris.
const EXCERPT_MAX_CHARS: usize = 60;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Code {
    Iban,
    Nir,
    Ine,
    Phone,
    Email,
    Commercial,
    Political,
}

// Patterns run on folded text (lowercase, accents removed, typographic
// spaces/dashes/apostrophes reduced to ASCII) so authors' typography and
// capitalisation do not defeat them. Digits are spelled [0-9] because \d is
// Unicode-wide.
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bfr ?[0-9]{2} ?[0-9]{4}(?: ?[0-9a-z]{4}){4}(?: ?[0-9a-z]{1,3})?\b")
        .expect("regex valide")
});
// 13 digits (sex, year, month, department — 2A/2B in Corsica —, commune,
// order) then a 2-digit key, with the usual optional spaces.
static NIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[12] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[ab]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}\b")
        .expect("regex valide")
});
static INE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:[0-9]{10}[a-z]|[0-9]{9}[a-z]{2})\b").expect("regex valide"));
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+33 ?(?:\(0\) ?)?|\b0033 ?|\b0)[1-9](?:[ .-]?[0-9]{2}){4}\b")
        .expect("regex valide")
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b").expect("regex valide")
});
static COMMERCIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:promotions?|soldes|reductions?\s+de|codes?\s+promo|offres?\s+speciales?|achetez)\b|(?:^|[^\w-])-\s?[0-9]{1,3}\s?%",
    )
    .expect("regex valide")
});
// « parti » alone is mostly the past participle of « partir » (« le car est
// parti ») in school news, so only its noun uses are matched.
static POLITICAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:votez|elections?|candidat(?:e|s|es)?|(?:le|du|au|un|ce|notre|votre|leur|son|des|les|aux)\s+partis?|partis?\s+politiques?|meetings?)\b",
    )
    .expect("regex valide")
});

// Functional mailboxes whose publication exposes nobody: the rule is the
// local part (whole, or its first segment before . - _ +) being one of these.
const GENERIC_MAILBOXES: &[&str] = &[
    "contact",
    "accueil",
    "info",
    "infos",
    "information",
    "informations",
    "secretariat",
    "mairie",
    "noreply",
    "no-reply",
    "nepasrepondre",
    "ne-pas-repondre",
    "webmaster",
    "communication",
    "dpo",
    "rgpd",
    "scolarite",
    "education",
    "enfance",
    "periscolaire",
    "cantine",
    "restauration",
    "support",
    "direction",
];

static ACADEMY_DOMAIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ac-[a-z-]+\.fr$").expect("regex valide"));

/// Indique si une adresse (déjà en minuscules) est manifestement institutionnelle ou générique.
///
/// Règle : domaine `gouv.fr` ou sous-domaine ; boîte d'établissement `ce.…@ac-….fr` ;
/// ou partie locale (entière ou avant le premier `.`, `-`, `_`, `+`) figurant dans une
/// liste de boîtes fonctionnelles (contact, accueil, secretariat, mairie, noreply…).
/// Une adresse nominative d'agent (prenom.nom@ac-….fr) reste donc signalée.
pub fn is_institutional_email(address: &str) -> bool {
    let address = address.to_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    if domain == "gouv.fr" || domain.ends_with(".gouv.fr") {
        return true;
    }
    if local.starts_with("ce.") && ACADEMY_DOMAIN.is_match(domain) {
        return true;
    }
    let first_segment = local.split(['.', '-', '_', '+']).next().unwrap_or(local);
    GENERIC_MAILBOXES.contains(&local) || GENERIC_MAILBOXES.contains(&first_segment)
}

/// Repère les données personnelles et atteintes à la neutralité dans un titre et un corps HTML.
pub fn screen(title: &str, body_html: &str) -> Vec<ScreeningWarning> {
    let body = to_plain_text(body_html);
    let mut found: Vec<ScreeningWarning> = Vec::new();
    for text in [title, body.as_str()] {
        for warning in screen_text(text) {
            if !found.contains(&warning) {
                found.push(warning);
            }
        }
    }
    found
}

fn screen_text(text: &str) -> Vec<ScreeningWarning> {
    let folded = Folded::new(text);
    let mut hits: Vec<(usize, ScreeningWarning)> = Vec::new();
    // A bank or social-security number contains digit runs that also look like
    // phone numbers; the more specific reading claims the span first.
    let mut claimed: Vec<(usize, usize)> = Vec::new();
    let personal = [
        (Code::Iban, &*IBAN),
        (Code::Nir, &*NIR),
        (Code::Ine, &*INE),
        (Code::Phone, &*PHONE),
        (Code::Email, &*EMAIL),
    ];
    for (code, re) in personal {
        for m in re.find_iter(&folded.text) {
            if claimed.iter().any(|&(s, e)| m.start() < e && s < m.end()) {
                continue;
            }
            if code == Code::Email && is_institutional_email(m.as_str()) {
                continue;
            }
            claimed.push((m.start(), m.end()));
            let (start, end) = folded.original_range(m.start(), m.end());
            let original = text.get(start..end).unwrap_or("");
            hits.push((start, warning(code, mask(original))));
        }
    }
    let redacted = Redacted::new(text, &folded, &claimed);
    for (code, re) in [
        (Code::Commercial, &*COMMERCIAL),
        (Code::Political, &*POLITICAL),
    ] {
        for m in re.find_iter(&folded.text) {
            let (start, end) = folded.original_range(m.start(), m.end());
            let excerpt = excerpt_around(
                &redacted.text,
                redacted.position(start, false),
                redacted.position(end, true),
            );
            hits.push((start, warning(code, excerpt)));
        }
    }
    hits.sort_by_key(|(pos, _)| *pos);
    hits.into_iter().map(|(_, w)| w).collect()
}

fn warning(code: Code, excerpt: String) -> ScreeningWarning {
    match code {
        Code::Iban => ScreeningWarning::Iban { excerpt },
        Code::Nir => ScreeningWarning::Nir { excerpt },
        Code::Ine => ScreeningWarning::Ine { excerpt },
        Code::Phone => ScreeningWarning::PhoneNumber { excerpt },
        Code::Email => ScreeningWarning::PersonalEmail { excerpt },
        Code::Commercial => ScreeningWarning::Commercial { excerpt },
        Code::Political => ScreeningWarning::Political { excerpt },
    }
}

// Warnings are stored and displayed, so they must not become a second copy of
// the personal data they flag: only enough to locate it survives.
fn mask(matched: &str) -> String {
    let head: String = matched.trim().chars().take(2).collect();
    format!("{head}…")
}

/// Texte d'origine dont les données personnelles repérées sont masquées.
struct Redacted {
    text: String,
    // (original start, original end, redacted start, redacted end), in order.
    spans: Vec<(usize, usize, usize, usize)>,
}

// The context around a keyword is free text and may hold the very phone
// number or address flagged next to it; it gets the same masking.
impl Redacted {
    fn new(source: &str, folded: &Folded, claimed: &[(usize, usize)]) -> Self {
        let mut ranges: Vec<(usize, usize)> = claimed
            .iter()
            .map(|&(s, e)| folded.original_range(s, e))
            .collect();
        ranges.sort_unstable();
        let mut text = String::with_capacity(source.len());
        let mut spans = Vec::with_capacity(ranges.len());
        let mut copied = 0;
        for (start, end) in ranges {
            if start < copied {
                continue;
            }
            text.push_str(source.get(copied..start).unwrap_or(""));
            let masked_start = text.len();
            text.push_str(&mask(source.get(start..end).unwrap_or("")));
            spans.push((start, end, masked_start, text.len()));
            copied = end;
        }
        text.push_str(source.get(copied..).unwrap_or(""));
        Self { text, spans }
    }

    fn position(&self, original: usize, is_end: bool) -> usize {
        let mut shift: isize = 0;
        for &(s, e, rs, re) in &self.spans {
            if original >= e {
                shift = re as isize - e as isize;
            } else if original > s {
                return if is_end { re } else { rs };
            } else {
                break;
            }
        }
        (original as isize + shift).max(0) as usize
    }
}

fn excerpt_around(text: &str, start: usize, end: usize) -> String {
    let before: Vec<char> = text.get(..start).unwrap_or("").chars().collect();
    let matched: Vec<char> = text.get(start..end).unwrap_or("").chars().collect();
    let after: Vec<char> = text.get(end..).unwrap_or("").chars().collect();
    // Two characters stay reserved for the ellipses on both sides.
    let room = EXCERPT_MAX_CHARS.saturating_sub(2);
    let matched_len = matched.len().min(room);
    let context = room - matched_len;
    let left = (context / 2).min(before.len());
    let right = (context - left).min(after.len());
    let left = (context - right).min(before.len());
    let mut s = String::new();
    if left < before.len() {
        s.push('…');
    }
    s.extend(&before[before.len() - left..]);
    s.extend(&matched[..matched_len]);
    s.extend(&after[..right]);
    if right < after.len() || matched_len < matched.len() {
        s.push('…');
    }
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(EXCERPT_MAX_CHARS).collect()
}

/// Texte replié (minuscules, sans accents) avec la correspondance vers le texte d'origine.
struct Folded {
    text: String,
    // For each byte of `text`, the byte offset of the source character it came from.
    origin: Vec<usize>,
    source_len: usize,
}

impl Folded {
    fn new(source: &str) -> Self {
        let mut text = String::with_capacity(source.len());
        let mut origin = Vec::with_capacity(source.len());
        for (i, c) in source.char_indices() {
            for lc in c.to_lowercase() {
                push_folded(&mut text, lc);
                origin.resize(text.len(), i);
            }
        }
        Self {
            text,
            origin,
            source_len: source.len(),
        }
    }

    fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let at = |i: usize| self.origin.get(i).copied().unwrap_or(self.source_len);
        let (s, e) = (at(start), at(end));
        (s.min(e), e.max(s))
    }
}

fn push_folded(out: &mut String, c: char) {
    let mapped: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'æ' => "ae",
        'ç' => "c",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => "o",
        'œ' => "oe",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'ý' | 'ÿ' => "y",
        '\u{a0}' | '\u{202f}' | '\u{2007}' | '\u{2009}' => " ",
        '\u{2010}' | '\u{2011}' | '\u{2013}' | '\u{2212}' => "-",
        '\u{2019}' | '\u{2018}' => "'",
        // Combining accents (decomposed input) carry no letter.
        '\u{300}'..='\u{36f}' => "",
        _ => {
            out.push(c);
            return;
        }
    };
    out.push_str(mapped);
}
