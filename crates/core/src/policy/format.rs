//! The policy file format as written: TOML arrays of tables (`[[resource]]`, `[[role]]`,
//! `[[group]]`, `[[birthright]]`, `[[eligibility]]`, `[[approval]]`) read into plain
//! structures that remember where each value was written. Unknown keys are refused by
//! name. Meaning (names, references, ranges) is checked later, in `compile`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::PolicyError;

/// The kinds of table a policy file may hold, as top-level keys.
pub const TABLE_KINDS: [&str; 6] = [
    "resource",
    "role",
    "group",
    "birthright",
    "eligibility",
    "approval",
];

/// `[[resource]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResource {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub connection: Spanned<String>,
    pub environment: Spanned<String>,
    pub tier: Spanned<i64>,
    pub owner: Spanned<String>,
    #[serde(default)]
    pub tags: Option<Spanned<BTreeMap<String, String>>>,
    /// Accounts expected to hold standing privilege on the target.
    #[serde(default)]
    pub standing: Option<Spanned<Vec<String>>>,
    /// `report` or `remove` unknown privileged access.
    #[serde(default)]
    pub drift: Option<Spanned<String>>,
}

/// `[[role]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    pub kind: Spanned<String>,
    pub name: Spanned<String>,
    pub privilege: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// postgres: permission roles the grant confers.
    #[serde(default)]
    pub member_of: Option<Spanned<Vec<String>>>,
    /// postgres: `dynamic` or `own`.
    #[serde(default)]
    pub login: Option<Spanned<String>>,
    /// mariadb: `{ privileges = [...], on = "db.*" }`.
    #[serde(default)]
    pub grants: Option<Spanned<Vec<RawMariadbGrant>>>,
    /// redis: ACL rules.
    #[serde(default)]
    pub acl: Option<Spanned<Vec<String>>>,
    /// ssh: certificate principals.
    #[serde(default)]
    pub principals: Option<Spanned<Vec<String>>>,
    /// ssh: certificate extensions.
    #[serde(default)]
    pub extensions: Option<Spanned<Vec<String>>>,
    /// ssh: forced command.
    #[serde(default)]
    pub force_command: Option<Spanned<String>>,
}

/// One `{ privileges = [...], on = "..." }` of a mariadb role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMariadbGrant {
    pub privileges: Vec<String>,
    pub on: String,
}

/// A string or a list of strings (`job_function = "SRE"` or `= ["SRE", "SRE Lead"]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `[[group]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub name: Spanned<String>,
    #[serde(default)]
    pub members: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub rule: Option<Spanned<BTreeMap<String, Spanned<OneOrMany>>>>,
    #[serde(default)]
    pub external: Option<Spanned<String>>,
}

/// One `{ resource = "...", role = "..." }` of a birthright.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrant {
    pub resource: String,
    pub role: String,
}

/// `[[birthright]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBirthright {
    pub name: Spanned<String>,
    pub who: Spanned<String>,
    pub grants: Spanned<Vec<Spanned<RawGrant>>>,
}

/// The `resources = { ... }` selector of an eligibility rule.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelector {
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub tiers: Vec<i64>,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub names: Vec<String>,
}

/// The `hours = { ... }` window of an eligibility rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHours {
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub utc_offset: Option<String>,
}

/// `[[eligibility]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEligibility {
    pub name: Spanned<String>,
    pub who: Spanned<String>,
    pub roles: Spanned<Vec<String>>,
    pub resources: Spanned<RawSelector>,
    pub max_duration: Spanned<String>,
    pub approval: Spanned<String>,
    #[serde(default)]
    pub ticket: Option<Spanned<String>>,
    #[serde(default)]
    pub hours: Option<Spanned<RawHours>>,
    #[serde(default)]
    pub when: Option<Spanned<String>>,
}

/// `[[approval]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApproval {
    pub name: Spanned<String>,
    pub auto_below: Spanned<i64>,
    pub dual_from: Spanned<i64>,
    pub approvers: Spanned<Vec<String>>,
    pub security_group: Spanned<String>,
    pub pending_timeout: Spanned<String>,
    #[serde(default)]
    pub min_justification: Option<Spanned<i64>>,
    #[serde(default)]
    pub ticket_pattern: Option<Spanned<String>>,
    #[serde(default)]
    pub ticket_check_url: Option<Spanned<String>>,
}

/// One table as read, with where it was written.
#[derive(Debug)]
pub struct Entry<T> {
    /// Index of the file in the sorted file list.
    pub file: usize,
    /// Line of the table's header (`[[resource]]`) or inline table.
    pub line: usize,
    pub value: T,
}

/// A name whose table could not be read: other tables may still refer to it, and that is
/// not reported a second time as a dangling reference.
#[derive(Debug)]
pub struct BrokenName {
    pub kind: &'static str,
    pub name: String,
}

/// Everything read from all files, in file order then position.
#[derive(Debug, Default)]
pub struct RawPolicy {
    pub resources: Vec<Entry<RawResource>>,
    pub roles: Vec<Entry<RawRole>>,
    pub groups: Vec<Entry<RawGroup>>,
    pub birthrights: Vec<Entry<RawBirthright>>,
    pub eligibility: Vec<Entry<RawEligibility>>,
    pub approvals: Vec<Entry<RawApproval>>,
    pub broken: Vec<BrokenName>,
}

/// Maps byte offsets of one file to 1-based line numbers.
#[derive(Debug, Clone)]
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

/// A toml error as one line of text: the message, and the key it concerns if known.
fn toml_message(e: &toml::de::Error) -> String {
    let text = e.to_string();
    let mut parts = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = parts.next().unwrap_or("invalid TOML").to_owned();
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        first
    } else {
        format!("{first} ({})", rest.join("; "))
    }
}

/// The line of the first non-blank character at or after `offset` (a span often starts
/// at the end of the previous line).
fn line_at(lines: &Lines, text: &str, offset: usize) -> usize {
    let skip = text
        .get(offset..)
        .map(|rest| rest.len() - rest.trim_start().len())
        .unwrap_or(0);
    lines.line(offset + skip)
}

/// Reads one file into `out`, reporting every table that cannot be read.
pub fn read_file(
    file: usize,
    path: &str,
    text: &str,
    out: &mut RawPolicy,
    errors: &mut Vec<PolicyError>,
) {
    let lines = Lines::new(text);
    let err = |line: usize, message: String| PolicyError {
        file: path.to_owned(),
        line,
        message,
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root.into_inner(),
        Err(e) => {
            let line = e.span().map_or(1, |s| lines.line(s.start));
            errors.push(err(
                line,
                format!("TOML syntax error: {}", e.message().trim()),
            ));
            return;
        }
    };
    for (key, value) in root {
        let key_line = line_at(&lines, text, key.span().start);
        let key = key.into_inner();
        let kind = match TABLE_KINDS.iter().find(|k| **k == key.as_ref()) {
            Some(kind) => *kind,
            None => {
                errors.push(err(
                    key_line,
                    format!(
                        "unknown key `{key}`; a policy file holds [[{}]]",
                        TABLE_KINDS.join("]], [[")
                    ),
                ));
                continue;
            }
        };
        let DeValue::Array(items) = value.into_inner() else {
            errors.push(err(
                key_line,
                format!("`{kind}` must be an array of tables, written [[{kind}]]"),
            ));
            continue;
        };
        for item in items {
            let span = item.span();
            let line = line_at(&lines, text, span.start);
            if !item.get_ref().is_table() {
                errors.push(err(
                    line,
                    format!("each `{kind}` must be a table, written [[{kind}]]"),
                ));
                continue;
            }
            let name = item
                .get_ref()
                .as_table()
                .and_then(|t| t.get("name"))
                .and_then(|n| n.get_ref().as_str())
                .map(str::to_owned);
            // A table that cannot be read is reported with its name, and its name is kept
            // as broken so references to it are not reported again.
            if let Err(e) = read_table(kind, ValueDeserializer::from(item), file, line, out) {
                let at = e.span().map_or(line, |s| line_at(&lines, text, s.start));
                let what = name
                    .as_deref()
                    .map_or_else(String::new, |n| format!(" `{n}`"));
                errors.push(err(at, format!("in {kind}{what}: {}", toml_message(&e))));
                if let Some(name) = name {
                    out.broken.push(BrokenName { kind, name });
                }
            }
        }
    }
}

/// Reads one table of `kind` (one of [`TABLE_KINDS`]), written at `line` of `file`, into
/// its list in `out`; on error nothing is added.
fn read_table(
    kind: &str,
    de: ValueDeserializer<'_>,
    file: usize,
    line: usize,
    out: &mut RawPolicy,
) -> Result<(), toml::de::Error> {
    match kind {
        "resource" => out.resources.push(Entry {
            file,
            line,
            value: RawResource::deserialize(de)?,
        }),
        "role" => out.roles.push(Entry {
            file,
            line,
            value: RawRole::deserialize(de)?,
        }),
        "group" => out.groups.push(Entry {
            file,
            line,
            value: RawGroup::deserialize(de)?,
        }),
        "birthright" => out.birthrights.push(Entry {
            file,
            line,
            value: RawBirthright::deserialize(de)?,
        }),
        "eligibility" => out.eligibility.push(Entry {
            file,
            line,
            value: RawEligibility::deserialize(de)?,
        }),
        _ => out.approvals.push(Entry {
            file,
            line,
            value: RawApproval::deserialize(de)?,
        }),
    }
    Ok(())
}
