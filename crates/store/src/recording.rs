//! The recording connector's tables: the accesses it holds and every call it received,
//! for `[grants] record_only` (development and tests), where no target is changed.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{connector_calls, recorded_access};
use crate::rows::{from_ms, to_ms};
use crate::{Store, StoreError};

/// A call the recording connector received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorCall {
    /// When.
    pub at: OffsetDateTime,
    /// `grant` or `revoke`.
    pub op: String,
    /// For whom.
    pub identity_id: Uuid,
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: String,
    /// The grant it served.
    pub grant_id: Uuid,
}

fn access_key(identity: Uuid, resource: &str, role: &str) -> String {
    format!("{identity}|{resource}|{role}")
}

async fn insert_call(
    txn: &DatabaseTransaction,
    op: &str,
    identity: Uuid,
    resource: &str,
    role: &str,
    grant: Uuid,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    connector_calls::Entity::insert(connector_calls::ActiveModel {
        id: Set(warden_core::clock::id_at(at)),
        at: Set(to_ms(at)),
        op: Set(op.to_owned()),
        identity_id: Set(identity),
        resource: Set(resource.to_owned()),
        role: Set(role.to_owned()),
        grant_id: Set(grant),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

impl Store {
    /// Records that an access exists until `until` (creating or moving its end).
    pub async fn record_access(
        &self,
        identity: Uuid,
        resource: &str,
        role: &str,
        until: OffsetDateTime,
        grant: Uuid,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        let key = access_key(identity, resource, role);
        recorded_access::Entity::insert(recorded_access::ActiveModel {
            key: Set(key),
            identity_id: Set(identity),
            resource: Set(resource.to_owned()),
            role: Set(role.to_owned()),
            until: Set(to_ms(until)),
            granted_at: Set(to_ms(at)),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(recorded_access::Column::Key)
                .update_column(recorded_access::Column::Until)
                .to_owned(),
        )
        .exec_without_returning(&write.txn)
        .await?;
        insert_call(&write.txn, "grant", identity, resource, role, grant, at).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Records that an access is gone.
    pub async fn erase_access(
        &self,
        identity: Uuid,
        resource: &str,
        role: &str,
        grant: Uuid,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        recorded_access::Entity::delete_many()
            .filter(recorded_access::Column::Key.eq(access_key(identity, resource, role)))
            .exec(&write.txn)
            .await?;
        insert_call(&write.txn, "revoke", identity, resource, role, grant, at).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Until when a recorded access exists, if it does.
    pub async fn recorded_access(
        &self,
        identity: Uuid,
        resource: &str,
        role: &str,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        recorded_access::Entity::find_by_id(access_key(identity, resource, role))
            .one(&self.db)
            .await?
            .map(|m| from_ms(m.until))
            .transpose()
    }

    /// The recording connector's calls, oldest first.
    pub async fn connector_calls(&self) -> Result<Vec<ConnectorCall>, StoreError> {
        connector_calls::Entity::find()
            .order_by_asc(connector_calls::Column::At)
            .order_by_asc(connector_calls::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(ConnectorCall {
                    at: from_ms(m.at)?,
                    op: m.op,
                    identity_id: m.identity_id,
                    resource: m.resource,
                    role: m.role,
                    grant_id: m.grant_id,
                })
            })
            .collect()
    }
}
