//! The directory: identities, groups, birthright assignments, the queue of target
//! changes, and policy versions. Every change of these goes through [`Store::apply`], one
//! transaction with its audit events, so an HR sync, a SCIM call or a policy apply is
//! either wholly stored or not at all.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use time::{Date, OffsetDateTime};
use uuid::Uuid;
use warden_core::Username;
use warden_core::audit::AuditEvent;
use warden_core::identity::{EmployeeId, EmploymentStatus, HrRecord, Identity, IdentityKind};

use crate::entity::{
    access_jobs, birthright_assignments, group_members, groups, identities, policy_versions,
};
use crate::rows::{from_ms, to_ms};
use crate::{Store, StoreError};

mod apply;

pub(crate) use apply::apply_in;

/// Rows per INSERT statement in bulk writes (well under both backends' parameter limits).
const CHUNK: usize = 500;

/// A birthright entitlement held by an identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Assignment {
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// The birthright rule that gives it.
    pub rule: String,
}

/// What a queued target change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// Create the access on the target.
    Provision,
    /// Remove the access from the target.
    Deprovision,
}

impl JobAction {
    /// Stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobAction::Provision => "provision",
            JobAction::Deprovision => "deprovision",
        }
    }
}

/// A target change to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccessJob {
    /// Provision or deprovision.
    pub action: JobAction,
    /// For whom.
    pub identity_id: Uuid,
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// Why (the HR change or policy version that caused it).
    pub reason: String,
}

/// A queued target change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessJob {
    /// Job id.
    pub id: Uuid,
    /// `provision` or `deprovision`.
    pub action: String,
    /// For whom.
    pub identity_id: Uuid,
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// Why.
    pub reason: String,
    /// `pending` until a connector carries it out.
    pub state: String,
    /// When it was queued.
    pub created_at: OffsetDateTime,
}

/// An identity to insert or update, with what changes for its access.
#[derive(Debug, Clone)]
pub struct IdentityWrite {
    /// The identity as it will be stored.
    pub identity: Identity,
    /// Insert (true) or update (false).
    pub is_new: bool,
    /// For an update, the `updated_at` the plan was made from: a row changed since then by
    /// another writer refuses the whole change set ([`StoreError::Stale`]).
    pub expected_updated_at: Option<OffsetDateTime>,
    /// Birthright entitlements gained.
    pub birthright_add: Vec<Assignment>,
    /// Birthright entitlements lost (resource, role).
    pub birthright_remove: Vec<(String, String)>,
    /// A leaver: disable the Warden user with the identity's user name and revoke every
    /// token of theirs.
    pub disable_account: bool,
}

/// A group to insert or update.
#[derive(Debug, Clone)]
pub struct GroupWrite {
    /// Group id.
    pub id: Uuid,
    /// Display name (unique).
    pub display_name: String,
    /// The identity provider's id for it.
    pub external_id: Option<String>,
    /// New full member list, or `None` to keep the members.
    pub members: Option<Vec<Uuid>>,
    /// Insert (true) or update (false).
    pub is_new: bool,
    /// For an update, the `updated_at` the plan was made from (see [`IdentityWrite`]).
    pub expected_updated_at: Option<OffsetDateTime>,
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Group id.
    pub id: Uuid,
    /// Display name.
    pub display_name: String,
    /// The identity provider's id for it.
    pub external_id: Option<String>,
    /// Members' identity ids.
    pub members: Vec<Uuid>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// A policy version to record.
#[derive(Debug, Clone)]
pub struct NewPolicyVersion {
    /// SHA-256 of the files, hex.
    pub digest: String,
    /// The files as JSON (`[{"path":..,"text":..}]`).
    pub files: String,
    /// Why it was applied.
    pub comment: String,
    /// Who applied it.
    pub applied_by: String,
}

/// A stored policy version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// Version number, from 1.
    pub version: i64,
    /// SHA-256 of the files, hex.
    pub digest: String,
    /// The files as JSON.
    pub files: String,
    /// Why it was applied.
    pub comment: String,
    /// Who applied it.
    pub applied_by: String,
    /// When.
    pub applied_at: OffsetDateTime,
}

/// Everything one operation changes, committed together.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    /// When.
    pub at: Option<OffsetDateTime>,
    /// Identities to write.
    pub identities: Vec<IdentityWrite>,
    /// Groups to write.
    pub groups: Vec<GroupWrite>,
    /// Groups to delete.
    pub group_deletes: Vec<Uuid>,
    /// Target changes to queue.
    pub jobs: Vec<NewAccessJob>,
    /// A policy version to record.
    pub policy: Option<NewPolicyVersion>,
    /// Grants to end now (a mover no longer eligible for them).
    pub end_grants: Vec<Uuid>,
    /// The audit events of it all.
    pub events: Vec<AuditEvent>,
}

/// What [`Store::apply`] did beyond what was asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSummary {
    /// Warden users disabled because their identity left.
    pub accounts_disabled: u64,
    /// Tokens revoked with them.
    pub tokens_revoked: u64,
    /// Pending or approved requests of leavers (asked by them or for them) cancelled.
    pub requests_cancelled: u64,
    /// Live grants ended (leavers' grants, and those listed in `end_grants`): due for
    /// revocation at once.
    pub grants_ended: u64,
    /// The policy version recorded, if one was.
    pub policy_version: Option<i64>,
}

fn date_text(d: Option<Date>) -> Option<String> {
    d.map(|d| d.to_string())
}

fn parse_date(s: &str) -> Result<Date, StoreError> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| StoreError::Corrupt(format!("date {s:?}: {e}")))
}

fn identity_model(i: &Identity, change_seq: i64) -> identities::ActiveModel {
    let hr = &i.hr;
    identities::ActiveModel {
        id: Set(i.id),
        employee_id: Set(hr.employee_id.as_str().to_owned()),
        username: Set(hr.username.as_str().to_owned()),
        email: Set(hr.email.clone()),
        display_name: Set(hr.display_name.clone()),
        department: Set(hr.department.clone()),
        job_function: Set(hr.job_function.clone()),
        manager: Set(hr.manager.as_ref().map(|m| m.as_str().to_owned())),
        location: Set(hr.location.clone()),
        status: Set(hr.status.as_str().to_owned()),
        kind: Set(hr.kind.as_str().to_owned()),
        start_date: Set(date_text(hr.start_date)),
        end_date: Set(date_text(hr.end_date)),
        source: Set(i.source.clone()),
        external_id: Set(i.external_id.clone()),
        created_at: Set(to_ms(i.created_at)),
        updated_at: Set(to_ms(i.updated_at)),
        change_seq: Set(change_seq),
    }
}

fn identity_from(m: identities::Model, groups: BTreeSet<String>) -> Result<Identity, StoreError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("identity {}: {what}: {e}", m.employee_id))
    };
    let hr = HrRecord {
        employee_id: EmployeeId::parse(&m.employee_id).map_err(|e| bad("employee_id", &e))?,
        username: Username::parse(&m.username).map_err(|e| bad("username", &e))?,
        email: m.email.clone(),
        display_name: m.display_name.clone(),
        department: m.department.clone(),
        job_function: m.job_function.clone(),
        manager: m
            .manager
            .as_deref()
            .map(EmployeeId::parse)
            .transpose()
            .map_err(|e| bad("manager", &e))?,
        location: m.location.clone(),
        status: EmploymentStatus::parse(&m.status).ok_or_else(|| bad("status", &m.status))?,
        kind: IdentityKind::parse(&m.kind).ok_or_else(|| bad("kind", &m.kind))?,
        start_date: m.start_date.as_deref().map(parse_date).transpose()?,
        end_date: m.end_date.as_deref().map(parse_date).transpose()?,
        groups,
    };
    Ok(Identity {
        id: m.id,
        hr,
        source: m.source,
        external_id: m.external_id,
        created_at: from_ms(m.created_at)?,
        updated_at: from_ms(m.updated_at)?,
    })
}

/// `Conflict(what)` for a unique key violation, else the database error.
pub(crate) fn unique_violation(e: sea_orm::DbErr, what: impl FnOnce() -> String) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what()),
        _ => StoreError::from(e),
    }
}

impl Store {
    /// Commits a change set: identities, groups, birthright assignments, queued target
    /// changes, a policy version and the audit events, all or nothing.
    pub async fn apply(&self, changes: &ChangeSet) -> Result<ChangeSummary, StoreError> {
        let write = self.begin_write().await?;
        let summary = apply_in(&write.txn, changes).await?;
        write.txn.commit().await?;
        self.auth_changed();
        self.access_changed();
        Ok(summary)
    }

    /// Every identity with its groups, by employee id.
    pub async fn list_identities(&self) -> Result<Vec<Identity>, StoreError> {
        let memberships = self.group_names_by_identity(None).await?;
        let mut out = Vec::new();
        for m in identities::Entity::find()
            .order_by_asc(identities::Column::EmployeeId)
            .all(&self.db)
            .await?
        {
            let groups = memberships.get(&m.id).cloned().unwrap_or_default();
            out.push(identity_from(m, groups)?);
        }
        Ok(out)
    }

    /// Identities whose user name, employee id, or e-mail matches, with their groups.
    pub async fn find_identities(
        &self,
        filter: IdentityFilter<'_>,
    ) -> Result<Vec<Identity>, StoreError> {
        let mut query = identities::Entity::find();
        query = match filter {
            IdentityFilter::Id(id) => query.filter(identities::Column::Id.eq(id)),
            IdentityFilter::Username(name) => query.filter(identities::Column::Username.eq(name)),
            IdentityFilter::EmployeeId(id) => query.filter(identities::Column::EmployeeId.eq(id)),
            IdentityFilter::ExternalId(id) => query.filter(identities::Column::ExternalId.eq(id)),
        };
        let models = query
            .order_by_asc(identities::Column::EmployeeId)
            .all(&self.db)
            .await?;
        let mut out = Vec::new();
        for m in models {
            let groups = self
                .group_names_by_identity(Some(m.id))
                .await?
                .remove(&m.id)
                .unwrap_or_default();
            out.push(identity_from(m, groups)?);
        }
        Ok(out)
    }

    async fn group_names_by_identity(
        &self,
        only: Option<Uuid>,
    ) -> Result<HashMap<Uuid, BTreeSet<String>>, StoreError> {
        let names: HashMap<Uuid, String> = groups::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|g| (g.id, g.display_name))
            .collect();
        let mut query = group_members::Entity::find();
        if let Some(id) = only {
            query = query.filter(group_members::Column::IdentityId.eq(id));
        }
        let mut out: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
        for m in query.all(&self.db).await? {
            if let Some(name) = names.get(&m.group_id) {
                out.entry(m.identity_id).or_default().insert(name.clone());
            }
        }
        Ok(out)
    }

    /// Every group with its members, by name.
    pub async fn list_groups(&self) -> Result<Vec<Group>, StoreError> {
        let mut members: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for m in group_members::Entity::find().all(&self.db).await? {
            members.entry(m.group_id).or_default().push(m.identity_id);
        }
        groups::Entity::find()
            .order_by_asc(groups::Column::DisplayName)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|g| {
                Ok(Group {
                    members: members.remove(&g.id).unwrap_or_default(),
                    id: g.id,
                    display_name: g.display_name,
                    external_id: g.external_id,
                    created_at: from_ms(g.created_at)?,
                    updated_at: from_ms(g.updated_at)?,
                })
            })
            .collect()
    }

    /// Birthright assignments of every identity.
    pub async fn birthright_by_identity(
        &self,
    ) -> Result<HashMap<Uuid, Vec<Assignment>>, StoreError> {
        let mut out: HashMap<Uuid, Vec<Assignment>> = HashMap::new();
        for m in birthright_assignments::Entity::find()
            .order_by_asc(birthright_assignments::Column::Resource)
            .order_by_asc(birthright_assignments::Column::Role)
            .all(&self.db)
            .await?
        {
            out.entry(m.identity_id).or_default().push(Assignment {
                resource: m.resource,
                role: m.role,
                rule: m.rule,
            });
        }
        Ok(out)
    }

    /// Queued target changes, oldest first.
    pub async fn access_jobs(&self, identity: Option<Uuid>) -> Result<Vec<AccessJob>, StoreError> {
        let mut query = access_jobs::Entity::find();
        if let Some(id) = identity {
            query = query.filter(access_jobs::Column::IdentityId.eq(id));
        }
        query
            .order_by_asc(access_jobs::Column::CreatedAt)
            .order_by_asc(access_jobs::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|j| {
                Ok(AccessJob {
                    id: j.id,
                    action: j.action,
                    identity_id: j.identity_id,
                    resource: j.resource,
                    role: j.role,
                    reason: j.reason,
                    state: j.state,
                    created_at: from_ms(j.created_at)?,
                })
            })
            .collect()
    }

    /// The newest policy version, if any was applied.
    pub async fn latest_policy(&self) -> Result<Option<PolicyVersion>, StoreError> {
        policy_versions::Entity::find()
            .order_by_desc(policy_versions::Column::Version)
            .one(&self.db)
            .await?
            .map(policy_version)
            .transpose()
    }

    /// The newest policy version number, without its files (cheap enough to poll).
    pub async fn latest_policy_number(&self) -> Result<Option<i64>, StoreError> {
        Ok(policy_versions::Entity::find()
            .select_only()
            .column_as(policy_versions::Column::Version.max(), "max")
            .into_tuple::<Option<i64>>()
            .one(&self.db)
            .await?
            .flatten())
    }

    /// One policy version.
    pub async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>, StoreError> {
        policy_versions::Entity::find_by_id(version)
            .one(&self.db)
            .await?
            .map(policy_version)
            .transpose()
    }

    /// Every policy version, newest first.
    pub async fn policy_history(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        policy_versions::Entity::find()
            .order_by_desc(policy_versions::Column::Version)
            .all(&self.db)
            .await?
            .into_iter()
            .map(policy_version)
            .collect()
    }
}

/// How to look identities up.
#[derive(Debug, Clone, Copy)]
pub enum IdentityFilter<'a> {
    /// By Warden id.
    Id(Uuid),
    /// By user name.
    Username(&'a str),
    /// By employee id.
    EmployeeId(&'a str),
    /// By the identity provider's id.
    ExternalId(&'a str),
}

fn policy_version(m: policy_versions::Model) -> Result<PolicyVersion, StoreError> {
    Ok(PolicyVersion {
        version: m.version,
        digest: m.digest,
        files: m.files,
        comment: m.comment,
        applied_by: m.applied_by,
        applied_at: from_ms(m.applied_at)?,
    })
}
