//! `/v1/operator/*` (the vault's seal and keys) and `/v1/accounts` (vaulted accounts,
//! check-out, check-in, rotation).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use warden_core::audit::Actor;
use warden_proto::WireSecret;
use warden_proto::problem::Problem;
use warden_proto::vault::{
    AccountInfo, AddAccount, CheckedOut, CheckinRequest, CheckoutInfo, CheckoutRequest, InitVault,
    InitializedVault, RotationScheduled, Unseal, VaultStatus,
};
use warden_store::Checkout;

use super::ApiJson;
use crate::auth::Authenticated;
use crate::client::Client;
use crate::error::ApiError;
use warden_app::service;
use warden_app::state::AppState;

/// The wire form of the vault's status.
fn vault_status(s: service::vault::Status) -> VaultStatus {
    VaultStatus {
        initialized: s.initialized,
        sealed: s.sealed,
        unseal_mode: s.unseal_mode,
        vault_id: s.vault_id,
        threshold: s.threshold,
        shares: s.shares,
        progress: s.progress,
        root_version: s.root_version,
        active_data_key: s.active_data_key,
        rotated_at: s.rotated_at,
    }
}

/// The split an init or rekey body asks for.
fn split(b: &InitVault) -> service::vault::Split {
    service::vault::Split {
        shares: b.shares,
        threshold: b.threshold,
    }
}

/// The wire form of a check-out.
fn checkout_info(c: Checkout) -> CheckoutInfo {
    CheckoutInfo {
        id: c.id,
        username: c.username,
        grant: c.grant_id,
        exclusive: c.exclusive,
        version: c.version,
        checked_out_at: c.checked_out_at,
        expires_at: c.expires_at,
        checked_in_at: c.checked_in_at,
        checkin_reason: c.checkin_reason,
    }
}

/// The wire form of a vaulted account, with its open check-outs and whether a rotation of
/// it is pending.
fn account_info(account: service::accounts::Account) -> AccountInfo {
    let a = account.account;
    AccountInfo {
        name: a.name,
        connection: a.connection,
        username: a.username,
        resource: a.resource,
        roles: a.roles,
        groups: a.groups,
        checkout_max_secs: a.checkout_max_secs,
        exclusive: a.exclusive,
        rotate_every_secs: a.rotate_every_secs,
        password_length: a.password_length,
        symbols: a.password_symbols,
        version: a.version,
        next_rotation_at: a.next_rotation_at,
        last_rotated_at: a.last_rotated_at,
        rotation_failures: a.rotation_failures,
        last_error: a.last_error,
        rotation_pending: account.rotation_pending,
        checkouts: account.checkouts.into_iter().map(checkout_info).collect(),
        created_at: a.created_at,
        created_by: a.created_by,
    }
}

/// The account an add body describes.
fn add(b: AddAccount) -> service::accounts::Add {
    service::accounts::Add {
        name: b.name,
        connection: b.connection,
        username: b.username,
        password: b.password.0,
        resource: b.resource,
        roles: b.roles,
        groups: b.groups,
        checkout_max: b.checkout_max,
        exclusive: b.exclusive,
        rotate_every: b.rotate_every,
        password_length: b.password_length,
        symbols: b.symbols,
        rotate_now: b.rotate_now,
    }
}

/// The wire form of a new unseal key's shares.
fn initialized_vault(i: service::vault::Initialized) -> InitializedVault {
    InitializedVault {
        vault_id: i.vault_id,
        threshold: i.threshold,
        shares: i.shares.into_iter().map(WireSecret::new).collect(),
    }
}

/// Whether the vault is initialised and sealed, and how far an unseal has come. Public:
/// key holders need it to unseal.
#[utoipa::path(operation_id = "vault_status", get, path = "/v1/operator/status", tag = "vault",
    responses((status = 200, body = VaultStatus)))]
pub async fn status(State(state): State<AppState>) -> Result<Json<VaultStatus>, ApiError> {
    service::vault::status(&state)
        .await
        .map_err(ApiError::from)
        .map(|s| Json(vault_status(s)))
}

/// Initialises the vault: a new unseal key split into shares, returned once. Needs
/// `admin`.
#[utoipa::path(operation_id = "vault_init", post, path = "/v1/operator/init", tag = "vault", security(("bearer" = [])),
    request_body = InitVault,
    responses(
        (status = 200, body = InitializedVault),
        (status = 409, description = "The vault is initialised already.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The threshold is more than the shares, or 1 with several shares.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn init(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(b): ApiJson<InitVault>,
) -> Result<Json<InitializedVault>, ApiError> {
    service::vault::init(&state, &caller, &split(&b))
        .await
        .map_err(ApiError::from)
        .map(|i| Json(initialized_vault(i)))
}

/// Gives one unseal share (or resets those given). Needs no token: a key holder need
/// not be a Warden user. Attempts are limited per client address.
#[utoipa::path(operation_id = "vault_unseal", post, path = "/v1/operator/unseal", tag = "vault",
    request_body = Unseal,
    responses(
        (status = 200, body = VaultStatus),
        (status = 409, description = "The vault is not initialised.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The share is mistyped (its checksum fails), of another vault or split, given twice, or the shares given do not open the vault (they are forgotten; start again).", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unseal(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(b): ApiJson<Unseal>,
) -> Result<Json<VaultStatus>, ApiError> {
    service::auth::throttle_source(&state, &client, "unseal attempts")?;
    let actor = Actor {
        user: None,
        token_id: None,
        source: client.ip,
        user_agent: client.user_agent,
    };
    let b = service::vault::Unseal {
        share: b.share.map(|s| s.0),
        reset: b.reset,
    };
    service::vault::unseal(&state, actor, &b)
        .await
        .map_err(ApiError::from)
        .map(|s| Json(vault_status(s)))
}

/// Seals the vault: its keys leave memory and the API serves health and unseal only.
/// Needs `admin`.
#[utoipa::path(operation_id = "vault_seal", post, path = "/v1/operator/seal", tag = "vault", security(("bearer" = [])),
    responses(
        (status = 200, body = VaultStatus),
    ))]
pub async fn seal(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<VaultStatus>, ApiError> {
    service::vault::seal(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|s| Json(vault_status(s)))
}

/// Rotates the root key and starts a new data key; older secrets stay readable and are
/// re-sealed in the background. Needs `admin`.
#[utoipa::path(operation_id = "vault_rotate", post, path = "/v1/operator/rotate", tag = "vault", security(("bearer" = [])),
    responses(
        (status = 200, body = VaultStatus),
        (status = 409, description = "The vault is not initialised.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<VaultStatus>, ApiError> {
    service::vault::rotate_keys(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|s| Json(vault_status(s)))
}

/// Replaces the unseal key: a new one split into new shares, returned once; the old
/// shares no longer unseal. Needs `admin` and an unsealed vault.
#[utoipa::path(operation_id = "vault_rekey", post, path = "/v1/operator/rekey", tag = "vault", security(("bearer" = [])),
    request_body = InitVault,
    responses(
        (status = 200, body = InitializedVault),
        (status = 409, description = "The vault is not initialised.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The threshold is more than the shares, or 1 with several shares.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rekey(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(b): ApiJson<InitVault>,
) -> Result<Json<InitializedVault>, ApiError> {
    service::vault::rekey(&state, &caller, &split(&b))
        .await
        .map_err(ApiError::from)
        .map(|i| Json(initialized_vault(i)))
}

/// Every vaulted account's metadata (never a secret). Needs `admin`.
#[utoipa::path(operation_id = "list_accounts", get, path = "/v1/accounts", tag = "vault", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<AccountInfo>),
    ))]
pub async fn list_accounts(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<AccountInfo>>, ApiError> {
    service::accounts::list(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|accounts| Json(accounts.into_iter().map(account_info).collect()))
}

/// Puts an account in the vault; its password must log in now. Needs `admin`.
#[utoipa::path(operation_id = "add_account", post, path = "/v1/accounts", tag = "vault", security(("bearer" = [])),
    request_body = AddAccount,
    responses(
        (status = 201, body = AccountInfo),
        (status = 409, description = "An account of that name is in the vault, the vault is not initialised, or the target refused.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Fits this document, but cannot be vaulted: the connection is not configured or cannot rotate, the password does not log in, the resource or a group is not in the policy in force, roles without a resource, or a rotation or check-out time out of range.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The vault is sealed, or the target cannot be reached.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_account(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(b): ApiJson<AddAccount>,
) -> Result<(StatusCode, Json<AccountInfo>), ApiError> {
    service::accounts::add(&state, &caller, &add(b))
        .await
        .map_err(ApiError::from)
        .map(|a| (StatusCode::CREATED, Json(account_info(a))))
}

/// One vaulted account's metadata and open check-outs. Needs `admin`.
#[utoipa::path(operation_id = "get_account", get, path = "/v1/accounts/{name}", tag = "vault", security(("bearer" = [])),
    params(("name" = String, Path, description = "Account name")),
    responses(
        (status = 200, body = AccountInfo),
        (status = 404, description = "No such vaulted account.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_account(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<AccountInfo>, ApiError> {
    service::accounts::show(&state, &caller, &name)
        .await
        .map_err(ApiError::from)
        .map(|a| Json(account_info(a)))
}

/// Checks out the account's password under the caller's running grant; returned once.
#[utoipa::path(operation_id = "checkout_account", post, path = "/v1/accounts/{name}/checkout", tag = "vault", security(("bearer" = [])),
    params(("name" = String, Path, description = "Account name")),
    request_body = CheckoutRequest,
    responses(
        (status = 200, body = CheckedOut),
        (status = 404, description = "No such vaulted account.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account is checked out alone by someone else, or the vault is not initialised.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn checkout(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<CheckoutRequest>,
) -> Result<Json<CheckedOut>, ApiError> {
    let b = service::accounts::CheckOut {
        grant: b.grant,
        exclusive: b.exclusive,
    };
    service::accounts::checkout(&state, &caller, &name, &b)
        .await
        .map_err(ApiError::from)
        .map(|c| {
            Json(CheckedOut {
                checkout: c.checkout,
                account: c.account,
                username: c.username,
                password: WireSecret::new(c.password),
                version: c.version,
                grant: c.grant,
                allowed_by: c.allowed_by,
                ends_at: c.ends_at,
                hints: c.hints,
            })
        })
}

/// Checks in a check-out; the account's password is rotated at once.
#[utoipa::path(operation_id = "checkin_account", post, path = "/v1/accounts/{name}/checkin", tag = "vault", security(("bearer" = [])),
    params(("name" = String, Path, description = "Account name")),
    request_body = CheckinRequest,
    responses(
        (status = 200, body = CheckoutInfo),
        (status = 404, description = "No such account, or no open check-out of the caller's on it.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The vault is not initialised.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn checkin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<CheckinRequest>,
) -> Result<Json<CheckoutInfo>, ApiError> {
    let b = service::accounts::CheckIn {
        checkout: b.checkout,
    };
    service::accounts::checkin(&state, &caller, &name, &b)
        .await
        .map_err(ApiError::from)
        .map(|c| Json(checkout_info(c)))
}

/// Makes the account's rotation due now. Needs `admin`.
#[utoipa::path(operation_id = "rotate_account", post, path = "/v1/accounts/{name}/rotate", tag = "vault", security(("bearer" = [])),
    params(("name" = String, Path, description = "Account name")),
    responses(
        (status = 202, body = RotationScheduled),
        (status = 404, description = "No such vaulted account.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The vault is not initialised.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_account(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<RotationScheduled>), ApiError> {
    service::accounts::request_rotation(&state, &caller, &name)
        .await
        .map_err(ApiError::from)
        .map(|r| {
            let body = RotationScheduled {
                account: r.account,
                version: r.version,
                due_at: r.due_at,
            };
            (StatusCode::ACCEPTED, Json(body))
        })
}
