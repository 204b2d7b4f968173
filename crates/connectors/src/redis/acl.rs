//! Reading Redis's answers: values as text, `ACL GETUSER` as a user's state, and `ACL LIST`
//! lines with the rules that make a user privileged.

use super::*;

/// The text of a string reply.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

pub(super) fn is_ok(v: &Value) -> bool {
    text(v).is_some_and(|t| t == "OK")
}

/// Parses an `ACL GETUSER` reply (a flat array of fields and values in RESP2, a map in
/// RESP3; Redis 6 and 7 differ in the fields but agree on `flags`).
pub(super) fn parse_user(v: &Value) -> Result<Option<UserInfo>, &'static str> {
    let pairs: Vec<(&Value, &Value)> = match v {
        Value::Nil => return Ok(None),
        Value::Array(items) => {
            let mut it = items.iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(val)) = (it.next(), it.next()) {
                pairs.push((k, val));
            }
            pairs
        }
        Value::Map(m) => m.iter().map(|(k, val)| (k, val)).collect(),
        _ => return Err("neither a user nor nil"),
    };
    let mut flags = None;
    let mut selectors = false;
    for (k, val) in pairs {
        match text(k).as_deref() {
            Some("flags") => {
                let items = match val {
                    Value::Array(a) | Value::Set(a) => a,
                    _ => return Err("flags is not a list"),
                };
                flags = Some(items.iter().filter_map(text).collect::<Vec<_>>());
            }
            Some("selectors") => selectors = true,
            _ => {}
        }
    }
    let flags = flags.ok_or("no flags")?;
    Ok(Some(UserInfo {
        enabled: flags.iter().any(|f| f == "on"),
        nopass: flags.iter().any(|f| f == "nopass"),
        selectors,
    }))
}

/// One user of `ACL LIST`.
pub(super) struct AclLine {
    pub(super) name: String,
    pub(super) enabled: bool,
    pub(super) nopass: bool,
    /// Every other rule, the user's own and its selectors' (parentheses dropped).
    pub(super) rules: Vec<String>,
}

impl AclLine {
    /// Whether any rule lets the user run a command.
    pub(super) fn any_commands(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.starts_with('+') || r == "allcommands")
    }
}

/// Parses a line of `ACL LIST`: `user NAME on|off [nopass] #hash ~keys &channels
/// +commands (selector ...)`. User names and rules hold no spaces, so words are rules.
pub(super) fn parse_acl_line(line: &str) -> Option<AclLine> {
    let mut words = line.split_whitespace();
    if words.next()? != "user" {
        return None;
    }
    let mut user = AclLine {
        name: words.next()?.to_owned(),
        enabled: false,
        nopass: false,
        rules: Vec::new(),
    };
    for w in words {
        match w.trim_start_matches('(').trim_end_matches(')') {
            "on" => user.enabled = true,
            "off" => user.enabled = false,
            "nopass" => user.nopass = true,
            "" => {}
            r => user.rules.push(r.to_owned()),
        }
    }
    Some(user)
}

/// The privilege a rule confers by itself, as reported: `+@all`, `+@admin`,
/// `+@dangerous` or a whole dangerous command.
pub(super) fn privileged_rule(rule: &str) -> Option<String> {
    let r = rule.to_ascii_lowercase();
    match r.as_str() {
        "+@all" | "allcommands" => Some("+@all".to_owned()),
        "+@admin" | "+@dangerous" => Some(r),
        _ => r
            .strip_prefix('+')
            .filter(|cmd| DANGEROUS_COMMANDS.contains(cmd))
            .map(|_| r.clone()),
    }
}

pub(super) fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}
