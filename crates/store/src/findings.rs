//! Reconciliation findings: privileged access found on a target that Warden did not
//! grant. A reconciliation run records what it saw on one resource in one transaction
//! with its audit events: new accounts open a finding, accounts seen again refresh it,
//! accounts gone from the target resolve it, and accounts the reconciler stripped are
//! marked removed.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;

use crate::entity::findings;
use crate::outbox::insert_outbox;
use crate::rows::{from_ms, to_ms};
use crate::{OutboxMessage, Store, StoreError};

/// A finding, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    /// Id.
    pub id: Uuid,
    /// The resource.
    pub resource: String,
    /// The account on the target.
    pub account: String,
    /// What it held, last seen.
    pub privileges: Vec<String>,
    /// `open`, `removed` or `resolved`.
    pub state: String,
    /// First seen.
    pub first_seen: OffsetDateTime,
    /// Last seen.
    pub last_seen: OffsetDateTime,
}

/// What one reconciliation saw on a resource.
#[derive(Debug, Clone, Default)]
pub struct Sighting {
    /// Unknown privileged accounts, by name, with what they hold.
    pub seen: BTreeMap<String, Vec<String>>,
    /// Those of them the reconciler stripped of their privileges.
    pub removed: Vec<String>,
}

fn to_stored(m: findings::Model) -> Result<StoredFinding, StoreError> {
    Ok(StoredFinding {
        id: m.id,
        resource: m.resource,
        account: m.account,
        privileges: serde_json::from_str(&m.privileges)
            .map_err(|e| StoreError::Corrupt(format!("finding privileges: {e}")))?,
        state: m.state,
        first_seen: from_ms(m.first_seen)?,
        last_seen: from_ms(m.last_seen)?,
    })
}

impl Store {
    /// Records a reconciliation of `resource` at `now`, with its audit events and
    /// notifications, all or nothing. Returns the accounts seen for the first time (or again after they were
    /// resolved), so the caller can alert on them.
    pub async fn record_findings(
        &self,
        resource: &str,
        sighting: &Sighting,
        now: OffsetDateTime,
        events: &[AuditEvent],
        outbox: &[OutboxMessage],
    ) -> Result<Vec<StoredFinding>, StoreError> {
        let write = self.begin_write().await?;
        insert_outbox(&write.txn, outbox).await?;
        let existing: BTreeMap<String, findings::Model> = findings::Entity::find()
            .filter(findings::Column::Resource.eq(resource))
            .all(&write.txn)
            .await?
            .into_iter()
            .map(|m| (m.account.clone(), m))
            .collect();
        let mut new = Vec::new();
        for (account, privileges) in &sighting.seen {
            let state = if sighting.removed.contains(account) {
                "removed"
            } else {
                "open"
            };
            let privileges_json = serde_json::to_string(privileges)
                .map_err(|e| StoreError::Corrupt(format!("finding privileges: {e}")))?;
            match existing.get(account) {
                Some(m) => {
                    findings::Entity::update_many()
                        .col_expr(findings::Column::Privileges, Expr::value(privileges_json))
                        .col_expr(findings::Column::State, Expr::value(state))
                        .col_expr(findings::Column::LastSeen, Expr::value(to_ms(now)))
                        .filter(findings::Column::Id.eq(m.id))
                        .exec(&write.txn)
                        .await?;
                    if m.state == "resolved" {
                        let mut again = to_stored(m.clone())?;
                        again.state = state.to_owned();
                        again.privileges.clone_from(privileges);
                        again.last_seen = now;
                        new.push(again);
                    }
                }
                None => {
                    let id = warden_core::clock::id_at(now);
                    findings::Entity::insert(findings::ActiveModel {
                        id: Set(id),
                        resource: Set(resource.to_owned()),
                        account: Set(account.clone()),
                        privileges: Set(privileges_json),
                        state: Set(state.to_owned()),
                        first_seen: Set(to_ms(now)),
                        last_seen: Set(to_ms(now)),
                    })
                    .exec_without_returning(&write.txn)
                    .await?;
                    new.push(StoredFinding {
                        id,
                        resource: resource.to_owned(),
                        account: account.clone(),
                        privileges: privileges.clone(),
                        state: state.to_owned(),
                        first_seen: now,
                        last_seen: now,
                    });
                }
            }
        }
        let gone: Vec<Uuid> = existing
            .values()
            .filter(|m| m.state != "resolved" && !sighting.seen.contains_key(&m.account))
            .map(|m| m.id)
            .collect();
        if !gone.is_empty() {
            findings::Entity::update_many()
                .col_expr(findings::Column::State, Expr::value("resolved"))
                .filter(findings::Column::Id.is_in(gone))
                .exec(&write.txn)
                .await?;
        }
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(new)
    }

    /// Findings, newest first: open ones only unless `all`, of one resource if given.
    pub async fn findings(
        &self,
        resource: Option<&str>,
        all: bool,
    ) -> Result<Vec<StoredFinding>, StoreError> {
        let mut q = findings::Entity::find().order_by_desc(findings::Column::FirstSeen);
        if let Some(r) = resource {
            q = q.filter(findings::Column::Resource.eq(r));
        }
        if !all {
            q = q.filter(findings::Column::State.eq("open"));
        }
        q.all(&self.db).await?.into_iter().map(to_stored).collect()
    }
}
