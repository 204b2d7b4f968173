//! The injected clock. Nothing in Warden reads the system time except [`SystemClock`],
//! so expiry, throttling and token lifetimes can be tested by moving a [`ManualClock`].
//! Ids are UUID v7, whose first 48 bits are a time: they take it from the clock too
//! ([`Clock::new_id`], [`id_at`]), so a test's ids sort as its manual time runs.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use uuid::timestamp::context::ContextV7;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current time in UTC.
    fn now(&self) -> OffsetDateTime;

    /// A new id (UUID v7) stamped with this clock's current time.
    fn new_id(&self) -> Uuid {
        id_at(self.now())
    }
}

/// A new id (UUID v7) stamped with `at`: the millisecond of `at`, a counter that keeps ids
/// made in the same millisecond in the order they were made, and random bits. A time
/// before 1970 is stamped as 1970.
pub fn id_at(at: OffsetDateTime) -> Uuid {
    // The last millisecond stamped, and the counter of ids made in it.
    static CONTEXT: Mutex<(u128, ContextV7)> = Mutex::new((0, ContextV7::new()));
    let nanos = u128::try_from(at.unix_timestamp_nanos()).unwrap_or(0);
    let seconds = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    let mut context = CONTEXT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let millis = nanos / 1_000_000;
    if millis < context.0 {
        // The counter never lets a stamp go back; a clock that went back (a test's
        // manual clock, say) stamps its own time, so start the counter again.
        context.1 = ContextV7::new();
    }
    context.0 = millis;
    Uuid::new_v7(uuid::Timestamp::from_unix(&context.1, seconds, subsec))
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the system time is read
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; shared by clones.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: OffsetDateTime) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_clocks_time_and_sort_as_it_runs() {
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let clock = ManualClock::new(start);
        let first = clock.new_id();
        let same_ms = clock.new_id();
        clock.advance(Duration::seconds(-60));
        let earlier = clock.new_id();
        assert_eq!(first.get_version_num(), 7);
        let (secs, _) = first.get_timestamp().unwrap().to_unix();
        assert_eq!(
            secs, 1_800_000_000,
            "the id carries the clock's time, not the system's"
        );
        assert!(
            same_ms > first,
            "ids made in one millisecond keep their order"
        );
        let (earlier_secs, _) = earlier.get_timestamp().unwrap().to_unix();
        assert_eq!(earlier_secs, 1_800_000_000 - 60);
        assert!(earlier < first, "an id stamped earlier sorts first");
    }

    #[test]
    fn a_time_before_1970_is_stamped_as_1970() {
        let id = id_at(OffsetDateTime::from_unix_timestamp(-5).unwrap());
        assert_eq!(id.get_timestamp().unwrap().to_unix().0, 0);
    }
}
