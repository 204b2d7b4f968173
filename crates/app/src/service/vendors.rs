//! Sponsored vendor accounts. A sponsor (a current employee) creates the vendor: an
//! identity of kind vendor whose HR manager is the sponsor and whose last day is the end
//! of the sponsorship, and a Warden account that stays disabled until a grant of the
//! vendor's runs. The sponsor then requests access on the vendor's behalf; policy routes
//! it to the sponsor's manager and security. [`sweep`] keeps the account in step with the
//! vendor's grants: enabled while one runs, disabled with its tokens revoked when the last
//! ends, and deleted with the identity once the retention period after that has passed.

use crate::service::error::Failure;
use time::Duration;
use uuid::Uuid;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::authz::{self, Operation, Relation};
use warden_core::identity::{EmployeeId, EmploymentStatus, HrRecord, Identity, IdentityKind};
use warden_core::request::RequestState;
use warden_core::secret::{SecretString, generate_password};
use warden_core::{ScopeSet, Username};
use warden_store::{ChangeSet, GrantFilter, NewUser, StoredVendor};

use super::access::find as find_identity;
use super::directory::{Context, plan};
use super::{check_label, employee_id_of, identity_by_id as identity};
use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// Where vendor identities come from.
pub const SOURCE: &str = "sponsor";

/// A vendor to create, sponsored by the caller.
#[derive(Debug, Clone)]
pub struct Create {
    /// The vendor's Warden user name, as given.
    pub username: String,
    /// Full name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// The vendor's company.
    pub company: String,
    /// How many days the sponsorship lasts (30 when absent).
    pub days: Option<u32>,
}

/// A sponsored vendor: its identity, its record as a vendor, and its sponsor.
#[derive(Debug, Clone)]
pub struct Vendor {
    /// The vendor's identity.
    pub identity: Identity,
    /// The vendor as stored.
    pub vendor: StoredVendor,
    /// The sponsor's employee id, or `(deleted)`.
    pub sponsor: String,
    /// The sponsor's name, if the sponsor still exists.
    pub sponsor_name: Option<String>,
    /// Whether the vendor's Warden account is enabled.
    pub active: bool,
}

/// A vendor created, with its account's password (given once).
#[derive(Debug, Clone)]
pub struct Created {
    /// The vendor.
    pub vendor: Vendor,
    /// The initial password.
    pub initial_password: SecretString,
}

/// The vendor `v` with its identity and sponsor; `None` when its identity is gone.
async fn view(state: &AppState, v: &StoredVendor) -> Result<Option<Vendor>, ServiceError> {
    let Some(who) = identity(state, v.identity_id).await? else {
        return Ok(None);
    };
    let sponsor = employee_id_of(state, v.sponsor_id).await?;
    let active = state
        .store()
        .user_by_name(&who.hr.username)
        .await?
        .is_some_and(|u| !u.disabled);
    Ok(Some(Vendor {
        identity: who,
        vendor: v.clone(),
        sponsor,
        sponsor_name: super::name_of(state, v.sponsor_id).await?,
        active,
    }))
}

/// Creates a vendor sponsored by the caller.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: Create,
) -> Result<Created, ServiceError> {
    // The vendor will be in the caller's charge: its sponsor is its HR manager.
    super::authz::require(
        state,
        caller,
        Operation::VendorCreate,
        Relation::Subordinate,
    )
    .await?;
    let sponsor = find_identity(state, caller.user.username.as_str())
        .await?
        .ok_or_else(|| {
            ServiceError::new(
                Failure::Forbidden,
                format!(
                    "user {} has no identity in the directory",
                    caller.user.username
                ),
            )
        })?;
    let now = state.clock().now();
    let today = now.date();
    if sponsor.hr.kind != IdentityKind::Employee || !sponsor.hr.is_current(today) {
        return Err(ServiceError::new(
            Failure::Forbidden,
            "only current employees sponsor vendors",
        ));
    }
    let details = check_create(state, req)?;
    let record = vendor_record(&details, &sponsor, today)?;
    let employee_id = record.employee_id.clone();
    let _turn = state.directory_turn().await;
    let live = state.policy();
    let actor = caller.actor();
    let cause = format!("sponsored by {}", sponsor.hr.employee_id);
    let ctx = Context {
        old_policy: &live.policy,
        new_policy: &live.policy,
        now,
        actor: &actor,
        cause: &cause,
    };
    let planned = plan(&ctx, None, &[], record, SOURCE, None)
        .ok_or_else(|| ServiceError::internal("a new vendor planned no change"))?;
    let mut changes = ChangeSet {
        at: Some(now),
        ..Default::default()
    };
    changes.jobs.extend(planned.jobs);
    changes.events.extend(planned.event);
    let identity_id = planned.write.identity.id;
    changes.identities.push(planned.write);
    changes.events.push(
        AuditEvent::new(now, caller.actor(), Action::VendorCreate)
            .target(format!("identity:{employee_id}"))
            .detail("username", details.username.as_str())
            .detail("company", details.company.as_str())
            .detail("sponsor", sponsor.hr.employee_id.as_str())
            .detail("days", details.days.to_string()),
    );
    let password = generate_password(24).map_err(ServiceError::internal)?;
    let account = NewUser {
        id: warden_core::clock::id_at(now),
        username: details.username.clone(),
        display_name: details.name,
        password_hash: Some(super::hash_password(password.clone()).await?),
        scopes: ScopeSet::parse(["request"]).map_err(ServiceError::internal)?,
        linked_to_directory: true,
        created_at: now,
    };
    let vendor = StoredVendor {
        identity_id,
        sponsor_id: sponsor.id,
        company: details.company,
        created_at: now,
        deactivated_at: None,
        delete_after: None,
    };
    state
        .store()
        .create_vendor(&changes, &account, &vendor)
        .await?;
    let vendor = view(state, &vendor)
        .await?
        .ok_or_else(|| ServiceError::internal("the vendor just created is missing"))?;
    Ok(Created {
        vendor,
        initial_password: password,
    })
}

/// A vendor to create, its fields checked.
struct VendorDetails {
    /// The vendor's Warden user name.
    username: Username,
    /// Full name.
    name: String,
    /// The vendor's company.
    company: String,
    /// E-mail address.
    email: String,
    /// How many days the sponsorship lasts.
    days: u64,
}

/// Checks the fields of a vendor to create, in the order their errors are reported.
fn check_create(state: &AppState, req: Create) -> Result<VendorDetails, ServiceError> {
    let username = Username::parse(&req.username)
        .map_err(|e| ServiceError::field("username", e.to_string()))?;
    let name = check_label("name", &req.name, 200)?;
    let company = check_label("company", &req.company, 200)?;
    let email = check_label("email", &req.email, 254)?;
    if !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err(ServiceError::field("email", "is not an e-mail address"));
    }
    let max = state.config().grants.vendor_max_days;
    let days = u64::from(req.days.unwrap_or(30));
    if days == 0 || days > max {
        let message = format!("must be between 1 and {max}");
        return Err(if days == 0 {
            ServiceError::field("days", message)
        } else {
            ServiceError::unprocessable("days", message)
        });
    }
    Ok(VendorDetails {
        username,
        name,
        company,
        email,
        days,
    })
}

/// The HR record of a new vendor: a fresh `V-` employee id, managed by its sponsor,
/// current from `today` for the sponsorship's days.
fn vendor_record(
    details: &VendorDetails,
    sponsor: &Identity,
    today: time::Date,
) -> Result<HrRecord, ServiceError> {
    let suffix: String = Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .rev()
        .take(8)
        .collect();
    let employee_id = EmployeeId::parse(&format!("V-{}", suffix.to_ascii_uppercase()))
        .map_err(ServiceError::internal)?;
    Ok(HrRecord {
        employee_id,
        username: details.username.clone(),
        email: details.email.clone(),
        display_name: details.name.clone(),
        department: Some("Vendors".to_owned()),
        job_function: Some(format!("Vendor ({})", details.company)),
        manager: Some(sponsor.hr.employee_id.clone()),
        location: None,
        status: EmploymentStatus::Active,
        kind: IdentityKind::Vendor,
        start_date: Some(today),
        end_date: Some(today + Duration::days(i64::try_from(details.days).unwrap_or(30) - 1)),
        groups: Default::default(),
    })
}

/// The vendors the caller sponsors, or every vendor for administrators and auditors.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Vendor>, ServiceError> {
    let all = authz::allows(Operation::VendorList, &caller.scopes, Relation::Other);
    if !all {
        super::authz::require(state, caller, Operation::VendorList, Relation::Subordinate).await?;
    }
    let me = find_identity(state, caller.user.username.as_str()).await?;
    let mut out = Vec::new();
    for v in state.store().vendors().await? {
        if all || me.as_ref().is_some_and(|m| m.id == v.sponsor_id) {
            out.extend(view(state, &v).await?);
        }
    }
    Ok(out)
}

/// Keeps vendor accounts in step with their grants: enables an account while a grant
/// of the vendor's runs, disables it (revoking its tokens) when none does, and deletes
/// identity and account once the retention period has passed. Returns how many changed.
pub async fn sweep(state: &AppState) -> Result<usize, ServiceError> {
    let now = state.clock().now();
    let retention =
        Duration::days(i64::try_from(state.config().grants.vendor_retention_days).unwrap_or(30));
    let store = state.store();
    let mut changed = 0;
    for v in store.vendors().await? {
        let Some(who) = identity(state, v.identity_id).await? else {
            continue;
        };
        let grants = store
            .list_grants(GrantFilter::Identity(v.identity_id))
            .await?;
        let running = grants
            .iter()
            .any(|g| g.state == RequestState::Active && g.ends_at.is_some_and(|e| e > now));
        let live = grants.iter().any(|g| RequestState::LIVE.contains(&g.state));
        let user = store.user_by_name(&who.hr.username).await?;
        let enabled = user.as_ref().is_some_and(|u| !u.disabled);
        let target = format!("identity:{}", who.hr.employee_id);
        if running && !enabled && who.hr.is_current(now.date()) {
            let event = AuditEvent::new(now, Actor::system(), Action::VendorActivate)
                .target(target)
                .reason("a grant of the vendor's runs");
            store
                .activate_vendor(v.identity_id, who.hr.username.as_str(), now, &event)
                .await?;
            changed += 1;
        } else if !running && enabled {
            let event = AuditEvent::new(now, Actor::system(), Action::VendorDeactivate)
                .target(target)
                .reason("no grant of the vendor's runs")
                .detail("delete_after", (now + retention).to_string());
            store
                .deactivate_vendor(
                    v.identity_id,
                    who.hr.username.as_str(),
                    now,
                    now + retention,
                    &event,
                )
                .await?;
            changed += 1;
        } else if !running && !live {
            // Never activated yet: the deletion clock starts at creation.
            let due = v.delete_after.unwrap_or(v.created_at + retention);
            if now >= due {
                let event = AuditEvent::new(now, Actor::system(), Action::VendorDelete)
                    .target(target)
                    .reason(format!(
                        "retention of {} days passed with no grant running",
                        retention.whole_days()
                    ))
                    .detail("username", who.hr.username.as_str());
                store
                    .delete_vendor(v.identity_id, who.hr.username.as_str(), &event)
                    .await?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}
