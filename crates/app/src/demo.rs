//! The demo data of `warden serve --dev`: a policy and an HR population that fit the demo
//! users, compiled into the binary so a development server needs no files.

use warden_core::audit::Actor;
use warden_core::policy::PolicySource;

use crate::hr_file::HrFormat;
use crate::service;
use crate::service::error::ServiceError;
use crate::service::hr::SyncOptions;
use crate::state::AppState;

/// The demo policy directory.
pub fn policy_files() -> Vec<PolicySource> {
    [
        (
            "resources.toml",
            include_str!("../../../demo/policy/resources.toml"),
        ),
        (
            "roles.toml",
            include_str!("../../../demo/policy/roles.toml"),
        ),
        (
            "groups.toml",
            include_str!("../../../demo/policy/groups.toml"),
        ),
        (
            "approvals.toml",
            include_str!("../../../demo/policy/approvals.toml"),
        ),
        (
            "access.toml",
            include_str!("../../../demo/policy/access.toml"),
        ),
    ]
    .into_iter()
    .map(|(path, text)| PolicySource {
        path: path.to_owned(),
        text: text.to_owned(),
    })
    .collect()
}

/// The demo HR population.
pub const HR_CSV: &str = include_str!("../../../demo/hr.csv");

/// Applies the demo policy and syncs the demo HR file, once: does nothing when a policy
/// was applied before. Returns whether it loaded the demo.
pub async fn load(state: &AppState) -> Result<bool, ServiceError> {
    if state.policy().version.is_some() {
        return Ok(false);
    }
    let actor = Actor::system();
    let files = policy_files();
    let policy = service::policy::compile_files(
        &files,
        crate::tickets::compile_options(&state.config().tickets),
    )?;
    service::policy::commit(
        state,
        &actor,
        &files,
        policy,
        "demo policy of warden serve --dev",
        None,
    )
    .await?;
    let options = SyncOptions {
        format: HrFormat::Csv,
        dry_run: false,
        allow_mass_leave: false,
    };
    service::hr::sync_as(state, actor, HR_CSV, options).await?;
    Ok(true)
}
