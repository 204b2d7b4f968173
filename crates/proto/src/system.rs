//! Health and readiness.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /healthz`: the process is up.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// Server version.
    pub version: String,
}

/// `GET /readyz`: the server can serve requests.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub storage: String,
    /// Migrations not yet applied (0 when ready).
    pub migrations_pending: usize,
}
