//! Contenu des communications : assainissement du HTML, rendu texte, repérage
//! des contenus à risque au regard de la charte de l'ENT et empreinte du contenu.
//!
//! Module pur : aucune entrée-sortie, aucune fonction ne panique quelle que
//! soit l'entrée.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Nombre maximal de caractères d'un titre.
pub const TITLE_MAX_CHARS: usize = 200;

/// Nombre maximal de caractères d'un corps de message, compté sur le HTML assaini.
pub const BODY_MAX_CHARS: usize = 20_000;

/// Balises conservées dans ce que voient les familles.
const ALLOWED_TAGS: &[&str] = &[
    "p",
    "br",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "ul",
    "ol",
    "li",
    "h2",
    "h3",
    "h4",
    "blockquote",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
];

/// Schémas d'URL autorisés dans les liens.
const ALLOWED_SCHEMES: &[&str] = &["https", "http", "mailto"];

/// Valeur de `rel` imposée à chaque lien.
const LINK_REL: &str = "noopener noreferrer nofollow";

// Besides script/style, these elements carry content that is never meant to be
// read as text (code, embedded documents, forms); keeping their text would
// surface garbage to families once the tags themselves are stripped.
const CLEAN_CONTENT_TAGS: &[&str] = &[
    "script", "style", "template", "iframe", "object", "embed", "noscript", "svg", "math", "title",
    "textarea", "select",
];

// Relative URLs are denied: a message is shown inside the ENT, so a relative
// link would silently point at the ENT's own domain rather than the author's.
static SANITISER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(ALLOWED_TAGS.iter().copied().collect())
        .clean_content_tags(CLEAN_CONTENT_TAGS.iter().copied().collect())
        .generic_attributes(HashSet::new())
        .generic_attribute_prefixes(HashSet::new())
        .tag_attributes(HashMap::from([("a", HashSet::from(["href"]))]))
        .url_schemes(ALLOWED_SCHEMES.iter().copied().collect())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some(LINK_REL))
        .strip_comments(true);
    builder
});

// Sanitising must converge in a couple of passes; the bound only guards
// against a pathological parser round-trip that would never settle.
const MAX_SANITISE_PASSES: usize = 8;

/// Résultat de l'assainissement d'un corps de message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SanitisedBody {
    /// HTML assaini, seul contenu autorisé à atteindre les familles.
    pub html: String,
    /// Vrai si le HTML assaini diffère de la saisie (aux blancs près).
    pub changed: bool,
    /// Descriptions en français de ce qui a été retiré (« balise <script> retirée »…).
    pub removed: Vec<String>,
}

/// Assainit un corps de message HTML selon la liste blanche et signale ce qui a été retiré.
pub fn sanitise_body(raw: &str) -> SanitisedBody {
    // Invisible controls can make what a head reads differ from what families see (a bidi
    // override reorders text; a zero-width space hides a word from screening): they go.
    let visible: String = raw.chars().filter(|c| !is_invisible_format(*c)).collect();
    let mut html = clean_once(&visible);
    // The head of school approves exactly what families see, so the output
    // must be a fixed point: re-sanitising the approved HTML must not alter it
    // (html5ever may re-nest e.g. table rows left bare by a stripped <tfoot>).
    for _ in 1..MAX_SANITISE_PASSES {
        let again = clean_once(&html);
        if again == html {
            break;
        }
        html = again;
    }
    let changed = normalise_whitespace(&html) != normalise_whitespace(raw);
    // The pre-scan is heuristic; when nothing changed nothing was removed, so
    // any finding would be a false alarm shown to the author.
    let removed = if changed { prescan(raw) } else { Vec::new() };
    SanitisedBody {
        html,
        changed,
        removed,
    }
}

/// Longest change note, withdrawal motive or emergency justification, in characters.
pub const NOTE_MAX_CHARS: usize = 2_000;

/// Bidirectional overrides and isolates, and zero-width characters: invisible, yet they change
/// how text reads or hide words.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Why a title is not plain text, in French, or `None` when it is.
pub fn plain_text_problem(text: &str) -> Option<&'static str> {
    if text.chars().any(char::is_control) {
        return Some(
            "Le titre ne peut contenir ni retour à la ligne ni caractère de contrôle : écrivez-le sur une seule ligne.",
        );
    }
    if text.chars().any(is_invisible_format) {
        return Some(
            "Le titre contient des caractères invisibles (contrôle de sens d'écriture ou espace de largeur nulle) : retirez-les.",
        );
    }
    if MARKUP.is_match(text) {
        return Some(
            "Le titre est du texte simple : retirez les balises (<…>) ; la mise en forme se fait dans le corps.",
        );
    }
    None
}

static MARKUP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<\s*[/!?]?[A-Za-z]|&(#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);").expect("regex valide")
});

static JAVASCRIPT_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(javascript):").expect("regex valide"));
static SCRIPT_OPEN_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<(script)").expect("regex valide"));

fn clean_once(input: &str) -> String {
    let html = SANITISER.clean(input).to_string();
    // Harmless in text or inside an allowed https URL, but downstream ENT
    // filters and reviewers grep for these markers; the entity forms decode to
    // the same characters, so nothing visible changes.
    let html = JAVASCRIPT_TEXT.replace_all(&html, "$1&#58;");
    SCRIPT_OPEN_TEXT.replace_all(&html, "&lt;$1").into_owned()
}

static WHITESPACE_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s+").expect("regex valide"));
static BETWEEN_TAGS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r">\s+<").expect("regex valide"));
static BR_VARIANTS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<br\s*/?>").expect("regex valide"));

// Editors emit "<br />" and indent their markup; neither is a change the
// author should be told about.
fn normalise_whitespace(s: &str) -> String {
    let s = BR_VARIANTS.replace_all(s, "<br>");
    let s = WHITESPACE_RUN.replace_all(&s, " ");
    BETWEEN_TAGS.replace_all(s.trim(), "><").into_owned()
}

static PRESCAN_COMMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<!--.*?(?:-->|$)").expect("regex valide"));
static PRESCAN_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"<([a-zA-Z][a-zA-Z0-9:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>?"#).expect("regex valide")
});
static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?"#)
        .expect("regex valide")
});
static URL_SCHEME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([a-z][a-z0-9+.-]*):").expect("regex valide"));

// Only needs to describe the usual culprits to the author; ammonia does the
// actual filtering, so a miss here never lets anything through.
fn prescan(raw: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut note = |s: String| {
        if !found.contains(&s) {
            found.push(s);
        }
    };
    if PRESCAN_COMMENT.is_match(raw) {
        note("commentaire HTML retiré".to_owned());
    }
    let text = PRESCAN_COMMENT.replace_all(raw, "");
    let lower = text.to_ascii_lowercase();
    let mut pos = 0;
    while let Some(caps) = PRESCAN_TAG.captures_at(&text, pos) {
        let Some(whole) = caps.get(0) else { break };
        pos = whole.end().max(whole.start() + 1);
        let name = caps
            .get(1)
            .map(|m| m.as_str().to_ascii_lowercase())
            .unwrap_or_default();
        let allowed = ALLOWED_TAGS.contains(&name.as_str());
        if !allowed {
            note(format!("balise <{name}> retirée"));
        }
        let attrs = caps.get(2).map(|m| m.as_str()).unwrap_or("");
        for attr in ATTRIBUTE.captures_iter(attrs) {
            let attr_name = attr
                .get(1)
                .map(|m| m.as_str().to_ascii_lowercase())
                .unwrap_or_default();
            let value = attr
                .get(2)
                .or_else(|| attr.get(3))
                .or_else(|| attr.get(4))
                .map(|m| m.as_str());
            let scheme = value.and_then(url_scheme);
            match scheme.as_deref() {
                Some("javascript") | Some("vbscript") => {
                    note(format!("lien {}: retiré", scheme.as_deref().unwrap_or("")));
                    continue;
                }
                Some("data") => {
                    note("URL data: retirée".to_owned());
                    continue;
                }
                _ => {}
            }
            if attr_name.starts_with("on") || attr_name == "style" {
                note(format!("attribut {attr_name} retiré"));
            } else if allowed && name == "a" && attr_name == "href" {
                match scheme {
                    Some(s) if ALLOWED_SCHEMES.contains(&s.as_str()) => {}
                    Some(s) => note(format!("lien {s}: retiré")),
                    None => note("lien relatif retiré".to_owned()),
                }
            } else if allowed && !(name == "a" && attr_name == "rel") {
                note(format!("attribut {attr_name} retiré"));
            }
        }
        if name == "script" || name == "style" {
            // Raw-text content is not markup; scanning it would report
            // "tags" that are really string literals in the script.
            let closing = format!("</{name}");
            pos = lower
                .get(pos..)
                .and_then(|rest| rest.find(&closing))
                .map_or(text.len(), |i| pos + i);
        }
    }
    found
}

static URL_NOISE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\x00-\x20\x7f]").expect("regex valide"));

// Browsers ignore control characters and whitespace inside a scheme and
// decode entities first, which is how "java&#x09;script:" slips past naive checks.
fn url_scheme(value: &str) -> Option<String> {
    let decoded = decode_entities(value);
    let compact = URL_NOISE.replace_all(&decoded, "").to_ascii_lowercase();
    URL_SCHEME
        .captures(&compact)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
}

/// Rend un HTML en texte brut pour les courriels (listes, liens et entités compris).
pub fn to_plain_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::new();
    let mut links: Vec<(Option<String>, usize)> = Vec::new();
    let mut cell_index = 0usize;
    let mut pos = 0usize;
    while pos < html.len() {
        let Some(offset) = html.get(pos..).and_then(|r| r.find('<')) else {
            push_text(&mut out, html.get(pos..).unwrap_or(""));
            break;
        };
        let lt = pos + offset;
        push_text(&mut out, html.get(pos..lt).unwrap_or(""));
        let rest = html.get(lt..).unwrap_or("");
        if rest.starts_with("<!--") {
            pos = rest.find("-->").map_or(html.len(), |i| lt + i + 3);
            continue;
        }
        let next = rest.as_bytes().get(1).copied().unwrap_or(b' ');
        if !(next.is_ascii_alphabetic() || matches!(next, b'/' | b'!' | b'?')) {
            out.push('<');
            pos = lt + 1;
            continue;
        }
        // An unterminated tag at the end is dropped, as a browser would.
        let Some(end) = tag_end(rest) else { break };
        let inner = rest.get(1..end).unwrap_or("");
        pos = lt + end + 1;
        let closing = inner.starts_with('/');
        let name: String = inner
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match (name.as_str(), closing) {
            ("script" | "style", false) => {
                let closing_tag = format!("</{name}");
                pos = lower
                    .get(pos..)
                    .and_then(|r| r.find(&closing_tag))
                    .map_or(html.len(), |i| pos + i);
            }
            ("br", _) => out.push('\n'),
            ("p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "ul" | "ol", _)
            | ("table", _) => out.push_str("\n\n"),
            ("div", _) => out.push('\n'),
            // Closing </li> and </tr> add nothing: the next item or the end of
            // the list/table breaks the line, so items stay on adjacent lines.
            ("li", false) => out.push_str("\n- "),
            ("tr", false) => {
                out.push('\n');
                cell_index = 0;
            }
            ("td" | "th", false) => {
                if cell_index > 0 {
                    out.push_str(" | ");
                }
                cell_index += 1;
            }
            ("a", false) => links.push((href_of(inner), out.len())),
            ("a", true) => {
                if let Some((href, start)) = links.pop() {
                    close_link(&mut out, href, start);
                }
            }
            _ => {}
        }
    }
    tidy_lines(&out)
}

fn tag_end(tag: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in tag.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            (None, _) => {}
        }
    }
    None
}

fn href_of(tag_inner: &str) -> Option<String> {
    let name_len = tag_inner
        .find(|c: char| c.is_whitespace() || c == '/')
        .unwrap_or(tag_inner.len());
    let attrs = tag_inner.get(name_len..).unwrap_or("");
    ATTRIBUTE.captures_iter(attrs).find_map(|attr| {
        let is_href = attr
            .get(1)
            .is_some_and(|m| m.as_str().eq_ignore_ascii_case("href"));
        if !is_href {
            return None;
        }
        attr.get(2)
            .or_else(|| attr.get(3))
            .or_else(|| attr.get(4))
            .map(|m| decode_entities(m.as_str()).trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

fn close_link(out: &mut String, href: Option<String>, start: usize) {
    let Some(href) = href else { return };
    let label = out.get(start..).unwrap_or("").trim();
    let bare = href.strip_prefix("mailto:").unwrap_or(&href);
    if label.is_empty() {
        out.push_str(&href);
    } else if label != href && label != bare {
        out.push_str(" (");
        out.push_str(&href);
        out.push(')');
    }
}

fn push_text(out: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    // Source line breaks are layout, not content: only tags produce breaks.
    let flat: String = text
        .chars()
        .map(|c| if c.is_ascii_whitespace() { ' ' } else { c })
        .collect();
    out.push_str(&decode_entities(&flat));
}

fn tidy_lines(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let collapsed = line
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>();
        let line = collapsed.join(" ");
        let blank = line.trim().is_empty();
        if blank && lines.last().is_none_or(|l: &String| l.is_empty()) {
            continue;
        }
        lines.push(if blank { String::new() } else { line });
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or(""));
        let after = rest.get(amp + 1..).unwrap_or("");
        let decoded = after
            .find(';')
            .filter(|&semi| semi <= 10)
            .and_then(|semi| Some((decode_entity(after.get(..semi)?)?, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = after.get(semi + 1..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse::<u32>().ok()?,
            };
            Some(
                char::from_u32(code)
                    .filter(|&c| c != '\0')
                    .unwrap_or('\u{fffd}'),
            )
        }
    }
}

/// Échappe un texte pour l'insérer dans du HTML (& < > " ').
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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

/// Empreinte SHA-256 (hexadécimal) d'une suite de champs nommés, sans collision par concaténation.
///
/// Encodage : pour chaque couple `(nom, valeur)`, dans l'ordre donné, la longueur en
/// octets du nom sur 8 octets gros-boutiste, les octets UTF-8 du nom, puis de même
/// la longueur et les octets de la valeur. Aucun séparateur ni en-tête : deux suites
/// différentes donnent toujours des encodages différents.
pub fn content_hash(parts: &[(&str, &str)]) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in parts {
        for field in [name, value] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codes(w: &[ScreeningWarning]) -> Vec<&'static str> {
        w.iter().map(ScreeningWarning::code).collect()
    }

    #[test]
    fn script_is_removed_and_reported() {
        let s = sanitise_body("<p>Bonjour</p><script>alert('x')</script>");
        assert_eq!(s.html, "<p>Bonjour</p>");
        assert!(s.changed);
        assert!(s.removed.contains(&"balise <script> retirée".to_owned()));
        assert!(!s.html.contains("alert"));
    }

    #[test]
    fn style_tag_content_and_attribute_are_removed() {
        let s = sanitise_body(r#"<style>p{color:red}</style><p style="color:red">Texte</p>"#);
        assert_eq!(s.html, "<p>Texte</p>");
        assert!(s.removed.contains(&"balise <style> retirée".to_owned()));
        assert!(s.removed.contains(&"attribut style retiré".to_owned()));
    }

    #[test]
    fn event_handlers_are_removed_and_reported() {
        let s = sanitise_body(r#"<p onclick="voler()">Clic</p><img src=x onerror="alert(1)">"#);
        assert_eq!(s.html, "<p>Clic</p>");
        assert!(s.removed.contains(&"attribut onclick retiré".to_owned()));
        assert!(s.removed.contains(&"attribut onerror retiré".to_owned()));
        assert!(s.removed.contains(&"balise <img> retirée".to_owned()));
    }

    #[test]
    fn javascript_links_are_removed_and_reported() {
        let s = sanitise_body(r#"<a href="javascript:alert(1)">ici</a>"#);
        assert!(!s.html.to_lowercase().contains("javascript"));
        assert!(s.removed.contains(&"lien javascript: retiré".to_owned()));
        let s = sanitise_body("<a href=\"jav&#x09;ascript:alert(1)\">ici</a>");
        assert!(!s.html.to_lowercase().contains("javascript"));
        assert!(s.removed.contains(&"lien javascript: retiré".to_owned()));
        let s = sanitise_body(r#"<a href="data:text/html,x">ici</a>"#);
        assert!(!s.html.contains("data:"));
        assert!(s.removed.contains(&"URL data: retirée".to_owned()));
    }

    #[test]
    fn allowed_markup_survives_unchanged() {
        let input = concat!(
            "<h2>Inscriptions</h2>\n",
            "<p>Les <strong>inscriptions</strong> à la <em>cantine</em> ouvrent le <u>lundi</u>.<br>",
            "Voir <a href=\"https://www.exemple.fr/cantine\" rel=\"noopener noreferrer nofollow\">le site</a>.</p>\n",
            "<h3>Pièces</h3><ul><li>justificatif</li><li><b>photo</b> <i>récente</i></li></ul>",
            "<ol><li>un</li></ol><h4>Note</h4><blockquote>Citation</blockquote>",
            "<table><thead><tr><th>Jour</th></tr></thead><tbody><tr><td>Lundi</td></tr></tbody></table>"
        );
        let s = sanitise_body(input);
        assert_eq!(s.html, input);
        assert!(!s.changed);
        assert!(s.removed.is_empty());
    }

    #[test]
    fn whitespace_and_br_variants_do_not_count_as_changes() {
        let s = sanitise_body("  <p>Un\n   deux<br />trois</p>\n\n  <p>quatre</p>  ");
        assert!(!s.changed, "{s:?}");
        assert!(s.removed.is_empty());
    }

    #[test]
    fn links_get_rel_and_lose_target() {
        let s = sanitise_body(r#"<a href="https://exemple.fr" target="_blank">lien</a>"#);
        assert_eq!(
            s.html,
            r#"<a href="https://exemple.fr" rel="noopener noreferrer nofollow">lien</a>"#
        );
        assert!(s.removed.contains(&"attribut target retiré".to_owned()));
        let s = sanitise_body(r#"<a href="mailto:contact@mairie.fr">écrire</a>"#);
        assert!(s.html.contains(r#"href="mailto:contact@mairie.fr""#));
    }

    #[test]
    fn disallowed_schemes_and_relative_links_lose_their_href() {
        let s = sanitise_body(r#"<a href="ftp://x.fr/a">a</a><a href="/ent/page">b</a>"#);
        assert!(!s.html.contains("href"));
        assert!(s.removed.contains(&"lien ftp: retiré".to_owned()));
        assert!(s.removed.contains(&"lien relatif retiré".to_owned()));
    }

    #[test]
    fn attributes_on_allowed_tags_are_reported() {
        let s = sanitise_body(r#"<p class="x" id="y">t</p><div>d</div>"#);
        assert_eq!(s.html, "<p>t</p>d");
        assert!(s.removed.contains(&"attribut class retiré".to_owned()));
        assert!(s.removed.contains(&"attribut id retiré".to_owned()));
        assert!(s.removed.contains(&"balise <div> retirée".to_owned()));
    }

    #[test]
    fn comments_are_removed_and_reported() {
        let s = sanitise_body("<p>a<!-- note interne --></p>");
        assert_eq!(s.html, "<p>a</p>");
        assert!(s.removed.contains(&"commentaire HTML retiré".to_owned()));
    }

    #[test]
    fn script_text_is_neutralised_in_text() {
        let s = sanitise_body("<p>Tapez javascript:alert(1)</p>");
        assert!(!s.html.to_lowercase().contains("javascript:"));
        assert_eq!(to_plain_text(&s.html), "Tapez javascript:alert(1)");
    }

    #[test]
    fn stripped_table_parts_reach_a_fixed_point() {
        let s =
            sanitise_body("<table><tfoot><tr><td>x</td></tr></tfoot><caption>c</caption></table>");
        assert_eq!(sanitise_body(&s.html).html, s.html);
        assert!(!sanitise_body(&s.html).changed);
    }

    #[test]
    fn plain_text_rendering() {
        let html = concat!(
            "<h2>Rentrée &amp; cantine</h2>",
            "<p>Bonjour,<br>les inscriptions&nbsp;: </p>\n\n",
            "<ul><li>lundi</li><li>mardi &lt;matin&gt;</li></ul>",
            "<p>Voir <a href=\"https://exemple.fr/a?b=1&amp;c=2\">le site</a> ",
            "ou <a href=\"mailto:contact@mairie.fr\">contact@mairie.fr</a>.</p>",
            "<p>&quot;Cité&quot; l&#39;école &#233;t&#xE9;</p><p></p><p></p>",
        );
        let expected = "Rentrée & cantine\n\nBonjour,\nles inscriptions\u{a0}:\n\n- lundi\n- mardi <matin>\n\nVoir le site (https://exemple.fr/a?b=1&c=2) ou contact@mairie.fr.\n\n\"Cité\" l'école été";
        assert_eq!(to_plain_text(html), expected);
    }

    #[test]
    fn plain_text_tables_and_scripts() {
        let html = "<table><tr><th>Jour</th><th>Menu</th></tr><tr><td>Lundi</td><td>Pâtes</td></tr></table><script>x<y</script>fin";
        assert_eq!(to_plain_text(html), "Jour | Menu\nLundi | Pâtes\n\nfin");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape_html(r#"<a href="x">l'été & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;l&#39;été &amp; co&lt;/a&gt;"
        );
    }

    #[test]
    fn phone_numbers() {
        for s in [
            "03 87 12 34 56",
            "03.87.12.34.56",
            "03-87-12-34-56",
            "0387123456",
            "+33 3 87 12 34 56",
            "+33387123456",
        ] {
            assert_eq!(codes(&screen("", s)), ["phone_number"], "{s}");
        }
        assert!(screen("Réunion le 2025-04-16 à 18 h", "").is_empty());
        assert!(screen("", "<p>Tarif : 3,50 € ; 120 élèves ; année 2024-2025</p>").is_empty());
    }

    #[test]
    fn personal_emails() {
        assert_eq!(
            codes(&screen("", "<p>jean.dupont@gmail.com</p>")),
            ["personal_email"]
        );
        let w = screen(
            "",
            "<a href=\"mailto:marie.durand@ac-nancy-metz.fr\">écrire</a>",
        );
        assert_eq!(codes(&w), ["personal_email"]);
        for ok in [
            "ce.0570054L@ac-nancy-metz.fr",
            "contact@mairie-metz.fr",
            "noreply@monent.fr",
            "secretariat.college@ville.fr",
            "agent.public@education.gouv.fr",
            "jean@prefecture.gouv.fr",
        ] {
            assert!(screen("", ok).is_empty(), "{ok}");
        }
    }

    #[test]
    fn nir() {
        assert_eq!(codes(&screen("", "NIR : 1 85 05 78 006 084 36")), ["nir"]);
        assert_eq!(codes(&screen("", "n° 285052A00608436")), ["nir"]);
        assert!(screen("", "Commande 385057800608436").is_empty());
        assert!(screen("", "1 85 05 78").is_empty());
    }

    #[test]
    fn ine() {
        assert_eq!(codes(&screen("", "INE 0123456789A")), ["ine"]);
        assert_eq!(codes(&screen("", "INE 123456789AB")), ["ine"]);
        assert!(screen("", "réf 123456789ABC et salle A12").is_empty());
    }

    #[test]
    fn iban() {
        assert_eq!(
            codes(&screen("", "IBAN FR76 3000 6000 0112 3456 7890 189")),
            ["iban"]
        );
        assert_eq!(codes(&screen("", "fr7630006000011234567890189")), ["iban"]);
        assert!(screen("", "Voir le site exemple.fr 76 élèves").is_empty());
    }

    #[test]
    fn commercial() {
        for s in [
            "Grande PROMOTION",
            "les soldes",
            "Réduction de 10 €",
            "code promo ÉTÉ",
            "Offre spéciale",
            "Achetez vite",
            "jusqu'à -50 % !",
            "-30%",
        ] {
            assert_eq!(codes(&screen(s, "")), ["commercial"], "{s}");
        }
        assert!(screen("Sortie au musée, promotionnel", "<p>Le solde du compte</p>").is_empty());
    }

    #[test]
    fn political() {
        for s in [
            "VOTEZ pour nous",
            "les Élections municipales",
            "le candidat",
            "réunion du parti",
            "grand meeting",
        ] {
            assert_eq!(codes(&screen(s, "")), ["political"], "{s}");
        }
        assert!(
            screen(
                "Le car est parti à 8 h",
                "<p>Nous partirons en voyage, le vote des délégués</p>"
            )
            .is_empty()
        );
    }

    #[test]
    fn personal_excerpts_are_masked() {
        let w = screen("", "<p>Appelez Mme Durand au 03 87 12 34 56.</p>");
        assert_eq!(
            w,
            [ScreeningWarning::PhoneNumber {
                excerpt: "03…".into()
            }]
        );
        let w = screen("", "jean.dupont@gmail.com");
        assert_eq!(w[0].excerpt(), "je…");
        let w = screen("", "1 85 05 78 006 084 36");
        assert_eq!(w[0].excerpt(), "1 …");
    }

    #[test]
    fn keyword_context_masks_personal_data() {
        let w = screen(
            "",
            "<p>Soldes : appelez le 06 12 34 56 78 ou écrivez à jean.dupont@gmail.com, soldes</p>",
        );
        // Both « soldes » yield the same whole-sentence excerpt, hence one warning.
        assert_eq!(codes(&w), ["commercial", "phone_number", "personal_email"]);
        for x in &w {
            assert!(
                !x.excerpt().contains("12 34") && !x.excerpt().contains("dupont"),
                "{x:?}"
            );
        }
        assert_eq!(
            w[0].excerpt(),
            "Soldes : appelez le 06… ou écrivez à je…, soldes"
        );
    }

    #[test]
    fn keyword_excerpts_are_short_and_located() {
        let long = format!("{} achetez {}", "a".repeat(100), "b".repeat(100));
        let w = screen(&long, "");
        let excerpt = w[0].excerpt();
        assert!(excerpt.chars().count() <= 60, "{excerpt}");
        assert!(excerpt.contains("achetez"));
        assert!(excerpt.starts_with('…') && excerpt.ends_with('…'));
        let w = screen("Soldes", "");
        assert_eq!(w[0].excerpt(), "Soldes");
    }

    #[test]
    fn warnings_are_deduplicated() {
        let w = screen("Soldes", "<p>Soldes</p>");
        assert_eq!(
            w,
            [ScreeningWarning::Commercial {
                excerpt: "Soldes".into()
            }]
        );
        let w = screen(
            "",
            "<p>06 12 34 56 78</p><p>06 98 76 54 32</p><p>05 11 22 33 44</p>",
        );
        assert_eq!(codes(&w), ["phone_number", "phone_number"]);
    }

    #[test]
    fn warning_json_shape() {
        let w = ScreeningWarning::PhoneNumber {
            excerpt: "03…".into(),
        };
        let json = serde_json::to_value(&w).unwrap_or_default();
        assert_eq!(json["code"], "phone_number");
        assert_eq!(json["excerpt"], "03…");
        assert!(
            json["message"]
                .as_str()
                .is_some_and(|m| m.contains("téléphone"))
        );
        let back: Result<ScreeningWarning, _> = serde_json::from_value(json);
        assert_eq!(back.ok(), Some(w));
        let bad = serde_json::json!({"code": "inconnu", "message": "", "excerpt": ""});
        assert!(serde_json::from_value::<ScreeningWarning>(bad).is_err());
    }

    #[test]
    fn hash_is_length_prefixed() {
        assert_ne!(content_hash(&[("a", "bc")]), content_hash(&[("ab", "c")]));
        assert_ne!(
            content_hash(&[("t", "x"), ("b", "")]),
            content_hash(&[("t", "x\0\0\0\0\0\0\0\u{1}b")])
        );
        assert_ne!(
            content_hash(&[("t", "1"), ("b", "2")]),
            content_hash(&[("b", "2"), ("t", "1")])
        );
        let h = content_hash(&[("title", "Rentrée"), ("body", "<p>x</p>")]);
        assert_eq!(h.len(), 64);
        assert_eq!(
            h,
            content_hash(&[("title", "Rentrée"), ("body", "<p>x</p>")])
        );
        // SHA-256 of the empty input: no field means no byte at all.
        assert_eq!(
            content_hash(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn htmlish() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "<p>",
            "</p>",
            "<script>",
            "</script>",
            "<a href=\"javascript:x\">",
            "<a href=\"https://e.fr\">",
            "</a>",
            "<table>",
            "</table>",
            "<tr>",
            "<td>",
            "<tfoot>",
            "<caption>",
            "<img onerror=x>",
            "<b>",
            "</i>",
            "<li>",
            "<ul>",
            "<!--",
            "-->",
            "&lt;",
            "&amp;",
            "&#58;",
            "java",
            "script:",
            "JavaScript:",
            "<",
            ">",
            "\"",
            " ",
            "\n",
            "texte",
            "é",
            "<svg>",
            "<style>",
            "<br/>",
            "<h2>",
        ]);
        (prop::collection::vec(token, 0..24), ".{0,8}").prop_map(|(v, tail)| v.concat() + &tail)
    }

    proptest! {
        #[test]
        fn sanitise_never_panics(raw in ".*") {
            let _ = sanitise_body(&raw);
        }

        #[test]
        fn sanitise_is_idempotent(raw in prop_oneof![".*", htmlish()]) {
            let once = sanitise_body(&raw);
            let twice = sanitise_body(&once.html);
            prop_assert_eq!(&twice.html, &once.html);
            prop_assert!(!twice.changed);
            prop_assert!(twice.removed.is_empty());
        }

        #[test]
        fn sanitised_output_carries_no_script(raw in prop_oneof![".*", htmlish()]) {
            let html = sanitise_body(&raw).html.to_lowercase();
            prop_assert!(!html.contains("<script"), "{}", html);
            prop_assert!(!html.contains("javascript:"), "{}", html);
        }

        #[test]
        fn plain_text_never_panics(raw in prop_oneof![".*", htmlish()]) {
            let _ = to_plain_text(&raw);
        }

        #[test]
        fn screening_never_panics_and_excerpts_stay_short(title in ".*", body in prop_oneof![".*", htmlish()]) {
            for w in screen(&title, &body) {
                prop_assert!(w.excerpt().chars().count() <= 60);
            }
        }
    }
}
