//! The SCIM User resource and Warden's identity, both ways. Rendering gives the JSON that
//! GET returns (and that PATCH operations are applied to); parsing reads a full User as
//! PUT and POST send it (and as PATCH produces it) into an HR record, checked as strictly
//! as an HR file row.
//!
//! `userName` is the user name (lower-cased), the enterprise `employeeNumber` the
//! employee id, `title` the job function, `userType` the identity kind, `active: false`
//! a leaver; the manager is referred to by its SCIM id and stored as its employee id.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;
use warden_core::Username;
use warden_core::identity::{EmployeeId, EmploymentStatus, HrRecord, Identity, IdentityKind};
use warden_store::{Group, IdentityFilter};

use super::error::{ScimError, ScimType};
use super::http::{get, timestamp};
use super::{ENTERPRISE_USER, USER_SCHEMA, groups, users_path};
use warden_app::hr_file::valid_email;
use warden_app::service::scim::{Reader, Snapshot};

/// Attributes a user filter may compare (lower-case dotted names).
pub const FILTERABLE: [&str; 9] = [
    "id",
    "username",
    "externalid",
    "displayname",
    "emails",
    "emails.value",
    "active",
    EMPLOYEE_NUMBER,
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department",
];

/// Attributes compared case-exactly.
pub const CASE_EXACT: [&str; 3] = ["id", "externalid", EMPLOYEE_NUMBER];

/// The dotted name of the enterprise employee number (case-exact, like employee ids).
pub const EMPLOYEE_NUMBER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeenumber";

/// The longest free-text value (as in HR files).
const MAX_TEXT: usize = 200;
/// The longest external id.
const MAX_EXTERNAL_ID: usize = 256;

/// What a rendered user refers to: group ids by name, and managers by employee id.
#[derive(Debug, Default)]
pub struct Refs {
    groups: HashMap<String, Uuid>,
    people: HashMap<String, (Uuid, String)>,
}

impl Refs {
    /// From a whole directory already read.
    pub fn new(identities: &[Identity], groups: &[Group]) -> Self {
        Self {
            groups: groups
                .iter()
                .map(|g| (g.display_name.clone(), g.id))
                .collect(),
            people: identities
                .iter()
                .map(|i| {
                    (
                        i.hr.employee_id.to_string(),
                        (i.id, i.hr.display_name.clone()),
                    )
                })
                .collect(),
        }
    }

    /// What a few users refer to, read from the store (their groups and managers).
    pub async fn for_users(store: &Reader<'_>, identities: &[Identity]) -> Result<Self, ScimError> {
        let groups = if identities.iter().all(|i| i.hr.groups.is_empty()) {
            Vec::new()
        } else {
            store.groups().await?
        };
        let mut refs = Self::new(&[], &groups);
        for manager in identities.iter().filter_map(|i| i.hr.manager.as_ref()) {
            if refs.people.contains_key(manager.as_str()) {
                continue;
            }
            let found = store
                .find_identities(IdentityFilter::EmployeeId(manager.as_str()))
                .await?;
            if let Some(m) = found.first() {
                refs.people
                    .insert(manager.to_string(), (m.id, m.hr.display_name.clone()));
            }
        }
        Ok(refs)
    }
}

/// The User resource of an identity.
pub fn render(identity: &Identity, refs: &Refs) -> Value {
    let hr = &identity.hr;
    let location = users_path(identity.id);
    let mut enterprise = Map::new();
    enterprise.insert("employeeNumber".to_owned(), json!(hr.employee_id.as_str()));
    if let Some(department) = &hr.department {
        enterprise.insert("department".to_owned(), json!(department));
    }
    if let Some((id, name)) = hr
        .manager
        .as_ref()
        .and_then(|m| refs.people.get(m.as_str()))
    {
        enterprise.insert(
            "manager".to_owned(),
            json!({"value": id, "$ref": users_path(*id), "displayName": name}),
        );
    }
    let member_of: Vec<Value> = hr
        .groups
        .iter()
        .filter_map(|name| refs.groups.get(name).map(|id| (name, id)))
        .map(|(name, id)| json!({"value": id, "$ref": groups::location(*id), "display": name, "type": "direct"}))
        .collect();
    let mut user = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER],
        "id": identity.id,
        "userName": hr.username.as_str(),
        "name": {"formatted": hr.display_name},
        "displayName": hr.display_name,
        "emails": [{"value": hr.email, "type": "work", "primary": true}],
        "active": hr.status != EmploymentStatus::Terminated,
        "userType": hr.kind.as_str(),
        "groups": member_of,
        ENTERPRISE_USER: enterprise,
        "meta": {
            "resourceType": "User",
            "created": timestamp(identity.created_at),
            "lastModified": timestamp(identity.updated_at),
            "location": location,
        },
    });
    if let Value::Object(map) = &mut user {
        if let Some(external) = &identity.external_id {
            map.insert("externalId".to_owned(), json!(external));
        }
        if let Some(title) = &hr.job_function {
            map.insert("title".to_owned(), json!(title));
        }
    }
    user
}

/// A user as sent, read into an HR record.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The record to plan.
    pub record: HrRecord,
    /// `externalId`.
    pub external_id: Option<String>,
}

/// Text of an optional string attribute: trimmed, empty and `null` meaning absent.
fn text(value: Option<&Value>, field: &str) -> Result<Option<String>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(other) => Err(ScimError::invalid(format!(
            "{field} must be a string, not {other}"
        ))),
    }
}

/// Free text bounded like HR file fields.
fn label(value: Option<String>, field: &str, max: usize) -> Result<Option<String>, ScimError> {
    match value {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(ScimError::invalid(format!(
                "{field} must be at most {max} characters without control characters"
            )))
        }
        other => Ok(other),
    }
}

fn object<'a>(
    value: Option<&'a Value>,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(ScimError::invalid(format!(
            "{field} must be an object, not {other}"
        ))),
    }
}

/// `true`, `false`, or their text in any case (Entra ID sends `"False"`).
fn boolean(value: Option<&Value>, field: &str) -> Result<Option<bool>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(ScimError::invalid(format!(
            "{field} must be true or false, not {other}"
        ))),
    }
}

/// The primary e-mail address, else the first.
fn email(map: &Map<String, Value>) -> Result<String, ScimError> {
    let list = match get(map, "emails") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => {
            return Err(ScimError::invalid(format!(
                "emails must be a list, not {other}"
            )));
        }
    };
    let primary = |v: &Value| {
        v.as_object()
            .is_some_and(|o| matches!(boolean(get(o, "primary"), "primary"), Ok(Some(true))))
    };
    let chosen = list
        .iter()
        .copied()
        .find(|v| primary(v))
        .or_else(|| list.first().copied());
    let value = match chosen {
        Some(Value::Object(o)) => text(get(o, "value"), "emails.value")?,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(other) => {
            return Err(ScimError::invalid(format!(
                "emails must hold objects, not {other}"
            )));
        }
        None => None,
    };
    let value =
        value.ok_or_else(|| ScimError::invalid("emails: a user needs an e-mail address"))?;
    if !valid_email(&value) {
        return Err(ScimError::invalid(format!(
            "emails: {value:?} is not an e-mail address"
        )));
    }
    Ok(value)
}

/// The full name: `displayName`, else `name.formatted`, else given and family names.
fn display_name(map: &Map<String, Value>) -> Result<String, ScimError> {
    let name = object(get(map, "name"), "name")?;
    let part = |key: &str| -> Result<Option<String>, ScimError> {
        name.map_or(Ok(None), |n| text(get(n, key), &format!("name.{key}")))
    };
    let joined = [part("givenName")?, part("familyName")?]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let chosen = match text(get(map, "displayName"), "displayName")? {
        Some(d) => Some(d),
        None => part("formatted")?.or_else(|| (!joined.is_empty()).then_some(joined)),
    };
    let chosen =
        chosen.ok_or_else(|| ScimError::invalid("a user needs a displayName or a name"))?;
    label(Some(chosen), "displayName", MAX_TEXT).map(Option::unwrap_or_default)
}

/// The manager's SCIM id (`{"value": id}` or the bare id) resolved to its employee id.
fn manager(
    enterprise: Option<&Map<String, Value>>,
    person: &EmployeeId,
    snapshot: &Snapshot,
) -> Result<Option<EmployeeId>, ScimError> {
    let raw = match enterprise.and_then(|e| get(e, "manager")) {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => text(get(m, "value"), "manager.value")?,
        Some(v @ Value::String(_)) => text(Some(v), "manager")?,
        Some(other) => {
            return Err(ScimError::invalid(format!(
                "manager must be an object with a value, not {other}"
            )));
        }
    };
    let Some(raw) = raw else { return Ok(None) };
    let found = Uuid::parse_str(&raw)
        .ok()
        .and_then(|id| snapshot.identity(id));
    let Some(found) = found else {
        return Err(ScimError::invalid(format!(
            "manager {raw:?} is not the id of a user"
        )));
    };
    let manager = found.hr.employee_id.clone();
    if &manager == person {
        return Err(ScimError::invalid("a user cannot be their own manager"));
    }
    if snapshot.manager_loops(person, &manager) {
        return Err(ScimError::invalid(format!(
            "manager {raw}: {person} would end up managing themselves through the chain of managers"
        )));
    }
    Ok(Some(manager))
}

/// Reads a User into an HR record. `old` is the stored identity for PUT and PATCH (and a
/// deleted one being revived); attributes SCIM does not carry (location, dates, groups)
/// are kept from it.
pub fn parse(
    body: &Value,
    old: Option<&Identity>,
    snapshot: &Snapshot,
) -> Result<Parsed, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "a User is a JSON object",
        ));
    };
    let raw_name = text(get(map, "userName"), "userName")?
        .ok_or_else(|| ScimError::invalid("userName is required"))?;
    let username = Username::parse(&raw_name.to_lowercase())
        .map_err(|e| ScimError::invalid(format!("userName {raw_name:?}: {e}")))?;
    let external_id = label(
        text(get(map, "externalId"), "externalId")?,
        "externalId",
        MAX_EXTERNAL_ID,
    )?;
    let enterprise = object(get(map, ENTERPRISE_USER), ENTERPRISE_USER)?;
    let ext_text = |key: &str| enterprise.map_or(Ok(None), |e| text(get(e, key), key));

    let number = ext_text("employeeNumber")?;
    let employee_id = match (old, number) {
        (Some(old), None) => old.hr.employee_id.clone(),
        (Some(old), Some(n)) if n == old.hr.employee_id.as_str() => old.hr.employee_id.clone(),
        (Some(old), Some(n)) => {
            return Err(ScimError::bad(
                ScimType::Mutability,
                format!("employeeNumber cannot change ({} to {n}); it is the person's key in Warden", old.hr.employee_id),
            ));
        }
        (None, Some(n)) => EmployeeId::parse(&n).map_err(|e| ScimError::invalid(format!("employeeNumber {n:?}: {e}")))?,
        (None, None) => external_id.as_deref().and_then(|x| EmployeeId::parse(x).ok()).ok_or_else(|| {
            ScimError::invalid(format!(
                "a new user needs employeeNumber in {ENTERPRISE_USER} (or an externalId usable as one: \
                 letters, digits, '.', '_', '-')"
            ))
        })?,
    };

    let active = boolean(get(map, "active"), "active")?.unwrap_or(true);
    let status = match (active, old.map(|o| o.hr.status)) {
        (false, _) => EmploymentStatus::Terminated,
        (true, Some(EmploymentStatus::Leave)) => EmploymentStatus::Leave,
        (true, _) => EmploymentStatus::Active,
    };
    let kind = match text(get(map, "userType"), "userType")? {
        None => IdentityKind::Employee,
        Some(t) => IdentityKind::parse(&t.to_ascii_lowercase()).ok_or_else(|| {
            ScimError::invalid(format!(
                "userType {t:?} is not one of Employee, Contractor, Vendor, Service"
            ))
        })?,
    };
    let record = HrRecord {
        manager: manager(enterprise, &employee_id, snapshot)?,
        employee_id,
        username,
        email: email(map)?,
        display_name: display_name(map)?,
        department: label(ext_text("department")?, "department", MAX_TEXT)?,
        job_function: label(text(get(map, "title"), "title")?, "title", MAX_TEXT)?,
        location: old.and_then(|o| o.hr.location.clone()),
        status,
        kind,
        start_date: old.and_then(|o| o.hr.start_date),
        end_date: old.and_then(|o| o.hr.end_date),
        groups: old.map(|o| o.hr.groups.clone()).unwrap_or_default(),
    };
    Ok(Parsed {
        record,
        external_id,
    })
}

/// After a PATCH that changed `name.formatted` but not `displayName`, drops the rendered
/// `displayName` so the new formatted name wins. Given and family names alone do not
/// change the display name: Warden does not store them, so half a name could not be
/// joined with the other half.
pub fn prefer_patched_name(user: &mut Value, touched: &std::collections::BTreeSet<String>) {
    if !touched.contains("name.formatted") || touched.contains("displayname") {
        return;
    }
    if let Value::Object(map) = user
        && let Some(key) = super::http::key_of(map, "displayName")
    {
        map.remove(&key);
    }
}
