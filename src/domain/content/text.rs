//! Rendu d'un HTML en texte brut (courriels) et échappement HTML.

use std::borrow::Cow;

use super::sanitise::ATTRIBUTE;

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

pub(super) fn decode_entities(s: &str) -> Cow<'_, str> {
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
