//! The birthright provisioning worker: carries out the target changes that HR syncs,
//! SCIM and policy applies queue in `access_jobs` (a joiner's birthright provisioned, a
//! mover's or leaver's deprovisioned), through the same connectors as grants.
//!
//! Birthright access has no end: the account is made with an end in the year 9999 and
//! removed only by a deprovision job. The jobs of one access run in the order they were
//! queued; a failure holds that access's later jobs back and is retried with the grant
//! worker's backoff, alerting (`grant.failing`) at the third failure. A deprovision
//! job leaves the access in place while a just-in-time grant of the same access runs;
//! that grant's own revocation removes it when it ends.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use serde_json::json;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::connector::{ALERT_AFTER, AccessSpec, Presence, retry_delay};
use warden_store::{DueJob, JobOutcome, StoreError};

use crate::notify::{Notice, events, messages};
use crate::state::AppState;

/// The end birthright access is given on targets that keep one: none, in effect.
pub fn forever() -> OffsetDateTime {
    let date = Date::from_calendar_date(9999, Month::December, 31).unwrap_or(Date::MAX);
    PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc()
}

/// The employee id and user name of identity `id` among `people` (its id, and no user
/// name, when it is gone).
pub(crate) fn names(
    people: &std::collections::HashMap<uuid::Uuid, warden_store::Contact>,
    id: uuid::Uuid,
) -> (String, String) {
    people.get(&id).map_or_else(
        || (id.to_string(), String::new()),
        |c| (c.employee_id.clone(), c.username.clone()),
    )
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Jobs carried out.
    pub done: usize,
    /// Jobs that failed this round (retried later).
    pub failed: usize,
}

/// The connector's view of a birthright access.
pub(crate) fn birthright_spec(
    state: &AppState,
    job_id: uuid::Uuid,
    identity: uuid::Uuid,
    (employee, username): (&str, &str),
    resource: &warden_core::policy::Resource,
    role: &str,
) -> AccessSpec {
    AccessSpec {
        grant: job_id,
        identity,
        employee_id: employee.to_owned(),
        resource: resource.name.clone(),
        kind: resource.kind.as_str().to_owned(),
        connection: resource.connection.clone(),
        role: role.to_owned(),
        target: state
            .policy()
            .policy
            .role(resource.kind.as_str(), role)
            .map(|r| r.target.clone())
            .unwrap_or_default(),
        username: username.to_owned(),
        until: forever(),
    }
}

/// Carries out the jobs due now, up to 500.
pub async fn tick(state: &AppState) -> Result<Report, StoreError> {
    let now = state.clock().now();
    let due = state.store().due_access_jobs(now, 500).await?;
    let ids: Vec<uuid::Uuid> = due.iter().map(|j| j.identity_id).collect();
    let people = state.store().contacts(&ids).await?;
    let mut held_back: BTreeSet<(uuid::Uuid, String, String)> = BTreeSet::new();
    let mut report = Report::default();
    for job in due {
        let key = (job.identity_id, job.resource.clone(), job.role.clone());
        if held_back.contains(&key) {
            continue;
        }
        let (employee, username) = names(&people, job.identity_id);
        let result = carry_out(state, &job, (&employee, &username)).await;
        let action = if job.action == "provision" {
            Action::AccessProvision
        } else {
            Action::AccessDeprovision
        };
        let base = AuditEvent::new(now, Actor::system(), action)
            .target(format!("identity:{employee}"))
            .detail("job", job.id.to_string())
            .detail("resource", job.resource.as_str())
            .detail("role", job.role.as_str());
        match result {
            Ok(note) => {
                let event = base.reason(note.clone());
                state
                    .store()
                    .settle_access_job(job.id, &JobOutcome::Done { note }, &event, &[])
                    .await?;
                report.done += 1;
            }
            Err(error) => {
                held_back.insert(key);
                let attempts = job.attempts.saturating_add(1);
                let outbox = if attempts == ALERT_AFTER {
                    tracing::error!(job = %job.id, resource = %job.resource, %error, "a birthright change keeps failing");
                    metrics::counter!("warden_grant_alerts_total").increment(1);
                    messages(
                        &state.config().notifications,
                        &Notice::new(
                            events::FAILING,
                            format!(
                                "could not {} {}'s {} on {} ({attempts} attempts): {error}",
                                job.action, employee, job.role, job.resource
                            ),
                            json!({"job": job.id, "identity": employee, "resource": job.resource,
                                   "role": job.role, "action": job.action, "attempts": attempts}),
                        ),
                        now,
                    )
                } else {
                    Vec::new()
                };
                metrics::counter!("warden_grant_failures_total", "step" => job.action.clone())
                    .increment(1);
                let event = base.failed(error.clone());
                let outcome = JobOutcome::Retry {
                    attempts,
                    due_at: now + retry_delay(attempts),
                    error,
                };
                state
                    .store()
                    .settle_access_job(job.id, &outcome, &event, &outbox)
                    .await?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Carries out one job; `Ok` with what happened, or the failure.
async fn carry_out(state: &AppState, job: &DueJob, who: (&str, &str)) -> Result<String, String> {
    let policy = state.policy();
    let Some(resource) = policy.policy.resource(&job.resource).cloned() else {
        return Ok(format!(
            "resource {} is no longer in policy: nothing to change",
            job.resource
        ));
    };
    let connector = state
        .connectors()
        .for_resource(resource.kind.as_str(), &resource.connection)
        .map_err(|e| e.to_string())?;
    let spec = birthright_spec(state, job.id, job.identity_id, who, &resource, &job.role);
    if job.action == "provision" {
        let handle = connector.grant(&spec).await.map_err(|e| e.to_string())?;
        return Ok(format!("provisioned as {handle}"));
    }
    let now = state.clock().now();
    let running = state
        .store()
        .active_grant(job.identity_id, &job.resource, &job.role, now)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(g) = running {
        return Ok(format!(
            "kept: grant {} of the same access runs; its revocation removes it",
            g.id
        ));
    }
    connector
        .revoke(&spec, None)
        .await
        .map_err(|e| e.to_string())?;
    match connector
        .verify(&spec, None)
        .await
        .map_err(|e| e.to_string())?
    {
        Presence::Absent => Ok("deprovisioned".to_owned()),
        Presence::Present { .. } => Err("the target still shows the access".to_owned()),
    }
}

/// Runs [`tick`] every second on the replica holding the `access-jobs` lease.
pub async fn run(state: AppState) {
    loop {
        if state.hold_lease("access-jobs").await
            && let Err(e) = tick(&state).await
        {
            tracing::error!(error = %e, "the birthright provisioning worker could not run");
        }
        tokio::time::sleep(StdDuration::from_secs(1)).await;
    }
}
