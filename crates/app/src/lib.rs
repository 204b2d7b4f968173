//! Warden's application core: configuration, the service layer that every front door
//! calls, and what the services run on (state, connectors, notifications, the SIEM
//! stream, the vault, the access index, leases).
//!
//! Nothing here speaks HTTP or any other front door's protocol: the crate has no web
//! framework among its dependencies. An operation is a function of [`service`] that takes
//! the authenticated [`auth::Caller`] and returns its result or a
//! [`service::error::ServiceError`]; each front door maps that error to its own answer.

pub mod access_index;
pub mod auth;
pub mod client;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod hr_file;
pub mod leases;
pub mod notify;
pub mod outbound;
pub mod service;
pub mod siem;
pub mod state;
pub mod telemetry;
pub mod tickets;
pub mod vault;

pub use config::Config;
pub use state::AppState;
