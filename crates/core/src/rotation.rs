//! Rotation of vaulted account passwords: the bounds of an account's rotation interval.
//! The server refuses an interval outside them; the command line checks them before it
//! asks for the account's password, so a typo costs no typing.

use time::Duration;

/// The shortest rotation interval an account may have.
pub const MIN_ROTATION_INTERVAL: Duration = Duration::hours(1);

/// The longest rotation interval an account may have (also the longest default,
/// `[vault] rotate_every`).
pub const MAX_ROTATION_INTERVAL: Duration = Duration::days(366);
