//! Policy as code: validate, plan, apply, restore. An apply is one transaction: the new
//! version, every birthright change it causes with the queued target changes, and its
//! audit event. The compiled policy is then swapped in memory; requests never parse policy.
//!
//! A plan or apply also checks each resource's `connection` against the server's
//! `[connections.*]` ([`check_connections`]): one the server does not have is refused with
//! the resource's file and line, since its grants could only fail, unless grants are
//! record-only, where the plan warns which resources will only be recorded.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::service::error::{Failure, FieldIssue};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::policy::{
    CompileOptions, Policy, PolicySource, check_path, compile, compile_with,
};
use warden_store::{ChangeSet, NewPolicyVersion, PolicyVersion};

use super::directory::{Context, PersonChange, plan as plan_identity};
use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::{ActivePolicy, AppState};

/// A policy change to plan or apply: the whole directory, and why.
#[derive(Debug, Clone)]
pub struct Change {
    /// The whole policy directory, each path once.
    pub files: Vec<PolicySource>,
    /// Why (required by an apply, not read by a plan).
    pub comment: Option<String>,
}

/// What a policy change does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The live version it is compared with (none before the first apply).
    pub live_version: Option<i64>,
    /// SHA-256 of the new files.
    pub digest: String,
    /// Whether the new policy is the same as the live one.
    pub unchanged: bool,
    /// Resources added.
    pub resources_added: Vec<String>,
    /// Resources removed.
    pub resources_removed: Vec<String>,
    /// Each identity whose access changes.
    pub changes: Vec<PersonChange>,
    /// What the author should know but does not stop the policy (`file:line: message`).
    pub warnings: Vec<String>,
}

/// The result of an apply or restore.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The new version.
    pub version: i64,
    /// What changed.
    pub plan: Plan,
}

/// A stored policy version.
#[derive(Debug, Clone)]
pub struct Version {
    /// Version number.
    pub version: i64,
    /// SHA-256 of the files.
    pub digest: String,
    /// Why it was applied.
    pub comment: String,
    /// Who applied it.
    pub applied_by: String,
    /// When.
    pub applied_at: OffsetDateTime,
    /// The files (only when one version is asked for).
    pub files: Option<Vec<PolicySource>>,
}

/// A policy file as a stored version keeps it (JSON in `files`).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredFile {
    path: String,
    text: String,
}

/// Compiles policy files, checking also what `options` ask for (from the server's
/// configuration), or refuses with every error as `file:line: message`.
pub fn compile_files(
    files: &[PolicySource],
    options: CompileOptions,
) -> Result<Policy, ServiceError> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    // A bad path or no file does not fit the API's description; a path given twice does.
    let mut malformed = files.is_empty();
    for (i, f) in files.iter().enumerate() {
        if let Err(e) = check_path(&f.path) {
            malformed = true;
            errors.push(FieldIssue {
                field: format!("files.{i}.path"),
                message: e.to_string(),
            });
        } else if !seen.insert(f.path.as_str()) {
            errors.push(FieldIssue {
                field: format!("files.{i}.path"),
                message: format!("{} appears twice", f.path),
            });
        }
    }
    if files.is_empty() {
        errors.push(FieldIssue {
            field: "files".to_owned(),
            message: "a policy needs at least one file".to_owned(),
        });
    }
    if !errors.is_empty() {
        return Err(ServiceError::with_errors(
            if malformed {
                Failure::Invalid
            } else {
                Failure::Unprocessable
            },
            "the policy files are not acceptable",
            errors,
        ));
    }
    compile_with(files, options).map_err(|errors| {
        let count = errors.len();
        let errors = errors
            .into_iter()
            .map(|e| FieldIssue {
                field: format!("{}:{}", e.file, e.line),
                message: e.message,
            })
            .collect();
        ServiceError::with_errors(
            Failure::Unprocessable,
            format!("the policy has {count} error(s)"),
            errors,
        )
    })
}

/// A resource whose `connection` the server cannot serve, or will only record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionProblem {
    /// Where the resource is defined, `file:line`.
    pub location: String,
    /// What is wrong, for the policy's author.
    pub message: String,
}

impl std::fmt::Display for ConnectionProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// What a policy's resources need of the server's connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionCheck {
    /// Resources no configured connection serves: their grants could only fail.
    pub errors: Vec<ConnectionProblem>,
    /// Resources whose grants will only be recorded (`[grants] record_only`).
    pub recorded: Vec<ConnectionProblem>,
}

/// Checks every resource of `policy` against the server's `connections`: a connection
/// that is not configured is an error, or with `record_only` a resource recorded only; one
/// configured for another kind of target is an error either way (no connector would
/// serve it). Used by plan and apply, and offline by `warden policy validate --config`.
pub fn check_connections(
    policy: &Policy,
    connections: &std::collections::BTreeMap<String, warden_connectors::ConnectionConfig>,
    record_only: bool,
) -> ConnectionCheck {
    let mut check = ConnectionCheck::default();
    for r in policy.resources() {
        let problem = |message: String| ConnectionProblem {
            location: r.location.clone(),
            message,
        };
        let (name, connection, kind) = (&r.name, &r.connection, r.kind.as_str());
        match connections.get(connection) {
            Some(c) if c.kind() == kind => {}
            Some(c) => check.errors.push(problem(format!(
                "resource {name} ({kind}) names connection {connection}, which the server \
                 configures for {}",
                c.kind()
            ))),
            None if record_only => check.recorded.push(problem(format!(
                "resource {name} names connection {connection}, which the server does not \
                 configure: its grants are only recorded in Warden's database \
                 ([grants] record_only), never made on a target"
            ))),
            None => check.errors.push(problem(format!(
                "resource {name} names connection {connection}, which the server does not \
                 configure: add [connections.{connection}] (kind = \"{kind}\") to its \
                 configuration, or correct the name"
            ))),
        }
    }
    check
}

/// [`check_connections`] against this server's configuration: errors refuse the policy,
/// with each resource's file and line; the resources only recorded are returned as
/// warnings for the plan.
fn checked_connections(state: &AppState, policy: &Policy) -> Result<Vec<String>, ServiceError> {
    let config = state.config();
    let check = check_connections(policy, &config.connections, config.grants.record_only);
    if !check.errors.is_empty() {
        let count = check.errors.len();
        let errors = check
            .errors
            .into_iter()
            .map(|p| FieldIssue {
                field: p.location,
                message: p.message,
            })
            .collect();
        return Err(ServiceError::with_errors(
            Failure::Invalid,
            format!("the policy names {count} connection(s) this server cannot serve"),
            errors,
        ));
    }
    Ok(check.recorded.iter().map(ToString::to_string).collect())
}

/// SHA-256 over the files in path order, so the same directory always has one digest.
pub fn digest(files: &[PolicySource]) -> String {
    let mut sorted: Vec<&PolicySource> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut hash = Sha256::new();
    for f in sorted {
        hash.update((f.path.len() as u64).to_be_bytes());
        hash.update(f.path.as_bytes());
        hash.update((f.text.len() as u64).to_be_bytes());
        hash.update(f.text.as_bytes());
    }
    warden_core::secret::hex(&hash.finalize())
}

/// Plans a policy change: the change set to store, and the report.
async fn prepare(
    state: &AppState,
    actor: &Actor,
    files: &[PolicySource],
    new_policy: &Policy,
    cause: &str,
) -> Result<(ChangeSet, Plan), ServiceError> {
    let warnings = checked_connections(state, new_policy)?;
    let live = state.policy();
    let now = state.clock().now();
    let store = state.store();
    let identities = store.list_identities().await?;
    let mut birthright = store.birthright_by_identity().await?;
    let ctx = Context {
        old_policy: &live.policy,
        new_policy,
        now,
        actor,
        cause,
    };
    let mut changes = ChangeSet {
        at: Some(now),
        ..ChangeSet::default()
    };
    let mut people = Vec::new();
    for identity in &identities {
        let held = birthright.remove(&identity.id).unwrap_or_default();
        let planned = plan_identity(
            &ctx,
            Some(identity),
            &held,
            identity.hr.clone(),
            &identity.source,
            identity.external_id.clone(),
        );
        if let Some(p) = planned {
            changes.jobs.extend(p.jobs);
            changes.identities.push(p.write);
            people.push(p.change);
        }
    }
    let names = |p: &Policy| {
        p.resources()
            .map(|r| r.name.clone())
            .collect::<BTreeSet<String>>()
    };
    let (before, after) = (names(&live.policy), names(new_policy));
    let digest = digest(files);
    let report = Plan {
        live_version: live.version,
        unchanged: live.digest.as_deref() == Some(digest.as_str()),
        digest,
        resources_added: after.difference(&before).cloned().collect(),
        resources_removed: before.difference(&after).cloned().collect(),
        changes: people,
        warnings,
    };
    Ok((changes, report))
}

/// What applying `change` would do, against the live policy and identities.
pub async fn plan(
    state: &AppState,
    caller: &Caller,
    change: &Change,
) -> Result<Plan, ServiceError> {
    super::authz::require(state, caller, Operation::PolicyRead, Relation::Other).await?;
    let policy = compile_files(
        &change.files,
        crate::tickets::compile_options(&state.config().tickets),
    )?;
    Ok(prepare(
        state,
        &caller.actor(),
        &change.files,
        &policy,
        "policy plan",
    )
    .await?
    .1)
}

/// Applies a policy: a new version, its birthright consequences, its audit event.
pub async fn apply(
    state: &AppState,
    caller: &Caller,
    change: &Change,
) -> Result<Applied, ServiceError> {
    super::authz::require(state, caller, Operation::PolicyApply, Relation::Other).await?;
    let comment = change.comment.as_deref().map(str::trim).unwrap_or_default();
    if comment.is_empty() {
        return Err(ServiceError::field("comment", "say why the policy changes"));
    }
    let comment = super::check_label("comment", comment, 1000)?;
    let policy = compile_files(
        &change.files,
        crate::tickets::compile_options(&state.config().tickets),
    )?;
    commit(
        state,
        &caller.actor(),
        &change.files,
        policy,
        &comment,
        None,
    )
    .await
}

/// Applies compiled `files` on behalf of `actor` (authorization already checked, or
/// Warden itself at start).
pub async fn commit(
    state: &AppState,
    actor: &Actor,
    files: &[PolicySource],
    policy: Policy,
    comment: &str,
    restored_from: Option<i64>,
) -> Result<Applied, ServiceError> {
    let cause = match restored_from {
        Some(v) => format!("policy restore of v{v}"),
        None => "policy apply".to_owned(),
    };
    let _turn = state.directory_turn().await;
    let (mut changes, report) = prepare(state, actor, files, &policy, &cause).await?;
    let stored: Vec<StoredFile> = files
        .iter()
        .map(|f| StoredFile {
            path: f.path.clone(),
            text: f.text.clone(),
        })
        .collect();
    let files_json = serde_json::to_string(&stored).map_err(ServiceError::internal)?;
    changes.policy = Some(NewPolicyVersion {
        digest: report.digest.clone(),
        files: files_json,
        comment: comment.to_owned(),
        applied_by: actor.user.clone().unwrap_or_else(|| "warden".to_owned()),
    });
    let mut event = AuditEvent::new(state.clock().now(), actor.clone(), Action::PolicyApply)
        .target("policy")
        .reason(comment)
        .detail("sha256", report.digest.clone())
        .detail("identities_changed", report.changes.len().to_string())
        .detail("jobs_queued", changes.jobs.len().to_string());
    if let Some(v) = restored_from {
        event = event.detail("restored_from", v.to_string());
    }
    if let Some(v) = report.live_version {
        event = event.detail("previous_version", v.to_string());
    }
    changes.events.push(event);
    super::directory::end_grants_no_longer_eligible(
        state.store(),
        &policy,
        &mut changes,
        actor,
        state.clock().now(),
    )
    .await?;
    let done = state.store().apply(&changes).await?;
    let version = done
        .policy_version
        .ok_or_else(|| ServiceError::internal("the store recorded no policy version"))?;
    state.set_policy(ActivePolicy {
        version: Some(version),
        digest: Some(report.digest.clone()),
        policy: Arc::new(policy),
    });
    Ok(Applied {
        version,
        plan: report,
    })
}

fn version_info(v: PolicyVersion, with_files: bool) -> Result<Version, ServiceError> {
    let files = if with_files {
        Some(stored_files(&v)?)
    } else {
        None
    };
    Ok(Version {
        version: v.version,
        digest: v.digest,
        comment: v.comment,
        applied_by: v.applied_by,
        applied_at: v.applied_at,
        files,
    })
}

/// The files of a stored version.
pub fn stored_files(v: &PolicyVersion) -> Result<Vec<PolicySource>, ServiceError> {
    parse_files(&v.files)
        .map_err(|e| ServiceError::internal(format!("policy version {}: {e}", v.version)))
}

/// The files of a stored version, from the JSON it keeps them in.
fn parse_files(json: &str) -> Result<Vec<PolicySource>, serde_json::Error> {
    let files: Vec<StoredFile> = serde_json::from_str(json)?;
    Ok(files
        .into_iter()
        .map(|f| PolicySource {
            path: f.path,
            text: f.text,
        })
        .collect())
}

/// Every version, newest first.
pub async fn history(state: &AppState, caller: &Caller) -> Result<Vec<Version>, ServiceError> {
    super::authz::require(state, caller, Operation::PolicyRead, Relation::Other).await?;
    state
        .store()
        .policy_history()
        .await?
        .into_iter()
        .map(|v| version_info(v, false))
        .collect()
}

/// One version with its files.
pub async fn version(
    state: &AppState,
    caller: &Caller,
    version: i64,
) -> Result<Version, ServiceError> {
    super::authz::require(state, caller, Operation::PolicyRead, Relation::Other).await?;
    let v = state
        .store()
        .policy_version(version)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("policy version {version}")))?;
    version_info(v, true)
}

/// Applies an older version again, as a new version.
pub async fn restore(
    state: &AppState,
    caller: &Caller,
    version: i64,
    comment: &str,
) -> Result<Applied, ServiceError> {
    super::authz::require(state, caller, Operation::PolicyApply, Relation::Other).await?;
    let comment = super::check_label("comment", comment, 1000)?;
    let old = state
        .store()
        .policy_version(version)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("policy version {version}")))?;
    let files = stored_files(&old)?;
    let policy = compile_files(
        &files,
        crate::tickets::compile_options(&state.config().tickets),
    )?;
    commit(
        state,
        &caller.actor(),
        &files,
        policy,
        &comment,
        Some(version),
    )
    .await
}

/// Loads the newest stored version at start. A stored policy that no longer compiles
/// stops the server: it must not run on a policy other than the one applied.
pub async fn load_active(store: &warden_store::Store) -> Result<ActivePolicy, String> {
    let Some(latest) = store.latest_policy().await.map_err(|e| e.to_string())? else {
        return Ok(ActivePolicy::empty());
    };
    let sources = parse_files(&latest.files)
        .map_err(|e| format!("policy version {}: {e}", latest.version))?;
    let policy = compile(&sources).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "stored policy version {} does not compile: {}",
            latest.version,
            list.join("; ")
        )
    })?;
    Ok(ActivePolicy {
        version: Some(latest.version),
        digest: Some(latest.digest),
        policy: Arc::new(policy),
    })
}

/// Puts a newer stored version in force, if there is one (applied through another
/// replica). Returns the version now in force when it changed.
pub async fn refresh(state: &AppState) -> Result<Option<i64>, String> {
    let Some(stored) = state
        .store()
        .latest_policy_number()
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    if state.policy().version >= Some(stored) {
        return Ok(None);
    }
    let active = load_active(state.store()).await?;
    let version = active.version;
    tracing::info!(
        ?version,
        "a policy version applied elsewhere is now in force"
    );
    state.set_policy(active);
    Ok(version)
}

/// The policy's files by path, for `GET /v1/policy`.
pub async fn current(state: &AppState, caller: &Caller) -> Result<Option<Version>, ServiceError> {
    super::authz::require(state, caller, Operation::PolicyRead, Relation::Other).await?;
    match state.store().latest_policy().await? {
        Some(v) => version_info(v, true).map(Some),
        None => Ok(None),
    }
}
