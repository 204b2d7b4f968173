//! SCIM discovery (RFC 7644 section 4, RFC 7643 sections 5 to 7): what this service
//! provider supports, the schemas of its resources with the attributes Warden stores,
//! and its two resource types. Identity providers read these to decide what to send.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::error::{ScimError, ScimErrorBody};
use super::http::{MAX_COUNT, ScimCaller, scim_json};
use super::{BASE, ENTERPRISE_USER, GROUP_SCHEMA, LIST_RESPONSE, USER_SCHEMA};

const SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// An attribute definition, built with the defaults of RFC 7643 section 2.2.
struct Attr(Map<String, Value>);

impl Attr {
    fn new(name: &str, kind: &str, description: &str) -> Self {
        let mut map = Map::new();
        for (k, v) in [
            ("name", json!(name)),
            ("type", json!(kind)),
            ("multiValued", json!(false)),
            ("description", json!(description)),
            ("required", json!(false)),
            ("caseExact", json!(false)),
            ("mutability", json!("readWrite")),
            ("returned", json!("default")),
            ("uniqueness", json!("none")),
        ] {
            map.insert(k.to_owned(), v);
        }
        Self(map)
    }

    fn set(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_owned(), value);
        self
    }

    fn multi(self) -> Self {
        self.set("multiValued", json!(true))
    }

    fn required(self) -> Self {
        self.set("required", json!(true))
    }

    fn read_only(self) -> Self {
        self.set("mutability", json!("readOnly"))
    }

    fn unique(self) -> Self {
        self.set("uniqueness", json!("server"))
    }

    fn references(self, types: &[&str]) -> Self {
        self.set("referenceTypes", json!(types))
    }

    fn canonical(self, values: &[&str]) -> Self {
        self.set("canonicalValues", json!(values))
    }

    fn sub(self, attributes: Vec<Attr>) -> Self {
        let subs: Vec<Value> = attributes.into_iter().map(Attr::done).collect();
        self.set("subAttributes", Value::Array(subs))
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn user_attributes() -> Vec<Attr> {
    vec![
        Attr::new(
            "userName",
            "string",
            "Warden user name: lower-cased, a-z 0-9 . _ - @",
        )
        .required()
        .unique(),
        Attr::new("name", "complex", "The person's name").sub(vec![
            Attr::new(
                "formatted",
                "string",
                "Full name, used when displayName is absent",
            ),
            Attr::new(
                "givenName",
                "string",
                "Given name (with familyName, the full name when nothing else is sent)",
            ),
            Attr::new("familyName", "string", "Family name"),
        ]),
        Attr::new("displayName", "string", "Full name"),
        Attr::new("title", "string", "Job function, as policy rules see it"),
        Attr::new("userType", "string", "Kind of identity").canonical(&[
            "Employee",
            "Contractor",
            "Vendor",
            "Service",
        ]),
        Attr::new(
            "active",
            "boolean",
            "false makes the person a leaver: access removed, account disabled",
        ),
        Attr::new(
            "emails",
            "complex",
            "E-mail addresses; the primary (else the first) is kept",
        )
        .multi()
        .required()
        .sub(vec![
            Attr::new("value", "string", "The address"),
            Attr::new("type", "string", "The kind of address").canonical(&["work"]),
            Attr::new("primary", "boolean", "The address Warden keeps"),
        ]),
        Attr::new(
            "groups",
            "complex",
            "Groups the user belongs to; change them through Groups",
        )
        .multi()
        .read_only()
        .sub(vec![
            Attr::new("value", "string", "The group's id").read_only(),
            Attr::new("$ref", "reference", "The group's URI")
                .references(&["Group"])
                .read_only(),
            Attr::new("display", "string", "The group's name").read_only(),
            Attr::new("type", "string", "Membership kind")
                .canonical(&["direct"])
                .read_only(),
        ]),
    ]
}

fn enterprise_attributes() -> Vec<Attr> {
    vec![
        Attr::new(
            "employeeNumber",
            "string",
            "Employee id, the person's key in Warden; required for a new user unless externalId can serve; cannot change",
        )
        .set("mutability", json!("immutable")),
        Attr::new("department", "string", "Department, as policy rules see it"),
        Attr::new("manager", "complex", "The person's manager").sub(vec![
            Attr::new("value", "string", "The manager's user id"),
            Attr::new("$ref", "reference", "The manager's URI").references(&["User"]),
            Attr::new("displayName", "string", "The manager's name").read_only(),
        ]),
    ]
}

fn group_attributes() -> Vec<Attr> {
    vec![
        Attr::new(
            "displayName",
            "string",
            "Group name; policy groups match it with external = \"…\"",
        )
        .required()
        .unique(),
        Attr::new("members", "complex", "Members of the group (users only)")
            .multi()
            .sub(vec![
                Attr::new("value", "string", "The member's user id")
                    .set("mutability", json!("immutable")),
                Attr::new("$ref", "reference", "The member's URI")
                    .references(&["User"])
                    .set("mutability", json!("immutable")),
                Attr::new("type", "string", "The kind of member")
                    .canonical(&["User"])
                    .set("mutability", json!("immutable")),
            ]),
    ]
}

/// How an attribute may change (RFC 7643 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the server only.
    ReadOnly,
    /// Set by the client.
    ReadWrite,
    /// Set when the resource or element is made, never changed afterwards.
    Immutable,
}

/// An attribute as the schemas above define it, for checking PATCH paths.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Its name, as discovery spells it.
    pub name: String,
    /// How it may change.
    pub mutability: Mutability,
    /// Whether it holds a list.
    pub multi_valued: bool,
    /// Its sub-attributes (complex attributes only).
    pub sub_attributes: Vec<Definition>,
}

impl Definition {
    fn of(attr: &Value) -> Self {
        let text = |key: &str| attr.get(key).and_then(Value::as_str).unwrap_or_default();
        Self {
            name: text("name").to_owned(),
            mutability: match text("mutability") {
                "readOnly" => Mutability::ReadOnly,
                "immutable" => Mutability::Immutable,
                _ => Mutability::ReadWrite,
            },
            multi_valued: attr.get("multiValued").and_then(Value::as_bool) == Some(true),
            sub_attributes: attr
                .get("subAttributes")
                .and_then(Value::as_array)
                .map(|subs| subs.iter().map(Self::of).collect())
                .unwrap_or_default(),
        }
    }

    fn list(attributes: Vec<Attr>) -> Vec<Self> {
        attributes
            .into_iter()
            .map(|a| Self::of(&a.done()))
            .collect()
    }

    /// The sub-attribute `name`, ignoring case.
    pub fn sub(&self, name: &str) -> Option<&Definition> {
        find_definition(&self.sub_attributes, name)
    }
}

/// The definition of `name` among `definitions`, ignoring case.
pub fn find_definition<'a>(definitions: &'a [Definition], name: &str) -> Option<&'a Definition> {
    definitions
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// The attributes of one resource type that PATCH may name: its core schema's (as
/// discovery publishes them), the common ones every resource has (RFC 7643 section 3.1:
/// `id`, `externalId`, `meta`, and `schemas`, which the server sets), and its extensions'.
#[derive(Debug)]
pub struct ResourceSchema {
    /// The resource type's name.
    pub name: &'static str,
    /// Core and common attributes.
    pub core: Vec<Definition>,
    /// Extension schemas (URN) with their attributes.
    pub extensions: Vec<(&'static str, Vec<Definition>)>,
}

impl ResourceSchema {
    fn new(
        name: &'static str,
        core: Vec<Attr>,
        extensions: Vec<(&'static str, Vec<Attr>)>,
    ) -> Self {
        let meta = Attr::new("meta", "complex", "Resource metadata")
            .read_only()
            .sub(
                [
                    "resourceType",
                    "created",
                    "lastModified",
                    "location",
                    "version",
                ]
                .into_iter()
                .map(|n| Attr::new(n, "string", n).read_only())
                .collect(),
            );
        let common = vec![
            Attr::new("schemas", "reference", "Schemas of the resource")
                .multi()
                .read_only(),
            Attr::new("id", "string", "Identifier").read_only(),
            Attr::new("externalId", "string", "The client's identifier"),
            meta,
        ];
        Self {
            name,
            core: Definition::list(common.into_iter().chain(core).collect()),
            extensions: extensions
                .into_iter()
                .map(|(urn, attrs)| (urn, Definition::list(attrs)))
                .collect(),
        }
    }

    /// Users, with the enterprise extension.
    pub fn user() -> &'static Self {
        static USER: LazyLock<ResourceSchema> = LazyLock::new(|| {
            ResourceSchema::new(
                "User",
                user_attributes(),
                vec![(ENTERPRISE_USER, enterprise_attributes())],
            )
        });
        &USER
    }

    /// Groups.
    pub fn group() -> &'static Self {
        static GROUP: LazyLock<ResourceSchema> =
            LazyLock::new(|| ResourceSchema::new("Group", group_attributes(), Vec::new()));
        &GROUP
    }

    /// The attributes of the extension `urn`, if the resource has it.
    pub fn extension(&self, urn: &str) -> Option<&[Definition]> {
        self.extensions
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(urn))
            .map(|(_, d)| d.as_slice())
    }
}

fn schema(id: &str, name: &str, description: &str, attributes: Vec<Attr>) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attributes.into_iter().map(Attr::done).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{BASE}/Schemas/{id}")},
    })
}

fn schemas() -> Vec<Value> {
    vec![
        schema(
            USER_SCHEMA,
            "User",
            "A person or service Warden knows from its identity provider",
            user_attributes(),
        ),
        schema(
            GROUP_SCHEMA,
            "Group",
            "A group whose members policy groups can select",
            group_attributes(),
        ),
        schema(
            ENTERPRISE_USER,
            "EnterpriseUser",
            "Employment attributes",
            enterprise_attributes(),
        ),
    ]
}

fn resource_types() -> Vec<Value> {
    let meta = |name: &str| json!({"resourceType": "ResourceType", "location": format!("{BASE}/ResourceTypes/{name}")});
    vec![
        json!({
            "schemas": [RESOURCE_TYPE],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "Identities",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
            "meta": meta("User"),
        }),
        json!({
            "schemas": [RESOURCE_TYPE],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Groups of identities",
            "schema": GROUP_SCHEMA,
            "meta": meta("Group"),
        }),
    ]
}

fn all(resources: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": resources.len(),
            "startIndex": 1,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

/// What this service provider supports.
#[utoipa::path(operation_id = "scim_service_provider_config", get, path = "/scim/v2/ServiceProviderConfig", tag = "scim", security(("bearer" = [])),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "The ServiceProviderConfig"),
    ))]
pub async fn service_provider_config(_caller: ScimCaller) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [SERVICE_PROVIDER_CONFIG],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_COUNT},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A Warden API token holding the hr:sync scope, sent as Authorization: Bearer",
                "primary": true,
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{BASE}/ServiceProviderConfig")},
        }),
    )
}

/// The schemas: User, Group and the enterprise User extension.
#[utoipa::path(operation_id = "scim_list_schemas", get, path = "/scim/v2/Schemas", tag = "scim", security(("bearer" = [])),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "A ListResponse of Schemas"),
    ))]
pub async fn list_schemas(_caller: ScimCaller) -> Response {
    all(schemas())
}

/// One schema, by its URN.
#[utoipa::path(operation_id = "scim_get_schema", get, path = "/scim/v2/Schemas/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "The schema URN")),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "The Schema"),
        (status = 404, description = "No such schema or resource type.", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn get_schema(
    _caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    find(schemas(), &id)
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found(format!("schema {id}")))
}

/// The resource types: User (with the enterprise extension) and Group.
#[utoipa::path(operation_id = "scim_list_resource_types", get, path = "/scim/v2/ResourceTypes", tag = "scim", security(("bearer" = [])),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "A ListResponse of ResourceTypes"),
    ))]
pub async fn list_resource_types(_caller: ScimCaller) -> Response {
    all(resource_types())
}

/// One resource type, by name.
#[utoipa::path(operation_id = "scim_get_resource_type", get, path = "/scim/v2/ResourceTypes/{id}", tag = "scim", security(("bearer" = [])),
    params(("id" = String, Path, description = "User or Group")),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json", description = "The ResourceType"),
        (status = 404, description = "No such schema or resource type.", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
pub async fn get_resource_type(
    _caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    find(resource_types(), &id)
        .map(|t| scim_json(StatusCode::OK, &t))
        .ok_or_else(|| ScimError::not_found(format!("resource type {id}")))
}

fn find(resources: Vec<Value>, id: &str) -> Option<Value> {
    resources.into_iter().find(|r| {
        r.get("id")
            .and_then(Value::as_str)
            .is_some_and(|i| i.eq_ignore_ascii_case(id))
    })
}
