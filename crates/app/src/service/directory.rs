//! Joiner, mover, leaver: what one HR change means for a person's access. Used by the HR
//! file sync, by SCIM, and by policy applies, so all three treat people the same way.

use std::collections::{BTreeMap, BTreeSet};

use time::{Date, OffsetDateTime};
use uuid::Uuid;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::hr::{Lifecycle, classify};
use warden_core::identity::{HrRecord, Identity};
use warden_core::policy::{Entitlement, Policy};
use warden_core::request::RequestState;
use warden_store::{Assignment, IdentityWrite, JobAction, NewAccessJob};

/// What changes for one person, for reports.
#[derive(Debug, Clone)]
pub struct PersonChange {
    /// HR's id.
    pub employee_id: String,
    /// User name.
    pub username: String,
    /// `joiner`, `rejoiner`, `mover`, `leaver`, `updated`, or `policy` (access changed by a
    /// policy change alone).
    pub lifecycle: String,
    /// Attribute changes, as `name: old -> new`.
    pub attributes: Vec<String>,
    /// Birthright access gained, as `resource/role`.
    pub birthright_added: Vec<String>,
    /// Birthright access lost.
    pub birthright_removed: Vec<String>,
    /// Requestable access gained.
    pub eligibility_added: Vec<String>,
    /// Requestable access lost (active grants of it are revoked).
    pub eligibility_removed: Vec<String>,
}

/// The planned change of one identity.
#[derive(Debug, Clone)]
pub struct PlannedIdentity {
    /// What to store.
    pub write: IdentityWrite,
    /// Target changes to queue.
    pub jobs: Vec<NewAccessJob>,
    /// The audit event (for HR changes; policy applies record one event for all).
    pub event: Option<AuditEvent>,
    /// The change, for reports.
    pub change: PersonChange,
}

/// What policy gives a record as standing access: nothing unless the person is current.
pub fn birthright_of(policy: &Policy, hr: &HrRecord, today: Date) -> BTreeMap<Entitlement, String> {
    if hr.is_current(today) {
        policy.birthright(hr, today)
    } else {
        BTreeMap::new()
    }
}

/// What a record may request: nothing unless the person is current.
pub fn eligible_of(policy: &Policy, hr: &HrRecord, today: Date) -> BTreeMap<Entitlement, String> {
    if hr.is_current(today) {
        policy.eligible_entitlements(hr, today)
    } else {
        BTreeMap::new()
    }
}

fn names(set: &BTreeSet<Entitlement>) -> Vec<String> {
    set.iter()
        .map(|e| format!("{}/{}", e.resource, e.role))
        .collect()
}

/// Inputs common to every identity of one operation.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The policy the old state was computed under (live).
    pub old_policy: &'a Policy,
    /// The policy the new state is computed under (live, or the one being applied).
    pub new_policy: &'a Policy,
    /// When.
    pub now: OffsetDateTime,
    /// Who did it.
    pub actor: &'a Actor,
    /// What caused it, for reasons and audit (`hr-sync sha256:…`, `scim PATCH …`, `policy v4`).
    pub cause: &'a str,
}

impl Context<'_> {
    fn today(&self) -> Date {
        self.now.date()
    }
}

/// Processes the people whose last day has passed since they were last looked at: each
/// is a leaver now, even with no HR sync (access removed, account disabled, revocations
/// queued). Returns how many left. Run at start and then hourly.
pub async fn sweep_leavers(
    state: &crate::state::AppState,
) -> Result<usize, crate::service::error::ServiceError> {
    let _turn = state.directory_turn().await;
    let now = state.clock().now();
    let today = now.date();
    let store = state.store();
    let identities = store.list_identities().await?;
    let due: Vec<&Identity> = identities
        .iter()
        .filter(|i| i.hr.has_left(today) && !i.hr.has_left(i.updated_at.date()))
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let mut birthright = store.birthright_by_identity().await?;
    let live = state.policy();
    let actor = Actor::system();
    let ctx = Context {
        old_policy: &live.policy,
        new_policy: &live.policy,
        now,
        actor: &actor,
        cause: "end date passed",
    };
    let mut changes = warden_store::ChangeSet {
        at: Some(now),
        ..Default::default()
    };
    for identity in &due {
        let held = birthright.remove(&identity.id).unwrap_or_default();
        if let Some(p) = plan(
            &ctx,
            Some(identity),
            &held,
            identity.hr.clone(),
            &identity.source,
            identity.external_id.clone(),
        ) {
            changes.jobs.extend(p.jobs);
            changes.events.extend(p.event);
            changes.identities.push(p.write);
        }
    }
    let count = changes.identities.len();
    store.apply(&changes).await?;
    Ok(count)
}

/// Plans the change of one identity from `old` (as stored, with its birthright
/// assignments) to `new`. `None` when nothing changes.
pub fn plan(
    ctx: &Context<'_>,
    old: Option<&Identity>,
    old_birthright: &[Assignment],
    new: HrRecord,
    source: &str,
    external_id: Option<String>,
) -> Option<PlannedIdentity> {
    let today = ctx.today();
    let lifecycle = classify(old.map(|o| (&o.hr, o.updated_at.date())), &new, today);

    let target = birthright_of(ctx.new_policy, &new, today);
    let (added, removed) = birthright_diff(old_birthright, &target);
    let (eligibility_added, eligibility_removed) = eligibility_diff(ctx, old, &new, &lifecycle);

    let source_changed = old.is_some_and(|o| o.source != source || o.external_id != external_id);
    if lifecycle == Lifecycle::Unchanged
        && added.is_empty()
        && removed.is_empty()
        && eligibility_added.is_empty()
        && eligibility_removed.is_empty()
        && !source_changed
    {
        return None;
    }

    let is_leaver = matches!(lifecycle, Lifecycle::Leaver(_));
    let label = if lifecycle == Lifecycle::Unchanged {
        "policy"
    } else {
        lifecycle.name()
    };
    let attributes: Vec<String> = lifecycle
        .changes()
        .iter()
        .map(ToString::to_string)
        .collect();
    let reason = if attributes.is_empty() {
        format!("{}: {label}", ctx.cause)
    } else {
        format!("{}: {label} ({})", ctx.cause, attributes.join("; "))
    };
    let identity = Identity {
        id: old.map_or_else(|| warden_core::clock::id_at(ctx.now), |o| o.id),
        hr: new,
        source: source.to_owned(),
        external_id,
        created_at: old.map_or(ctx.now, |o| o.created_at),
        updated_at: ctx.now,
    };
    let jobs = jobs_for(identity.id, &reason, &added, &removed);

    let change = PersonChange {
        employee_id: identity.hr.employee_id.to_string(),
        username: identity.hr.username.to_string(),
        lifecycle: label.to_owned(),
        attributes,
        birthright_added: names(&added),
        birthright_removed: names(&removed),
        eligibility_added: names(&eligibility_added),
        eligibility_removed: names(&eligibility_removed),
    };
    let event = lifecycle_event(ctx, &lifecycle, &identity, &change);
    let write = IdentityWrite {
        is_new: old.is_none(),
        expected_updated_at: old.map(|o| o.updated_at),
        birthright_add: added
            .iter()
            .map(|e| Assignment {
                resource: e.resource.clone(),
                role: e.role.clone(),
                rule: target.get(e).cloned().unwrap_or_default(),
            })
            .collect(),
        birthright_remove: removed
            .iter()
            .map(|e| (e.resource.clone(), e.role.clone()))
            .collect(),
        disable_account: is_leaver,
        identity,
    };
    Some(PlannedIdentity {
        write,
        jobs,
        event,
        change,
    })
}

/// The birthright access to add (in `target`, not held) and to remove (held, not in
/// `target`).
fn birthright_diff(
    held: &[Assignment],
    target: &BTreeMap<Entitlement, String>,
) -> (BTreeSet<Entitlement>, BTreeSet<Entitlement>) {
    let held: BTreeMap<Entitlement, &str> = held
        .iter()
        .map(|a| {
            (
                Entitlement {
                    resource: a.resource.clone(),
                    role: a.role.clone(),
                },
                a.rule.as_str(),
            )
        })
        .collect();
    let added: BTreeSet<Entitlement> = target
        .keys()
        .filter(|e| !held.contains_key(*e))
        .cloned()
        .collect();
    let removed: BTreeSet<Entitlement> = held
        .keys()
        .filter(|e| !target.contains_key(*e))
        .cloned()
        .collect();
    (added, removed)
}

/// The requestable access gained and lost by the change from `old` (under the old
/// policy) to `new` (under the new one).
fn eligibility_diff(
    ctx: &Context<'_>,
    old: Option<&Identity>,
    new: &HrRecord,
    lifecycle: &Lifecycle,
) -> (BTreeSet<Entitlement>, BTreeSet<Entitlement>) {
    // Same policy, same record: what the person may request cannot have changed, and
    // working it out for every unchanged person of a large sync is most of its cost.
    let same = std::ptr::eq(ctx.old_policy, ctx.new_policy) && *lifecycle == Lifecycle::Unchanged;
    if same {
        return (BTreeSet::new(), BTreeSet::new());
    }
    let today = ctx.today();
    let before = old
        .map(|o| eligible_of(ctx.old_policy, &o.hr, today))
        .unwrap_or_default();
    let after = eligible_of(ctx.new_policy, new, today);
    (
        after
            .keys()
            .filter(|e| !before.contains_key(*e))
            .cloned()
            .collect(),
        before
            .keys()
            .filter(|e| !after.contains_key(*e))
            .cloned()
            .collect(),
    )
}

/// The target changes to queue: the removals first, then the additions.
fn jobs_for(
    identity_id: Uuid,
    reason: &str,
    added: &BTreeSet<Entitlement>,
    removed: &BTreeSet<Entitlement>,
) -> Vec<NewAccessJob> {
    let job = |action, e: &Entitlement| NewAccessJob {
        action,
        identity_id,
        resource: e.resource.clone(),
        role: e.role.clone(),
        reason: reason.to_owned(),
    };
    let mut jobs: Vec<NewAccessJob> = removed
        .iter()
        .map(|e| job(JobAction::Deprovision, e))
        .collect();
    jobs.extend(added.iter().map(|e| job(JobAction::Provision, e)));
    jobs
}

/// The audit event of an HR change; `None` when access changed by policy alone (the
/// policy apply's event covers it).
fn lifecycle_event(
    ctx: &Context<'_>,
    lifecycle: &Lifecycle,
    identity: &Identity,
    change: &PersonChange,
) -> Option<AuditEvent> {
    let action = match lifecycle {
        Lifecycle::Joiner | Lifecycle::Rejoiner => Some(Action::HrJoiner),
        Lifecycle::Mover(_) => Some(Action::HrMover),
        Lifecycle::Leaver(_) => Some(Action::HrLeaver),
        Lifecycle::Updated(_) => Some(Action::HrUpdate),
        // Access changed by policy alone: the policy apply event covers it.
        Lifecycle::Unchanged => None,
    };
    action.map(|action| {
        let mut event = AuditEvent::new(ctx.now, ctx.actor.clone(), action)
            .target(format!("identity:{}", identity.hr.employee_id))
            .detail("username", identity.hr.username.as_str())
            .detail("lifecycle", change.lifecycle.as_str())
            .detail("cause", ctx.cause);
        for (key, list) in [
            ("attributes", &change.attributes),
            ("birthright_added", &change.birthright_added),
            ("birthright_removed", &change.birthright_removed),
            ("eligibility_removed", &change.eligibility_removed),
        ] {
            if !list.is_empty() {
                event = event.detail(key, list.join("; "));
            }
        }
        if matches!(lifecycle, Lifecycle::Leaver(_)) {
            event = event.detail(
                "account",
                "disabled; tokens revoked; access removed; open requests cancelled",
            );
        }
        event
    })
}

/// Ends the live grants that the people changed by `changes` are no longer eligible for
/// under `policy` (a mover whose new role does not cover them, a policy that no longer
/// allows them), in the same change set, each with its audit event. Leavers' grants end
/// anyway ([`warden_store::ChangeSet`] handles them). Only people with live grants cost a
/// policy evaluation.
pub async fn end_grants_no_longer_eligible(
    store: &warden_store::Store,
    policy: &Policy,
    changes: &mut warden_store::ChangeSet,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), crate::service::error::ServiceError> {
    let live = store.list_grants(warden_store::GrantFilter::Live).await?;
    if live.is_empty() {
        return Ok(());
    }
    let mut by_identity: BTreeMap<Uuid, Vec<&warden_store::StoredGrant>> = BTreeMap::new();
    for g in live.iter().filter(|g| g.state != RequestState::Revoking) {
        by_identity.entry(g.identity_id).or_default().push(g);
    }
    let today = now.date();
    let mut events = Vec::new();
    for w in &changes.identities {
        if w.disable_account {
            continue;
        }
        let Some(grants) = by_identity.get(&w.identity.id) else {
            continue;
        };
        let eligible = eligible_of(policy, &w.identity.hr, today);
        for g in grants {
            let entitlement = Entitlement {
                resource: g.resource.clone(),
                role: g.role.clone(),
            };
            if !eligible.contains_key(&entitlement) {
                changes.end_grants.push(g.id);
                events.push(
                    AuditEvent::new(now, actor.clone(), Action::GrantRevoke)
                        .target(format!("grant:{}", g.id))
                        .reason("no longer eligible after a change of HR attributes or policy")
                        .detail("identity", w.identity.hr.employee_id.as_str())
                        .detail("resource", g.resource.as_str())
                        .detail("role", g.role.as_str()),
                );
            }
        }
    }
    changes.events.extend(events);
    Ok(())
}
