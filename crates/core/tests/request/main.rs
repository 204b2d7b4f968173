//! Tests of requests and grants (`warden_core::request`): risk scores with their factors,
//! separation of duties and approval quorums, the request lifecycle, and overlapping
//! grants, each as a table of small cases run through one helper.

// Tests fail loudly: unwrap, expect, panic and indexing are assertions here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod grants;
mod lifecycle;
mod quorum;
mod risk;
mod sod;
mod support;
