//! `/scim/v2/Groups`: groups pushed by an identity provider. Membership is an attribute
//! of each member's identity (policy groups select on it with `external = "…"`), so a
//! change of members or of the group's name is a mover for every person whose groups
//! change, planned and committed in the same transaction as the group itself and its
//! `group.change` audit event.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;
use warden_core::audit::Action;
use warden_store::{Group, GroupWrite};

use super::docs::{GroupListParams, ProjectionParams, ScimGroup, ScimPatchOp};
use super::error::{ScimError, ScimErrorBody, ScimType};
use super::http::{
    ListQuery, ScimBody, ScimCaller, created, get as attr, list_response, no_content, parse_id,
    scim_json, timestamp,
};
use super::schema::ResourceSchema;
use super::{GROUP_SCHEMA, patch, users_path};
use warden_app::auth::Caller;
use warden_app::service::directory::Context;
use warden_app::service::scim::{Changes, Reader, Snapshot, employee_ids};
use warden_app::state::AppState;

/// Attributes a group filter may compare (lower-case dotted names).
pub(super) const FILTERABLE: [&str; 5] = [
    "id",
    "displayname",
    "externalid",
    "members",
    "members.value",
];
/// Attributes compared case-exactly.
const CASE_EXACT: [&str; 2] = ["id", "externalid"];
/// The longest display name (the column's width).
const MAX_NAME: usize = 256;
/// Members named in one group's audit event; the members' own events name every one.
const MAX_NAMED: usize = 100;

/// Where a group is.
pub fn location(id: Uuid) -> String {
    format!("{}/Groups/{id}", super::BASE)
}

/// The Group resource.
fn render(group: &Group) -> Value {
    let mut members = group.members.clone();
    members.sort();
    let members: Vec<Value> = members
        .into_iter()
        .map(|id| json!({"value": id, "$ref": users_path(id), "type": "User"}))
        .collect();
    let mut out = json!({
        "schemas": [GROUP_SCHEMA],
        "id": group.id,
        "displayName": group.display_name,
        "members": members,
        "meta": {
            "resourceType": "Group",
            "created": timestamp(group.created_at),
            "lastModified": timestamp(group.updated_at),
            "location": location(group.id),
        },
    });
    if let (Some(external), Value::Object(map)) = (&group.external_id, &mut out) {
        map.insert("externalId".to_owned(), json!(external));
    }
    out
}

/// A group as sent.
#[derive(Debug)]
struct GroupInput {
    display_name: String,
    external_id: Option<String>,
    members: BTreeSet<Uuid>,
}

fn parse(body: &Value, snapshot: &Snapshot) -> Result<GroupInput, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "a Group is a JSON object",
        ));
    };
    let text = |key: &str| -> Result<Option<String>, ScimError> {
        match attr(map, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s))
                if s.trim().chars().count() > MAX_NAME || s.chars().any(char::is_control) =>
            {
                Err(ScimError::invalid(format!(
                    "{key} must be at most {MAX_NAME} characters without control characters"
                )))
            }
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(ScimError::invalid(format!(
                "{key} must be a string, not {other}"
            ))),
        }
    };
    let display_name =
        text("displayName")?.ok_or_else(|| ScimError::invalid("displayName is required"))?;
    let external_id = text("externalId")?;
    let items = match attr(map, "members") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => {
            return Err(ScimError::invalid(format!(
                "members must be a list, not {other}"
            )));
        }
    };
    let mut members = BTreeSet::new();
    for item in items {
        let raw = match item {
            Value::Object(m) => {
                if let Some(kind) = attr(m, "type").and_then(Value::as_str)
                    && !kind.eq_ignore_ascii_case("user")
                {
                    return Err(ScimError::invalid(format!(
                        "members: {kind} members are not supported; only Users"
                    )));
                }
                attr(m, "value").and_then(Value::as_str).unwrap_or_default()
            }
            Value::String(s) => s.as_str(),
            other => {
                return Err(ScimError::invalid(format!(
                    "members must hold objects with a value, not {other}"
                )));
            }
        };
        let user = Uuid::parse_str(raw.trim())
            .ok()
            .and_then(|id| snapshot.user(id));
        let Some(user) = user else {
            return Err(ScimError::invalid(format!(
                "members: {raw:?} is not the id of a user"
            )));
        };
        members.insert(user.id);
    }
    Ok(GroupInput {
        display_name,
        external_id,
        members,
    })
}

/// Groups matching `filter`, a page at a time.
#[utoipa::path(operation_id = "scim_list_groups", get, path = "/scim/v2/Groups", tag = "scim", security(("bearer" = [])),
    params(GroupListParams),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "A ListResponse of Groups"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    query: ListQuery,
) -> Result<Response, ScimError> {
    let reader = Reader::open(&state, &caller).await?;
    if let Some(filter) = &query.filter {
        filter.check(&FILTERABLE)?;
    }
    let mut groups = reader.groups().await?;
    groups.sort_by_key(|g| g.id);
    let resources = groups
        .iter()
        .map(render)
        .filter(|r| {
            query
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(r, &CASE_EXACT))
        })
        .collect();
    Ok(list_response(resources, &query))
}

/// Creates a group with its members, each of whom moves.
#[utoipa::path(operation_id = "scim_create_group", post, path = "/scim/v2/Groups", tag = "scim", security(("bearer" = [])),
    request_body(description = "A Group", content((ScimGroup = "application/scim+json"), (ScimGroup = "application/json"))),
    responses(
        (status = 201, body = Object, content_type = "application/scim+json", description = "The Group created"),
        (status = 409, description = "A unique attribute is taken (`scimType` uniqueness).", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let snapshot = Snapshot::load(&state, &caller).await?;
    let input = parse(&body, &snapshot)?;
    let id = state.clock().new_id();
    write(
        &state,
        &caller,
        &snapshot,
        None,
        id,
        input,
        "scim POST /Groups",
    )
    .await?;
    Ok(created(
        &read(&Reader::open(&state, &caller).await?, id).await?,
        &location(id),
    ))
}

/// One group.
#[utoipa::path(operation_id = "scim_get_group", get, path = "/scim/v2/Groups/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "The group's id"), ProjectionParams),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "The Group"),
        (status = 404, description = "No such Group.", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Response, ScimError> {
    let reader = Reader::open(&state, &caller).await?;
    let id = parse_id("Group", &id)?;
    let mut group = read(&reader, id).await?;
    query.projection.apply(&mut group);
    Ok(scim_json(StatusCode::OK, &group))
}

/// Replaces a group: its name, external id and the whole member list.
#[utoipa::path(operation_id = "scim_replace_group", put, path = "/scim/v2/Groups/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "The group's id")),
    request_body(description = "The whole Group", content((ScimGroup = "application/scim+json"), (ScimGroup = "application/json"))),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "The Group as stored"),
        (status = 404, description = "No such Group.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "A unique attribute is taken (`scimType` uniqueness).", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = parse_id("Group", &id)?;
    let snapshot = Snapshot::load(&state, &caller).await?;
    let old = snapshot
        .group(id)
        .ok_or_else(|| ScimError::not_found(format!("Group {id}")))?;
    let input = parse(&body, &snapshot)?;
    write(
        &state,
        &caller,
        &snapshot,
        Some(old),
        id,
        input,
        &format!("scim PUT /Groups/{id}"),
    )
    .await?;
    Ok(scim_json(
        StatusCode::OK,
        &read(&Reader::open(&state, &caller).await?, id).await?,
    ))
}

/// Changes a group with PATCH operations: members added, removed (`members[value eq
/// "…"]`, or `members` with a list) or replaced; the name replaced.
#[utoipa::path(operation_id = "scim_patch_group", patch, path = "/scim/v2/Groups/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "The group's id")),
    request_body(description = "A PatchOp", content((ScimPatchOp = "application/scim+json"), (ScimPatchOp = "application/json"))),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "The Group as stored"),
        (status = 404, description = "No such Group.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "A unique attribute is taken (`scimType` uniqueness).", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = parse_id("Group", &id)?;
    let operations = patch::parse(&body)?;
    let snapshot = Snapshot::load(&state, &caller).await?;
    let old = snapshot
        .group(id)
        .ok_or_else(|| ScimError::not_found(format!("Group {id}")))?;
    let mut group = render(old);
    patch::apply(&mut group, &operations, ResourceSchema::group())?;
    let input = parse(&group, &snapshot)?;
    write(
        &state,
        &caller,
        &snapshot,
        Some(old),
        id,
        input,
        &format!("scim PATCH /Groups/{id}"),
    )
    .await?;
    Ok(scim_json(
        StatusCode::OK,
        &read(&Reader::open(&state, &caller).await?, id).await?,
    ))
}

/// Deletes a group; each member moves out of it.
#[utoipa::path(operation_id = "scim_delete_group", delete, path = "/scim/v2/Groups/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "The group's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such Group.", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let id = parse_id("Group", &id)?;
    let snapshot = Snapshot::load(&state, &caller).await?;
    let old = snapshot
        .group(id)
        .ok_or_else(|| ScimError::not_found(format!("Group {id}")))?;
    let live = state.policy();
    let actor = caller.actor();
    let cause = format!("scim DELETE /Groups/{id}");
    let ctx = Context {
        old_policy: &live.policy,
        new_policy: &live.policy,
        now: state.clock().now(),
        actor: &actor,
        cause: &cause,
    };
    let mut changes = Changes::new(&ctx, &snapshot);
    let (_, left) = changes.regroup(Some(old), &old.display_name, None);
    changes.delete_group(id);
    let event = changes
        .event(Action::GroupChange)
        .target(format!("group:{id}"))
        .detail("display_name", old.display_name.as_str())
        .detail("operation", "delete");
    changes.push_event(with_members(event, &snapshot, "members_removed", &left));
    changes.commit(&state).await?;
    Ok(no_content())
}

/// Stores a group and moves every person whose groups change, in one transaction.
async fn write(
    state: &AppState,
    caller: &Caller,
    snapshot: &Snapshot,
    old: Option<&Group>,
    id: Uuid,
    input: GroupInput,
    cause: &str,
) -> Result<(), ScimError> {
    let lower = input.display_name.to_lowercase();
    if snapshot
        .groups
        .iter()
        .any(|g| g.id != id && g.display_name.to_lowercase() == lower)
    {
        return Err(ScimError::taken(format!(
            "a group named {:?} already exists",
            input.display_name
        )));
    }
    let old_members: BTreeSet<Uuid> = old
        .map(|g| g.members.iter().copied().collect())
        .unwrap_or_default();
    let members_changed = old.is_none() || old_members != input.members;
    if let Some(old) = old
        && !members_changed
        && old.display_name == input.display_name
        && old.external_id == input.external_id
    {
        return Ok(());
    }
    let live = state.policy();
    let actor = caller.actor();
    let ctx = Context {
        old_policy: &live.policy,
        new_policy: &live.policy,
        now: state.clock().now(),
        actor: &actor,
        cause,
    };
    let mut changes = Changes::new(&ctx, snapshot);
    let (joined, left) = changes.regroup(old, &input.display_name, Some(&input.members));
    let mut event = changes
        .event(Action::GroupChange)
        .target(format!("group:{id}"))
        .detail("display_name", input.display_name.as_str())
        .detail("operation", if old.is_some() { "update" } else { "create" })
        .detail("members", input.members.len().to_string());
    if let Some(old) = old.filter(|o| o.display_name != input.display_name) {
        event = event.detail("renamed_from", old.display_name.as_str());
    }
    if let Some(external) = &input.external_id {
        event = event.detail("external_id", external.as_str());
    }
    event = with_members(event, snapshot, "members_added", &joined);
    event = with_members(event, snapshot, "members_removed", &left);
    changes.group(GroupWrite {
        id,
        display_name: input.display_name,
        external_id: input.external_id,
        members: members_changed.then(|| input.members.into_iter().collect()),
        is_new: old.is_none(),
        expected_updated_at: old.map(|g| g.updated_at),
    });
    changes.push_event(event);
    Ok(changes.commit(state).await?)
}

/// Names up to [`MAX_NAMED`] of `ids` (by employee id) under `key`, with their count.
fn with_members(
    event: warden_core::audit::AuditEvent,
    snapshot: &Snapshot,
    key: &str,
    ids: &[Uuid],
) -> warden_core::audit::AuditEvent {
    if ids.is_empty() {
        return event;
    }
    let named = ids.get(..MAX_NAMED).unwrap_or(ids);
    let mut text = employee_ids(snapshot, named);
    if ids.len() > named.len() {
        text.push_str(&format!(" and {} more", ids.len() - named.len()));
    }
    event.detail(key, text)
}

/// A group, rendered.
async fn read(reader: &Reader<'_>, id: Uuid) -> Result<Value, ScimError> {
    let groups = reader.groups().await?;
    let group = groups
        .iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ScimError::not_found(format!("Group {id}")))?;
    Ok(render(group))
}
