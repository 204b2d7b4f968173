//! SIEM export: every configured `[audit.sinks.NAME]` receives the audit log in order,
//! from a durable cursor, at least once.
//!
//! Requests never wait for a SIEM: events are committed to the log first, and a worker
//! per sink reads them after its cursor, delivers a batch, and only then moves the cursor
//! (in the store, so a restart resumes where delivery stopped). A failed batch is retried
//! with backoff (doubling from 1 s to 60 s) until the receiver takes it, so a SIEM that
//! was down for an hour catches up when it returns. A crash between delivery and the
//! cursor update sends that batch again; receivers can tell repeats by the event's
//! `metadata.uid` and sequence number. Each worker runs on the replica holding the
//! `audit-sink:NAME` lease.
//!
//! Metrics per sink: `warden_audit_sink_backlog{sink}` (events not yet delivered),
//! `warden_audit_sink_lag_seconds{sink}` (age of the oldest undelivered event),
//! `warden_audit_sink_delivered_total{sink}` and `warden_audit_sink_failures_total{sink}`.

pub mod file;
pub mod http;
pub mod ocsf;
pub mod syslog;
pub mod transport;

use std::time::Duration as StdDuration;

use crate::state::AppState;
use transport::{SinkConfig, Transport};

/// The shortest and longest wait before retrying a failed batch.
const RETRY_MIN: StdDuration = StdDuration::from_secs(1);
const RETRY_MAX: StdDuration = StdDuration::from_secs(60);
/// How long an idle worker waits before looking for new events.
const IDLE: StdDuration = StdDuration::from_millis(200);

/// What one pass of a sink did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pass {
    /// Events delivered.
    pub delivered: u64,
    /// Events still waiting after the pass.
    pub backlog: u64,
}

/// Starts a worker for every configured sink.
pub fn spawn_all(state: &AppState) {
    for (name, config) in &state.config().audit.sinks {
        tokio::spawn(run(state.clone(), name.clone(), config.clone()));
    }
}

/// Delivers to one sink for as long as the server runs.
pub async fn run(state: AppState, name: String, config: SinkConfig) {
    let lease = format!("audit-sink:{name}");
    let mut transport: Option<Transport> = None;
    let mut wait = RETRY_MIN;
    loop {
        if !state.hold_lease(&lease).await {
            tokio::time::sleep(IDLE * 10).await;
            continue;
        }
        match pass(&state, &name, &config, &mut transport).await {
            Ok(done) => {
                wait = RETRY_MIN;
                if done.backlog == 0 {
                    tokio::time::sleep(IDLE).await;
                }
            }
            Err(e) => {
                metrics::counter!("warden_audit_sink_failures_total", "sink" => name.clone())
                    .increment(1);
                tracing::warn!(sink = %name, error = %e, retry_in_secs = wait.as_secs(), "delivering audit events failed; retrying");
                transport = None;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Delivers one batch after the sink's cursor, if there is one, and moves the cursor.
/// `transport` is opened on first use and kept between passes.
pub async fn pass(
    state: &AppState,
    name: &str,
    config: &SinkConfig,
    transport: &mut Option<Transport>,
) -> Result<Pass, String> {
    let store = state.store();
    let cursor = store.audit_cursor(name).await.map_err(|e| e.to_string())?;
    let (head, _) = store.audit_head().await.map_err(|e| e.to_string())?;
    let head = i64::try_from(head).unwrap_or(i64::MAX);
    let batch = u64::try_from(config.batch_size().max(1)).unwrap_or(500);
    let events = store
        .audit_events(cursor, batch)
        .await
        .map_err(|e| e.to_string())?;
    let Some(last) = events.last().map(|e| e.seq) else {
        report(state, name, 0, None);
        return Ok(Pass::default());
    };
    report(state, name, head - cursor, events.first().map(|e| e.at));
    let records: Vec<_> = events.iter().map(|e| e.record().into_owned()).collect();
    let open = match transport {
        Some(open) => open,
        None => transport.insert(Transport::open(config).await.map_err(|e| e.to_string())?),
    };
    open.deliver(&records).await.map_err(|e| e.to_string())?;
    store
        .set_audit_cursor(name, last, state.clock().now())
        .await
        .map_err(|e| e.to_string())?;
    let delivered = u64::try_from(records.len()).unwrap_or(u64::MAX);
    metrics::counter!("warden_audit_sink_delivered_total", "sink" => name.to_owned())
        .increment(delivered);
    let backlog = u64::try_from(head - last).unwrap_or(0);
    let next_oldest = if backlog > 0 {
        store.audit_time_at(last + 1).await.ok().flatten()
    } else {
        None
    };
    report(state, name, head - last, next_oldest);
    Ok(Pass { delivered, backlog })
}

/// Sets the backlog and lag gauges of `name`.
fn report(state: &AppState, name: &str, backlog: i64, oldest: Option<time::OffsetDateTime>) {
    metrics::gauge!("warden_audit_sink_backlog", "sink" => name.to_owned())
        .set(backlog.max(0) as f64);
    let lag = oldest.map_or(0.0, |at| {
        (state.clock().now() - at).as_seconds_f64().max(0.0)
    });
    metrics::gauge!("warden_audit_sink_lag_seconds", "sink" => name.to_owned()).set(lag);
}
