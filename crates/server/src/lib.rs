//! Warden's server: configuration, the HTTP API, the service layer behind it, and start-up.
//!
//! Requests enter through [`api`], are authenticated by [`auth::Caller`], and every change
//! goes through [`service`], which checks authorization and commits the change together
//! with its audit event through the store.

pub mod access_index;
pub mod api;
pub mod auth;
pub mod client;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod error;
pub mod hr_file;
pub mod leases;
pub mod notify;
pub mod outbound;
pub mod scim;
pub mod serve;
pub mod service;
pub mod siem;
pub mod state;
pub mod telemetry;
pub mod tickets;
pub mod vault;

pub use config::Config;
pub use serve::{ServeError, ServeOptions, serve};
pub use state::AppState;
