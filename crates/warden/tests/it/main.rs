//! Tests of the `warden` binary as a person runs it: `warden serve` in a child process,
//! the client commands against it.

// Tests fail loudly (unwrap, expect, panic, indexing are assertions here), and the
// process-level helpers may block a test thread while they wait for a child process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod config;
mod dispatch;
mod logs;
mod policy;
mod requests;
mod restart;
mod secrets;
mod server;
mod ssh;
mod support;
mod tidy;
mod vault;
