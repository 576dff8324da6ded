//! The « annuaire de l'éducation » export, read into schools: a file format, so an adapter
//! beside the domain's directory, which only knows schools.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::domain::directory::{School, SchoolType, fold, normalize_department};
use crate::domain::email::EmailAddress;
use crate::domain::uai::Uai;

/// A line of the annuaire that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based line number in the file, as a spreadsheet shows it.
    pub line: usize,
    /// What is wrong, in French.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ligne {} : {}", self.line, self.message)
    }
}

/// The outcome of an annuaire import: the good rows, and the bad ones to show the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AnnuaireImport {
    /// Schools read, in file order, one per UAI.
    pub schools: Vec<School>,
    /// Rows skipped, by line.
    pub errors: Vec<RowError>,
}

/// Columns of the annuaire export, by folded header name.
struct Columns {
    uai: usize,
    name: usize,
    school_type: usize,
    department: usize,
    academie_code: usize,
    academie_name: usize,
    region: usize,
    status: Option<usize>,
    commune_code: Option<usize>,
    commune_name: Option<usize>,
    email: Option<usize>,
    agricultural: Option<usize>,
    ministry: Option<usize>,
}

const REQUIRED_COLUMNS: [&str; 7] = [
    "Identifiant_de_l_etablissement",
    "Nom_etablissement",
    "Type_etablissement",
    "Code_departement",
    "Code_academie",
    "Libelle_academie",
    "Code_region",
];

impl Columns {
    fn find(header: &csv::StringRecord) -> Result<Columns, Vec<&'static str>> {
        // Spaces and hyphens count as underscores: hand-edited exports drift that way.
        let names: Vec<String> = header
            .iter()
            .map(|h| fold(h).replace([' ', '-'], "_"))
            .collect();
        let at = |wanted: &str| names.iter().position(|n| *n == fold(wanted));
        let mut missing = Vec::new();
        let mut req = [0usize; 7];
        for (slot, wanted) in req.iter_mut().zip(REQUIRED_COLUMNS) {
            match at(wanted) {
                Some(i) => *slot = i,
                None => missing.push(wanted),
            }
        }
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(Columns {
            uai: req[0],
            name: req[1],
            school_type: req[2],
            department: req[3],
            academie_code: req[4],
            academie_name: req[5],
            region: req[6],
            status: at("Statut_public_prive"),
            commune_code: at("Code_commune"),
            commune_name: at("Nom_commune"),
            email: at("Mail"),
            agricultural: at("Lycee_agricole"),
            ministry: at("Ministere_tutelle"),
        })
    }
}

fn cell(record: &csv::StringRecord, index: usize) -> &str {
    record.get(index).map(str::trim).unwrap_or("")
}

fn optional_cell(record: &csv::StringRecord, index: Option<usize>) -> Option<String> {
    index
        .map(|i| cell(record, i))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn parse_row(record: &csv::StringRecord, cols: &Columns) -> Result<School, String> {
    let mut problems = Vec::new();
    let raw_uai = cell(record, cols.uai);
    let uai = if raw_uai.is_empty() {
        problems.push("Le code UAI (Identifiant_de_l_etablissement) est vide.".to_owned());
        None
    } else {
        Uai::parse(raw_uai)
            .map_err(|e| problems.push(e.to_string()))
            .ok()
    };
    let name = cell(record, cols.name).to_owned();
    if name.is_empty() {
        problems.push("Le nom de l'établissement (Nom_etablissement) est vide.".to_owned());
    }
    let school_type = SchoolType::from_annuaire(cell(record, cols.school_type));
    let public = match cols.status.map(|i| fold(cell(record, i))).as_deref() {
        // Most schools are public and the flag only informs, so a blank is not worth a refusal.
        None | Some("") | Some("public") => true,
        Some("prive") => false,
        Some(_) => {
            problems.push(format!(
                "Le statut « {} » est inconnu : attendu « Public » ou « Privé ».",
                cols.status.map(|i| cell(record, i)).unwrap_or("")
            ));
            true
        }
    };
    let raw_department = cell(record, cols.department);
    let department = normalize_department(raw_department).unwrap_or_else(|| {
        problems.push(if raw_department.is_empty() {
            "Le code département (Code_departement) est vide.".to_owned()
        } else {
            format!(
                "Le code département « {raw_department} » est invalide : attendu par exemple 057, 2A ou 971."
            )
        });
        String::new()
    });
    let academie_code = cell(record, cols.academie_code).to_owned();
    if academie_code.is_empty() {
        problems.push("Le code académie (Code_academie) est vide.".to_owned());
    }
    let academie_name = cell(record, cols.academie_name).to_owned();
    if academie_name.is_empty() {
        problems.push("Le nom de l'académie (Libelle_academie) est vide.".to_owned());
    }
    let region_code = cell(record, cols.region).to_owned();
    if region_code.is_empty() {
        problems.push("Le code région (Code_region) est vide.".to_owned());
    }
    let email = match optional_cell(record, cols.email) {
        None => None,
        Some(text) => EmailAddress::parse(&text)
            .map_err(|e| problems.push(format!("Adresse électronique (Mail) refusée. {e}")))
            .ok(),
    };
    let agricultural_flag = match cols.agricultural.map(|i| fold(cell(record, i))).as_deref() {
        None | Some("") | Some("0") | Some("non") | Some("n") | Some("false") => false,
        Some("1") | Some("oui") | Some("o") | Some("true") => true,
        Some(_) => {
            problems.push(format!(
                "La valeur « {} » de Lycee_agricole est inconnue : attendu 1, 0, oui ou non.",
                cols.agricultural.map(|i| cell(record, i)).unwrap_or("")
            ));
            false
        }
    };
    let under_agriculture = cols
        .ministry
        .is_some_and(|i| fold(cell(record, i)).contains("agriculture"));
    match uai {
        Some(uai) if problems.is_empty() => Ok(School {
            uai,
            name,
            school_type,
            public,
            department,
            commune_code: optional_cell(record, cols.commune_code),
            commune_name: optional_cell(record, cols.commune_name),
            academie_code,
            academie_name,
            region_code,
            email,
            agricultural: agricultural_flag || under_agriculture,
        }),
        _ => Err(problems.join(" ")),
    }
}

/// Reads the « annuaire de l'éducation » export (semicolon-separated, UTF-8, header row):
/// keeps the good rows, reports the bad ones by line, and keeps the last row of a repeated UAI.
pub fn parse_annuaire_csv(text: &str) -> AnnuaireImport {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut import = AnnuaireImport::default();
    let mut records = reader.records();
    let cols = match records.next() {
        None => {
            import.errors.push(RowError {
                line: 1,
                message: "Le fichier est vide : la première ligne doit porter les noms de colonnes de l'annuaire.".to_owned(),
            });
            return import;
        }
        Some(Err(e)) => {
            import.errors.push(RowError {
                line: 1,
                message: format!("La ligne d'en-tête est illisible : {e}"),
            });
            return import;
        }
        Some(Ok(header)) => match Columns::find(&header) {
            Ok(cols) => cols,
            Err(missing) => {
                let plural = if missing.len() > 1 { "s" } else { "" };
                import.errors.push(RowError {
                    line: 1,
                    message: format!(
                        "Colonne{plural} obligatoire{plural} absente{plural} de l'en-tête : {}. Exportez l'annuaire de l'éducation au format officiel (séparateur point-virgule).",
                        missing.join(", ")
                    ),
                });
                return import;
            }
        },
    };
    // Each kept school remembers its line so that a later duplicate can report it.
    let mut kept: Vec<Option<(usize, School)>> = Vec::new();
    let mut by_uai: HashMap<Uai, usize> = HashMap::new();
    for result in records {
        let record = match result {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                import.errors.push(RowError {
                    line,
                    message: format!("Ligne illisible : {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        match parse_row(&record, &cols) {
            Ok(school) => {
                if let Some(previous) = by_uai.insert(school.uai.clone(), kept.len())
                    && let Some((previous_line, _)) = kept.get_mut(previous).and_then(Option::take)
                {
                    import.errors.push(RowError {
                            line: previous_line,
                            message: format!(
                                "L'établissement {} apparaît de nouveau ligne {line} : cette ligne-ci est ignorée, la dernière fait foi.",
                                school.uai
                            ),
                    });
                }
                kept.push(Some((line, school)));
            }
            Err(message) => import.errors.push(RowError { line, message }),
        }
    }
    import.schools = kept.into_iter().flatten().map(|(_, s)| s).collect();
    import.errors.sort_by_key(|e| e.line);
    import
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Identifiant_de_l_etablissement;Nom_etablissement;Type_etablissement;Statut_public_prive;Code_commune;Nom_commune;Code_departement;Code_academie;Libelle_academie;Code_region;Mail;Lycee_agricole;Ministere_tutelle";

    fn csv(rows: &[&str]) -> String {
        let mut text = HEADER.to_owned();
        for row in rows {
            text.push('\n');
            text.push_str(row);
        }
        text.push('\n');
        text
    }

    #[test]
    fn csv_reads_good_rows() {
        let import = parse_annuaire_csv(&csv(&[
            "0570054Z;Lycée Fabert;Lycée;Public;57463;Metz;057;12;Nancy-Metz;44;ce.0570054Z@ac-nancy-metz.fr;0;MINISTERE DE L'EDUCATION NATIONALE",
            "0570012d;Collège Jean Moulin;COLLEGE;Privé;57463;Metz;057;12;Nancy-Metz;44;;;",
            "0570112M;Lycée agricole;lycee;Public;57153;Courcelles-Chaussy;57;12;Nancy-Metz;44;;;MINISTERE DE L'AGRICULTURE",
            "0570113N;Lycée agricole bis;Lycée;Public;;;57;12;Nancy-Metz;44;;oui;",
            "0570900U;Centre d'information et d'orientation;Information et orientation;Public;57463;Metz;57;12;Nancy-Metz;44;;;",
        ]));
        assert_eq!(import.errors, vec![]);
        let s = &import.schools;
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].school_type, SchoolType::Lycee);
        assert_eq!(s[0].department, "57");
        assert_eq!(
            s[0].email.as_ref().unwrap().as_str(),
            "ce.0570054Z@ac-nancy-metz.fr"
        );
        assert!(!s[0].agricultural);
        assert_eq!(s[1].uai.as_str(), "0570012D");
        assert_eq!(s[1].school_type, SchoolType::College);
        assert!(!s[1].public);
        assert_eq!(s[1].email, None);
        assert!(s[2].agricultural, "ministry marks agricultural");
        assert!(s[3].agricultural, "Lycee_agricole marks agricultural");
        assert_eq!(s[3].commune_code, None);
        assert_eq!(s[4].school_type, SchoolType::Other);
    }

    #[test]
    fn csv_headers_ignore_case_accents_bom_and_extra_columns() {
        let text = "\u{feff}Telephone;IDENTIFIANT_DE_L_ETABLISSEMENT;nom_établissement;Type_Établissement;Code_Département;code_academie;Libellé_Académie;CODE_REGION;Lycee_Agricole;Adresse_1\r\n\
                    03 87 00 00 00;0570054Z;Lycée Fabert;Lycée;57;12;Nancy-Metz;44;1;12 rue Saint-Vincent\r\n";
        let import = parse_annuaire_csv(text);
        assert_eq!(import.errors, vec![]);
        assert_eq!(import.schools.len(), 1);
        let s = &import.schools[0];
        assert_eq!(s.uai.as_str(), "0570054Z");
        assert!(s.agricultural);
        assert!(s.public);
        assert_eq!(s.commune_code, None);
    }

    #[test]
    fn csv_reports_bad_rows_by_line_and_keeps_the_rest() {
        let import = parse_annuaire_csv(&csv(&[
            "0570054Z;Lycée Fabert;Lycée;Public;57463;Metz;057;12;Nancy-Metz;44;;;",
            "0570054A;Lycée Faux;Lycée;Public;57463;Metz;057;12;Nancy-Metz;44;;;",
            "0570012D;;Collège;Public;57463;Metz;057;12;Nancy-Metz;44;pas une adresse;;",
            "0570012D;Collège Jean Moulin;Collège;Public;57463;Metz;ZZ;12;Nancy-Metz;44;;peut-être;",
            "0670011;Collège Foch;Collège;Semi-public;67482;Strasbourg;067;15;Strasbourg;44;;;",
            "0570012D;Collège Jean Moulin;Collège;Public;57463;Metz;057;12;Nancy-Metz;44;;;",
        ]));
        let lines: Vec<usize> = import.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 6], "{:#?}", import.errors);
        assert!(import.errors[0].message.contains("doit être Z, pas A"));
        assert!(import.errors[1].message.contains("Nom_etablissement"));
        assert!(
            import.errors[1]
                .message
                .contains("Adresse électronique (Mail) refusée")
        );
        assert!(
            import.errors[2]
                .message
                .contains("Le code département « ZZ » est invalide")
        );
        assert!(import.errors[2].message.contains("Lycee_agricole"));
        assert!(
            import.errors[3]
                .message
                .contains("il compte 7 caractère(s)")
        );
        assert!(import.errors[3].message.contains("Semi-public"));
        assert_eq!(
            import.errors[1].to_string().split(" : ").next(),
            Some("Ligne 4")
        );
        let uais: Vec<&str> = import.schools.iter().map(|s| s.uai.as_str()).collect();
        assert_eq!(uais, ["0570054Z", "0570012D"]);
    }

    proptest::proptest! {
        #[test]
        fn csv_never_panics(body in "[0-9A-Za-zéÉ;\"\n\r ,@.-]{0,200}") {
            let text = format!("{HEADER}\n{body}");
            let import = parse_annuaire_csv(&text);
            proptest::prop_assert!(import.errors.iter().all(|e| e.line >= 1));
            let _ = parse_annuaire_csv(&body);
        }
    }

    #[test]
    fn csv_blank_required_cells_are_named() {
        let import = parse_annuaire_csv(&csv(&[";Lycée Fabert;Lycée;Public;57463;Metz;;;;;;;"]));
        assert!(import.schools.is_empty());
        assert_eq!(import.errors.len(), 1);
        let m = &import.errors[0].message;
        for expected in [
            "Le code UAI (Identifiant_de_l_etablissement) est vide.",
            "Le code département (Code_departement) est vide.",
            "Le code académie (Code_academie) est vide.",
            "Le nom de l'académie (Libelle_academie) est vide.",
            "Le code région (Code_region) est vide.",
        ] {
            assert!(m.contains(expected), "{m}");
        }
    }

    #[test]
    fn csv_duplicates_keep_the_last() {
        let import = parse_annuaire_csv(&csv(&[
            "0570012D;Ancien nom;Collège;Public;57463;Metz;057;12;Nancy-Metz;44;;;",
            "0570054Z;Lycée Fabert;Lycée;Public;57463;Metz;057;12;Nancy-Metz;44;;;",
            "0570012D;Collège Jean Moulin;Collège;Public;57463;Metz;057;12;Nancy-Metz;44;;;",
        ]));
        assert_eq!(import.errors.len(), 1);
        assert_eq!(import.errors[0].line, 2);
        assert!(
            import.errors[0]
                .message
                .contains("apparaît de nouveau ligne 4")
        );
        let names: Vec<&str> = import.schools.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Lycée Fabert", "Collège Jean Moulin"]);
    }

    #[test]
    fn csv_missing_columns_is_one_error_on_line_one() {
        let import = parse_annuaire_csv(
            "Identifiant_de_l_etablissement;Nom_etablissement;Code_departement\n0570054Z;Lycée Fabert;57\n",
        );
        assert!(import.schools.is_empty());
        assert_eq!(import.errors.len(), 1);
        assert_eq!(import.errors[0].line, 1);
        let m = &import.errors[0].message;
        for col in [
            "Type_etablissement",
            "Code_academie",
            "Libelle_academie",
            "Code_region",
        ] {
            assert!(m.contains(col), "{m}");
        }
        assert!(m.starts_with("Colonnes obligatoires absentes"), "{m}");

        let empty = parse_annuaire_csv("");
        assert_eq!(empty.errors.len(), 1);
        assert_eq!(empty.errors[0].line, 1);
        let comma = parse_annuaire_csv(&HEADER.replace(';', ","));
        assert_eq!(comma.errors.len(), 1);
    }

    #[test]
    fn csv_short_rows_and_quotes_do_not_panic() {
        let import = parse_annuaire_csv(&csv(&[
            "0570054Z",
            "\"0570012D\";\"Collège \"\"Jean Moulin\"\"\";Collège;Public;57463;Metz;057;12;Nancy-Metz;44",
            "\"unterminated;x",
        ]));
        assert_eq!(import.schools.len(), 1);
        assert_eq!(import.schools[0].name, "Collège \"Jean Moulin\"");
        assert_eq!(import.errors[0].line, 2);
    }
}
