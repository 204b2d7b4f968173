//! Password-guessing protection per account name. Failed logins are counted per name in a
//! window; too many lock the name for a while. Names that match no user are counted the
//! same way, so the lock reveals nothing about which accounts exist.

use time::{Duration, OffsetDateTime};

/// When to lock an account name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures within `window` that lock the name.
    pub max_failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// How long a lock lasts.
    pub lockout: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::minutes(15),
            lockout: Duration::minutes(15),
        }
    }
}

/// The failure count of one account name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures counted in the current window.
    pub failures: u32,
    /// When the current window began.
    pub window_start: OffsetDateTime,
    /// Until when the name is locked, if it is.
    pub locked_until: Option<OffsetDateTime>,
}

impl ThrottleState {
    /// Whether logins for the name are refused at `now`.
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// The state after one more failure at `now`: a window that has run out starts again,
    /// and reaching the limit sets the lock.
    pub fn after_failure(
        previous: Option<Self>,
        now: OffsetDateTime,
        policy: &ThrottlePolicy,
    ) -> Self {
        let mut state = match previous {
            Some(state) if now - state.window_start < policy.window && !state.lock_expired(now) => {
                state
            }
            _ => Self {
                failures: 0,
                window_start: now,
                locked_until: None,
            },
        };
        state.failures = state.failures.saturating_add(1);
        if state.failures >= policy.max_failures {
            state.locked_until = Some(now + policy.lockout);
        }
        state
    }

    fn lock_expired(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| now >= until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

    fn fail_n(n: u32, policy: &ThrottlePolicy, step: Duration) -> Option<ThrottleState> {
        (0..n).fold(None, |state, i| {
            Some(ThrottleState::after_failure(
                state,
                T0 + step * i32::try_from(i).unwrap(),
                policy,
            ))
        })
    }

    #[test]
    fn locks_at_the_limit_and_not_before() {
        let policy = ThrottlePolicy::default();
        let four = fail_n(4, &policy, Duration::seconds(1)).unwrap();
        assert!(!four.is_locked(T0 + Duration::seconds(4)));
        let five = ThrottleState::after_failure(Some(four), T0 + Duration::seconds(5), &policy);
        assert!(five.is_locked(T0 + Duration::seconds(5)));
        assert!(five.is_locked(T0 + Duration::seconds(5) + Duration::minutes(14)));
        assert!(!five.is_locked(T0 + Duration::seconds(5) + Duration::minutes(15)));
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let policy = ThrottlePolicy::default();
        let state = fail_n(10, &policy, Duration::minutes(4)).unwrap();
        assert!(!state.is_locked(T0 + Duration::minutes(40)));
    }

    #[test]
    fn an_expired_lock_starts_a_fresh_count() {
        let policy = ThrottlePolicy::default();
        let locked = fail_n(5, &policy, Duration::seconds(1)).unwrap();
        let later = T0 + Duration::minutes(16);
        let after = ThrottleState::after_failure(Some(locked), later, &policy);
        assert_eq!(after.failures, 1);
        assert!(!after.is_locked(later));
    }
}
