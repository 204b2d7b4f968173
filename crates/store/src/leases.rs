//! Worker leases: which replica runs a background worker, until when unless it renews.
//! Among replicas racing for a lease, one wins; a clean shutdown gives its leases up.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::leases;
use crate::rows::{from_ms, to_ms};
use crate::{Store, StoreError};

/// Who holds a worker lease, and until when unless they renew it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The holder's worker id.
    pub owner: Uuid,
    /// When the lease runs out.
    pub until: OffsetDateTime,
}

fn lease_from(m: leases::Model) -> Result<LeaseHolder, StoreError> {
    Ok(LeaseHolder {
        owner: m.owner,
        until: from_ms(m.until)?,
    })
}

impl Store {
    /// Takes or renews the lease `name` for `owner` until `until`: granted when nobody
    /// holds it, `owner` already does, or the holder's lease ran out before `now`. Among
    /// replicas racing for it, one wins. Returns whether `owner` holds it now.
    pub async fn lease(
        &self,
        name: &str,
        owner: Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let write = self.begin_write().await?;
        let renewed = leases::Entity::update_many()
            .col_expr(leases::Column::Owner, Expr::value(owner))
            .col_expr(leases::Column::Until, Expr::value(to_ms(until)))
            .filter(leases::Column::Name.eq(name))
            .filter(
                Condition::any()
                    .add(leases::Column::Owner.eq(owner))
                    .add(leases::Column::Until.lt(to_ms(now))),
            )
            .exec(&write.txn)
            .await?
            .rows_affected;
        let held = if renewed > 0 {
            true
        } else {
            leases::Entity::insert(leases::ActiveModel {
                name: Set(name.to_owned()),
                owner: Set(owner),
                until: Set(to_ms(until)),
            })
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(leases::Column::Name)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&write.txn)
            .await?
                > 0
        };
        write.txn.commit().await?;
        Ok(held)
    }

    /// Gives up the lease `name` if `owner` holds it (a clean shutdown).
    pub async fn release(&self, name: &str, owner: Uuid) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        leases::Entity::delete_many()
            .filter(leases::Column::Name.eq(name))
            .filter(leases::Column::Owner.eq(owner))
            .exec(&write.txn)
            .await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Gives up every lease `owner` holds (a clean shutdown: other replicas, or this
    /// process started again, take them over at once). Returns how many it held.
    pub async fn release_all(&self, owner: Uuid) -> Result<u64, StoreError> {
        let write = self.begin_write().await?;
        let released = leases::Entity::delete_many()
            .filter(leases::Column::Owner.eq(owner))
            .exec(&write.txn)
            .await?
            .rows_affected;
        write.txn.commit().await?;
        Ok(released)
    }

    /// Who holds the lease `name` (lapsed or not), if anybody.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError> {
        leases::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .map(lease_from)
            .transpose()
    }

    /// Every lease and its holder, by name.
    pub async fn lease_holders(&self) -> Result<Vec<(String, LeaseHolder)>, StoreError> {
        leases::Entity::find()
            .order_by_asc(leases::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| Ok((m.name.clone(), lease_from(m)?)))
            .collect()
    }
}
