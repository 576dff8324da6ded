//! Calcul des délais en jours ouvrables : jours fériés par département, fuseaux
//! horaires, prorogation de l'article 642 du code de procédure civile et
//! vacances scolaires.

mod holidays;
mod instant;
mod school_holidays;
mod words;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, Weekday};
use time_tz::timezones::db;
use time_tz::{Offset, OffsetResult, PrimitiveDateTimeExt, TimeZone, Tz};

pub use self::holidays::{PublicHoliday, easter_sunday, public_holiday, public_holidays};
pub use self::instant::{InstantError, SUPPORTED_YEARS, in_zone, parse_instant};
pub use self::school_holidays::{
    RowError, SchoolHolidayPeriod, SchoolHolidays, SchoolZone, zone_for_academie,
};
pub use self::words::{date_in_words, deadline_in_words, instant_in_words};

/// Errors raised while reading calendar settings; their Display is French.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The department code is not a French department.
    #[error("code de département invalide : « {0} » (attendu : 01 à 95, 2A, 2B ou 971 à 976)")]
    InvalidDepartment(String),
    /// The calendar mode name is unknown.
    #[error("mode de calcul inconnu : « {0} » (attendu : ouvrables, ouvrables_strict ou ouvres)")]
    InvalidMode(String),
    /// The school-holiday zone is empty or unreadable.
    #[error("zone de vacances scolaires invalide : « {0} »")]
    InvalidZone(String),
}

/// Which days count towards a deadline.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CalendarMode {
    /// Monday–Saturday count; a deadline ending on a Saturday, Sunday or holiday runs on (CPC art. 642).
    #[default]
    Ouvrables,
    /// Monday–Saturday count, without the art. 642 extension.
    OuvrablesStrict,
    /// Monday–Friday count.
    Ouvres,
}

impl CalendarMode {
    /// Configuration name: `ouvrables`, `ouvrables_strict` or `ouvres`.
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarMode::Ouvrables => "ouvrables",
            CalendarMode::OuvrablesStrict => "ouvrables_strict",
            CalendarMode::Ouvres => "ouvres",
        }
    }
}

impl fmt::Display for CalendarMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CalendarMode {
    type Err = CalendarError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ouvrables" => Ok(CalendarMode::Ouvrables),
            "ouvrables_strict" => Ok(CalendarMode::OuvrablesStrict),
            "ouvres" => Ok(CalendarMode::Ouvres),
            _ => Err(CalendarError::InvalidMode(s.to_owned())),
        }
    }
}

/// A French department code, normalised ("57", "07", "2A", "974").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Department(String);

impl Department {
    /// Parses and normalises a department code: "057"→"57", "7"→"07", "02a"→"2A", "971"→"971".
    pub fn parse(input: &str) -> Result<Department, CalendarError> {
        let invalid = || CalendarError::InvalidDepartment(input.to_owned());
        let code = input.trim().to_ascii_uppercase();
        if code.is_empty() || code.len() > 3 || !code.is_ascii() {
            return Err(invalid());
        }
        if code.bytes().all(|b| b.is_ascii_digit()) {
            let n: u16 = code.parse().map_err(|_| invalid())?;
            return match n {
                // 20 was split into 2A and 2B in 1976; a bare 20 is ambiguous.
                1..=19 | 21..=95 => Ok(Department(format!("{n:02}"))),
                971..=976 => Ok(Department(n.to_string())),
                _ => Err(invalid()),
            };
        }
        match code.as_str() {
            "2A" | "02A" => Ok(Department("2A".to_owned())),
            "2B" | "02B" => Ok(Department("2B".to_owned())),
            _ => Err(invalid()),
        }
    }

    /// Paris (75): the clocks of metropolitan France, for instants not tied to one school.
    pub fn paris() -> Department {
        Department("75".to_owned())
    }

    /// The normalised code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Department {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Department {
    type Err = CalendarError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Department::parse(s)
    }
}

impl TryFrom<String> for Department {
    type Error = CalendarError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Department::parse(&value)
    }
}

impl From<Department> for String {
    fn from(department: Department) -> String {
        department.0
    }
}

// 975 (Saint-Pierre-et-Miquelon) is accepted by `Department::parse` along
// with the other 97x codes; it gets its own zone rather than a Paris clock
// four hours off.
const OVERSEAS_TIME_ZONES: &[(&str, &str, &Tz)] = &[
    ("971", "America/Guadeloupe", db::america::GUADELOUPE),
    ("972", "America/Martinique", db::america::MARTINIQUE),
    ("973", "America/Cayenne", db::america::CAYENNE),
    ("974", "Indian/Reunion", db::indian::REUNION),
    ("975", "America/Miquelon", db::america::MIQUELON),
    ("976", "Indian/Mayotte", db::indian::MAYOTTE),
];

fn time_zone_entry(department: &Department) -> (&'static str, &'static Tz) {
    OVERSEAS_TIME_ZONES
        .iter()
        .find(|(code, _, _)| *code == department.as_str())
        .map_or(("Europe/Paris", db::europe::PARIS), |(_, name, tz)| {
            (*name, *tz)
        })
}

/// The department's legal time zone.
pub fn time_zone(department: &Department) -> &'static Tz {
    time_zone_entry(department).1
}

/// IANA name of the department's time zone ("Europe/Paris").
pub fn time_zone_name(department: &Department) -> &'static str {
    time_zone_entry(department).0
}

/// The calendar date of `instant` on the department's wall clocks.
pub fn local_date(instant: OffsetDateTime, department: &Department) -> Date {
    in_zone(instant, time_zone(department)).date()
}

/// First instant of local `date` in `tz`, with the offset in force then.
fn start_of_local_day(date: Date, tz: &Tz) -> OffsetDateTime {
    let midnight = PrimitiveDateTime::new(date, Time::MIDNIGHT);
    match midnight.assume_timezone(tz) {
        OffsetResult::Some(instant) => instant,
        // Midnight happening twice: the day starts at the first one.
        OffsetResult::Ambiguous(first, _) => first,
        // Midnight skipped by a forward jump: read the wall time with the
        // offset from before the jump, which lands just after the gap.
        OffsetResult::None => {
            let before = tz
                .get_offset_utc(&midnight.assume_utc().saturating_sub(Duration::days(1)))
                .to_utc();
            in_zone(midnight.assume_offset(before), tz)
        }
    }
}

/// Settings of the deadline computation.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// Which days count.
    pub mode: CalendarMode,
    /// Official school-holiday calendar, when loaded.
    pub school_holidays: Option<SchoolHolidays>,
    /// Whether days inside the zone's school holidays stop the count.
    pub suspend_in_school_holidays: bool,
}

/// Inputs of one deadline computation.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineQuery<'a> {
    /// When the message was submitted (any offset).
    pub submitted_at: OffsetDateTime,
    /// Number of days the head of school has; 0 ends the period with the submission day.
    pub business_days: u32,
    /// The school's department (holidays and time zone).
    pub department: &'a Department,
    /// The school's school-holiday zone, if known.
    pub zone: Option<&'a SchoolZone>,
}

/// A day passed over by the count, with the French reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedDay {
    /// The day that did not count.
    #[serde(serialize_with = "self::serde_date::date")]
    pub date: Date,
    /// French reason: "dimanche", "jour férié : Lundi de Pâques", "vacances scolaires : …".
    pub reason: String,
}

/// The computed end of a review period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadline {
    /// Last local day of the period, after any art. 642 extension.
    #[serde(serialize_with = "self::serde_date::date")]
    pub last_day: Date,
    /// 24:00 local time on `last_day`, with the local offset of that instant.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// IANA name of the time zone used.
    pub time_zone: &'static str,
    /// Mode the deadline was computed with.
    pub mode: CalendarMode,
    /// The days that counted, in order.
    #[serde(serialize_with = "self::serde_date::dates")]
    pub counted_days: Vec<Date>,
    /// Days between the submission and `last_day` that did not count, in order.
    pub skipped_days: Vec<SkippedDay>,
    /// Day the count ended on, when art. 642 pushed the deadline to a later day.
    #[serde(serialize_with = "self::serde_date::option")]
    pub extended_from: Option<Date>,
    /// French warning when `last_day` falls inside the zone's school holidays.
    pub school_holiday_warning: Option<String>,
}

impl Calendar {
    /// Calendar with the given mode and no school-holiday data.
    pub fn new(mode: CalendarMode) -> Calendar {
        Calendar {
            mode,
            ..Calendar::default()
        }
    }

    fn school_period(&self, date: Date, zone: Option<&SchoolZone>) -> Option<&SchoolHolidayPeriod> {
        let holidays = self.school_holidays.as_ref()?;
        holidays.period_containing(zone?, date)
    }

    /// The reason `date` does not count under `mode`, or `None` when it counts.
    fn reason_not_counted(
        &self,
        mode: CalendarMode,
        date: Date,
        department: &Department,
        zone: Option<&SchoolZone>,
    ) -> Option<String> {
        // The holiday is named first even on a Sunday: it is the more telling reason.
        if let Some(name) = public_holiday(department, date) {
            return Some(format!("jour férié : {name}"));
        }
        match date.weekday() {
            Weekday::Sunday => return Some("dimanche".to_owned()),
            Weekday::Saturday if mode == CalendarMode::Ouvres => {
                return Some("samedi".to_owned());
            }
            _ => {}
        }
        if self.suspend_in_school_holidays
            && let Some(period) = self.school_period(date, zone)
        {
            return Some(format!("vacances scolaires : {}", period.description));
        }
        None
    }

    /// `Ok(())` when `date` counts towards a deadline, otherwise the French reason it does not.
    pub fn is_counted_day(
        &self,
        date: Date,
        department: &Department,
        zone: Option<&SchoolZone>,
    ) -> Result<(), String> {
        match self.reason_not_counted(self.mode, date, department, zone) {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// Computes when silence becomes tacit approval.
    pub fn deadline(&self, q: DeadlineQuery) -> Deadline {
        let (time_zone_name, tz) = time_zone_entry(q.department);
        let start = in_zone(q.submitted_at, tz).date();
        let wanted = usize::try_from(q.business_days).unwrap_or(usize::MAX);

        let mut counted_days = Vec::with_capacity(wanted.min(366));
        let mut skipped_days = Vec::new();
        let mut day = start;
        while counted_days.len() < wanted {
            // Saturates at the end of `time`'s calendar instead of panicking.
            let Some(next) = day.next_day() else { break };
            day = next;
            match self.reason_not_counted(self.mode, day, q.department, q.zone) {
                None => counted_days.push(day),
                Some(reason) => skipped_days.push(SkippedDay { date: day, reason }),
            }
        }

        let mut last_day = day;
        let mut extended_from = None;
        if self.mode == CalendarMode::Ouvrables && wanted > 0 {
            // Art. 642 CPC: a deadline ending on a Saturday, Sunday or holiday
            // runs on to the next working day. The working-day test is the
            // `ouvres` one, so suspended school-holiday days are not targets either.
            while let Some(reason) =
                self.reason_not_counted(CalendarMode::Ouvres, last_day, q.department, q.zone)
            {
                let Some(next) = last_day.next_day() else {
                    break;
                };
                if last_day != day {
                    skipped_days.push(SkippedDay {
                        date: last_day,
                        reason,
                    });
                }
                last_day = next;
            }
            if last_day != day {
                extended_from = Some(day);
            }
        }

        let expires_at = match last_day.next_day() {
            Some(after) => start_of_local_day(after, tz),
            None => PrimitiveDateTime::new(last_day, Time::MAX).assume_timezone_utc(tz),
        };

        let school_holiday_warning = self
            .school_period(last_day, q.zone)
            .map(|period| school_holiday_warning(last_day, period));

        Deadline {
            last_day,
            expires_at,
            time_zone: time_zone_name,
            mode: self.mode,
            counted_days,
            skipped_days,
            extended_from,
            school_holiday_warning,
        }
    }

    /// Days that still count after `from`'s local date up to `deadline.last_day`, using the deadline's mode.
    pub fn business_days_between(
        &self,
        from: OffsetDateTime,
        deadline: &Deadline,
        department: &Department,
        zone: Option<&SchoolZone>,
    ) -> u32 {
        let mut day = local_date(from, department);
        let mut remaining = 0u32;
        while day < deadline.last_day {
            let Some(next) = day.next_day() else { break };
            day = next;
            if self
                .reason_not_counted(deadline.mode, day, department, zone)
                .is_none()
            {
                remaining = remaining.saturating_add(1);
            }
        }
        remaining
    }
}

fn school_holiday_warning(last_day: Date, period: &SchoolHolidayPeriod) -> String {
    let until = period.end_exclusive.previous_day().unwrap_or(period.start);
    format!(
        "Attention : le dernier jour du délai, le {}, tombe pendant les vacances scolaires \
         ({}, {}, du {} au {} inclus) ; la réponse du chef d'établissement peut en être retardée.",
        date_in_words(last_day),
        period.description,
        period.zone.label(),
        date_in_words(period.start),
        date_in_words(until),
    )
}

/// Serialisers for dates as `YYYY-MM-DD`, which `time`'s serde support does
/// not produce without the `serde-human-readable` feature.
mod serde_date {
    use serde::Serializer;
    use serde::ser::SerializeSeq;
    use time::Date;
    use time::format_description::BorrowedFormatItem;
    use time::macros::format_description;

    const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

    fn text(value: &Date) -> String {
        // Formatting a Date with a date-only description cannot fail; the
        // Display fallback keeps that guarantee out of the error path.
        value.format(FORMAT).unwrap_or_else(|_| value.to_string())
    }

    pub fn date<S: Serializer>(value: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&text(value))
    }

    pub fn option<S: Serializer>(value: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_some(&text(value)),
            None => serializer.serialize_none(),
        }
    }

    pub fn dates<S: Serializer>(values: &[Date], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(values.len()))?;
        for value in values {
            seq.serialize_element(&text(value))?;
        }
        seq.end()
    }
}
