//! The vault in memory: sealed or not, and, while unsealed, its keys.
//!
//! The key hierarchy (docs/vault.md): an **unseal key**, never stored by Warden (split
//! into Shamir shares held by people, or, for development, kept in a file), seals the
//! **root key**; the root key wraps the **data keys**; a data key seals each secret
//! version in an envelope that names it and binds the account id and version. Unsealing
//! recombines the unseal key, opens the root key with it and unwraps the data keys; the
//! unseal key is kept in memory while unsealed so the root key can be rotated, and all
//! of them are wiped when the vault is sealed or the process ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use secrecy::SecretString;
use uuid::Uuid;
use warden_core::connector::{BoxFuture, ConnectorError};
use warden_store::{Store, VaultAccount, VaultMeta, WrappedKey};
use warden_vault::{Key, KeyId, Purpose, Share, VaultError};
use zeroize::Zeroizing;

/// The keys of an unsealed vault.
pub struct Keyring {
    /// The vault's id.
    pub vault_id: String,
    /// The unseal key (kept to seal a rotated root key).
    unseal: Key,
    /// The root key's version.
    pub root_version: u64,
    data: HashMap<KeyId, Key>,
    /// The data key new secrets are sealed with.
    pub active: KeyId,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("vault_id", &self.vault_id)
            .field("root_version", &self.root_version)
            .field("data_keys", &self.data.len())
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Why the keys could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The unseal key does not open this vault's root key.
    #[error("the unseal key does not open this vault (a share or the key file is wrong)")]
    WrongKey,
    /// A data key could not be unwrapped: the database was altered.
    #[error("data key {0} cannot be unwrapped by the root key: the vault's key table was altered")]
    DataKey(KeyId),
    /// Anything else.
    #[error("{0}")]
    Vault(#[from] VaultError),
}

impl Keyring {
    /// Opens the keys of `meta` with `unseal`.
    pub fn open(unseal: Key, meta: &VaultMeta, keys: &[WrappedKey]) -> Result<Self, OpenError> {
        let root_bytes = warden_vault::open(
            &unseal,
            Purpose::RootKey,
            &meta.vault_id,
            meta.root_version,
            &meta.root_wrapped,
        )
        .map_err(|_| OpenError::WrongKey)?;
        let root = Key::from_slice(&root_bytes)?;
        let mut data = HashMap::with_capacity(keys.len());
        for k in keys {
            let bytes = warden_vault::open(
                &root,
                Purpose::DataKey,
                &meta.vault_id,
                u64::from(k.id),
                &k.wrapped,
            )
            .map_err(|_| OpenError::DataKey(k.id))?;
            data.insert(k.id, Key::from_slice(&bytes)?);
        }
        if !data.contains_key(&meta.active_data_key) {
            return Err(OpenError::DataKey(meta.active_data_key));
        }
        Ok(Self {
            vault_id: meta.vault_id.clone(),
            unseal,
            root_version: meta.root_version,
            data,
            active: meta.active_data_key,
        })
    }

    /// A new vault's keys: a fresh root key and first data key, sealed and wrapped for
    /// storage. Returns the keyring, the vault row and the wrapped data key.
    pub fn create(
        unseal: Key,
        vault_id: &str,
        mode: &str,
        threshold: u8,
        shares: u8,
        now: time::OffsetDateTime,
    ) -> Result<(Self, VaultMeta, WrappedKey), VaultError> {
        // A new vault is an empty one rotated once: root key version 1, data key 1.
        let empty = Self {
            vault_id: vault_id.to_owned(),
            unseal,
            root_version: 0,
            data: HashMap::new(),
            active: 0,
        };
        let meta = VaultMeta {
            vault_id: vault_id.to_owned(),
            unseal_mode: mode.to_owned(),
            threshold,
            share_count: shares,
            root_version: 0,
            root_wrapped: Vec::new(),
            active_data_key: 0,
            created_at: now,
            rotated_at: now,
        };
        let (ring, meta, _, key) = empty.rotated(&meta, now, None)?;
        Ok((ring, meta, key))
    }

    /// The keys rotated: a new root key version sealed by the unseal key, every data key
    /// re-wrapped by it, and a new active data key. A rekey gives a new unseal key and a
    /// new vault id (which its shares carry, so the old ones are refused as they come).
    /// Returns the new keyring and what to store; `self` is left as it was, for use until
    /// the rotation commits.
    pub fn rotated(
        &self,
        meta: &VaultMeta,
        now: time::OffsetDateTime,
        rekey: Option<(Key, String)>,
    ) -> Result<(Self, VaultMeta, Vec<WrappedKey>, WrappedKey), VaultError> {
        let (unseal, vault_id) =
            rekey.unwrap_or_else(|| (self.unseal.clone(), self.vault_id.clone()));
        let version = self.root_version + 1;
        let root_key_id = KeyId::try_from(version).unwrap_or(KeyId::MAX);
        let root = Key::generate()?;
        let root_wrapped = warden_vault::seal(
            &unseal,
            0,
            Purpose::RootKey,
            &vault_id,
            version,
            root.expose(),
        )?;
        let wrap = |id: KeyId, key: &Key| -> Result<WrappedKey, VaultError> {
            Ok(WrappedKey {
                id,
                root_version: version,
                wrapped: warden_vault::seal(
                    &root,
                    root_key_id,
                    Purpose::DataKey,
                    &vault_id,
                    u64::from(id),
                    key.expose(),
                )?,
                created_at: now,
            })
        };
        let mut ids: Vec<KeyId> = self.data.keys().copied().collect();
        ids.sort_unstable();
        let rewrapped = ids
            .iter()
            .filter_map(|id| self.data.get(id).map(|k| wrap(*id, k)))
            .collect::<Result<Vec<_>, _>>()?;
        let new_id = ids.last().copied().unwrap_or(0) + 1;
        let data_key = Key::generate()?;
        let new_key = wrap(new_id, &data_key)?;
        let mut data = self.data.clone();
        data.insert(new_id, data_key);
        let new_meta = VaultMeta {
            root_version: version,
            root_wrapped,
            active_data_key: new_id,
            rotated_at: now,
            vault_id: vault_id.clone(),
            ..meta.clone()
        };
        let ring = Self {
            vault_id,
            unseal,
            root_version: version,
            data,
            active: new_id,
        };
        Ok((ring, new_meta, rewrapped, new_key))
    }

    /// Seals `secret` as version `version` of account `account` with the active data key.
    pub fn seal_secret(
        &self,
        account: Uuid,
        version: u64,
        secret: &[u8],
    ) -> Result<(KeyId, Vec<u8>), VaultError> {
        let key = self.data.get(&self.active).ok_or(VaultError::Decrypt)?;
        let envelope = warden_vault::seal(
            key,
            self.active,
            Purpose::Secret,
            &account.to_string(),
            version,
            secret,
        )?;
        Ok((self.active, envelope))
    }

    /// Opens version `version` of account `account`'s secret.
    pub fn open_secret(
        &self,
        account: Uuid,
        version: u64,
        envelope: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let id = warden_vault::envelope_key_id(envelope)?;
        let key = self.data.get(&id).ok_or(VaultError::Decrypt)?;
        warden_vault::open(
            key,
            Purpose::Secret,
            &account.to_string(),
            version,
            envelope,
        )
    }

    /// The current password of the vaulted account `a`, read from `store` and opened.
    pub async fn current_password(
        &self,
        store: &Store,
        a: &VaultAccount,
    ) -> Result<SecretString, String> {
        let s = store
            .vault_secret(a.id, a.version)
            .await
            .map_err(|e| format!("reading vaulted account {}: {e}", a.name))?
            .ok_or_else(|| format!("vaulted account {} has no current secret", a.name))?;
        self.open_password(a.id, a.version, &s.envelope)
            .map_err(|e| format!("vaulted account {}: {e}", a.name))
    }

    /// Opens a secret as a password.
    pub fn open_password(
        &self,
        account: Uuid,
        version: u64,
        envelope: &[u8],
    ) -> Result<SecretString, VaultError> {
        let bytes = self.open_secret(account, version, envelope)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| VaultError::Decrypt)?;
        Ok(SecretString::from(text.to_owned()))
    }
}

/// The vault's state in this process.
#[derive(Debug, Default)]
pub struct Vault {
    /// The keys, while unsealed.
    keys: RwLock<Option<Arc<Keyring>>>,
    /// Initialised and sealed: the API serves health and unseal only.
    sealed: AtomicBool,
    /// Shares given towards unsealing.
    progress: Mutex<Vec<Share>>,
}

impl Vault {
    /// The keys, when unsealed.
    pub fn keyring(&self) -> Option<Arc<Keyring>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The keys as stored now: when another replica rotated them (the stored root key
    /// version differs from this one's), they are opened again with the unseal key held
    /// in memory. `None` while sealed.
    pub async fn current_keyring(&self, store: &Store) -> Result<Option<Arc<Keyring>>, String> {
        let Some(ring) = self.keyring() else {
            return Ok(None);
        };
        let Some(meta) = store.vault_meta().await.map_err(|e| e.to_string())? else {
            return Ok(Some(ring));
        };
        if meta.root_version == ring.root_version {
            return Ok(Some(ring));
        }
        let keys = store.vault_keys().await.map_err(|e| e.to_string())?;
        let fresh = Keyring::open(ring.unseal.clone(), &meta, &keys).map_err(|e| e.to_string())?;
        tracing::info!(
            root_version = fresh.root_version,
            data_key = fresh.active,
            "the vault's keys were rotated elsewhere; reloaded"
        );
        let fresh = Arc::new(fresh);
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        // Sealed meanwhile: stay sealed.
        if keys.is_none() {
            return Ok(None);
        }
        *keys = Some(Arc::clone(&fresh));
        Ok(Some(fresh))
    }

    /// Whether the vault is initialised and sealed.
    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// Puts `ring` in force: the vault is unsealed.
    pub fn unsealed(&self, ring: Keyring) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(ring));
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.sealed.store(false, Ordering::Release);
        metrics::gauge!("warden_vault_sealed").set(0.0);
    }

    /// Drops the keys: the vault is sealed.
    pub fn seal(&self) {
        self.sealed.store(true, Ordering::Release);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = None;
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        metrics::gauge!("warden_vault_sealed").set(1.0);
    }

    /// Adds a share towards unsealing; returns every share given so far once there are
    /// `threshold` of them (and forgets them), else how many are held. A share that does
    /// not fit the ones given (another vault, a repeated index) is refused and the others
    /// are kept.
    pub fn add_share(&self, share: Share, threshold: u8) -> Result<ShareProgress, VaultError> {
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        if progress.iter().any(|s| s.index == share.index) {
            return Err(VaultError::ShareDuplicate { index: share.index });
        }
        progress.push(share);
        let held = u8::try_from(progress.len()).unwrap_or(u8::MAX);
        if held >= threshold {
            Ok(ShareProgress::Complete(std::mem::take(&mut *progress)))
        } else {
            Ok(ShareProgress::Held(held))
        }
    }

    /// Shares given so far.
    pub fn progress(&self) -> u8 {
        u8::try_from(
            self.progress
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
        )
        .unwrap_or(u8::MAX)
    }

    /// Forgets the shares given so far.
    pub fn reset_progress(&self) {
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Where an unseal stands after a share.
#[derive(Debug)]
pub enum ShareProgress {
    /// This many shares are held; more are needed.
    Held(u8),
    /// Enough shares: recombine these.
    Complete(Vec<Share>),
}

/// Admin passwords of connections kept in the vault (`password_vault = "ACCOUNT"`).
#[derive(Debug, Clone)]
pub struct VaultPasswords {
    /// The store.
    pub store: Store,
    /// The vault.
    pub vault: Arc<Vault>,
}

impl warden_connectors::PasswordSource for VaultPasswords {
    fn password<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<SecretString, ConnectorError>> {
        Box::pin(async move {
            let ring = self
                .vault
                .current_keyring(&self.store)
                .await
                .map_err(|e| ConnectorError::Unavailable(format!("the vault: {e}")))?;
            let Some(ring) = ring else {
                return Err(ConnectorError::Unavailable(format!(
                    "the admin password is in the vault account {account}, and the vault is sealed or not initialised"
                )));
            };
            let unavailable = |m: String| ConnectorError::Unavailable(m);
            let a = self
                .store
                .vault_account(account)
                .await
                .map_err(|e| unavailable(format!("reading vault account {account}: {e}")))?
                .ok_or_else(|| {
                    ConnectorError::Refused(format!("there is no vault account {account}"))
                })?;
            ring.current_password(&self.store, &a)
                .await
                .map_err(unavailable)
        })
    }
}
