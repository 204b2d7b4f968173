//! Sponsored vendor accounts. A sponsor creates the vendor's identity and Warden account
//! together; the account is enabled only while the vendor holds a running grant,
//! disabled (with its tokens revoked) when the last one ends, and deleted with the
//! identity once the retention period after that has passed.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;

use crate::directory::{ChangeSet, apply_in};
use crate::entity::{
    api_tokens, birthright_assignments, group_members, identities, users, vendor_accounts,
};
use crate::rows::{from_ms, to_ms};
use crate::{NewUser, Store, StoreError, insert_audit, insert_user};

/// A vendor account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVendor {
    /// The vendor's identity.
    pub identity_id: Uuid,
    /// The sponsor's identity.
    pub sponsor_id: Uuid,
    /// The vendor's company.
    pub company: String,
    /// Created.
    pub created_at: OffsetDateTime,
    /// When the account was last disabled because no grant ran.
    pub deactivated_at: Option<OffsetDateTime>,
    /// When the identity and account are deleted unless a grant runs again.
    pub delete_after: Option<OffsetDateTime>,
}

impl Store {
    /// Creates a vendor: the identity (through `changes`, with its audit events), the
    /// Warden account (disabled until a grant runs) and the vendor row, all or nothing.
    pub async fn create_vendor(
        &self,
        changes: &ChangeSet,
        account: &NewUser,
        vendor: &StoredVendor,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        apply_in(&write.txn, changes).await?;
        insert_user(&write.txn, account).await?;
        users::Entity::update_many()
            .col_expr(users::Column::Disabled, Expr::value(true))
            .filter(users::Column::Id.eq(account.id))
            .exec(&write.txn)
            .await?;
        vendor_accounts::Entity::insert(vendor_accounts::ActiveModel {
            identity_id: Set(vendor.identity_id),
            sponsor_id: Set(vendor.sponsor_id),
            company: Set(vendor.company.clone()),
            created_at: Set(to_ms(vendor.created_at)),
            deactivated_at: Set(vendor.deactivated_at.map(to_ms)),
            delete_after: Set(vendor.delete_after.map(to_ms)),
        })
        .exec_without_returning(&write.txn)
        .await?;
        write.txn.commit().await?;
        self.auth_changed();
        self.access_changed();
        Ok(())
    }

    /// Every vendor account, oldest first.
    pub async fn vendors(&self) -> Result<Vec<StoredVendor>, StoreError> {
        vendor_accounts::Entity::find()
            .order_by_asc(vendor_accounts::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(StoredVendor {
                    identity_id: m.identity_id,
                    sponsor_id: m.sponsor_id,
                    company: m.company,
                    created_at: from_ms(m.created_at)?,
                    deactivated_at: m.deactivated_at.map(from_ms).transpose()?,
                    delete_after: m.delete_after.map(from_ms).transpose()?,
                })
            })
            .collect()
    }

    /// Enables a vendor's account (a grant runs): the deletion clock stops.
    pub async fn activate_vendor(
        &self,
        identity_id: Uuid,
        username: &str,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        users::Entity::update_many()
            .col_expr(users::Column::Disabled, Expr::value(false))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_ms(at)))
            .filter(users::Column::Username.eq(username))
            .exec(&write.txn)
            .await?;
        vendor_accounts::Entity::update_many()
            .col_expr(
                vendor_accounts::Column::DeactivatedAt,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                vendor_accounts::Column::DeleteAfter,
                Expr::value(Option::<i64>::None),
            )
            .filter(vendor_accounts::Column::IdentityId.eq(identity_id))
            .exec(&write.txn)
            .await?;
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        self.auth_changed();
        Ok(())
    }

    /// Disables a vendor's account and revokes its tokens (no grant runs); it is deleted
    /// at `delete_after` unless a grant runs again before.
    pub async fn deactivate_vendor(
        &self,
        identity_id: Uuid,
        username: &str,
        at: OffsetDateTime,
        delete_after: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        let user: Option<Uuid> = users::Entity::find()
            .filter(users::Column::Username.eq(username))
            .one(&write.txn)
            .await?
            .map(|u| u.id);
        users::Entity::update_many()
            .col_expr(users::Column::Disabled, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_ms(at)))
            .filter(users::Column::Username.eq(username))
            .exec(&write.txn)
            .await?;
        if let Some(user) = user {
            api_tokens::Entity::update_many()
                .col_expr(api_tokens::Column::RevokedAt, Expr::value(to_ms(at)))
                .filter(api_tokens::Column::UserId.eq(user))
                .filter(api_tokens::Column::RevokedAt.is_null())
                .exec(&write.txn)
                .await?;
        }
        vendor_accounts::Entity::update_many()
            .col_expr(
                vendor_accounts::Column::DeactivatedAt,
                Expr::value(to_ms(at)),
            )
            .col_expr(
                vendor_accounts::Column::DeleteAfter,
                Expr::value(to_ms(delete_after)),
            )
            .filter(vendor_accounts::Column::IdentityId.eq(identity_id))
            .exec(&write.txn)
            .await?;
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        self.auth_changed();
        Ok(())
    }

    /// Deletes a vendor's identity (with its group memberships and birthright), Warden
    /// account and tokens. Requests, grants and audit events keep the identity's id.
    pub async fn delete_vendor(
        &self,
        identity_id: Uuid,
        username: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        if let Some(user) = users::Entity::find()
            .filter(users::Column::Username.eq(username))
            .one(&write.txn)
            .await?
        {
            api_tokens::Entity::delete_many()
                .filter(api_tokens::Column::UserId.eq(user.id))
                .exec(&write.txn)
                .await?;
            users::Entity::delete_by_id(user.id)
                .exec(&write.txn)
                .await?;
        }
        group_members::Entity::delete_many()
            .filter(group_members::Column::IdentityId.eq(identity_id))
            .exec(&write.txn)
            .await?;
        birthright_assignments::Entity::delete_many()
            .filter(birthright_assignments::Column::IdentityId.eq(identity_id))
            .exec(&write.txn)
            .await?;
        identities::Entity::delete_by_id(identity_id)
            .exec(&write.txn)
            .await?;
        vendor_accounts::Entity::delete_by_id(identity_id)
            .exec(&write.txn)
            .await?;
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        self.auth_changed();
        Ok(())
    }
}
