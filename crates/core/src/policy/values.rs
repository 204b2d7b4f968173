//! The small value languages inside policy files: humane durations (`"4h"`, `"1h30m"`),
//! clock times (`"07:00"`), UTC offsets (`"+01:00"`), weekday names, and the allowed-hours
//! window built from them.

use std::fmt;

use time::{Duration, OffsetDateTime, UtcOffset, Weekday};

/// The longest policy name.
pub const MAX_NAME_LEN: usize = 64;

/// Why a policy name is refused. Shown after the name, as in `group name "X": must not
/// be empty`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("must not be empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("must be at most {MAX_NAME_LEN} characters")]
    TooLong,
    /// The name holds a character outside `a-z 0-9 . _ -`, or starts with `.`, `_` or `-`.
    #[error(
        "character {0:?} is not allowed; use a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
    )]
    Character(char),
}

/// Checks a policy name (resource, role, group, rule, approval, connection, environment,
/// tag key): 1 to 64 characters of `a-z 0-9 . _ -`, starting with a letter or digit. The
/// alphabet is fixed here, apart from user names', so a policy keeps its meaning.
pub fn check_policy_name(raw: &str) -> Result<(), NameError> {
    let mut chars = raw.chars();
    let Some(first) = chars.next() else {
        return Err(NameError::Empty);
    };
    if raw.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    let bad = if first.is_ascii_lowercase() || first.is_ascii_digit() {
        chars.find(|c| !allowed(*c))
    } else {
        Some(first)
    };
    match bad {
        Some(c) => Err(NameError::Character(c)),
        None => Ok(()),
    }
}

/// The longest duration a policy may state (grant length, approval timeout).
pub const MAX_POLICY_DURATION: Duration = Duration::days(7);

/// Why a duration is refused. Each variant holds the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is not `<number><unit>` parts in the order `d`, `h`, `m`.
    #[error("bad duration {0:?}; write it like \"30m\", \"4h\", \"1d\" or \"1h30m\"")]
    Malformed(String),
    /// The duration is zero.
    #[error("duration {0:?} must be more than zero")]
    NotPositive(String),
    /// The duration is longer than the maximum it was checked against.
    #[error("duration {raw:?} is longer than the maximum of {}", format_duration(*max))]
    TooLong {
        /// The text as written.
        raw: String,
        /// The maximum.
        max: Duration,
    },
}

/// Parses a humane duration: one or more `<number><unit>` parts with units `d`, `h`, `m`
/// in that order, each at most once, such as `30m`, `4h`, `1d`, `1h30m`. The result must
/// be more than zero and at most [`MAX_POLICY_DURATION`].
pub fn parse_duration(raw: &str) -> Result<Duration, DurationError> {
    parse_duration_within(raw, MAX_POLICY_DURATION)
}

/// [`parse_duration`] with another maximum (a rotation interval may run to a year, say).
pub fn parse_duration_within(raw: &str, max: Duration) -> Result<Duration, DurationError> {
    let bad = || DurationError::Malformed(raw.to_owned());
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut last_unit_rank = 0u8;
    for c in raw.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let (rank, seconds) = match c {
            'd' => (1, 86_400),
            'h' => (2, 3_600),
            'm' => (3, 60),
            _ => return Err(bad()),
        };
        if digits.is_empty() || rank <= last_unit_rank || digits.len() > 6 {
            return Err(bad());
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        total += n * seconds;
        last_unit_rank = rank;
        digits.clear();
    }
    if !digits.is_empty() || last_unit_rank == 0 {
        return Err(bad());
    }
    let d = Duration::seconds(total);
    if d <= Duration::ZERO {
        return Err(DurationError::NotPositive(raw.to_owned()));
    }
    if d > max {
        return Err(DurationError::TooLong {
            raw: raw.to_owned(),
            max,
        });
    }
    Ok(d)
}

/// Writes a duration the way policy files do: `4h`, `1h30m`, `1d`; seconds appear only
/// when the duration is not a whole number of minutes (`90s`, `1m30s`).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.whole_seconds();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    if secs < 0 {
        out.push('-');
        secs = -secs;
    }
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        let n = secs / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
        secs %= size;
    }
    out
}

/// Weekday names as written in policy files, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The policy name of a weekday.
pub fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    }
}

/// Why a time of day or a UTC offset is refused. Each variant holds the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// Not a time `HH:MM` from `00:00` to `23:59` (or `24:00` where the end of the day is
    /// allowed).
    #[error("bad time {0:?}; write it as HH:MM, from 00:00 to 23:59")]
    Time(String),
    /// Not an offset `+HH:MM` or `-HH:MM` within 14 hours.
    #[error("bad UTC offset {0:?}; write it as +HH:MM or -HH:MM, such as \"+01:00\"")]
    Offset(String),
}

/// Parses `HH:MM` into minutes after midnight; `24:00` only when `allow_end_of_day`.
pub fn parse_clock(raw: &str, allow_end_of_day: bool) -> Result<u16, ClockError> {
    let bad = || ClockError::Time(raw.to_owned());
    let (h, m) = raw.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !h.chars().chain(m.chars()).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if allow_end_of_day && h == 24 && m == 0 {
        return Ok(24 * 60);
    }
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Parses `+HH:MM` or `-HH:MM`, between -14:00 and +14:00.
pub fn parse_offset(raw: &str) -> Result<UtcOffset, ClockError> {
    let bad = || ClockError::Offset(raw.to_owned());
    let (sign, rest) = match raw.split_at_checked(1) {
        Some(("+", rest)) => (1i8, rest),
        Some(("-", rest)) => (-1i8, rest),
        _ => return Err(bad()),
    };
    let minutes = parse_clock(rest, false).map_err(|_| bad())?;
    if minutes > 14 * 60 {
        return Err(bad());
    }
    let h = i8::try_from(minutes / 60).map_err(|_| bad())?;
    let m = i8::try_from(minutes % 60).map_err(|_| bad())?;
    UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())
}

/// Writes an offset as `+HH:MM`.
pub fn format_offset(offset: UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    let sign = if h < 0 || m < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

fn format_clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `now` seen in `offset`; if that falls outside the representable range, `now` unchanged.
pub fn local(now: OffsetDateTime, offset: UtcOffset) -> OffsetDateTime {
    now.checked_to_offset(offset).unwrap_or(now)
}

/// Why an allowed-hours window is refused. Messages name the policy key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// `hours.days` is empty.
    #[error("hours.days must list at least one day")]
    NoDays,
    /// A day is not one of [`WEEKDAYS`].
    #[error("unknown day {0:?} in hours.days; use {known}", known = WEEKDAYS.join(", "))]
    UnknownDay(String),
    /// A day is listed more than once.
    #[error("day {0:?} is listed twice in hours.days")]
    RepeatedDay(String),
    /// `hours.from` is not a time of day.
    #[error("hours.from: {0}")]
    Start(ClockError),
    /// `hours.to` is not a time of day (or `24:00`).
    #[error("hours.to: {0}")]
    End(ClockError),
    /// The window is empty or would cross midnight.
    #[error("hours.from ({from}) must be before hours.to ({to}); a window cannot cross midnight")]
    Backwards {
        /// `hours.from` as written.
        from: String,
        /// `hours.to` as written.
        to: String,
    },
    /// `hours.utc_offset` is not an offset.
    #[error("hours.utc_offset: {0}")]
    Offset(ClockError),
}

/// A weekly window in which requests are allowed: on the listed days, from `from`
/// (inclusive) to `to` (exclusive), in a fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    days: u8,
    from: u16,
    to: u16,
    offset: UtcOffset,
}

impl Hours {
    /// Builds a window; `days` are policy weekday names. Checks everything.
    pub fn new(days: &[String], from: &str, to: &str, offset: &str) -> Result<Self, HoursError> {
        if days.is_empty() {
            return Err(HoursError::NoDays);
        }
        let mut mask = 0u8;
        for day in days {
            let Some(i) = WEEKDAYS.iter().position(|d| d == day) else {
                return Err(HoursError::UnknownDay(day.clone()));
            };
            let bit = 1u8 << i;
            if mask & bit != 0 {
                return Err(HoursError::RepeatedDay(day.clone()));
            }
            mask |= bit;
        }
        let from_m = parse_clock(from, false).map_err(HoursError::Start)?;
        let to_m = parse_clock(to, true).map_err(HoursError::End)?;
        if from_m >= to_m {
            return Err(HoursError::Backwards {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        }
        let offset = parse_offset(offset).map_err(HoursError::Offset)?;
        Ok(Self {
            days: mask,
            from: from_m,
            to: to_m,
            offset,
        })
    }

    /// The window's UTC offset.
    pub fn offset(&self) -> UtcOffset {
        self.offset
    }

    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: OffsetDateTime) -> bool {
        let t = local(now, self.offset);
        let day_bit = 1u8 << t.weekday().number_days_from_monday();
        let minute = u16::from(t.hour()) * 60 + u16::from(t.minute());
        self.days & day_bit != 0 && self.from <= minute && minute < self.to
    }

    fn days_text(&self) -> String {
        let on: Vec<usize> = (0..7).filter(|i| self.days & (1u8 << i) != 0).collect();
        let mut parts = Vec::new();
        let mut i = 0;
        while let Some(&start) = on.get(i) {
            let mut end = start;
            let mut j = i + 1;
            while on.get(j) == Some(&(end + 1)) {
                end += 1;
                j += 1;
            }
            let name = |k: usize| WEEKDAYS.get(k).copied().unwrap_or("?");
            if end >= start + 2 {
                parts.push(format!("{}-{}", name(start), name(end)));
            } else {
                parts.extend((start..=end).map(|k| name(k).to_owned()));
            }
            i = j;
        }
        parts.join(",")
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}-{} {}",
            self.days_text(),
            format_clock(self.from),
            format_clock(self.to),
            format_offset(self.offset)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn durations_round_trip() {
        for (raw, secs) in [
            ("30m", 1800),
            ("4h", 14_400),
            ("1d", 86_400),
            ("1h30m", 5400),
            ("7d", 604_800),
        ] {
            let d = parse_duration(raw).unwrap();
            assert_eq!(d.whole_seconds(), secs, "{raw}");
            assert_eq!(format_duration(d), raw);
        }
        for bad in [
            "", "4", "h", "4x", "30m1h", "1h1h", "0m", "8d", "-1h", "4 h", "1.5h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_duration(Duration::seconds(90)), "1m30s");
    }

    /// Each refusal has its own variant, and reads in policy validation's output as it
    /// always has.
    #[test]
    fn refusals_are_typed_and_read_as_before() {
        let days: Vec<String> = vec!["mon".into()];
        let cases: Vec<(Box<dyn std::error::Error>, &str)> = vec![
            (
                Box::new(check_policy_name("").unwrap_err()),
                "must not be empty",
            ),
            (
                Box::new(check_policy_name(&"a".repeat(65)).unwrap_err()),
                "must be at most 64 characters",
            ),
            (
                Box::new(check_policy_name("-a").unwrap_err()),
                "character '-' is not allowed; use a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
            ),
            (
                Box::new(parse_duration("4 h").unwrap_err()),
                "bad duration \"4 h\"; write it like \"30m\", \"4h\", \"1d\" or \"1h30m\"",
            ),
            (
                Box::new(parse_duration("0m").unwrap_err()),
                "duration \"0m\" must be more than zero",
            ),
            (
                Box::new(parse_duration("8d").unwrap_err()),
                "duration \"8d\" is longer than the maximum of 7d",
            ),
            (
                Box::new(Hours::new(&[], "07:00", "19:00", "+00:00").unwrap_err()),
                "hours.days must list at least one day",
            ),
            (
                Box::new(
                    Hours::new(&["sun".into(), "sun".into()], "07:00", "19:00", "+00:00")
                        .unwrap_err(),
                ),
                "day \"sun\" is listed twice in hours.days",
            ),
            (
                Box::new(Hours::new(&days, "07:00", "24:01", "+00:00").unwrap_err()),
                "hours.to: bad time \"24:01\"; write it as HH:MM, from 00:00 to 23:59",
            ),
            (
                Box::new(Hours::new(&days, "07:00", "19:00", "+14:30").unwrap_err()),
                "hours.utc_offset: bad UTC offset \"+14:30\"; write it as +HH:MM or -HH:MM, such as \"+01:00\"",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
        assert_eq!(check_policy_name("-a"), Err(NameError::Character('-')));
        assert_eq!(
            parse_duration_within("2h", Duration::hours(1)),
            Err(DurationError::TooLong {
                raw: "2h".into(),
                max: Duration::hours(1)
            })
        );
        assert_eq!(
            Hours::new(&days, "7", "19:00", "+00:00"),
            Err(HoursError::Start(ClockError::Time("7".into())))
        );
    }

    #[test]
    fn hours_window() {
        let days: Vec<String> = ["mon", "tue", "wed", "thu", "fri"]
            .map(String::from)
            .to_vec();
        let h = Hours::new(&days, "07:00", "19:00", "+02:00").unwrap();
        assert_eq!(h.to_string(), "mon-fri 07:00-19:00 +02:00");
        // Monday 05:30 UTC is 07:30 at +02:00.
        assert!(h.contains(datetime!(2026-03-02 05:30 UTC)));
        assert!(!h.contains(datetime!(2026-03-02 04:59 UTC)));
        assert!(
            !h.contains(datetime!(2026-03-02 17:00 UTC)),
            "19:00 local is outside"
        );
        // Friday 23:00 UTC is Saturday 01:00 local.
        assert!(!h.contains(datetime!(2026-03-06 23:00 UTC)));
        let weekend = Hours::new(
            &["sat".into(), "sun".into(), "wed".into()],
            "00:00",
            "24:00",
            "-05:30",
        )
        .unwrap();
        assert_eq!(weekend.to_string(), "wed,sat,sun 00:00-24:00 -05:30");
        assert!(Hours::new(&days, "19:00", "07:00", "+00:00").is_err());
        assert!(Hours::new(&days, "7:00", "19:00", "+00:00").is_err());
        assert!(Hours::new(&["moon".into()], "07:00", "19:00", "+00:00").is_err());
        assert!(Hours::new(&days, "07:00", "19:00", "+15:00").is_err());
        assert!(Hours::new(&[], "07:00", "19:00", "+00:00").is_err());
    }
}
