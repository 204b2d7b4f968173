//! The points each risk factor adds, with defaults chosen so that the usual approval
//! thresholds (auto below 30, two approvers from 70) sort requests the way a security
//! officer would: a short read on a low tier passes, admin on the crown jewels does not.

use crate::identity::IdentityKind;
use crate::policy::Privilege;

/// Points per risk factor. Every factor adds points; the total is capped at 100.
///
/// The defaults ([`RiskWeights::default`]) put typical requests here, against
/// `auto_below = 30`, `dual_from = 70`:
///
/// | request | points | route |
/// | --- | --- | --- |
/// | tier 3 read, 1 h of 4 h, working hours, ticket | 0 + 0 + 4 = 4 | auto |
/// | tier 2 write, 2 h of 4 h, first access | 10 + 10 + 8 + 10 = 38 | one approver |
/// | tier 1 read, 1 h of 4 h | 30 + 0 + 4 = 34 | one approver |
/// | tier 1 admin, 2 h of 4 h | 30 + 25 + 8 = 63 | one approver |
/// | tier 1 admin, 2 h of 4 h, at night | 63 + 15 = 78 | two approvers |
/// | tier 0 admin, any duration | 45 + 25 + ... ≥ 70 | two approvers |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskWeights {
    /// Per tier, 0 (crown jewels) to 3. A tier beyond 3, which policy refuses, scores as
    /// tier 0. Default `[45, 30, 10, 0]`: tier 1 alone reaches the usual single-approver
    /// threshold.
    pub tier: [u32; 4],
    /// A read role. Default 0.
    pub read: u32,
    /// A write role. Default 10.
    pub write: u32,
    /// An admin role. Default 25.
    pub admin: u32,
    /// A request for the rule's whole maximum duration; shorter requests score their
    /// share of it, rounded to the nearest point. Default 15.
    pub duration: u32,
    /// The request falls outside the holder's normal working hours (time of day or day of
    /// the week). Default 15.
    pub off_hours: u32,
    /// The identity has never held this role on this resource. Default 10.
    pub first_access: u32,
    /// No ticket where policy asks for one. Default 15.
    pub ticket_missing: u32,
    /// A ticket was given but not accepted (unknown, closed, malformed). Default 20: a
    /// wrong ticket lends false credibility, which is worse than none.
    pub ticket_invalid: u32,
    /// The access is for a contractor. Default 10.
    pub contractor: u32,
    /// The access is for a vendor's person. Default 15.
    pub vendor: u32,
    /// The access is for a service account: machines rarely need privileged access just
    /// in time, so a request for one is unusual. Default 10.
    pub service: u32,
    /// Each recent anomaly on the identity. Default 10.
    pub anomaly: u32,
    /// The most anomalies can add together. Default 30.
    pub anomaly_max: u32,
    /// Break-glass: granted without approval. Default 30.
    pub break_glass: u32,
}

impl Default for RiskWeights {
    fn default() -> Self {
        Self {
            tier: [45, 30, 10, 0],
            read: 0,
            write: 10,
            admin: 25,
            duration: 15,
            off_hours: 15,
            first_access: 10,
            ticket_missing: 15,
            ticket_invalid: 20,
            contractor: 10,
            vendor: 15,
            service: 10,
            anomaly: 10,
            anomaly_max: 30,
            break_glass: 30,
        }
    }
}

impl RiskWeights {
    /// The points of a tier; an unknown tier counts as tier 0 (fail closed).
    pub fn tier_points(&self, tier: u8) -> u32 {
        let [crown, ..] = self.tier;
        self.tier.get(usize::from(tier)).copied().unwrap_or(crown)
    }

    /// The points of a role's privilege.
    pub fn privilege_points(&self, privilege: Privilege) -> u32 {
        match privilege {
            Privilege::Read => self.read,
            Privilege::Write => self.write,
            Privilege::Admin => self.admin,
        }
    }

    /// The points of the kind of identity that would hold the access.
    pub fn kind_points(&self, kind: IdentityKind) -> u32 {
        match kind {
            IdentityKind::Employee => 0,
            IdentityKind::Contractor => self.contractor,
            IdentityKind::Vendor => self.vendor,
            IdentityKind::Service => self.service,
        }
    }

    /// The points of `count` recent anomalies, at most [`RiskWeights::anomaly_max`].
    pub fn anomaly_points(&self, count: u32) -> u32 {
        self.anomaly.saturating_mul(count).min(self.anomaly_max)
    }
}
