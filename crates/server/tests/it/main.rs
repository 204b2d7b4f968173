//! API tests of the server, in process: requests go through the whole middleware stack to
//! a fresh database per test, with a clock the test moves.

mod auth;
mod http;
mod openapi;
mod support;
mod users;
