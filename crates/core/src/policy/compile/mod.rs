//! Compiling policy files: read every file, check every name, range and reference, parse
//! and validate every Cedar condition, and either build the indexed [`Policy`] or return
//! every error found, each with its file and line.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use toml::Spanned;

mod catalog;
mod rules;
mod target;

use super::approval::{ApprovalPolicy, ApproverSource};
use super::cedar;
use super::format::{self, Entry, Lines, RawPolicy, RawSelector};
use super::model::{
    Birthright, Drift, EligibilityRule, Entitlement, Group, Membership, Principal, Privilege,
    Resource, ResourceKind, ResourceSelector, Role,
};
use super::values::{Hours, check_policy_name as check_name, parse_duration};
use super::{Policy, PolicyError, PolicySource};
use crate::identity::{EmployeeId, HrRecord};

/// The highest tier (the least sensitive).
pub const MAX_TIER: i64 = 3;

/// What a policy is checked against besides its own files: settings of the server that
/// will run it. The default checks the files alone, as a client validating a directory
/// without the server's configuration does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Refuse a `ticket_check_url` whose host is an IP address in an internal range
    /// (the server's `[tickets] allow_internal` is false). Host names are judged when the
    /// server connects, on the addresses they resolve to.
    pub refuse_internal_ticket_check: bool,
}

/// Compiles a policy from the contents of its files. Files are taken in order of their
/// path, whatever the order given. Returns every error found, sorted by file, line, then
/// message.
pub fn compile(files: &[PolicySource]) -> Result<Policy, Vec<PolicyError>> {
    compile_with(files, CompileOptions::default())
}

/// [`compile`], also checking what `options` ask for.
pub fn compile_with(
    files: &[PolicySource],
    options: CompileOptions,
) -> Result<Policy, Vec<PolicyError>> {
    let mut sorted: Vec<&PolicySource> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut raw = RawPolicy::default();
    let mut errors = Vec::new();
    for (i, f) in sorted.iter().enumerate() {
        format::read_file(i, &f.path, &f.text, &mut raw, &mut errors);
    }
    let mut c = Compiler {
        paths: sorted.iter().map(|f| f.path.clone()).collect(),
        lines: sorted.iter().map(|f| Lines::new(&f.text)).collect(),
        errors,
        defined: HashMap::new(),
        options,
    };
    for b in &raw.broken {
        c.defined.entry((b.kind, b.name.clone())).or_insert(None);
    }
    let parts = c.run(raw);
    let mut errors = c.errors;
    if let Err(e) = cedar::Names::new() {
        errors.push(PolicyError {
            file: String::new(),
            line: 0,
            message: e.to_string(),
        });
    }
    if let Some(parts) = parts.filter(|_| errors.is_empty()) {
        return Ok(Policy::build(parts));
    }
    errors.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    Err(errors)
}

/// The checked contents of a policy, before indexing.
#[derive(Debug, Default)]
pub struct Parts {
    pub resources: Vec<Resource>,
    /// The resources as Cedar entities, in the same order.
    pub resource_entities: Vec<cedar_policy::Entity>,
    pub roles: Vec<Role>,
    pub groups: Vec<Group>,
    pub birthrights: Vec<Birthright>,
    pub rules: Vec<EligibilityRule>,
    pub approvals: Vec<ApprovalPolicy>,
}

struct Compiler {
    paths: Vec<String>,
    lines: Vec<Lines>,
    errors: Vec<PolicyError>,
    /// (kind, name) -> where it is defined; `None` for a table that could not be read.
    defined: HashMap<(&'static str, String), Option<(usize, usize)>>,
    options: CompileOptions,
}

impl Compiler {
    fn line<T>(&self, file: usize, s: &Spanned<T>) -> usize {
        self.lines.get(file).map_or(1, |l| l.line(s.span().start))
    }

    fn location(&self, file: usize, line: usize) -> String {
        format!(
            "{}:{line}",
            self.paths.get(file).map_or("?", String::as_str)
        )
    }

    /// The file index and line of a `file:line` location made by [`Self::location`].
    fn where_is(&self, location: &str) -> (usize, usize) {
        let (path, line) = location.rsplit_once(':').unwrap_or((location, "0"));
        let file = self.paths.iter().position(|p| p == path).unwrap_or(0);
        (file, line.parse().unwrap_or(0))
    }

    fn error(&mut self, file: usize, line: usize, message: impl std::fmt::Display) {
        let file = self.paths.get(file).cloned().unwrap_or_default();
        self.errors.push(PolicyError {
            file,
            line,
            message: message.to_string(),
        });
    }

    /// Checks a name and that it is the first of its kind; false if not usable.
    fn define(&mut self, kind: &'static str, file: usize, name: &Spanned<String>) -> bool {
        let line = self.line(file, name);
        if let Err(e) = check_name(name.get_ref()) {
            self.error(file, line, format!("{kind} name {:?}: {e}", name.get_ref()));
            return false;
        }
        match self.defined.get(&(kind, name.get_ref().clone())) {
            Some(Some((f, l))) => {
                let first = self.location(*f, *l);
                self.error(
                    file,
                    line,
                    format!(
                        "duplicate {kind} name `{}` (first defined at {first})",
                        name.get_ref()
                    ),
                );
                false
            }
            Some(None) => false,
            None => {
                self.defined
                    .insert((kind, name.get_ref().clone()), Some((file, line)));
                true
            }
        }
    }

    /// Whether `name` of `kind` exists; reports a dangling reference otherwise (unless the
    /// definition exists but could not be read, which is already reported).
    fn resolve(
        &mut self,
        kind: &'static str,
        name: &str,
        file: usize,
        line: usize,
        what: &str,
    ) -> bool {
        match self.defined.get(&(kind, name.to_owned())) {
            Some(Some(_)) => true,
            Some(None) => false,
            None => {
                self.error(
                    file,
                    line,
                    format!("{what} refers to unknown {kind} `{name}`"),
                );
                false
            }
        }
    }

    fn principal(
        &mut self,
        raw: &str,
        file: usize,
        line: usize,
        what: &str,
        allow_everyone: bool,
    ) -> Option<Principal> {
        if raw == "everyone" && allow_everyone {
            return Some(Principal::Everyone);
        }
        if let Some(group) = raw.strip_prefix("group:") {
            return self
                .resolve("group", group, file, line, what)
                .then(|| Principal::Group(group.to_owned()));
        }
        if let Some(id) = raw.strip_prefix("identity:") {
            return match EmployeeId::parse(id) {
                Ok(id) => Some(Principal::Identity(id)),
                Err(e) => {
                    self.error(file, line, format!("{what}: employee id {id:?}: {e}"));
                    None
                }
            };
        }
        let forms = if allow_everyone {
            "\"group:NAME\", \"identity:EMPLOYEE_ID\" or \"everyone\""
        } else {
            "\"group:NAME\" or \"identity:EMPLOYEE_ID\""
        };
        self.error(file, line, format!("{what} {raw:?} must be {forms}"));
        None
    }

    fn kind(&mut self, raw: &str, file: usize, line: usize) -> Option<ResourceKind> {
        let kind = ResourceKind::parse(raw);
        if kind.is_none() {
            let known: Vec<&str> = ResourceKind::ALL.iter().map(|k| k.as_str()).collect();
            self.error(
                file,
                line,
                format!(
                    "unknown resource kind `{raw}`; use one of {}",
                    known.join(", ")
                ),
            );
        }
        kind
    }

    fn duration(
        &mut self,
        raw: &Spanned<String>,
        file: usize,
        key: &str,
    ) -> Option<time::Duration> {
        match parse_duration(raw.get_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                let line = self.line(file, raw);
                self.error(file, line, format!("{key}: {e}"));
                None
            }
        }
    }

    fn run(&mut self, raw: RawPolicy) -> Option<Parts> {
        // Names first, so references can be resolved whatever the order of definition.
        let mut usable = NameMasks::default();
        for e in &raw.groups {
            usable
                .groups
                .push(self.define("group", e.file, &e.value.name));
        }
        for e in &raw.resources {
            usable
                .resources
                .push(self.define("resource", e.file, &e.value.name));
        }
        for e in &raw.approvals {
            usable
                .approvals
                .push(self.define("approval", e.file, &e.value.name));
        }
        for e in &raw.birthrights {
            usable
                .birthrights
                .push(self.define("birthright", e.file, &e.value.name));
        }
        for e in &raw.eligibility {
            usable
                .rules
                .push(self.define("eligibility rule", e.file, &e.value.name));
        }
        let roles = self.roles(&raw);
        let groups = self.groups(&raw, &usable.groups);
        let approvals = self.approvals(&raw, &usable.approvals);
        let resources = self.resources(&raw, &usable.resources);
        let mut resource_entities = Vec::new();
        for r in &resources {
            match cedar::resource_entity(r) {
                Ok(e) => resource_entities.push(e),
                Err(e) => {
                    let (file, line) = self.where_is(&r.location);
                    self.error(
                        file,
                        line,
                        format!("resource `{}` cannot be given to Cedar: {e}", r.name),
                    );
                }
            }
        }
        let role_of = |kind: ResourceKind, name: &str| {
            roles.iter().find(|r| r.kind == kind && r.name == name)
        };
        let birthrights = self.birthrights(&raw, &usable.birthrights, &resources, &role_of);
        let rules = self.rules(raw.eligibility, &usable.rules, &resources, &roles);
        Some(Parts {
            resources,
            resource_entities,
            roles,
            groups,
            birthrights,
            rules: rules?,
            approvals,
        })
    }
}

#[derive(Default)]
struct NameMasks {
    groups: Vec<bool>,
    resources: Vec<bool>,
    approvals: Vec<bool>,
    birthrights: Vec<bool>,
    rules: Vec<bool>,
}
