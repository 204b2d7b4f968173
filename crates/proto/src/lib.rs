//! Wire types of Warden's HTTP API: what the server sends and receives as JSON, shared by
//! the server and the command-line client. Serde and schema derives only; no logic.
//!
//! Request bodies reject unknown fields, so a misspelt field is an error, not a silent
//! no-op. Times are RFC 3339 strings in UTC.

pub mod audit;
pub mod auth;
pub mod directory;
pub mod grants;
pub mod problem;
pub mod requests;
pub mod system;
pub mod targets;
pub mod users;
pub mod vault;

mod secret;
pub use auth::ScopeName;
pub use secret::WireSecret;
