//! SCIM attribute paths and filters (RFC 7644 sections 3.4.2.2 and 3.5.2), the subset that
//! identity providers send: `eq` comparisons joined by `and`, attribute names in any case,
//! paths with a schema URN prefix (`urn:…:enterprise:2.0:User:department`), sub-attributes
//! (`name.givenName`) and value filters (`emails[type eq "work"].value`). Anything else is
//! refused as `invalidFilter` or `invalidPath` rather than guessed at.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::http::get;
use super::{ENTERPRISE_USER, GROUP_SCHEMA, USER_SCHEMA};

/// Schema URNs whose attributes live at the top level of a resource.
pub(super) const CORE_SCHEMAS: [&str; 2] = [USER_SCHEMA, GROUP_SCHEMA];
/// Extension schema URNs whose attributes live in an object named after the URN.
const EXTENSIONS: [&str; 1] = [ENTERPRISE_USER];

/// The longest filter or path Warden reads.
const MAX_LEN: usize = 4096;

/// An attribute path: `[schema:]attr[[filter]][.sub]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The extension schema the attribute belongs to (its canonical URN), or `None` for
    /// the core schema.
    pub schema: Option<String>,
    /// The attribute; empty when the path names the extension schema itself.
    pub attr: String,
    /// A value filter selecting elements of a multi-valued attribute.
    pub filter: Option<Filter>,
    /// A sub-attribute.
    pub sub: Option<String>,
}

/// Comparisons that must all hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(pub Vec<Comparison>);

/// `path eq value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The attribute compared (no value filter).
    pub path: AttrPath,
    /// The value it must equal.
    pub value: Value,
}

fn bad_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidPath, detail)
}

fn bad_filter(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidFilter, detail)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Splits `text` at `prefix` ignoring ASCII case.
fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

impl AttrPath {
    /// Parses a path with an optional value filter (`emails[type eq "work"].value`).
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_LEN {
            return Err(bad_path("a path must be 1 to 4096 characters"));
        }
        let (head, filter, tail) = match text.find('[') {
            None => (text, None, None),
            Some(open) => {
                let close = closing_bracket(text, open)
                    .ok_or_else(|| bad_path(format!("{text:?}: unclosed [")))?;
                let inner = text.get(open + 1..close).unwrap_or_default();
                let rest = text.get(close + 1..).unwrap_or_default();
                let tail = match rest {
                    "" => None,
                    _ => Some(
                        rest.strip_prefix('.')
                            .ok_or_else(|| bad_path(format!("{text:?}: expected .sub after ]")))?,
                    ),
                };
                (
                    text.get(..open).unwrap_or_default(),
                    Some(Filter::parse_inner(inner)?),
                    tail,
                )
            }
        };
        let mut path = Self::parse_plain(head)?;
        if filter.is_some() {
            if path.sub.is_some() || path.attr.is_empty() {
                return Err(bad_path(format!(
                    "{text:?}: a value filter follows a multi-valued attribute"
                )));
            }
            path.filter = filter;
            if let Some(sub) = tail {
                if !valid_name(sub) {
                    return Err(bad_path(format!(
                        "{text:?}: {sub:?} is not an attribute name"
                    )));
                }
                path.sub = Some(sub.to_owned());
            }
        }
        Ok(path)
    }

    /// Parses `[schema:]attr[.sub]`.
    fn parse_plain(text: &str) -> Result<Self, ScimError> {
        let mut schema = None;
        let mut rest = text;
        if strip_prefix_ci(text, "urn:").is_some() {
            let known = CORE_SCHEMAS
                .iter()
                .map(|s| (s, false))
                .chain(EXTENSIONS.iter().map(|s| (s, true)));
            let mut found = false;
            for (urn, is_extension) in known {
                let Some(after) = strip_prefix_ci(text, urn) else {
                    continue;
                };
                let attr = match after {
                    "" if is_extension => "",
                    _ => match after.strip_prefix(':') {
                        Some(attr) => attr,
                        None => continue,
                    },
                };
                if is_extension {
                    schema = Some((*urn).to_owned());
                }
                rest = attr;
                found = true;
                break;
            }
            if !found {
                return Err(bad_path(format!(
                    "{text:?} names a schema Warden does not support"
                )));
            }
            if rest.is_empty() {
                return match schema {
                    Some(_) => Ok(Self {
                        schema,
                        attr: String::new(),
                        filter: None,
                        sub: None,
                    }),
                    None => Err(bad_path(format!("{text:?} names no attribute"))),
                };
            }
        }
        let (attr, sub) = match rest.split_once('.') {
            Some((attr, sub)) => (attr, Some(sub)),
            None => (rest, None),
        };
        if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
            return Err(bad_path(format!("{text:?} is not an attribute path")));
        }
        Ok(Self {
            schema,
            attr: attr.to_owned(),
            filter: None,
            sub: sub.map(str::to_owned),
        })
    }

    /// The lower-case dotted name (`emails.value`, `urn:…:user:department`), for checks
    /// against lists of supported attributes.
    pub fn dotted(&self) -> String {
        let mut out = String::new();
        if let Some(schema) = &self.schema {
            out.push_str(schema);
            if !self.attr.is_empty() {
                out.push(':');
            }
        }
        out.push_str(&self.attr);
        if let Some(sub) = &self.sub {
            out.push('.');
            out.push_str(sub);
        }
        out.to_ascii_lowercase()
    }

    /// The values this path selects in `resource`; elements of multi-valued attributes are
    /// compared by their `value` sub-attribute unless a sub-attribute is named.
    fn values<'a>(&self, resource: &'a Map<String, Value>) -> Vec<&'a Value> {
        let container = match &self.schema {
            None => Some(resource),
            Some(schema) => get(resource, schema).and_then(Value::as_object),
        };
        let Some(found) = container.and_then(|c| get(c, &self.attr)) else {
            return Vec::new();
        };
        let pick = |v: &'a Value| -> Option<&'a Value> {
            match (v, &self.sub) {
                (Value::Object(o), Some(sub)) => get(o, sub),
                (Value::Object(o), None) => get(o, "value"),
                (other, None) => Some(other),
                (_, Some(_)) => None,
            }
        };
        match found {
            Value::Array(items) => items.iter().filter_map(pick).collect(),
            other => pick(other).into_iter().collect(),
        }
    }
}

/// The index of the `]` closing the `[` at `open`, skipping quoted strings.
fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i <= open) {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ']' if !in_string => return Some(i),
            _ => {}
        }
    }
    None
}

/// A token of a filter.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    Text(String),
}

fn tokens(text: &str) -> Result<Vec<Token<'_>>, ScimError> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while let Some(first) = rest.chars().next() {
        if first == '"' {
            let mut escaped = false;
            let mut end = None;
            for (i, c) in rest.char_indices().skip(1) {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or_else(|| bad_filter("a string in the filter is not closed"))?;
            let literal = rest.get(..=end).unwrap_or_default();
            let value: String = serde_json::from_str(literal)
                .map_err(|_| bad_filter(format!("{literal} is not a valid string")))?;
            out.push(Token::Text(value));
            rest = rest.get(end + 1..).unwrap_or_default();
        } else if matches!(first, '(' | ')' | '[' | ']') {
            return Err(bad_filter(
                "grouping with parentheses or brackets is not supported; use comparisons joined by and",
            ));
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            out.push(Token::Word(rest.get(..end).unwrap_or_default()));
            rest = rest.get(end..).unwrap_or_default();
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

impl Filter {
    /// Parses a `filter` query parameter.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        if text.len() > MAX_LEN {
            return Err(bad_filter("the filter is longer than 4096 characters"));
        }
        Self::parse_tokens(tokens(text)?)
    }

    /// Parses the filter inside a value path's brackets.
    fn parse_inner(text: &str) -> Result<Self, ScimError> {
        let filter =
            Self::parse(text).map_err(|e| bad_path(format!("in [{text}]: {}", e.body().detail)))?;
        if filter.0.iter().any(|c| c.path.schema.is_some()) {
            return Err(bad_path(format!(
                "in [{text}]: compare sub-attributes by their names only"
            )));
        }
        Ok(filter)
    }

    fn parse_tokens(tokens: Vec<Token<'_>>) -> Result<Self, ScimError> {
        let mut comparisons = Vec::new();
        let mut iter = tokens.into_iter();
        loop {
            let Some(Token::Word(path)) = iter.next() else {
                return Err(bad_filter("expected an attribute name"));
            };
            let path = AttrPath::parse_plain(path).map_err(|e| bad_filter(e.body().detail))?;
            match iter.next() {
                Some(Token::Word(op)) if op.eq_ignore_ascii_case("eq") => {}
                Some(Token::Word(op)) => {
                    return Err(bad_filter(format!(
                        "the operator {op:?} is not supported; only eq is"
                    )));
                }
                _ => return Err(bad_filter("expected the operator eq")),
            }
            let value = match iter.next() {
                Some(Token::Text(s)) => Value::String(s),
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
                Some(Token::Word(w)) => match serde_json::from_str::<serde_json::Number>(w) {
                    Ok(n) => Value::Number(n),
                    Err(_) => return Err(bad_filter(format!("{w} is not a value; quote strings"))),
                },
                None => return Err(bad_filter("expected a value after eq")),
            };
            comparisons.push(Comparison { path, value });
            match iter.next() {
                None => return Ok(Self(comparisons)),
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("and") => {}
                Some(Token::Word(w))
                    if w.eq_ignore_ascii_case("or") || w.eq_ignore_ascii_case("not") =>
                {
                    return Err(bad_filter(format!(
                        "{w} is not supported; only comparisons joined by and are"
                    )));
                }
                Some(_) => return Err(bad_filter("expected and between comparisons")),
            }
        }
    }

    /// Refuses a filter on attributes outside `supported` (lower-case dotted names).
    pub fn check(&self, supported: &[&str]) -> Result<(), ScimError> {
        for c in &self.0 {
            let name = c.path.dotted();
            if !supported.contains(&name.as_str()) {
                return Err(bad_filter(format!(
                    "filtering on {name} is not supported; use one of {}",
                    supported.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The string a comparison on `dotted` (a lower-case dotted name) must equal, if the
    /// filter has one: lets a list look one attribute up instead of reading everything.
    pub fn equals(&self, dotted: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|c| c.path.dotted() == dotted)
            .and_then(|c| c.value.as_str())
    }

    /// Whether `resource` (a rendered resource, or an element of a multi-valued
    /// attribute) satisfies every comparison. Strings compare ignoring case unless their
    /// dotted name is in `case_exact`.
    pub fn matches(&self, resource: &Value, case_exact: &[&str]) -> bool {
        let Value::Object(map) = resource else {
            return false;
        };
        self.0.iter().all(|c| {
            let exact = case_exact.contains(&c.path.dotted().as_str());
            c.path
                .values(map)
                .into_iter()
                .any(|v| equal(v, &c.value, exact))
        })
    }
}

/// SCIM equality: strings by case rule, booleans also against `"true"`/`"false"` text.
fn equal(stored: &Value, wanted: &Value, case_exact: bool) -> bool {
    match (stored, wanted) {
        (Value::String(a), Value::String(b)) if case_exact => a == b,
        (Value::String(a), Value::String(b)) => a.to_lowercase() == b.to_lowercase(),
        (Value::Bool(a), Value::String(b)) | (Value::String(b), Value::Bool(a)) => {
            b.eq_ignore_ascii_case(if *a { "true" } else { "false" })
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(text: &str) -> AttrPath {
        AttrPath::parse(text).unwrap()
    }

    fn refusal(result: Result<impl std::fmt::Debug, ScimError>) -> String {
        let body = result.unwrap_err().body();
        format!("{}: {}", body.scim_type.unwrap_or_default(), body.detail)
    }

    #[test]
    fn paths() {
        let p = path("name.givenName");
        assert_eq!(
            (p.schema, p.attr.as_str(), p.sub.as_deref()),
            (None, "name", Some("givenName"))
        );
        let p = path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department");
        assert_eq!(p.schema.as_deref(), Some(ENTERPRISE_USER));
        assert_eq!(p.attr, "department");
        let p = path("URN:ietf:params:scim:schemas:core:2.0:User:userName");
        assert_eq!((p.schema, p.attr.as_str()), (None, "userName"));
        let p = path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
        assert_eq!(
            (p.schema.as_deref(), p.attr.as_str()),
            (Some(ENTERPRISE_USER), "")
        );
        let p = path(r#"emails[type eq "work"].value"#);
        assert_eq!(p.attr, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(p.filter.unwrap().0[0].value, json!("work"));
        let p = path(r#"members[value eq "a]b"]"#);
        assert_eq!(p.filter.unwrap().0[0].value, json!("a]b"));
        assert!(refusal(AttrPath::parse("urn:example:custom:attr")).starts_with("invalidPath"));
        assert!(refusal(AttrPath::parse("emails[type eq \"work\"")).starts_with("invalidPath"));
        assert!(
            refusal(AttrPath::parse("emails[type eq \"work\"]value")).starts_with("invalidPath")
        );
        assert!(refusal(AttrPath::parse("na me")).starts_with("invalidPath"));
    }

    #[test]
    fn filters() {
        let user = json!({
            "userName": "Alice@Example.com",
            "externalId": "Ext-1",
            "active": true,
            "emails": [{"value": "alice@example.com", "type": "work"}],
        });
        let yes = |f: &str| Filter::parse(f).unwrap().matches(&user, &["externalid"]);
        assert!(yes(r#"userName eq "alice@example.com""#));
        assert!(yes(r#"USERNAME Eq "ALICE@example.COM""#));
        assert!(yes(
            r#"externalId eq "Ext-1" and emails.value eq "ALICE@example.com""#
        ));
        assert!(!yes(r#"externalId eq "ext-1""#), "externalId is case-exact");
        assert!(yes(r#"emails eq "alice@example.com""#));
        assert!(yes("active eq true"));
        assert!(!yes(r#"userName eq "bob""#));
        assert!(
            refusal(Filter::parse(r#"userName co "a""#))
                .contains("operator \"co\" is not supported")
        );
        assert!(
            refusal(Filter::parse(r#"userName eq "a" or userName eq "b""#))
                .starts_with("invalidFilter")
        );
        assert!(refusal(Filter::parse(r#"(userName eq "a")"#)).starts_with("invalidFilter"));
        assert!(refusal(Filter::parse(r#"userName eq "a"#)).starts_with("invalidFilter"));
        assert!(refusal(Filter::parse("userName eq")).starts_with("invalidFilter"));
        assert!(refusal(Filter::parse("userName eq alice")).starts_with("invalidFilter"));
        let f = Filter::parse(r#"title eq "x""#).unwrap();
        assert!(refusal(f.check(&["username"])).contains("filtering on title is not supported"));
    }
}
