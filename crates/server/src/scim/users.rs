//! `/scim/v2/Users`: identities pushed by an identity provider or HR system. Every write
//! is planned by the shared joiner/mover/leaver planner and committed with its audit
//! event, target jobs and birthright changes in one transaction, so a person created,
//! moved or deactivated over SCIM gets exactly what an HR file would give them. PATCH is
//! applied to the rendered resource and the result treated as a PUT; DELETE is a leaver
//! whose record is then hidden from SCIM (see [`super::snapshot`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;
use warden_core::audit::Action;
use warden_core::identity::{EmploymentStatus, HrRecord, Identity};
use warden_store::{GroupWrite, IdentityFilter};

use super::docs::{ProjectionParams, ScimPatchOp, ScimUser, UserListParams};
use super::error::{ScimError, ScimErrorBody};
use super::filter::Filter;
use super::http::{
    ListQuery, ScimBody, ScimCaller, created, list_response, no_content, parse_id, scim_json,
};
use super::schema::ResourceSchema;
use super::user_map::{
    CASE_EXACT, EMPLOYEE_NUMBER, FILTERABLE, Parsed, Refs, parse, prefer_patched_name, render,
};
use super::{patch, users_path};
use warden_app::auth::Caller;
use warden_app::service::directory::Context;
use warden_app::service::scim::{Changes, DELETED, Reader, SOURCE, Snapshot, employee_ids};
use warden_app::state::AppState;

/// Users matching `filter`, a page at a time.
#[utoipa::path(operation_id = "scim_list_users", get, path = "/scim/v2/Users", tag = "scim", security(("bearer" = [])),
    params(UserListParams),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "A ListResponse of Users"),
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
    let (identities, refs) = match candidates(&reader, query.filter.as_ref()).await? {
        Some(found) => {
            let refs = Refs::for_users(&reader, &found).await?;
            (found, refs)
        }
        None => {
            let identities = reader.identities().await?;
            let refs = Refs::new(&identities, &reader.groups().await?);
            (identities, refs)
        }
    };
    let mut visible: Vec<&Identity> = identities.iter().filter(|i| i.source == SOURCE).collect();
    visible.sort_by_key(|i| i.id);
    let resources = visible
        .into_iter()
        .map(|i| render(i, &refs))
        .filter(|r| {
            query
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(r, &CASE_EXACT))
        })
        .collect();
    Ok(list_response(resources, &query))
}

/// When the filter pins a looked-up attribute (`userName`, `id`, `externalId` or the
/// employee number), the few identities that can match, read by that attribute; the whole
/// filter is still applied to them. Identity providers ask `userName eq` before each
/// create, so this keeps that question from reading the whole directory.
async fn candidates(
    store: &Reader<'_>,
    filter: Option<&Filter>,
) -> Result<Option<Vec<Identity>>, ScimError> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let found = if let Some(name) = filter.equals("username") {
        store
            .find_identities(IdentityFilter::Username(&name.to_lowercase()))
            .await?
    } else if let Some(id) = filter.equals("id") {
        match Uuid::parse_str(id) {
            Ok(id) => store.find_identities(IdentityFilter::Id(id)).await?,
            Err(_) => Vec::new(),
        }
    } else if let Some(external) = filter.equals("externalid") {
        store
            .find_identities(IdentityFilter::ExternalId(external))
            .await?
    } else if let Some(number) = filter.equals(EMPLOYEE_NUMBER) {
        store
            .find_identities(IdentityFilter::EmployeeId(number))
            .await?
    } else {
        return Ok(None);
    };
    Ok(Some(found))
}

/// Creates a user: a joiner (or a rejoiner, when a user deleted over SCIM comes back with
/// the same employeeNumber).
#[utoipa::path(operation_id = "scim_create_user", post, path = "/scim/v2/Users", tag = "scim", security(("bearer" = [])),
    request_body(description = "A User with the enterprise extension", content((ScimUser = "application/scim+json"), (ScimUser = "application/json"))),
    responses(
        (status = 201, body = Object, content_type = "application/scim+json", description = "The User created"),
        (status = 409, description = "A unique attribute is taken (`scimType` uniqueness).", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let snapshot = Snapshot::load(&state, &caller).await?;
    let parsed = parse(&body, None, &snapshot)?;
    let revived = claim(&snapshot, &parsed.record)?;
    let parsed = match revived {
        Some(old) => parse(&body, Some(old), &snapshot)?,
        None => parsed,
    };
    let id = write(
        &state,
        &caller,
        &snapshot,
        revived,
        parsed,
        "scim POST /Users",
    )
    .await?;
    let user = read(&Reader::open(&state, &caller).await?, id).await?;
    Ok(created(&user, &users_path(id)))
}

/// One user.
#[utoipa::path(operation_id = "scim_get_user", get, path = "/scim/v2/Users/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id"), ProjectionParams),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "The User"),
        (status = 404, description = "No such User.", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Response, ScimError> {
    let reader = Reader::open(&state, &caller).await?;
    let id = parse_id("User", &id)?;
    let mut user = read(&reader, id).await?;
    query.projection.apply(&mut user);
    Ok(scim_json(StatusCode::OK, &user))
}

/// Replaces a user. Attributes left out are cleared; a change of department, title,
/// manager, type or activity is a mover or a leaver, as from an HR file.
#[utoipa::path(operation_id = "scim_replace_user", put, path = "/scim/v2/Users/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body(description = "The whole User", content((ScimUser = "application/scim+json"), (ScimUser = "application/json"))),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "The User as stored"),
        (status = 404, description = "No such User.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "A unique attribute is taken (`scimType` uniqueness).", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = parse_id("User", &id)?;
    let snapshot = Snapshot::load(&state, &caller).await?;
    let old = snapshot
        .user(id)
        .ok_or_else(|| ScimError::not_found(format!("User {id}")))?;
    let parsed = parse(&body, Some(old), &snapshot)?;
    let cause = format!("scim PUT /Users/{id}");
    write(&state, &caller, &snapshot, Some(old), parsed, &cause).await?;
    Ok(scim_json(
        StatusCode::OK,
        &read(&Reader::open(&state, &caller).await?, id).await?,
    ))
}

/// Changes a user with PATCH operations (with paths, or with an object of attributes),
/// then stores the result as a PUT would.
#[utoipa::path(operation_id = "scim_patch_user", patch, path = "/scim/v2/Users/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body(description = "A PatchOp", content((ScimPatchOp = "application/scim+json"), (ScimPatchOp = "application/json"))),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "The User as stored"),
        (status = 404, description = "No such User.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "A unique attribute is taken (`scimType` uniqueness).", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = parse_id("User", &id)?;
    let operations = patch::parse(&body)?;
    let snapshot = Snapshot::load(&state, &caller).await?;
    let old = snapshot
        .user(id)
        .ok_or_else(|| ScimError::not_found(format!("User {id}")))?;
    let mut user = render(old, &Refs::new(&snapshot.identities, &snapshot.groups));
    let touched = patch::apply(&mut user, &operations, ResourceSchema::user())?;
    prefer_patched_name(&mut user, &touched);
    let parsed = parse(&user, Some(old), &snapshot)?;
    let cause = format!("scim PATCH /Users/{id}");
    write(&state, &caller, &snapshot, Some(old), parsed, &cause).await?;
    Ok(scim_json(
        StatusCode::OK,
        &read(&Reader::open(&state, &caller).await?, id).await?,
    ))
}

/// Deletes a user: a leaver (access removed, account disabled, tokens revoked, target
/// jobs queued), out of every group, and no longer visible over SCIM.
#[utoipa::path(operation_id = "scim_delete_user", delete, path = "/scim/v2/Users/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such User.", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    ScimCaller(caller): ScimCaller,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let id = parse_id("User", &id)?;
    let snapshot = Snapshot::load(&state, &caller).await?;
    let old = snapshot
        .user(id)
        .ok_or_else(|| ScimError::not_found(format!("User {id}")))?;
    let live = state.policy();
    let actor = caller.actor();
    let cause = format!("scim DELETE /Users/{id}");
    let ctx = Context {
        old_policy: &live.policy,
        new_policy: &live.policy,
        now: state.clock().now(),
        actor: &actor,
        cause: &cause,
    };
    let mut changes = Changes::new(&ctx, &snapshot);
    for group in snapshot.groups.iter().filter(|g| g.members.contains(&id)) {
        let members: Vec<Uuid> = group.members.iter().copied().filter(|m| *m != id).collect();
        changes.group(GroupWrite {
            id: group.id,
            display_name: group.display_name.clone(),
            external_id: group.external_id.clone(),
            members: Some(members),
            is_new: false,
            expected_updated_at: Some(group.updated_at),
        });
        let event = changes
            .event(Action::GroupChange)
            .target(format!("group:{}", group.id))
            .detail("display_name", group.display_name.as_str())
            .detail("operation", "member deleted")
            .detail("members_removed", employee_ids(&snapshot, &[id]));
        changes.push_event(event);
    }
    let record = HrRecord {
        status: EmploymentStatus::Terminated,
        groups: Default::default(),
        ..old.hr.clone()
    };
    changes.person(Some(old), record, DELETED, old.external_id.clone());
    changes.commit(&state).await?;
    Ok(no_content())
}

/// Whether a new user's userName and employeeNumber are free. A user deleted over SCIM
/// with the same employeeNumber is revived (and returned); anything else is a conflict.
fn claim<'a>(snapshot: &'a Snapshot, record: &HrRecord) -> Result<Option<&'a Identity>, ScimError> {
    let by_name = snapshot
        .identities
        .iter()
        .find(|i| i.hr.username == record.username);
    let by_number = snapshot
        .identities
        .iter()
        .find(|i| i.hr.employee_id == record.employee_id);
    let owner = |i: &Identity| match i.source.as_str() {
        SOURCE => String::new(),
        DELETED => " by a deleted user".to_owned(),
        other => format!(" by an identity from {other}"),
    };
    match (by_name, by_number) {
        (None, None) => Ok(None),
        (Some(a), Some(b)) if a.id == b.id && a.source == DELETED => Ok(Some(a)),
        (None, Some(b)) if b.source == DELETED => Ok(Some(b)),
        (Some(a), _) => Err(ScimError::taken(format!(
            "userName {} is already taken{}{}",
            record.username,
            owner(a),
            if a.source == DELETED {
                format!(" whose employeeNumber is {}", a.hr.employee_id)
            } else {
                String::new()
            },
        ))),
        (None, Some(b)) => Err(ScimError::taken(format!(
            "employeeNumber {} is already taken{}",
            record.employee_id,
            owner(b)
        ))),
    }
}

/// Plans and commits one person; returns their id.
async fn write(
    state: &AppState,
    caller: &Caller,
    snapshot: &Snapshot,
    old: Option<&Identity>,
    parsed: Parsed,
    cause: &str,
) -> Result<Uuid, ScimError> {
    if let Some(other) = snapshot
        .identities
        .iter()
        .find(|i| i.hr.username == parsed.record.username && Some(i.id) != old.map(|o| o.id))
    {
        return Err(ScimError::taken(format!(
            "userName {} is already taken{}",
            parsed.record.username,
            if other.source == SOURCE {
                String::new()
            } else {
                format!(" by an identity from {}", other.source)
            }
        )));
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
    let (id, _) = changes.person(old, parsed.record, SOURCE, parsed.external_id);
    changes.commit(state).await?;
    id.ok_or_else(|| {
        ScimError::status(StatusCode::INTERNAL_SERVER_ERROR, "the user was not stored")
    })
}

/// A visible user, rendered.
async fn read(reader: &Reader<'_>, id: Uuid) -> Result<serde_json::Value, ScimError> {
    let found = reader
        .find_identities(IdentityFilter::Id(id))
        .await?
        .into_iter()
        .find(|i| i.source == SOURCE);
    let identity = found.ok_or_else(|| ScimError::not_found(format!("User {id}")))?;
    let refs = Refs::for_users(reader, std::slice::from_ref(&identity)).await?;
    Ok(render(&identity, &refs))
}
