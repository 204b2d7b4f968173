//! Tests of the `warden` binary as a person runs it: `warden serve` in a child process,
//! the client commands against it.

mod config;
mod secrets;
mod server;
mod support;
