//! Maintenance windows per host group: weekdays and a time range at a fixed UTC offset
//! (a window may span midnight). A host whose groups have no window may be changed at any
//! time; one with windows only inside one of them.

use certfleet_store::WindowRow;
use time::{Duration, OffsetDateTime};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Checks an admin's window; the message says which part is wrong.
pub fn check(w: &WindowRow) -> Result<(), String> {
    if w.group_name.trim().is_empty() {
        return Err("a window needs the group it applies to".into());
    }
    for day in w.weekdays.split(',').map(str::trim) {
        if !DAYS.contains(&day) {
            return Err(format!(
                "{day:?} is not a weekday: use mon, tue, wed, thu, fri, sat, sun separated by commas"
            ));
        }
    }
    if !(0..1440).contains(&w.start_minute) || !(0..=1440).contains(&w.end_minute) {
        return Err("times are minutes of the day, 0 to 1440".into());
    }
    if w.start_minute == w.end_minute {
        return Err("the window's start and end are the same: it would never open".into());
    }
    if w.utc_offset_minutes.abs() > 14 * 60 {
        return Err("the UTC offset is at most 14 hours either way".into());
    }
    Ok(())
}

fn contains(w: &WindowRow, now: OffsetDateTime) -> bool {
    let local = now + Duration::minutes(w.utc_offset_minutes);
    let minute = i64::from(local.hour()) * 60 + i64::from(local.minute());
    let today = DAYS[usize::from(local.weekday().number_days_from_monday())];
    let yesterday = DAYS[(usize::from(local.weekday().number_days_from_monday()) + 6) % 7];
    let on = |day: &str| w.weekdays.split(',').any(|d| d.trim() == day);
    if w.start_minute < w.end_minute {
        on(today) && minute >= w.start_minute && minute < w.end_minute
    } else {
        // Spans midnight: the evening part today, or the morning part of a window that
        // started yesterday.
        (on(today) && minute >= w.start_minute) || (on(yesterday) && minute < w.end_minute)
    }
}

/// `None`: the host may be changed now. `Some(reason)`: not now.
pub fn closed(windows: &[WindowRow], groups: &[String], now: OffsetDateTime) -> Option<String> {
    let mine: Vec<&WindowRow> = windows
        .iter()
        .filter(|w| groups.contains(&w.group_name))
        .collect();
    if mine.is_empty() || mine.iter().any(|w| contains(w, now)) {
        return None;
    }
    Some(format!(
        "outside the maintenance windows of {}",
        mine.iter()
            .map(|w| w.group_name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &str, start: i64, end: i64, offset: i64) -> WindowRow {
        WindowRow {
            id: 1,
            group_name: "esync".into(),
            weekdays: days.into(),
            start_minute: start,
            end_minute: end,
            utc_offset_minutes: offset,
        }
    }

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).expect("t")
    }

    #[test]
    fn windows_open_on_their_days_and_hours_in_their_offset() {
        let groups = vec!["esync".to_owned()];
        // Saturday 22:00-02:00 at UTC+01:00.
        let w = [window("sat", 22 * 60, 2 * 60, 60)];
        assert!(
            closed(&w, &groups, at("2026-11-28T21:30:00Z")).is_none(),
            "Sat 22:30 local"
        );
        assert!(
            closed(&w, &groups, at("2026-11-29T00:30:00Z")).is_none(),
            "Sun 01:30 local"
        );
        assert!(
            closed(&w, &groups, at("2026-11-29T01:30:00Z")).is_some(),
            "Sun 02:30 local"
        );
        assert!(
            closed(&w, &groups, at("2026-11-28T20:30:00Z")).is_some(),
            "Sat 21:30 local"
        );
        assert!(
            closed(&w, &["other".to_owned()], at("2026-11-28T20:30:00Z")).is_none(),
            "no window: any time"
        );
        assert!(check(&window("sat,sun", 0, 1440, 0)).is_ok());
        assert!(
            check(&window("saturday", 0, 60, 0))
                .unwrap_err()
                .contains("not a weekday")
        );
        assert!(check(&window("sat", 60, 60, 0)).is_err());
    }
}
