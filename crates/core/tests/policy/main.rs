//! Tests of the policy engine (`warden_core::policy`): data-driven eligibility and routing
//! cases, compile errors with their file and line, the queries behind `policy plan` and
//! `access explain`, and the demo policy.

// Tests fail loudly: unwrap, expect, panic and indexing are assertions here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod cases;
mod demo;
mod queries;
mod support;
mod validation;
