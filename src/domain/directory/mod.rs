//! Who is who: schools (from the national annuaire), the authorities that publish to them,
//! each authority's remit (« ressort ») and the arbitrator of each school.

mod config;
mod remit;

pub use config::DirectoryError;
pub use remit::{RemitCause, RemitRefusal, arbitrator_for, check_remit};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::email::EmailAddress;
use crate::domain::uai::Uai;

/// The kinds of school the annuaire lists; only the first three matter for remits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchoolType {
    /// École maternelle, élémentaire or primaire: a commune's remit.
    Ecole,
    /// Collège: a département's remit.
    College,
    /// Lycée, agricultural ones included: a région's remit.
    Lycee,
    /// Anything else (EREA, services, médico-social…): no authority's remit.
    Other,
}

impl SchoolType {
    /// Reads the annuaire's `Type_etablissement`, ignoring case and accents.
    pub fn from_annuaire(text: &str) -> SchoolType {
        match fold(text).as_str() {
            "ecole" => SchoolType::Ecole,
            "college" => SchoolType::College,
            "lycee" => SchoolType::Lycee,
            _ => SchoolType::Other,
        }
    }

    /// The common noun in French, lowercase, for sentences.
    pub fn noun(self) -> &'static str {
        match self {
            SchoolType::Ecole => "école",
            SchoolType::College => "collège",
            SchoolType::Lycee => "lycée",
            SchoolType::Other => "établissement",
        }
    }

    fn feminine(self) -> bool {
        self == SchoolType::Ecole
    }
}

/// A school as the annuaire describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct School {
    /// The school's UAI code.
    pub uai: Uai,
    /// The name, as in the annuaire (often starting with its type, e.g. « Collège Jean Moulin »).
    pub name: String,
    /// École, collège, lycée or other.
    pub school_type: SchoolType,
    /// Whether the school is public (as opposed to private).
    pub public: bool,
    /// Department code, normalised by [`normalize_department`] (`57`, `08`, `2A`, `971`).
    pub department: String,
    /// INSEE code of the commune.
    pub commune_code: Option<String>,
    /// Name of the commune.
    pub commune_name: Option<String>,
    /// Code of the académie.
    pub academie_code: String,
    /// Name of the académie.
    pub academie_name: String,
    /// Code of the région.
    pub region_code: String,
    /// The school's own address, where its head is reached.
    pub email: Option<EmailAddress>,
    /// Whether the school is under the ministry of agriculture (arbitrated by the DRAAF).
    pub agricultural: bool,
}

impl School {
    /// The school with its article, e.g. « Le collège Jean Moulin » or « L'école Jules Ferry ».
    pub fn label(&self) -> String {
        let noun = self.school_type.noun();
        let article = if self.school_type.feminine() || self.school_type == SchoolType::Other {
            "L'"
        } else {
            "Le "
        };
        let name = self.name.trim();
        // Annuaire names usually start with their type; don't write « le collège Collège … ».
        let (first, rest) = name.split_once(' ').unwrap_or((name, ""));
        if self.school_type != SchoolType::Other && fold(first) == fold(noun) {
            if rest.is_empty() {
                format!("{article}{noun}")
            } else {
                format!("{article}{noun} {rest}")
            }
        } else {
            format!("{article}{noun} {name}")
        }
    }
}

/// The three levels of local authority the charter covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorityKind {
    /// A région, publishing to its lycées.
    Region,
    /// A département, publishing to its collèges.
    Departement,
    /// A commune, publishing to its écoles.
    Commune,
}

impl AuthorityKind {
    /// The kind as written in files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityKind::Region => "region",
            AuthorityKind::Departement => "departement",
            AuthorityKind::Commune => "commune",
        }
    }

    /// Reads a kind, also accepting accents and capitals (« Région », « Département »).
    pub fn from_name(text: &str) -> Option<AuthorityKind> {
        match fold(text).as_str() {
            "region" => Some(AuthorityKind::Region),
            "departement" => Some(AuthorityKind::Departement),
            "commune" => Some(AuthorityKind::Commune),
            _ => None,
        }
    }
}

/// A local authority that publishes to families through the ENT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    /// Stable slug, e.g. `region-grand-est`.
    pub id: String,
    /// Name for people, e.g. « Région Grand Est ».
    pub name: String,
    /// Région, département or commune.
    pub kind: AuthorityKind,
    /// Région code, department code or commune INSEE code, according to `kind`.
    pub code: String,
    /// Where the authority's notifications go.
    pub email: EmailAddress,
}

/// The two arbitrators the charter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArbitratorKind {
    /// The recteur of an académie.
    Rectorat,
    /// The regional directorate of agriculture, for agricultural schools.
    Draaf,
}

impl ArbitratorKind {
    /// The kind as written in references.
    pub fn as_str(self) -> &'static str {
        match self {
            ArbitratorKind::Rectorat => "rectorat",
            ArbitratorKind::Draaf => "draaf",
        }
    }
}

/// Which arbitrator: a rectorat by académie code or a DRAAF by région code, written `rectorat:12`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArbitratorRef {
    /// Rectorat or DRAAF.
    pub kind: ArbitratorKind,
    /// Académie code for a rectorat, région code for a DRAAF.
    pub code: String,
}

/// Why a text is not an arbitrator reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Référence d'arbitre « {0} » invalide : écrivez « rectorat:CODE_ACADEMIE » ou « draaf:CODE_REGION », par exemple « rectorat:12 »."
)]
pub struct ArbitratorRefError(pub String);

impl fmt::Display for ArbitratorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.code)
    }
}

impl FromStr for ArbitratorRef {
    type Err = ArbitratorRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = || ArbitratorRefError(s.trim().chars().take(40).collect());
        let (kind, code) = s.trim().split_once(':').ok_or_else(refuse)?;
        let kind = match fold(kind).as_str() {
            "rectorat" => ArbitratorKind::Rectorat,
            "draaf" => ArbitratorKind::Draaf,
            _ => return Err(refuse()),
        };
        let code = code.trim();
        if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(refuse());
        }
        Ok(ArbitratorRef {
            kind,
            code: code.to_owned(),
        })
    }
}

impl Serialize for ArbitratorRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ArbitratorRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A service reached by email: a rectorat, a DRAAF or academic services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Académie code (rectorats, academic services) or région code (DRAAF).
    pub code: String,
    /// Name for people, e.g. « Rectorat de l'académie de Nancy-Metz ».
    pub name: String,
    /// Where its notifications go.
    pub email: EmailAddress,
}

/// The authorities and services the deployment knows, loaded from `directory.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Directory {
    /// The publishing authorities.
    pub authorities: Vec<Authority>,
    /// Recteurs, keyed by académie code.
    pub rectorats: Vec<Contact>,
    /// DRAAFs, keyed by région code.
    pub draafs: Vec<Contact>,
    /// Academic services, keyed by académie code.
    pub academic_services: Vec<Contact>,
}

impl Directory {
    /// The authority with this id.
    pub fn authority(&self, id: &str) -> Option<&Authority> {
        self.authorities.iter().find(|a| a.id == id)
    }

    /// The rectorat or DRAAF a reference designates.
    pub fn arbitrator_contact(&self, r: &ArbitratorRef) -> Option<&Contact> {
        let list = match r.kind {
            ArbitratorKind::Rectorat => &self.rectorats,
            ArbitratorKind::Draaf => &self.draafs,
        };
        find_contact(list, &r.code)
    }

    /// The academic services of an académie.
    pub fn academic_services_for(&self, academie_code: &str) -> Option<&Contact> {
        find_contact(&self.academic_services, academie_code)
    }

    /// The authorities whose remit includes this school.
    pub fn authorities_for<'a>(
        &'a self,
        school: &'a School,
    ) -> impl Iterator<Item = &'a Authority> {
        self.authorities
            .iter()
            .filter(move |a| check_remit(a, school).is_ok())
    }
}

fn find_contact<'a>(list: &'a [Contact], code: &str) -> Option<&'a Contact> {
    let key = code_key(code);
    list.iter().find(|c| code_key(&c.code) == key)
}

/// Compares codes as the annuaire and spreadsheets write them: a spreadsheet drops leading
/// zeros (« 057 » becomes « 57 », « 01001 » becomes « 1001 »), so they never decide a match.
pub(super) fn code_key(code: &str) -> String {
    let upper = code.trim().to_ascii_uppercase();
    let stripped = upper.trim_start_matches('0');
    if stripped.is_empty() && !upper.is_empty() {
        "0".to_owned()
    } else {
        stripped.to_owned()
    }
}

/// Lowercase without accents, so « Collège », « COLLEGE » and « college » read alike.
pub(crate) fn fold(text: &str) -> String {
    text.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' | 'ì' => 'i',
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            other => other,
        })
        .collect()
}

/// Normalises a department code: `057` → `57`, `8` → `08`, `02a` → `2A`, `971` stays;
/// `None` if it is not a department code.
pub fn normalize_department(code: &str) -> Option<String> {
    let upper = code.trim().to_ascii_uppercase();
    if upper.is_empty() || upper.len() > 3 {
        return None;
    }
    let stripped = upper.trim_start_matches('0');
    if stripped == "2A" || stripped == "2B" {
        return Some(stripped.to_owned());
    }
    if !upper.bytes().all(|b| b.is_ascii_digit()) || stripped.is_empty() {
        return None;
    }
    Some(format!("{stripped:0>2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uai(digits: &str) -> Uai {
        let letter = crate::domain::uai::check_letter(digits).unwrap();
        Uai::parse(&format!("{digits}{letter}")).unwrap()
    }

    fn school(digits: &str, name: &str, school_type: SchoolType, department: &str) -> School {
        School {
            uai: uai(digits),
            name: name.to_owned(),
            school_type,
            public: true,
            department: department.to_owned(),
            commune_code: Some("57463".to_owned()),
            commune_name: Some("Metz".to_owned()),
            academie_code: "12".to_owned(),
            academie_name: "Nancy-Metz".to_owned(),
            region_code: "44".to_owned(),
            email: None,
            agricultural: false,
        }
    }

    fn authority(id: &str, name: &str, kind: AuthorityKind, code: &str) -> Authority {
        Authority {
            id: id.to_owned(),
            name: name.to_owned(),
            kind,
            code: code.to_owned(),
            email: EmailAddress::parse("communication@example.fr").unwrap(),
        }
    }

    fn region() -> Authority {
        authority(
            "region-grand-est",
            "Région Grand Est",
            AuthorityKind::Region,
            "44",
        )
    }

    fn moselle() -> Authority {
        authority(
            "departement-moselle",
            "Département de la Moselle",
            AuthorityKind::Departement,
            "057",
        )
    }

    fn metz() -> Authority {
        authority(
            "commune-metz",
            "Ville de Metz",
            AuthorityKind::Commune,
            "57463",
        )
    }

    #[test]
    fn departments_normalise() {
        assert_eq!(normalize_department("057").as_deref(), Some("57"));
        assert_eq!(normalize_department(" 57 ").as_deref(), Some("57"));
        assert_eq!(normalize_department("8").as_deref(), Some("08"));
        assert_eq!(normalize_department("008").as_deref(), Some("08"));
        assert_eq!(normalize_department("02A").as_deref(), Some("2A"));
        assert_eq!(normalize_department("2a").as_deref(), Some("2A"));
        assert_eq!(normalize_department("2b").as_deref(), Some("2B"));
        assert_eq!(normalize_department("971").as_deref(), Some("971"));
        for bad in ["", "000", "2C", "1234", "5 7", "A1", "é"] {
            assert_eq!(normalize_department(bad), None, "{bad}");
        }
    }

    #[test]
    fn labels_avoid_repeating_the_type() {
        let c = school("0570012", "Collège Jean Moulin", SchoolType::College, "57");
        assert_eq!(c.label(), "Le collège Jean Moulin");
        let e = school(
            "0570400",
            "Ecole élémentaire Jules Ferry",
            SchoolType::Ecole,
            "57",
        );
        assert_eq!(e.label(), "L'école élémentaire Jules Ferry");
        let l = school("0570054", "Fabert", SchoolType::Lycee, "57");
        assert_eq!(l.label(), "Le lycée Fabert");
        let o = school("0570999", "EREA Metz", SchoolType::Other, "57");
        assert_eq!(o.label(), "L'établissement EREA Metz");
    }

    #[test]
    fn region_publishes_to_its_lycees_only() {
        let lycee = school("0570054", "Lycée Fabert", SchoolType::Lycee, "57");
        assert!(check_remit(&region(), &lycee).is_ok());
        let mut agricultural = school(
            "0570112",
            "Lycée agricole de Courcelles-Chaussy",
            SchoolType::Lycee,
            "57",
        );
        agricultural.agricultural = true;
        assert!(check_remit(&region(), &agricultural).is_ok());

        let college = school("0570012", "Collège Jean Moulin", SchoolType::College, "57");
        let refusal = check_remit(&region(), &college).unwrap_err();
        assert_eq!(refusal.cause, RemitCause::SchoolType);
        assert_eq!(
            refusal.reason,
            format!(
                "Le collège Jean Moulin ({}) ne relève pas du ressort de la Région Grand Est : une région ne publie que vers ses lycées.",
                college.uai
            )
        );

        let mut elsewhere = lycee.clone();
        elsewhere.region_code = "11".to_owned();
        let refusal = check_remit(&region(), &elsewhere).unwrap_err();
        assert_eq!(refusal.cause, RemitCause::Territory);
        assert!(
            refusal.reason.contains(
                "est situé dans la région 11, hors du ressort de la Région Grand Est (44)"
            ),
            "{}",
            refusal.reason
        );
    }

    #[test]
    fn departement_publishes_to_its_colleges_only() {
        let college = school("0570012", "Collège Jean Moulin", SchoolType::College, "57");
        assert!(check_remit(&moselle(), &college).is_ok());
        let mut unnormalised = college.clone();
        unnormalised.department = "057".to_owned();
        assert!(check_remit(&moselle(), &unnormalised).is_ok());

        let lycee = school("0570054", "Lycée Fabert", SchoolType::Lycee, "57");
        let refusal = check_remit(&moselle(), &lycee).unwrap_err();
        assert_eq!(refusal.cause, RemitCause::SchoolType);
        assert!(
            refusal.reason.contains(
                "ne relève pas du ressort du Département de la Moselle : un département ne publie que vers ses collèges."
            ),
            "{}",
            refusal.reason
        );

        let strasbourg = school("0670011", "Collège Foch", SchoolType::College, "67");
        let refusal = check_remit(&moselle(), &strasbourg).unwrap_err();
        assert_eq!(refusal.cause, RemitCause::Territory);
        assert_eq!(
            refusal.reason,
            format!(
                "Le collège Foch ({}) est situé dans le département 67, hors du ressort du Département de la Moselle (057).",
                strasbourg.uai
            )
        );
    }

    #[test]
    fn corsican_departments_match_however_written() {
        let corse = authority(
            "departement-corse-du-sud",
            "Collectivité de Corse",
            AuthorityKind::Departement,
            "2a",
        );
        let college = school("6200001", "Collège Fesch", SchoolType::College, "02A");
        assert!(check_remit(&corse, &college).is_ok());
    }

    #[test]
    fn commune_publishes_to_its_ecoles_only() {
        let ecole = school(
            "0570400",
            "École élémentaire Jules Ferry",
            SchoolType::Ecole,
            "57",
        );
        assert!(check_remit(&metz(), &ecole).is_ok());

        let college = school("0570012", "Collège Jean Moulin", SchoolType::College, "57");
        let refusal = check_remit(&metz(), &college).unwrap_err();
        assert!(
            refusal
                .reason
                .contains("de la Ville de Metz : une commune ne publie que vers ses écoles.")
        );

        let mut woippy = ecole.clone();
        woippy.commune_code = Some("57751".to_owned());
        woippy.commune_name = Some("Woippy".to_owned());
        let refusal = check_remit(&metz(), &woippy).unwrap_err();
        assert_eq!(refusal.cause, RemitCause::Territory);
        assert_eq!(
            refusal.reason,
            "L'école élémentaire Jules Ferry (0570400A) est située dans la commune de Woippy (57751), hors du ressort de la Ville de Metz (57463)."
        );

        let mut unknown = ecole;
        unknown.commune_code = None;
        let refusal = check_remit(&metz(), &unknown).unwrap_err();
        assert!(refusal.reason.contains("n'a pas de code commune"));
    }

    #[test]
    fn arbitrators_route_by_ministry() {
        let lycee = school("0570054", "Lycée Fabert", SchoolType::Lycee, "57");
        let r = arbitrator_for(&lycee);
        assert_eq!(r.kind, ArbitratorKind::Rectorat);
        assert_eq!(r.to_string(), "rectorat:12");
        let mut agricultural = lycee;
        agricultural.agricultural = true;
        let r = arbitrator_for(&agricultural);
        assert_eq!(r.to_string(), "draaf:44");
        assert_eq!("draaf:44".parse::<ArbitratorRef>().unwrap(), r);
        assert_eq!(
            " Rectorat:12 ".parse::<ArbitratorRef>().unwrap(),
            ArbitratorRef {
                kind: ArbitratorKind::Rectorat,
                code: "12".to_owned()
            }
        );
        for bad in [
            "",
            "rectorat",
            "rectorat:",
            "préfecture:57",
            "draaf:4 4",
            ":12",
        ] {
            let err = bad.parse::<ArbitratorRef>().unwrap_err();
            assert!(err.to_string().contains("rectorat:12"), "{bad}");
        }
    }

    #[test]
    fn arbitrator_ref_serialises_as_its_string() {
        #[derive(Serialize, Deserialize)]
        struct Holder {
            arbitrator: ArbitratorRef,
        }
        let h: Holder = toml::from_str("arbitrator = \"draaf:44\"").unwrap();
        assert_eq!(h.arbitrator.kind, ArbitratorKind::Draaf);
        assert_eq!(
            toml::to_string(&h).unwrap().trim(),
            "arbitrator = \"draaf:44\""
        );
        assert!(toml::from_str::<Holder>("arbitrator = \"x\"").is_err());
    }

    const TOML: &str = r#"
[[authorities]]
id = "region-grand-est"
name = "Région Grand Est"
kind = "region"
code = "44"
email = "Communication@GrandEst.fr"

[[authorities]]
id = "departement-moselle"
name = "Département de la Moselle"
kind = "Département"
code = "057"
email = "communication@moselle.fr"

[[rectorats]]
code = "12"
name = "Rectorat de l'académie de Nancy-Metz"
email = "ce.recteur@ac-nancy-metz.fr"

[[draafs]]
code = "44"
name = "DRAAF Grand Est"
email = "draaf-grand-est@agriculture.gouv.fr"

[[academic_services]]
code = "12"
name = "DANE de Nancy-Metz"
email = "dane@ac-nancy-metz.fr"
"#;

    #[test]
    fn directory_parses_and_looks_up() {
        let d = Directory::parse_toml(TOML).unwrap();
        let region = d.authority("region-grand-est").unwrap();
        assert_eq!(region.kind, AuthorityKind::Region);
        assert_eq!(region.email.as_str(), "Communication@grandest.fr");
        assert_eq!(d.authority("departement-moselle").unwrap().code, "57");
        assert!(d.authority("commune-metz").is_none());
        let r: ArbitratorRef = "rectorat:12".parse().unwrap();
        assert_eq!(
            d.arbitrator_contact(&r).unwrap().email.as_str(),
            "ce.recteur@ac-nancy-metz.fr"
        );
        let draaf: ArbitratorRef = "draaf:44".parse().unwrap();
        assert_eq!(
            d.arbitrator_contact(&draaf).unwrap().name,
            "DRAAF Grand Est"
        );
        assert!(
            d.arbitrator_contact(&"rectorat:15".parse().unwrap())
                .is_none()
        );
        assert_eq!(
            d.academic_services_for("12").unwrap().name,
            "DANE de Nancy-Metz"
        );
        assert!(d.academic_services_for("012").is_some());
        assert!(d.academic_services_for("19").is_none());

        let lycee = school("0570054", "Lycée Fabert", SchoolType::Lycee, "57");
        let ids: Vec<&str> = d.authorities_for(&lycee).map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["region-grand-est"]);
    }

    #[test]
    fn directory_errors_are_french_and_precise() {
        let err = |text: &str| Directory::parse_toml(text).unwrap_err();

        let e = err("[[authorities]\nid = 1");
        assert!(matches!(e, DirectoryError::Syntax(_)));
        assert!(
            e.to_string()
                .starts_with("Le fichier d'annuaire des collectivités est illisible")
        );

        let dup = format!(
            "{TOML}\n[[authorities]]\nid = \"region-grand-est\"\nname = \"Autre\"\nkind = \"region\"\ncode = \"44\"\nemail = \"a@b.fr\"\n"
        );
        assert_eq!(
            err(&dup),
            DirectoryError::DuplicateId("region-grand-est".into())
        );

        let e = err(
            "[[authorities]]\nid = \"x\"\nname = \"X\"\nkind = \"canton\"\ncode = \"1\"\nemail = \"a@b.fr\"\n",
        );
        assert!(matches!(e, DirectoryError::UnknownKind { .. }));
        assert!(
            e.to_string().contains("le type « canton » est inconnu"),
            "{e}"
        );

        let e = err(
            "[[authorities]]\nid = \"x\"\nname = \"X\"\nkind = \"commune\"\ncode = \"57463\"\nemail = \"pas-une-adresse\"\n",
        );
        assert!(matches!(e, DirectoryError::InvalidEmail { .. }));
        assert!(
            e.to_string()
                .starts_with("Collectivité « x » : adresse électronique refusée."),
            "{e}"
        );

        let e = err(
            "[[authorities]]\nid = \"x\"\nname = \"X\"\nkind = \"commune\"\ncode = \"57463\"\n",
        );
        assert_eq!(
            e.to_string(),
            "Collectivité « x » : le champ « email » est manquant ou vide."
        );

        let e = err("[[authorities]]\nid = \"Région Grand Est\"\n");
        assert!(matches!(e, DirectoryError::InvalidId { .. }));

        let e = err(
            "[[authorities]]\nid = \"x\"\nname = \"X\"\nkind = \"departement\"\ncode = \"5700\"\nemail = \"a@b.fr\"\n",
        );
        assert!(matches!(e, DirectoryError::InvalidCode { .. }));

        let e = err(
            "[[rectorats]]\ncode = \"12\"\nname = \"A\"\nemail = \"a@b.fr\"\n[[rectorats]]\ncode = \"012\"\nname = \"B\"\nemail = \"b@b.fr\"\n",
        );
        assert!(matches!(e, DirectoryError::DuplicateCode { .. }));

        assert!(matches!(
            err("[[prefectures]]\ncode = \"1\""),
            DirectoryError::Syntax(_)
        ));
        assert_eq!(Directory::parse_toml("").unwrap(), Directory::default());
    }

    proptest::proptest! {
        #[test]
        fn toml_never_panics(body in "\\PC{0,200}") {
            let _ = Directory::parse_toml(&body).map_err(|e| e.to_string());
        }
    }
}
