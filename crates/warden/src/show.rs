//! How the command line shows things to people: moments in the local time zone to the
//! second, durations and what is left of them in words (`1h`, `4h max`, `in 47 min`),
//! people by name beside their employee id, and ids in tables by their shortest unique
//! prefix, which every command that takes an id also accepts ([`crate::ids`]).

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use warden_core::request::RequestState;

/// The shortest id prefix shown in a table.
pub const MIN_PREFIX: usize = 8;

/// Now, by the system clock: what remaining times are counted from.
pub fn now() -> OffsetDateTime {
    warden_core::Clock::now(&warden_core::SystemClock)
}

/// A moment in the local time zone (`TZ`, else the system's), to the second:
/// `2026-03-04 11:00:00 CET`.
pub fn time(t: OffsetDateTime) -> String {
    match jiff::Timestamp::from_second(t.unix_timestamp()) {
        Ok(at) => at
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => t.to_string(),
    }
}

/// An optional moment, or `-`.
pub fn time_or_dash(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(|| "-".to_owned(), time)
}

/// A length of time as policy writes it: `1h`, `30m`, `1h30m`.
pub fn span(d: Duration) -> String {
    warden_core::policy::format_duration(d)
}

/// A length of time given in seconds, as [`span`].
pub fn secs(seconds: i64) -> String {
    span(Duration::seconds(seconds))
}

/// How far `t` is from `now`, in words: `in 47 min`, `in 2h 5 min`, `3 min ago`, `now`.
pub fn relative(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let diff = t - now;
    let s = diff.whole_seconds().unsigned_abs();
    if s == 0 {
        return "now".to_owned();
    }
    let words = if s < 60 {
        format!("{s} s")
    } else if s < 3_600 {
        format!("{} min", s / 60)
    } else if s < 86_400 {
        match (s / 3_600, s % 3_600 / 60) {
            (h, 0) => format!("{h}h"),
            (h, m) => format!("{h}h {m} min"),
        }
    } else {
        match (s / 86_400, s % 86_400 / 3_600) {
            (1, 0) => "1 day".to_owned(),
            (d, 0) => format!("{d} days"),
            (1, h) => format!("1 day {h}h"),
            (d, h) => format!("{d} days {h}h"),
        }
    };
    if diff.is_positive() {
        format!("in {words}")
    } else {
        format!("{words} ago")
    }
}

/// A moment with how far it is from now: `2026-03-04 14:02:00 CET (in 47 min)`.
pub fn moment(t: OffsetDateTime, now: OffsetDateTime) -> String {
    format!("{} ({})", time(t), relative(t, now))
}

/// A person by name beside their employee id: `Alice Andersen (E1001)`; the id alone when
/// the name is not known.
pub fn person(employee_id: &str, name: Option<&str>) -> String {
    match name.filter(|n| !n.is_empty() && *n != employee_id) {
        Some(name) => format!("{name} ({employee_id})"),
        None => employee_id.to_owned(),
    }
}

/// The state of a grant in words: `revoking` (and why) while an early end is being
/// carried out on the target, `revoked (ended early …)` once done.
pub fn grant_state(g: &warden_proto::grants::GrantInfo) -> String {
    let Some(reason) = &g.end_reason else {
        return g.state.clone();
    };
    // The end moved to now and the worker is about to take the access away.
    let state = if RequestState::parse(&g.state).is_ok_and(|s| s.keeps_access()) {
        RequestState::Revoking.as_str()
    } else {
        g.state.as_str()
    };
    match g.ends_at {
        Some(at) => format!("{state} (ended early at {}: {reason})", time(at)),
        None => format!("{state} (ended early: {reason})"),
    }
}

/// The end of a grant, with the time left (or since) for a live one.
pub fn grant_until(g: &warden_proto::grants::GrantInfo, now: OffsetDateTime) -> String {
    match g.ends_at {
        Some(end)
            if g.end_reason.is_none()
                && RequestState::parse(&g.state) == Ok(RequestState::Active) =>
        {
            moment(end, now)
        }
        Some(end) => time(end),
        None => "-".to_owned(),
    }
}

/// The shortest prefix of each id (of its 32 hex digits, at least [`MIN_PREFIX`]) that no
/// other id in `ids` shares.
pub fn short_ids(ids: &[Uuid]) -> HashMap<Uuid, String> {
    let hex: Vec<(Uuid, String)> = ids
        .iter()
        .map(|id| (*id, id.simple().to_string()))
        .collect();
    hex.iter()
        .map(|(id, text)| {
            let shared = hex
                .iter()
                .filter(|(other, _)| other != id)
                .map(|(_, o)| common_prefix(text, o))
                .max()
                .unwrap_or(0);
            let len = (shared + 1).clamp(MIN_PREFIX, text.len());
            (*id, text.get(..len).unwrap_or(text).to_owned())
        })
        .collect()
}

/// The short form of `id` from [`short_ids`], or the whole id.
pub fn short(shorts: &HashMap<Uuid, String>, id: Uuid) -> String {
    shorts.get(&id).cloned().unwrap_or_else(|| id.to_string())
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn remaining_time_is_in_words() {
        let now = datetime!(2026-03-04 10:00 UTC);
        let cases = [
            (now, "now"),
            (now + Duration::seconds(40), "in 40 s"),
            (
                now + Duration::minutes(47) + Duration::seconds(30),
                "in 47 min",
            ),
            (now + Duration::hours(1), "in 1h"),
            (now + Duration::minutes(125), "in 2h 5 min"),
            (now + Duration::hours(49), "in 2 days 1h"),
            (now - Duration::minutes(3), "3 min ago"),
            (now - Duration::days(1), "1 day ago"),
        ];
        for (t, want) in cases {
            assert_eq!(relative(t, now), want);
        }
        assert_eq!(secs(3600), "1h");
        assert_eq!(secs(14_400), "4h");
        assert_eq!(secs(5_400), "1h30m");
    }

    #[test]
    fn short_ids_are_unique_prefixes() {
        let a = Uuid::parse_str("0193a4f2-7c3e-7000-8000-000000000001").unwrap();
        let b = Uuid::parse_str("0193a4f2-7c3e-7000-8000-000000000002").unwrap();
        let c = Uuid::parse_str("0193b000-0000-7000-8000-000000000000").unwrap();
        let shorts = short_ids(&[a, b, c]);
        assert_eq!(shorts[&a], "0193a4f27c3e70008000000000000001");
        assert_eq!(shorts[&b], "0193a4f27c3e70008000000000000002");
        assert_eq!(shorts[&c], "0193b000");
        assert_eq!(short_ids(&[c])[&c], "0193b000");
    }

    #[test]
    fn people_are_named_beside_their_id() {
        assert_eq!(
            person("E1001", Some("Alice Andersen")),
            "Alice Andersen (E1001)"
        );
        assert_eq!(person("E1001", None), "E1001");
    }
}
