//! `/v1/hr`, `/v1/identities`, `/v1/access`: HR sync, identities, access explanations.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use warden_proto::directory::{
    ExplainParams, Explanation, IdentityDetail, IdentityInfo, PersonChange, SyncParams, SyncReport,
};
use warden_proto::problem::Problem;

use crate::auth::Authenticated;
use crate::error::ApiError;
use warden_app::hr_file::HrFormat;
use warden_app::service;
use warden_app::service::hr::SyncOptions;
use warden_app::state::AppState;

/// Syncs the whole HR population from a CSV (header row) or JSON (array) file sent as the
/// body. All or nothing: any problem refuses the file with every problem listed by line
/// or record and field. `dry_run` reports the joiners, movers and leavers without
/// changing anything. Needs `hr:sync`.
#[utoipa::path(operation_id = "hr_sync", post, path = "/v1/hr/sync", tag = "hr", security(("bearer" = [])),
    params(SyncParams),
    request_body(
        description = "The HR file: CSV with a header row, or a JSON array of objects with the same keys",
        content(
            (String = "text/csv"),
            (Vec<Object> = "application/json"),
        ),
    ),
    responses(
        (status = 200, body = SyncReport),
        (status = 409, description = "More than a fifth of the file-synced identities would leave at once (likely a truncated file); sync again with `allow_mass_leave` if it is right.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The file was refused whole, every problem named by line or record and field; nothing changed.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn hr_sync(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(params): Query<SyncParams>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<SyncReport>, ApiError> {
    let format = match params.format.as_deref() {
        Some("csv") => HrFormat::Csv,
        Some("json") => HrFormat::Json,
        Some(other) => {
            return Err(ApiError::field(
                "format",
                format!("{other:?} is not csv or json"),
            ));
        }
        None => match headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
            Some(ct) if ct.starts_with("application/json") => HrFormat::Json,
            _ => HrFormat::Csv,
        },
    };
    let options = SyncOptions {
        format,
        dry_run: params.dry_run,
        allow_mass_leave: params.allow_mass_leave,
    };
    let r = service::hr::sync(&state, &caller, &body, options).await?;
    Ok(Json(SyncReport {
        dry_run: r.dry_run,
        digest: r.digest,
        records: r.records,
        counts: r.counts,
        changes: r.changes.iter().map(person_change).collect(),
        accounts_disabled: r.accounts_disabled,
        tokens_revoked: r.tokens_revoked,
        requests_cancelled: r.requests_cancelled,
        grants_ended: r.grants_ended,
    }))
}

/// The wire form of an identity.
fn identity_info(i: &warden_core::identity::Identity) -> IdentityInfo {
    let hr = &i.hr;
    IdentityInfo {
        id: i.id,
        employee_id: hr.employee_id.to_string(),
        username: hr.username.to_string(),
        email: hr.email.clone(),
        name: hr.display_name.clone(),
        department: hr.department.clone(),
        job_function: hr.job_function.clone(),
        manager: hr.manager.as_ref().map(ToString::to_string),
        location: hr.location.clone(),
        status: hr.status.as_str().to_owned(),
        kind: hr.kind.as_str().to_owned(),
        start_date: hr.start_date.map(|d| d.to_string()),
        end_date: hr.end_date.map(|d| d.to_string()),
        groups: hr.groups.iter().cloned().collect(),
        source: i.source.clone(),
    }
}

/// The wire form of an identity's detail.
fn identity_detail(d: service::access::Detail) -> IdentityDetail {
    use warden_proto::directory::EntitlementInfo;
    IdentityDetail {
        policy_groups: d.policy_groups,
        birthright: d
            .birthright
            .into_iter()
            .map(|a| EntitlementInfo {
                resource: a.resource,
                role: a.role,
                rule: a.rule,
            })
            .collect(),
        eligible: d
            .eligible
            .into_iter()
            .map(|(e, rule)| EntitlementInfo {
                resource: e.resource,
                role: e.role,
                rule,
            })
            .collect(),
        identity: identity_info(&d.identity),
    }
}

/// The wire form of an explanation: the rules tried, after the query's own problems
/// when it has any.
fn explanation(x: service::access::Explained) -> Explanation {
    use warden_proto::directory::RuleTraceInfo;
    let e = x.explanation;
    let mut rules: Vec<RuleTraceInfo> = e
        .candidates
        .into_iter()
        .map(|t| RuleTraceInfo {
            rule: t.rule,
            location: t.location,
            matched: t.matched,
            reasons: t.reasons,
        })
        .collect();
    if !e.reasons.is_empty() {
        rules.insert(
            0,
            RuleTraceInfo {
                rule: "(query)".to_owned(),
                location: String::new(),
                matched: false,
                reasons: e.reasons,
            },
        );
    }
    Explanation {
        eligible: e.eligible.is_some(),
        identity: x.identity.hr.username.to_string(),
        resource: x.resource,
        role: x.role,
        rule: e.eligible.as_ref().map(|el| el.rule.clone()),
        location: e.eligible.as_ref().map(|el| el.location.clone()),
        max_duration_secs: e
            .eligible
            .as_ref()
            .map(|el| el.max_duration.whole_seconds()),
        ticket_required: e.eligible.as_ref().map(|el| el.ticket_required),
        approval: e.eligible.as_ref().map(|el| el.approval.name.clone()),
        route: e.route_text,
        identity_groups: e.identity_groups,
        rules,
    }
}

/// Every identity. Needs `identities:read`.
#[utoipa::path(operation_id = "list_identities", get, path = "/v1/identities", tag = "identities", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<IdentityInfo>),
    ))]
pub async fn list_identities(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<IdentityInfo>>, ApiError> {
    service::access::list(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|identities| Json(identities.iter().map(identity_info).collect()))
}

/// One identity (by user name or employee id) with its policy groups, birthright access
/// and what it may request. One's own, or with `identities:read`.
#[utoipa::path(operation_id = "get_identity", get, path = "/v1/identities/{identity}", tag = "identities", security(("bearer" = [])),
    params(("identity" = String, Path, description = "User name or employee id")),
    responses(
        (status = 200, body = IdentityDetail),
        (status = 404, description = "No such identity.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_identity(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(identity): Path<String>,
) -> Result<Json<IdentityDetail>, ApiError> {
    service::access::detail(&state, &caller, &identity)
        .await
        .map_err(ApiError::from)
        .map(|d| Json(identity_detail(d)))
}

/// Explains whether an identity may request a role on a resource now: the rule that
/// matched, or why each candidate rule failed, and how the request would be approved.
/// One's own, or with `identities:read`.
#[utoipa::path(operation_id = "explain_access", get, path = "/v1/access/explain", tag = "identities", security(("bearer" = [])),
    params(ExplainParams),
    responses(
        (status = 200, body = Explanation),
        (status = 404, description = "No such identity.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The duration is longer than any grant may be.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn explain_access(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(params): Query<ExplainParams>,
) -> Result<Json<Explanation>, ApiError> {
    let params = service::access::Explain {
        identity: params.identity,
        resource: params.resource,
        role: params.role,
        duration: params.duration,
        ticket: params.ticket,
        mfa_age_secs: params.mfa_age_secs,
    };
    service::access::explain(&state, &caller, &params)
        .await
        .map_err(ApiError::from)
        .map(|x| Json(explanation(x)))
}

/// The wire form of what changes for one person.
pub(crate) fn person_change(c: &service::directory::PersonChange) -> PersonChange {
    PersonChange {
        employee_id: c.employee_id.clone(),
        username: c.username.clone(),
        lifecycle: c.lifecycle.clone(),
        attributes: c.attributes.clone(),
        birthright_added: c.birthright_added.clone(),
        birthright_removed: c.birthright_removed.clone(),
        eligibility_added: c.eligibility_added.clone(),
        eligibility_removed: c.eligibility_removed.clone(),
    }
}
