//! SCIM PATCH (RFC 7644 section 3.5.2) applied to a resource's JSON. The resource is
//! rendered as SCIM would return it, the operations change that JSON, and the caller then
//! treats the result exactly like a PUT, so PATCH and PUT cannot drift apart.
//!
//! Both styles identity providers send are understood: operations with a `path`
//! (`name.givenName`, `emails[type eq "work"].value`, `urn:…:enterprise:2.0:User:manager`)
//! and operations without one whose value is an object of attributes (whose keys may
//! themselves be paths). Operation names are case-insensitive.
//!
//! Every attribute an operation names is checked against the resource's schema, as
//! discovery publishes it ([`ResourceSchema`]), before anything changes: one the resource
//! does not have is `invalidPath`, and a change its mutability forbids (any change of a
//! read-only attribute such as `id`, `meta` or a user's `groups`; removing an immutable
//! one) is `mutability`. A request is all or nothing: the first refused operation refuses
//! it, and nothing is stored.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::filter::{AttrPath, Filter};
use super::http::{get, key_of};
use super::schema::{Definition, Mutability, ResourceSchema, find_definition};

/// The schema URN of PATCH requests.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The most operations in one request.
const MAX_OPERATIONS: usize = 1000;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `add`.
    Add,
    /// `replace`.
    Replace,
    /// `remove`.
    Remove,
}

/// One operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The kind.
    pub kind: OpKind,
    /// The target, if given.
    pub path: Option<AttrPath>,
    /// The value, if given.
    pub value: Option<Value>,
}

/// Reads a `PatchOp` request body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let syntax = |detail: &str| ScimError::bad(ScimType::InvalidSyntax, detail);
    let Value::Object(map) = body else {
        return Err(syntax("the body must be a JSON object"));
    };
    let declared = get(map, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP)))
        });
    if !declared {
        return Err(syntax(
            "schemas must contain urn:ietf:params:scim:api:messages:2.0:PatchOp",
        ));
    }
    let Some(Value::Array(items)) = get(map, "Operations") else {
        return Err(syntax("Operations must be a list of operations"));
    };
    if items.is_empty() || items.len() > MAX_OPERATIONS {
        return Err(syntax("Operations must hold 1 to 1000 operations"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(op) = item else {
                return Err(syntax("each operation must be an object"));
            };
            let kind = match get(op, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => OpKind::Add,
                Some("replace") => OpKind::Replace,
                Some("remove") => OpKind::Remove,
                _ => {
                    return Err(ScimError::invalid(format!(
                        "Operations[{i}].op must be add, replace or remove"
                    )));
                }
            };
            let path = match get(op, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(AttrPath::parse(p)?),
                Some(_) => {
                    return Err(ScimError::bad(
                        ScimType::InvalidPath,
                        format!("Operations[{i}].path must be a string"),
                    ));
                }
            };
            let value = get(op, "value").cloned();
            Ok(Operation { kind, path, value })
        })
        .collect()
}

/// Applies `operations` to `resource`, whose attributes `schema` defines. Returns the
/// lower-case dotted names of the attributes touched.
pub fn apply(
    resource: &mut Value,
    operations: &[Operation],
    schema: &ResourceSchema,
) -> Result<BTreeSet<String>, ScimError> {
    let Value::Object(root) = resource else {
        return Err(ScimError::invalid("the resource is not an object"));
    };
    let mut touched = BTreeSet::new();
    for op in operations {
        match &op.path {
            Some(path) => apply_path(root, op.kind, path, op.value.as_ref(), schema, &mut touched)?,
            None => {
                if op.kind == OpKind::Remove {
                    return Err(ScimError::bad(
                        ScimType::NoTarget,
                        "a remove operation needs a path",
                    ));
                }
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::invalid(
                        "an operation without a path needs an object of attributes as its value",
                    ));
                };
                for (key, value) in values {
                    let path = AttrPath::parse(key)?;
                    apply_path(root, op.kind, &path, Some(value), schema, &mut touched)?;
                }
            }
        }
    }
    Ok(touched)
}

fn apply_path(
    root: &mut Map<String, Value>,
    kind: OpKind,
    path: &AttrPath,
    value: Option<&Value>,
    schema: &ResourceSchema,
    touched: &mut BTreeSet<String>,
) -> Result<(), ScimError> {
    check(schema, kind, path, value)?;
    let value = match (kind, value) {
        (OpKind::Remove, v) => v,
        (_, Some(v)) => Some(v),
        (_, None) => {
            return Err(ScimError::invalid(format!(
                "{} needs a value",
                path.dotted()
            )));
        }
    };
    touched.insert(path.dotted());
    if path.sub.is_none()
        && let Some(Value::Object(v)) = value
    {
        // An object set on a complex attribute touches each of its sub-attributes.
        for key in v.keys() {
            touched.insert(format!("{}.{}", path.dotted(), key.to_ascii_lowercase()));
        }
    }
    let container = match &path.schema {
        None => root,
        Some(schema) => {
            if path.attr.is_empty() {
                return apply_extension(root, kind, schema, value);
            }
            let key = key_of(root, schema).unwrap_or_else(|| schema.clone());
            let slot = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            match slot.as_object_mut() {
                Some(map) => map,
                None => return Err(ScimError::invalid(format!("{schema} is not an object"))),
            }
        }
    };
    let key = key_of(container, &path.attr).unwrap_or_else(|| path.attr.clone());
    match (&path.filter, &path.sub) {
        (None, None) => set_attribute(container, kind, &key, value),
        (None, Some(sub)) => set_sub_attribute(container, kind, &key, sub, value),
        (Some(filter), sub) => set_filtered(container, kind, &key, filter, sub.as_deref(), value),
    }
}

/// Refuses an operation naming an attribute the resource does not have (`invalidPath`)
/// or changing one its mutability protects (`mutability`, see [`refuse_change`]). An
/// object value set on a single-valued complex attribute (`name`, `manager`) or on an
/// extension names attributes too, and each is checked.
fn check(
    schema: &ResourceSchema,
    kind: OpKind,
    path: &AttrPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let (definitions, scope) = match &path.schema {
        None => (schema.core.as_slice(), schema.name),
        Some(urn) => match schema.extension(urn) {
            Some(definitions) => (definitions, urn.as_str()),
            None => {
                return Err(ScimError::bad(
                    ScimType::InvalidPath,
                    format!("{urn} is not a schema of a {}", schema.name),
                ));
            }
        },
    };
    if !path.attr.is_empty() {
        return check_attribute(definitions, scope, kind, path, value);
    }
    // The extension object itself.
    match (kind, value) {
        (OpKind::Remove, _) => match definitions
            .iter()
            .find(|d| d.mutability != Mutability::ReadWrite)
        {
            Some(d) => Err(ScimError::bad(
                ScimType::Mutability,
                format!(
                    "{scope} cannot be removed: it holds {}, which cannot change",
                    d.name
                ),
            )),
            None => Ok(()),
        },
        (_, Some(Value::Object(values))) => {
            for (key, v) in values {
                let attr = AttrPath::parse(key)?;
                if attr.schema.is_some() || attr.filter.is_some() {
                    return Err(ScimError::bad(
                        ScimType::InvalidPath,
                        format!("{key:?} is not an attribute name of {scope}"),
                    ));
                }
                check_attribute(definitions, scope, kind, &attr, Some(v))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// [`check`] for an attribute (and sub-attribute) of `definitions`, the attributes of
/// `scope` (a resource type or an extension URN).
fn check_attribute(
    definitions: &[Definition],
    scope: &str,
    kind: OpKind,
    path: &AttrPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(attribute) = find_definition(definitions, &path.attr) else {
        return Err(ScimError::bad(
            ScimType::InvalidPath,
            format!("{} is not an attribute of {scope}", path.attr),
        ));
    };
    let Some(sub) = &path.sub else {
        refuse_change(attribute, kind, &attribute.name)?;
        if let (false, Some(Value::Object(values))) = (attribute.multi_valued, value)
            && !attribute.sub_attributes.is_empty()
        {
            for key in values.keys() {
                let Some(sub) = attribute.sub(key) else {
                    return Err(ScimError::bad(
                        ScimType::InvalidPath,
                        format!("{key} is not a sub-attribute of {}", attribute.name),
                    ));
                };
                refuse_change(sub, kind, &format!("{}.{}", attribute.name, sub.name))?;
            }
        }
        return Ok(());
    };
    let Some(definition) = attribute.sub(sub) else {
        return Err(ScimError::bad(
            ScimType::InvalidPath,
            format!("{sub} is not a sub-attribute of {}", attribute.name),
        ));
    };
    let name = format!("{}.{}", attribute.name, definition.name);
    refuse_change(attribute, kind, &name)?;
    refuse_change(definition, kind, &name)?;
    if definition.mutability == Mutability::Immutable
        && path.filter.is_some()
        && kind != OpKind::Add
    {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!(
                "{name} is immutable: it cannot change on a value of {} that exists",
                attribute.name
            ),
        ));
    }
    Ok(())
}

/// Refuses any change of a read-only attribute, and removing an immutable one (changing
/// an immutable value that is set is refused where the result is read, as a PUT would
/// be). `name` is the attribute as the operation named it.
fn refuse_change(definition: &Definition, kind: OpKind, name: &str) -> Result<(), ScimError> {
    match (definition.mutability, kind) {
        (Mutability::ReadOnly, _) => Err(ScimError::bad(
            ScimType::Mutability,
            format!("{name} is read-only: the server sets it"),
        )),
        (Mutability::Immutable, OpKind::Remove) => Err(ScimError::bad(
            ScimType::Mutability,
            format!("{name} is immutable: it cannot be removed"),
        )),
        _ => Ok(()),
    }
}

/// `add`/`replace` of the extension object itself merges; `remove` drops it.
fn apply_extension(
    root: &mut Map<String, Value>,
    kind: OpKind,
    schema: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let key = key_of(root, schema).unwrap_or_else(|| schema.to_owned());
    if kind == OpKind::Remove {
        root.remove(&key);
        return Ok(());
    }
    let Some(Value::Object(values)) = value else {
        return Err(ScimError::invalid(format!(
            "{schema} needs an object value"
        )));
    };
    let slot = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
    merge(slot, values);
    Ok(())
}

/// Sets each of `values` in the object `slot` (made an object if it is not one).
fn merge(slot: &mut Value, values: &Map<String, Value>) {
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(target) = slot {
        for (k, v) in values {
            let key = key_of(target, k).unwrap_or_else(|| k.clone());
            target.insert(key, v.clone());
        }
    }
}

fn set_attribute(
    container: &mut Map<String, Value>,
    kind: OpKind,
    key: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match (kind, value, container.get_mut(key)) {
        (OpKind::Remove, Some(Value::Array(gone)), Some(Value::Array(items))) => {
            items.retain(|item| !gone.iter().any(|g| same_element(item, g)));
        }
        (OpKind::Remove, Some(gone @ Value::Object(_)), Some(Value::Array(items))) => {
            items.retain(|item| !same_element(item, gone));
        }
        (OpKind::Remove, _, _) => {
            container.remove(key);
        }
        (OpKind::Add, Some(value), Some(Value::Array(items))) => {
            let added: Vec<Value> = match value {
                Value::Array(values) => values.clone(),
                other => vec![other.clone()],
            };
            if added.iter().any(is_primary) {
                items
                    .iter_mut()
                    .filter_map(Value::as_object_mut)
                    .for_each(|o| {
                        if let Some(k) = key_of(o, "primary") {
                            o.insert(k, Value::Bool(false));
                        }
                    });
            }
            for v in added {
                if !items.iter().any(|item| same_element(item, &v)) {
                    items.push(v);
                }
            }
        }
        (_, Some(Value::Object(values)), Some(slot @ Value::Object(_))) => merge(slot, values),
        (_, Some(value), _) => {
            container.insert(key.to_owned(), value.clone());
        }
        (_, None, _) => return Err(ScimError::invalid(format!("{key} needs a value"))),
    }
    Ok(())
}

fn set_sub_attribute(
    container: &mut Map<String, Value>,
    kind: OpKind,
    key: &str,
    sub: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if let Some(Value::Array(_)) = container.get(key) {
        return Err(ScimError::bad(
            ScimType::InvalidPath,
            format!(
                "{key} has many values: select them with a filter, as in {key}[type eq \"work\"].{sub}"
            ),
        ));
    }
    match (kind, value) {
        (OpKind::Remove, _) => {
            if let Some(Value::Object(o)) = container.get_mut(key)
                && let Some(k) = key_of(o, sub)
            {
                o.remove(&k);
            }
        }
        (_, Some(value)) => {
            let slot = container
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            let mut values = Map::new();
            values.insert(sub.to_owned(), value.clone());
            merge(slot, &values);
        }
        (_, None) => return Err(ScimError::invalid(format!("{key}.{sub} needs a value"))),
    }
    Ok(())
}

fn set_filtered(
    container: &mut Map<String, Value>,
    kind: OpKind,
    key: &str,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let slot = container
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    let Value::Array(items) = slot else {
        return Err(ScimError::bad(
            ScimType::InvalidPath,
            format!("{key} is not multi-valued; a filter cannot select in it"),
        ));
    };
    let hits: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| filter.matches(item, &[]))
        .map(|(i, _)| i)
        .collect();
    if kind == OpKind::Remove {
        match sub {
            None => {
                let mut index = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&index);
                    index += 1;
                    keep
                });
            }
            Some(sub) => {
                for i in hits {
                    if let Some(Value::Object(item)) = items.get_mut(i)
                        && let Some(k) = key_of(item, sub)
                    {
                        item.remove(&k);
                    }
                }
            }
        }
        return Ok(());
    }
    let Some(value) = value else {
        return Err(ScimError::invalid(format!("{key} needs a value")));
    };
    if hits.is_empty() {
        // Nothing matches: identity providers expect the element to be created
        // (`add emails[type eq "work"].value` on a user without a work address).
        let mut element = Map::new();
        for c in &filter.0 {
            if c.path.sub.is_some() {
                return Err(ScimError::bad(
                    ScimType::NoTarget,
                    format!("no value of {key} matches the filter"),
                ));
            }
            element.insert(c.path.attr.clone(), c.value.clone());
        }
        let mut element = Value::Object(element);
        match (sub, value) {
            (Some(sub), v) => {
                let mut values = Map::new();
                values.insert(sub.to_owned(), v.clone());
                merge(&mut element, &values);
            }
            (None, Value::Object(v)) => merge(&mut element, v),
            (None, _) => return Err(ScimError::invalid(format!("{key} elements are objects"))),
        }
        items.push(element);
        return Ok(());
    }
    for i in hits {
        let Some(item) = items.get_mut(i) else {
            continue;
        };
        match (sub, kind, value) {
            (Some(sub), _, v) => {
                let mut values = Map::new();
                values.insert(sub.to_owned(), v.clone());
                merge(item, &values);
            }
            (None, OpKind::Add, Value::Object(v)) => merge(item, v),
            (None, _, v @ Value::Object(_)) => *item = v.clone(),
            (None, _, _) => return Err(ScimError::invalid(format!("{key} elements are objects"))),
        }
    }
    Ok(())
}

fn is_primary(v: &Value) -> bool {
    v.as_object()
        .and_then(|o| get(o, "primary"))
        .is_some_and(|p| {
            p.as_bool()
                .unwrap_or_else(|| p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true")))
        })
}

/// Whether two elements of a multi-valued attribute are the same: equal, or objects with
/// the same `value` (ignoring case).
fn same_element(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    let value = |v: &Value| match v {
        Value::Object(o) => get(o, "value")
            .and_then(Value::as_str)
            .map(str::to_lowercase),
        Value::String(s) => Some(s.to_lowercase()),
        _ => None,
    };
    matches!((value(a), value(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::ENTERPRISE_USER;

    fn patched(resource: Value, ops: Value) -> Result<Value, String> {
        patched_as(ResourceSchema::user(), resource, ops)
    }

    fn patched_as(schema: &ResourceSchema, resource: Value, ops: Value) -> Result<Value, String> {
        let body = json!({"schemas": [PATCH_OP], "Operations": ops});
        let mut resource = resource;
        parse(&body)
            .and_then(|ops| apply(&mut resource, &ops, schema))
            .map(|_| resource)
            .map_err(|e| e.body().detail)
    }

    fn user() -> Value {
        json!({
            "userName": "alice",
            "name": {"formatted": "Alice A"},
            "active": true,
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
            ENTERPRISE_USER: {"employeeNumber": "E1", "department": "Platform"},
        })
    }

    #[test]
    fn paths_and_filters() {
        let out = patched(
            user(),
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@example.org"},
                {"op": "add", "path": "name.givenName", "value": "Alice"},
                {"op": "replace", "path": format!("{ENTERPRISE_USER}:department"), "value": "Payments"},
                {"op": "Add", "path": "Title", "value": "SRE"},
                {"op": "remove", "path": "name.formatted"},
            ]),
        )
        .unwrap();
        assert_eq!(
            out["emails"],
            json!([{"value": "a@example.org", "type": "work", "primary": true}])
        );
        assert_eq!(out["name"], json!({"givenName": "Alice"}));
        assert_eq!(out[ENTERPRISE_USER]["department"], "Payments");
        assert_eq!(out[ENTERPRISE_USER]["employeeNumber"], "E1");
        assert_eq!(out["Title"], "SRE");
    }

    #[test]
    fn values_without_path() {
        let out = patched(
            user(),
            json!([{"op": "replace", "value": {
                "active": "False",
                "name.familyName": "Ames",
                "USERNAME": "alice2",
                ENTERPRISE_USER: {"manager": {"value": "m"}},
                format!("{ENTERPRISE_USER}:department"): "Sales",
            }}]),
        )
        .unwrap();
        assert_eq!(out["active"], "False");
        assert_eq!(out["userName"], "alice2");
        assert_eq!(out["name"]["familyName"], "Ames");
        assert_eq!(out[ENTERPRISE_USER]["manager"]["value"], "m");
        assert_eq!(out[ENTERPRISE_USER]["department"], "Sales");
        assert!(
            patched(user(), json!([{"op": "remove"}]))
                .unwrap_err()
                .contains("needs a path")
        );
    }

    #[test]
    fn members() {
        let group = json!({"displayName": "G", "members": [{"value": "a"}, {"value": "b"}]});
        let out = patched_as(
            ResourceSchema::group(),
            group.clone(),
            json!([{"op": "add", "path": "members", "value": [{"value": "c"}, {"value": "a"}]}]),
        );
        assert_eq!(
            out.unwrap()["members"],
            json!([{"value": "a"}, {"value": "b"}, {"value": "c"}])
        );
        let out = patched_as(
            ResourceSchema::group(),
            group.clone(),
            json!([{"op": "remove", "path": "members[value eq \"a\"]"}]),
        );
        assert_eq!(out.unwrap()["members"], json!([{"value": "b"}]));
        let out = patched_as(
            ResourceSchema::group(),
            group.clone(),
            json!([{"op": "Remove", "path": "members", "value": [{"value": "b"}]}]),
        );
        assert_eq!(out.unwrap()["members"], json!([{"value": "a"}]));
        let out = patched_as(
            ResourceSchema::group(),
            group.clone(),
            json!([{"op": "remove", "path": "members"}]),
        );
        assert_eq!(out.unwrap().get("members"), None);
        let out = patched_as(
            ResourceSchema::group(),
            group,
            json!([{"op": "replace", "path": "members", "value": [{"value": "z"}]}]),
        );
        assert_eq!(out.unwrap()["members"], json!([{"value": "z"}]));
    }

    #[test]
    fn refusals() {
        assert!(
            patched(user(), json!([{"op": "move", "path": "title"}]))
                .unwrap_err()
                .contains("add, replace or remove")
        );
        assert!(
            patched(
                user(),
                json!([{"op": "add", "path": "emails.value", "value": "x"}])
            )
            .unwrap_err()
            .contains("filter")
        );
        assert!(
            patched(user(), json!([{"op": "add", "path": "title"}]))
                .unwrap_err()
                .contains("needs a value")
        );
        let missing_schema =
            parse(&json!({"Operations": [{"op": "add", "value": {}}]})).unwrap_err();
        assert_eq!(
            missing_schema.body().scim_type.as_deref(),
            Some("invalidSyntax")
        );
    }
}
