//! Warden's HTTP front doors: the JSON API and SCIM, and the start-up of the whole server.
//!
//! Requests enter through [`api`] or [`scim`], are authenticated by
//! [`auth::Authenticated`], and every operation goes through [`warden_app::service`],
//! which checks authorization and commits the change together with its audit event
//! through the store. Nothing here decides a rule: it maps HTTP to service calls and
//! service errors to responses.

pub mod api;
pub mod auth;
pub mod client;
pub mod error;
pub mod scim;
pub mod serve;

pub use serve::{ServeError, ServeOptions, serve};
