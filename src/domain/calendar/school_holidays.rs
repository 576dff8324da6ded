//! Vacances scolaires : zones, académies et lecture du jeu de données
//! `fr-en-calendrier-scolaire` (export CSV séparé par des points-virgules).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::CalendarError;

/// A school-holiday zone: "A", "B", "C", or a name such as "Corse" or "Réunion".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SchoolZone(String);

// Canonical spellings for the named zones, keyed by folded form, so that
// "Reunion", "La Réunion" and "RÉUNION" all compare equal.
const NAMED_ZONES: &[(&str, &str)] = &[
    ("corse", "Corse"),
    ("guadeloupe", "Guadeloupe"),
    ("martinique", "Martinique"),
    ("guyane", "Guyane"),
    ("reunion", "Réunion"),
    ("lareunion", "Réunion"),
    ("mayotte", "Mayotte"),
    ("polynesie", "Polynésie"),
    ("polynesiefrancaise", "Polynésie"),
    ("nouvellecaledonie", "Nouvelle Calédonie"),
    ("wallisetfutuna", "Wallis et Futuna"),
    ("saintpierreetmiquelon", "Saint Pierre et Miquelon"),
];

impl SchoolZone {
    /// Normalises "Zone A", "zone b", "C", "La Réunion"… to a zone; rejects empty input.
    pub fn parse(input: &str) -> Result<SchoolZone, CalendarError> {
        let trimmed = input.split_whitespace().collect::<Vec<_>>().join(" ");
        let folded = fold(&trimmed);
        let letter = folded.strip_prefix("zone").unwrap_or(&folded);
        if let "a" | "b" | "c" = letter {
            return Ok(SchoolZone(letter.to_ascii_uppercase()));
        }
        if let Some((_, canonical)) = NAMED_ZONES.iter().find(|(key, _)| *key == folded) {
            return Ok(SchoolZone((*canonical).to_owned()));
        }
        if folded.is_empty() {
            return Err(CalendarError::InvalidZone(input.to_owned()));
        }
        // Unknown names are kept rather than rejected: the ministry may add a
        // zone before this table learns about it.
        Ok(SchoolZone(trimmed))
    }

    /// The normalised zone: "A", "B", "C" or a name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Label for a reader: "zone A" for lettered zones, the name otherwise.
    pub fn label(&self) -> String {
        if self.0.len() == 1 {
            format!("zone {}", self.0)
        } else {
            self.0.clone()
        }
    }
}

impl fmt::Display for SchoolZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SchoolZone {
    type Err = CalendarError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchoolZone::parse(s)
    }
}

impl TryFrom<String> for SchoolZone {
    type Error = CalendarError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        SchoolZone::parse(&value)
    }
}

impl From<SchoolZone> for String {
    fn from(zone: SchoolZone) -> String {
        zone.0
    }
}

/// One school-holiday period of a zone, covering local dates `start <= d < end_exclusive`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchoolHolidayPeriod {
    /// Description from the dataset ("Vacances de la Toussaint").
    pub description: String,
    /// Zone the period applies to.
    pub zone: SchoolZone,
    /// First day of holidays.
    #[serde(serialize_with = "super::serde_date::date")]
    pub start: Date,
    /// Day classes resume (first day not in the period).
    #[serde(serialize_with = "super::serde_date::date")]
    pub end_exclusive: Date,
}

impl SchoolHolidayPeriod {
    /// Whether `date` lies inside the period.
    pub fn contains(&self, date: Date) -> bool {
        self.start <= date && date < self.end_exclusive
    }
}

/// A dataset row that could not be used, with its line number in the CSV text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based line number in the CSV text (the header is line 1).
    pub line: usize,
    /// French explanation.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ligne {} : {}", self.line, self.message)
    }
}

/// The school-holiday calendar, as parsed from the official dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchoolHolidays {
    periods: Vec<SchoolHolidayPeriod>,
}

#[derive(Debug, Default)]
struct Columns {
    description: Option<usize>,
    population: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    academies: Option<usize>,
    zones: Option<usize>,
}

impl Columns {
    fn from_header(header: &csv::StringRecord) -> Columns {
        let mut columns = Columns::default();
        for (index, name) in header.iter().enumerate() {
            let slot = match fold(name).as_str() {
                "description" => &mut columns.description,
                "population" => &mut columns.population,
                "datededebut" | "debut" | "startdate" => &mut columns.start,
                "datedefin" | "fin" | "enddate" => &mut columns.end,
                "academies" | "academie" | "location" => &mut columns.academies,
                "zones" | "zone" => &mut columns.zones,
                _ => continue,
            };
            slot.get_or_insert(index);
        }
        columns
    }

    fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.description.is_none() {
            missing.push("Description");
        }
        if self.start.is_none() {
            missing.push("Date de début");
        }
        if self.end.is_none() {
            missing.push("Date de fin");
        }
        if self.zones.is_none() && self.academies.is_none() {
            missing.push("Zones");
        }
        missing
    }
}

fn field(record: &csv::StringRecord, index: Option<usize>) -> &str {
    index.and_then(|i| record.get(i)).unwrap_or("").trim()
}

impl SchoolHolidays {
    /// Builds a calendar from already-known periods (sorted and de-duplicated here).
    pub fn from_periods(periods: Vec<SchoolHolidayPeriod>) -> SchoolHolidays {
        let mut periods = periods;
        periods.sort_by(|a, b| {
            (&a.zone, a.start, a.end_exclusive, &a.description).cmp(&(
                &b.zone,
                b.start,
                b.end_exclusive,
                &b.description,
            ))
        });
        // The dataset repeats each period once per académie of the zone.
        periods.dedup();
        SchoolHolidays { periods }
    }

    /// Parses the `fr-en-calendrier-scolaire` CSV export; unusable rows are skipped and reported.
    pub fn parse_csv(text: &str) -> (SchoolHolidays, Vec<RowError>) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut errors = Vec::new();

        let columns = match reader.headers() {
            Ok(header) => Columns::from_header(header),
            Err(e) => {
                errors.push(RowError {
                    line: 1,
                    message: format!("en-tête illisible : {e}"),
                });
                return (SchoolHolidays::default(), errors);
            }
        };
        let missing = columns.missing();
        if !missing.is_empty() {
            errors.push(RowError {
                line: 1,
                message: format!(
                    "colonnes manquantes dans l'en-tête : {}",
                    missing.join(", ")
                ),
            });
            return (SchoolHolidays::default(), errors);
        }

        let mut periods = Vec::new();
        for result in reader.records() {
            match result {
                Ok(record) => {
                    let line = record
                        .position()
                        .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
                    match parse_row(&record, &columns) {
                        Ok(Some(period)) => periods.push(period),
                        Ok(None) => {}
                        Err(message) => errors.push(RowError { line, message }),
                    }
                }
                Err(e) => {
                    let line = e
                        .position()
                        .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
                    errors.push(RowError {
                        line,
                        message: format!("ligne illisible : {e}"),
                    });
                }
            }
        }
        (SchoolHolidays::from_periods(periods), errors)
    }

    /// The holiday period of `zone` that contains `date`, if any.
    pub fn period_containing(&self, zone: &SchoolZone, date: Date) -> Option<&SchoolHolidayPeriod> {
        self.periods
            .iter()
            .find(|period| &period.zone == zone && period.contains(date))
    }

    /// All periods, sorted by zone then start date.
    pub fn periods(&self) -> &[SchoolHolidayPeriod] {
        &self.periods
    }

    /// Number of distinct periods.
    pub fn len(&self) -> usize {
        self.periods.len()
    }

    /// Whether no period was loaded.
    pub fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }
}

/// `Ok(None)` for rows deliberately left out (teachers-only periods).
fn parse_row(
    record: &csv::StringRecord,
    columns: &Columns,
) -> Result<Option<SchoolHolidayPeriod>, String> {
    // Teachers-only rows (pre-rentrée) do not close schools to pupils, so a
    // head of school is expected at work then.
    if fold(field(record, columns.population)) == "enseignants" {
        return Ok(None);
    }
    let description = field(record, columns.description);
    if description.is_empty() {
        return Err("description vide".to_owned());
    }
    let start_text = field(record, columns.start);
    let start = parse_dataset_date(start_text)
        .ok_or_else(|| format!("date de début illisible : « {start_text} »"))?;
    let end_text = field(record, columns.end);
    let end_exclusive = parse_dataset_date(end_text)
        .ok_or_else(|| format!("date de fin illisible : « {end_text} »"))?;
    if end_exclusive <= start {
        return Err(format!(
            "la date de fin ({end_exclusive}) n'est pas postérieure à la date de début ({start})"
        ));
    }
    let zone_text = field(record, columns.zones);
    let zone = if zone_text.is_empty() {
        let academie = field(record, columns.academies);
        zone_for_academie(academie)
            .ok_or_else(|| format!("zone absente et académie inconnue : « {academie} »"))?
    } else {
        SchoolZone::parse(zone_text).map_err(|e| e.to_string())?
    };
    Ok(Some(SchoolHolidayPeriod {
        description: description.to_owned(),
        zone,
        start,
        end_exclusive,
    }))
}

fn parse_dataset_date(text: &str) -> Option<Date> {
    if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Some(date);
    }
    if let Ok(instant) = OffsetDateTime::parse(text, &Rfc3339) {
        // The ministry exports local midnights as UTC instants (22:00 or 23:00
        // the day before), so only the Paris wall-clock date is meaningful.
        return Some(super::in_zone(instant, time_tz::timezones::db::europe::PARIS).date());
    }
    PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()
    .map(PrimitiveDateTime::date)
}

// Keyed by folded académie name; names are what the dataset carries reliably,
// the numeric académie codes vary between ministry sources.
const ACADEMIES: &[(&str, &str)] = &[
    ("besancon", "A"),
    ("bordeaux", "A"),
    ("clermontferrand", "A"),
    ("dijon", "A"),
    ("grenoble", "A"),
    ("limoges", "A"),
    ("lyon", "A"),
    ("poitiers", "A"),
    ("aixmarseille", "B"),
    ("amiens", "B"),
    ("lille", "B"),
    ("nancymetz", "B"),
    ("nantes", "B"),
    ("nice", "B"),
    ("normandie", "B"),
    ("caen", "B"),
    ("rouen", "B"),
    ("orleanstours", "B"),
    ("reims", "B"),
    ("rennes", "B"),
    ("strasbourg", "B"),
    ("creteil", "C"),
    ("montpellier", "C"),
    ("paris", "C"),
    ("toulouse", "C"),
    ("versailles", "C"),
    ("corse", "Corse"),
    ("guadeloupe", "Guadeloupe"),
    ("martinique", "Martinique"),
    ("guyane", "Guyane"),
    ("lareunion", "Réunion"),
    ("reunion", "Réunion"),
    ("mayotte", "Mayotte"),
    ("polynesie", "Polynésie"),
    ("polynesiefrancaise", "Polynésie"),
    ("nouvellecaledonie", "Nouvelle Calédonie"),
    ("wallisetfutuna", "Wallis et Futuna"),
    ("saintpierreetmiquelon", "Saint Pierre et Miquelon"),
];

/// School-holiday zone of an académie, by name ("Aix-Marseille", "academie de Creteil").
pub fn zone_for_academie(name: &str) -> Option<SchoolZone> {
    let folded = fold(name);
    let key = ["academiede", "academied", "academie"]
        .iter()
        .find_map(|prefix| folded.strip_prefix(prefix))
        .unwrap_or(&folded);
    ACADEMIES
        .iter()
        .find(|(academie, _)| *academie == key)
        .map(|(_, zone)| SchoolZone((*zone).to_owned()))
}

/// Lower-case ASCII letters and digits only, accents removed: the comparison
/// key for headers, zones and académies typed by people.
pub(super) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let base = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ÿ' | 'ý' => 'y',
            'œ' => {
                out.push('o');
                'e'
            }
            'æ' => {
                out.push('a');
                'e'
            }
            c => c,
        };
        if base.is_ascii_alphanumeric() {
            out.push(base);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const SAMPLE: &str = "\u{feff}Description;Population;Date de début;Date de fin;Académies;Zones;annee_scolaire
Vacances de la Toussaint;-;2025-10-17T22:00:00+00:00;2025-11-02T23:00:00+00:00;Paris;Zone C;2025-2026
Vacances de la Toussaint;-;2025-10-17T22:00:00+00:00;2025-11-02T23:00:00+00:00;Créteil;Zone C;2025-2026
Vacances de Noël;-;2025-12-19T23:00:00+00:00;2026-01-04T23:00:00+00:00;Lyon;Zone A;2025-2026
Pré-rentrée Enseignants;Enseignants;2025-08-29T22:00:00+00:00;2025-08-31T22:00:00+00:00;Paris;Zone C;2025-2026
Vacances d'Hiver;-;pas une date;2026-03-09;Paris;Zone C;2025-2026
Vacances d'Hiver;Élèves;2026-02-21;2026-03-09;Paris;Zone C;2025-2026
Vacances de Printemps;-;2026-04-18;2026-04-18;Paris;Zone C;2025-2026
Vacances de la Toussaint;;2025-10-18;2025-11-03;La Réunion;;2025-2026
";

    #[test]
    fn parses_sample_and_reports_bad_rows_by_line() {
        let (holidays, errors) = SchoolHolidays::parse_csv(SAMPLE);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![6, 8],
            "{errors:?}"
        );
        assert!(errors[0].message.contains("date de début illisible"));
        assert!(errors[0].to_string().starts_with("ligne 6 : "));
        // Toussaint C (deduplicated), Noël A, Hiver C, Toussaint Réunion (zone from académie).
        assert_eq!(holidays.len(), 4, "{holidays:?}");

        let c = SchoolZone::parse("Zone C").unwrap();
        let toussaint = holidays
            .period_containing(&c, date!(2025 - 10 - 18))
            .unwrap();
        assert_eq!(toussaint.description, "Vacances de la Toussaint");
        assert_eq!(toussaint.start, date!(2025 - 10 - 18));
        // 23:00 UTC after the switch back to winter time is midnight in Paris.
        assert_eq!(toussaint.end_exclusive, date!(2025 - 11 - 03));
        assert!(
            holidays
                .period_containing(&c, date!(2025 - 11 - 02))
                .is_some()
        );
        assert!(
            holidays
                .period_containing(&c, date!(2025 - 11 - 03))
                .is_none()
        );
        assert!(
            holidays
                .period_containing(&c, date!(2025 - 10 - 17))
                .is_none()
        );

        let a = SchoolZone::parse("A").unwrap();
        assert!(
            holidays
                .period_containing(&a, date!(2025 - 10 - 20))
                .is_none()
        );
        assert!(
            holidays
                .period_containing(&a, date!(2026 - 01 - 04))
                .is_some()
        );
        assert!(
            holidays
                .period_containing(&a, date!(2026 - 01 - 05))
                .is_none()
        );

        // Teachers-only row ignored without an error.
        assert!(
            holidays
                .period_containing(&c, date!(2025 - 08 - 30))
                .is_none()
        );

        let reunion = SchoolZone::parse("Réunion").unwrap();
        assert!(
            holidays
                .period_containing(&reunion, date!(2025 - 10 - 20))
                .is_some()
        );
    }

    #[test]
    fn headers_are_matched_loosely() {
        let text = "ANNEE_SCOLAIRE;zones;Extra;date_de_fin;DATE DE DEBUT;description\n\
                    2025-2026;zone b;x;2026-02-23;2026-02-07;Vacances d'Hiver\n";
        let (holidays, errors) = SchoolHolidays::parse_csv(text);
        assert!(errors.is_empty(), "{errors:?}");
        let b = SchoolZone::parse("B").unwrap();
        assert_eq!(
            holidays
                .period_containing(&b, date!(2026 - 02 - 10))
                .map(|p| p.description.as_str()),
            Some("Vacances d'Hiver")
        );
    }

    #[test]
    fn missing_columns_are_reported_on_line_one() {
        let (holidays, errors) = SchoolHolidays::parse_csv("Nom;Quand\nx;y\n");
        assert!(holidays.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].message.contains("Date de début"));
    }

    #[test]
    fn short_row_is_reported_not_panicking() {
        let text = "Description;Population;Date de début;Date de fin;Académies;Zones\n\
                    Vacances de Noël;-;2025-12-20\n";
        let (holidays, errors) = SchoolHolidays::parse_csv(text);
        assert!(holidays.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].message.contains("date de fin"));
    }

    #[test]
    fn empty_input_reports_missing_header() {
        let (holidays, errors) = SchoolHolidays::parse_csv("");
        assert!(holidays.is_empty());
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn zone_normalisation() {
        assert_eq!(SchoolZone::parse("Zone A").unwrap().as_str(), "A");
        assert_eq!(SchoolZone::parse(" zone  b ").unwrap().as_str(), "B");
        assert_eq!(SchoolZone::parse("c").unwrap().as_str(), "C");
        assert_eq!(SchoolZone::parse("La Réunion").unwrap().as_str(), "Réunion");
        assert_eq!(SchoolZone::parse("REUNION").unwrap().as_str(), "Réunion");
        assert_eq!(SchoolZone::parse("Corse").unwrap().label(), "Corse");
        assert_eq!(SchoolZone::parse("Zone C").unwrap().label(), "zone C");
        assert!(SchoolZone::parse("  ").is_err());
        assert!(SchoolZone::parse("").is_err());
        assert_eq!(
            SchoolZone::parse("Zone D").unwrap().as_str(),
            "Zone D",
            "unknown zones are kept verbatim"
        );
    }

    #[test]
    fn academies_map_to_zones() {
        let zone = |n: &str| zone_for_academie(n).map(|z| z.as_str().to_owned());
        assert_eq!(zone("Besançon").as_deref(), Some("A"));
        assert_eq!(zone("besancon").as_deref(), Some("A"));
        assert_eq!(zone("Clermont-Ferrand").as_deref(), Some("A"));
        assert_eq!(zone("Aix-Marseille").as_deref(), Some("B"));
        assert_eq!(zone("Nancy-Metz").as_deref(), Some("B"));
        assert_eq!(zone("Orléans-Tours").as_deref(), Some("B"));
        assert_eq!(zone("Strasbourg").as_deref(), Some("B"));
        assert_eq!(zone("Académie de Créteil").as_deref(), Some("C"));
        assert_eq!(zone("VERSAILLES").as_deref(), Some("C"));
        assert_eq!(zone("Corse").as_deref(), Some("Corse"));
        assert_eq!(zone("La Réunion").as_deref(), Some("Réunion"));
        assert_eq!(zone("Guadeloupe").as_deref(), Some("Guadeloupe"));
        assert_eq!(zone("Atlantis"), None);
        assert_eq!(zone(""), None);
    }

    #[test]
    fn fold_strips_accents_and_punctuation() {
        assert_eq!(fold("Date de début"), "datededebut");
        assert_eq!(fold("Académies"), "academies");
        assert_eq!(fold("Orléans-Tours"), "orleanstours");
        assert_eq!(fold("ÉLÈVES"), "eleves");
    }
}
