//! The reconciler: keeps each target and Warden's grants in agreement.
//!
//! For every resource whose connection is configured (SSH hosts excepted: nothing of a
//! grant lives on them), on a schedule (`[reconcile] interval_secs`) and on demand
//! (`warden reconcile [RESOURCE]`):
//!
//! 1. **Leftovers go.** An account of Warden's (its name has the managed prefix) that no
//!    live grant accounts for (a revocation lost in a crash, a grant ended while the
//!    target was unreachable and then forgotten) is removed, with its sessions.
//! 2. **Lost access comes back.** A running grant whose access the target no longer has
//!    (dropped by hand, a restored backup) is granted again until its end; so is
//!    birthright access the target lost (unless a change of it is still queued).
//! 3. **Drift is reported.** A privileged account Warden did not make, not listed in the
//!    resource's `standing`, is a finding: recorded, audited and notified
//!    (`reconcile.finding`) when first seen, resolved when it disappears, and, where the
//!    resource says `drift = "remove"`, stripped of its privileges at once.
//!
//! Every action on a target is audited before it is taken. Grants in flight (being
//! provisioned or revoked by the expiry worker) are left to the worker.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration as StdDuration;

use serde_json::json;
use time::OffsetDateTime;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::connector::{AccessSpec, Account, Connector, Origin, Presence};
use warden_core::policy::{Drift, Resource};
use warden_core::request::RequestState;
use warden_store::{Contact, Sighting, StoredFinding, StoredGrant};

use crate::auth::Caller;
use crate::notify::{Notice, all_messages, events};
use crate::service::error::ServiceError;
use crate::service::expiry::access_spec;
use crate::service::provisioning::{birthright_spec, names};
use crate::service::targets::configured;
use crate::state::AppState;

/// What the reconciler did on one resource.
#[derive(Debug, Clone, Default)]
pub struct ResourceReconciled {
    /// The resource.
    pub resource: String,
    /// Its tier.
    pub tier: u8,
    /// Accounts removed: Warden's that no live grant accounts for, and standing privilege
    /// policy says to remove (`drift = "remove"`).
    pub removed: Vec<String>,
    /// Accesses restored: live grants the target had lost (`identity/role`).
    pub restored: Vec<String>,
    /// Privileged access Warden did not grant.
    pub findings: Vec<StoredFinding>,
    /// Steps that failed (the target refused or could not be reached).
    pub errors: Vec<String>,
}

/// Which findings [`findings`] lists.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// Only this resource's.
    pub resource: Option<String>,
    /// Include resolved and removed findings.
    pub all: bool,
}

/// Reconciles one resource (`resource`), or every resource with a configured connection.
/// Needs `admin`.
pub async fn run_for(
    state: &AppState,
    caller: &Caller,
    resource: Option<&str>,
) -> Result<Vec<ResourceReconciled>, ServiceError> {
    super::authz::require(state, caller, Operation::ReconcileRun, Relation::Other).await?;
    match resource {
        Some(name) => {
            let (resource, connector) = configured(state, name)?;
            if resource.kind.as_str() == "ssh" {
                return Err(ServiceError::unprocessable(
                    "resource",
                    format!("{name} is an ssh resource: nothing of a grant lives on its hosts"),
                ));
            }
            Ok(vec![
                reconcile(state, &caller.actor(), &resource, connector.as_ref()).await?,
            ])
        }
        None => run(state, &caller.actor()).await,
    }
}

/// Reconciles every resource with a configured (non-SSH) connection.
pub async fn run(state: &AppState, actor: &Actor) -> Result<Vec<ResourceReconciled>, ServiceError> {
    let policy = state.policy();
    let mut out = Vec::new();
    for resource in policy.policy.resources() {
        if resource.kind.as_str() == "ssh" {
            continue;
        }
        let Some((_, connector)) = state.connectors().configured(&resource.connection) else {
            continue;
        };
        out.push(reconcile(state, actor, resource, connector.as_ref()).await?);
    }
    Ok(out)
}

/// Runs [`run`] every `[reconcile] interval_secs` on the replica holding the
/// `reconcile` lease, until the process stops.
pub async fn schedule(state: AppState) {
    let every = state.config().reconcile.interval_secs;
    if every == 0 {
        return;
    }
    let mut tick = tokio::time::interval(StdDuration::from_secs(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !state.hold_lease("reconcile").await {
            continue;
        }
        match run(&state, &Actor::system()).await {
            Ok(done) => {
                for r in done.iter().filter(|r| !r.errors.is_empty()) {
                    tracing::warn!(resource = %r.resource, errors = ?r.errors, "reconciliation met errors");
                }
            }
            Err(e) => tracing::error!(error = ?e, "reconciliation failed"),
        }
    }
}

async fn audit(state: &AppState, event: &AuditEvent) -> Result<(), ServiceError> {
    state
        .store()
        .append_audit(event)
        .await
        .map_err(ServiceError::from)
}

/// Reconciles one resource with its connector.
pub async fn reconcile(
    state: &AppState,
    actor: &Actor,
    resource: &Resource,
    connector: &dyn Connector,
) -> Result<ResourceReconciled, ServiceError> {
    let pass = Pass {
        state,
        actor,
        resource,
        connector,
        now: state.clock().now(),
    };
    let mut report = ResourceReconciled {
        resource: resource.name.clone(),
        tier: resource.tier,
        ..ResourceReconciled::default()
    };
    let accounts = match connector.discover().await {
        Ok(a) => a,
        Err(e) => {
            report.errors.push(format!("discover: {e}"));
            let event = AuditEvent::new(pass.now, actor.clone(), Action::ReconcileRun)
                .target(format!("resource:{}", resource.name))
                .failed(e.to_string());
            audit(state, &event).await?;
            return Ok(report);
        }
    };
    let live = state.store().live_grants_on(&resource.name).await?;
    let birthright = state.store().birthright_on(&resource.name).await?;
    let ids: Vec<uuid::Uuid> = live
        .iter()
        .map(|g| g.identity_id)
        .chain(birthright.iter().map(|(id, _)| *id))
        .collect();
    let people = state.store().contacts(&ids).await?;

    let birthright_specs: Vec<_> = birthright
        .iter()
        .map(|(id, role)| {
            let (employee, username) = names(&people, *id);
            birthright_spec(
                state,
                uuid::Uuid::nil(),
                *id,
                (&employee, &username),
                resource,
                role,
            )
        })
        .collect();

    // Every account name a live grant or a birthright accounts for, whatever its state.
    let mut accounted: BTreeSet<String> = birthright_specs
        .iter()
        .map(AccessSpec::account_name)
        .collect();
    for g in &live {
        let (employee, username) = names(&people, g.identity_id);
        let until = g.ends_at.unwrap_or(pass.now);
        accounted.insert(access_spec(state, g, &employee, &username, until).account_name());
        if let Some(h) = &g.handle {
            accounted.insert(h.clone());
        }
    }

    pass.remove_leftovers(&accounts, &accounted, &mut report)
        .await?;
    pass.restore_grants(&live, &people, &mut report).await?;
    pass.restore_birthright(&birthright_specs, &mut report)
        .await?;
    pass.record_drift(&accounts, &mut report).await?;
    Ok(report)
}

/// One reconciliation of one resource: what each of its steps needs.
struct Pass<'a> {
    state: &'a AppState,
    actor: &'a Actor,
    resource: &'a Resource,
    connector: &'a dyn Connector,
    now: OffsetDateTime,
}

impl Pass<'_> {
    /// Step 1: removes the accounts of Warden's that nothing in `accounted` explains.
    async fn remove_leftovers(
        &self,
        accounts: &[Account],
        accounted: &BTreeSet<String>,
        report: &mut ResourceReconciled,
    ) -> Result<(), ServiceError> {
        let (state, resource, connector, now) =
            (self.state, self.resource, self.connector, self.now);
        for a in accounts.iter().filter(|a| a.origin == Origin::Warden) {
            if accounted.contains(&a.name) {
                continue;
            }
            let event = AuditEvent::new(now, self.actor.clone(), Action::ReconcileRemove)
                .target(format!("resource:{}", resource.name))
                .reason("an account of Warden's that no live grant accounts for")
                .detail("account", a.name.as_str());
            audit(state, &event).await?;
            match connector.remove(a).await {
                Ok(()) => report.removed.push(a.name.clone()),
                Err(e) => {
                    report.errors.push(format!("remove {}: {e}", a.name));
                    audit(state, &event.clone().failed(e.to_string())).await?;
                }
            }
        }
        Ok(())
    }

    /// Step 2: grants again what running grants the target lost, one check per access
    /// (the grant ending last).
    async fn restore_grants(
        &self,
        live: &[StoredGrant],
        people: &HashMap<uuid::Uuid, Contact>,
        report: &mut ResourceReconciled,
    ) -> Result<(), ServiceError> {
        let (state, resource, connector, now) =
            (self.state, self.resource, self.connector, self.now);
        let mut running: BTreeMap<(uuid::Uuid, String), &StoredGrant> = BTreeMap::new();
        for g in live.iter().filter(|g| {
            g.state == RequestState::Active
                && g.starts_at.is_some_and(|s| s <= now)
                && g.ends_at.is_some_and(|e| e > now)
        }) {
            let slot = running.entry((g.identity_id, g.role.clone())).or_insert(g);
            if g.ends_at > slot.ends_at {
                *slot = g;
            }
        }
        for g in running.values() {
            let (employee, username) = names(people, g.identity_id);
            let spec = access_spec(state, g, &employee, &username, g.ends_at.unwrap_or(now));
            match connector.verify(&spec, g.handle.as_deref()).await {
                Ok(Presence::Present { .. }) => {}
                Ok(Presence::Absent) => {
                    let event = AuditEvent::new(now, self.actor.clone(), Action::ReconcileRestore)
                        .target(format!("grant:{}", g.id))
                        .reason("the target had lost the access of a running grant")
                        .detail("resource", resource.name.as_str())
                        .detail("role", g.role.as_str())
                        .detail("identity", employee.as_str());
                    audit(state, &event).await?;
                    match connector.grant(&spec).await {
                        Ok(_) => report.restored.push(format!("{employee}/{}", g.role)),
                        Err(e) => {
                            report
                                .errors
                                .push(format!("restore {employee}/{}: {e}", g.role));
                            audit(state, &event.clone().failed(e.to_string())).await?;
                        }
                    }
                }
                Err(e) => report
                    .errors
                    .push(format!("verify {employee}/{}: {e}", g.role)),
            }
        }
        Ok(())
    }

    /// Step 2, birthright: grants again the birthright access the target lost, unless
    /// the provisioning worker still has a change of it queued.
    async fn restore_birthright(
        &self,
        specs: &[AccessSpec],
        report: &mut ResourceReconciled,
    ) -> Result<(), ServiceError> {
        let (state, resource, connector, now) =
            (self.state, self.resource, self.connector, self.now);
        for spec in specs {
            if state
                .store()
                .access_job_pending(spec.identity, &spec.resource, &spec.role)
                .await?
            {
                continue;
            }
            match connector.verify(spec, None).await {
                Ok(Presence::Present { .. }) => {}
                Ok(Presence::Absent) => {
                    let event = AuditEvent::new(now, self.actor.clone(), Action::ReconcileRestore)
                        .target(format!("identity:{}", spec.employee_id))
                        .reason("the target had lost birthright access")
                        .detail("resource", resource.name.as_str())
                        .detail("role", spec.role.as_str());
                    audit(state, &event).await?;
                    match connector.grant(spec).await {
                        Ok(_) => report
                            .restored
                            .push(format!("{}/{} (birthright)", spec.employee_id, spec.role)),
                        Err(e) => {
                            report
                                .errors
                                .push(format!("restore {}/{}: {e}", spec.employee_id, spec.role));
                            audit(state, &event.clone().failed(e.to_string())).await?;
                        }
                    }
                }
                Err(e) => report
                    .errors
                    .push(format!("verify {}/{}: {e}", spec.employee_id, spec.role)),
            }
        }
        Ok(())
    }

    /// Step 3: records privileged access Warden did not grant (auditing and notifying
    /// what is newly seen, removing it where policy says so), then the run itself, and
    /// fills the report's findings.
    async fn record_drift(
        &self,
        accounts: &[Account],
        report: &mut ResourceReconciled,
    ) -> Result<(), ServiceError> {
        let (state, resource, now) = (self.state, self.resource, self.now);
        let known: BTreeMap<String, StoredFinding> = state
            .store()
            .findings(Some(&resource.name), true)
            .await?
            .into_iter()
            .map(|f| (f.account.clone(), f))
            .collect();
        let mut sighting = Sighting::default();
        let mut events = Vec::new();
        let mut notices = Vec::new();
        for a in accounts.iter().filter(|a| {
            a.origin == Origin::Other && a.privileged() && !resource.standing.contains(&a.name)
        }) {
            sighting.seen.insert(a.name.clone(), a.privileges.clone());
            let fresh = known.get(&a.name).is_none_or(|f| f.state == "resolved");
            if fresh {
                events.push(self.finding_event(a));
                notices.push(self.finding_notice(a));
            }
            if resource.drift == Drift::Remove {
                self.remove_drift(a, &mut sighting, report).await?;
            }
        }
        events.push(
            AuditEvent::new(now, self.actor.clone(), Action::ReconcileRun)
                .target(format!("resource:{}", resource.name))
                .detail("removed", report.removed.len().to_string())
                .detail("restored", report.restored.len().to_string())
                .detail("findings", sighting.seen.len().to_string())
                .detail("errors", report.errors.len().to_string()),
        );
        let outbox = all_messages(&state.config().notifications, &notices, now);
        state
            .store()
            .record_findings(&resource.name, &sighting, now, &events, &outbox)
            .await?;
        report.findings = state
            .store()
            .findings(Some(&resource.name), false)
            .await?
            .into_iter()
            .chain(
                // Removed this run: no longer open, still worth showing.
                state
                    .store()
                    .findings(Some(&resource.name), true)
                    .await?
                    .into_iter()
                    .filter(|f| f.state == "removed" && sighting.removed.contains(&f.account)),
            )
            .collect();
        metrics::gauge!("warden_reconcile_open_findings", "resource" => resource.name.clone())
            .set(report.findings.iter().filter(|f| f.state == "open").count() as f64);
        Ok(())
    }

    /// The audit event of a privileged account first seen.
    fn finding_event(&self, a: &Account) -> AuditEvent {
        AuditEvent::new(self.now, self.actor.clone(), Action::ReconcileFinding)
            .target(format!("resource:{}", self.resource.name))
            .detail("account", a.name.as_str())
            .detail("privileges", a.privileges.join("; "))
            .detail("tier", self.resource.tier.to_string())
    }

    /// The notice of a privileged account first seen.
    fn finding_notice(&self, a: &Account) -> Notice {
        let resource = self.resource;
        Notice::new(
            events::DRIFT,
            format!(
                "{} on {} (tier {}) holds privileges Warden did not grant: {}",
                a.name,
                resource.name,
                resource.tier,
                a.privileges.join(", ")
            ),
            json!({
                "resource": resource.name,
                "tier": resource.tier,
                "account": a.name,
                "privileges": a.privileges,
            }),
        )
    }

    /// Strips an account of the privileges Warden did not grant (`drift = "remove"`),
    /// audited before it is done.
    async fn remove_drift(
        &self,
        a: &Account,
        sighting: &mut Sighting,
        report: &mut ResourceReconciled,
    ) -> Result<(), ServiceError> {
        let event = AuditEvent::new(self.now, self.actor.clone(), Action::ReconcileRemove)
            .target(format!("resource:{}", self.resource.name))
            .reason("privileged access Warden did not grant; policy says drift = \"remove\"")
            .detail("account", a.name.as_str())
            .detail("privileges", a.privileges.join("; "));
        audit(self.state, &event).await?;
        match self.connector.remove(a).await {
            Ok(()) => {
                sighting.removed.push(a.name.clone());
                report.removed.push(a.name.clone());
            }
            Err(e) => {
                report.errors.push(format!("remove {}: {e}", a.name));
                audit(self.state, &event.clone().failed(e.to_string())).await?;
            }
        }
        Ok(())
    }
}

/// Findings, newest first. Needs `admin` or `audit:read`.
pub async fn findings(
    state: &AppState,
    caller: &Caller,
    q: &Findings,
) -> Result<Vec<StoredFinding>, ServiceError> {
    super::authz::require(state, caller, Operation::FindingList, Relation::Other).await?;
    Ok(state.store().findings(q.resource.as_deref(), q.all).await?)
}
