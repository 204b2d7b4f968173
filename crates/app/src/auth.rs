//! The authenticated caller: a bearer token checked against the store on every call,
//! whichever front door it came through.
//!
//! A token is refused with one and the same answer whatever the reason (malformed,
//! unknown, wrong secret, expired, revoked, user disabled); the reason goes to the log at
//! debug level with the token id, never the token.

use warden_core::ScopeSet;
use warden_core::audit::Actor;
use warden_core::credential::PresentedToken;
use warden_core::user::{TokenRecord, User};

use crate::client::ClientInfo;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// The caller of an operation.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user the token belongs to.
    pub user: User,
    /// The token used.
    pub token: TokenRecord,
    /// What this request may do: the token's scopes within the user's.
    pub scopes: ScopeSet,
    /// Where the request came from.
    pub client: ClientInfo,
}

impl Caller {
    /// The caller as the actor of an audit event.
    pub fn actor(&self) -> Actor {
        Actor {
            user: Some(self.user.username.to_string()),
            token_id: Some(self.token.id),
            source: self.client.ip,
            user_agent: self.client.user_agent.clone(),
        }
    }
}

/// The caller presenting `presented` from `client`, or one and the same refusal
/// ([`ServiceError::unauthorized`]) for every reason it is not one.
pub async fn authenticate(
    state: &AppState,
    presented: &PresentedToken,
    client: ClientInfo,
) -> Result<Caller, ServiceError> {
    let Some((token, hash, user)) = state.store().token_for_auth(presented.id).await? else {
        tracing::debug!(token_id = %presented.id, "unknown token");
        return Err(ServiceError::unauthorized());
    };
    if !hash.matches(presented) {
        tracing::info!(token_id = %token.id, "token presented with a wrong secret");
        return Err(ServiceError::unauthorized());
    }
    if let Err(reason) = token.check_usable(&user, state.clock().now()) {
        tracing::debug!(token_id = %token.id, ?reason, "token not usable");
        return Err(ServiceError::unauthorized());
    }
    let scopes = token.effective_scopes(&user);
    Ok(Caller {
        user,
        token,
        scopes,
        client,
    })
}

/// How long the access check may answer from a token it verified before, when nothing
/// in this process has changed users or tokens since: the longest a token revoked on
/// another replica can still ask `/v1/access/check`.
pub const CHECK_TOKEN_TTL: time::Duration = time::Duration::seconds(1);

/// A token verified for the access check, kept for [`CHECK_TOKEN_TTL`].
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    token: TokenRecord,
    hash: warden_core::credential::TokenHash,
    user: User,
    at: time::OffsetDateTime,
    epoch: u64,
}

/// Like [`authenticate`], for the access check, the hot path of other systems: the token
/// and its user may come from a verification made up to [`CHECK_TOKEN_TTL`] before, while
/// no user or token changed in this process. The secret is still checked against the hash
/// on every call, and expiry against the clock. Nothing that changes state may take a
/// caller authenticated this way.
pub async fn authenticate_for_check(
    state: &AppState,
    presented: &PresentedToken,
    client: ClientInfo,
) -> Result<Caller, ServiceError> {
    let now = state.clock().now();
    let epoch = state.store().auth_epoch();
    let cached = state
        .check_tokens()
        .get(presented.id)
        .filter(|v| v.epoch == epoch && now - v.at < CHECK_TOKEN_TTL && now >= v.at);
    let verified = match cached {
        Some(v) => v,
        None => {
            let Some((token, hash, user)) = state.store().token_for_auth(presented.id).await?
            else {
                return Err(ServiceError::unauthorized());
            };
            let v = VerifiedToken {
                token,
                hash,
                user,
                at: now,
                epoch,
            };
            state.check_tokens().put(presented.id, v.clone());
            v
        }
    };
    if !verified.hash.matches(presented) {
        tracing::info!(token_id = %verified.token.id, "token presented with a wrong secret");
        return Err(ServiceError::unauthorized());
    }
    if verified.token.check_usable(&verified.user, now).is_err() {
        return Err(ServiceError::unauthorized());
    }
    let scopes = verified.token.effective_scopes(&verified.user);
    Ok(Caller {
        user: verified.user,
        token: verified.token,
        scopes,
        client,
    })
}

/// The tokens verified for the access check, by token id; at most
/// [`TokenCache::MAX`] of them.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, VerifiedToken>>,
}

impl TokenCache {
    /// The most tokens kept; the cache is emptied when full.
    pub const MAX: usize = 10_000;

    fn get(&self, id: uuid::Uuid) -> Option<VerifiedToken> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    fn put(&self, id: uuid::Uuid, v: VerifiedToken) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= Self::MAX {
            entries.clear();
        }
        entries.insert(id, v);
    }
}
