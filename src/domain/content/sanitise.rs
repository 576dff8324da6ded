//! Assainissement du HTML des communications et contrôle du texte brut des notes.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::text::decode_entities;

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
pub(super) static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
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
