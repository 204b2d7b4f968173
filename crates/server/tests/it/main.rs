//! API tests of the server, in process: requests go through the whole middleware stack to
//! a fresh database per test, with a clock the test moves.

// Tests fail loudly (unwrap, expect, panic, indexing are assertions here), and the
// process-level helpers may block a test thread while they wait for a child process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod audit;
mod audit_walk;
mod auth;
mod authz;
mod breakglass;
mod connections;
mod directory;
mod grants;
mod http;
mod notify;
mod openapi;
mod outbound;
mod reconcile_pg;
mod requests;
mod rsyslog;
mod scim;
mod siem;
mod support;
mod targets;
mod users;
mod vault;
mod vendors;
