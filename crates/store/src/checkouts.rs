//! Check-outs of vaulted accounts' secrets: handed out under a running grant (or a policy
//! group's allowance), exclusively or shared, each with its audit events in the same
//! transaction, and checked in by their holder or at the grant's end.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;
use warden_core::request::RequestState;

use crate::entity::{grants, vault_accounts, vault_checkouts, vault_secrets};
use crate::rows::{from_ms, to_ms};
use crate::vault::{i64_of, lock_account, u64_of};
use crate::{Store, StoreError};

/// A check-out of an account's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// Id.
    pub id: Uuid,
    /// The account.
    pub account_id: Uuid,
    /// The grant it was taken under.
    pub grant_id: Option<Uuid>,
    /// Who took it.
    pub username: String,
    /// The secret version handed out.
    pub version: u64,
    /// Taken exclusively.
    pub exclusive: bool,
    /// Taken.
    pub checked_out_at: OffsetDateTime,
    /// When Warden checks it in unless its holder did: the grant's end, or the account's
    /// longest check-out without a grant.
    pub expires_at: OffsetDateTime,
    /// Given back (or taken back at the grant's end).
    pub checked_in_at: Option<OffsetDateTime>,
    /// Why it was checked in.
    pub checkin_reason: Option<String>,
}

fn checkout_of(m: vault_checkouts::Model) -> Result<Checkout, StoreError> {
    Ok(Checkout {
        id: m.id,
        account_id: m.account_id,
        grant_id: m.grant_id,
        username: m.username,
        version: u64_of(m.version, "vault checkout version")?,
        exclusive: m.exclusive,
        checked_out_at: from_ms(m.checked_out_at)?,
        expires_at: from_ms(m.expires_at)?,
        checked_in_at: m.checked_in_at.map(from_ms).transpose()?,
        checkin_reason: m.checkin_reason,
    })
}

pub(crate) async fn open_checkouts_in(
    txn: &DatabaseTransaction,
    account: Uuid,
) -> Result<Vec<Checkout>, StoreError> {
    vault_checkouts::Entity::find()
        .filter(vault_checkouts::Column::AccountId.eq(account))
        .filter(vault_checkouts::Column::CheckedInAt.is_null())
        .all(txn)
        .await?
        .into_iter()
        .map(checkout_of)
        .collect()
}

impl Store {
    /// Records a check-out with its audit events, if the account allows it now: refused
    /// (`Conflict`, saying why) while someone holds it exclusively, when an exclusive
    /// check-out is asked while others hold it, when the same grant already holds it, or
    /// while a rotation is in flight.
    pub async fn vault_checkout(
        &self,
        checkout: &Checkout,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        lock_account(&write.txn, checkout.account_id).await?;
        let open = open_checkouts_in(&write.txn, checkout.account_id).await?;
        if let Some(c) = open.iter().find(|c| c.exclusive) {
            return Err(StoreError::Conflict(format!(
                "an exclusive check-out by {} since {}",
                c.username, c.checked_out_at
            )));
        }
        if checkout.exclusive && !open.is_empty() {
            return Err(StoreError::Conflict(format!(
                "{} open check-out(s), so an exclusive check-out",
                open.len()
            )));
        }
        if let Some(g) = checkout.grant_id
            && open.iter().any(|c| c.grant_id == Some(g))
        {
            return Err(StoreError::Conflict(format!(
                "a check-out under grant {g}: check it in first; the secret is returned once"
            )));
        }
        if checkout.grant_id.is_none()
            && open
                .iter()
                .any(|c| c.grant_id.is_none() && c.username == checkout.username)
        {
            return Err(StoreError::Conflict(format!(
                "a check-out by {} without a grant: check it in first; the secret is returned once",
                checkout.username
            )));
        }
        let pending = vault_secrets::Entity::find()
            .filter(vault_secrets::Column::AccountId.eq(checkout.account_id))
            .filter(vault_secrets::Column::State.eq("pending"))
            .one(&write.txn)
            .await?;
        if pending.is_some() {
            return Err(StoreError::Conflict(
                "a rotation in flight, so a check-out (try again in a moment)".to_owned(),
            ));
        }
        vault_checkouts::Entity::insert(vault_checkouts::ActiveModel {
            id: Set(checkout.id),
            account_id: Set(checkout.account_id),
            grant_id: Set(checkout.grant_id),
            username: Set(checkout.username.clone()),
            version: Set(i64_of(checkout.version)),
            exclusive: Set(checkout.exclusive),
            checked_out_at: Set(to_ms(checkout.checked_out_at)),
            expires_at: Set(to_ms(checkout.expires_at)),
            checked_in_at: Set(None),
            checkin_reason: Set(None),
        })
        .exec_without_returning(&write.txn)
        .await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Open check-outs of an account.
    pub async fn vault_open_checkouts(&self, account: Uuid) -> Result<Vec<Checkout>, StoreError> {
        self.open_checkouts(Some(account)).await
    }

    /// The open check-outs of every account, oldest first.
    pub async fn vault_all_open_checkouts(&self) -> Result<Vec<Checkout>, StoreError> {
        self.open_checkouts(None).await
    }

    async fn open_checkouts(&self, account: Option<Uuid>) -> Result<Vec<Checkout>, StoreError> {
        let mut q = vault_checkouts::Entity::find();
        if let Some(account) = account {
            q = q.filter(vault_checkouts::Column::AccountId.eq(account));
        }
        q.filter(vault_checkouts::Column::CheckedInAt.is_null())
            .order_by_asc(vault_checkouts::Column::CheckedOutAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(checkout_of)
            .collect()
    }

    /// The check-outs of an account, newest first.
    pub async fn vault_checkouts(
        &self,
        account: Uuid,
        limit: u64,
    ) -> Result<Vec<Checkout>, StoreError> {
        vault_checkouts::Entity::find()
            .filter(vault_checkouts::Column::AccountId.eq(account))
            .order_by_desc(vault_checkouts::Column::CheckedOutAt)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(checkout_of)
            .collect()
    }

    /// Open check-outs that ended by `now`: their grant no longer runs (ended, revoked or
    /// gone), or, taken without a grant, their time ran out.
    pub async fn vault_checkouts_ended(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<Checkout>, StoreError> {
        let open: Vec<Checkout> = vault_checkouts::Entity::find()
            .filter(vault_checkouts::Column::CheckedInAt.is_null())
            .all(&self.db)
            .await?
            .into_iter()
            .map(checkout_of)
            .collect::<Result<_, _>>()?;
        let mut ended = Vec::new();
        for c in open {
            let Some(g) = c.grant_id else {
                if c.expires_at <= now {
                    ended.push(c);
                }
                continue;
            };
            let grant = grants::Entity::find_by_id(g).one(&self.db).await?;
            let runs = grant.is_some_and(|g| {
                g.state == RequestState::Active.as_str()
                    && g.ends_at.is_some_and(|e| e > to_ms(now))
            });
            if !runs {
                ended.push(c);
            }
        }
        Ok(ended)
    }

    /// Checks in the open check-out `id` at `now` and makes its account's rotation due
    /// then. Returns it, or `None` when it was already checked in.
    pub async fn vault_checkin(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        reason: &str,
        events: &[AuditEvent],
    ) -> Result<Option<Checkout>, StoreError> {
        let write = self.begin_write().await?;
        let Some(c) = vault_checkouts::Entity::find_by_id(id)
            .one(&write.txn)
            .await?
        else {
            return Ok(None);
        };
        lock_account(&write.txn, c.account_id).await?;
        let done = vault_checkouts::Entity::update_many()
            .col_expr(
                vault_checkouts::Column::CheckedInAt,
                Expr::value(to_ms(now)),
            )
            .col_expr(vault_checkouts::Column::CheckinReason, Expr::value(reason))
            .filter(vault_checkouts::Column::Id.eq(id))
            .filter(vault_checkouts::Column::CheckedInAt.is_null())
            .exec(&write.txn)
            .await?;
        if done.rows_affected == 0 {
            return Ok(None);
        }
        vault_accounts::Entity::update_many()
            .col_expr(
                vault_accounts::Column::NextRotationAt,
                Expr::value(to_ms(now)),
            )
            .filter(vault_accounts::Column::Id.eq(c.account_id))
            .filter(vault_accounts::Column::NextRotationAt.gt(to_ms(now)))
            .exec(&write.txn)
            .await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        let mut c = checkout_of(c)?;
        c.checked_in_at = Some(now);
        c.checkin_reason = Some(reason.to_owned());
        Ok(Some(c))
    }
}
