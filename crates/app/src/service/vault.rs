//! The vault's seal and keys: opening it at start, `warden operator init | unseal | seal
//! | rotate`, and its status.
//!
//! A vault initialised with shares starts sealed: the API then serves health, metrics,
//! the vault's status and unseal only, and says so (problem type `sealed`). Background
//! workers keep running; revocations whose connection takes its admin password from the
//! vault fail and are retried until it is unsealed. A vault with a development key file
//! (`[vault] unseal_key_file`) is initialised with it at first start and unsealed with it
//! at every start.

use std::sync::Arc;

use crate::service::error::Failure;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use warden_connectors::keyfile::{self, KeyFileError};
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_store::StoreError;
use warden_vault::{Key, Share};
use zeroize::Zeroizing;

use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;
use crate::vault::{Keyring, ShareProgress};

/// Unseal mode: Shamir shares held by people.
const SHARES: &str = "shares";
/// Unseal mode: a development key file.
const KEY_FILE: &str = "key_file";

/// Whether the vault is initialised and unsealed.
#[derive(Debug, Clone)]
pub struct Status {
    /// Initialised (`warden operator init`, or a development key file).
    pub initialized: bool,
    /// Sealed until enough shares are given.
    pub sealed: bool,
    /// `shares` or `key_file`, once initialised.
    pub unseal_mode: Option<String>,
    /// The vault's id, carried by its shares.
    pub vault_id: Option<String>,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// Shares made.
    pub shares: u8,
    /// Shares given so far towards unsealing.
    pub progress: u8,
    /// The root key's version.
    pub root_version: u64,
    /// The data key new secrets are sealed with.
    pub active_data_key: u32,
    /// When the keys were last rotated.
    pub rotated_at: Option<OffsetDateTime>,
}

/// How to split a new unseal key: into `shares` shares of which `threshold` unseal.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    /// How many shares.
    pub shares: u8,
    /// How many of them unseal.
    pub threshold: u8,
}

/// A new unseal key's shares, given once.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// The vault's id.
    pub vault_id: String,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// The shares; Warden keeps none of them.
    pub shares: Vec<SecretString>,
}

/// One unseal share, or a reset of the shares given so far.
#[derive(Debug, Clone)]
pub struct Unseal {
    /// One share, as given.
    pub share: Option<SecretString>,
    /// Forget the shares given so far.
    pub reset: bool,
}

/// A sealed (or uninitialised) vault, as an API error.
pub fn sealed_error(state: &AppState) -> ServiceError {
    if state.vault().is_sealed() {
        ServiceError::new(
            Failure::Sealed,
            "the vault is sealed: Warden serves health and unseal only until key holders unseal it (warden operator unseal)",
        )
    } else {
        ServiceError::new(
            Failure::Conflict,
            "the vault is not initialised: run warden operator init (or set [vault] unseal_key_file for development)",
        )
    }
}

/// The keys as stored now (reloaded when another replica rotated them), or the error
/// saying why there are none.
pub async fn keyring(state: &AppState) -> Result<Arc<Keyring>, ServiceError> {
    state
        .vault()
        .current_keyring(state.store())
        .await
        .map_err(ServiceError::internal)?
        .ok_or_else(|| sealed_error(state))
}

/// Opens the vault at start: sealed when it was initialised with shares; initialised
/// (first start) and unsealed with the key file when `[vault] unseal_key_file` is set.
pub async fn open(state: &AppState) -> Result<(), String> {
    let meta = state
        .store()
        .vault_meta()
        .await
        .map_err(|e| e.to_string())?;
    let key_file = state.config().vault.unseal_key_file.clone();
    match (meta, key_file) {
        (None, None) => Ok(()),
        (None, Some(path)) => {
            let key = read_key_file(&path)?;
            let now = state.clock().now();
            let vault_id = new_vault_id()?;
            let (ring, meta, data_key) =
                Keyring::create(key, &vault_id, KEY_FILE, 1, 1, now).map_err(|e| e.to_string())?;
            let event = AuditEvent::new(now, Actor::system(), Action::VaultInit)
                .target(format!("vault:{vault_id}"))
                .detail("mode", KEY_FILE)
                .detail("key_file", path.display().to_string());
            match state.store().vault_init(&meta, &data_key, &[event]).await {
                Ok(()) => {
                    tracing::warn!(vault = %vault_id, file = %path.display(), "the vault was initialised with a development key file; production vaults use warden operator init");
                    state.vault().unsealed(ring);
                    Ok(())
                }
                // Another replica initialised it first: open it as it is.
                Err(StoreError::Conflict(_)) => Box::pin(open(state)).await,
                Err(e) => Err(e.to_string()),
            }
        }
        (Some(meta), Some(path)) if meta.unseal_mode == KEY_FILE => {
            let key = read_key_file(&path)?;
            let keys = state
                .store()
                .vault_keys()
                .await
                .map_err(|e| e.to_string())?;
            let ring = Keyring::open(key, &meta, &keys)
                .map_err(|e| format!("vault.unseal_key_file {}: {e}", path.display()))?;
            state.vault().unsealed(ring);
            Ok(())
        }
        (Some(meta), Some(_)) => Err(format!(
            "the vault {} is unsealed with {} shares; remove [vault] unseal_key_file",
            meta.vault_id, meta.threshold
        )),
        (Some(meta), None) if meta.unseal_mode == KEY_FILE => Err(format!(
            "the vault {} was initialised with a key file; set [vault] unseal_key_file to it",
            meta.vault_id
        )),
        (Some(meta), None) => {
            state.vault().seal();
            tracing::warn!(vault = %meta.vault_id, threshold = meta.threshold, "the vault is sealed: give {} unseal shares (warden operator unseal)", meta.threshold);
            Ok(())
        }
    }
}

fn read_key_file(path: &std::path::Path) -> Result<Key, String> {
    let text = keyfile::read_or_create(path, || {
        let key = Key::generate().map_err(|e| KeyFileError::Bad {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        tracing::info!(path = %path.display(), "made a new development unseal key");
        Ok(Zeroizing::new(key.to_text().expose_secret().to_owned()))
    })
    .map_err(|e: KeyFileError| format!("vault.unseal_key_file: {e}"))?;
    Key::from_text(&text).map_err(|e| format!("vault.unseal_key_file {}: {e}", path.display()))
}

/// A new vault id: 16 characters of `a-z 0-9`.
fn new_vault_id() -> Result<String, String> {
    let bytes = warden_core::secret::random_bytes::<8>().map_err(|e| e.to_string())?;
    Ok(warden_core::secret::hex(bytes.as_slice()))
}

/// The vault's status (public: key holders need it to unseal).
pub async fn status(state: &AppState) -> Result<Status, ServiceError> {
    let meta = state.store().vault_meta().await?;
    let ring = state.vault().keyring();
    Ok(match meta {
        None => Status {
            initialized: false,
            sealed: false,
            unseal_mode: None,
            vault_id: None,
            threshold: 0,
            shares: 0,
            progress: 0,
            root_version: 0,
            active_data_key: 0,
            rotated_at: None,
        },
        Some(m) => Status {
            initialized: true,
            sealed: ring.is_none(),
            unseal_mode: Some(m.unseal_mode),
            vault_id: Some(m.vault_id),
            threshold: m.threshold,
            shares: m.share_count,
            progress: state.vault().progress(),
            root_version: m.root_version,
            active_data_key: m.active_data_key,
            rotated_at: Some(m.rotated_at),
        },
    })
}

/// Checks the shares and threshold of a split.
fn check_split(body: &Split) -> Result<(), ServiceError> {
    if !(1..=16).contains(&body.shares) {
        return Err(ServiceError::field("shares", "must be 1 to 16"));
    }
    if body.threshold == 0 {
        return Err(ServiceError::field("threshold", "must be 1 to shares"));
    }
    // Each is within 1 to 16, as described; together they cannot make a split.
    if body.threshold > body.shares {
        return Err(ServiceError::unprocessable(
            "threshold",
            "must be 1 to shares",
        ));
    }
    if body.shares > 1 && body.threshold == 1 {
        return Err(ServiceError::unprocessable(
            "threshold",
            "must be at least 2 when there are several shares: one share alone would unseal",
        ));
    }
    Ok(())
}

/// Initialises the vault: a new unseal key split into `shares` shares of which
/// `threshold` unseal, returned once. The vault is unsealed afterwards.
pub async fn init(
    state: &AppState,
    caller: &Caller,
    body: &Split,
) -> Result<Initialized, ServiceError> {
    super::authz::require(state, caller, Operation::VaultInit, Relation::Other).await?;
    check_split(body)?;
    if state.store().vault_meta().await?.is_some() {
        return Err(ServiceError::new(
            Failure::Conflict,
            "the vault is already initialised",
        ));
    }
    let internal = |e: warden_vault::VaultError| ServiceError::internal(e.to_string());
    let unseal = Key::generate().map_err(internal)?;
    let vault_id = new_vault_id().map_err(ServiceError::internal)?;
    let shares =
        warden_vault::split(&unseal, body.threshold, body.shares, &vault_id).map_err(internal)?;
    let now = state.clock().now();
    let (ring, meta, data_key) =
        Keyring::create(unseal, &vault_id, SHARES, body.threshold, body.shares, now)
            .map_err(internal)?;
    let event = AuditEvent::new(now, caller.actor(), Action::VaultInit)
        .target(format!("vault:{vault_id}"))
        .detail("mode", SHARES)
        .detail("shares", body.shares.to_string())
        .detail("threshold", body.threshold.to_string());
    match state.store().vault_init(&meta, &data_key, &[event]).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ServiceError::new(
                Failure::Conflict,
                "the vault is already initialised",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state.vault().unsealed(ring);
    Ok(Initialized {
        vault_id,
        threshold: body.threshold,
        shares,
    })
}

/// Takes one unseal share (or a reset). Unauthenticated, like the shares themselves: a
/// key holder need not be a Warden user. Every completed attempt is audited, failed or
/// not; the shares themselves never are.
pub async fn unseal(state: &AppState, actor: Actor, body: &Unseal) -> Result<Status, ServiceError> {
    // The request is checked whatever the vault's state: a malformed share is refused
    // even when there is nothing left to unseal.
    let share = body
        .share
        .as_ref()
        .map(|text| {
            Share::parse(text.expose_secret()).map_err(|e| {
                // A share of the described form whose checksum fails was mistyped (or altered).
                if matches!(e, warden_vault::VaultError::ShareChecksum) {
                    ServiceError::unprocessable("share", e.to_string())
                } else {
                    ServiceError::field("share", e.to_string())
                }
            })
        })
        .transpose()?;
    let Some(meta) = state.store().vault_meta().await? else {
        return Err(sealed_error(state));
    };
    if body.reset {
        state.vault().reset_progress();
        return status(state).await;
    }
    let Some(share) = share else {
        return Err(ServiceError::field("share", "give a share, or reset"));
    };
    if state.vault().keyring().is_some() {
        return status(state).await;
    }
    if share.vault_id != meta.vault_id {
        return Err(ServiceError::unprocessable(
            "share",
            format!(
                "this share is of vault {}, not of this vault ({})",
                share.vault_id, meta.vault_id
            ),
        ));
    }
    if share.threshold != meta.threshold {
        return Err(ServiceError::unprocessable(
            "share",
            format!(
                "this share is of a split needing {} shares; this vault needs {}",
                share.threshold, meta.threshold
            ),
        ));
    }
    let shares = match state
        .vault()
        .add_share(share, meta.threshold)
        .map_err(|e| ServiceError::unprocessable("share", e.to_string()))?
    {
        ShareProgress::Held(_) => return status(state).await,
        ShareProgress::Complete(shares) => shares,
    };
    let now = state.clock().now();
    let event = AuditEvent::new(now, actor, Action::VaultUnseal)
        .target(format!("vault:{}", meta.vault_id))
        .detail("shares", shares.len().to_string());
    let opened = match warden_vault::combine(&shares) {
        Ok(key) => open_with(state, key, &meta).await,
        Err(e) => Err(e.to_string()),
    };
    let ring = match opened {
        Ok(ring) => ring,
        Err(e) => {
            state.store().append_audit(&event.failed(e.clone())).await?;
            return Err(ServiceError::new(
                Failure::Unprocessable,
                format!("{e}; the shares given were forgotten, start again"),
            ));
        }
    };
    state.store().append_audit(&event).await?;
    state.vault().unsealed(ring);
    tracing::info!(vault = %meta.vault_id, "the vault is unsealed");
    crate::service::rotation::wake(state);
    status(state).await
}

/// Opens the keys of `meta` with `key`, reading the data keys.
async fn open_with(
    state: &AppState,
    key: Key,
    meta: &warden_store::VaultMeta,
) -> Result<Keyring, String> {
    let keys = state
        .store()
        .vault_keys()
        .await
        .map_err(|e| e.to_string())?;
    Keyring::open(key, meta, &keys).map_err(|e| e.to_string())
}

/// Seals the vault: the keys leave memory, and the API serves health and unseal only.
pub async fn seal(state: &AppState, caller: &Caller) -> Result<Status, ServiceError> {
    super::authz::require(state, caller, Operation::VaultSeal, Relation::Other).await?;
    let Some(meta) = state.store().vault_meta().await? else {
        return Err(sealed_error(state));
    };
    let event = AuditEvent::new(state.clock().now(), caller.actor(), Action::VaultSeal)
        .target(format!("vault:{}", meta.vault_id));
    state.store().append_audit(&event).await?;
    state.vault().seal();
    tracing::warn!(vault = %meta.vault_id, by = %caller.user.username, "the vault was sealed");
    status(state).await
}

/// Rotates the root key and starts a new data key; secrets sealed by older data keys
/// stay readable and are re-sealed by the rotation worker in the background.
pub async fn rotate_keys(state: &AppState, caller: &Caller) -> Result<Status, ServiceError> {
    super::authz::require(state, caller, Operation::VaultRotate, Relation::Other).await?;
    let ring = keyring(state).await?;
    let Some(meta) = state.store().vault_meta().await? else {
        return Err(sealed_error(state));
    };
    let now = state.clock().now();
    let (new_ring, new_meta, rewrapped, new_key) = ring
        .rotated(&meta, now, None)
        .map_err(|e| ServiceError::internal(e.to_string()))?;
    let event = AuditEvent::new(now, caller.actor(), Action::VaultRotateKeys)
        .target(format!("vault:{}", meta.vault_id))
        .detail("root_version", new_meta.root_version.to_string())
        .detail("data_key", new_meta.active_data_key.to_string());
    state
        .store()
        .vault_rotate_keys(meta.root_version, &new_meta, &rewrapped, &new_key, &[event])
        .await?;
    state.vault().unsealed(new_ring);
    crate::service::rotation::wake(state);
    status(state).await
}

/// Rekeys the vault: a new unseal key split into `shares` shares of which `threshold`
/// unseal, returned once, with a new root key sealed by it (every data key re-wrapped, a
/// new data key active) and a new vault id, so the old shares are refused as they are
/// given. The old shares (or the development key file) no longer unseal.
pub async fn rekey(
    state: &AppState,
    caller: &Caller,
    body: &Split,
) -> Result<Initialized, ServiceError> {
    super::authz::require(state, caller, Operation::VaultRotate, Relation::Other).await?;
    check_split(body)?;
    let ring = keyring(state).await?;
    let Some(meta) = state.store().vault_meta().await? else {
        return Err(sealed_error(state));
    };
    let internal = |e: warden_vault::VaultError| ServiceError::internal(e.to_string());
    let unseal = Key::generate().map_err(internal)?;
    let vault_id = new_vault_id().map_err(ServiceError::internal)?;
    let shares =
        warden_vault::split(&unseal, body.threshold, body.shares, &vault_id).map_err(internal)?;
    let now = state.clock().now();
    let (new_ring, mut new_meta, rewrapped, new_key) = ring
        .rotated(&meta, now, Some((unseal, vault_id.clone())))
        .map_err(internal)?;
    new_meta.unseal_mode = SHARES.to_owned();
    new_meta.threshold = body.threshold;
    new_meta.share_count = body.shares;
    let event = AuditEvent::new(now, caller.actor(), Action::VaultRekey)
        .target(format!("vault:{vault_id}"))
        .detail("previous_vault_id", meta.vault_id.as_str())
        .detail("shares", body.shares.to_string())
        .detail("threshold", body.threshold.to_string())
        .detail(
            "was",
            format!(
                "{} ({} of {})",
                meta.unseal_mode, meta.threshold, meta.share_count
            ),
        )
        .detail("root_version", new_meta.root_version.to_string());
    state
        .store()
        .vault_rotate_keys(meta.root_version, &new_meta, &rewrapped, &new_key, &[event])
        .await?;
    state.vault().unsealed(new_ring);
    crate::service::rotation::wake(state);
    if meta.unseal_mode == KEY_FILE {
        tracing::warn!(vault = %meta.vault_id, "the vault now unseals with shares: remove [vault] unseal_key_file before the next start");
    }
    Ok(Initialized {
        vault_id,
        threshold: body.threshold,
        shares,
    })
}
