//! Jours fériés légaux, nationaux et locaux (Alsace-Moselle, départements d'outre-mer).

use serde::Serialize;
use time::{Date, Duration, Month};

use super::Department;

/// A public holiday on a given date, with its French name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PublicHoliday {
    /// Date of the holiday.
    #[serde(serialize_with = "super::serde_date::date")]
    pub date: Date,
    /// French name, as printed in reasons ("Lundi de Pâques").
    pub name: &'static str,
}

/// How a holiday's date is derived from the year.
#[derive(Debug, Clone, Copy)]
enum When {
    Fixed(Month, u8),
    /// Days after Easter Sunday (negative for before).
    Easter(i64),
}

/// Which departments observe a holiday.
#[derive(Debug, Clone, Copy)]
enum Scope {
    National,
    Only(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
struct HolidayRule {
    name: &'static str,
    when: When,
    scope: Scope,
}

const ALSACE_MOSELLE: &[&str] = &["57", "67", "68"];

// The rules are data so that a change in the law is a one-line edit here,
// reviewable by someone who does not read Rust.
const RULES: &[HolidayRule] = &[
    HolidayRule {
        name: "Jour de l'an",
        when: When::Fixed(Month::January, 1),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Vendredi saint",
        when: When::Easter(-2),
        scope: Scope::Only(ALSACE_MOSELLE),
    },
    HolidayRule {
        name: "Lundi de Pâques",
        when: When::Easter(1),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Abolition de l'esclavage",
        when: When::Fixed(Month::April, 27),
        scope: Scope::Only(&["976"]),
    },
    HolidayRule {
        name: "Fête du Travail",
        when: When::Fixed(Month::May, 1),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Victoire 1945",
        when: When::Fixed(Month::May, 8),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Abolition de l'esclavage",
        when: When::Fixed(Month::May, 22),
        scope: Scope::Only(&["972"]),
    },
    HolidayRule {
        name: "Abolition de l'esclavage",
        when: When::Fixed(Month::May, 27),
        scope: Scope::Only(&["971"]),
    },
    HolidayRule {
        name: "Ascension",
        when: When::Easter(39),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Lundi de Pentecôte",
        when: When::Easter(50),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Abolition de l'esclavage",
        when: When::Fixed(Month::June, 10),
        scope: Scope::Only(&["973"]),
    },
    HolidayRule {
        name: "Fête nationale",
        when: When::Fixed(Month::July, 14),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Assomption",
        when: When::Fixed(Month::August, 15),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Toussaint",
        when: When::Fixed(Month::November, 1),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Armistice 1918",
        when: When::Fixed(Month::November, 11),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Abolition de l'esclavage",
        when: When::Fixed(Month::December, 20),
        scope: Scope::Only(&["974"]),
    },
    HolidayRule {
        name: "Noël",
        when: When::Fixed(Month::December, 25),
        scope: Scope::National,
    },
    HolidayRule {
        name: "Saint-Étienne",
        when: When::Fixed(Month::December, 26),
        scope: Scope::Only(ALSACE_MOSELLE),
    },
];

impl Scope {
    fn applies_to(self, department: &Department) -> bool {
        match self {
            Scope::National => true,
            Scope::Only(codes) => codes.contains(&department.as_str()),
        }
    }
}

impl HolidayRule {
    fn date_in(&self, year: i32, easter: Date) -> Option<Date> {
        match self.when {
            When::Fixed(month, day) => Date::from_calendar_date(year, month, day).ok(),
            When::Easter(offset) => easter.checked_add(Duration::days(offset)),
        }
    }
}

/// Easter Sunday of a Gregorian year (anonymous Gregorian computus), year clamped to `time`'s range.
pub fn easter_sunday(year: i32) -> Date {
    let year = year.clamp(Date::MIN.year(), Date::MAX.year());
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    // The computus always yields 22 March..25 April, so both conversions hold;
    // the fallback only guards the impossible case without panicking.
    let month = if month == 3 {
        Month::March
    } else {
        Month::April
    };
    let day = u8::try_from(day).unwrap_or(1);
    Date::from_calendar_date(year, month, day).unwrap_or(Date::MIN)
}

/// Public holidays observed in a department during a year, sorted by date.
pub fn public_holidays(department: &Department, year: i32) -> Vec<PublicHoliday> {
    let easter = easter_sunday(year);
    let mut holidays: Vec<PublicHoliday> = RULES
        .iter()
        .filter(|rule| rule.scope.applies_to(department))
        .filter_map(|rule| {
            rule.date_in(year, easter).map(|date| PublicHoliday {
                date,
                name: rule.name,
            })
        })
        .collect();
    // Stable sort keeps table order when two rules share a date (e.g. Ascension on 1 May 2008).
    holidays.sort_by_key(|holiday| holiday.date);
    holidays
}

/// French name of the public holiday falling on `date` in `department`, if any.
pub fn public_holiday(department: &Department, date: Date) -> Option<&'static str> {
    let year = date.year();
    // Computed lazily: most dates match no Easter-based rule and never need the computus.
    let mut easter = None;
    RULES
        .iter()
        .filter(|rule| rule.scope.applies_to(department))
        .find(|rule| {
            let e = *easter.get_or_insert_with(|| easter_sunday(year));
            rule.date_in(year, e) == Some(date)
        })
        .map(|rule| rule.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn dept(code: &str) -> Department {
        Department::parse(code).unwrap()
    }

    #[test]
    fn easter_known_years() {
        assert_eq!(easter_sunday(2024), date!(2024 - 03 - 31));
        assert_eq!(easter_sunday(2025), date!(2025 - 04 - 20));
        assert_eq!(easter_sunday(2026), date!(2026 - 04 - 05));
        assert_eq!(easter_sunday(2027), date!(2027 - 03 - 28));
        assert_eq!(easter_sunday(2038), date!(2038 - 04 - 25));
        assert_eq!(easter_sunday(2008), date!(2008 - 03 - 23));
        assert_eq!(easter_sunday(2285), date!(2285 - 03 - 22));
        assert_eq!(easter_sunday(1943), date!(1943 - 04 - 25));
        assert_eq!(easter_sunday(2000), date!(2000 - 04 - 23));
    }

    #[test]
    fn easter_is_always_a_sunday_in_range() {
        for year in 1583..=4099 {
            let e = easter_sunday(year);
            assert_eq!(e.weekday(), time::Weekday::Sunday, "{year}");
            assert!(e >= Date::from_calendar_date(year, Month::March, 22).unwrap());
            assert!(e <= Date::from_calendar_date(year, Month::April, 25).unwrap());
        }
    }

    #[test]
    fn national_holidays_2025() {
        let got: Vec<(Date, &str)> = public_holidays(&dept("75"), 2025)
            .into_iter()
            .map(|h| (h.date, h.name))
            .collect();
        assert_eq!(
            got,
            vec![
                (date!(2025 - 01 - 01), "Jour de l'an"),
                (date!(2025 - 04 - 21), "Lundi de Pâques"),
                (date!(2025 - 05 - 01), "Fête du Travail"),
                (date!(2025 - 05 - 08), "Victoire 1945"),
                (date!(2025 - 05 - 29), "Ascension"),
                (date!(2025 - 06 - 09), "Lundi de Pentecôte"),
                (date!(2025 - 07 - 14), "Fête nationale"),
                (date!(2025 - 08 - 15), "Assomption"),
                (date!(2025 - 11 - 01), "Toussaint"),
                (date!(2025 - 11 - 11), "Armistice 1918"),
                (date!(2025 - 12 - 25), "Noël"),
            ]
        );
    }

    #[test]
    fn alsace_moselle_has_thirteen() {
        for code in ["57", "67", "68"] {
            let list = public_holidays(&dept(code), 2026);
            assert_eq!(list.len(), 13, "{code}");
            assert_eq!(
                public_holiday(&dept(code), date!(2026 - 04 - 03)),
                Some("Vendredi saint")
            );
            assert_eq!(
                public_holiday(&dept(code), date!(2026 - 12 - 26)),
                Some("Saint-Étienne")
            );
        }
        assert_eq!(public_holiday(&dept("54"), date!(2026 - 04 - 03)), None);
        assert_eq!(public_holiday(&dept("54"), date!(2026 - 12 - 26)), None);
    }

    #[test]
    fn overseas_abolition_days() {
        let cases = [
            ("971", date!(2025 - 05 - 27)),
            ("972", date!(2025 - 05 - 22)),
            ("973", date!(2025 - 06 - 10)),
            ("974", date!(2025 - 12 - 20)),
            ("976", date!(2025 - 04 - 27)),
        ];
        for (code, day) in cases {
            assert_eq!(
                public_holiday(&dept(code), day),
                Some("Abolition de l'esclavage"),
                "{code}"
            );
            assert_eq!(public_holidays(&dept(code), 2025).len(), 12, "{code}");
            assert_eq!(public_holiday(&dept("75"), day), None);
            for (other, _) in cases.iter().filter(|(c, _)| *c != code) {
                assert_eq!(public_holiday(&dept(other), day), None, "{other} {day}");
            }
        }
    }

    #[test]
    fn shared_date_keeps_both_rules_sorted() {
        // Ascension 2008 fell on 1 May.
        let list = public_holidays(&dept("75"), 2008);
        let first_may: Vec<&str> = list
            .iter()
            .filter(|h| h.date == date!(2008 - 05 - 01))
            .map(|h| h.name)
            .collect();
        assert_eq!(first_may, vec!["Fête du Travail", "Ascension"]);
        assert!(list.windows(2).all(|w| w[0].date <= w[1].date));
        assert_eq!(
            public_holiday(&dept("75"), date!(2008 - 05 - 01)),
            Some("Fête du Travail")
        );
    }

    #[test]
    fn ordinary_day_is_not_a_holiday() {
        assert_eq!(public_holiday(&dept("75"), date!(2025 - 04 - 22)), None);
        assert_eq!(public_holiday(&dept("75"), date!(2025 - 04 - 18)), None);
    }
}
