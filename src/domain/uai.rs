//! The UAI code (unité administrative immatriculée) that identifies every French school.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The check alphabet leaves out I, O and Q, which read too much like 1, 0 and 0.
const CHECK_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPRSTUVWXYZ";

/// How many characters an error echoes back: enough to recognise a code, not a pasted page.
const ECHO_MAX_CHARS: usize = 20;

/// A valid UAI code: seven digits then their check letter, in uppercase. Held inline (eight
/// ASCII bytes), so reading a message to 1,000 schools does not allocate 1,000 strings.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uai([u8; 8]);

impl fmt::Debug for Uai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Uai").field(&self.as_str()).finish()
    }
}

/// Why a text is not a UAI code, worded so the person typing it knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UaiError {
    /// Not exactly eight characters.
    #[error(
        "Code UAI « {given} » invalide : il compte {length} caractère(s), il en faut 8 (7 chiffres puis une lettre de contrôle)."
    )]
    WrongLength {
        /// The text as received, trimmed and shortened.
        given: String,
        /// Characters counted after trimming.
        length: usize,
    },
    /// One of the first seven characters is not a digit.
    #[error(
        "Code UAI « {given} » invalide : le caractère « {found} » en position {position} n'est pas un chiffre (les 7 premiers caractères sont des chiffres)."
    )]
    NotDigit {
        /// The text as received, trimmed.
        given: String,
        /// 1-based position of the offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// Blanks around the code or a lowercase letter, where the exact form is required (API input).
    #[error(
        "Code UAI « {given} » invalide : écrivez-le exactement sous la forme 7 chiffres puis une lettre majuscule, sans espace (par exemple 0570054Z)."
    )]
    NotExact {
        /// The text as received, shortened.
        given: String,
    },
    /// The eighth character is not the check letter of the seven digits.
    #[error(
        "Code UAI « {digits}{found} » invalide : la lettre de contrôle de {digits} doit être {expected}, pas {found}."
    )]
    BadLetter {
        /// The seven digits.
        digits: String,
        /// The letter those digits call for.
        expected: char,
        /// The character given instead.
        found: char,
    },
}

/// The check letter of seven digits, or `None` if `digits` is not exactly seven ASCII digits.
pub fn check_letter(digits: &str) -> Option<char> {
    if digits.len() != 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    Some(char::from(CHECK_LETTERS[(n % 23) as usize]))
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= ECHO_MAX_CHARS {
        text.to_owned()
    } else {
        let head: String = text.chars().take(ECHO_MAX_CHARS).collect();
        format!("{head}…")
    }
}

impl Uai {
    /// Parses a UAI code, tolerating surrounding blanks and a lowercase letter.
    pub fn parse(text: &str) -> Result<Uai, UaiError> {
        let text = text.trim();
        let length = text.chars().count();
        if length != 8 {
            return Err(UaiError::WrongLength {
                given: shorten(text),
                length,
            });
        }
        if let Some((index, found)) = text
            .chars()
            .take(7)
            .enumerate()
            .find(|(_, c)| !c.is_ascii_digit())
        {
            return Err(UaiError::NotDigit {
                given: text.to_owned(),
                position: index + 1,
                found,
            });
        }
        // Seven ASCII digits were checked above, so byte 7 starts the last character.
        let (digits, last) = text.split_at(7);
        let found = last.chars().next().unwrap_or(' ');
        let given_letter = found.to_ascii_uppercase();
        let expected = check_letter(digits).unwrap_or('?');
        if given_letter != expected {
            return Err(UaiError::BadLetter {
                digits: digits.to_owned(),
                expected,
                found,
            });
        }
        let mut code = [0u8; 8];
        code[..7].copy_from_slice(digits.as_bytes());
        code[7] = expected as u8;
        Ok(Uai(code))
    }

    /// Parses a UAI code written exactly (`^[0-9]{7}[A-Z]$` and the right check letter), as the
    /// API documents it: no blank and no lowercase letter is silently corrected there.
    pub fn parse_exact(text: &str) -> Result<Uai, UaiError> {
        let uai = Uai::parse(text)?;
        if uai.as_str() != text {
            return Err(UaiError::NotExact {
                given: shorten(text),
            });
        }
        Ok(uai)
    }

    /// The normalised code, e.g. `0301674G`.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `parse` and `stored`), so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("????????")
    }

    /// The seven-digit number, whose first three digits are usually the department.
    pub fn digits(&self) -> &str {
        &self.as_str()[..7]
    }
}

impl fmt::Display for Uai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Uai {
    type Err = UaiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uai::parse(s)
    }
}

impl AsRef<str> for Uai {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for Uai {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Uai {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through `parse`, so a posted or configured code is held to the same rule as a typed one
        // (records the store wrote are read with `stored`).
        let text = String::deserialize(deserializer)?;
        Uai::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Reading a UAI back from the store, where only validated codes are ever written: taken as
/// stored, not parsed again (a list reads thousands of them per request).
pub mod stored {
    use std::fmt;

    use super::Uai;
    use serde::Deserializer;
    use serde::de::{Error, SeqAccess, Visitor};

    /// Takes a stored code as its eight bytes, from the reader's own buffer (no allocation).
    struct Code;

    impl Visitor<'_> for Code {
        type Value = Uai;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("un code UAI enregistré (8 caractères ASCII)")
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<Uai, E> {
            <[u8; 8]>::try_from(v.as_bytes())
                .ok()
                .filter(|b| b.is_ascii())
                .map(Uai)
                .ok_or_else(|| E::custom(format!("code UAI enregistré illisible : {v:?}")))
        }
    }

    /// A list of them.
    struct Codes;

    impl<'de> Visitor<'de> for Codes {
        type Value = Vec<Uai>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("une liste de codes UAI enregistrés")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Uai>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(uai) = seq.next_element_seed(One)? {
                out.push(uai);
            }
            Ok(out)
        }
    }

    /// One element of a list, read as [`Code`].
    struct One;

    impl<'de> serde::de::DeserializeSeed<'de> for One {
        type Value = Uai;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Uai, D::Error> {
            d.deserialize_str(Code)
        }
    }

    /// One stored code.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Uai, D::Error> {
        deserializer.deserialize_str(Code)
    }

    /// A stored list of codes.
    pub fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Uai>, D::Error> {
        deserializer.deserialize_seq(Codes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stored_codes_are_read_back_as_written_and_a_damaged_one_is_an_error() {
        #[derive(serde::Deserialize)]
        struct Record {
            #[serde(deserialize_with = "stored::list")]
            targets: Vec<Uai>,
            #[serde(deserialize_with = "stored::deserialize")]
            uai: Uai,
        }
        let r: Record =
            serde_json::from_str(r#"{"targets":["0570054Z","0670080Y"],"uai":"0301674G"}"#)
                .unwrap();
        assert_eq!(
            r.targets,
            [
                Uai::parse("0570054Z").unwrap(),
                Uai::parse("0670080Y").unwrap()
            ]
        );
        assert_eq!(r.uai.as_str(), "0301674G");
        assert_eq!(format!("{:?}", r.uai), r#"Uai("0301674G")"#);
        for damaged in [r#""05700""#, r#""0570054Zé""#, "12"] {
            let json = format!(r#"{{"targets":[],"uai":{damaged}}}"#);
            assert!(serde_json::from_str::<Record>(&json).is_err(), "{damaged}");
        }
    }

    #[test]
    fn known_code_parses_and_normalises() {
        let uai = Uai::parse("  0301674g ").unwrap();
        assert_eq!(uai.as_str(), "0301674G");
        assert_eq!(uai.digits(), "0301674");
        assert_eq!(check_letter("0301674"), Some('G'));
    }

    #[test]
    fn errors_say_what_to_fix() {
        let e = Uai::parse("0301674H").unwrap_err();
        assert!(
            e.to_string()
                .contains("la lettre de contrôle de 0301674 doit être G, pas H"),
            "{e}"
        );
        let e = Uai::parse("030167G").unwrap_err();
        assert_eq!(
            e,
            UaiError::WrongLength {
                given: "030167G".into(),
                length: 7
            }
        );
        assert!(
            e.to_string().contains("7 caractère(s), il en faut 8"),
            "{e}"
        );
        let e = Uai::parse("03O1674G").unwrap_err();
        assert!(matches!(
            e,
            UaiError::NotDigit {
                position: 3,
                found: 'O',
                ..
            }
        ));
        assert!(matches!(
            Uai::parse("").unwrap_err(),
            UaiError::WrongLength { length: 0, .. }
        ));
        assert!(matches!(
            Uai::parse("03016741").unwrap_err(),
            UaiError::BadLetter { found: '1', .. }
        ));
    }

    #[test]
    fn check_letter_refuses_anything_but_seven_digits() {
        assert_eq!(check_letter("030167"), None);
        assert_eq!(check_letter("03016745"), None);
        assert_eq!(check_letter("030167a"), None);
        assert_eq!(check_letter("+301674"), None);
        assert_eq!(check_letter("٠٣٠١٦٧٤"), None);
    }

    #[test]
    fn serde_goes_through_parse() {
        let uai: Uai = serde_json_like("0301674g").unwrap();
        assert_eq!(uai.as_str(), "0301674G");
        let err = serde_json_like("0301674H").unwrap_err();
        assert!(err.contains("doit être G, pas H"), "{err}");
    }

    /// Deserialises through a tiny TOML document, as serde_json is not a dependency here.
    fn serde_json_like(code: &str) -> Result<Uai, String> {
        #[derive(Deserialize)]
        struct Holder {
            uai: Uai,
        }
        toml::from_str::<Holder>(&format!("uai = \"{code}\""))
            .map(|h| h.uai)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn serialises_as_plain_string() {
        #[derive(Serialize)]
        struct Holder {
            uai: Uai,
        }
        let text = toml::to_string(&Holder {
            uai: Uai::parse("0301674G").unwrap(),
        })
        .unwrap();
        assert_eq!(text.trim(), "uai = \"0301674G\"");
    }

    proptest! {
        #[test]
        fn every_number_with_its_letter_parses(n in 0u32..10_000_000) {
            let digits = format!("{n:07}");
            let letter = check_letter(&digits).unwrap();
            let uai = Uai::parse(&format!("{digits}{letter}")).unwrap();
            prop_assert_eq!(uai.as_str(), format!("{digits}{letter}"));
            let lower = Uai::parse(&format!("{digits}{}", letter.to_ascii_lowercase())).unwrap();
            prop_assert_eq!(&lower, &uai);
            prop_assert_eq!(Uai::parse_exact(uai.as_str()), Ok(uai.clone()));
            let lower_text = format!("{digits}{}", letter.to_ascii_lowercase());
            prop_assert!(Uai::parse_exact(&lower_text).is_err());
            let padded = format!(" {}", uai.as_str());
            prop_assert!(Uai::parse_exact(&padded).is_err());
        }

        #[test]
        fn every_other_letter_is_refused(n in 0u32..10_000_000, other in proptest::char::range('A', 'Z')) {
            let digits = format!("{n:07}");
            let letter = check_letter(&digits).unwrap();
            prop_assume!(other != letter);
            let refused = Uai::parse(&format!("{digits}{other}"));
            let is_bad_letter = matches!(refused, Err(UaiError::BadLetter { expected, .. }) if expected == letter);
            prop_assert!(is_bad_letter);
        }

        #[test]
        fn random_text_never_panics(text in "\\PC{0,20}") {
            let _ = Uai::parse(&text).map_err(|e| e.to_string());
        }

        #[test]
        fn near_codes_never_panic(text in "[0-9a-zA-Zé ]{6,10}") {
            let _ = Uai::parse(&text).map_err(|e| e.to_string());
        }

        #[test]
        fn display_round_trips(n in 0u32..10_000_000) {
            let digits = format!("{n:07}");
            let uai = Uai::parse(&format!("{digits}{}", check_letter(&digits).unwrap())).unwrap();
            prop_assert_eq!(uai.to_string().parse::<Uai>().unwrap(), uai);
        }
    }
}
