//! SCIM as the OpenAPI document describes it: the query parameters of reads, with the
//! grammar the server reads them with written as patterns built from the same lists of
//! attributes (so a filter the document allows is one the server takes), and the bodies
//! of writes.
//!
//! SCIM attribute names and keywords are case-insensitive (RFC 7643 section 2.1), so the
//! patterns accept any case. Bodies are described by their required attributes and
//! types; what JSON Schema cannot say (a manager or member that must be an existing
//! user, the employee number a new user needs) is refused with 400 `invalidValue`, as
//! RFC 7644 section 3.12 has it.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::{IntoParams, ToSchema};

use super::filter::CORE_SCHEMAS;
use super::{ENTERPRISE_USER, groups, user_map};

/// A pattern matching `text` in any ASCII case.
fn any_case(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphabetic() {
            let _ = write!(
                out,
                "[{}{}]",
                c.to_ascii_lowercase(),
                c.to_ascii_uppercase()
            );
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ':' {
            out.push(c);
        } else {
            let _ = write!(out, "\\{c}");
        }
    }
    out
}

/// An attribute name (`valid_name` of the path parser).
const NAME: &str = "[A-Za-z$][A-Za-z0-9_-]*";

/// A value in a filter: a JSON string without escapes of code points, a boolean, null, or
/// an integer.
const VALUE: &str = r#"(?:"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt])*"|[tT][rR][uU][eE]|[fF][aA][lL][sS][eE]|[nN][uU][lL][lL]|-?(?:0|[1-9][0-9]{0,15}))"#;

/// The attribute path of a filter comparison on one of `filterable` (lower-case dotted
/// names, as the endpoints list them).
fn filter_attribute(filterable: &[&str]) -> String {
    let ext_prefix = format!("{}:", ENTERPRISE_USER.to_ascii_lowercase());
    let core = CORE_SCHEMAS
        .iter()
        .map(|s| any_case(s))
        .collect::<Vec<_>>()
        .join("|");
    let names: Vec<String> = filterable
        .iter()
        .map(|dotted| match dotted.strip_prefix(&ext_prefix) {
            Some(attr) => format!("{}:{}", any_case(ENTERPRISE_USER), any_case(attr)),
            None => format!("(?:(?:{core}):)?{}", any_case(dotted)),
        })
        .collect();
    format!("(?:{})", names.join("|"))
}

/// The pattern of `filter`: `eq` comparisons on `filterable` attributes joined by `and`.
fn filter_pattern(filterable: &[&str]) -> String {
    let comparison = format!(
        "{} +{} +{VALUE}",
        filter_attribute(filterable),
        any_case("eq")
    );
    format!(
        "^ *(?:{comparison}(?: +{} +{comparison})*)? *$",
        any_case("and")
    )
}

/// The pattern of `attributes` and `excludedAttributes`: attribute paths, comma-separated.
fn attributes_pattern() -> String {
    let sub = format!("{NAME}(?:\\.{NAME})?");
    let core = CORE_SCHEMAS
        .iter()
        .map(|s| any_case(s))
        .collect::<Vec<_>>()
        .join("|");
    let path = format!(
        "(?:{sub}|(?:{core}):{sub}|{}(?::{sub})?)",
        any_case(ENTERPRISE_USER)
    );
    format!("^ *(?:{path})? *(?:, *(?:{path})? *)*$")
}

fn query(name: &str, description: &str, pattern: Option<String>, kind: Type) -> Parameter {
    let integer = kind == Type::Integer;
    let mut schema = ObjectBuilder::new().schema_type(kind);
    if integer {
        schema = schema.format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )));
    }
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema.pattern(pattern).build()))
        .build()
}

fn projection() -> Vec<Parameter> {
    vec![
        query(
            "attributes",
            "Attributes to return, comma-separated paths (`userName`, `name.givenName`, `urn:…:enterprise:2.0:User:department`); `id` and `schemas` always come",
            Some(attributes_pattern()),
            Type::String,
        ),
        query(
            "excludedAttributes",
            "Attributes to leave out, comma-separated paths (`members`, for instance)",
            Some(attributes_pattern()),
            Type::String,
        ),
    ]
}

fn list(filterable: &[&str], attributes: &str) -> Vec<Parameter> {
    let mut params = vec![
        query(
            "filter",
            &format!(
                "`eq` comparisons joined by `and` on {attributes}; values are JSON strings, numbers, true, false or null"
            ),
            Some(filter_pattern(filterable)),
            Type::String,
        ),
        query(
            "startIndex",
            "1-based index of the first result (default 1; less counts as 1)",
            None,
            Type::Integer,
        ),
        query(
            "count",
            "Results per page (default 100, at most 1000; less than 0 counts as 0)",
            None,
            Type::Integer,
        ),
    ];
    params.extend(projection());
    params
}

/// The query of `GET /scim/v2/Users`.
#[derive(Debug)]
pub struct UserListParams;

impl IntoParams for UserListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        list(
            &user_map::FILTERABLE,
            "userName, externalId, emails, emails.value, displayName, active, id, or the enterprise employeeNumber and department",
        )
    }
}

/// The query of `GET /scim/v2/Groups`.
#[derive(Debug)]
pub struct GroupListParams;

impl IntoParams for GroupListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        list(
            &groups::FILTERABLE,
            "displayName, externalId, id or members",
        )
    }
}

/// The query of a read of one resource.
#[derive(Debug)]
pub struct ProjectionParams;

impl IntoParams for ProjectionParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        projection()
    }
}

/// A User as `POST` and `PUT` take it (RFC 7643 section 4.1, with the enterprise
/// extension). A new user needs an employee number (the enterprise `employeeNumber`, or
/// an `externalId` made of letters, digits, `.`, `_` and `-`), an e-mail address, and a
/// `displayName` or a `name`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimUser {
    /// The schema URNs of the resource (not read).
    #[schema(value_type = Option<Value>)]
    pub schemas: Option<Value>,
    /// The user name: 1 to 64 of `a-z 0-9 . _ - @` (upper case is folded), starting with a
    /// letter or digit.
    #[serde(rename = "userName")]
    pub user_name: String,
    /// The identity provider's id, at most 256 characters.
    #[serde(rename = "externalId")]
    pub external_id: Option<String>,
    /// The full name.
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    /// `formatted`, or `givenName` and `familyName`, when there is no `displayName`.
    pub name: Option<Map<String, Value>>,
    /// E-mail addresses (`{"value": …, "primary": true}`); the primary one, else the
    /// first, is the person's.
    pub emails: Option<Vec<Value>>,
    /// `false` makes the person a leaver (`true`, `false`, or their text in any case).
    pub active: Option<Value>,
    /// `Employee`, `Contractor`, `Vendor` or `Service`, in any case.
    #[serde(rename = "userType")]
    pub user_type: Option<String>,
    /// The job function, at most 200 characters.
    pub title: Option<String>,
    /// `employeeNumber` (the person's key; it cannot change), `department`, and `manager`
    /// (`{"value": <the manager's SCIM id>}`).
    #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
    pub enterprise: Option<Map<String, Value>>,
}

/// A Group as `POST` and `PUT` take it (RFC 7643 section 4.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimGroup {
    /// The schema URNs of the resource (not read).
    #[schema(value_type = Option<Value>)]
    pub schemas: Option<Value>,
    /// The group's name, at most 256 characters without control characters.
    #[serde(rename = "displayName")]
    pub display_name: String,
    /// The identity provider's id, at most 256 characters.
    #[serde(rename = "externalId")]
    pub external_id: Option<String>,
    /// The members: `{"value": <a user's SCIM id>}` (Users only).
    pub members: Option<Vec<Value>>,
}

/// A PATCH request (RFC 7644 section 3.5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimPatchOp {
    /// Must hold `urn:ietf:params:scim:api:messages:2.0:PatchOp`.
    #[schema(min_items = 1)]
    pub schemas: Vec<String>,
    /// 1 to 1000 operations.
    #[serde(rename = "Operations")]
    #[schema(min_items = 1, max_items = 1000)]
    pub operations: Vec<ScimOperation>,
}

/// One PATCH operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimOperation {
    /// `add`, `replace` or `remove`, in any case.
    #[schema(pattern = "^(?:[aA][dD][dD]|[rR][eE][pP][lL][aA][cC][eE]|[rR][eE][mM][oO][vV][eE])$")]
    pub op: String,
    /// The attribute path (`name.givenName`, `emails[type eq "work"].value`); without
    /// one, `value` is an object of attributes.
    pub path: Option<String>,
    /// The value.
    pub value: Option<Value>,
}
