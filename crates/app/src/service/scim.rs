//! The directory as SCIM reads and writes it; the SCIM front door (`crate::scim`) maps its
//! protocol onto these and reaches the store through nothing else. Every entry point
//! checks the caller against the authorization table (`hr.scim`). A read goes through a
//! [`Reader`]; a write starts from a [`Snapshot`] of the directory (identities, groups,
//! birthright) read before the change, and [`Changes`] runs every affected person through
//! the shared joiner/mover/leaver planner ([`super::directory::plan`]) and commits
//! identities, groups, target jobs and audit events in one `Store::apply`, exactly as the
//! HR file sync does.
//!
//! SCIM sees only identities it owns (`source = "scim"`). Deleting a user keeps the row,
//! terminated, with `source = "scim-deleted"`: hidden from SCIM, still in the audit trail,
//! and revived as a rejoiner when the identity provider creates the person again.

use std::collections::{BTreeSet, HashMap, HashSet};

use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::identity::{EmployeeId, HrRecord, Identity};
use warden_store::{Assignment, ChangeSet, Group, GroupWrite, IdentityFilter, Store};

use crate::auth::Caller;
use crate::service::directory::{Context, plan};
use crate::service::error::ServiceError;
use crate::state::AppState;

/// The source of identities pushed by SCIM.
pub const SOURCE: &str = "scim";
/// The source of identities deleted through SCIM: terminated and hidden from SCIM.
pub const DELETED: &str = "scim-deleted";

/// The directory for a caller allowed to read it over SCIM.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    store: &'a Store,
}

impl<'a> Reader<'a> {
    /// Refuses a caller who may not use SCIM; otherwise a reader for them.
    pub async fn open(state: &'a AppState, caller: &Caller) -> Result<Self, ServiceError> {
        super::authz::require(state, caller, Operation::Scim, Relation::Other).await?;
        Ok(Self {
            store: state.store(),
        })
    }

    /// Every identity, of every source.
    pub async fn identities(&self) -> Result<Vec<Identity>, ServiceError> {
        Ok(self.store.list_identities().await?)
    }

    /// The identities `filter` picks.
    pub async fn find_identities(
        &self,
        filter: IdentityFilter<'_>,
    ) -> Result<Vec<Identity>, ServiceError> {
        Ok(self.store.find_identities(filter).await?)
    }

    /// Every group with its members.
    pub async fn groups(&self) -> Result<Vec<Group>, ServiceError> {
        Ok(self.store.list_groups().await?)
    }
}

/// The directory as it was when a write started; holding it keeps other SCIM writes
/// waiting until this one has committed.
#[derive(Debug)]
pub struct Snapshot {
    /// Every identity, of every source.
    pub identities: Vec<Identity>,
    /// Every group with its members.
    pub groups: Vec<Group>,
    /// Birthright held, by identity.
    pub birthright: HashMap<Uuid, Vec<Assignment>>,
    /// This write's turn: SCIM writes read the directory, plan, then apply; two at once
    /// could each miss the other's change (two PATCHes adding members to one group would
    /// keep only one set of members), so they take turns with every directory writer.
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Snapshot {
    /// Refuses a caller who may not use SCIM; otherwise waits for this write's turn,
    /// then reads the directory.
    pub async fn load(state: &AppState, caller: &Caller) -> Result<Self, ServiceError> {
        super::authz::require(state, caller, Operation::Scim, Relation::Other).await?;
        let turn = state.directory_turn().await;
        let store = state.store();
        Ok(Self {
            _turn: turn,
            identities: store.list_identities().await?,
            groups: store.list_groups().await?,
            birthright: store.birthright_by_identity().await?,
        })
    }

    /// Any identity by id (managers may come from any source).
    pub fn identity(&self, id: Uuid) -> Option<&Identity> {
        self.identities.iter().find(|i| i.id == id)
    }

    /// A user SCIM can see.
    pub fn user(&self, id: Uuid) -> Option<&Identity> {
        self.identity(id).filter(|i| i.source == SOURCE)
    }

    /// A group by id.
    pub fn group(&self, id: Uuid) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// Whether making `manager` the manager of `person` closes a loop of managers.
    pub fn manager_loops(&self, person: &EmployeeId, manager: &EmployeeId) -> bool {
        let managers: HashMap<&EmployeeId, &EmployeeId> = self
            .identities
            .iter()
            .filter_map(|i| i.hr.manager.as_ref().map(|m| (&i.hr.employee_id, m)))
            .collect();
        let mut seen = HashSet::new();
        let mut at = manager;
        loop {
            if at == person {
                return true;
            }
            if !seen.insert(at) {
                return false;
            }
            match managers.get(at) {
                Some(next) => at = next,
                None => return false,
            }
        }
    }
}

/// A change set being built for one SCIM request.
#[derive(Debug)]
pub struct Changes<'a> {
    ctx: &'a Context<'a>,
    snapshot: &'a Snapshot,
    set: ChangeSet,
}

impl<'a> Changes<'a> {
    /// An empty change under `ctx`.
    pub fn new(ctx: &'a Context<'a>, snapshot: &'a Snapshot) -> Self {
        Self {
            ctx,
            snapshot,
            set: ChangeSet {
                at: Some(ctx.now),
                ..ChangeSet::default()
            },
        }
    }

    /// When.
    pub fn now(&self) -> OffsetDateTime {
        self.ctx.now
    }

    /// Plans one person from `old` to `record`; returns the identity id, and whether
    /// anything changes.
    pub fn person(
        &mut self,
        old: Option<&Identity>,
        record: HrRecord,
        source: &str,
        external_id: Option<String>,
    ) -> (Option<Uuid>, bool) {
        let held = old
            .and_then(|o| self.snapshot.birthright.get(&o.id))
            .cloned()
            .unwrap_or_default();
        let Some(planned) = plan(self.ctx, old, &held, record, source, external_id) else {
            return (old.map(|o| o.id), false);
        };
        let id = planned.write.identity.id;
        let event = planned.event.unwrap_or_else(|| {
            // Only the bookkeeping changed (the external id, or the hiding of a person
            // who had already left): still a change, so still an event.
            let identity = &planned.write.identity;
            AuditEvent::new(self.ctx.now, self.ctx.actor.clone(), Action::HrUpdate)
                .target(format!("identity:{}", identity.hr.employee_id))
                .detail("username", identity.hr.username.as_str())
                .detail("lifecycle", planned.change.lifecycle.as_str())
                .detail("cause", self.ctx.cause)
                .detail("source", identity.source.as_str())
        });
        self.set.events.push(event);
        self.set.jobs.extend(planned.jobs);
        self.set.identities.push(planned.write);
        (Some(id), true)
    }

    /// Moves every identity whose groups differ once the group `old` (`None` for a new
    /// one) is called `name` and has `members` (`None`: deleted). Returns who joined and
    /// who left the group.
    pub fn regroup(
        &mut self,
        old: Option<&Group>,
        name: &str,
        members: Option<&BTreeSet<Uuid>>,
    ) -> (Vec<Uuid>, Vec<Uuid>) {
        let before: BTreeSet<Uuid> = old
            .map(|g| g.members.iter().copied().collect())
            .unwrap_or_default();
        let empty = BTreeSet::new();
        let after = members.unwrap_or(&empty);
        let old_name = old.map(|g| g.display_name.as_str());
        let snapshot = self.snapshot;
        for id in before.union(after) {
            let Some(identity) = snapshot.identity(*id) else {
                continue;
            };
            let mut record = identity.hr.clone();
            if let Some(old_name) = old_name.filter(|_| before.contains(id)) {
                record.groups.remove(old_name);
            }
            if after.contains(id) {
                record.groups.insert(name.to_owned());
            }
            if record.groups != identity.hr.groups {
                self.person(
                    Some(identity),
                    record,
                    &identity.source,
                    identity.external_id.clone(),
                );
            }
        }
        (
            after.difference(&before).copied().collect(),
            before.difference(after).copied().collect(),
        )
    }

    /// Writes a group.
    pub fn group(&mut self, write: GroupWrite) {
        self.set.groups.push(write);
    }

    /// Deletes a group.
    pub fn delete_group(&mut self, id: Uuid) {
        self.set.group_deletes.push(id);
    }

    /// Records an audit event of its own (a group change).
    pub fn event(&mut self, action: Action) -> AuditEvent {
        AuditEvent::new(self.ctx.now, self.ctx.actor.clone(), action)
            .detail("cause", self.ctx.cause)
    }

    /// Adds an event built with [`Changes::event`].
    pub fn push_event(&mut self, event: AuditEvent) {
        self.set.events.push(event);
    }

    /// Commits everything in one transaction; nothing when nothing changed.
    pub async fn commit(mut self, state: &AppState) -> Result<(), ServiceError> {
        if self.set.identities.is_empty()
            && self.set.groups.is_empty()
            && self.set.group_deletes.is_empty()
        {
            return Ok(());
        }
        crate::service::directory::end_grants_no_longer_eligible(
            state.store(),
            self.ctx.new_policy,
            &mut self.set,
            self.ctx.actor,
            self.ctx.now,
        )
        .await?;
        state.store().apply(&self.set).await?;
        Ok(())
    }
}

/// The employee ids of `ids`, for audit details.
pub fn employee_ids(snapshot: &Snapshot, ids: &[Uuid]) -> String {
    ids.iter()
        .filter_map(|id| snapshot.identity(*id))
        .map(|i| i.hr.employee_id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
