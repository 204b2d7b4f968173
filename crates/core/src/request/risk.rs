//! The risk score of a request: a sum of named factors, each with its points and a reason
//! a person can read, capped at 100. The score routes the request (auto, one approver,
//! two) through the approval policy, and its factors are stored with it so that
//! `access explain` and the audit log can say why.

use std::fmt::Write as _;

use time::{Duration, OffsetDateTime};

use super::weights::RiskWeights;
use crate::identity::IdentityKind;
use crate::policy::{Hours, Privilege, format_duration};

/// The highest score.
pub const MAX_SCORE: u32 = 100;

/// What is known of the request's ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketStatus {
    /// A ticket was given and accepted.
    Valid,
    /// No ticket, though the eligibility rule asks for one (only break-glass gets this far
    /// without one; eligibility refuses the others).
    Missing,
    /// A ticket was given and not accepted: unknown, closed or malformed.
    Invalid,
    /// No ticket, and the eligibility rule does not ask for one.
    NotRequired,
}

/// The facts a request is scored on, as the service layer loaded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskInput {
    /// The resource's tier, 0 (crown jewels) to 3 ([`crate::policy::Eligibility::tier`]).
    pub tier: u8,
    /// The privilege of the role asked for ([`crate::policy::Eligibility::privilege`]).
    pub privilege: Privilege,
    /// How long the access is asked for; for an extension, the time it adds.
    pub duration: Duration,
    /// The longest grant the rule allows ([`crate::policy::Eligibility::max_duration`]).
    pub max_duration: Duration,
    /// When the request is made.
    pub at: OffsetDateTime,
    /// The holder's normal working hours, when known; `None` adds no factor.
    pub working_hours: Option<Hours>,
    /// Whether the holder has never held this role on this resource before. Ignored for an
    /// extension, whose access is already held.
    pub first_access: bool,
    /// The ticket.
    pub ticket: TicketStatus,
    /// The kind of the identity that would hold the access (the beneficiary of a request
    /// made on someone's behalf, such as a vendor).
    pub identity_kind: IdentityKind,
    /// Anomalies recently detected on the holder.
    pub recent_anomalies: u32,
    /// Whether this is a break-glass grant.
    pub break_glass: bool,
    /// Whether this is an extension of a live grant: it is scored on what it adds, so
    /// `duration` is the extra time and first access does not apply.
    pub extension: bool,
}

/// One reason a request is risky.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskFactor {
    /// A stable name: `tier`, `privilege`, `duration`, `off_hours`, `first_access`,
    /// `ticket`, `identity_kind`, `anomalies` or `break_glass`.
    pub name: &'static str,
    /// The points it adds (more than zero: factors that add nothing are left out).
    pub points: u32,
    /// Why, for people.
    pub reason: String,
}

/// A request's risk: the total and the factors it is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskScore {
    /// The sum of the factors' points, capped at [`MAX_SCORE`].
    pub total: u32,
    /// Every factor that added points, in a fixed order.
    pub factors: Vec<RiskFactor>,
}

impl RiskScore {
    /// The factors' points before the cap.
    pub fn uncapped(&self) -> u32 {
        self.factors
            .iter()
            .fold(0u32, |sum, f| sum.saturating_add(f.points))
    }

    /// The score for people: the total on the first line, then one line per factor, such
    /// as `+25 privilege: admin role (changes the system itself)`.
    pub fn explain(&self) -> String {
        let mut out = format!("risk {} of {MAX_SCORE}", self.total);
        let uncapped = self.uncapped();
        if uncapped > self.total {
            let _ = write!(out, " (factors add up to {uncapped}, capped)");
        }
        if self.factors.is_empty() {
            out.push_str(": no risk factors");
        }
        for f in &self.factors {
            let _ = write!(out, "\n+{} {}: {}", f.points, f.name, f.reason);
        }
        out
    }
}

/// Scores a request. Pure: the same input and weights always give the same score.
pub fn score(input: &RiskInput, weights: &RiskWeights) -> RiskScore {
    // Each factor in its fixed order, with its points and reason when it applies.
    let candidates: [(&'static str, Option<(u32, String)>); 9] = [
        ("tier", Some(tier_factor(input.tier, weights))),
        (
            "privilege",
            Some((
                weights.privilege_points(input.privilege),
                privilege_reason(input.privilege),
            )),
        ),
        ("duration", Some(duration_factor(input, weights.duration))),
        ("off_hours", off_hours_factor(input, weights.off_hours)),
        (
            "first_access",
            (input.first_access && !input.extension).then(|| {
                (
                    weights.first_access,
                    "first access of this identity to this role on this resource".to_owned(),
                )
            }),
        ),
        ("ticket", ticket_factor(input.ticket, weights)),
        (
            "identity_kind",
            Some((
                weights.kind_points(input.identity_kind),
                kind_reason(input.identity_kind),
            )),
        ),
        (
            "anomalies",
            Some(anomalies_factor(input.recent_anomalies, weights)),
        ),
        (
            "break_glass",
            input.break_glass.then(|| {
                (
                    weights.break_glass,
                    "break-glass: granted at once, without approval".to_owned(),
                )
            }),
        ),
    ];
    let factors = candidates
        .into_iter()
        .filter_map(|(name, factor)| {
            let (points, reason) = factor?;
            (points > 0).then_some(RiskFactor {
                name,
                points,
                reason,
            })
        })
        .collect();
    let mut score = RiskScore { total: 0, factors };
    score.total = score.uncapped().min(MAX_SCORE);
    score
}

/// The points and reason for the resource's tier; a tier the weights do not know is
/// scored as tier 0.
fn tier_factor(tier: u8, weights: &RiskWeights) -> (u32, String) {
    let reason = if usize::from(tier) < weights.tier.len() {
        format!("resource is tier {tier} (0 is the most sensitive)")
    } else {
        format!("resource tier {tier} is unknown; scored as tier 0")
    };
    (weights.tier_points(tier), reason)
}

/// Why the role's privilege adds points, for people.
fn privilege_reason(privilege: Privilege) -> String {
    match privilege {
        Privilege::Read => "read role (reads data)".to_owned(),
        Privilege::Write => "write role (changes data)".to_owned(),
        Privilege::Admin => "admin role (changes the system itself)".to_owned(),
    }
}

/// The points for a request made outside the holder's working hours (in their offset),
/// or `None` when the hours are unknown or the request is inside them.
fn off_hours_factor(input: &RiskInput, weight: u32) -> Option<(u32, String)> {
    let hours = input.working_hours.as_ref()?;
    if hours.contains(input.at) {
        return None;
    }
    let local = input
        .at
        .checked_to_offset(hours.offset())
        .unwrap_or(input.at);
    Some((
        weight,
        format!(
            "{} {:02}:{:02} is outside normal working hours {hours}",
            local.weekday(),
            local.hour(),
            local.minute()
        ),
    ))
}

/// The points for a ticket missing or not accepted; `None` when it is fine.
fn ticket_factor(ticket: TicketStatus, weights: &RiskWeights) -> Option<(u32, String)> {
    match ticket {
        TicketStatus::Valid | TicketStatus::NotRequired => None,
        TicketStatus::Missing => Some((
            weights.ticket_missing,
            "no ticket, though policy asks for one".to_owned(),
        )),
        TicketStatus::Invalid => Some((
            weights.ticket_invalid,
            "the ticket given was not accepted".to_owned(),
        )),
    }
}

/// Why the kind of the identity holding the access adds points (nothing for an employee).
fn kind_reason(kind: IdentityKind) -> String {
    match kind {
        IdentityKind::Employee => String::new(),
        IdentityKind::Contractor => "the access is for a contractor".to_owned(),
        IdentityKind::Vendor => "the access is for a vendor's person".to_owned(),
        IdentityKind::Service => "the access is for a service account".to_owned(),
    }
}

/// The points for the anomalies recently detected on the holder.
fn anomalies_factor(n: u32, weights: &RiskWeights) -> (u32, String) {
    (
        weights.anomaly_points(n),
        format!(
            "{n} recent {} ({} each, at most {})",
            if n == 1 { "anomaly" } else { "anomalies" },
            weights.anomaly,
            weights.anomaly_max
        ),
    )
}

/// The points for the requested (or, for an extension, added) duration: its share of the
/// rule's maximum times the weight, rounded to the nearest point, at most the weight. A
/// maximum that is not positive scores the full weight (fail closed).
fn duration_factor(input: &RiskInput, weight: u32) -> (u32, String) {
    let asked = input.duration.whole_seconds().max(0).unsigned_abs();
    let max = input.max_duration.whole_seconds();
    let (head, joiner) = if input.extension {
        (
            format!("extension adds {}", format_duration(input.duration)),
            ",",
        )
    } else {
        (format_duration(input.duration), " is")
    };
    if max <= 0 {
        return (
            weight,
            format!("{head}, against a rule with no positive maximum"),
        );
    }
    let max = max.unsigned_abs();
    // share * n, rounded half up: (2 * asked * n + max) / (2 * max), in u128 so nothing
    // overflows.
    let scaled = |n: u32| {
        let v = (2 * u128::from(asked) * u128::from(n) + u128::from(max)) / (2 * u128::from(max));
        u32::try_from(v).unwrap_or(u32::MAX)
    };
    let beyond = if asked > max { ", beyond it" } else { "" };
    (
        scaled(weight).min(weight),
        format!(
            "{head}{joiner} {}% of the {} maximum{beyond}",
            scaled(100),
            format_duration(input.max_duration)
        ),
    )
}
