//! Audit records as OCSF-shaped JSON: OCSF 1.3 "API Activity" (class 6003, category 6
//! "Application Activity"), the shape every SIEM sink sends.
//!
//! Fields that have no place in the class go to `unmapped`, together with the chain
//! fields (`seq`, `prev_hash`, `hash`), so that a SIEM user can match an event to the same
//! record in a verified export bundle. Absent fields are left out, never `null`.

use serde_json::{Map, Value, json};
use warden_audit::Record;

/// OCSF class "API Activity".
pub const CLASS_UID: u32 = 6003;
/// OCSF category "Application Activity".
pub const CATEGORY_UID: u32 = 6;
/// Activity "Other": the action's name is in `activity_name`.
pub const ACTIVITY_OTHER: u32 = 99;
/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";

/// How much an event matters, as OCSF `severity_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// 1: routine work.
    Informational = 1,
    /// 3: something was refused or failed.
    Medium = 3,
    /// 4: break-glass, incidents, access found outside Warden.
    High = 4,
}

impl Severity {
    /// The OCSF `severity_id`.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The OCSF `severity` caption.
    pub fn caption(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Medium => "Medium",
            Severity::High => "High",
        }
    }
}

/// Whether the record's outcome is a failure.
pub fn is_failure(record: &Record<'_>) -> bool {
    record.outcome == "failure"
}

/// Whether the action is one a security team watches for whatever its outcome:
/// break-glass use, incidents, and access the reconciler found outside Warden.
pub fn is_notable(action: &str) -> bool {
    action.starts_with("breakglass.")
        || action.starts_with("incident.")
        || action.starts_with("reconcile.finding")
}

/// The event's severity: high for notable actions, medium for failures, else
/// informational.
pub fn severity(record: &Record<'_>) -> Severity {
    if is_notable(&record.action) {
        Severity::High
    } else if is_failure(record) {
        Severity::Medium
    } else {
        Severity::Informational
    }
}

/// The OCSF event of `record`; `product_version` is Warden's version.
pub fn event(record: &Record<'_>, product_version: &str) -> Value {
    let (status, status_id) = match record.outcome.as_ref() {
        "success" => ("Success", 1),
        "failure" => ("Failure", 2),
        _ => ("Other", 99),
    };
    let severity = severity(record);
    let mut event = Map::new();
    event.insert("class_uid".into(), json!(CLASS_UID));
    event.insert("class_name".into(), json!("API Activity"));
    event.insert("category_uid".into(), json!(CATEGORY_UID));
    event.insert("category_name".into(), json!("Application Activity"));
    event.insert("activity_id".into(), json!(ACTIVITY_OTHER));
    event.insert("activity_name".into(), json!(record.action));
    event.insert("type_uid".into(), json!(CLASS_UID * 100 + ACTIVITY_OTHER));
    event.insert("time".into(), json!(record.time));
    event.insert(
        "metadata".into(),
        json!({
            "uid": record.id,
            "sequence": record.seq,
            "version": OCSF_VERSION,
            "log_name": "warden.audit",
            "product": {
                "name": "Warden",
                "vendor_name": "Warden",
                "version": product_version,
            },
        }),
    );
    event.insert("api".into(), json!({ "operation": record.action }));
    event.insert("status".into(), json!(status));
    event.insert("status_id".into(), json!(status_id));
    if status_id == 99 {
        event.insert("status_code".into(), json!(record.outcome));
    }
    if let Some(reason) = &record.reason {
        event.insert("status_detail".into(), json!(reason));
    }
    event.insert("severity_id".into(), json!(severity.id()));
    event.insert("severity".into(), json!(severity.caption()));

    let actor = &record.actor;
    let mut actor_json = Map::new();
    if let Some(user) = &actor.user {
        actor_json.insert("user".into(), json!({ "name": user }));
    }
    if let Some(token) = actor.token {
        actor_json.insert("session".into(), json!({ "uid": token }));
    }
    if !actor_json.is_empty() {
        event.insert("actor".into(), Value::Object(actor_json));
    }
    if let Some(ip) = &actor.ip {
        event.insert("src_endpoint".into(), json!({ "ip": ip }));
    }
    if let Some(agent) = &actor.user_agent {
        event.insert("http_request".into(), json!({ "user_agent": agent }));
    }
    if let Some(resource) = &record.resource {
        event.insert(
            "resources".into(),
            json!([{ "name": resource, "type": "resource" }]),
        );
    }
    event.insert("message".into(), json!(message(record)));

    let mut unmapped = Map::new();
    if let Some(target) = &record.target {
        unmapped.insert("target".into(), json!(target));
    }
    if let Some(id) = record.request_id {
        unmapped.insert("request_id".into(), json!(id));
    }
    if let Some(id) = record.grant_id {
        unmapped.insert("grant_id".into(), json!(id));
    }
    if let Some(risk) = record.risk {
        unmapped.insert("risk_score".into(), json!(risk));
    }
    if !record.details.is_empty() {
        unmapped.insert("details".into(), json!(record.details));
    }
    unmapped.insert("seq".into(), json!(record.seq));
    unmapped.insert("prev_hash".into(), json!(record.prev_hash.to_hex()));
    unmapped.insert("hash".into(), json!(record.hash.to_hex()));
    event.insert("unmapped".into(), Value::Object(unmapped));
    Value::Object(event)
}

/// One line for people: who, what, to what, and how it ended
/// (`alice grant.revoke grant:… (success)`). Warden's own work names `warden`.
pub fn message(record: &Record<'_>) -> String {
    let who = record.actor.user.as_deref().unwrap_or("warden");
    let mut line = format!("{who} {}", record.action);
    if let Some(what) = record.target.as_deref().or(record.resource.as_deref()) {
        line.push(' ');
        line.push_str(what);
    }
    line.push_str(&format!(" ({})", record.outcome));
    line.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use uuid::Uuid;
    use warden_audit::{Digest, RecordActor};

    use super::*;

    fn record(action: &str, outcome: &str) -> Record<'static> {
        let mut r = Record {
            seq: 0,
            id: Uuid::from_u128(7),
            time: 1_700_000_000_123,
            actor: RecordActor {
                user: Some("alice".into()),
                token: Some(Uuid::from_u128(9)),
                ip: Some("192.0.2.10".into()),
                user_agent: Some("warden-cli/0.1".into()),
            },
            action: Cow::Owned(action.to_owned()),
            target: Some("grant:1".into()),
            outcome: Cow::Owned(outcome.to_owned()),
            reason: Some("ticket CHG-1".into()),
            resource: Some("pg-prod".into()),
            request_id: Some(Uuid::from_u128(3)),
            grant_id: Some(Uuid::from_u128(1)),
            risk: Some(40),
            details: [("role".into(), "app_read".into())].into_iter().collect(),
            prev_hash: Digest([5; 32]),
            hash: Digest::GENESIS,
        };
        r.seal_after(41, Digest([5; 32]));
        r
    }

    #[test]
    fn a_full_record_maps_every_field() {
        let r = record("grant.revoke", "success");
        let e = event(&r, "9.9.9");
        assert_eq!(
            e,
            json!({
                "class_uid": 6003,
                "class_name": "API Activity",
                "category_uid": 6,
                "category_name": "Application Activity",
                "activity_id": 99,
                "activity_name": "grant.revoke",
                "type_uid": 600399,
                "time": 1_700_000_000_123_i64,
                "metadata": {
                    "uid": "00000000-0000-0000-0000-000000000007",
                    "sequence": 42,
                    "version": "1.3.0",
                    "log_name": "warden.audit",
                    "product": {"name": "Warden", "vendor_name": "Warden", "version": "9.9.9"},
                },
                "api": {"operation": "grant.revoke"},
                "status": "Success",
                "status_id": 1,
                "status_detail": "ticket CHG-1",
                "severity_id": 1,
                "severity": "Informational",
                "actor": {
                    "user": {"name": "alice"},
                    "session": {"uid": "00000000-0000-0000-0000-000000000009"},
                },
                "src_endpoint": {"ip": "192.0.2.10"},
                "http_request": {"user_agent": "warden-cli/0.1"},
                "resources": [{"name": "pg-prod", "type": "resource"}],
                "message": "alice grant.revoke grant:1 (success)",
                "unmapped": {
                    "target": "grant:1",
                    "request_id": "00000000-0000-0000-0000-000000000003",
                    "grant_id": "00000000-0000-0000-0000-000000000001",
                    "risk_score": 40,
                    "details": {"role": "app_read"},
                    "seq": 42,
                    "prev_hash": Digest([5; 32]).to_hex(),
                    "hash": r.hash.to_hex(),
                },
            })
        );
    }

    #[test]
    fn absent_fields_are_left_out() {
        let mut r = Record {
            seq: 1,
            id: Uuid::from_u128(1),
            time: 0,
            actor: RecordActor::default(),
            action: "grant.expired".into(),
            target: None,
            outcome: "success".into(),
            reason: None,
            resource: None,
            request_id: None,
            grant_id: None,
            risk: None,
            details: BTreeMap::new(),
            prev_hash: Digest::GENESIS,
            hash: Digest::GENESIS,
        };
        r.seal_after(0, Digest::GENESIS);
        let e = event(&r, "1");
        for absent in [
            "actor",
            "src_endpoint",
            "http_request",
            "resources",
            "status_detail",
        ] {
            assert!(e.get(absent).is_none(), "{absent} in {e}");
        }
        let unmapped = e["unmapped"].as_object().unwrap();
        let mut keys: Vec<&str> = unmapped.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["hash", "prev_hash", "seq"]);
        assert_eq!(e["message"], "warden grant.expired (success)");
        assert!(!e.to_string().contains("null"));

        // Only a token: the actor has a session and no user.
        r.actor.token = Some(Uuid::from_u128(2));
        let e = event(&r, "1");
        assert!(e["actor"].get("user").is_none());
        assert_eq!(e["actor"]["session"]["uid"], Uuid::from_u128(2).to_string());
    }

    #[test]
    fn severity_follows_outcome_and_action() {
        let cases = [
            ("grant.revoke", "success", 1, "Success", 1),
            ("login", "failure", 3, "Failure", 2),
            ("breakglass.used", "success", 4, "Success", 1),
            ("breakglass.used", "failure", 4, "Failure", 2),
            ("incident.opened", "success", 4, "Success", 1),
            ("reconcile.finding", "success", 4, "Success", 1),
            ("reconcile.run", "success", 1, "Success", 1),
            ("grant.extend", "partial", 1, "Other", 99),
        ];
        for (action, outcome, severity_id, status, status_id) in cases {
            let e = event(&record(action, outcome), "1");
            assert_eq!(e["severity_id"], severity_id, "{action} {outcome}");
            assert_eq!(e["status"], status, "{action} {outcome}");
            assert_eq!(e["status_id"], status_id, "{action} {outcome}");
        }
        assert_eq!(
            event(&record("grant.extend", "partial"), "1")["status_code"],
            "partial"
        );
    }

    #[test]
    fn the_message_is_one_line() {
        let mut r = record("grant.revoke", "success");
        r.target = None;
        r.actor.user = Some("mallory\nroot".into());
        assert_eq!(message(&r), "mallory root grant.revoke pg-prod (success)");
    }
}
