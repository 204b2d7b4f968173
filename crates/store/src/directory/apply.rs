//! Writing a [`ChangeSet`] inside one transaction: identities, birthright assignments,
//! what a leaver's departure ends, groups and their members, queued target changes, a
//! policy version and the audit events. [`apply_in`] runs the steps in that order; each
//! step is one function here.

use std::collections::BTreeSet;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::request::{Event, RequestState};

use super::{
    CHUNK, ChangeSet, ChangeSummary, GroupWrite, IdentityWrite, NewAccessJob, NewPolicyVersion,
    identity_model, unique_violation,
};
use crate::StoreError;
use crate::entity::{
    access_jobs, api_tokens, birthright_assignments, group_members, groups, identities,
    policy_versions, users,
};
use crate::rows::{from_ms, state_names, to_ms};

/// Applies a change set inside `txn` (see [`crate::Store::apply`]).
pub(crate) async fn apply_in(
    txn: &DatabaseTransaction,
    changes: &ChangeSet,
) -> Result<ChangeSummary, StoreError> {
    let at_time = changes.at.unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let at = to_ms(at_time);
    let mut summary = ChangeSummary::default();

    write_identities(txn, &changes.identities).await?;
    write_birthright(txn, &changes.identities, at).await?;
    disable_leaver_accounts(txn, &changes.identities, at, &mut summary).await?;
    end_leavers_requests_and_grants(txn, &changes.identities, at, &mut summary).await?;
    summary.grants_ended += crate::grants::end_grants_in(
        txn,
        &changes.end_grants,
        from_ms(at)?,
        "no longer eligible after a change of HR attributes or policy",
    )
    .await?;

    for g in &changes.groups {
        write_group(txn, g, at).await?;
    }
    for id in &changes.group_deletes {
        groups::Entity::delete_by_id(*id).exec(txn).await?;
    }

    queue_jobs(txn, &changes.jobs, at_time).await?;

    if let Some(policy) = &changes.policy {
        summary.policy_version = Some(insert_policy_version(txn, policy, at).await?);
    }

    crate::audit::insert_audits(txn, &changes.events).await?;
    Ok(summary)
}

/// Inserts the new identities and updates the existing ones, all stamped with one new
/// access change number; an update whose identity changed since it was read is `Stale`.
async fn write_identities(
    txn: &DatabaseTransaction,
    writes: &[IdentityWrite],
) -> Result<(), StoreError> {
    let (new, existing): (Vec<&IdentityWrite>, Vec<&IdentityWrite>) =
        writes.iter().partition(|w| w.is_new);
    let seq = if writes.is_empty() {
        0
    } else {
        crate::access::next_access_seq(txn).await?
    };
    for chunk in new.chunks(CHUNK) {
        identities::Entity::insert_many(chunk.iter().map(|w| identity_model(&w.identity, seq)))
            .exec_without_returning(txn)
            .await
            .map_err(|e| {
                unique_violation(e, || {
                    "an identity with that employee id or user name".to_owned()
                })
            })?;
    }
    for w in existing {
        let mut model = identity_model(&w.identity, seq);
        model.created_at = sea_orm::ActiveValue::NotSet;
        model.id = sea_orm::ActiveValue::NotSet;
        let mut update = identities::Entity::update_many()
            .set(model)
            .filter(identities::Column::Id.eq(w.identity.id));
        if let Some(expected) = w.expected_updated_at {
            update = update.filter(identities::Column::UpdatedAt.eq(to_ms(expected)));
        }
        let done = update
            .exec(txn)
            .await
            .map_err(|e| unique_violation(e, || format!("user name {}", w.identity.hr.username)))?;
        if done.rows_affected == 0 {
            return Err(StoreError::Stale(format!(
                "identity {}",
                w.identity.hr.employee_id
            )));
        }
    }
    Ok(())
}

/// Removes, then adds, the birthright assignments the identity writes carry.
async fn write_birthright(
    txn: &DatabaseTransaction,
    writes: &[IdentityWrite],
    at: i64,
) -> Result<(), StoreError> {
    for w in writes {
        for (resource, role) in &w.birthright_remove {
            birthright_assignments::Entity::delete_many()
                .filter(birthright_assignments::Column::IdentityId.eq(w.identity.id))
                .filter(birthright_assignments::Column::Resource.eq(resource.as_str()))
                .filter(birthright_assignments::Column::Role.eq(role.as_str()))
                .exec(txn)
                .await?;
        }
    }
    let adds: Vec<birthright_assignments::ActiveModel> = writes
        .iter()
        .flat_map(|w| {
            w.birthright_add
                .iter()
                .map(|a| birthright_assignments::ActiveModel {
                    identity_id: Set(w.identity.id),
                    resource: Set(a.resource.clone()),
                    role: Set(a.role.clone()),
                    rule: Set(a.rule.clone()),
                    assigned_at: Set(at),
                })
        })
        .collect();
    for chunk in adds.chunks(CHUNK) {
        birthright_assignments::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Disables the directory-linked accounts of leavers and revokes their API tokens,
/// counting both in `summary`.
async fn disable_leaver_accounts(
    txn: &DatabaseTransaction,
    writes: &[IdentityWrite],
    at: i64,
    summary: &mut ChangeSummary,
) -> Result<(), StoreError> {
    let leavers: Vec<String> = writes
        .iter()
        .filter(|w| w.disable_account)
        .map(|w| w.identity.hr.username.as_str().to_owned())
        .collect();
    for chunk in leavers.chunks(CHUNK) {
        let ids: Vec<Uuid> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::Username.is_in(chunk.iter().cloned()))
            // Local break-glass accounts (the initial administrator) never follow the
            // directory: no HR or SCIM change may disable them.
            .filter(users::Column::LinkedToDirectory.eq(true))
            .into_tuple()
            .all(txn)
            .await?;
        if ids.is_empty() {
            continue;
        }
        summary.accounts_disabled += users::Entity::update_many()
            .col_expr(users::Column::Disabled, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(at))
            .filter(users::Column::Id.is_in(ids.clone()))
            .filter(users::Column::Disabled.eq(false))
            .exec(txn)
            .await?
            .rows_affected;
        summary.tokens_revoked += api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::RevokedAt, Expr::value(at))
            .filter(api_tokens::Column::UserId.is_in(ids))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(txn)
            .await?
            .rows_affected;
    }
    Ok(())
}

/// Cancels the open requests leavers asked or were asked for, and ends the grants they
/// hold, counting both in `summary`.
async fn end_leavers_requests_and_grants(
    txn: &DatabaseTransaction,
    writes: &[IdentityWrite],
    at: i64,
    summary: &mut ChangeSummary,
) -> Result<(), StoreError> {
    // A leaver's requests, asked by them or for them, end with them.
    let gone: Vec<Uuid> = writes
        .iter()
        .filter(|w| w.disable_account)
        .map(|w| w.identity.id)
        .collect();
    // Each state a request can be cancelled from, with the state the cancel moves it to.
    let cancels: Vec<(RequestState, RequestState)> = RequestState::ALL
        .into_iter()
        .filter_map(|from| from.next(Event::Cancel).ok().map(|to| (from, to)))
        .collect();
    for chunk in gone.chunks(CHUNK) {
        for (from, to) in &cancels {
            summary.requests_cancelled += crate::entity::requests::Entity::update_many()
                .col_expr(
                    crate::entity::requests::Column::State,
                    Expr::value(to.as_str()),
                )
                .col_expr(crate::entity::requests::Column::UpdatedAt, Expr::value(at))
                .filter(
                    sea_orm::Condition::any()
                        .add(
                            crate::entity::requests::Column::RequesterId
                                .is_in(chunk.iter().copied()),
                        )
                        .add(
                            crate::entity::requests::Column::BeneficiaryId
                                .is_in(chunk.iter().copied()),
                        ),
                )
                .filter(crate::entity::requests::Column::State.eq(from.as_str()))
                .exec(txn)
                .await?
                .rows_affected;
        }
        let held: Vec<Uuid> = crate::entity::grants::Entity::find()
            .select_only()
            .column(crate::entity::grants::Column::Id)
            .filter(crate::entity::grants::Column::IdentityId.is_in(chunk.iter().copied()))
            .filter(crate::entity::grants::Column::State.is_in(state_names(
                RequestState::ALL.into_iter().filter(|s| s.keeps_access()),
            )))
            .into_tuple()
            .all(txn)
            .await?;
        summary.grants_ended += crate::grants::end_grants_in(
            txn,
            &held,
            from_ms(at)?,
            "the holder left the organisation",
        )
        .await?;
    }
    Ok(())
}

/// Inserts or updates one group (an update of a group changed since it was read is
/// `Stale`), and replaces its members when the write carries them.
async fn write_group(txn: &DatabaseTransaction, g: &GroupWrite, at: i64) -> Result<(), StoreError> {
    let model = groups::ActiveModel {
        id: Set(g.id),
        display_name: Set(g.display_name.clone()),
        external_id: Set(g.external_id.clone()),
        created_at: if g.is_new {
            Set(at)
        } else {
            sea_orm::ActiveValue::NotSet
        },
        updated_at: Set(at),
    };
    if g.is_new {
        groups::Entity::insert(model)
            .exec_without_returning(txn)
            .await
            .map_err(|e| unique_violation(e, || format!("group {}", g.display_name)))?;
    } else {
        let mut model = model;
        model.id = sea_orm::ActiveValue::NotSet;
        let mut update = groups::Entity::update_many()
            .set(model)
            .filter(groups::Column::Id.eq(g.id));
        if let Some(expected) = g.expected_updated_at {
            update = update.filter(groups::Column::UpdatedAt.eq(to_ms(expected)));
        }
        let done = update
            .exec(txn)
            .await
            .map_err(|e| unique_violation(e, || format!("group {}", g.display_name)))?;
        if done.rows_affected == 0 {
            return Err(StoreError::Stale(format!("group {}", g.display_name)));
        }
    }
    if let Some(members) = &g.members {
        group_members::Entity::delete_many()
            .filter(group_members::Column::GroupId.eq(g.id))
            .exec(txn)
            .await?;
        let unique: BTreeSet<Uuid> = members.iter().copied().collect();
        let rows: Vec<group_members::ActiveModel> = unique
            .into_iter()
            .map(|identity_id| group_members::ActiveModel {
                group_id: Set(g.id),
                identity_id: Set(identity_id),
            })
            .collect();
        for chunk in rows.chunks(CHUNK) {
            group_members::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
    }
    Ok(())
}

/// Queues the target changes, pending and due at once.
async fn queue_jobs(
    txn: &DatabaseTransaction,
    jobs: &[NewAccessJob],
    at_time: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = to_ms(at_time);
    let rows: Vec<access_jobs::ActiveModel> = jobs
        .iter()
        .map(|j| access_jobs::ActiveModel {
            id: Set(warden_core::clock::id_at(at_time)),
            action: Set(j.action.as_str().to_owned()),
            identity_id: Set(j.identity_id),
            resource: Set(j.resource.clone()),
            role: Set(j.role.clone()),
            reason: Set(j.reason.clone()),
            state: Set("pending".to_owned()),
            attempts: Set(0),
            last_error: Set(None),
            created_at: Set(at),
            due_at: Set(at),
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        access_jobs::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Stores a new policy version, numbered one past the latest, and returns its number.
async fn insert_policy_version(
    txn: &DatabaseTransaction,
    p: &NewPolicyVersion,
    at: i64,
) -> Result<i64, StoreError> {
    // The next number, read inside the transaction: on SQLite the writer lock serialises
    // applies; on PostgreSQL two racing applies collide on the primary key and one fails.
    let latest: Option<i64> = policy_versions::Entity::find()
        .select_only()
        .column_as(policy_versions::Column::Version.max(), "max")
        .into_tuple::<Option<i64>>()
        .one(txn)
        .await?
        .flatten();
    let version = latest.unwrap_or(0) + 1;
    policy_versions::Entity::insert(policy_versions::ActiveModel {
        version: Set(version),
        digest: Set(p.digest.clone()),
        files: Set(p.files.clone()),
        comment: Set(p.comment.clone()),
        applied_by: Set(p.applied_by.clone()),
        applied_at: Set(at),
    })
    .exec_without_returning(txn)
    .await
    .map_err(|e| {
        unique_violation(e, || {
            format!("policy version {version} (another apply won the race; try again)")
        })
    })?;
    let _ = txn.get_database_backend();
    Ok(version)
}
