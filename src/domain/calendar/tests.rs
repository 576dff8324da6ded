//! Worked examples and properties of the deadline computation.

use proptest::prelude::*;
use time::format_description::well_known::Rfc3339;
use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime, Weekday};
use time_tz::{Offset, OffsetDateTimeExt, TimeZone};

use super::*;

fn dept(code: &str) -> Department {
    Department::parse(code).unwrap()
}

fn run(mode: CalendarMode, code: &str, submitted_at: OffsetDateTime, days: u32) -> Deadline {
    Calendar::new(mode).deadline(DeadlineQuery {
        submitted_at,
        business_days: days,
        department: &dept(code),
        zone: None,
    })
}

fn ouvrables(code: &str, submitted_at: OffsetDateTime, days: u32) -> Deadline {
    run(CalendarMode::Ouvrables, code, submitted_at, days)
}

/// RFC 3339 text, so the offset is compared and not only the instant.
fn rfc(instant: OffsetDateTime) -> String {
    instant.format(&Rfc3339).unwrap()
}

fn skipped(deadline: &Deadline) -> Vec<(Date, &str)> {
    deadline
        .skipped_days
        .iter()
        .map(|s| (s.date, s.reason.as_str()))
        .collect()
}

// ---- Worked examples ----

#[test]
fn easter_monday_is_skipped_in_paris() {
    let d = ouvrables("75", datetime!(2025-04-16 10:00 +2), 5);
    assert_eq!(d.last_day, date!(2025 - 04 - 23));
    assert_eq!(rfc(d.expires_at), "2025-04-24T00:00:00+02:00");
    assert_eq!(d.time_zone, "Europe/Paris");
    assert_eq!(d.mode, CalendarMode::Ouvrables);
    assert_eq!(
        d.counted_days,
        vec![
            date!(2025 - 04 - 17),
            date!(2025 - 04 - 18),
            date!(2025 - 04 - 19),
            date!(2025 - 04 - 22),
            date!(2025 - 04 - 23),
        ]
    );
    assert_eq!(
        skipped(&d),
        vec![
            (date!(2025 - 04 - 20), "dimanche"),
            (date!(2025 - 04 - 21), "jour férié : Lundi de Pâques"),
        ]
    );
    assert_eq!(d.extended_from, None);
    assert_eq!(d.school_holiday_warning, None);
    assert_eq!(deadline_in_words(&d), "mercredi 23 avril 2025 à minuit");
}

#[test]
fn good_friday_is_skipped_in_moselle() {
    let d = ouvrables("57", datetime!(2025-04-16 10:00 +2), 5);
    assert_eq!(d.last_day, date!(2025 - 04 - 24));
    assert_eq!(rfc(d.expires_at), "2025-04-25T00:00:00+02:00");
    assert_eq!(
        skipped(&d)[0],
        (date!(2025 - 04 - 18), "jour férié : Vendredi saint")
    );
}

#[test]
fn christmas_saturday_runs_on_to_monday() {
    let d = ouvrables("75", datetime!(2025-12-23 10:00 +1), 3);
    assert_eq!(
        d.counted_days,
        vec![
            date!(2025 - 12 - 24),
            date!(2025 - 12 - 26),
            date!(2025 - 12 - 27)
        ]
    );
    assert_eq!(d.extended_from, Some(date!(2025 - 12 - 27)));
    assert_eq!(d.last_day, date!(2025 - 12 - 29));
    assert_eq!(rfc(d.expires_at), "2025-12-30T00:00:00+01:00");
    assert_eq!(
        skipped(&d),
        vec![
            (date!(2025 - 12 - 25), "jour férié : Noël"),
            (date!(2025 - 12 - 28), "dimanche"),
        ]
    );
}

#[test]
fn strict_mode_stops_on_saturday() {
    let d = run(
        CalendarMode::OuvrablesStrict,
        "75",
        datetime!(2025-12-23 10:00 +1),
        3,
    );
    assert_eq!(d.last_day, date!(2025 - 12 - 27));
    assert_eq!(d.extended_from, None);
    assert_eq!(rfc(d.expires_at), "2025-12-28T00:00:00+01:00");
    assert_eq!(d.mode, CalendarMode::OuvrablesStrict);
}

#[test]
fn alsace_skips_saint_etienne() {
    for code in ["67", "68", "57"] {
        let d = ouvrables(code, datetime!(2025-12-23 10:00 +1), 3);
        assert_eq!(
            d.counted_days,
            vec![
                date!(2025 - 12 - 24),
                date!(2025 - 12 - 27),
                date!(2025 - 12 - 29)
            ],
            "{code}"
        );
        assert_eq!(d.last_day, date!(2025 - 12 - 29));
        assert_eq!(d.extended_from, None);
        assert!(
            skipped(&d).contains(&(date!(2025 - 12 - 26), "jour férié : Saint-Étienne")),
            "{code}"
        );
    }
}

#[test]
fn ouvres_mode_skips_saturdays() {
    let d = run(
        CalendarMode::Ouvres,
        "75",
        datetime!(2025-12-23 10:00 +1),
        3,
    );
    assert_eq!(
        d.counted_days,
        vec![
            date!(2025 - 12 - 24),
            date!(2025 - 12 - 26),
            date!(2025 - 12 - 29)
        ]
    );
    assert_eq!(d.last_day, date!(2025 - 12 - 29));
    assert_eq!(d.extended_from, None);
    assert!(skipped(&d).contains(&(date!(2025 - 12 - 27), "samedi")));

    let week = run(
        CalendarMode::Ouvres,
        "75",
        datetime!(2025-06-13 10:00 +2),
        5,
    );
    assert_eq!(week.last_day, date!(2025 - 06 - 20));
    let same = ouvrables("75", datetime!(2025-06-13 10:00 +2), 5);
    assert_eq!(same.last_day, date!(2025 - 06 - 19));

    let victory = run(
        CalendarMode::Ouvres,
        "75",
        datetime!(2025-05-07 10:00 +2),
        2,
    );
    assert_eq!(
        victory.counted_days,
        vec![date!(2025 - 05 - 09), date!(2025 - 05 - 12)]
    );
    assert_eq!(victory.last_day, date!(2025 - 05 - 12));
}

#[test]
fn late_utc_submission_is_already_next_local_day() {
    // 23:30 UTC on Tuesday is 01:30 on Wednesday in Paris.
    let d = ouvrables("75", datetime!(2025-04-15 23:30 UTC), 5);
    assert_eq!(d.last_day, date!(2025 - 04 - 23));
    assert_eq!(d.counted_days[0], date!(2025 - 04 - 17));
    // 21:30 UTC is still Tuesday evening in Paris.
    let d = ouvrables("75", datetime!(2025-04-15 21:30 UTC), 5);
    assert_eq!(d.counted_days[0], date!(2025 - 04 - 16));
    assert_eq!(d.last_day, date!(2025 - 04 - 22));
}

#[test]
fn spring_forward_week() {
    let d = ouvrables("75", datetime!(2025-03-26 10:00 +1), 5);
    assert_eq!(d.last_day, date!(2025 - 04 - 01));
    assert_eq!(rfc(d.expires_at), "2025-04-02T00:00:00+02:00");

    let strict = run(
        CalendarMode::OuvrablesStrict,
        "75",
        datetime!(2025-03-26 10:00 +1),
        3,
    );
    assert_eq!(strict.last_day, date!(2025 - 03 - 29));
    assert_eq!(rfc(strict.expires_at), "2025-03-30T00:00:00+01:00");

    let extended = ouvrables("75", datetime!(2025-03-26 10:00 +1), 3);
    assert_eq!(extended.last_day, date!(2025 - 03 - 31));
    assert_eq!(rfc(extended.expires_at), "2025-04-01T00:00:00+02:00");
}

#[test]
fn fall_back_week() {
    let strict = run(
        CalendarMode::OuvrablesStrict,
        "75",
        datetime!(2025-10-22 10:00 +2),
        3,
    );
    assert_eq!(strict.last_day, date!(2025 - 10 - 25));
    // Midnight opening Sunday 26 is still summer time; the switch is at 03:00.
    assert_eq!(rfc(strict.expires_at), "2025-10-26T00:00:00+02:00");

    let extended = ouvrables("75", datetime!(2025-10-22 10:00 +2), 3);
    assert_eq!(extended.last_day, date!(2025 - 10 - 27));
    assert_eq!(extended.extended_from, Some(date!(2025 - 10 - 25)));
    assert_eq!(rfc(extended.expires_at), "2025-10-28T00:00:00+01:00");

    // 02:30 in the repeated hour, second pass (winter time): still Sunday 26.
    let night = ouvrables("75", datetime!(2025-10-26 02:30 +1), 1);
    assert_eq!(night.counted_days, vec![date!(2025 - 10 - 27)]);
}

#[test]
fn reunion_abolition_day_and_local_clock() {
    let d = ouvrables("974", datetime!(2024-12-18 10:00 +4), 2);
    assert_eq!(d.time_zone, "Indian/Reunion");
    assert_eq!(
        d.counted_days,
        vec![date!(2024 - 12 - 19), date!(2024 - 12 - 21)]
    );
    assert_eq!(
        skipped(&d)[0],
        (
            date!(2024 - 12 - 20),
            "jour férié : Abolition de l'esclavage"
        )
    );
    assert_eq!(d.extended_from, Some(date!(2024 - 12 - 21)));
    assert_eq!(d.last_day, date!(2024 - 12 - 23));
    assert_eq!(rfc(d.expires_at), "2024-12-24T00:00:00+04:00");

    let paris = ouvrables("75", datetime!(2024-12-18 10:00 +1), 2);
    assert_eq!(paris.last_day, date!(2024 - 12 - 20));
}

#[test]
fn guadeloupe_abolition_day_and_local_clock() {
    let d = ouvrables("971", datetime!(2025-05-26 10:00 -4), 1);
    assert_eq!(d.time_zone, "America/Guadeloupe");
    assert_eq!(d.last_day, date!(2025 - 05 - 28));
    assert_eq!(rfc(d.expires_at), "2025-05-29T00:00:00-04:00");
    assert_eq!(
        ouvrables("75", datetime!(2025-05-26 10:00 +2), 1).last_day,
        date!(2025 - 05 - 27)
    );

    // 03:00 UTC Monday is still Sunday evening in Pointe-à-Pitre.
    let early = datetime!(2025-05-26 03:00 UTC);
    assert_eq!(ouvrables("971", early, 1).last_day, date!(2025 - 05 - 26));
    assert_eq!(ouvrables("75", early, 1).last_day, date!(2025 - 05 - 27));
}

#[test]
fn martinique_guyane_mayotte_abolition_days() {
    let martinique = ouvrables("972", datetime!(2025-05-21 10:00 -4), 1);
    assert_eq!(martinique.last_day, date!(2025 - 05 - 23));
    assert_eq!(martinique.time_zone, "America/Martinique");

    let guyane = ouvrables("973", datetime!(2025-06-06 10:00 -3), 2);
    assert_eq!(
        guyane.counted_days,
        vec![date!(2025 - 06 - 07), date!(2025 - 06 - 11)]
    );
    assert_eq!(rfc(guyane.expires_at), "2025-06-12T00:00:00-03:00");
    assert_eq!(guyane.time_zone, "America/Cayenne");

    let mayotte = ouvrables("976", datetime!(2026-04-25 10:00 +3), 1);
    assert_eq!(mayotte.last_day, date!(2026 - 04 - 28));
    assert_eq!(rfc(mayotte.expires_at), "2026-04-29T00:00:00+03:00");
    assert_eq!(mayotte.time_zone, "Indian/Mayotte");
}

#[test]
fn new_year() {
    let d = ouvrables("75", datetime!(2025-12-31 10:00 +1), 1);
    assert_eq!(d.last_day, date!(2026 - 01 - 02));
    assert_eq!(
        skipped(&d),
        vec![(date!(2026 - 01 - 01), "jour férié : Jour de l'an")]
    );
}

#[test]
fn first_and_eighth_of_may() {
    let d = ouvrables("75", datetime!(2025-04-30 10:00 +2), 6);
    assert_eq!(d.last_day, date!(2025 - 05 - 09));
    assert_eq!(
        skipped(&d),
        vec![
            (date!(2025 - 05 - 01), "jour férié : Fête du Travail"),
            (date!(2025 - 05 - 04), "dimanche"),
            (date!(2025 - 05 - 08), "jour férié : Victoire 1945"),
        ]
    );
}

#[test]
fn ascension_thursday() {
    let d = ouvrables("75", datetime!(2025-05-28 10:00 +2), 1);
    assert_eq!(d.last_day, date!(2025 - 05 - 30));
    assert_eq!(
        skipped(&d),
        vec![(date!(2025 - 05 - 29), "jour férié : Ascension")]
    );
}

#[test]
fn whit_monday() {
    let d = ouvrables("75", datetime!(2025-06-06 10:00 +2), 2);
    assert_eq!(d.last_day, date!(2025 - 06 - 10));
    assert_eq!(
        skipped(&d),
        vec![
            (date!(2025 - 06 - 08), "dimanche"),
            (date!(2025 - 06 - 09), "jour férié : Lundi de Pentecôte"),
        ]
    );
}

#[test]
fn bastille_day() {
    let d = ouvrables("75", datetime!(2025-07-12 10:00 +2), 1);
    assert_eq!(d.last_day, date!(2025 - 07 - 15));
    assert_eq!(
        skipped(&d)[1],
        (date!(2025 - 07 - 14), "jour férié : Fête nationale")
    );
}

#[test]
fn assumption_pushes_to_saturday_then_monday() {
    let d = ouvrables("75", datetime!(2025-08-14 10:00 +2), 1);
    assert_eq!(d.counted_days, vec![date!(2025 - 08 - 16)]);
    assert_eq!(d.extended_from, Some(date!(2025 - 08 - 16)));
    assert_eq!(d.last_day, date!(2025 - 08 - 18));
    assert_eq!(
        skipped(&d)[0],
        (date!(2025 - 08 - 15), "jour férié : Assomption")
    );
    let strict = run(
        CalendarMode::OuvrablesStrict,
        "75",
        datetime!(2025-08-14 10:00 +2),
        1,
    );
    assert_eq!(strict.last_day, date!(2025 - 08 - 16));
}

#[test]
fn all_saints_on_saturday_and_armistice() {
    let d = ouvrables("75", datetime!(2025-10-31 10:00 +1), 1);
    assert_eq!(d.last_day, date!(2025 - 11 - 03));
    assert_eq!(d.extended_from, None);
    assert_eq!(
        skipped(&d)[0],
        (date!(2025 - 11 - 01), "jour férié : Toussaint")
    );

    let d = ouvrables("75", datetime!(2025-11-10 10:00 +1), 1);
    assert_eq!(d.last_day, date!(2025 - 11 - 12));
    assert_eq!(
        skipped(&d),
        vec![(date!(2025 - 11 - 11), "jour férié : Armistice 1918")]
    );
}

#[test]
fn holiday_on_a_sunday_is_named() {
    // 1 November 2026 is a Sunday.
    let d = ouvrables("75", datetime!(2026-10-30 10:00 +1), 2);
    assert_eq!(
        d.counted_days,
        vec![date!(2026 - 10 - 31), date!(2026 - 11 - 02)]
    );
    assert_eq!(
        skipped(&d),
        vec![(date!(2026 - 11 - 01), "jour férié : Toussaint")]
    );
}

#[test]
fn extension_also_jumps_a_monday_holiday() {
    let d = ouvrables("75", datetime!(2025-04-18 10:00 +2), 1);
    assert_eq!(d.counted_days, vec![date!(2025 - 04 - 19)]);
    assert_eq!(d.extended_from, Some(date!(2025 - 04 - 19)));
    assert_eq!(d.last_day, date!(2025 - 04 - 22));
    assert_eq!(
        skipped(&d),
        vec![
            (date!(2025 - 04 - 20), "dimanche"),
            (date!(2025 - 04 - 21), "jour férié : Lundi de Pâques"),
        ]
    );
}

#[test]
fn zero_days_ends_with_the_submission_day() {
    let d = ouvrables("75", datetime!(2025-04-19 10:00 +2), 0);
    assert!(d.counted_days.is_empty());
    assert_eq!(d.last_day, date!(2025 - 04 - 19));
    assert_eq!(d.extended_from, None);
}

#[test]
fn remaining_days() {
    let calendar = Calendar::default();
    let paris = dept("75");
    let d = ouvrables("75", datetime!(2025-04-16 10:00 +2), 5);
    let left = |at| calendar.business_days_between(at, &d, &paris, None);
    assert_eq!(left(datetime!(2025-04-16 10:00 +2)), 5);
    assert_eq!(left(datetime!(2025-04-19 12:00 +2)), 2);
    assert_eq!(left(datetime!(2025-04-22 23:59 +2)), 1);
    assert_eq!(left(datetime!(2025-04-23 08:00 +2)), 0);
    assert_eq!(left(datetime!(2025-05-02 08:00 +2)), 0);

    // After the art. 642 extension, the Monday it runs on to still counts.
    let x = ouvrables("75", datetime!(2025-12-23 10:00 +1), 3);
    let left = |at| calendar.business_days_between(at, &x, &paris, None);
    assert_eq!(left(datetime!(2025-12-28 10:00 +1)), 1);
    assert_eq!(left(datetime!(2025-12-29 10:00 +1)), 0);

    // The deadline's own mode is used, not the calendar's.
    let ouvres = run(
        CalendarMode::Ouvres,
        "75",
        datetime!(2025-06-13 10:00 +2),
        5,
    );
    assert_eq!(
        calendar.business_days_between(datetime!(2025-06-13 10:00 +2), &ouvres, &paris, None),
        5
    );
}

#[test]
fn counted_day_reasons() {
    let paris = dept("75");
    let ouvrables = Calendar::default();
    let ouvres = Calendar::new(CalendarMode::Ouvres);
    assert_eq!(
        ouvrables.is_counted_day(date!(2025 - 04 - 22), &paris, None),
        Ok(())
    );
    assert_eq!(
        ouvrables.is_counted_day(date!(2025 - 04 - 19), &paris, None),
        Ok(())
    );
    assert_eq!(
        ouvres.is_counted_day(date!(2025 - 04 - 19), &paris, None),
        Err("samedi".to_owned())
    );
    assert_eq!(
        ouvrables.is_counted_day(date!(2025 - 04 - 20), &paris, None),
        Err("dimanche".to_owned())
    );
    assert_eq!(
        ouvrables.is_counted_day(date!(2025 - 04 - 21), &paris, None),
        Err("jour férié : Lundi de Pâques".to_owned())
    );
}

// ---- School holidays ----

const TOUSSAINT_CSV: &str = "Description;Population;Date de début;Date de fin;Académies;Zones;annee_scolaire
Vacances de la Toussaint;-;2025-10-17T22:00:00+00:00;2025-11-02T23:00:00+00:00;Paris;Zone C;2025-2026
Vacances de la Toussaint;-;2025-10-17T22:00:00+00:00;2025-11-02T23:00:00+00:00;Versailles;Zone C;2025-2026
Vacances de la Toussaint;-;2025-10-17T22:00:00+00:00;2025-11-02T23:00:00+00:00;Lyon;Zone A;2025-2026
";

fn with_holidays(suspend: bool) -> Calendar {
    let (holidays, errors) = SchoolHolidays::parse_csv(TOUSSAINT_CSV);
    assert!(errors.is_empty(), "{errors:?}");
    Calendar {
        mode: CalendarMode::Ouvrables,
        school_holidays: Some(holidays),
        suspend_in_school_holidays: suspend,
    }
}

fn zone_query<'a>(department: &'a Department, zone: Option<&'a SchoolZone>) -> DeadlineQuery<'a> {
    DeadlineQuery {
        submitted_at: datetime!(2025-10-16 10:00 +2),
        business_days: 3,
        department,
        zone,
    }
}

#[test]
fn school_holidays_warn_without_suspending() {
    let paris = dept("75");
    let c = SchoolZone::parse("Zone C").unwrap();
    let d = with_holidays(false).deadline(zone_query(&paris, Some(&c)));
    assert_eq!(d.last_day, date!(2025 - 10 - 20));
    let warning = d.school_holiday_warning.expect("warning expected");
    assert!(warning.contains("Vacances de la Toussaint"), "{warning}");
    assert!(warning.contains("zone C"), "{warning}");
    assert!(warning.contains("lundi 20 octobre 2025"), "{warning}");
    assert!(warning.contains("dimanche 2 novembre 2025"), "{warning}");

    // Zone B has no holidays in the sample.
    let b = SchoolZone::parse("B").unwrap();
    let d = with_holidays(false).deadline(zone_query(&paris, Some(&b)));
    assert_eq!(d.school_holiday_warning, None);
    // No zone: no warning either.
    let d = with_holidays(true).deadline(zone_query(&paris, None));
    assert_eq!(d.last_day, date!(2025 - 10 - 20));
    assert_eq!(d.school_holiday_warning, None);
}

#[test]
fn school_holidays_suspend_the_count() {
    let paris = dept("75");
    let c = SchoolZone::parse("C").unwrap();
    let d = with_holidays(true).deadline(zone_query(&paris, Some(&c)));
    assert_eq!(
        d.counted_days,
        vec![
            date!(2025 - 10 - 17),
            date!(2025 - 11 - 03),
            date!(2025 - 11 - 04)
        ]
    );
    assert_eq!(d.last_day, date!(2025 - 11 - 04));
    assert_eq!(d.school_holiday_warning, None);
    let reasons = skipped(&d);
    assert_eq!(reasons.len(), 16);
    assert_eq!(
        reasons[0],
        (
            date!(2025 - 10 - 18),
            "vacances scolaires : Vacances de la Toussaint"
        )
    );
    assert!(reasons.contains(&(date!(2025 - 10 - 19), "dimanche")));
    assert!(reasons.contains(&(date!(2025 - 11 - 01), "jour férié : Toussaint")));

    let calendar = with_holidays(true);
    assert_eq!(
        calendar.is_counted_day(date!(2025 - 10 - 22), &paris, Some(&c)),
        Err("vacances scolaires : Vacances de la Toussaint".to_owned())
    );
    let a = SchoolZone::parse("A").unwrap();
    assert_eq!(
        calendar.is_counted_day(date!(2025 - 10 - 22), &paris, Some(&a)),
        Err("vacances scolaires : Vacances de la Toussaint".to_owned())
    );
    let b = SchoolZone::parse("B").unwrap();
    assert_eq!(
        calendar.is_counted_day(date!(2025 - 10 - 22), &paris, Some(&b)),
        Ok(())
    );
}

#[test]
fn extension_skips_suspended_holidays() {
    let c = SchoolZone::parse("C").unwrap();
    let period = SchoolHolidayPeriod {
        description: "Vacances de la Toussaint".to_owned(),
        zone: c.clone(),
        start: date!(2025 - 10 - 20),
        end_exclusive: date!(2025 - 11 - 03),
    };
    let paris = dept("75");
    let query = DeadlineQuery {
        submitted_at: datetime!(2025-10-16 10:00 +2),
        business_days: 2,
        department: &paris,
        zone: Some(&c),
    };
    let mut calendar = Calendar {
        mode: CalendarMode::Ouvrables,
        school_holidays: Some(SchoolHolidays::from_periods(vec![period])),
        suspend_in_school_holidays: true,
    };
    let d = calendar.deadline(query);
    assert_eq!(d.extended_from, Some(date!(2025 - 10 - 18)));
    assert_eq!(d.last_day, date!(2025 - 11 - 03));
    assert_eq!(d.school_holiday_warning, None);

    calendar.suspend_in_school_holidays = false;
    let d = calendar.deadline(query);
    assert_eq!(d.last_day, date!(2025 - 10 - 20));
    assert!(d.school_holiday_warning.is_some());
}

// ---- Parsing and serialisation ----

#[test]
fn department_codes() {
    let ok = [
        ("057", "57"),
        ("57", "57"),
        (" 75 ", "75"),
        ("7", "07"),
        ("07", "07"),
        ("007", "07"),
        ("2a", "2A"),
        ("02A", "2A"),
        ("2B", "2B"),
        ("971", "971"),
        ("976", "976"),
        ("95", "95"),
        ("01", "01"),
    ];
    for (input, expected) in ok {
        assert_eq!(dept(input).as_str(), expected, "{input}");
    }
    for bad in [
        "", "0", "00", "20", "96", "97", "970", "977", "999", "2C", "A", "1234", "7é", "-1",
    ] {
        let err = Department::parse(bad).unwrap_err();
        assert!(
            err.to_string().starts_with("code de département invalide"),
            "{bad}"
        );
    }
    assert_eq!(dept("2a").to_string(), "2A");
    assert_eq!("974".parse::<Department>().unwrap().as_str(), "974");
}

#[test]
fn time_zones_by_department() {
    use time_tz::TimeZone;
    assert_eq!(time_zone(&dept("75")).name(), "Europe/Paris");
    assert_eq!(time_zone(&dept("2A")).name(), "Europe/Paris");
    assert_eq!(time_zone_name(&dept("971")), "America/Guadeloupe");
    assert_eq!(time_zone_name(&dept("972")), "America/Martinique");
    assert_eq!(time_zone_name(&dept("973")), "America/Cayenne");
    assert_eq!(time_zone_name(&dept("974")), "Indian/Reunion");
    assert_eq!(time_zone_name(&dept("976")), "Indian/Mayotte");
    assert_eq!(
        local_date(datetime!(2025-06-01 02:00 UTC), &dept("971")),
        date!(2025 - 05 - 31)
    );
    assert_eq!(
        local_date(datetime!(2025-06-01 21:00 UTC), &dept("974")),
        date!(2025 - 06 - 02)
    );
}

#[test]
fn mode_names() {
    for (text, mode) in [
        ("ouvrables", CalendarMode::Ouvrables),
        ("ouvrables_strict", CalendarMode::OuvrablesStrict),
        ("ouvres", CalendarMode::Ouvres),
    ] {
        assert_eq!(text.parse::<CalendarMode>().unwrap(), mode);
        assert_eq!(mode.as_str(), text);
        assert_eq!(serde_json::to_string(&mode).unwrap(), format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<CalendarMode>(&format!("\"{text}\"")).unwrap(),
            mode
        );
    }
    assert_eq!(CalendarMode::default(), CalendarMode::Ouvrables);
    let err = "calendaires".parse::<CalendarMode>().unwrap_err();
    assert!(err.to_string().starts_with("mode de calcul inconnu"));
}

#[test]
fn deadline_serialises_as_json() {
    let d = ouvrables("75", datetime!(2025-12-23 10:00 +1), 3);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["last_day"], "2025-12-29");
    assert_eq!(json["expires_at"], "2025-12-30T00:00:00+01:00");
    assert_eq!(json["time_zone"], "Europe/Paris");
    assert_eq!(json["mode"], "ouvrables");
    assert_eq!(
        json["counted_days"],
        serde_json::json!(["2025-12-24", "2025-12-26", "2025-12-27"])
    );
    assert_eq!(json["skipped_days"][0]["date"], "2025-12-25");
    assert_eq!(json["skipped_days"][0]["reason"], "jour férié : Noël");
    assert_eq!(json["extended_from"], "2025-12-27");
    assert_eq!(json["school_holiday_warning"], serde_json::Value::Null);

    assert_eq!(serde_json::to_value(dept("057")).unwrap(), "57");
    assert_eq!(
        serde_json::from_str::<Department>("\"2a\"").unwrap(),
        dept("2A")
    );
    assert!(serde_json::from_str::<Department>("\"20\"").is_err());
    assert_eq!(
        serde_json::to_value(SchoolZone::parse("Zone A").unwrap()).unwrap(),
        "A"
    );
}

// ---- Properties ----

const DEPARTMENTS: &[&str] = &[
    "75", "57", "67", "68", "2A", "13", "971", "972", "973", "974", "976",
];
const MODES: &[CalendarMode] = &[
    CalendarMode::Ouvrables,
    CalendarMode::OuvrablesStrict,
    CalendarMode::Ouvres,
];

// 2020-01-01 to 2036-01-01, in Unix seconds.
const FROM: i64 = 1_577_836_800;
const TO: i64 = 2_082_758_400;

fn instant(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap()
}

proptest! {
    #[test]
    fn deadline_is_monotonic(
        t in FROM..TO,
        delta in 0i64..(20 * 86_400),
        n in 1u32..30,
        d in 0..DEPARTMENTS.len(),
        m in 0..MODES.len(),
    ) {
        let a = run(MODES[m], DEPARTMENTS[d], instant(t), n);
        let b = run(MODES[m], DEPARTMENTS[d], instant(t + delta), n);
        prop_assert!(a.last_day <= b.last_day);
        prop_assert!(a.expires_at <= b.expires_at);
    }

    #[test]
    fn deadline_invariants(
        t in FROM..TO,
        n in 1u32..40,
        d in 0..DEPARTMENTS.len(),
        m in 0..MODES.len(),
    ) {
        let department = dept(DEPARTMENTS[d]);
        let mode = MODES[m];
        let submitted = instant(t);
        let deadline = run(mode, DEPARTMENTS[d], submitted, n);
        let start = local_date(submitted, &department);

        prop_assert_eq!(deadline.counted_days.len(), n as usize);
        prop_assert!(deadline.last_day >= start + Duration::days(i64::from(n)));
        prop_assert!(deadline.last_day.weekday() != Weekday::Sunday);
        prop_assert_eq!(public_holiday(&department, deadline.last_day), None);
        if mode != CalendarMode::OuvrablesStrict {
            prop_assert!(deadline.last_day.weekday() != Weekday::Saturday);
        }
        if mode != CalendarMode::Ouvrables {
            prop_assert_eq!(deadline.extended_from, None);
        }

        // Every day after the submission up to the last one is explained once.
        let mut explained: Vec<Date> = deadline.counted_days.clone();
        explained.extend(deadline.skipped_days.iter().map(|s| s.date));
        if deadline.extended_from.is_some() {
            explained.push(deadline.last_day);
        }
        explained.sort();
        let expected: Vec<Date> = (1..)
            .map(|k| start + Duration::days(k))
            .take_while(|day| *day <= deadline.last_day)
            .collect();
        prop_assert_eq!(explained, expected);

        // expires_at is local midnight ending last_day, carrying the local offset.
        let tz = time_zone(&department);
        let local = deadline.expires_at.to_timezone(tz);
        prop_assert_eq!(local.date(), deadline.last_day.next_day().unwrap());
        prop_assert_eq!(local.time(), time::Time::MIDNIGHT);
        prop_assert_eq!(
            deadline.expires_at.offset(),
            tz.get_offset_utc(&deadline.expires_at).to_utc()
        );

        let left = Calendar::new(mode).business_days_between(submitted, &deadline, &department, None);
        if deadline.extended_from.is_none() {
            prop_assert_eq!(left, n);
        } else {
            prop_assert!(left > n);
        }
    }

    #[test]
    fn suspended_count_never_ends_in_school_holidays(
        t in FROM..TO,
        n in 1u32..20,
        m in 0..MODES.len(),
    ) {
        let zone = SchoolZone::parse("C").unwrap();
        // One two-week period every eight weeks, starting on Saturdays.
        let first = date!(2019 - 12 - 21);
        let periods = (0..110)
            .map(|k| {
                let start = first + Duration::weeks(8 * k);
                SchoolHolidayPeriod {
                    description: format!("Vacances {k}"),
                    zone: zone.clone(),
                    start,
                    end_exclusive: start + Duration::days(16),
                }
            })
            .collect();
        let calendar = Calendar {
            mode: MODES[m],
            school_holidays: Some(SchoolHolidays::from_periods(periods)),
            suspend_in_school_holidays: true,
        };
        let paris = dept("75");
        let deadline = calendar.deadline(DeadlineQuery {
            submitted_at: instant(t),
            business_days: n,
            department: &paris,
            zone: Some(&zone),
        });
        prop_assert_eq!(deadline.counted_days.len(), n as usize);
        prop_assert!(deadline.school_holiday_warning.is_none());
        for day in &deadline.counted_days {
            prop_assert!(calendar.is_counted_day(*day, &paris, Some(&zone)).is_ok());
        }
    }
}

// Every instant `time` can hold, with any offset it can hold (±25:59:59).
fn any_instant() -> impl Strategy<Value = OffsetDateTime> {
    let min = OffsetDateTime::new_utc(Date::MIN, time::Time::MIDNIGHT).unix_timestamp();
    let max = OffsetDateTime::new_utc(Date::MAX, time::Time::MAX).unix_timestamp();
    (min..=max, -93_599i32..=93_599).prop_map(|(t, offset)| {
        let utc = OffsetDateTime::from_unix_timestamp(t).unwrap();
        let offset = time::UtcOffset::from_whole_seconds(offset).unwrap();
        utc.checked_to_offset(offset).unwrap_or(utc)
    })
}

proptest! {
    /// No instant, however far, makes a public date function of the domain panic: requests
    /// reach them only through `parse_instant`, but a bug there must not become a crash.
    #[test]
    fn no_date_function_panics_on_any_instant(
        at in any_instant(),
        n in 0u32..12,
        d in 0..DEPARTMENTS.len(),
        m in 0..MODES.len(),
        year in any::<i32>(),
    ) {
        let department = dept(DEPARTMENTS[d]);
        let calendar = Calendar::new(MODES[m]);
        let zone = SchoolZone::parse("A").unwrap();
        let deadline = calendar.deadline(DeadlineQuery {
            submitted_at: at,
            business_days: n,
            department: &department,
            zone: Some(&zone),
        });
        let _ = deadline_in_words(&deadline);
        let _ = date_in_words(deadline.last_day);
        let _ = calendar.business_days_between(at, &deadline, &department, Some(&zone));
        let _ = local_date(at, &department);
        let _ = instant_in_words(at, &department);
        let _ = in_zone(at, time_zone(&department));
        let _ = crate::domain::message::rfc3339(at);
        let _ = public_holidays(&department, year);
        let _ = easter_sunday(year);
        let _ = public_holiday(&department, local_date(at, &department));
        let _ = calendar.is_counted_day(deadline.last_day, &department, Some(&zone));
        // Whatever the text, parsing answers Ok within the supported years or a French error.
        if let Ok(text) = at.format(&Rfc3339) {
            match parse_instant(&text) {
                Ok(parsed) => prop_assert!(SUPPORTED_YEARS.contains(&parsed.year())),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    /// Within the supported years, a deadline and its expiry always serialise as RFC 3339.
    #[test]
    fn supported_instants_give_rfc3339_deadlines(
        t in 946_684_800i64..4_133_894_400,
        n in 0u32..12,
        d in 0..DEPARTMENTS.len(),
    ) {
        let deadline = ouvrables(DEPARTMENTS[d], instant(t), n);
        prop_assert!(deadline.expires_at.format(&Rfc3339).is_ok());
        prop_assert!(serde_json::to_value(&deadline).is_ok());
    }
}
