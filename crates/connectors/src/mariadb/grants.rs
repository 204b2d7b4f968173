//! Reading MariaDB's `SHOW GRANTS`: the objects a grant is on, one line parsed, what counts
//! as privileged (directly or through roles) and the holdings discovery reports and
//! removal revokes.

use super::*;

/// What a grant is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Object {
    /// `*.*`.
    Global,
    /// `db.*`.
    Schema(String),
    /// `db.table`.
    Table(String, String),
    /// `PROXY ON user@host`.
    Proxy(String, String),
    /// A stored procedure, function or package (not reported).
    Routine,
}

impl Object {
    /// How [`Account::privileges`] shows it.
    pub(super) fn show(&self) -> String {
        match self {
            Self::Global => "*.*".to_owned(),
            Self::Schema(db) => format!("{}.*", show_ident(db)),
            Self::Table(db, t) => format!("{}.{}", show_ident(db), show_ident(t)),
            Self::Proxy(u, h) => format!("{}@{}", show_ident(u), show_ident(h)),
            Self::Routine => "(routine)".to_owned(),
        }
    }

    /// How a statement names it.
    pub(super) fn sql(&self) -> String {
        match self {
            Self::Global => "*.*".to_owned(),
            Self::Schema(db) => format!("{}.*", quote_ident(db)),
            Self::Table(db, t) => format!("{}.{}", quote_ident(db), quote_ident(t)),
            Self::Proxy(u, h) => account_sql(u, h),
            Self::Routine => String::new(),
        }
    }

    /// Whether it is in the `mysql` schema (the grant tables).
    pub(super) fn in_mysql_schema(&self) -> bool {
        match self {
            Self::Schema(db) | Self::Table(db, _) => db.eq_ignore_ascii_case("mysql"),
            _ => false,
        }
    }
}

/// The object a policy's `on` names, checked again.
pub(super) fn object_of_on(on: &str) -> Result<Object, ConnectorError> {
    check_mariadb_on(on)?;
    match on.split_once('.') {
        Some(("*", "*")) => Ok(Object::Global),
        Some((db, "*")) => Ok(Object::Schema(db.to_owned())),
        Some((db, table)) => Ok(Object::Table(db.to_owned(), table.to_owned())),
        None => Err(ConnectorError::Refused(format!("{on:?} is not db.table"))),
    }
}

/// An identifier as [`Account::privileges`] shows it: bare when it is plain
/// (`A-Z a-z 0-9 _ $`), else in backticks.
fn show_ident(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain { s.to_owned() } else { quote_ident(s) }
}

/// One line of `SHOW GRANTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum GrantLine {
    /// `GRANT <privileges> ON <object> TO … [WITH GRANT OPTION]`.
    Privileges {
        /// Privileges as shown (`SELECT`, `SELECT (Host, User)`, `ALL PRIVILEGES`).
        privileges: Vec<String>,
        /// What they are on.
        object: Object,
        /// Whether they come with `GRANT OPTION`.
        grant_option: bool,
    },
    /// `GRANT <role> TO …`.
    Role(String),
}

/// Reads an identifier at the start of `s` (in backticks, a doubled backtick standing
/// for one, or bare `A-Z a-z 0-9 _ $`); returns it and the rest of `s`.
fn take_ident(s: &str) -> Option<(String, &str)> {
    if let Some(body) = s.strip_prefix('`') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '`' {
                out.push(c);
                continue;
            }
            let rest = body.get(i + 1..)?;
            if rest.starts_with('`') {
                out.push('`');
                chars.next();
            } else {
                return Some((out, rest));
            }
        }
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((s.get(..end)?.to_owned(), s.get(end..)?))
}

/// The byte offsets in `s` where `pat` starts outside backticks and parentheses.
fn top_level(s: &str, pat: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut in_ticks = false;
    let mut depth = 0_usize;
    for (i, c) in s.char_indices() {
        match c {
            '`' => in_ticks = !in_ticks,
            '(' if !in_ticks => depth += 1,
            ')' if !in_ticks => depth = depth.saturating_sub(1),
            _ if !in_ticks && depth == 0 && s.get(i..).is_some_and(|r| r.starts_with(pat)) => {
                found.push(i);
            }
            _ => {}
        }
    }
    found
}

/// Reads `*.*`, `db.*` or `db.table` at the start of `s`.
fn take_object(s: &str) -> Option<(Object, &str)> {
    if let Some(rest) = s.strip_prefix("*.*") {
        return Some((Object::Global, rest));
    }
    for routine in ["PROCEDURE ", "FUNCTION ", "PACKAGE "] {
        if s.starts_with(routine) {
            return Some((Object::Routine, ""));
        }
    }
    let (db, rest) = take_ident(s)?;
    let rest = rest.strip_prefix('.')?;
    if let Some(rest) = rest.strip_prefix('*') {
        return Some((Object::Schema(db), rest));
    }
    let (table, rest) = take_ident(rest)?;
    Some((Object::Table(db, table), rest))
}

/// Reads `user@host` (each an identifier) at the start of `s`.
fn take_proxy(s: &str) -> Option<(Object, &str)> {
    let (user, rest) = take_ident(s)?;
    let rest = rest.strip_prefix('@')?;
    let (host, rest) = take_ident(rest)?;
    Some((Object::Proxy(user, host), rest))
}

/// A privilege as shown: its name, with its columns (`SELECT (Host, User)`) if any.
fn canonical_privilege(item: &str) -> Option<String> {
    let item = item.trim();
    let Some((name, cols)) = item.split_once('(') else {
        return Some(item.to_owned());
    };
    let cols = cols.trim_end().strip_suffix(')')?;
    let mut shown = Vec::new();
    for col in cols.split(',') {
        let (c, rest) = take_ident(col.trim())?;
        if !rest.is_empty() {
            return None;
        }
        shown.push(show_ident(&c));
    }
    Some(format!("{} ({})", name.trim_end(), shown.join(", ")))
}

/// Parses one line of `SHOW GRANTS`; `None` for lines that grant nothing Warden reads
/// (`SET DEFAULT ROLE`, or anything it cannot parse).
pub(super) fn parse_grant_line(line: &str) -> Option<GrantLine> {
    let rest = line.strip_prefix("GRANT ")?;
    let Some(&on) = top_level(rest, " ON ").first() else {
        let (role, after) = take_ident(rest)?;
        return after.starts_with(" TO ").then_some(GrantLine::Role(role));
    };
    let privileges = split_top_level(rest.get(..on)?, ',')
        .into_iter()
        .map(canonical_privilege)
        .collect::<Option<Vec<_>>>()?;
    let after = rest.get(on + " ON ".len()..)?;
    let (object, tail) = if privileges.iter().any(|p| p == "PROXY") {
        take_proxy(after)?
    } else {
        take_object(after)?
    };
    if object != Object::Routine && !tail.starts_with(" TO ") {
        return None;
    }
    Some(GrantLine::Privileges {
        privileges,
        object,
        grant_option: line.ends_with(" WITH GRANT OPTION"),
    })
}

/// Splits `s` at each `sep` outside backticks and parentheses.
fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut buf = [0_u8; 4];
    for i in top_level(s, sep.encode_utf8(&mut buf)) {
        if let Some(part) = s.get(start..i) {
            parts.push(part);
        }
        start = i + sep.len_utf8();
    }
    if let Some(part) = s.get(start..) {
        parts.push(part);
    }
    parts
}

/// Whether `lines` grant every privilege of `wanted` on `object`.
pub(super) fn holds(lines: &[GrantLine], wanted: &[String], object: &Object) -> bool {
    let held: BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| match l {
            GrantLine::Privileges {
                privileges,
                object: o,
                ..
            } if o == object => Some(privileges),
            _ => None,
        })
        .flatten()
        .map(String::as_str)
        .collect();
    held.contains("ALL PRIVILEGES") || wanted.iter().all(|p| held.contains(p.as_str()))
}

/// The roles that hold something privileged, directly or through roles granted to them.
pub(super) fn privileged_roles(role_lines: &BTreeMap<String, Vec<GrantLine>>) -> BTreeSet<String> {
    let none = BTreeSet::new();
    let mut privileged: BTreeSet<String> = role_lines
        .iter()
        .filter(|(_, lines)| !privileged_holdings(lines, &none).is_empty())
        .map(|(r, _)| r.clone())
        .collect();
    loop {
        let more: Vec<String> = role_lines
            .iter()
            .filter(|(r, lines)| {
                !privileged.contains(*r)
                    && lines
                        .iter()
                        .any(|l| matches!(l, GrantLine::Role(x) if privileged.contains(x)))
            })
            .map(|(r, _)| r.clone())
            .collect();
        if more.is_empty() {
            return privileged;
        }
        privileged.extend(more);
    }
}

/// What in `lines` counts as privileged, as [`Account::privileges`] shows it.
pub(super) fn privileged_holdings(
    lines: &[GrantLine],
    privileged_roles: &BTreeSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for line in lines {
        match line {
            GrantLine::Role(role) => {
                if privileged_roles.contains(role) {
                    out.push(format!("ROLE {}", show_ident(role)));
                }
            }
            GrantLine::Privileges {
                privileges,
                object,
                grant_option,
            } => {
                let all = match object {
                    Object::Global | Object::Proxy(..) => true,
                    Object::Routine => false,
                    Object::Schema(_) | Object::Table(..) => object.in_mysql_schema(),
                };
                if all {
                    for p in privileges.iter().filter(|p| *p != "USAGE") {
                        out.push(format!("{p} ON {}", object.show()));
                    }
                }
                // `REVOKE PROXY` takes a proxy grant's GRANT OPTION with it.
                if *grant_option && !matches!(object, Object::Routine | Object::Proxy(..)) {
                    out.push(format!("GRANT OPTION ON {}", object.show()));
                }
            }
        }
    }
    out
}

/// One privileged holding to take away, parsed back from [`Account::privileges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Holding {
    /// `<privilege> ON <object>`; `privilege` is SQL (known name, quoted columns).
    Privilege {
        /// The privilege as a statement names it.
        privilege: String,
        /// What it is on.
        object: Object,
    },
    /// `ROLE <name>`.
    Role(String),
}

/// Parses one string of [`Account::privileges`] as [`Connector::discover`] shows it.
/// Only known privilege names are accepted, so nothing else reaches a statement.
pub(super) fn parse_holding(s: &str) -> Result<Holding, ConnectorError> {
    let bad = || {
        ConnectorError::Refused(format!(
            "{s:?} is not a MariaDB privilege Warden takes away (<privilege> ON <object>, or ROLE <name>)"
        ))
    };
    if let Some(role) = s.strip_prefix("ROLE ") {
        let (role, rest) = take_ident(role).ok_or_else(bad)?;
        return if rest.is_empty() {
            Ok(Holding::Role(role))
        } else {
            Err(bad())
        };
    }
    let on = top_level(s, " ON ").first().copied().ok_or_else(bad)?;
    let item = s.get(..on).ok_or_else(bad)?;
    let target = s.get(on + " ON ".len()..).ok_or_else(bad)?;
    let (name, columns) = match item.split_once('(') {
        None => (item, None),
        Some((name, cols)) => (
            name.trim_end(),
            Some(cols.strip_suffix(')').ok_or_else(bad)?),
        ),
    };
    let known = MARIADB_PRIVILEGES.contains(&name) || ADMIN_PRIVILEGES.contains(&name);
    if !known {
        return Err(bad());
    }
    let mut privilege = name.to_owned();
    if let Some(cols) = columns {
        let mut quoted = Vec::new();
        for col in cols.split(',') {
            let (c, rest) = take_ident(col.trim()).ok_or_else(bad)?;
            if !rest.is_empty() {
                return Err(bad());
            }
            quoted.push(quote_ident(&c));
        }
        privilege = format!("{privilege} ({})", quoted.join(", "));
    }
    let (object, rest) = if name == "PROXY" {
        take_proxy(target)
    } else {
        take_object(target)
    }
    .ok_or_else(bad)?;
    if !rest.is_empty() || object == Object::Routine {
        return Err(bad());
    }
    Ok(Holding::Privilege { privilege, object })
}
