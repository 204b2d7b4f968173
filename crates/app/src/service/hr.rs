//! HR sync from a file: the whole population at once, all or nothing. People in the file
//! are joiners, movers or leavers by what changed; file-synced people missing from the
//! file have left. A sync in which more than a fifth of them would leave at once is
//! refused unless asked for, as a truncated file looks exactly like that.

use std::collections::{BTreeMap, HashMap};

use crate::service::error::{Failure, FieldIssue};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::hr::{LocatedRecord, SyncProblem, validate_population};
use warden_core::identity::{EmploymentStatus, Identity};
use warden_store::{Assignment, ChangeSet};

use super::directory::{Context, PersonChange, PlannedIdentity, plan};
use crate::auth::Caller;
use crate::hr_file::{HrFormat, parse_all};
use crate::service::error::ServiceError;
use crate::state::AppState;

/// Where file-synced identities come from.
pub const SOURCE: &str = "hr-file";

/// The share of file-synced identities that may leave in one sync without
/// `allow_mass_leave`.
const MASS_LEAVE_SHARE: f64 = 0.2;
/// Below this many leavers the share is not checked (small populations).
const MASS_LEAVE_MIN: usize = 5;

/// What a sync did (or, dry, would do).
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// SHA-256 of the file.
    pub digest: String,
    /// Identities in the file.
    pub records: usize,
    /// Count per lifecycle: joiner, rejoiner, mover, leaver, updated, unchanged.
    pub counts: BTreeMap<String, usize>,
    /// Each person whose identity or access changes.
    pub changes: Vec<PersonChange>,
    /// Warden users disabled because they left.
    pub accounts_disabled: u64,
    /// Their tokens revoked.
    pub tokens_revoked: u64,
    /// Pending or approved requests of leavers cancelled.
    pub requests_cancelled: u64,
    /// Live grants of leavers ended.
    pub grants_ended: u64,
}

/// How to sync.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// CSV or JSON.
    pub format: HrFormat,
    /// Report only.
    pub dry_run: bool,
    /// Allow many leavers at once.
    pub allow_mass_leave: bool,
}

fn refused(problems: Vec<warden_core::hr::SyncProblem>) -> ServiceError {
    let count = problems.len();
    let errors = problems
        .into_iter()
        .map(|p| FieldIssue {
            field: match &p.field {
                Some(field) => format!("{}: {field}", p.at),
                None => p.at.clone(),
            },
            message: p.message,
        })
        .collect();
    ServiceError::with_errors(
        Failure::Unprocessable,
        format!("the HR file was refused whole: {count} problem(s); nothing was changed"),
        errors,
    )
}

/// Syncs the population in `text` for a caller holding `hr:sync`.
pub async fn sync(
    state: &AppState,
    caller: &Caller,
    text: &str,
    options: SyncOptions,
) -> Result<SyncReport, ServiceError> {
    super::authz::require(state, caller, Operation::HrSync, Relation::Other).await?;
    sync_as(state, caller.actor(), text, options).await
}

/// Syncs the population in `text` on behalf of `actor` (authorization already checked,
/// or Warden itself at start).
pub async fn sync_as(
    state: &AppState,
    actor: Actor,
    text: &str,
    options: SyncOptions,
) -> Result<SyncReport, ServiceError> {
    let digest = warden_core::secret::hex(&Sha256::digest(text.as_bytes()));
    let (rows, mut problems) = parse_all(options.format, text);
    problems.extend(validate_population(&rows));
    let _turn = state.directory_turn().await;
    let now = state.clock().now();
    let store = state.store();
    let existing = store.list_identities().await?;
    problems.extend(not_the_files(&rows, &existing));
    if !problems.is_empty() {
        return Err(refused(problems));
    }

    let mut birthright = store.birthright_by_identity().await?;
    let live = state.policy();
    let cause = format!("hr-sync sha256:{}", digest.get(..12).unwrap_or(&digest));
    let ctx = Context {
        old_policy: &live.policy,
        new_policy: &live.policy,
        now,
        actor: &actor,
        cause: &cause,
    };

    let file_synced = existing.iter().filter(|i| i.source == SOURCE).count();
    let (plans, vanished) = plan_population(&ctx, &rows, &existing, &mut birthright);
    check_mass_leave(options, &plans.counts, file_synced, vanished)?;

    let Plans {
        mut changes,
        counts,
        report_changes,
    } = plans;
    let mut report = SyncReport {
        dry_run: options.dry_run,
        digest: digest.clone(),
        records: rows.len(),
        counts,
        changes: report_changes,
        accounts_disabled: 0,
        tokens_revoked: 0,
        requests_cancelled: 0,
        grants_ended: 0,
    };
    if options.dry_run {
        return Ok(report);
    }
    let mut summary = AuditEvent::new(now, actor, Action::HrSync)
        .target("hr")
        .detail("source", SOURCE)
        .detail("sha256", digest)
        .detail("records", rows.len().to_string());
    for (lifecycle, count) in &report.counts {
        summary = summary.detail(lifecycle, count.to_string());
    }
    changes.events.push(summary);
    super::directory::end_grants_no_longer_eligible(
        store,
        &live.policy,
        &mut changes,
        &Actor::system(),
        now,
    )
    .await?;
    let done = store.apply(&changes).await?;
    report.accounts_disabled = done.accounts_disabled;
    report.tokens_revoked = done.tokens_revoked;
    report.requests_cancelled = done.requests_cancelled;
    report.grants_ended = done.grants_ended;
    Ok(report)
}

/// Plans the change of every person in the file, then of every file-synced person
/// missing from it (a leaver). Returns the plans and how many were missing.
fn plan_population(
    ctx: &Context<'_>,
    rows: &[LocatedRecord],
    existing: &[Identity],
    birthright: &mut HashMap<Uuid, Vec<Assignment>>,
) -> (Plans, usize) {
    let by_employee: HashMap<String, &Identity> = existing
        .iter()
        .map(|i| (i.hr.employee_id.to_string(), i))
        .collect();
    let mut plans = Plans::new(ctx.now);
    let mut seen = std::collections::HashSet::new();
    for row in rows.iter() {
        let key = row.record.employee_id.to_string();
        seen.insert(key.clone());
        let old = by_employee.get(&key).copied();
        let mut record = row.record.clone();
        // The file does not carry groups: keep those an identity provider pushed.
        if let Some(old) = old {
            record.groups = old.hr.groups.clone();
        }
        let held = old
            .and_then(|o| birthright.remove(&o.id))
            .unwrap_or_default();
        let external = old.and_then(|o| o.external_id.clone());
        plans.push(plan(ctx, old, &held, record, SOURCE, external));
    }

    // File-synced people missing from the file have left.
    let mut vanished = 0;
    for old in existing
        .iter()
        .filter(|i| i.source == SOURCE && !seen.contains(i.hr.employee_id.as_str()))
    {
        if old.hr.status == EmploymentStatus::Terminated {
            continue;
        }
        vanished += 1;
        let mut record = old.hr.clone();
        record.status = EmploymentStatus::Terminated;
        let held = birthright.remove(&old.id).unwrap_or_default();
        plans.push(plan(
            ctx,
            Some(old),
            &held,
            record,
            SOURCE,
            old.external_id.clone(),
        ));
    }
    (plans, vanished)
}

/// The rows that name an identity an identity provider manages: it is not the file's to
/// change (SCIM refuses the reverse), and neither is a user name one of them holds.
fn not_the_files(rows: &[LocatedRecord], existing: &[Identity]) -> Vec<SyncProblem> {
    let mut problems = Vec::new();
    for row in rows {
        let theirs = existing.iter().find(|i| {
            i.source != SOURCE
                && (i.hr.employee_id == row.record.employee_id
                    || i.hr.username == row.record.username)
        });
        if let Some(other) = theirs {
            let field = if other.hr.employee_id == row.record.employee_id {
                "employee_id"
            } else {
                "username"
            };
            problems.push(SyncProblem {
                at: row.at.clone(),
                field: Some(field.to_owned()),
                message: format!(
                    "belongs to identity {} managed by {}, not by HR files",
                    other.hr.employee_id, other.source
                ),
            });
        }
    }
    problems
}

/// The planned changes of a sync as they are gathered: the change set, each person's
/// change for the report, and the count per lifecycle.
struct Plans {
    changes: ChangeSet,
    report_changes: Vec<PersonChange>,
    counts: BTreeMap<String, usize>,
}

impl Plans {
    /// Nothing planned yet, for a sync at `now`.
    fn new(now: time::OffsetDateTime) -> Self {
        Self {
            changes: ChangeSet {
                at: Some(now),
                ..ChangeSet::default()
            },
            report_changes: Vec::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Adds one person's plan (`None`: unchanged, counted only).
    fn push(&mut self, planned: Option<PlannedIdentity>) {
        let Some(p) = planned else {
            *self.counts.entry("unchanged".to_owned()).or_insert(0) += 1;
            return;
        };
        *self.counts.entry(p.change.lifecycle.clone()).or_insert(0) += 1;
        self.changes.jobs.extend(p.jobs);
        self.changes.events.extend(p.event);
        self.changes.identities.push(p.write);
        self.report_changes.push(p.change);
    }
}

/// Refuses a sync in which more than a fifth of the `file_synced` identities would
/// leave at once, unless `allow_mass_leave`: a truncated file looks exactly like that.
fn check_mass_leave(
    options: SyncOptions,
    counts: &BTreeMap<String, usize>,
    file_synced: usize,
    vanished: usize,
) -> Result<(), ServiceError> {
    let leavers = counts.get("leaver").copied().unwrap_or(0);
    let limit = ((file_synced as f64) * MASS_LEAVE_SHARE).ceil() as usize;
    if !options.allow_mass_leave && leavers > MASS_LEAVE_MIN && leavers > limit {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!(
                "{leavers} of {file_synced} identities would leave at once ({vanished} of them missing from the file); \
                 a truncated file looks like this. Check the file, then sync again with allow_mass_leave if it is right. \
                 Nothing was changed."
            ),
        ));
    }
    Ok(())
}
