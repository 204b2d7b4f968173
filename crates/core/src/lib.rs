//! Warden's domain: identities and HR lifecycle, credentials and scopes, the policy
//! language, access requests (risk, approvals, grants), audit events, the bounds of vaulted
//! password rotation, and the clock.
//!
//! This crate does no I/O. It knows nothing of SQL, HTTP or wire formats: the store,
//! the server and the client depend on it, never the other way round.

pub mod address;
pub mod audit;
pub mod authz;
pub mod clock;
pub mod connector;
pub mod credential;
pub mod hr;
pub mod identity;
pub mod name;
pub mod policy;
pub mod request;
pub mod rotation;
pub mod scope;
pub mod secret;
pub mod throttle;
pub mod user;

pub use clock::{Clock, ManualClock, SystemClock};
pub use name::{NameError, Username};
pub use scope::{Scope, ScopeSet};
