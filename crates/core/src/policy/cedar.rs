//! Cedar conditions of eligibility rules: each `when` becomes
//! `permit(principal, action == Warden::Action::"request", resource) when { ... };`, is
//! parsed and validated in strict mode against Warden's schema (`schema.cedarschema`) when
//! the policy is compiled, and is evaluated against the identity, the resource and the
//! request context on the request path without parsing anything.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    Expression, PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationMode,
    Validator,
};
use time::{Duration, OffsetDateTime};

use super::RequestContext;
use super::model::{Privilege, Resource};
use super::values::{local, weekday_name};
use crate::identity::HrRecord;

/// The schema conditions are checked against.
pub const SCHEMA: &str = include_str!("schema.cedarschema");

/// A compiled `when` condition: its text, for people, and the parsed, validated policy.
#[derive(Clone)]
pub struct Condition {
    text: String,
    policies: Arc<PolicySet>,
    /// Whether evaluation needs the identity's and resource's attributes; conditions on
    /// the context alone skip building entities.
    needs_entities: bool,
}

impl Condition {
    /// Whether evaluating it reads the identity's or the resource's attributes.
    pub fn needs_entities(&self) -> bool {
        self.needs_entities
    }

    /// The condition as written in the policy file, with runs of white space (line breaks
    /// included) shown as one space.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Condition({:?})", self.text)
    }
}

/// Why a `when` condition is refused when the policy is compiled. Cedar's own message is
/// kept, with runs of white space shown as one space; the caller adds the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The condition is blank.
    #[error("`when` must not be empty; leave the key out for no condition")]
    Empty,
    /// The condition is not one Cedar expression.
    #[error("Cedar syntax error in `when`: {0}")]
    Syntax(String),
    /// The condition does not type-check against Warden's schema in strict mode; Cedar's
    /// help follows in parentheses when it has some.
    #[error("Cedar type error in `when`: {0}")]
    Type(String),
    /// The condition could not join the set validated together (its generated id is
    /// taken, which compiling never does).
    #[error("{0}")]
    Set(String),
}

/// Why Cedar could not be given something Warden built: its schema, its names, an entity,
/// a request context, or a condition's evaluation. Cedar's own message is kept, with runs
/// of white space shown as one space.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CedarError {
    /// Warden's schema (`schema.cedarschema`) does not parse: a defect of the build.
    #[error("Warden's Cedar schema does not parse: {0}")]
    Schema(String),
    /// A name Warden spells (an entity type, the `request` action) is not a Cedar name: a
    /// defect of the build.
    #[error("{0}")]
    Name(String),
    /// Warden's Cedar names could not be parsed when the policy was built, so no condition
    /// can be evaluated.
    #[error("Warden's Cedar names are unavailable")]
    NamesUnavailable,
    /// An entity, or the set of the identity and the resource, could not be built.
    #[error("{0}")]
    Entity(String),
    /// The request context could not be built.
    #[error("{0}")]
    Context(String),
    /// The request could not be built from its parties and context.
    #[error("{0}")]
    Request(String),
    /// Evaluating a condition failed (an overflow, a missing attribute); such a condition
    /// never counts as holding.
    #[error("{0}")]
    Evaluation(String),
}

fn error_text(e: &dyn fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses one condition into a Cedar policy with the given id. The text must be a single
/// Cedar expression: it cannot close the `when` block and add clauses or policies.
pub fn parse_condition(id: &str, text: &str) -> Result<cedar_policy::Policy, ConditionError> {
    if text.trim().is_empty() {
        return Err(ConditionError::Empty);
    }
    Expression::from_str(text).map_err(|e| ConditionError::Syntax(error_text(&e)))?;
    let source = format!(
        "permit(principal, action == Warden::Action::\"request\", resource) when {{ {text} }};"
    );
    cedar_policy::Policy::parse(Some(PolicyId::new(id)), source)
        .map_err(|e| ConditionError::Syntax(error_text(&e)))
}

/// Parses Warden's schema.
pub fn schema() -> Result<Schema, CedarError> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| CedarError::Schema(error_text(&e)))
}

/// Validates every parsed condition together in strict mode. Returns the compiled
/// conditions by id, or the errors by id.
pub fn validate(
    schema: Schema,
    parsed: Vec<(String, String, cedar_policy::Policy)>,
) -> Result<HashMap<String, Condition>, Vec<(String, ConditionError)>> {
    let mut set = PolicySet::new();
    let mut errors = Vec::new();
    for (_, _, policy) in &parsed {
        if let Err(e) = set.add(policy.clone()) {
            errors.push((policy.id().to_string(), ConditionError::Set(error_text(&e))));
        }
    }
    let result = Validator::new(schema).validate(&set, ValidationMode::Strict);
    for e in result.validation_errors() {
        // Cedar names the policy; the caller names the file and line instead.
        let internal = format!("for policy `{}`, ", e.policy_id());
        let message = error_text(e).replace(&internal, "");
        let help = miette::Diagnostic::help(e)
            .map(|h| format!(" ({})", error_text(&h).replace(&internal, "")))
            .unwrap_or_default();
        errors.push((
            e.policy_id().to_string(),
            ConditionError::Type(format!("{message}{help}")),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out = HashMap::new();
    for (id, text, policy) in parsed {
        let mut one = PolicySet::new();
        one.add(policy)
            .map_err(|e| vec![(id.clone(), ConditionError::Set(error_text(&e)))])?;
        let needs_entities = mentions_entities(&text);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        out.insert(
            id,
            Condition {
                text,
                policies: Arc::new(one),
                needs_entities,
            },
        );
    }
    Ok(out)
}

/// Whether a condition may read entity data: it names `principal` or `resource`, or holds
/// an entity literal (`::`), outside string literals. Errs on the side of yes; a wrong no
/// would only make the condition fail to evaluate, which counts as false.
fn mentions_entities(text: &str) -> bool {
    let mut rest = text;
    let mut code = String::new();
    // Drop string literals (with their escapes) and comments.
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            let mut escaped = false;
            let mut end = rest.len();
            for (i, ch) in rest.char_indices().skip(1) {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == '"' {
                    end = i + 1;
                    break;
                }
            }
            code.push(' ');
            rest = rest.get(end..).unwrap_or("");
        } else if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            rest = rest.get(end..).unwrap_or("");
        } else {
            code.push(c);
            rest = rest.get(c.len_utf8()..).unwrap_or("");
        }
    }
    code.contains("::")
        || code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|word| word == "principal" || word == "resource")
}

fn uid(type_name: &str, id: &str) -> Result<EntityUid, CedarError> {
    let t = EntityTypeName::from_str(type_name).map_err(|e| CedarError::Name(error_text(&e)))?;
    Ok(EntityUid::from_type_name_and_id(t, EntityId::new(id)))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(string))
}

/// The Cedar entity for a resource; built once when the policy is compiled.
pub fn resource_entity(r: &Resource) -> Result<Entity, CedarError> {
    let attrs = HashMap::from([
        ("name".to_owned(), string(&r.name)),
        ("kind".to_owned(), string(r.kind.as_str())),
        ("connection".to_owned(), string(&r.connection)),
        ("environment".to_owned(), string(&r.environment)),
        (
            "tier".to_owned(),
            RestrictedExpression::new_long(i64::from(r.tier)),
        ),
        ("owner".to_owned(), string(&r.owner.to_string())),
    ]);
    let tags = r.tags.iter().map(|(k, v)| (k.clone(), string(v)));
    Entity::new_with_tags(
        uid("Warden::Resource", &r.name)?,
        attrs,
        HashSet::new(),
        tags,
    )
    .map_err(|e| CedarError::Entity(error_text(&e)))
}

/// Names parsed once, so the request path parses nothing.
#[derive(Debug, Clone)]
pub struct Names {
    identity: EntityTypeName,
    action: EntityUid,
}

impl Names {
    /// Parses the names; fails only if Warden spells one wrong.
    pub fn new() -> Result<Self, CedarError> {
        Ok(Self {
            identity: EntityTypeName::from_str("Warden::Identity")
                .map_err(|e| CedarError::Name(error_text(&e)))?,
            action: uid("Warden::Action", "request")?,
        })
    }

    fn identity(&self, who: &HrRecord) -> EntityUid {
        EntityUid::from_type_name_and_id(
            self.identity.clone(),
            EntityId::new(who.employee_id.as_str()),
        )
    }
}

/// The Cedar entity for an identity, with the names of its policy groups.
pub fn identity_entity(
    names: &Names,
    who: &HrRecord,
    groups: &[&str],
) -> Result<Entity, CedarError> {
    let mut attrs = HashMap::from([
        ("employee_id".to_owned(), string(who.employee_id.as_str())),
        ("username".to_owned(), string(who.username.as_str())),
        ("email".to_owned(), string(&who.email)),
        ("status".to_owned(), string(who.status.as_str())),
        ("kind".to_owned(), string(who.kind.as_str())),
        ("groups".to_owned(), strings(groups.iter().copied())),
        (
            "hr_groups".to_owned(),
            strings(who.groups.iter().map(String::as_str)),
        ),
    ]);
    for name in ["department", "job_function", "manager", "location"] {
        if let Some(v) = who.attribute(name) {
            attrs.insert(name.to_owned(), string(v));
        }
    }
    Entity::new(names.identity(who), attrs, HashSet::new())
        .map_err(|e| CedarError::Entity(error_text(&e)))
}

/// The parties of a request, as Cedar names them.
pub struct Parties {
    principal: EntityUid,
    resource: EntityUid,
    action: EntityUid,
}

impl Parties {
    /// The uids of the identity, the resource and the `request` action.
    pub fn new(names: &Names, who: &HrRecord, resource: &Entity) -> Self {
        Self {
            principal: names.identity(who),
            resource: resource.uid(),
            action: names.action.clone(),
        }
    }
}

/// The identity and the resource as Cedar entities.
pub fn entities(identity: Entity, resource: &Entity) -> Result<Entities, CedarError> {
    Entities::from_entities([identity, resource.clone()], None)
        .map_err(|e| CedarError::Entity(error_text(&e)))
}

/// The per-rule facts of the context: the role asked for and the rule's clock and default
/// duration.
pub struct RuleFacts {
    pub role: String,
    pub privilege: Privilege,
    pub offset: time::UtcOffset,
    pub duration: Duration,
}

/// Builds the request context record (see `schema.cedarschema`).
pub fn context(ctx: &RequestContext, facts: &RuleFacts) -> Result<Context, CedarError> {
    let t: OffsetDateTime = local(ctx.now, facts.offset);
    let mut pairs = vec![
        ("role".to_owned(), string(&facts.role)),
        ("privilege".to_owned(), string(facts.privilege.as_str())),
        (
            "hour".to_owned(),
            RestrictedExpression::new_long(i64::from(t.hour())),
        ),
        (
            "minute".to_owned(),
            RestrictedExpression::new_long(i64::from(t.minute())),
        ),
        ("weekday".to_owned(), string(weekday_name(t.weekday()))),
        (
            "duration_secs".to_owned(),
            RestrictedExpression::new_long(facts.duration.whole_seconds()),
        ),
        (
            "has_ticket".to_owned(),
            RestrictedExpression::new_bool(ctx.ticket().is_some()),
        ),
    ];
    if let Some(ticket) = ctx.ticket() {
        pairs.push(("ticket".to_owned(), string(ticket)));
    }
    if let Some(age) = ctx.mfa_age_secs {
        pairs.push((
            "mfa_age_secs".to_owned(),
            RestrictedExpression::new_long(age),
        ));
    }
    if let Some(ip) = ctx.source_ip {
        pairs.push((
            "source_ip".to_owned(),
            RestrictedExpression::new_ip(ip.to_string()),
        ));
    }
    if let Some(risk) = ctx.risk {
        pairs.push(("risk".to_owned(), RestrictedExpression::new_long(risk)));
    }
    Context::from_pairs(pairs).map_err(|e| CedarError::Context(error_text(&e)))
}

/// Evaluates a condition. `Ok(true)` when it holds; an evaluation error (an overflow, say)
/// is an `Err` with Cedar's message ([`CedarError::Evaluation`]), and never counts as
/// holding.
pub fn evaluate(
    authorizer: &Authorizer,
    cond: &Condition,
    parties: &Parties,
    entities: &Entities,
    context: Context,
) -> Result<bool, CedarError> {
    let request = Request::new(
        parties.principal.clone(),
        parties.action.clone(),
        parties.resource.clone(),
        context,
        None,
    )
    .map_err(|e| CedarError::Request(error_text(&e)))?;
    let response = authorizer.is_authorized(&request, &cond.policies, entities);
    if let Some(e) = response.diagnostics().errors().next() {
        return Err(CedarError::Evaluation(error_text(e)));
    }
    Ok(response.decision() == Decision::Allow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{EmployeeId, EmploymentStatus, IdentityKind};
    use crate::policy::model::{Principal, ResourceKind};

    /// What Warden builds at run time has exactly the types the schema declares, with
    /// every optional attribute present or absent.
    #[test]
    fn runtime_entities_and_context_conform_to_the_schema() {
        let schema = schema().unwrap();
        let names = Names::new().unwrap();
        let full = HrRecord {
            employee_id: EmployeeId::parse("E1").unwrap(),
            username: crate::Username::parse("e1").unwrap(),
            email: "e1@example.com".into(),
            display_name: "E One".into(),
            department: Some("Platform".into()),
            job_function: Some("SRE".into()),
            manager: Some(EmployeeId::parse("E2").unwrap()),
            location: Some("Berlin".into()),
            status: EmploymentStatus::Active,
            kind: IdentityKind::Employee,
            start_date: None,
            end_date: None,
            groups: ["Oncall".to_owned()].into(),
        };
        let bare = HrRecord {
            department: None,
            job_function: None,
            manager: None,
            location: None,
            groups: Default::default(),
            ..full.clone()
        };
        let resource = Resource {
            name: "db".into(),
            kind: ResourceKind::Postgres,
            connection: "db".into(),
            environment: "prod".into(),
            tier: 0,
            owner: Principal::Group("owners".into()),
            tags: [("team".to_owned(), "payments".to_owned())].into(),
            standing: Default::default(),
            drift: Default::default(),
            location: "a.toml:1".into(),
        };
        let resource = resource_entity(&resource).unwrap();
        let full_ctx = RequestContext {
            now: time::macros::datetime!(2026-03-04 10:00 UTC),
            mfa_age_secs: Some(30),
            ticket: Some("CHG-1".into()),
            source_ip: Some("10.0.0.1".parse().unwrap()),
            risk: Some(40),
        };
        let bare_ctx = RequestContext::at(full_ctx.now);
        let facts = RuleFacts {
            role: "read".into(),
            privilege: Privilege::Read,
            offset: time::UtcOffset::UTC,
            duration: Duration::hours(1),
        };
        for (who, ctx) in [(&full, &full_ctx), (&bare, &bare_ctx)] {
            let identity = identity_entity(&names, who, &["sre"]).unwrap();
            let parties = Parties::new(&names, who, &resource);
            Entities::from_entities([identity, resource.clone()], Some(&schema)).unwrap();
            Request::new(
                parties.principal.clone(),
                parties.action.clone(),
                parties.resource.clone(),
                context(ctx, &facts).unwrap(),
                Some(&schema),
            )
            .unwrap();
        }
    }

    #[test]
    fn conditions_that_read_entities_are_recognised() {
        for yes in [
            "principal.department == \"Platform\"",
            "resource.tier == 0",
            "resource.hasTag(\"team\")",
            "Warden::Resource::\"db\".tier == 0",
            "context.hour < 9 ||principal has location",
        ] {
            assert!(mentions_entities(yes), "{yes}");
        }
        for no in [
            "context has mfa_age_secs && context.mfa_age_secs < 900",
            "context.ticket == \"principal resource ::\"",
            "context.weekday == \"sat\\\"\" // principal\n || context.hour > 3",
            "context.source_ip.isInRange(ip(\"10.0.0.0/8\"))",
        ] {
            assert!(!mentions_entities(no), "{no}");
        }
    }
}
