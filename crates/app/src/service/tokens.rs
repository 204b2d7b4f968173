//! API tokens: created by their holder, with scopes the holder has, for a bounded time.

use time::Duration;
use uuid::Uuid;
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::credential::mint_token;
use warden_core::secret::SecretString;
use warden_core::user::{TokenKind, TokenRecord};

use super::authz::{self, Object};
use super::{check_label, parse_scopes};
use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// A token to create for the caller.
#[derive(Debug, Clone)]
pub struct Create {
    /// Its name, as given.
    pub name: String,
    /// Scope names, as given; the caller's scopes when absent.
    pub scopes: Option<Vec<String>>,
    /// Its lifetime in seconds; the configured default when absent.
    pub expires_in_secs: Option<u64>,
}

/// A token created, with its text (given once).
#[derive(Debug, Clone)]
pub struct Created {
    /// The token's text.
    pub token: SecretString,
    /// The token's record.
    pub record: TokenRecord,
}

/// Creates an API token for the caller. Its scopes must lie within the caller's.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: Create,
) -> Result<Created, ServiceError> {
    let name = check_label("name", &req.name, 100)?;
    let scopes = match &req.scopes {
        Some(names) => parse_scopes("scopes", names)?,
        None => caller.scopes.clone(),
    };
    if scopes.is_empty() {
        return Err(ServiceError::field(
            "scopes",
            "a token needs at least one scope",
        ));
    }
    let relation = if caller.scopes.covers(&scopes) {
        Relation::Own
    } else {
        Relation::Other
    };
    authz::check(
        state,
        caller,
        Operation::TokenCreate,
        relation,
        &Object::new("token", &name),
    )
    .await?;
    let auth = &state.config().auth;
    let ttl = req.expires_in_secs.unwrap_or(auth.token_default_ttl_secs);
    if ttl < 60 || ttl > auth.token_max_ttl_secs {
        let message = format!(
            "must be between 60 and {} seconds (1m to {})",
            auth.token_max_ttl_secs,
            warden_core::policy::format_duration(Duration::seconds(
                i64::try_from(auth.token_max_ttl_secs).unwrap_or(i64::MAX)
            ))
        );
        // Under a minute does not fit the API's description; past the configured maximum
        // does, but this server will not issue it.
        return Err(if ttl < 60 {
            ServiceError::field("expires_in_secs", message)
        } else {
            ServiceError::unprocessable("expires_in_secs", message)
        });
    }
    let now = state.clock().now();
    let minted = mint_token(now).map_err(ServiceError::internal)?;
    let token = TokenRecord {
        id: minted.id,
        user_id: caller.user.id,
        name,
        kind: TokenKind::Api,
        scopes,
        created_at: now,
        expires_at: now + Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX)),
        revoked_at: None,
    };
    let event = AuditEvent::new(now, caller.actor(), Action::TokenCreate)
        .target(format!("token:{}", token.id))
        .detail("scopes", token.scopes.to_wire())
        .detail("expires_at", token.expires_at.to_string());
    state
        .store()
        .create_token(&token, &minted.hash, &event)
        .await?;
    Ok(Created {
        token: minted.text,
        record: token,
    })
}

/// The caller's tokens.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<TokenRecord>, ServiceError> {
    authz::gate(state, caller, Operation::TokenList).await?;
    Ok(state.store().list_tokens(caller.user.id).await?)
}

/// Revokes a token of the caller's, or any token for an administrator. Another user's
/// token is "not found" to a non-administrator, so ids cannot be probed.
pub async fn revoke(state: &AppState, caller: &Caller, id: Uuid) -> Result<(), ServiceError> {
    authz::gate(state, caller, Operation::TokenRevoke).await?;
    let object = Object::new("token", id);
    let token = state
        .store()
        .token(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(&object.label))?;
    let relation = if token.user_id == caller.user.id {
        Relation::Own
    } else {
        Relation::Other
    };
    authz::check(state, caller, Operation::TokenRevoke, relation, &object).await?;
    if token.revoked_at.is_some() {
        return Ok(());
    }
    let now = state.clock().now();
    let event =
        AuditEvent::new(now, caller.actor(), Action::TokenRevoke).target(format!("token:{id}"));
    state.store().revoke_token(id, now, &event).await?;
    Ok(())
}
