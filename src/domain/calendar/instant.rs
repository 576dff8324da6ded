//! Instants sent by users: RFC 3339, within the years the service computes deadlines for, and
//! total conversions to local time (no date arithmetic can panic on a request path).

use std::ops::RangeInclusive;

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, Time};
use time_tz::{Offset, TimeZone, Tz};

/// Years a date sent to the service may fall in; dates outside are refused, never computed.
pub const SUPPORTED_YEARS: RangeInclusive<i32> = 2000..=2100;

/// The leap seconds inserted since 2000 (IERS bulletin C), as the UTC day they end.
const LEAP_SECOND_DAYS: [(i32, Month, u8); 5] = [
    (2005, Month::December, 31),
    (2008, Month::December, 31),
    (2012, Month::June, 30),
    (2015, Month::June, 30),
    (2016, Month::December, 31),
];

/// Why a date sent by a user is refused; its Display is French and says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstantError {
    /// Nothing was given.
    #[error("date obligatoire (RFC 3339 avec fuseau, par exemple 2026-11-23T08:00:00+01:00)")]
    Missing,
    /// Not an RFC 3339 date-time.
    #[error("« {0} » n'est pas une date RFC 3339 : écrivez par exemple 2026-11-23T08:00:00+01:00")]
    Unreadable(String),
    /// A well-formed date outside [`SUPPORTED_YEARS`].
    #[error(
        "« {0} » est hors de la plage acceptée : les dates vont de l'an 2000 à l'an 2100 inclus"
    )]
    OutOfRange(String),
    /// A `:60` second that no leap second ever filled.
    #[error(
        "« {0} » désigne une seconde intercalaire qui n'a pas existé : écrivez :59 ou l'instant suivant"
    )]
    NoSuchLeapSecond(String),
}

/// Parses an RFC 3339 instant sent by a user, within [`SUPPORTED_YEARS`] in UTC and locally.
pub fn parse_instant(text: &str) -> Result<OffsetDateTime, InstantError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(InstantError::Missing);
    }
    // `time` reads "…:60" as the last nanosecond of the minute; only a real leap second may.
    let leap = text.get(17..19) == Some("60");
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        if leap {
            InstantError::NoSuchLeapSecond(shorten(text))
        } else {
            InstantError::Unreadable(shorten(text))
        }
    })?;
    let utc_year = at.checked_to_offset(time::UtcOffset::UTC).map(|t| t.year());
    if !SUPPORTED_YEARS.contains(&at.year())
        || !utc_year.is_some_and(|y| SUPPORTED_YEARS.contains(&y))
    {
        return Err(InstantError::OutOfRange(shorten(text)));
    }
    if leap && !is_leap_second(at) {
        return Err(InstantError::NoSuchLeapSecond(shorten(text)));
    }
    Ok(at)
}

/// Whether `at` (as parsed from a `:60` second) falls in one of the leap seconds since 2000.
fn is_leap_second(at: OffsetDateTime) -> bool {
    let Some(utc) = at.checked_to_offset(time::UtcOffset::UTC) else {
        return false;
    };
    let end_of_day = Time::from_hms(23, 59, 59).is_ok_and(|t| utc.time() >= t);
    end_of_day
        && LEAP_SECOND_DAYS
            .iter()
            .any(|&(y, m, d)| Date::from_calendar_date(y, m, d).is_ok_and(|day| day == utc.date()))
}

/// Echoes user input in a message without letting a huge value flood it.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// `instant` on the wall clocks of `tz`; an instant whose local time `time` cannot represent
/// (beyond year ±9999) stays as it is rather than panicking.
pub fn in_zone(instant: OffsetDateTime, tz: &Tz) -> OffsetDateTime {
    let offset = tz.get_offset_utc(&instant).to_utc();
    instant.checked_to_offset(offset).unwrap_or(instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_dates_and_non_existent_leap_seconds_are_refused() {
        for text in [
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2101-01-01T00:00:00Z",
            "2100-12-31T23:30:00-23:59",
            "2000-01-01T00:10:00+23:00",
        ] {
            assert!(
                matches!(parse_instant(text), Err(InstantError::OutOfRange(_))),
                "{text}"
            );
        }
        assert!(matches!(
            parse_instant("2026-11-23T10:00:60+01:00"),
            Err(InstantError::NoSuchLeapSecond(_))
        ));
        assert!(matches!(
            parse_instant("2025-06-30T23:59:60Z"),
            Err(InstantError::NoSuchLeapSecond(_))
        ));
        assert!(parse_instant("2016-12-31T23:59:60Z").is_ok());
        assert!(matches!(parse_instant(" "), Err(InstantError::Missing)));
        assert!(matches!(
            parse_instant("demain"),
            Err(InstantError::Unreadable(_))
        ));
        let ok = parse_instant("2100-12-31T23:59:59+01:00").unwrap();
        assert_eq!(ok.year(), 2100);
        assert!(
            InstantError::OutOfRange("x".into())
                .to_string()
                .contains("de l'an 2000 à l'an 2100")
        );
    }
}
