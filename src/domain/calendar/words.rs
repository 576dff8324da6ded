//! Dates écrites en toutes lettres, en français, pour les messages lus par une personne.

use time::{Date, Month, Weekday};

use super::Deadline;

fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "lundi",
        Weekday::Tuesday => "mardi",
        Weekday::Wednesday => "mercredi",
        Weekday::Thursday => "jeudi",
        Weekday::Friday => "vendredi",
        Weekday::Saturday => "samedi",
        Weekday::Sunday => "dimanche",
    }
}

fn month_name(month: Month) -> &'static str {
    match month {
        Month::January => "janvier",
        Month::February => "février",
        Month::March => "mars",
        Month::April => "avril",
        Month::May => "mai",
        Month::June => "juin",
        Month::July => "juillet",
        Month::August => "août",
        Month::September => "septembre",
        Month::October => "octobre",
        Month::November => "novembre",
        Month::December => "décembre",
    }
}

/// A date in French words: "jeudi 26 novembre 2026", "lundi 1er décembre 2025".
pub fn date_in_words(date: Date) -> String {
    // French typography writes the first of the month as an ordinal.
    let day = match date.day() {
        1 => "1er".to_owned(),
        n => n.to_string(),
    };
    format!(
        "{} {} {} {}",
        weekday_name(date.weekday()),
        day,
        month_name(date.month()),
        date.year()
    )
}

/// An instant in French words on the department's clocks: "lundi 30 novembre 2026 à 8 h 00".
pub fn instant_in_words(at: time::OffsetDateTime, department: &super::Department) -> String {
    let local = super::in_zone(at, super::time_zone(department));
    format!(
        "{} à {} h {:02}",
        date_in_words(local.date()),
        local.hour(),
        local.minute()
    )
}

/// The deadline's end in French words: "jeudi 26 novembre 2026 à minuit".
pub fn deadline_in_words(deadline: &Deadline) -> String {
    // "à minuit" after the last day means 24:00 of that day, which is how the
    // legal text phrases the end of a délai; it avoids naming the next day.
    format!("{} à minuit", date_in_words(deadline.last_day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn words() {
        assert_eq!(
            date_in_words(date!(2026 - 11 - 26)),
            "jeudi 26 novembre 2026"
        );
        assert_eq!(
            date_in_words(date!(2025 - 12 - 01)),
            "lundi 1er décembre 2025"
        );
        assert_eq!(
            date_in_words(date!(2025 - 08 - 15)),
            "vendredi 15 août 2025"
        );
        assert_eq!(
            date_in_words(date!(2026 - 02 - 01)),
            "dimanche 1er février 2026"
        );
        assert_eq!(
            date_in_words(date!(2025 - 04 - 02)),
            "mercredi 2 avril 2025"
        );
    }
}
