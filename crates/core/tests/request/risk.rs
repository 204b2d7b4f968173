//! Risk scores as data: one `check` helper, many tiny cases. Each case changes the base
//! request (a tier 3 read for 1 h of a 4 h maximum, on a Wednesday morning inside working
//! hours, with a valid ticket, by an employee) and names the exact total and factors.

use time::Duration;
use time::macros::datetime;
use warden_core::identity::IdentityKind;
use warden_core::policy::{ApprovalPolicy, ApproverSource, Hours, Privilege, Route};
use warden_core::request::{RiskInput, RiskScore, RiskWeights, TicketStatus, score};

use crate::support::WEDNESDAY_10;

fn hours(offset: &str) -> Hours {
    let days: Vec<String> = ["mon", "tue", "wed", "thu", "fri"]
        .map(String::from)
        .to_vec();
    Hours::new(&days, "08:00", "18:00", offset).unwrap()
}

fn base() -> RiskInput {
    RiskInput {
        tier: 3,
        privilege: Privilege::Read,
        duration: Duration::hours(1),
        max_duration: Duration::hours(4),
        at: WEDNESDAY_10,
        working_hours: Some(hours("+00:00")),
        first_access: false,
        ticket: TicketStatus::Valid,
        identity_kind: IdentityKind::Employee,
        recent_anomalies: 0,
        break_glass: false,
        extension: false,
    }
}

/// `total: name+points ...`, with `total (of uncapped)` when capped.
fn render(s: &RiskScore) -> String {
    let factors: Vec<String> = s
        .factors
        .iter()
        .map(|f| format!("{}+{}", f.name, f.points))
        .collect();
    let total = if s.uncapped() == s.total {
        s.total.to_string()
    } else {
        format!("{} (of {})", s.total, s.uncapped())
    };
    format!("{total}: {}", factors.join(" "))
        .trim_end()
        .to_owned()
}

fn check(cases: &[(&str, RiskInput, &str)], weights: &RiskWeights) {
    let mut failures = Vec::new();
    for (name, input, want) in cases {
        let got = score(input, weights);
        assert!(got.total <= 100, "{name}: total above 100");
        assert!(
            got.factors
                .iter()
                .all(|f| f.points > 0 && !f.reason.is_empty()),
            "{name}: a factor without points or reason"
        );
        let got = render(&got);
        if got != *want {
            failures.push(format!("{name}:\n  want {want}\n  got  {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn risk_cases() {
    let b = base;
    let cases = [
        ("base: tier 3 read 1h of 4h", b(), "4: duration+4"),
        (
            "tier 2",
            RiskInput { tier: 2, ..b() },
            "14: tier+10 duration+4",
        ),
        (
            "tier 1",
            RiskInput { tier: 1, ..b() },
            "34: tier+30 duration+4",
        ),
        (
            "tier 0",
            RiskInput { tier: 0, ..b() },
            "49: tier+45 duration+4",
        ),
        (
            "unknown tier scores as tier 0",
            RiskInput { tier: 9, ..b() },
            "49: tier+45 duration+4",
        ),
        (
            "write",
            RiskInput {
                privilege: Privilege::Write,
                ..b()
            },
            "14: privilege+10 duration+4",
        ),
        (
            "admin",
            RiskInput {
                privilege: Privilege::Admin,
                ..b()
            },
            "29: privilege+25 duration+4",
        ),
        (
            "tier 0 admin",
            RiskInput {
                tier: 0,
                privilege: Privilege::Admin,
                ..b()
            },
            "74: tier+45 privilege+25 duration+4",
        ),
        (
            "whole maximum",
            RiskInput {
                duration: Duration::hours(4),
                ..b()
            },
            "15: duration+15",
        ),
        (
            "half the maximum rounds up",
            RiskInput {
                duration: Duration::hours(2),
                ..b()
            },
            "8: duration+8",
        ),
        (
            "30m of 4h",
            RiskInput {
                duration: Duration::minutes(30),
                ..b()
            },
            "2: duration+2",
        ),
        (
            "5m of 4h rounds to nothing",
            RiskInput {
                duration: Duration::minutes(5),
                ..b()
            },
            "0:",
        ),
        (
            "beyond the maximum scores the weight",
            RiskInput {
                duration: Duration::hours(8),
                ..b()
            },
            "15: duration+15",
        ),
        (
            "zero duration",
            RiskInput {
                duration: Duration::ZERO,
                ..b()
            },
            "0:",
        ),
        (
            "negative duration",
            RiskInput {
                duration: Duration::hours(-3),
                ..b()
            },
            "0:",
        ),
        (
            "no positive maximum fails closed",
            RiskInput {
                max_duration: Duration::ZERO,
                ..b()
            },
            "15: duration+15",
        ),
        (
            "saturday",
            RiskInput {
                at: datetime!(2026-03-07 10:00 UTC),
                ..b()
            },
            "19: duration+4 off_hours+15",
        ),
        (
            "wednesday night",
            RiskInput {
                at: datetime!(2026-03-04 20:00 UTC),
                ..b()
            },
            "19: duration+4 off_hours+15",
        ),
        (
            "18:00 is already outside",
            RiskInput {
                at: datetime!(2026-03-04 18:00 UTC),
                ..b()
            },
            "19: duration+4 off_hours+15",
        ),
        (
            "08:00 is inside",
            RiskInput {
                at: datetime!(2026-03-04 08:00 UTC),
                ..b()
            },
            "4: duration+4",
        ),
        (
            "07:00 UTC is 09:00 at +02:00",
            RiskInput {
                at: datetime!(2026-03-04 07:00 UTC),
                working_hours: Some(hours("+02:00")),
                ..b()
            },
            "4: duration+4",
        ),
        (
            "friday 23:00 UTC is saturday at +02:00",
            RiskInput {
                at: datetime!(2026-03-06 23:00 UTC),
                working_hours: Some(hours("+02:00")),
                ..b()
            },
            "19: duration+4 off_hours+15",
        ),
        (
            "unknown hours add nothing, even at night",
            RiskInput {
                at: datetime!(2026-03-07 03:00 UTC),
                working_hours: None,
                ..b()
            },
            "4: duration+4",
        ),
        (
            "first access",
            RiskInput {
                first_access: true,
                ..b()
            },
            "14: duration+4 first_access+10",
        ),
        (
            "an extension is never a first access",
            RiskInput {
                first_access: true,
                extension: true,
                ..b()
            },
            "4: duration+4",
        ),
        (
            "an extension scores the time it adds",
            RiskInput {
                duration: Duration::hours(2),
                extension: true,
                tier: 1,
                ..b()
            },
            "38: tier+30 duration+8",
        ),
        (
            "ticket missing",
            RiskInput {
                ticket: TicketStatus::Missing,
                ..b()
            },
            "19: duration+4 ticket+15",
        ),
        (
            "ticket invalid",
            RiskInput {
                ticket: TicketStatus::Invalid,
                ..b()
            },
            "24: duration+4 ticket+20",
        ),
        (
            "ticket not required",
            RiskInput {
                ticket: TicketStatus::NotRequired,
                ..b()
            },
            "4: duration+4",
        ),
        (
            "contractor",
            RiskInput {
                identity_kind: IdentityKind::Contractor,
                ..b()
            },
            "14: duration+4 identity_kind+10",
        ),
        (
            "vendor",
            RiskInput {
                identity_kind: IdentityKind::Vendor,
                ..b()
            },
            "19: duration+4 identity_kind+15",
        ),
        (
            "service account",
            RiskInput {
                identity_kind: IdentityKind::Service,
                ..b()
            },
            "14: duration+4 identity_kind+10",
        ),
        (
            "one anomaly",
            RiskInput {
                recent_anomalies: 1,
                ..b()
            },
            "14: duration+4 anomalies+10",
        ),
        (
            "two anomalies",
            RiskInput {
                recent_anomalies: 2,
                ..b()
            },
            "24: duration+4 anomalies+20",
        ),
        (
            "anomalies stop at 30",
            RiskInput {
                recent_anomalies: 7,
                ..b()
            },
            "34: duration+4 anomalies+30",
        ),
        (
            "a huge count does not overflow",
            RiskInput {
                recent_anomalies: u32::MAX,
                ..b()
            },
            "34: duration+4 anomalies+30",
        ),
        (
            "break-glass",
            RiskInput {
                break_glass: true,
                ..b()
            },
            "34: duration+4 break_glass+30",
        ),
        (
            "tier 2 write 2h, first access",
            RiskInput {
                tier: 2,
                privilege: Privilege::Write,
                duration: Duration::hours(2),
                first_access: true,
                ..b()
            },
            "38: tier+10 privilege+10 duration+8 first_access+10",
        ),
        (
            "tier 1 admin 2h at night",
            RiskInput {
                tier: 1,
                privilege: Privilege::Admin,
                duration: Duration::hours(2),
                at: datetime!(2026-03-04 23:30 UTC),
                ..b()
            },
            "78: tier+30 privilege+25 duration+8 off_hours+15",
        ),
        (
            "everything at once is capped at 100",
            RiskInput {
                tier: 0,
                privilege: Privilege::Admin,
                duration: Duration::hours(4),
                at: datetime!(2026-03-08 03:00 UTC),
                first_access: true,
                ticket: TicketStatus::Invalid,
                identity_kind: IdentityKind::Vendor,
                recent_anomalies: 5,
                break_glass: true,
                ..b()
            },
            "100 (of 205): tier+45 privilege+25 duration+15 off_hours+15 first_access+10 \
             ticket+20 identity_kind+15 anomalies+30 break_glass+30",
        ),
    ];
    check(&cases, &RiskWeights::default());
}

#[test]
fn weights_are_the_policy_s_to_change() {
    let zero = RiskWeights {
        tier: [0; 4],
        read: 0,
        write: 0,
        admin: 0,
        duration: 0,
        off_hours: 0,
        first_access: 0,
        ticket_missing: 0,
        ticket_invalid: 0,
        contractor: 0,
        vendor: 0,
        service: 0,
        anomaly: 0,
        anomaly_max: 0,
        break_glass: 0,
    };
    let heavy_duration = RiskWeights {
        duration: 40,
        ..RiskWeights::default()
    };
    let b = base;
    check(
        &[
            (
                "nothing weighs anything",
                RiskInput {
                    tier: 0,
                    break_glass: true,
                    ..b()
                },
                "0:",
            ),
            ("read weighed", RiskInput { ..b() }, "0:"),
        ],
        &zero,
    );
    check(
        &[
            ("1h of 4h at 40", b(), "10: duration+10"),
            (
                "3h of 4h at 40",
                RiskInput {
                    duration: Duration::hours(3),
                    ..b()
                },
                "30: duration+30",
            ),
        ],
        &heavy_duration,
    );
}

/// The default weights against the usual thresholds put the typical requests of the
/// `RiskWeights` documentation on the expected routes.
#[test]
fn defaults_route_typical_requests() {
    let policy = ApprovalPolicy {
        name: "standard".into(),
        auto_below: 30,
        dual_from: 70,
        approvers: vec![ApproverSource::Manager],
        security_group: "security".into(),
        pending_timeout: Duration::hours(24),
        intake: Default::default(),
    };
    let w = RiskWeights::default();
    let b = base;
    let dual = Route::Dual {
        security_required: false,
    };
    let cases = [
        ("tier 3 read 1h", b(), Route::Auto),
        (
            "tier 2 write 2h",
            RiskInput {
                tier: 2,
                privilege: Privilege::Write,
                duration: Duration::hours(2),
                ..b()
            },
            Route::Auto,
        ),
        (
            "tier 2 write 2h, first access",
            RiskInput {
                tier: 2,
                privilege: Privilege::Write,
                duration: Duration::hours(2),
                first_access: true,
                ..b()
            },
            Route::Single,
        ),
        (
            "tier 1 read 1h",
            RiskInput { tier: 1, ..b() },
            Route::Single,
        ),
        (
            "tier 1 admin 2h",
            RiskInput {
                tier: 1,
                privilege: Privilege::Admin,
                duration: Duration::hours(2),
                ..b()
            },
            Route::Single,
        ),
        (
            "tier 1 admin 2h on a sunday",
            RiskInput {
                tier: 1,
                privilege: Privilege::Admin,
                duration: Duration::hours(2),
                at: datetime!(2026-03-08 10:00 UTC),
                ..b()
            },
            dual,
        ),
        (
            "tier 2 read by a vendor with two anomalies",
            RiskInput {
                tier: 2,
                identity_kind: IdentityKind::Vendor,
                recent_anomalies: 2,
                ..b()
            },
            Route::Single,
        ),
        (
            "tier 2 admin 4h",
            RiskInput {
                tier: 2,
                privilege: Privilege::Admin,
                duration: Duration::hours(4),
                ..b()
            },
            Route::Single,
        ),
    ];
    for (name, input, want) in cases {
        let s = score(&input, &w);
        assert_eq!(
            policy.route(input.tier, s.total),
            want,
            "{name}: {}",
            s.explain()
        );
    }
    // Tier 0 admin is high on its own, whatever the duration.
    for minutes in [1, 30, 240] {
        let input = RiskInput {
            tier: 0,
            privilege: Privilege::Admin,
            duration: Duration::minutes(minutes),
            ..b()
        };
        assert!(score(&input, &w).total >= 70, "{minutes}m");
    }
}

#[test]
fn explain_reads_like_a_list_of_reasons() {
    let b = base;
    let w = RiskWeights::default();
    let tier0 = RiskInput {
        tier: 0,
        privilege: Privilege::Admin,
        at: datetime!(2026-03-07 03:15 UTC),
        working_hours: Some(hours("+01:00")),
        first_access: true,
        ..b()
    };
    assert_eq!(
        score(&tier0, &w).explain(),
        "risk 99 of 100\n\
         +45 tier: resource is tier 0 (0 is the most sensitive)\n\
         +25 privilege: admin role (changes the system itself)\n\
         +4 duration: 1h is 25% of the 4h maximum\n\
         +15 off_hours: Saturday 04:15 is outside normal working hours mon-fri 08:00-18:00 +01:00\n\
         +10 first_access: first access of this identity to this role on this resource"
    );
    let quiet = RiskInput {
        duration: Duration::minutes(5),
        ..b()
    };
    assert_eq!(
        score(&quiet, &w).explain(),
        "risk 0 of 100: no risk factors"
    );
    let capped = RiskInput {
        tier: 0,
        privilege: Privilege::Admin,
        duration: Duration::hours(6),
        ticket: TicketStatus::Missing,
        identity_kind: IdentityKind::Contractor,
        recent_anomalies: 1,
        break_glass: true,
        ..b()
    };
    assert_eq!(
        score(&capped, &w).explain(),
        "risk 100 of 100 (factors add up to 150, capped)\n\
         +45 tier: resource is tier 0 (0 is the most sensitive)\n\
         +25 privilege: admin role (changes the system itself)\n\
         +15 duration: 6h is 150% of the 4h maximum, beyond it\n\
         +15 ticket: no ticket, though policy asks for one\n\
         +10 identity_kind: the access is for a contractor\n\
         +10 anomalies: 1 recent anomaly (10 each, at most 30)\n\
         +30 break_glass: break-glass: granted at once, without approval"
    );
    let extension = RiskInput {
        duration: Duration::minutes(90),
        extension: true,
        tier: 7,
        ..b()
    };
    assert_eq!(
        score(&extension, &w).explain(),
        "risk 51 of 100\n\
         +45 tier: resource tier 7 is unknown; scored as tier 0\n\
         +6 duration: extension adds 1h30m, 38% of the 4h maximum"
    );
    let no_max = RiskInput {
        max_duration: Duration::ZERO,
        extension: true,
        ..b()
    };
    assert_eq!(
        score(&no_max, &w).explain(),
        "risk 15 of 100\n\
         +15 duration: extension adds 1h, against a rule with no positive maximum"
    );
}
