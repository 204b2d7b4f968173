//! Who may do what: one authorization decision per operation, written once in [`RULES`].
//!
//! A decision takes three things: the operation, the scopes of the caller's token (within
//! the user's own), and how the caller stands to the object ([`Relation`]: their own, one
//! in their charge, or anyone else's). Every front door (the JSON API, SCIM, and those to
//! come) asks [`decide`] through the service layer, which works out the relation from the
//! object and audits refusals; no front door spells a scope check of its own.
//!
//! Two rules hold across the table, and tests in this file keep them:
//! - **Seeing never implies changing.** Scopes that only read (`audit:read`,
//!   `users:read`, `policy:read`, `identities:read`) allow no operation that changes
//!   state.
//! - **Nobody decides on their own case**: approving, denying or reviewing one's own
//!   request or break-glass use is refused whatever the scopes, administrators included.

use std::fmt;

use crate::scope::{Scope, ScopeSet};

/// How the caller stands to the object of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Relation {
    /// The caller's own: their session and tokens, a request they made or that is made
    /// for them, their grant, their break-glass use, their check-out.
    Own,
    /// In the caller's charge: a user whose scopes all lie within the caller's (never an
    /// administrator, for anyone but an administrator), a vendor they sponsor, a request
    /// they may approve, a break-glass use they review (the holder's manager or the
    /// security group).
    Subordinate,
    /// Anyone else's, or an object nobody owns (policy, the audit log, the vault).
    Other,
}

impl Relation {
    /// Every relation, in order.
    pub const ALL: [Relation; 3] = [Relation::Own, Relation::Subordinate, Relation::Other];

    /// The name used in audit events and the rendered matrix.
    pub const fn as_str(self) -> &'static str {
        match self {
            Relation::Own => "own",
            Relation::Subordinate => "subordinate",
            Relation::Other => "other",
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller needs for an operation on an object of one relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nobody may, whatever their scopes; the text says why.
    Never(&'static str),
    /// Nobody may: the object lies beyond the caller's scopes (it holds, or would be
    /// given, scopes the caller does not hold). Refused as a lack of scope.
    Beyond(&'static str),
    /// Any signed-in caller.
    SignedIn,
    /// One of these scopes (`admin` permits every scope).
    AnyOf(&'static [Scope]),
}

impl Need {
    fn allows(self, scopes: &ScopeSet) -> bool {
        match self {
            Need::Never(_) | Need::Beyond(_) => false,
            Need::SignedIn => true,
            Need::AnyOf(any) => any.iter().any(|s| scopes.allows(*s)),
        }
    }
}

macro_rules! operations {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// Every operation a caller can ask of Warden.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Operation {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Operation {
            /// Every operation, in the order of [`RULES`].
            pub const ALL: &'static [Operation] = &[$(Operation::$variant,)*];

            /// The stable dotted name, as in audit events.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Operation::$variant => $name,)*
                }
            }
        }
    };
}

operations! {
    /// Who am I (`GET /v1/auth/whoami`).
    Whoami = "auth.whoami",
    /// End one's own session (`POST /v1/auth/logout`).
    Logout = "auth.logout",
    /// Change one's own password.
    PasswordChange = "auth.password",
    /// List one's tokens.
    TokenList = "token.list",
    /// Mint a token (scopes within the creating token's).
    TokenCreate = "token.create",
    /// Revoke a token.
    TokenRevoke = "token.revoke",
    /// List local users.
    UserList = "user.list",
    /// Read a local user.
    UserRead = "user.read",
    /// Create a local user (the new user's scopes are the object).
    UserCreate = "user.create",
    /// Change a user's scopes, or disable or enable them.
    UserUpdate = "user.update",
    /// Push an HR file.
    HrSync = "hr.sync",
    /// Anything under `/scim/v2`: an identity provider reading and pushing identities.
    Scim = "hr.scim",
    /// List identities.
    IdentityList = "identity.list",
    /// Read one identity.
    IdentityRead = "identity.read",
    /// Explain what someone may request.
    AccessExplain = "access.explain",
    /// Ask whether someone holds an access now (`/v1/access/check`).
    AccessCheck = "access.check",
    /// Read the active policy, its versions and plans.
    PolicyRead = "policy.read",
    /// Apply a policy, or restore a version.
    PolicyApply = "policy.apply",
    /// File an access request, for oneself or a sponsored vendor.
    RequestCreate = "request.create",
    /// List the requests one made or that are made for one.
    RequestList = "request.list",
    /// List the pending requests one may decide on.
    RequestQueue = "request.queue",
    /// Read a request.
    RequestRead = "request.read",
    /// Approve or deny a request.
    RequestDecide = "request.decide",
    /// Cancel a request before it is provisioned.
    RequestCancel = "request.cancel",
    /// List grants.
    GrantList = "grant.list",
    /// Read a grant.
    GrantRead = "grant.read",
    /// End a grant early.
    GrantRevoke = "grant.revoke",
    /// Ask to extend a running grant.
    GrantExtend = "grant.extend",
    /// Take a fresh password for one's running grant.
    GrantCredential = "grant.credential",
    /// Have an SSH key signed for one's running grants.
    SshSign = "ssh.sign",
    /// Take break-glass access.
    BreakGlassTake = "breakglass.take",
    /// List break-glass uses.
    BreakGlassList = "breakglass.list",
    /// Read a break-glass use.
    BreakGlassRead = "breakglass.read",
    /// Justify one's break-glass use.
    BreakGlassJustify = "breakglass.justify",
    /// Judge a break-glass use.
    BreakGlassReview = "breakglass.review",
    /// List incidents.
    IncidentList = "incident.list",
    /// Create a vendor one sponsors.
    VendorCreate = "vendor.create",
    /// List vendors.
    VendorList = "vendor.list",
    /// List a resource's accounts on its target.
    TargetInventory = "target.inventory",
    /// Run the reconciler.
    ReconcileRun = "reconcile.run",
    /// List findings on targets.
    FindingList = "finding.list",
    /// Search the audit log, read its head.
    AuditRead = "audit.read",
    /// Export the audit log.
    AuditExport = "audit.export",
    /// Initialise the vault.
    VaultInit = "vault.init",
    /// Seal the vault.
    VaultSeal = "vault.seal",
    /// Rotate the vault's root key, or rekey it with new shares.
    VaultRotate = "vault.rotate",
    /// List or read vaulted accounts (metadata, never secrets).
    AccountRead = "account.read",
    /// Add a vaulted account.
    AccountAdd = "account.add",
    /// Ask for an account's password to be rotated now.
    AccountRotate = "account.rotate",
    /// Check out a vaulted account's password.
    AccountCheckout = "account.checkout",
    /// Check a vaulted account back in.
    AccountCheckin = "account.checkin",
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an operation needs, by relation, and which operation decides whether the caller
/// may see the object at all.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The operation.
    pub op: Operation,
    /// On the caller's own objects.
    pub own: Need,
    /// On objects in the caller's charge.
    pub subordinate: Need,
    /// On anyone else's, or nobody's.
    pub other: Need,
    /// Whether a refused caller may learn that the object exists.
    pub seen: Seen,
}

/// Whether a caller refused an operation on an object may learn that the object exists.
/// One who may not is told it does not exist (404), so ids cannot be probed; one who may
/// is told why they may not act (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Always: the object is being created, or is a list or nobody's, so there is nothing
    /// to hide.
    Always,
    /// Only by its owner: the operation is itself how the object is seen.
    ByOwner,
    /// By whoever this operation allows on it.
    By(Operation),
}

impl Rule {
    /// What a caller needs on an object of `relation`.
    pub const fn need(&self, relation: Relation) -> Need {
        match relation {
            Relation::Own => self.own,
            Relation::Subordinate => self.subordinate,
            Relation::Other => self.other,
        }
    }
}

use Need::{AnyOf, Beyond, Never, SignedIn};
use Scope as S;

const NO_OBJECT: Need = Never("this operation has no object of this kind");
const AUDITOR: Need = AnyOf(&[S::Admin, S::AuditRead]);
const ADMIN: Need = AnyOf(&[S::Admin]);
const REQUESTER: Need = AnyOf(&[S::Request]);
const APPROVER: Need = AnyOf(&[S::Approve]);
const NOT_YOUR_OWN_CASE: Need =
    Never("nobody decides on their own request or break-glass use, or one made for them");

const fn rule(op: Operation, own: Need, subordinate: Need, other: Need) -> Rule {
    Rule {
        op,
        own,
        subordinate,
        other,
        seen: Seen::Always,
    }
}

const fn seen(mut r: Rule, seen: Seen) -> Rule {
    r.seen = seen;
    r
}

/// The table: one row per operation, in the order of [`Operation::ALL`].
pub const RULES: &[Rule] = &[
    rule(Operation::Whoami, SignedIn, NO_OBJECT, NO_OBJECT),
    rule(Operation::Logout, SignedIn, NO_OBJECT, NO_OBJECT),
    rule(Operation::PasswordChange, SignedIn, NO_OBJECT, NO_OBJECT),
    rule(Operation::TokenList, SignedIn, NO_OBJECT, NO_OBJECT),
    rule(
        Operation::TokenCreate,
        SignedIn,
        NO_OBJECT,
        Beyond("a token can only carry scopes that the token creating it holds"),
    ),
    seen(
        rule(Operation::TokenRevoke, SignedIn, NO_OBJECT, ADMIN),
        Seen::ByOwner,
    ),
    rule(
        Operation::UserList,
        NO_OBJECT,
        NO_OBJECT,
        AnyOf(&[S::UsersRead]),
    ),
    rule(
        Operation::UserRead,
        AnyOf(&[S::UsersRead]),
        AnyOf(&[S::UsersRead]),
        AnyOf(&[S::UsersRead]),
    ),
    rule(
        Operation::UserCreate,
        NO_OBJECT,
        AnyOf(&[S::UsersWrite]),
        Beyond("you can only give scopes you hold"),
    ),
    seen(
        rule(
            Operation::UserUpdate,
            AnyOf(&[S::UsersWrite]),
            AnyOf(&[S::UsersWrite]),
            Beyond(
                "you can only change users whose scopes, before and after, all lie within \
                 yours; an administrator only by an administrator",
            ),
        ),
        Seen::By(Operation::UserRead),
    ),
    rule(Operation::HrSync, NO_OBJECT, NO_OBJECT, AnyOf(&[S::HrSync])),
    rule(Operation::Scim, NO_OBJECT, NO_OBJECT, AnyOf(&[S::HrSync])),
    rule(
        Operation::IdentityList,
        NO_OBJECT,
        NO_OBJECT,
        AnyOf(&[S::IdentitiesRead]),
    ),
    seen(
        rule(
            Operation::IdentityRead,
            SignedIn,
            NO_OBJECT,
            AnyOf(&[S::IdentitiesRead]),
        ),
        Seen::ByOwner,
    ),
    seen(
        rule(
            Operation::AccessExplain,
            SignedIn,
            NO_OBJECT,
            AnyOf(&[S::IdentitiesRead]),
        ),
        Seen::ByOwner,
    ),
    rule(
        Operation::AccessCheck,
        NO_OBJECT,
        NO_OBJECT,
        AnyOf(&[S::IdentitiesRead]),
    ),
    rule(
        Operation::PolicyRead,
        NO_OBJECT,
        NO_OBJECT,
        AnyOf(&[S::PolicyRead]),
    ),
    rule(
        Operation::PolicyApply,
        NO_OBJECT,
        NO_OBJECT,
        AnyOf(&[S::PolicyWrite]),
    ),
    rule(
        Operation::RequestCreate,
        REQUESTER,
        REQUESTER,
        Never("you can request access only for yourself or a vendor you sponsor"),
    ),
    rule(Operation::RequestList, REQUESTER, NO_OBJECT, NO_OBJECT),
    rule(Operation::RequestQueue, NO_OBJECT, APPROVER, NO_OBJECT),
    seen(
        rule(Operation::RequestRead, REQUESTER, APPROVER, AUDITOR),
        Seen::ByOwner,
    ),
    seen(
        rule(
            Operation::RequestDecide,
            NOT_YOUR_OWN_CASE,
            APPROVER,
            Never("only a possible approver of a request decides on it"),
        ),
        Seen::By(Operation::RequestRead),
    ),
    seen(
        rule(
            Operation::RequestCancel,
            REQUESTER,
            Never("only the requester or the person it is for cancels a request"),
            Never("only the requester or the person it is for cancels a request"),
        ),
        Seen::By(Operation::RequestRead),
    ),
    rule(Operation::GrantList, REQUESTER, NO_OBJECT, AUDITOR),
    seen(
        rule(Operation::GrantRead, REQUESTER, NO_OBJECT, AUDITOR),
        Seen::ByOwner,
    ),
    seen(
        rule(Operation::GrantRevoke, REQUESTER, NO_OBJECT, ADMIN),
        Seen::By(Operation::GrantRead),
    ),
    seen(
        rule(
            Operation::GrantExtend,
            REQUESTER,
            NO_OBJECT,
            Never("only the holder of a grant can ask to extend it"),
        ),
        Seen::By(Operation::GrantRead),
    ),
    seen(
        rule(
            Operation::GrantCredential,
            REQUESTER,
            NO_OBJECT,
            Never("a grant's credential is for its holder only"),
        ),
        Seen::By(Operation::GrantRead),
    ),
    rule(Operation::SshSign, REQUESTER, NO_OBJECT, NO_OBJECT),
    rule(Operation::BreakGlassTake, REQUESTER, NO_OBJECT, NO_OBJECT),
    rule(Operation::BreakGlassList, NO_OBJECT, APPROVER, AUDITOR),
    seen(
        rule(Operation::BreakGlassRead, REQUESTER, APPROVER, AUDITOR),
        Seen::ByOwner,
    ),
    seen(
        rule(
            Operation::BreakGlassJustify,
            REQUESTER,
            Never("only the holder justifies a break-glass use"),
            Never("only the holder justifies a break-glass use"),
        ),
        Seen::By(Operation::BreakGlassRead),
    ),
    seen(
        rule(
            Operation::BreakGlassReview,
            NOT_YOUR_OWN_CASE,
            APPROVER,
            Never("only the holder's manager or the security group review a break-glass use"),
        ),
        Seen::By(Operation::BreakGlassRead),
    ),
    rule(Operation::IncidentList, NO_OBJECT, NO_OBJECT, AUDITOR),
    rule(
        Operation::VendorCreate,
        NO_OBJECT,
        REQUESTER,
        Never("a vendor is sponsored by the person who creates it"),
    ),
    rule(Operation::VendorList, NO_OBJECT, REQUESTER, AUDITOR),
    rule(Operation::TargetInventory, NO_OBJECT, NO_OBJECT, AUDITOR),
    rule(Operation::ReconcileRun, NO_OBJECT, NO_OBJECT, ADMIN),
    rule(Operation::FindingList, NO_OBJECT, NO_OBJECT, AUDITOR),
    rule(Operation::AuditRead, NO_OBJECT, NO_OBJECT, AUDITOR),
    rule(Operation::AuditExport, NO_OBJECT, NO_OBJECT, AUDITOR),
    rule(Operation::VaultInit, NO_OBJECT, NO_OBJECT, ADMIN),
    rule(Operation::VaultSeal, NO_OBJECT, NO_OBJECT, ADMIN),
    rule(Operation::VaultRotate, NO_OBJECT, NO_OBJECT, ADMIN),
    rule(Operation::AccountRead, NO_OBJECT, NO_OBJECT, ADMIN),
    rule(Operation::AccountAdd, NO_OBJECT, NO_OBJECT, ADMIN),
    rule(Operation::AccountRotate, NO_OBJECT, NO_OBJECT, ADMIN),
    rule(
        Operation::AccountCheckout,
        REQUESTER,
        NO_OBJECT,
        Never(
            "a check-out needs your running grant on the account's resource, \
             or membership of a group the account names",
        ),
    ),
    seen(
        rule(Operation::AccountCheckin, REQUESTER, NO_OBJECT, ADMIN),
        Seen::ByOwner,
    ),
];

/// The rule of `op`.
pub fn rule_of(op: Operation) -> Rule {
    // The table holds one row per operation in the order of `Operation::ALL`; the test
    // `one_row_per_operation_in_order` keeps it so. Were a row missing, nobody may.
    match RULES.get(op as usize) {
        Some(r) if r.op == op => *r,
        _ => RULES
            .iter()
            .find(|r| r.op == op)
            .copied()
            .unwrap_or(rule(op, NO_RULE, NO_RULE, NO_RULE)),
    }
}

const NO_RULE: Need = Never("this operation has no rule");

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The caller may not even see the object: answer as if it did not exist.
    Hidden,
    /// The caller lacks a scope; any of `needs` would do.
    Scope {
        /// The scopes, any one of which would allow it.
        needs: Vec<Scope>,
        /// What the caller asked for, in words.
        message: String,
    },
    /// Nobody in the caller's relation may, whatever their scopes.
    Never(&'static str),
    /// The object lies beyond the caller's scopes.
    Beyond(&'static str),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Hidden => f.write_str("not found"),
            Refusal::Scope { message, .. } => f.write_str(message),
            Refusal::Never(why) | Refusal::Beyond(why) => f.write_str(why),
        }
    }
}

fn whose(relation: Relation) -> &'static str {
    match relation {
        Relation::Own => "on your own",
        Relation::Subordinate => "on one in your charge",
        Relation::Other => "on someone else's",
    }
}

fn scope_list(scopes: &[Scope]) -> String {
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => format!("the scope {one}"),
        _ => format!("one of the scopes {}", names.join(", ")),
    }
}

/// Whether `scopes` allow `op` on an object of `relation`.
pub fn allows(op: Operation, scopes: &ScopeSet, relation: Relation) -> bool {
    rule_of(op).need(relation).allows(scopes)
}

/// Whether `scopes` allow `op` on an object of some relation: the gate a caller passes
/// before the object is even looked up.
pub fn allows_some(op: Operation, scopes: &ScopeSet) -> bool {
    Relation::ALL.iter().any(|r| allows(op, scopes, *r))
}

/// The decision on `op` by a caller holding `scopes`, on an object of `relation`.
pub fn decide(op: Operation, scopes: &ScopeSet, relation: Relation) -> Result<(), Refusal> {
    let rule = rule_of(op);
    let need = rule.need(relation);
    if need.allows(scopes) {
        return Ok(());
    }
    let sees = relation == Relation::Own
        || match rule.seen {
            Seen::Always => true,
            Seen::ByOwner => false,
            Seen::By(read) => allows(read, scopes, relation),
        };
    if !sees {
        return Err(Refusal::Hidden);
    }
    match need {
        Never(why) => Err(Refusal::Never(why)),
        Beyond(why) => Err(Refusal::Beyond(why)),
        SignedIn => Ok(()),
        AnyOf(any) => {
            let mut message = format!("{op} {} needs {}", whose(relation), scope_list(any));
            if matches!(rule.seen, Seen::By(_)) && relation != Relation::Own {
                message.push_str("; your scopes let you see it, not change it");
            }
            Err(Refusal::Scope {
                needs: any.to_vec(),
                message,
            })
        }
    }
}

/// The refusal of a caller who may do `op` on no object at all, before any is looked up;
/// `None` when some relation would allow it.
pub fn gate(op: Operation, scopes: &ScopeSet) -> Option<Refusal> {
    if allows_some(op, scopes) {
        return None;
    }
    let mut needs: Vec<Scope> = Vec::new();
    for r in Relation::ALL {
        if let AnyOf(any) = rule_of(op).need(r) {
            for s in any {
                if !needs.contains(s) {
                    needs.push(*s);
                }
            }
        }
    }
    if needs.is_empty() {
        return Some(Refusal::Never("nobody may do this"));
    }
    Some(Refusal::Scope {
        message: format!("{op} needs {}", scope_list(&needs)),
        needs,
    })
}

/// The table as a Markdown matrix: one row per operation, one column per relation.
pub fn render_matrix() -> String {
    let mut out = String::from(
        "| operation | own | subordinate | other | refused on another's object |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for r in RULES {
        let cell = |n: Need| match n {
            Never(why) if why == NO_OBJECT_TEXT => "—".to_owned(),
            Never(_) => "nobody".to_owned(),
            Beyond(_) => "nobody (beyond the caller's scopes)".to_owned(),
            SignedIn => "signed in".to_owned(),
            AnyOf(any) => any
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(" or "),
        };
        let hidden = match r.seen {
            Seen::Always => "403".to_owned(),
            Seen::ByOwner => "404".to_owned(),
            Seen::By(by) => format!("404 unless `{by}` is allowed, else 403"),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            r.op,
            cell(r.own),
            cell(r.subordinate),
            cell(r.other),
            hidden
        ));
    }
    out
}

const NO_OBJECT_TEXT: &str = "this operation has no object of this kind";

#[cfg(test)]
mod tests {
    use super::*;

    const READ_ONLY: [Scope; 4] = [
        Scope::UsersRead,
        Scope::PolicyRead,
        Scope::AuditRead,
        Scope::IdentitiesRead,
    ];

    /// Operations that change nothing.
    const READS: &[Operation] = &[
        Operation::Whoami,
        Operation::TokenList,
        Operation::UserList,
        Operation::UserRead,
        Operation::IdentityList,
        Operation::IdentityRead,
        Operation::AccessExplain,
        Operation::AccessCheck,
        Operation::PolicyRead,
        Operation::RequestList,
        Operation::RequestQueue,
        Operation::RequestRead,
        Operation::GrantList,
        Operation::GrantRead,
        Operation::BreakGlassList,
        Operation::BreakGlassRead,
        Operation::IncidentList,
        Operation::VendorList,
        Operation::TargetInventory,
        Operation::FindingList,
        Operation::AuditRead,
        Operation::AuditExport,
        Operation::AccountRead,
    ];

    #[test]
    fn one_row_per_operation_in_order() {
        assert_eq!(RULES.len(), Operation::ALL.len());
        for (i, (rule, op)) in RULES.iter().zip(Operation::ALL).enumerate() {
            assert_eq!(rule.op, *op, "row {i}");
            assert_eq!(*op as usize, i, "{op} is not at its own index");
            assert_eq!(rule_of(*op).op, *op);
        }
        assert_eq!(
            NO_OBJECT_TEXT,
            match NO_OBJECT {
                Never(t) => t,
                _ => "",
            }
        );
    }

    #[test]
    fn seeing_never_implies_changing() {
        for scope in READ_ONLY {
            let scopes = ScopeSet::new([scope]);
            for op in Operation::ALL {
                if READS.contains(op) {
                    continue;
                }
                for r in Relation::ALL {
                    let need = rule_of(*op).need(r);
                    assert!(
                        !need.allows(&scopes) || need == SignedIn,
                        "{scope} alone allows {op} on {r}"
                    );
                }
            }
        }
    }

    #[test]
    fn nobody_decides_on_their_own_case() {
        let everything = ScopeSet::new(Scope::ALL);
        for op in [Operation::RequestDecide, Operation::BreakGlassReview] {
            assert!(matches!(
                decide(op, &everything, Relation::Own),
                Err(Refusal::Never(_))
            ));
            assert!(decide(op, &everything, Relation::Subordinate).is_ok());
        }
    }

    #[test]
    fn a_user_manager_cannot_act_on_a_user_outside_their_scopes() {
        let manager = ScopeSet::new([Scope::UsersRead, Scope::UsersWrite]);
        assert!(decide(Operation::UserUpdate, &manager, Relation::Subordinate).is_ok());
        assert!(matches!(
            decide(Operation::UserUpdate, &manager, Relation::Other),
            Err(Refusal::Beyond(_))
        ));
        // Without users:read they may not see the user either: as if it did not exist.
        let writer = ScopeSet::new([Scope::UsersWrite]);
        assert_eq!(
            decide(Operation::UserUpdate, &writer, Relation::Other),
            Err(Refusal::Hidden)
        );
    }

    #[test]
    fn an_auditor_sees_a_grant_but_cannot_end_it() {
        let auditor = ScopeSet::new([Scope::Request, Scope::AuditRead]);
        assert!(decide(Operation::GrantRead, &auditor, Relation::Other).is_ok());
        match decide(Operation::GrantRevoke, &auditor, Relation::Other) {
            Err(Refusal::Scope { needs, message }) => {
                assert_eq!(needs, vec![Scope::Admin]);
                assert!(message.contains("see it, not change it"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let requester = ScopeSet::new([Scope::Request]);
        assert_eq!(
            decide(Operation::GrantRevoke, &requester, Relation::Other),
            Err(Refusal::Hidden)
        );
        assert!(decide(Operation::GrantRevoke, &requester, Relation::Own).is_ok());
    }

    #[test]
    fn the_gate_names_every_scope_that_would_do() {
        let nothing = ScopeSet::new([Scope::PolicyRead]);
        match gate(Operation::AuditExport, &nothing) {
            Some(Refusal::Scope { needs, message }) => {
                assert_eq!(needs, vec![Scope::Admin, Scope::AuditRead]);
                assert_eq!(
                    message,
                    "audit.export needs one of the scopes admin, audit:read"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            gate(Operation::GrantRevoke, &ScopeSet::new([Scope::Request])),
            None
        );
    }

    #[test]
    fn the_matrix_has_a_row_per_operation() {
        let m = render_matrix();
        assert_eq!(m.lines().count(), RULES.len() + 2);
        assert!(
            m.contains("| `grant.revoke` | `request` | — | `admin` |"),
            "{m}"
        );
    }
}
