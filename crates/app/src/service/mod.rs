//! The service layer: every state change goes through here. Each operation checks the
//! caller's authorization, validates its input, and hands the store the change together
//! with its audit event, which the store commits in one transaction.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod breakglass;
pub mod directory;
pub mod error;
pub mod expiry;
pub mod grants;
pub mod hr;
pub mod policy;
pub mod provisioning;
pub mod reconcile;
pub mod requests;
pub mod rotation;
pub mod scim;
pub mod targets;
pub mod tokens;
pub mod users;
pub mod vault;
pub mod vendors;

use warden_core::ScopeSet;
use warden_core::secret::SecretString;

use crate::service::error::ServiceError;

/// The identity with Warden id `id`, if it still exists (a deleted vendor does not).
pub(crate) async fn identity_by_id(
    state: &crate::state::AppState,
    id: uuid::Uuid,
) -> Result<Option<warden_core::identity::Identity>, ServiceError> {
    Ok(state
        .store()
        .find_identities(warden_store::IdentityFilter::Id(id))
        .await?
        .into_iter()
        .next())
}

/// The employee id of the identity with Warden id `id`, or `(deleted)`.
pub(crate) async fn employee_id_of(
    state: &crate::state::AppState,
    id: uuid::Uuid,
) -> Result<String, ServiceError> {
    Ok(identity_by_id(state, id)
        .await?
        .map_or_else(|| "(deleted)".to_owned(), |i| i.hr.employee_id.to_string()))
}

/// The name HR gives the identity with Warden id `id`, if it still exists: shown beside
/// its employee id, which is what people look for.
pub(crate) async fn name_of(
    state: &crate::state::AppState,
    id: uuid::Uuid,
) -> Result<Option<String>, ServiceError> {
    Ok(identity_by_id(state, id).await?.map(|i| i.hr.display_name))
}

/// Parses scope names from a request field, naming the first bad one.
pub(crate) fn parse_scopes(field: &str, names: &[String]) -> Result<ScopeSet, ServiceError> {
    for (i, name) in names.iter().enumerate() {
        if name.parse::<warden_core::Scope>().is_err() {
            return Err(ServiceError::field(
                format!("{field}.{i}"),
                format!("unknown scope {name:?}"),
            ));
        }
    }
    ScopeSet::parse(names.iter().map(String::as_str))
        .map_err(|e| ServiceError::field(field, e.to_string()))
}

/// The wire names of a scope set.
pub fn scope_names(scopes: &ScopeSet) -> Vec<String> {
    scopes.iter().map(|s| s.as_str().to_owned()).collect()
}

/// Hashes a password on a blocking thread: Argon2id takes tens of milliseconds.
pub(crate) async fn hash_password(password: SecretString) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || warden_core::credential::hash_password(&password))
        .await?
        .map_err(ServiceError::internal)
}

/// Verifies a password on a blocking thread (`stored` `None`: an unknown user, same cost).
pub(crate) async fn verify_password(
    password: SecretString,
    stored: Option<String>,
) -> Result<bool, ServiceError> {
    Ok(tokio::task::spawn_blocking(move || {
        warden_core::credential::verify_password(&password, stored.as_deref())
    })
    .await?)
}

/// Checks a free-text label (token names, display names): 1 to `max` characters, no
/// control characters.
pub(crate) fn check_label(field: &str, value: &str, max: usize) -> Result<String, ServiceError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ServiceError::field(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ServiceError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ServiceError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// The refusal of a duration field whose text `raw` the parser refused with `message`:
/// text that is not a duration greater than zero does not fit the API's description
/// (400); a duration that is, but is longer than the field allows, cannot be granted (422).
pub(crate) fn duration_refused(field: &str, raw: &str, message: impl ToString) -> ServiceError {
    if warden_core::policy::parse_duration_within(raw, time::Duration::MAX).is_ok() {
        ServiceError::unprocessable(field, message.to_string())
    } else {
        ServiceError::field(field, message.to_string())
    }
}
