//! The lifecycle as data: the table of legal moves is written out once, and every
//! (state, event) pair is checked against it, so a move nobody listed is refused. Named
//! cases pin the moves people get wrong; the pending timeout, grant windows, extensions
//! and the break-glass review have their own small tables.

use time::Duration;
use warden_core::policy::Route;
use warden_core::request::{
    BreakGlassReview, Event, Need, Outcome, RequestKind, RequestRoute, RequestState, ReviewEvent,
    Window, extension_window, grant_window, justification_overdue, timed_out,
};

use crate::support::{DUAL, SINGLE, TIER0, WEDNESDAY_10, at};

use Event as E;
use RequestState as S;

const EVENTS: [Event; 10] = [
    E::Approve { complete: false },
    E::Approve { complete: true },
    E::Deny,
    E::Cancel,
    E::TimeOut,
    E::StartProvisioning,
    E::Provisioned,
    E::ProvisioningFailed,
    E::Revoke,
    E::RevokeConfirmed,
];

/// Every legal move.
const LEGAL: [(RequestState, Event, RequestState); 13] = [
    (S::Pending, E::Approve { complete: false }, S::Pending),
    (S::Pending, E::Approve { complete: true }, S::Approved),
    (S::Pending, E::Deny, S::Denied),
    (S::Pending, E::Cancel, S::Cancelled),
    (S::Pending, E::TimeOut, S::TimedOut),
    (S::Approved, E::Cancel, S::Cancelled),
    (S::Approved, E::StartProvisioning, S::Provisioning),
    (S::Provisioning, E::Provisioned, S::Active),
    (S::Provisioning, E::ProvisioningFailed, S::Failed),
    (S::Provisioning, E::Revoke, S::Revoking),
    (S::Active, E::Revoke, S::Revoking),
    (S::Failed, E::Revoke, S::Revoking),
    // Only the target's confirmation ends a revocation.
    (S::Revoking, E::RevokeConfirmed, S::Revoked),
];

/// One helper: `want` is the state after the move, or `None` when it is refused.
fn check(from: RequestState, event: Event, want: Option<RequestState>) {
    let got = from.next(event);
    assert_eq!(got.ok(), want, "{from} + {event:?}");
    if want.is_none() {
        let err = from.next(event).unwrap_err();
        assert_eq!((err.from, err.event), (from, event));
    }
}

#[test]
fn every_pair_is_legal_only_if_listed() {
    for from in S::ALL {
        for event in EVENTS {
            let want = LEGAL
                .iter()
                .find(|(f, e, _)| *f == from && *e == event)
                .map(|(_, _, to)| *to);
            check(from, event, want);
        }
    }
}

#[test]
fn named_moves() {
    let cases = [
        (
            "an auto-approved request is provisioned",
            S::Approved,
            E::StartProvisioning,
            Some(S::Provisioning),
        ),
        (
            "a partial approval keeps it pending",
            S::Pending,
            E::Approve { complete: false },
            Some(S::Pending),
        ),
        (
            "the last approval approves",
            S::Pending,
            E::Approve { complete: true },
            Some(S::Approved),
        ),
        ("a denial ends it", S::Pending, E::Deny, Some(S::Denied)),
        (
            "approving a cancelled request",
            S::Cancelled,
            E::Approve { complete: true },
            None,
        ),
        (
            "approving a denied request",
            S::Denied,
            E::Approve { complete: true },
            None,
        ),
        (
            "approving a timed-out request",
            S::TimedOut,
            E::Approve { complete: true },
            None,
        ),
        (
            "approving an approved request again",
            S::Approved,
            E::Approve { complete: true },
            None,
        ),
        ("denying after approval", S::Approved, E::Deny, None),
        ("denying an active grant", S::Active, E::Deny, None),
        (
            "cancelling an active grant (that is a revoke)",
            S::Active,
            E::Cancel,
            None,
        ),
        (
            "cancelling while provisioning",
            S::Provisioning,
            E::Cancel,
            None,
        ),
        ("cancelling twice", S::Cancelled, E::Cancel, None),
        (
            "revoking a pending request (that is a cancel)",
            S::Pending,
            E::Revoke,
            None,
        ),
        ("revoking what is revoked", S::Revoked, E::Revoke, None),
        ("revoking twice", S::Revoking, E::Revoke, None),
        (
            "revoked without the target's word",
            S::Active,
            E::RevokeConfirmed,
            None,
        ),
        (
            "an approved request does not time out",
            S::Approved,
            E::TimeOut,
            None,
        ),
        (
            "provisioning without approval",
            S::Pending,
            E::StartProvisioning,
            None,
        ),
        (
            "active without provisioning",
            S::Approved,
            E::Provisioned,
            None,
        ),
        (
            "a failed grant is cleaned up",
            S::Failed,
            E::Revoke,
            Some(S::Revoking),
        ),
        (
            "a failed grant is not retried in place",
            S::Failed,
            E::StartProvisioning,
            None,
        ),
        (
            "a leaver mid-provisioning is revoked",
            S::Provisioning,
            E::Revoke,
            Some(S::Revoking),
        ),
    ];
    for (name, from, event, want) in cases {
        assert_eq!(from.next(event).ok(), want, "{name}");
    }
}

#[test]
fn refusals_say_why() {
    let msg = |from: RequestState, e| from.next(e).unwrap_err().to_string();
    assert_eq!(
        msg(S::Active, E::Cancel),
        "cannot cancel a request that is active; granted access ends by revocation"
    );
    assert_eq!(
        msg(S::Pending, E::Revoke),
        "cannot revoke a request that is pending; a request not yet granted is cancelled"
    );
    assert_eq!(
        msg(S::Cancelled, E::Approve { complete: true }),
        "cannot approve a request that is cancelled"
    );
    assert_eq!(
        msg(S::TimedOut, E::Deny),
        "cannot deny a request that is timed_out"
    );
}

#[test]
fn states_open_end_and_round_trip() {
    assert_eq!(S::opened(Route::Auto), S::Approved);
    for route in [SINGLE, DUAL, TIER0] {
        assert_eq!(S::opened(route), S::Pending);
    }
    assert_eq!(S::break_glass(), S::Approved);
    for s in S::ALL {
        assert_eq!(S::parse(s.as_str()), Ok(s));
        let can_move = EVENTS.iter().any(|e| s.next(*e).is_ok());
        assert_eq!(s.is_final(), !can_move, "{s}");
    }
    assert_eq!(
        S::parse("expired").unwrap_err().to_string(),
        "unknown request state \"expired\""
    );
    let keeps: Vec<_> = S::ALL.into_iter().filter(|s| s.keeps_access()).collect();
    assert_eq!(keeps, [S::Provisioning, S::Active]);
    assert_eq!(S::LIVE, [S::Provisioning, S::Active, S::Revoking]);
    for s in S::APPROVED_ONCE {
        assert!(!s.is_final() || s == S::Revoked, "{s}");
        assert!(s != S::Pending && s != S::Failed, "{s}");
    }
    assert_eq!(
        Event::approve(&Outcome::Approved),
        E::Approve { complete: true }
    );
    assert_eq!(
        Event::approve(&Outcome::NeedsMore {
            missing: vec![Need::Approver]
        }),
        E::Approve { complete: false }
    );
}

#[test]
fn pending_timeout() {
    let day = Duration::hours(24);
    let cases = [
        ("just made", at(0), false),
        ("one second short", at(24) - Duration::seconds(1), false),
        ("exactly at the timeout", at(24), true),
        ("long after", at(100), true),
        ("a clock behind the request", at(-1), false),
    ];
    for (name, now, want) in cases {
        assert_eq!(timed_out(WEDNESDAY_10, day, now), want, "{name}");
    }
}

#[test]
fn the_clock_starts_at_provisioning() {
    // Requested at 10:00, approved at 13:00, provisioned at 13:05: 2 h run from 13:05.
    let provisioned = at(3) + Duration::minutes(5);
    let w = grant_window(provisioned, Duration::hours(2));
    assert_eq!(w.start, provisioned);
    assert_eq!(w.end, at(5) + Duration::minutes(5));
    assert!(w.contains(provisioned));
    assert!(!w.contains(w.end), "the end is exclusive");
    assert!(!w.contains(at(0)), "not before provisioning");
    // A duration that is not positive gives an empty window.
    for d in [Duration::ZERO, Duration::hours(-1)] {
        let w = grant_window(at(0), d);
        assert_eq!(w.end, w.start);
        assert!(!w.contains(at(0)));
    }
    let edge = time::macros::datetime!(9999-12-31 23:00 UTC);
    assert_eq!(grant_window(edge, Duration::hours(2)).end, edge);
}

#[test]
fn extensions_overlap_the_grant_they_extend() {
    let grant = Window {
        start: at(0),
        end: at(2),
    };
    let cases = [
        (
            "an hour into the grant",
            at(1),
            Duration::hours(1),
            Some((at(1), at(3))),
        ),
        (
            "at the start",
            at(0),
            Duration::hours(4),
            Some((at(0), at(6))),
        ),
        ("at the end it is over", at(2), Duration::hours(1), None),
        ("after the end", at(5), Duration::hours(1), None),
        ("before it began", at(-1), Duration::hours(1), None),
        ("adding nothing", at(1), Duration::ZERO, None),
    ];
    for (name, now, added, want) in cases {
        let got = extension_window(grant, added, now).map(|w| (w.start, w.end));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn break_glass_review() {
    use BreakGlassReview as R;
    use ReviewEvent as V;
    let cases = [
        (R::JustificationDue, V::Justify, Some(R::ReviewDue)),
        (R::JustificationDue, V::Lapse, Some(R::Unjustified)),
        (R::JustificationDue, V::Reject, Some(R::Unjustified)),
        (R::JustificationDue, V::Accept, None),
        (R::ReviewDue, V::Accept, Some(R::Justified)),
        (R::ReviewDue, V::Reject, Some(R::Unjustified)),
        (R::ReviewDue, V::Justify, None),
        (R::ReviewDue, V::Lapse, None),
        (R::Justified, V::Reject, None),
        (R::Unjustified, V::Accept, None),
        (R::Unjustified, V::Justify, None),
    ];
    for (from, event, want) in cases {
        assert_eq!(from.next(event).ok(), want, "{from} + {event:?}");
    }
    assert_eq!(
        R::Justified.next(V::Reject).unwrap_err().to_string(),
        "cannot reject a break-glass review that is justified"
    );
    let opens: Vec<_> = R::ALL.into_iter().filter(|r| r.opens_incident()).collect();
    assert_eq!(opens, [R::Unjustified]);
    for r in R::ALL {
        assert_eq!(R::parse(r.as_str()), Ok(r));
    }
    assert_eq!(
        R::parse("waived").unwrap_err().to_string(),
        "unknown break-glass review state \"waived\""
    );
    assert!(!justification_overdue(at(0), at(23)));
    assert!(justification_overdue(at(0), at(24)));
}

#[test]
fn kinds_and_routes_round_trip_by_their_stored_names() {
    for k in RequestKind::ALL {
        assert_eq!(RequestKind::parse(k.as_str()), Ok(k));
    }
    let names: Vec<_> = RequestKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names, ["standard", "breakglass", "extension"]);
    assert_eq!(
        RequestKind::parse("vendor").unwrap_err().to_string(),
        "unknown request kind \"vendor\""
    );
    for r in RequestRoute::ALL {
        assert_eq!(RequestRoute::parse(r.as_str()), Ok(r));
        assert_eq!(r.policy().map(RequestRoute::Policy).unwrap_or(r), r);
    }
    let names: Vec<_> = RequestRoute::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        ["auto", "single", "dual", "dual-security", "breakglass"]
    );
    assert_eq!(RequestRoute::BreakGlass.policy(), None);
    assert_eq!(
        RequestRoute::parse("single"),
        Ok(RequestRoute::Policy(SINGLE))
    );
    assert!(RequestRoute::parse("Dual").is_err());
}
