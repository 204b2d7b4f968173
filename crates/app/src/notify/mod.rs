//! Notifications through a transactional outbox. A change that announces something
//! writes one outbox message per subscribed channel in its own transaction
//! ([`messages`]), so a notice exists exactly when its change does; the delivery worker
//! ([`deliver`]) sends what is due and marks it delivered, retrying failures with
//! backoff. Each message carries its id (`Warden-Delivery` header, `id` field) so a
//! receiver can drop the one repeat a crash between sending and marking could cause.

pub mod deliver;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_store::OutboxMessage;

use crate::config::NotificationsConfig;

/// The events Warden announces.
pub mod events {
    /// A request waits for approvers.
    pub const NEEDS_APPROVAL: &str = "request.needs_approval";
    /// A request was approved (by people or automatically).
    pub const APPROVED: &str = "request.approved";
    /// A request was denied.
    pub const DENIED: &str = "request.denied";
    /// A request got no decision in time.
    pub const TIMED_OUT: &str = "request.timed_out";
    /// Access exists on the target, with its end.
    pub const GRANTED: &str = "grant.active";
    /// A grant ends soon.
    pub const EXPIRING: &str = "grant.expiring";
    /// Access is gone from the target.
    pub const REVOKED: &str = "grant.revoked";
    /// Provisioning or revocation keeps failing on a target.
    pub const FAILING: &str = "grant.failing";
    /// Break-glass access was taken.
    pub const BREAKGLASS: &str = "breakglass.used";
    /// A break-glass use waits for its justification or review.
    pub const REVIEW_DUE: &str = "breakglass.review_due";
    /// An incident was opened.
    pub const INCIDENT: &str = "incident.opened";
    /// The reconciler found privileged access Warden did not grant.
    pub const DRIFT: &str = "reconcile.finding";
    /// Rotating a vaulted password keeps failing.
    pub const ROTATION_FAILING: &str = "vault.rotation_failing";

    /// Every event, for configuration checks.
    pub const ALL: [&str; 13] = [
        NEEDS_APPROVAL,
        APPROVED,
        DENIED,
        TIMED_OUT,
        GRANTED,
        EXPIRING,
        REVOKED,
        FAILING,
        BREAKGLASS,
        REVIEW_DUE,
        INCIDENT,
        DRIFT,
        ROTATION_FAILING,
    ];
}

/// Something to announce.
#[derive(Debug, Clone)]
pub struct Notice {
    /// One of [`events`].
    pub event: &'static str,
    /// One line for people ("alice was granted admin on payments-db until ...").
    pub summary: String,
    /// The facts, for machines.
    pub data: Value,
    /// E-mail addresses of the people it concerns, for `email` channels with `people`.
    pub people: Vec<String>,
}

impl Notice {
    /// A notice of `event`.
    pub fn new(event: &'static str, summary: impl Into<String>, data: Value) -> Self {
        Self {
            event,
            summary: summary.into(),
            data,
            people: Vec::new(),
        }
    }

    /// The notice, also addressed to `people` (e-mail addresses).
    pub fn to(mut self, people: impl IntoIterator<Item = String>) -> Self {
        self.people.extend(people);
        self.people.sort();
        self.people.dedup();
        self
    }
}

/// The outbox messages of `notice`: one for each channel that receives its event.
pub fn messages(
    config: &NotificationsConfig,
    notice: &Notice,
    now: OffsetDateTime,
) -> Vec<OutboxMessage> {
    config
        .channel
        .iter()
        .filter(|c| c.events.is_empty() || c.events.iter().any(|e| e == notice.event))
        .map(|c| {
            let id = warden_core::clock::id_at(now);
            let payload = json!({
                "id": id,
                "event": notice.event,
                "at": now.format(&Rfc3339).unwrap_or_default(),
                "summary": notice.summary,
                "data": notice.data,
                "people": notice.people,
            });
            OutboxMessage {
                id,
                channel: c.name.clone(),
                event: notice.event.to_owned(),
                payload: payload.to_string(),
                created_at: now,
            }
        })
        .collect()
}

/// The messages of several notices.
pub fn all_messages(
    config: &NotificationsConfig,
    notices: &[Notice],
    now: OffsetDateTime,
) -> Vec<OutboxMessage> {
    notices
        .iter()
        .flat_map(|n| messages(config, n, now))
        .collect()
}
