//! The credential vault's tables. Nothing here is ever plaintext: the root key is stored
//! sealed by the unseal key, data keys wrapped by the root key, and secrets as envelopes
//! under a data key. Every change that hands a secret out, takes it back or changes it
//! commits with its audit events.
//!
//! A secret version is `current` (the password the target has), `pending` (generated and
//! being applied; kept until the target is seen to take it, so a crash between applying
//! and committing loses nothing), or `previous` (the one before the current, kept for an
//! operator who must recover by hand). Older versions are deleted when a new one commits.
//!
//! Check-outs of a vaulted account's secret have their own module (`checkouts`).

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;

use crate::checkouts::open_checkouts_in;
use crate::directory::unique_violation;
use crate::entity::{vault_accounts, vault_keys, vault_meta, vault_secrets};
use crate::outbox::insert_outbox;
use crate::rows::{from_ms, to_ms};
use crate::{OutboxMessage, Store, StoreError};

/// The vault's one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultMeta {
    /// A short id of this vault, carried by its unseal shares.
    pub vault_id: String,
    /// `shares` or `key_file`.
    pub unseal_mode: String,
    /// Shares needed to unseal (1 with a key file).
    pub threshold: u8,
    /// Shares made (1 with a key file).
    pub share_count: u8,
    /// The root key's version.
    pub root_version: u64,
    /// The root key sealed by the unseal key.
    pub root_wrapped: Vec<u8>,
    /// The data key new secrets are sealed with.
    pub active_data_key: u32,
    /// Initialised.
    pub created_at: OffsetDateTime,
    /// Keys last rotated (the initialisation, at first).
    pub rotated_at: OffsetDateTime,
}

/// A data key, wrapped by a root key version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Key id, named by the envelopes it seals.
    pub id: u32,
    /// The root key version that wraps it.
    pub root_version: u64,
    /// The envelope of the key.
    pub wrapped: Vec<u8>,
    /// Made.
    pub created_at: OffsetDateTime,
}

/// A vaulted account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultAccount {
    /// Id (bound into its secrets' envelopes).
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// The configured connection of its target.
    pub connection: String,
    /// The account's name on the target.
    pub username: String,
    /// The resource whose grants allow a check-out.
    pub resource: Option<String>,
    /// The roles on that resource whose grants allow a check-out.
    pub roles: Vec<String>,
    /// Policy groups whose members may check it out without a grant.
    pub groups: Vec<String>,
    /// How long a check-out without a grant lasts before Warden checks it in, in seconds.
    pub checkout_max_secs: i64,
    /// One check-out at a time.
    pub exclusive: bool,
    /// Scheduled rotation interval, in seconds.
    pub rotate_every_secs: i64,
    /// Generated password length.
    pub password_length: u32,
    /// Whether generated passwords use symbols.
    pub password_symbols: bool,
    /// The current (committed) secret version.
    pub version: u64,
    /// When the next rotation (or retry) is due.
    pub next_rotation_at: OffsetDateTime,
    /// Rotation failures in a row.
    pub rotation_failures: u32,
    /// Last rotated successfully.
    pub last_rotated_at: Option<OffsetDateTime>,
    /// The last rotation error, until one succeeds.
    pub last_error: Option<String>,
    /// Added.
    pub created_at: OffsetDateTime,
    /// Added by.
    pub created_by: String,
}

/// One version of an account's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersion {
    /// The account.
    pub account_id: Uuid,
    /// Version, from 1.
    pub version: u64,
    /// The data key sealing it.
    pub key_id: u32,
    /// The envelope.
    pub envelope: Vec<u8>,
    /// `current`, `pending` or `previous`.
    pub state: String,
    /// Made.
    pub created_at: OffsetDateTime,
    /// Confirmed on the target.
    pub committed_at: Option<OffsetDateTime>,
}

/// What a failed rotation leaves on its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationFailure {
    /// Failures in a row, this one included.
    pub failures: u32,
    /// When to try again.
    pub retry_at: OffsetDateTime,
    /// What went wrong (no secret in it).
    pub error: String,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn u64_of(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|e| corrupt(what, e))
}

pub(crate) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn meta_of(m: vault_meta::Model) -> Result<VaultMeta, StoreError> {
    Ok(VaultMeta {
        vault_id: m.vault_id,
        unseal_mode: m.unseal_mode,
        threshold: u8::try_from(m.threshold).map_err(|e| corrupt("vault threshold", e))?,
        share_count: u8::try_from(m.share_count).map_err(|e| corrupt("vault shares", e))?,
        root_version: u64_of(m.root_version, "vault root version")?,
        root_wrapped: m.root_wrapped,
        active_data_key: u32::try_from(m.active_data_key)
            .map_err(|e| corrupt("vault data key", e))?,
        created_at: from_ms(m.created_at)?,
        rotated_at: from_ms(m.rotated_at)?,
    })
}

fn key_of(m: vault_keys::Model) -> Result<WrappedKey, StoreError> {
    Ok(WrappedKey {
        id: u32::try_from(m.id).map_err(|e| corrupt("vault key id", e))?,
        root_version: u64_of(m.root_version, "vault key root version")?,
        wrapped: m.wrapped,
        created_at: from_ms(m.created_at)?,
    })
}

fn account_of(m: vault_accounts::Model) -> Result<VaultAccount, StoreError> {
    Ok(VaultAccount {
        id: m.id,
        name: m.name,
        connection: m.connection,
        username: m.username,
        resource: m.resource,
        roles: serde_json::from_str(&m.roles).map_err(|e| corrupt("vault account roles", e))?,
        groups: serde_json::from_str(&m.groups).map_err(|e| corrupt("vault account groups", e))?,
        checkout_max_secs: m.checkout_max_secs,
        exclusive: m.exclusive,
        rotate_every_secs: m.rotate_every_secs,
        password_length: u32::try_from(m.password_length)
            .map_err(|e| corrupt("vault password length", e))?,
        password_symbols: m.password_symbols,
        version: u64_of(m.version, "vault account version")?,
        next_rotation_at: from_ms(m.next_rotation_at)?,
        rotation_failures: u32::try_from(m.rotation_failures)
            .map_err(|e| corrupt("vault rotation failures", e))?,
        last_rotated_at: m.last_rotated_at.map(from_ms).transpose()?,
        last_error: m.last_error,
        created_at: from_ms(m.created_at)?,
        created_by: m.created_by,
    })
}

fn secret_of(m: vault_secrets::Model) -> Result<SecretVersion, StoreError> {
    Ok(SecretVersion {
        account_id: m.account_id,
        version: u64_of(m.version, "vault secret version")?,
        key_id: u32::try_from(m.key_id).map_err(|e| corrupt("vault secret key id", e))?,
        envelope: m.envelope,
        state: m.state,
        created_at: from_ms(m.created_at)?,
        committed_at: m.committed_at.map(from_ms).transpose()?,
    })
}

fn secret_model(s: &SecretVersion) -> vault_secrets::ActiveModel {
    vault_secrets::ActiveModel {
        account_id: Set(s.account_id),
        version: Set(i64_of(s.version)),
        key_id: Set(i64::from(s.key_id)),
        envelope: Set(s.envelope.clone()),
        state: Set(s.state.clone()),
        created_at: Set(to_ms(s.created_at)),
        committed_at: Set(s.committed_at.map(to_ms)),
    }
}

fn key_model(k: &WrappedKey) -> vault_keys::ActiveModel {
    vault_keys::ActiveModel {
        id: Set(i64::from(k.id)),
        root_version: Set(i64_of(k.root_version)),
        wrapped: Set(k.wrapped.clone()),
        created_at: Set(to_ms(k.created_at)),
    }
}

/// Takes the account's row lock (PostgreSQL) for the rest of the transaction, so
/// check-outs, stagings and commits of one account happen one at a time across replicas.
/// Fails with `NotFound`-style `Stale` when the account is gone.
pub(crate) async fn lock_account(txn: &DatabaseTransaction, id: Uuid) -> Result<(), StoreError> {
    let done = vault_accounts::Entity::update_many()
        .col_expr(
            vault_accounts::Column::LockSeq,
            Expr::col(vault_accounts::Column::LockSeq).add(1),
        )
        .filter(vault_accounts::Column::Id.eq(id))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(StoreError::Stale(format!("vaulted account {id}")));
    }
    Ok(())
}

impl Store {
    /// The vault, when initialised.
    pub async fn vault_meta(&self) -> Result<Option<VaultMeta>, StoreError> {
        vault_meta::Entity::find_by_id(1)
            .one(&self.db)
            .await?
            .map(meta_of)
            .transpose()
    }

    /// Initialises the vault with its sealed root key and first data key. `Conflict` when
    /// it already is.
    pub async fn vault_init(
        &self,
        meta: &VaultMeta,
        key: &WrappedKey,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        vault_meta::Entity::insert(vault_meta::ActiveModel {
            id: Set(1),
            vault_id: Set(meta.vault_id.clone()),
            unseal_mode: Set(meta.unseal_mode.clone()),
            threshold: Set(i32::from(meta.threshold)),
            share_count: Set(i32::from(meta.share_count)),
            root_version: Set(i64_of(meta.root_version)),
            root_wrapped: Set(meta.root_wrapped.clone()),
            active_data_key: Set(i64::from(meta.active_data_key)),
            created_at: Set(to_ms(meta.created_at)),
            rotated_at: Set(to_ms(meta.rotated_at)),
        })
        .exec_without_returning(&write.txn)
        .await
        .map_err(|e| unique_violation(e, || "the vault".to_owned()))?;
        vault_keys::Entity::insert(key_model(key))
            .exec_without_returning(&write.txn)
            .await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Every data key, oldest first.
    pub async fn vault_keys(&self) -> Result<Vec<WrappedKey>, StoreError> {
        vault_keys::Entity::find()
            .order_by_asc(vault_keys::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(key_of)
            .collect()
    }

    /// Rotates the vault's keys: the root key sealed anew as `meta.root_version` (with the
    /// vault id, unseal mode, threshold and share count of `meta`, which a rekey changes), every
    /// existing data key re-wrapped by it (`rewrapped`), and `new_key` made the active data
    /// key. `Stale` when another rotation committed since `expected_root_version` was read.
    pub async fn vault_rotate_keys(
        &self,
        expected_root_version: u64,
        meta: &VaultMeta,
        rewrapped: &[WrappedKey],
        new_key: &WrappedKey,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        let done = vault_meta::Entity::update_many()
            .col_expr(
                vault_meta::Column::RootVersion,
                Expr::value(i64_of(meta.root_version)),
            )
            .col_expr(
                vault_meta::Column::RootWrapped,
                Expr::value(meta.root_wrapped.clone()),
            )
            .col_expr(
                vault_meta::Column::ActiveDataKey,
                Expr::value(i64::from(meta.active_data_key)),
            )
            .col_expr(
                vault_meta::Column::RotatedAt,
                Expr::value(to_ms(meta.rotated_at)),
            )
            .col_expr(
                vault_meta::Column::VaultId,
                Expr::value(meta.vault_id.clone()),
            )
            .col_expr(
                vault_meta::Column::UnsealMode,
                Expr::value(meta.unseal_mode.clone()),
            )
            .col_expr(
                vault_meta::Column::Threshold,
                Expr::value(i32::from(meta.threshold)),
            )
            .col_expr(
                vault_meta::Column::ShareCount,
                Expr::value(i32::from(meta.share_count)),
            )
            .filter(vault_meta::Column::Id.eq(1))
            .filter(vault_meta::Column::RootVersion.eq(i64_of(expected_root_version)))
            .exec(&write.txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(StoreError::Stale("the vault's keys".to_owned()));
        }
        for k in rewrapped {
            vault_keys::Entity::update_many()
                .col_expr(
                    vault_keys::Column::RootVersion,
                    Expr::value(i64_of(k.root_version)),
                )
                .col_expr(vault_keys::Column::Wrapped, Expr::value(k.wrapped.clone()))
                .filter(vault_keys::Column::Id.eq(i64::from(k.id)))
                .exec(&write.txn)
                .await?;
        }
        vault_keys::Entity::insert(key_model(new_key))
            .exec_without_returning(&write.txn)
            .await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Up to `limit` secret versions sealed by a data key other than `active`.
    pub async fn vault_secrets_not_under(
        &self,
        active: u32,
        limit: u64,
    ) -> Result<Vec<SecretVersion>, StoreError> {
        vault_secrets::Entity::find()
            .filter(vault_secrets::Column::KeyId.ne(i64::from(active)))
            .order_by_asc(vault_secrets::Column::AccountId)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(secret_of)
            .collect()
    }

    /// Replaces envelopes re-sealed under another data key. Each update names the key it
    /// read (`from_key`): a version changed meanwhile is left alone. Returns how many were
    /// replaced.
    pub async fn vault_rewrap(&self, updates: &[(SecretVersion, u32)]) -> Result<u64, StoreError> {
        let write = self.begin_write().await?;
        let mut n = 0;
        for (s, from_key) in updates {
            let done = vault_secrets::Entity::update_many()
                .col_expr(
                    vault_secrets::Column::KeyId,
                    Expr::value(i64::from(s.key_id)),
                )
                .col_expr(
                    vault_secrets::Column::Envelope,
                    Expr::value(s.envelope.clone()),
                )
                .filter(vault_secrets::Column::AccountId.eq(s.account_id))
                .filter(vault_secrets::Column::Version.eq(i64_of(s.version)))
                .filter(vault_secrets::Column::KeyId.eq(i64::from(*from_key)))
                .exec(&write.txn)
                .await?;
            n += done.rows_affected;
        }
        write.txn.commit().await?;
        Ok(n)
    }

    /// Adds a vaulted account with its first secret version. `Conflict` on a taken name.
    pub async fn vault_add_account(
        &self,
        account: &VaultAccount,
        secret: &SecretVersion,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        let roles = serde_json::to_string(&account.roles).map_err(|e| corrupt("roles", e))?;
        let groups = serde_json::to_string(&account.groups).map_err(|e| corrupt("groups", e))?;
        vault_accounts::Entity::insert(vault_accounts::ActiveModel {
            id: Set(account.id),
            name: Set(account.name.clone()),
            connection: Set(account.connection.clone()),
            username: Set(account.username.clone()),
            resource: Set(account.resource.clone()),
            roles: Set(roles),
            groups: Set(groups),
            checkout_max_secs: Set(account.checkout_max_secs),
            exclusive: Set(account.exclusive),
            rotate_every_secs: Set(account.rotate_every_secs),
            password_length: Set(i32::try_from(account.password_length).unwrap_or(i32::MAX)),
            password_symbols: Set(account.password_symbols),
            version: Set(i64_of(account.version)),
            next_rotation_at: Set(to_ms(account.next_rotation_at)),
            rotation_failures: Set(0),
            last_rotated_at: Set(account.last_rotated_at.map(to_ms)),
            last_error: Set(None),
            lock_seq: Set(0),
            created_at: Set(to_ms(account.created_at)),
            created_by: Set(account.created_by.clone()),
        })
        .exec_without_returning(&write.txn)
        .await
        .map_err(|e| unique_violation(e, || format!("vaulted account {}", account.name)))?;
        vault_secrets::Entity::insert(secret_model(secret))
            .exec_without_returning(&write.txn)
            .await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Every vaulted account, by name.
    pub async fn vault_accounts(&self) -> Result<Vec<VaultAccount>, StoreError> {
        vault_accounts::Entity::find()
            .order_by_asc(vault_accounts::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(account_of)
            .collect()
    }

    /// The vaulted account `name`.
    pub async fn vault_account(&self, name: &str) -> Result<Option<VaultAccount>, StoreError> {
        vault_accounts::Entity::find()
            .filter(vault_accounts::Column::Name.eq(name))
            .one(&self.db)
            .await?
            .map(account_of)
            .transpose()
    }

    /// The vaulted account with id `id`.
    pub async fn vault_account_by_id(&self, id: Uuid) -> Result<Option<VaultAccount>, StoreError> {
        vault_accounts::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(account_of)
            .transpose()
    }

    /// Accounts whose rotation (or retry) is due at `now`, soonest first.
    pub async fn vault_due_accounts(
        &self,
        now: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<VaultAccount>, StoreError> {
        vault_accounts::Entity::find()
            .filter(vault_accounts::Column::NextRotationAt.lte(to_ms(now)))
            .order_by_asc(vault_accounts::Column::NextRotationAt)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(account_of)
            .collect()
    }

    /// Makes the account's rotation due at `at` (on demand).
    pub async fn vault_schedule_rotation(
        &self,
        account: Uuid,
        at: OffsetDateTime,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        lock_account(&write.txn, account).await?;
        vault_accounts::Entity::update_many()
            .col_expr(
                vault_accounts::Column::NextRotationAt,
                Expr::value(to_ms(at)),
            )
            .filter(vault_accounts::Column::Id.eq(account))
            .exec(&write.txn)
            .await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// A version of an account's secret.
    pub async fn vault_secret(
        &self,
        account: Uuid,
        version: u64,
    ) -> Result<Option<SecretVersion>, StoreError> {
        vault_secrets::Entity::find_by_id((account, i64_of(version)))
            .one(&self.db)
            .await?
            .map(secret_of)
            .transpose()
    }

    /// Every pending secret version: rotations applied (or being applied) but not
    /// committed.
    pub async fn vault_pending(&self) -> Result<Vec<SecretVersion>, StoreError> {
        vault_secrets::Entity::find()
            .filter(vault_secrets::Column::State.eq("pending"))
            .all(&self.db)
            .await?
            .into_iter()
            .map(secret_of)
            .collect()
    }

    /// Stores `secret` as the account's pending version before it is applied on the
    /// target. `Conflict` when a rotation is already pending or someone holds the account.
    pub async fn vault_stage(&self, secret: &SecretVersion) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        lock_account(&write.txn, secret.account_id).await?;
        let open = open_checkouts_in(&write.txn, secret.account_id).await?;
        if !open.is_empty() {
            return Err(StoreError::Conflict(format!(
                "{} open check-out(s), so a rotation",
                open.len()
            )));
        }
        let pending = vault_secrets::Entity::find()
            .filter(vault_secrets::Column::AccountId.eq(secret.account_id))
            .filter(vault_secrets::Column::State.eq("pending"))
            .one(&write.txn)
            .await?;
        if pending.is_some() {
            return Err(StoreError::Conflict("a pending rotation".to_owned()));
        }
        vault_secrets::Entity::insert(secret_model(secret))
            .exec_without_returning(&write.txn)
            .await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Commits the pending version `version` as the account's current secret, with its
    /// audit events: the current one becomes `previous`, older ones are deleted, failures
    /// are cleared and the next rotation is due at `next_at`. `Stale` when that version is
    /// not pending any more.
    pub async fn vault_commit(
        &self,
        account: Uuid,
        version: u64,
        now: OffsetDateTime,
        next_at: OffsetDateTime,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        lock_account(&write.txn, account).await?;
        let v = i64_of(version);
        let pending = vault_secrets::Entity::find_by_id((account, v))
            .one(&write.txn)
            .await?;
        if pending.is_none_or(|p| p.state != "pending") {
            return Err(StoreError::Stale(format!(
                "pending secret version {version}"
            )));
        }
        vault_secrets::Entity::delete_many()
            .filter(vault_secrets::Column::AccountId.eq(account))
            .filter(vault_secrets::Column::State.eq("previous"))
            .exec(&write.txn)
            .await?;
        vault_secrets::Entity::update_many()
            .col_expr(vault_secrets::Column::State, Expr::value("previous"))
            .filter(vault_secrets::Column::AccountId.eq(account))
            .filter(vault_secrets::Column::State.eq("current"))
            .exec(&write.txn)
            .await?;
        vault_secrets::Entity::update_many()
            .col_expr(vault_secrets::Column::State, Expr::value("current"))
            .col_expr(vault_secrets::Column::CommittedAt, Expr::value(to_ms(now)))
            .filter(vault_secrets::Column::AccountId.eq(account))
            .filter(vault_secrets::Column::Version.eq(v))
            .exec(&write.txn)
            .await?;
        vault_accounts::Entity::update_many()
            .col_expr(vault_accounts::Column::Version, Expr::value(v))
            .col_expr(
                vault_accounts::Column::NextRotationAt,
                Expr::value(to_ms(next_at)),
            )
            .col_expr(vault_accounts::Column::RotationFailures, Expr::value(0))
            .col_expr(
                vault_accounts::Column::LastRotatedAt,
                Expr::value(to_ms(now)),
            )
            .col_expr(
                vault_accounts::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .filter(vault_accounts::Column::Id.eq(account))
            .exec(&write.txn)
            .await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Ends a rotation that did not commit: drops the pending version `version` (when
    /// given) and records `failure` on the account, with the audit events and alerts.
    pub async fn vault_rotation_failed(
        &self,
        account: Uuid,
        version: Option<u64>,
        failure: &RotationFailure,
        events: &[AuditEvent],
        outbox: &[OutboxMessage],
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        lock_account(&write.txn, account).await?;
        if let Some(version) = version {
            vault_secrets::Entity::delete_many()
                .filter(vault_secrets::Column::AccountId.eq(account))
                .filter(vault_secrets::Column::Version.eq(i64_of(version)))
                .filter(vault_secrets::Column::State.eq("pending"))
                .exec(&write.txn)
                .await?;
        }
        vault_accounts::Entity::update_many()
            .col_expr(
                vault_accounts::Column::RotationFailures,
                Expr::value(i32::try_from(failure.failures).unwrap_or(i32::MAX)),
            )
            .col_expr(
                vault_accounts::Column::NextRotationAt,
                Expr::value(to_ms(failure.retry_at)),
            )
            .col_expr(
                vault_accounts::Column::LastError,
                Expr::value(failure.error.clone()),
            )
            .filter(vault_accounts::Column::Id.eq(account))
            .exec(&write.txn)
            .await?;
        insert_outbox(&write.txn, outbox).await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(())
    }
}
