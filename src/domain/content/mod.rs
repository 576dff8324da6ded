//! Contenu des communications : assainissement du HTML, rendu texte, repérage
//! des contenus à risque au regard de la charte de l'ENT et empreinte du contenu.
//!
//! Module pur : aucune entrée-sortie, aucune fonction ne panique quelle que
//! soit l'entrée.

mod sanitise;
mod screening;
mod text;

pub use sanitise::*;
pub use screening::*;
pub use text::*;

use sha2::{Digest, Sha256};

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
