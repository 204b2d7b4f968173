//! Password login, logout and password change.

use crate::service::error::Failure;
use secrecy::{ExposeSecret, SecretString};
use time::Duration;
use warden_core::Username;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::credential::{check_new_password, mint_token};
use warden_core::throttle::ThrottlePolicy;
use warden_core::user::{TokenKind, TokenRecord};
use warden_store::UserChange;

use super::{hash_password, verify_password};
use crate::auth::Caller;
use crate::client::ClientInfo;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// The longest account name counted for throttling; longer input is cut.
const THROTTLE_KEY_MAX: usize = 64;

/// A login with a password.
#[derive(Debug, Clone)]
pub struct Login {
    /// The account name, as given.
    pub username: String,
    /// The password.
    pub password: SecretString,
}

/// A session begun: its token's text (given once) and record.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session token's text.
    pub token: SecretString,
    /// The session token's record.
    pub record: TokenRecord,
}

/// A change of the caller's own password.
#[derive(Debug, Clone)]
pub struct ChangePassword {
    /// The password now.
    pub current_password: SecretString,
    /// The password to have.
    pub new_password: SecretString,
}

/// The throttle policy from configuration.
pub fn throttle_policy(state: &AppState) -> ThrottlePolicy {
    let auth = &state.config().auth;
    ThrottlePolicy {
        max_failures: auth.login_max_failures,
        window: Duration::seconds(
            i64::try_from(auth.login_failure_window_secs).unwrap_or(i64::MAX),
        ),
        lockout: Duration::seconds(i64::try_from(auth.login_lockout_secs).unwrap_or(i64::MAX)),
    }
}

/// Counts an unauthenticated attempt (`what`: "login attempts", "unseal attempts") from
/// the client's address against the per-address limit; refused with the wait when it is
/// used up.
pub fn throttle_source(
    state: &AppState,
    client: &ClientInfo,
    what: &str,
) -> Result<(), ServiceError> {
    let Some(ip) = client.ip else {
        return Ok(());
    };
    if let Err(not_until) = state.login_limiter().check_key(&ip) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        return Err(ServiceError::rate_limited(
            wait.as_secs() + 1,
            format!("too many {what} from this address"),
        ));
    }
    if state.login_limiter().len() > 100_000 {
        state.login_limiter().retain_recent();
    }
    Ok(())
}

/// Logs a user in with a password. An unknown user, a wrong password and a disabled user
/// get the same answer after the same work; attempts are limited per client address and
/// per account name.
pub async fn login(
    state: &AppState,
    client: &ClientInfo,
    req: Login,
) -> Result<Session, ServiceError> {
    throttle_source(state, client, "login attempts").inspect_err(|_| {
        metrics::counter!("warden_login_rate_limited_total", "by" => "source").increment(1);
    })?;

    let now = state.clock().now();
    let key: String = req.username.trim().chars().take(THROTTLE_KEY_MAX).collect();
    let actor = Actor {
        user: Some(key.clone()),
        token_id: None,
        source: client.ip,
        user_agent: client.user_agent.clone(),
    };

    if let Some(throttle) = state.store().throttle_state(&key).await?
        && throttle.is_locked(now)
    {
        let until = throttle.locked_until.unwrap_or(now);
        let event = AuditEvent::new(now, actor, Action::AuthLoginLocked)
            .target(format!("user:{key}"))
            .failed("account name locked");
        state.store().append_audit(&event).await?;
        metrics::counter!("warden_login_rate_limited_total", "by" => "account").increment(1);
        let secs = u64::try_from((until - now).whole_seconds()).unwrap_or(1);
        return Err(ServiceError::rate_limited(
            secs,
            "too many failed logins for this account; try again later",
        ));
    }

    let credentials = match Username::parse(&key) {
        Ok(name) => state.store().user_credentials(&name).await?,
        Err(_) => None,
    };
    let stored = credentials.as_ref().and_then(|c| c.password_hash.clone());
    let password_ok = verify_password(req.password.clone(), stored).await?;
    let user = credentials
        .map(|c| c.user)
        .filter(|u| password_ok && !u.disabled);

    let Some(user) = user else {
        let event = AuditEvent::new(now, actor, Action::AuthLoginFailed)
            .target(format!("user:{key}"))
            .failed("invalid user name or password");
        state
            .store()
            .record_login_failure(&key, now, &throttle_policy(state), &event)
            .await?;
        metrics::counter!("warden_login_failures_total").increment(1);
        return Err(ServiceError::bad_login());
    };

    let minted = mint_token(now).map_err(ServiceError::internal)?;
    let ttl =
        Duration::seconds(i64::try_from(state.config().auth.session_ttl_secs).unwrap_or(i64::MAX));
    let token = TokenRecord {
        id: minted.id,
        user_id: user.id,
        name: "login".to_owned(),
        kind: TokenKind::Session,
        scopes: user.scopes.clone(),
        created_at: now,
        expires_at: now + ttl,
        revoked_at: None,
    };
    let event = AuditEvent::new(
        now,
        Actor {
            token_id: Some(token.id),
            ..actor
        },
        Action::AuthLogin,
    )
    .target(format!("user:{}", user.username))
    .detail("token_id", token.id.to_string());
    state
        .store()
        .record_login_success(&key, &token, &minted.hash, &event)
        .await?;
    Ok(Session {
        token: minted.text,
        record: token,
    })
}

/// Revokes the token the caller is using.
pub async fn logout(state: &AppState, caller: &Caller) -> Result<(), ServiceError> {
    super::tokens::revoke(state, caller, caller.token.id).await
}

/// Changes the caller's own password after checking the current one.
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    req: ChangePassword,
) -> Result<(), ServiceError> {
    check_new_password(&req.new_password)
        .map_err(|e| ServiceError::field("new_password", e.to_string()))?;
    if req.new_password.expose_secret() == req.current_password.expose_secret() {
        return Err(ServiceError::unprocessable(
            "new_password",
            "must differ from the current password",
        ));
    }
    let stored = state
        .store()
        .user_credentials(&caller.user.username)
        .await?
        .and_then(|c| c.password_hash);
    if !verify_password(req.current_password.clone(), stored).await? {
        return Err(ServiceError::new(
            Failure::Forbidden,
            "the current password is wrong",
        ));
    }
    let hash = hash_password(req.new_password).await?;
    let now = state.clock().now();
    let event = AuditEvent::new(now, caller.actor(), Action::UserUpdate)
        .target(format!("user:{}", caller.user.username))
        .detail("changed", "password");
    let change = UserChange {
        password_hash: Some(hash),
        ..UserChange::default()
    };
    state
        .store()
        .update_user(caller.user.id, &change, now, &event)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("user {}", caller.user.username)))?;
    Ok(())
}
