//! Overlapping grants as data: one helper takes the live intervals of one access (in hours
//! from Wednesday 10:00), the grant that ends and the time, and says whether the access
//! must stay on the target and when it ends.

use warden_core::request::{GrantInterval, Window, access_end, held_at, still_held_after_revoking};

use crate::support::at;

fn intervals(spec: &[(u32, i64, i64)]) -> Vec<GrantInterval<u32>> {
    spec.iter()
        .map(|&(id, start, end)| GrantInterval {
            id,
            window: Window {
                start: at(start),
                end: at(end),
            },
        })
        .collect()
}

/// Name; live intervals as (id, start hour, end hour); the grant that ends; the hour it
/// ends; whether the access stays; the access's end (latest end of the live intervals).
type Case<'a> = (&'a str, &'a [(u32, i64, i64)], u32, i64, bool, Option<i64>);

fn check(cases: &[Case<'_>]) {
    let mut failures = Vec::new();
    for (name, spec, revoked, now, held, end) in cases {
        let live = intervals(spec);
        let got_held = still_held_after_revoking(&live, revoked, at(*now));
        let got_end = access_end(&live);
        if got_held != *held || got_end != end.map(at) {
            failures.push(format!(
                "{name}: want held={held} end={end:?}, got held={got_held} end={got_end:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn overlap_cases() {
    check(&[
        ("the only grant ends", &[(1, 0, 2)], 1, 2, false, Some(2)),
        (
            "the only grant is revoked early",
            &[(1, 0, 4)],
            1,
            1,
            false,
            Some(4),
        ),
        (
            "a longer grant keeps the access",
            &[(1, 0, 2), (2, 1, 5)],
            1,
            2,
            true,
            Some(5),
        ),
        (
            "an early revoke does not cut the other",
            &[(1, 0, 4), (2, 0, 6)],
            2,
            1,
            true,
            Some(6),
        ),
        (
            "the other ended earlier",
            &[(1, 0, 4), (2, 0, 2)],
            1,
            4,
            false,
            Some(4),
        ),
        (
            "the other ends at the same moment",
            &[(1, 0, 2), (2, 1, 2)],
            1,
            2,
            false,
            Some(2),
        ),
        (
            "the other's end is exclusive",
            &[(1, 0, 3), (2, 0, 1)],
            1,
            1,
            false,
            Some(3),
        ),
        (
            "three grants, one still running",
            &[(1, 0, 2), (2, 0, 3), (3, 1, 8)],
            2,
            3,
            true,
            Some(8),
        ),
        (
            "an extension beside its grant",
            &[(1, 0, 2), (2, 1, 3)],
            1,
            2,
            true,
            Some(3),
        ),
        (
            "revoking the extension early leaves the grant",
            &[(1, 0, 2), (2, 1, 3)],
            2,
            1,
            true,
            Some(3),
        ),
        (
            "a not-yet-started interval does not hold",
            &[(1, 0, 2), (2, 5, 6)],
            1,
            2,
            false,
            Some(6),
        ),
        (
            "duplicate rows of the revoked grant",
            &[(1, 0, 2), (1, 0, 9)],
            1,
            2,
            false,
            Some(9),
        ),
        (
            "an unknown id revokes nothing that runs",
            &[(1, 0, 2)],
            7,
            1,
            true,
            Some(2),
        ),
        ("nothing live", &[], 1, 0, false, None),
    ]);
}

#[test]
fn a_new_grant_of_held_access_needs_no_target_change() {
    let live = intervals(&[(1, 0, 2)]);
    assert!(held_at(&live, at(1)));
    assert!(!held_at(&live, at(2)));
    assert!(!held_at(&intervals(&[]), at(0)));
}
