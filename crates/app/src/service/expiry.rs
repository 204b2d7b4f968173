//! The grant worker: provisions approved grants on their targets and revokes them when
//! they end, from the durable queue the grants table is (`due_at`, earliest first).
//!
//! - Nothing is "active" until the connector created the access, and nothing is
//!   "revoked" until the connector removed it and [`Connector::verify`] says it is gone.
//! - Overlapping grants of one access are counted: when one ends while another still
//!   runs, the target keeps the access (its end moved to the other grant's end) and the
//!   ending grant is settled without a revocation.
//! - Each grant retries on its own schedule ([`retry_delay`]); grants of one access are
//!   handled in order, different accesses concurrently, so one failing or slow target
//!   never holds up another. After [`ALERT_AFTER`] failures security is alerted; a
//!   revocation goes on being retried, a provisioning fails and is cleaned up.
//! - Outcomes of a round are committed together (one transaction), each with its audit
//!   event and notifications, and only if the grant did not change meanwhile.
//! - [`catch_up`] runs at start, before the server serves: grants that ended while it was
//!   down are revoked first. [`take_lease_at_start`] waits for the lease of a holder that
//!   is gone rather than serve before catching up.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration as StdDuration;

use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::connector::{
    ALERT_AFTER, AccessSpec, Connector, ConnectorError, Presence, retry_delay,
};
use warden_core::request::{
    Event, GrantInterval, RequestKind, RequestState, TransitionError, Window, access_end,
    extension_window, grant_window,
};
use warden_store::{Contact, GrantChange, StoreError, StoredGrant};

use crate::notify::{self, Notice, events};
use crate::state::AppState;

/// Longest a connector call may take before it counts as failed.
pub const CALL_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// How often the worker loop looks for grants to warn of their end.
const WARN_EVERY: StdDuration = StdDuration::from_secs(1);

/// Most accesses' outcomes committed in one transaction.
const SETTLE_MAX: usize = 4096;

/// How long the settler waits for more outcomes once one has arrived: until none came
/// for this long, and at most [`GATHER_MAX`].
const GATHER_QUIET: StdDuration = StdDuration::from_millis(1);
/// The longest the settler gathers outcomes before it commits them.
const GATHER_MAX: StdDuration = StdDuration::from_millis(20);

/// What a round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Grants made active.
    pub provisioned: u64,
    /// Grants whose access was removed from the target.
    pub revoked: u64,
    /// Grants that ended while another grant keeps the access.
    pub kept: u64,
    /// Failed attempts (to be retried, or failed provisionings).
    pub failures: u64,
    /// Expiring-soon notices sent.
    pub warned: u64,
}

impl Report {
    fn add(&mut self, o: &Report) {
        self.provisioned += o.provisioned;
        self.revoked += o.revoked;
        self.kept += o.kept;
        self.failures += o.failures;
        self.warned += o.warned;
    }

    /// Whether the round did anything at all.
    pub fn is_empty(&self) -> bool {
        *self == Report::default()
    }
}

type AccessKey = (Uuid, String, String);

fn key_of(g: &StoredGrant) -> AccessKey {
    (g.identity_id, g.resource.clone(), g.role.clone())
}

/// Groups grants by access, keeping each group in due order.
fn group(due: Vec<StoredGrant>) -> BTreeMap<AccessKey, Vec<StoredGrant>> {
    let mut groups: BTreeMap<AccessKey, Vec<StoredGrant>> = BTreeMap::new();
    for g in due {
        groups.entry(key_of(&g)).or_default().push(g);
    }
    groups
}

/// One round: handles every grant due now and commits the outcomes together.
pub async fn tick(state: &AppState) -> Result<Report, StoreError> {
    let now = state.clock().now();
    let due = state
        .store()
        .due_grants(now, state.config().grants.batch_size)
        .await?;
    let sem = Arc::new(Semaphore::new(state.config().grants.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let groups = group(due);
    let mut data = prefetch(state, groups.keys()).await?;
    for (key, grants) in groups {
        let state = state.clone();
        let sem = Arc::clone(&sem);
        let (live, person) = data.take(&key);
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            process(&state, grants, live, person).await
        });
    }
    let mut changes = Vec::new();
    let mut report = Report::default();
    while let Some(done) = tasks.join_next().await {
        let (c, r) = done??;
        changes.extend(c);
        report.add(&r);
    }
    report.add(&warn(state, &mut changes).await?);
    settle(state, &changes).await?;
    Ok(report)
}

/// The lease of the grant worker: one replica at a time runs it.
pub const LEASE_NAME: &str = "grants";

/// Handles everything due now, round after round, until nothing due now is left (grants
/// that failed wait for their retry time). Run at start before serving, by the replica
/// that takes the worker lease (renewed every round); when another replica holds it, that
/// one is doing this. `serve` first waits for a lease left by a holder that is gone
/// ([`take_lease_at_start`]).
pub async fn catch_up(state: &AppState) -> Result<Report, StoreError> {
    let mut total = Report::default();
    if !state.hold_lease(LEASE_NAME).await {
        tracing::info!("another replica runs the grant worker; it handles due grants");
        return Ok(total);
    }
    for round in 0..10_000 {
        if round > 0 && !state.hold_lease(LEASE_NAME).await {
            tracing::warn!(
                "lost the grant worker lease while catching up; the replica holding it goes on"
            );
            break;
        }
        let r = tick(state).await?;
        if r.is_empty() {
            break;
        }
        total.add(&r);
    }
    Ok(total)
}

/// How often [`take_lease_at_start`] looks at a lease held by another owner.
const LEASE_WATCH: StdDuration = StdDuration::from_millis(100);

/// Takes the grant worker's lease at start, before serving, and says whether this process
/// holds it (and so must [`catch_up`]). A lease that is free, lapsed, or held under this
/// process's own id (left by the previous process of its data directory, see
/// [`crate::leases`]) is taken at once. One held by another owner is watched: a live
/// replica renews it within about a second, and then it handles the grants due (`false`);
/// a holder that stopped renewing is gone, and its lease is taken as soon as it lapses,
/// so grants that ended meanwhile are still revoked before this process serves. The wait
/// lasts at most [`crate::state::LEASE`] and a second by this process's clock (a holder
/// whose clock runs ahead is then left to it).
pub async fn take_lease_at_start(state: &AppState) -> Result<bool, StoreError> {
    let started = state.clock().now();
    let mut seen: Option<warden_store::LeaseHolder> = None;
    loop {
        if state.hold_lease(LEASE_NAME).await {
            if let Some(gone) = seen {
                tracing::info!(
                    previous = %gone.owner,
                    "took over the grant worker lease of a holder that stopped renewing it"
                );
            }
            return Ok(true);
        }
        // `None`: released meanwhile, try again.
        if let Some(held) = state.store().lease_holder(LEASE_NAME).await? {
            match seen {
                None => {
                    tracing::info!(
                        holder = %held.owner,
                        until = %held.until,
                        "the grant worker lease is held by another process: waiting for it to renew it (a live replica) or let it lapse (gone) before serving"
                    );
                    seen = Some(held);
                }
                Some(first) if first != held => return Ok(false),
                Some(_) => {}
            }
        }
        if state.clock().now() - started > crate::state::LEASE + Duration::SECOND {
            tracing::warn!(
                holder = ?seen.map(|h| h.owner),
                "the grant worker lease outlasted its longest term: the holder's clock may run ahead; serving without catching up"
            );
            return Ok(false);
        }
        tokio::time::sleep(LEASE_WATCH).await;
    }
}

async fn settle(state: &AppState, changes: &[GrantChange]) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let stale = state.store().settle_grants(changes).await?;
    if !stale.is_empty() {
        tracing::debug!(
            grants = stale.len(),
            "grants changed while the worker handled them; they are handled again"
        );
    }
    if changes.iter().any(|c| !c.outbox.is_empty()) {
        notify::deliver::wake();
    }
    Ok(())
}

/// Expiring-soon notices for active grants within the warning time of their end.
async fn warn(state: &AppState, changes: &mut Vec<GrantChange>) -> Result<Report, StoreError> {
    let now = state.clock().now();
    let before = now
        + Duration::seconds(
            i64::try_from(state.config().grants.warn_before_secs).unwrap_or(i64::MAX / 2),
        );
    let busy: HashSet<Uuid> = changes.iter().map(|c| c.grant.id).collect();
    let mut report = Report::default();
    let due: Vec<StoredGrant> = state
        .store()
        .grants_to_warn(now, before, 1000)
        .await?
        .into_iter()
        .filter(|g| !busy.contains(&g.id))
        .collect();
    if due.is_empty() {
        return Ok(report);
    }
    let ids: Vec<Uuid> = due.iter().map(|g| g.identity_id).collect();
    let people = state.store().contacts(&ids).await?;
    for g in due {
        let (holder, email) = people.get(&g.identity_id).map_or_else(
            || (g.identity_id.to_string(), Vec::new()),
            |c| (c.employee_id.clone(), vec![c.email.clone()]),
        );
        let mut next = g.clone();
        next.warned = true;
        next.updated_at = now;
        let notice = Notice::new(
            events::EXPIRING,
            format!(
                "{holder}'s {} access to {} ends at {}",
                g.role,
                g.resource,
                g.ends_at.map(|t| t.to_string()).unwrap_or_default()
            ),
            grant_data(&g, &holder),
        )
        .to(email);
        changes.push(GrantChange {
            read_at: g.updated_at,
            grant: next,
            request_state: None,
            outbox: notify::messages(&state.config().notifications, &notice, now),
            events: Vec::new(),
        });
        report.warned += 1;
    }
    Ok(report)
}

/// The worker loop of `warden serve`. Each access in flight is handled by its own task;
/// the loop goes on dispatching others, so a slow target delays only its own grants. It
/// works only while this replica holds the worker lease (renewed every round).
pub async fn run(state: AppState) {
    let waker = state.grants_waker();
    // Accesses being handled, owned by the loop. A finished access comes back through
    // `released` once its outcomes are committed, and leaves the set at the top of the
    // loop, before the queue is read again: a grant is never sent out twice from a row
    // read before its outcome was committed.
    let mut in_flight: HashSet<AccessKey> = HashSet::new();
    let mut reminded_at: Option<std::time::Instant> = None;
    let released: Arc<Mutex<Vec<AccessKey>>> = Arc::default();
    let sem = Arc::new(Semaphore::new(state.config().grants.concurrency.max(1)));
    // Outcomes of one access each; `None` is the loop's reminder that warnings may be due.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Option<AccessKey>, Vec<GrantChange>)>(4096);
    // The settler commits whatever outcomes have arrived, many per transaction, with the
    // expiring-soon notices due (looked for at most every WARN_EVERY).
    let settler = {
        let state = state.clone();
        let released = Arc::clone(&released);
        let waker = Arc::clone(&waker);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut warned_at: Option<std::time::Instant> = None;
            while rx.recv_many(&mut buf, SETTLE_MAX).await > 0 {
                // Outcomes finishing together are committed together: wait a moment for
                // more while they keep coming, rather than commit the first on its own.
                let gather = tokio::time::Instant::now() + GATHER_MAX;
                while buf.len() < SETTLE_MAX {
                    let room = SETTLE_MAX - buf.len();
                    let more =
                        tokio::time::timeout(GATHER_QUIET, rx.recv_many(&mut buf, room)).await;
                    if !matches!(more, Ok(n) if n > 0) || tokio::time::Instant::now() >= gather {
                        break;
                    }
                }
                let mut changes = Vec::new();
                let mut keys = Vec::new();
                for (key, c) in buf.drain(..) {
                    keys.extend(key);
                    changes.extend(c);
                }
                if warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                    warned_at = Some(std::time::Instant::now());
                    if let Err(e) = warn(&state, &mut changes).await {
                        tracing::error!(error = %e, "cannot read the grants to warn");
                    }
                }
                if let Err(e) = settle(&state, &changes).await {
                    tracing::error!(error = %e, "cannot record grant outcomes; they are retried");
                }
                released
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(keys);
                waker.notify_one();
            }
        })
    };
    loop {
        if !state.hold_lease(LEASE_NAME).await {
            // Another replica runs the worker; be ready to take over when it stops.
            tokio::select! {
                () = tokio::time::sleep(StdDuration::from_secs(1)) => {}
                () = waker.notified() => {}
            }
            continue;
        }
        let done = std::mem::take(&mut *released.lock().unwrap_or_else(PoisonError::into_inner));
        for key in done {
            in_flight.remove(&key);
        }
        let now = state.clock().now();
        let batch = state.config().grants.batch_size;
        let busy = u64::try_from(in_flight.len()).unwrap_or(u64::MAX);
        // Whether everything due is already being handled: then wait for the settler's
        // wake-up rather than reading the queue again in a few milliseconds. Two full
        // batches in flight are enough work: one being committed while the next is read
        // and handled (SQLite's readers run beside its writer). The queue is read again
        // once some of it is settled, not re-read (in-flight rows and all) on every
        // wake-up.
        let mut all_busy = busy >= batch.saturating_mul(2);
        let read = if all_busy {
            Ok(Vec::new())
        } else {
            state.store().due_grants(now, batch + busy).await
        };
        match read {
            Ok(due) => {
                all_busy = all_busy || !due.is_empty();
                let mut groups = group(due);
                groups.retain(|key, _| !in_flight.contains(key));
                let mut data = match prefetch(&state, groups.keys()).await {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the grants due; retrying");
                        groups.clear();
                        Prefetched {
                            live: BTreeMap::new(),
                            people: Default::default(),
                            birthright: HashSet::new(),
                        }
                    }
                };
                for (key, grants) in groups {
                    in_flight.insert(key.clone());
                    all_busy = false;
                    let state = state.clone();
                    let sem = Arc::clone(&sem);
                    let tx = tx.clone();
                    let (live, person) = data.take(&key);
                    tokio::spawn(async move {
                        let _permit = sem.acquire_owned().await;
                        let changes = match process(&state, grants, live, person).await {
                            Ok((changes, _)) => changes,
                            Err(e) => {
                                tracing::error!(error = %e, "cannot handle due grants; they are retried");
                                Vec::new()
                            }
                        };
                        // Always sent, even empty, so the access is released.
                        let _ = tx.send((Some(key), changes)).await;
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the grant queue; retrying"),
        }
        // Warnings are due by the clock, not by the queue: remind the settler, which
        // looks for them at most every WARN_EVERY.
        if reminded_at.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            reminded_at = Some(std::time::Instant::now());
            let _ = tx.try_send((None, Vec::new()));
        }
        // Sleep until the next due grant (at most a second, for warnings), or a wake-up.
        let wait = match state.store().next_grant_due().await {
            _ if all_busy => Duration::SECOND,
            Ok(Some(next)) => {
                (next - state.clock().now()).clamp(Duration::milliseconds(5), Duration::SECOND)
            }
            _ => Duration::SECOND,
        };
        let wait =
            StdDuration::from_millis(u64::try_from(wait.whole_milliseconds()).unwrap_or(1000));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = waker.notified() => {}
        }
        if settler.is_finished() {
            tracing::error!("the grant settler stopped; the grant worker stops");
            return;
        }
    }
}

fn grant_data(g: &StoredGrant, holder: &str) -> serde_json::Value {
    json!({
        "grant": g.id,
        "request": g.request_id,
        "identity": holder,
        "resource": g.resource,
        "role": g.role,
        "kind": g.kind.as_str(),
        "starts_at": g.starts_at.map(|t| t.to_string()),
        "ends_at": g.ends_at.map(|t| t.to_string()),
    })
}

async fn call<T>(
    f: impl std::future::Future<Output = Result<T, ConnectorError>>,
) -> Result<T, ConnectorError> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(ConnectorError::Unavailable(format!(
            "no answer within {} s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

/// What a round knows before it handles its accesses: the live grants of every access
/// in it and the holders' names and addresses, read in a few queries for the whole round.
struct Prefetched {
    live: BTreeMap<AccessKey, Vec<StoredGrant>>,
    people: std::collections::HashMap<Uuid, Contact>,
    birthright: HashSet<(Uuid, String, String)>,
}

/// The holder of an access, as connectors and notices need them.
struct Holder {
    employee: String,
    username: String,
    email: Vec<String>,
    /// The holder's birthright (resource, role): standing access that shares the
    /// account of a grant of the same access, and outlives it.
    birthright: HashSet<(String, String)>,
}

async fn prefetch<'a>(
    state: &AppState,
    keys: impl Iterator<Item = &'a AccessKey>,
) -> Result<Prefetched, StoreError> {
    let keys: Vec<AccessKey> = keys.cloned().collect();
    let mut ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut live: BTreeMap<AccessKey, Vec<StoredGrant>> = BTreeMap::new();
    for g in state.store().live_grants_of_accesses(&keys).await? {
        live.entry(key_of(&g)).or_default().push(g);
    }
    let people = state.store().contacts(&ids).await?;
    let birthright = state
        .store()
        .birthright_of_identities(&ids)
        .await?
        .into_iter()
        .collect();
    Ok(Prefetched {
        live,
        people,
        birthright,
    })
}

impl Prefetched {
    /// The live grants and the holder of one access, taken out of the round's data.
    fn take(&mut self, key: &AccessKey) -> (Vec<StoredGrant>, Holder) {
        let live = self.live.remove(key).unwrap_or_default();
        let birthright: HashSet<(String, String)> = self
            .birthright
            .iter()
            .filter(|(id, _, _)| *id == key.0)
            .map(|(_, resource, role)| (resource.clone(), role.clone()))
            .collect();
        let person = self.people.get(&key.0).map_or_else(
            || Holder {
                employee: key.0.to_string(),
                username: String::new(),
                email: Vec::new(),
                birthright: birthright.clone(),
            },
            |c| Holder {
                employee: c.employee_id.clone(),
                username: c.username.clone(),
                email: vec![c.email.clone()],
                birthright: birthright.clone(),
            },
        );
        (live, person)
    }
}

/// Handles the due grants of one access, in due order, given its live grants and holder.
async fn process(
    state: &AppState,
    grants: Vec<StoredGrant>,
    mut live: Vec<StoredGrant>,
    who: Holder,
) -> Result<(Vec<GrantChange>, Report), StoreError> {
    let mut changes = Vec::new();
    let mut report = Report::default();
    for g in grants {
        let now = state.clock().now();
        let change = match g.state {
            RequestState::Provisioning if g.end_reason.is_none() => {
                provision(state, &g, &live, &who, now, &mut report).await?
            }
            RequestState::Provisioning
            | RequestState::Active
            | RequestState::Revoking
            | RequestState::Failed => revoke(state, &g, &live, &who, now, &mut report).await?,
            RequestState::Pending
            | RequestState::Approved
            | RequestState::Denied
            | RequestState::Cancelled
            | RequestState::TimedOut
            | RequestState::Revoked => continue,
        };
        // Later grants of this access see this one's new state.
        if let Some(slot) = live.iter_mut().find(|l| l.id == g.id) {
            *slot = change.grant.clone();
        }
        changes.push(change);
    }
    Ok((changes, report))
}

fn spec(state: &AppState, g: &StoredGrant, who: &Holder, until: OffsetDateTime) -> AccessSpec {
    access_spec(state, g, &who.employee, &who.username, until)
}

/// What a connector is told about grant `g` of the holder with `employee` id and
/// `username`: the role's target mapping comes from the policy in force.
pub(crate) fn access_spec(
    state: &AppState,
    g: &StoredGrant,
    employee: &str,
    username: &str,
    until: OffsetDateTime,
) -> AccessSpec {
    let target = state
        .policy()
        .policy
        .role(&g.target_kind, &g.role)
        .map(|r| r.target.clone())
        .unwrap_or_default();
    AccessSpec {
        grant: g.id,
        identity: g.identity_id,
        employee_id: employee.to_owned(),
        resource: g.resource.clone(),
        kind: g.target_kind.clone(),
        connection: g.connection.clone(),
        role: g.role.clone(),
        target,
        username: username.to_owned(),
        until,
    }
}

fn connector(state: &AppState, g: &StoredGrant) -> Result<Arc<dyn Connector>, ConnectorError> {
    state
        .connectors()
        .for_resource(&g.target_kind, &g.connection)
}

/// The windows of the other grants of this access that run at `now`.
fn others_running(
    live: &[StoredGrant],
    except: Uuid,
    now: OffsetDateTime,
) -> Vec<GrantInterval<Uuid>> {
    live.iter()
        .filter(|l| l.id != except && l.state == RequestState::Active)
        .filter_map(|l| {
            Some(GrantInterval {
                id: l.id,
                window: Window {
                    start: l.starts_at?,
                    end: l.ends_at?,
                },
            })
        })
        .filter(|i| i.window.contains(now))
        .collect()
}

fn event(now: OffsetDateTime, action: Action, g: &StoredGrant, holder: &str) -> AuditEvent {
    AuditEvent::new(now, Actor::system(), action)
        .target(format!("grant:{}", g.id))
        .detail("request", g.request_id.to_string())
        .detail("identity", holder)
        .detail("resource", g.resource.as_str())
        .detail("role", g.role.as_str())
        .detail("kind", g.kind.as_str())
}

async fn provision(
    state: &AppState,
    g: &StoredGrant,
    live: &[StoredGrant],
    who: &Holder,
    now: OffsetDateTime,
    report: &mut Report,
) -> Result<GrantChange, StoreError> {
    let (holder, email) = (who.employee.as_str(), who.email.as_slice());
    let duration = Duration::seconds(g.duration_secs);
    let window = if g.kind == RequestKind::Extension {
        let base = match state
            .store()
            .request(g.request_id)
            .await?
            .and_then(|r| r.extends)
        {
            Some(base_id) => match live.iter().find(|l| l.id == base_id) {
                Some(b) => Some(b.clone()),
                None => state.store().grant(base_id).await?,
            },
            None => None,
        };
        base.and_then(|b| {
            let current = Window {
                start: b.starts_at?,
                end: b.ends_at?,
            };
            if b.state != RequestState::Active {
                return None;
            }
            extension_window(current, duration, now)
        })
        .ok_or_else(|| {
            ConnectorError::Refused(
                "the grant it extends is no longer running; request access again".to_owned(),
            )
        })
    } else {
        Ok(grant_window(now, duration))
    };
    let others = others_running(live, g.id, now);
    let result = match window {
        Ok(window) => {
            let until = access_end(&others).map_or(window.end, |end| end.max(window.end));
            match connector(state, g) {
                Ok(c) => call(c.grant(&spec(state, g, who, until)))
                    .await
                    .map(|h| (window, h)),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let mut next = g.clone();
    next.updated_at = now;
    let config = &state.config().notifications;
    Ok(match result {
        Ok((window, handle)) => {
            report.provisioned += 1;
            next.state = g.state.next(Event::Provisioned)?;
            next.starts_at = Some(window.start);
            next.ends_at = Some(window.end);
            next.due_at = Some(window.end);
            next.attempts = 0;
            next.last_error = None;
            next.handle = Some(handle);
            let notice = Notice::new(
                events::GRANTED,
                format!(
                    "{holder} holds {} on {} until {}",
                    g.role, g.resource, window.end
                ),
                grant_data(&next, holder),
            )
            .to(email.to_vec());
            GrantChange {
                read_at: g.updated_at,
                request_state: Some(next.state),
                outbox: notify::messages(config, &notice, now),
                events: vec![
                    event(now, Action::GrantProvision, &next, holder)
                        .detail("starts_at", window.start.to_string())
                        .detail("ends_at", window.end.to_string()),
                ],
                grant: next,
            }
        }
        Err(e) => {
            report.failures += 1;
            metrics::counter!("warden_grant_failures_total", "step" => "provision").increment(1);
            next.attempts += 1;
            next.last_error = Some(e.to_string());
            let give_up = next.attempts >= ALERT_AFTER || !e.retryable();
            let mut outbox = Vec::new();
            let mut request_state = None;
            if give_up {
                metrics::counter!("warden_grant_alerts_total").increment(1);
                tracing::error!(grant = %g.id, resource = %g.resource, role = %g.role, error = %e, "provisioning a grant failed; the request fails and security is alerted");
                // Provisioning failed: the request fails, security is alerted, and a
                // cleanup revocation removes anything half-made.
                next.state = g.state.next(Event::ProvisioningFailed)?;
                next.due_at = Some(now);
                next.attempts = 0;
                request_state = Some(next.state);
                let notice = Notice::new(
                    events::FAILING,
                    format!(
                        "could not provision {} on {} for {holder}: {e}",
                        g.role, g.resource
                    ),
                    grant_data(&next, holder),
                )
                .to(email.to_vec());
                outbox = notify::messages(config, &notice, now);
            } else {
                next.due_at = Some(now + retry_delay(next.attempts));
            }
            GrantChange {
                read_at: g.updated_at,
                request_state,
                outbox,
                events: vec![
                    event(now, Action::GrantProvisionFailed, &next, holder)
                        .failed(e.to_string())
                        .detail("attempts", g.attempts.saturating_add(1).to_string())
                        .detail("final", give_up.to_string()),
                ],
                grant: next,
            }
        }
    })
}

async fn revoke(
    state: &AppState,
    g: &StoredGrant,
    live: &[StoredGrant],
    who: &Holder,
    now: OffsetDateTime,
    report: &mut Report,
) -> Result<GrantChange, StoreError> {
    let (holder, email) = (who.employee.as_str(), who.email.as_slice());
    let others = others_running(live, g.id, now);
    let config = &state.config().notifications;
    let cleanup = g.state == RequestState::Failed;
    let standing = who
        .birthright
        .contains(&(g.resource.clone(), g.role.clone()));
    // Set when the grant never reached a target: nothing to revoke there.
    let mut untouched = false;
    let result: Result<Option<String>, ConnectorError> = async {
        let c = match connector(state, g) {
            Ok(c) => c,
            // Never provisioned (no handle, no start), through a connection with no
            // connector: no call of it ever reached a target, so nothing is there to
            // revoke, and retrying a revocation that cannot run would alert forever.
            Err(_) if g.handle.is_none() && g.starts_at.is_none() => {
                untouched = true;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if let Some(keeper_end) = access_end(&others) {
            // Another grant still runs: the access stays, ending with that grant.
            let keeper = others
                .iter()
                .find(|i| i.window.end == keeper_end)
                .map(|i| i.id.to_string());
            // The target's end may be this grant's (now cut short): set it to the keeper's.
            call(c.grant(&spec(state, g, who, keeper_end))).await?;
            return Ok(keeper);
        }
        if standing {
            // The holder has this access as birthright: the account stays, without end.
            call(c.grant(&spec(
                state,
                g,
                who,
                crate::service::provisioning::forever(),
            )))
            .await?;
            return Ok(Some("birthright".to_owned()));
        }
        call(c.revoke(&spec(state, g, who, now), g.handle.as_deref())).await?;
        match call(c.verify(&spec(state, g, who, now), g.handle.as_deref())).await? {
            Presence::Absent => Ok(None),
            Presence::Present { .. } => Err(ConnectorError::Unavailable(
                "the access is still present on the target after revocation".to_owned(),
            )),
        }
    }
    .await;
    let mut next = g.clone();
    next.updated_at = now;
    Ok(match result {
        Ok(keeper) => {
            next.due_at = None;
            next.attempts = 0;
            next.last_error = None;
            if !cleanup {
                next.state = revoking(g.state)?.next(Event::RevokeConfirmed)?;
                if next.ends_at.is_none_or(|end| end > now) {
                    next.ends_at = Some(now);
                }
            }
            let mut ev = event(now, Action::GrantRevoked, &next, holder);
            if let Some(end) = g.ends_at {
                ev = ev.detail(
                    "lag_ms",
                    (now - end).whole_milliseconds().max(0).to_string(),
                );
            }
            if let Some(reason) = &g.end_reason {
                ev = ev.reason(reason.clone());
            }
            if untouched {
                ev = ev.detail("target", "never reached: no connector for its connection");
            }
            match &keeper {
                Some(k) => {
                    report.kept += 1;
                    ev = ev.detail("kept_by", k.clone());
                }
                None => report.revoked += 1,
            }
            let outbox = if cleanup || keeper.is_some() {
                Vec::new()
            } else {
                let notice = Notice::new(
                    events::REVOKED,
                    format!("{holder} no longer holds {} on {}", g.role, g.resource),
                    grant_data(&next, holder),
                )
                .to(email.to_vec());
                notify::messages(config, &notice, now)
            };
            GrantChange {
                read_at: g.updated_at,
                request_state: (!cleanup).then_some(next.state),
                outbox,
                events: vec![ev],
                grant: next,
            }
        }
        Err(e) => {
            report.failures += 1;
            metrics::counter!("warden_grant_failures_total", "step" => "revoke").increment(1);
            next.attempts += 1;
            if !cleanup {
                next.state = revoking(g.state)?;
            }
            next.last_error = Some(e.to_string());
            next.due_at = Some(now + retry_delay(next.attempts));
            if next.attempts == ALERT_AFTER {
                metrics::counter!("warden_grant_alerts_total").increment(1);
                tracing::error!(grant = %g.id, resource = %g.resource, role = %g.role, attempts = next.attempts, error = %e, "revoking a grant keeps failing; security is alerted and retries go on");
            }
            let outbox = if next.attempts == ALERT_AFTER {
                let notice = Notice::new(
                    events::FAILING,
                    format!(
                        "revoking {} on {} from {holder} failed {} times ({e}); retrying",
                        g.role, g.resource, next.attempts
                    ),
                    grant_data(&next, holder),
                )
                .to(email.to_vec());
                notify::messages(config, &notice, now)
            } else {
                Vec::new()
            };
            GrantChange {
                read_at: g.updated_at,
                request_state: (!cleanup).then_some(next.state),
                outbox,
                events: vec![
                    event(now, Action::GrantRevokeFailed, &next, holder)
                        .failed(e.to_string())
                        .detail("attempts", next.attempts.to_string())
                        .detail(
                            "retry_at",
                            next.due_at.map(|t| t.to_string()).unwrap_or_default(),
                        ),
                ],
                grant: next,
            }
        }
    })
}

/// The state of a grant whose revocation has started: a live grant moves to revoking, and
/// one already revoking stays so while its revocation is retried.
fn revoking(from: RequestState) -> Result<RequestState, TransitionError> {
    if from == RequestState::Revoking {
        Ok(from)
    } else {
        from.next(Event::Revoke)
    }
}
