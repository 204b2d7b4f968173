//! `ServiceError`: why an operation of the service layer failed, in the domain's terms.
//! It knows nothing of HTTP: each front door maps it once — the JSON API to a status and
//! an RFC 9457 body (`crate::error::ApiError`), SCIM to its error schema, and later the
//! portal to a page and the gateway to an SSH message. Internal failures carry their cause
//! for the log and never show it to the caller.

use std::fmt;

use warden_store::StoreError;

/// What kind of failure an operation met, as every front door tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The input does not fit what the operation accepts (a field's shape or syntax).
    Invalid,
    /// The input fits but cannot be acted on: it names something that does not exist, or
    /// breaks a rule of the policy or configuration.
    Unprocessable,
    /// No valid credentials. One text for every reason, so the answer reveals nothing.
    Unauthenticated,
    /// The caller's scopes do not allow the operation.
    MissingScope,
    /// The caller may do the operation in general but not here or not now (separation of
    /// duties, a rule of the operation's own).
    Forbidden,
    /// The object does not exist, or the caller may not see it.
    NotFound,
    /// The operation conflicts with the current state: the object exists already, was
    /// decided already, or changed since it was read.
    Conflict,
    /// Too many attempts; the caller may try again later.
    RateLimited,
    /// The vault is sealed.
    Sealed,
    /// Something the operation depends on does not answer; trying later may work.
    Unavailable,
    /// An unexpected failure of Warden itself.
    Internal,
}

impl Failure {
    /// A short sentence naming the failure, for callers and audit reasons when there is no
    /// detail.
    pub fn title(self) -> &'static str {
        match self {
            Failure::Invalid => "The request is invalid",
            Failure::Unprocessable => "The request cannot be carried out",
            Failure::Unauthenticated => "Authentication required",
            Failure::MissingScope => "The token lacks a required scope",
            Failure::Forbidden => "Not allowed",
            Failure::NotFound => "Not found",
            Failure::Conflict => "Conflict",
            Failure::RateLimited => "Too many requests",
            Failure::Sealed => "Vault sealed",
            Failure::Unavailable => "Service unavailable",
            Failure::Internal => "Internal server error",
        }
    }
}

/// One field of the input that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// Where: a field name, a path (`roles[2]`) or a place in a file (`line 3: email`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// A failed operation of the service layer.
#[derive(Debug)]
pub struct ServiceError {
    kind: Failure,
    detail: Option<String>,
    fields: Vec<FieldIssue>,
    retry_after_secs: Option<u64>,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ServiceError {
    /// A failure of `kind` with a detail for the caller.
    pub fn new(kind: Failure, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: Some(detail.into()),
            fields: Vec::new(),
            retry_after_secs: None,
            cause: None,
        }
    }

    /// A failure with the list of fields that were refused.
    pub fn with_errors(kind: Failure, detail: impl Into<String>, fields: Vec<FieldIssue>) -> Self {
        let mut err = Self::new(kind, detail);
        err.fields = fields;
        err
    }

    /// An input field does not fit what the operation accepts.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let mut err = Self::new(Failure::Invalid, format!("{field}: {message}"));
        err.fields.push(FieldIssue { field, message });
        err
    }

    /// An input field fits but cannot be acted on: it names something that does not
    /// exist, or breaks a rule of the policy or configuration. A field that does not fit
    /// is [`ServiceError::field`].
    pub fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut err = Self::field(field, message);
        err.kind = Failure::Unprocessable;
        err
    }

    /// No valid credentials.
    pub fn unauthorized() -> Self {
        Self::new(Failure::Unauthenticated, "a valid bearer token is required")
    }

    /// A failed login; the same for an unknown user, a wrong password or a disabled user.
    pub fn bad_login() -> Self {
        Self::new(Failure::Unauthenticated, "invalid user name or password")
    }

    /// Nothing called `what` (or nothing the caller may see).
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(Failure::NotFound, format!("{} was not found", what.into()))
    }

    /// Too many attempts; try again after `secs`.
    pub fn rate_limited(secs: u64, detail: impl Into<String>) -> Self {
        let mut err = Self::new(Failure::RateLimited, detail);
        err.retry_after_secs = Some(secs.max(1));
        err
    }

    /// An unexpected failure; the cause is logged, never shown.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            kind: Failure::Internal,
            detail: None,
            fields: Vec::new(),
            retry_after_secs: None,
            cause: Some(cause.into()),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> Failure {
        self.kind
    }

    /// The detail the caller may read; `None` for internal failures.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The fields that were refused.
    pub fn fields(&self) -> &[FieldIssue] {
        &self.fields
    }

    /// After how many seconds trying again may work, when the failure says.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// The cause of an internal failure, for the log.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }

    /// The cause of an internal failure with every source below it, joined by `: `, for
    /// the log.
    pub fn cause_chain(&self) -> Option<String> {
        let cause = self.cause.as_deref()?;
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        Some(chain)
    }

    /// Takes the parts apart, for a front door mapping the failure to its own answer.
    pub fn into_parts(self) -> ServiceErrorParts {
        ServiceErrorParts {
            kind: self.kind,
            detail: self.detail,
            fields: self.fields,
            retry_after_secs: self.retry_after_secs,
            cause: self.cause,
        }
    }

    /// What the caller may be told: the detail and the refused fields, joined. `None` for
    /// internal failures, whose causes are only logged.
    pub fn public_detail(&self) -> Option<String> {
        if self.kind == Failure::Internal {
            return None;
        }
        let detail = self.detail.as_deref()?;
        Some(joined_detail(
            detail,
            self.fields
                .iter()
                .map(|f| (f.field.as_str(), f.message.as_str())),
        ))
    }
}

/// `detail` followed by each `field: message` it does not already say, joined by `; `:
/// the one text a front door shows for a refusal with its fields.
pub fn joined_detail<'a>(
    detail: &str,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut text = detail.to_owned();
    for (field, message) in fields {
        let line = format!("{field}: {message}");
        if !text.contains(&line) {
            text.push_str("; ");
            text.push_str(&line);
        }
    }
    text
}

/// The parts of a [`ServiceError`], owned.
#[derive(Debug)]
pub struct ServiceErrorParts {
    /// The kind of failure.
    pub kind: Failure,
    /// The detail the caller may read (`None` for internal failures).
    pub detail: Option<String>,
    /// The fields that were refused.
    pub fields: Vec<FieldIssue>,
    /// After how many seconds trying again may work.
    pub retry_after_secs: Option<u64>,
    /// The cause of an internal failure, for the log.
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.detail, &self.cause) {
            (Some(detail), _) => write!(f, "{detail}"),
            (None, Some(cause)) => write!(f, "{}: {cause}", self.kind.title()),
            (None, None) => f.write_str(self.kind.title()),
        }
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                Self::new(Failure::Conflict, format!("{what} already exists"))
            }
            stale @ StoreError::Stale(_) => Self::new(Failure::Conflict, stale.to_string()),
            StoreError::Transition(refused) => refused.into(),
            StoreError::Review(refused) => refused.into(),
            other => Self::internal(other),
        }
    }
}

/// A move the request lifecycle does not allow conflicts with the state the request is in.
impl From<warden_core::request::TransitionError> for ServiceError {
    fn from(e: warden_core::request::TransitionError) -> Self {
        Self::new(Failure::Conflict, e.to_string())
    }
}

/// A break-glass review move that is not allowed conflicts with the review's state.
impl From<warden_core::request::ReviewError> for ServiceError {
    fn from(e: warden_core::request::ReviewError) -> Self {
        Self::new(Failure::Conflict, e.to_string())
    }
}

impl From<tokio::task::JoinError> for ServiceError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_detail_shows_refusals_and_hides_internal_causes() {
        let field = ServiceError::field("username", "must not be empty");
        assert_eq!(field.kind(), Failure::Invalid);
        assert_eq!(
            field.public_detail().as_deref(),
            Some("username: must not be empty")
        );
        let listed = ServiceError::with_errors(
            Failure::Invalid,
            "the file was refused",
            vec![FieldIssue {
                field: "line 2: email".into(),
                message: "bad".into(),
            }],
        );
        assert_eq!(
            listed.public_detail().as_deref(),
            Some("the file was refused; line 2: email: bad")
        );
        let internal = ServiceError::internal(
            "connection to 10.0.0.5 refused: password authentication failed",
        );
        assert_eq!(internal.public_detail(), None);
        assert!(internal.detail().is_none());
    }

    #[test]
    fn a_database_error_is_never_not_found() {
        let err = ServiceError::from(StoreError::Corrupt("bad row".into()));
        assert_eq!(err.kind(), Failure::Internal);
    }
}
