//! Compiling eligibility rules: principals, roles against the kinds a rule can reach,
//! resource selectors, durations, tickets, hours, and the Cedar conditions, parsed one by
//! one and validated together in strict mode.

use super::*;

impl Compiler {
    /// A rule's resource selector, or `None` (with errors recorded) when any part of it
    /// is wrong.
    fn selector(&mut self, raw: &Spanned<RawSelector>, file: usize) -> Option<ResourceSelector> {
        let line = self.line(file, raw);
        let s = raw.get_ref();
        let mut good = true;
        let mut out = ResourceSelector::default();
        for k in &s.kinds {
            match self.kind(k, file, line) {
                Some(kind) => {
                    out.kinds.insert(kind);
                }
                None => good = false,
            }
        }
        for t in &s.tiers {
            match u8::try_from(*t).ok().filter(|t| i64::from(*t) <= MAX_TIER) {
                Some(t) => {
                    out.tiers.insert(t);
                }
                None => {
                    self.error(
                        file,
                        line,
                        format!("resources.tiers: tier {t} is out of range; use 0 to {MAX_TIER}"),
                    );
                    good = false;
                }
            }
        }
        for e in &s.environments {
            if let Err(err) = check_name(e) {
                self.error(file, line, format!("resources.environments: {e:?}: {err}"));
                good = false;
            }
            out.environments.insert(e.clone());
        }
        for n in &s.names {
            good &= self.resolve("resource", n, file, line, "resources.names");
            out.names.insert(n.clone());
        }
        for (k, v) in &s.tags {
            if let Err(err) = check_name(k) {
                self.error(file, line, format!("resources.tags: key {k:?}: {err}"));
                good = false;
            }
            out.tags.insert(k.clone(), v.clone());
        }
        good.then_some(out)
    }

    /// The eligibility rules, in order, or `None` (with errors recorded) when any is
    /// wrong. Each rule's fields are checked on their own, then every `when` condition is
    /// validated together against the Cedar schema.
    pub(super) fn rules(
        &mut self,
        raw: Vec<Entry<format::RawEligibility>>,
        usable: &[bool],
        resources: &[Resource],
        roles: &[Role],
    ) -> Option<Vec<EligibilityRule>> {
        let schema = match cedar::schema() {
            Ok(s) => Some(s),
            Err(e) => {
                self.errors.push(PolicyError {
                    file: String::new(),
                    line: 0,
                    message: e.to_string(),
                });
                None
            }
        };
        let mut rules = Vec::new();
        let mut conditions = Vec::new();
        let mut when_lines: HashMap<String, (usize, usize)> = HashMap::new();
        for (entry, ok) in raw.into_iter().zip(usable) {
            let Entry {
                file,
                line,
                value: e,
            } = entry;
            let mut good = *ok;
            let wl = self.line(file, &e.who);
            let who = self.principal(e.who.get_ref(), file, wl, "who", true);
            let selector = self.selector(&e.resources, file);
            let (role_names, roles_good) =
                self.rule_roles(&e.roles, file, selector.as_ref(), resources, roles);
            good &= roles_good;
            let max_duration = self.duration(&e.max_duration, file, "max_duration");
            let al = self.line(file, &e.approval);
            good &= self.resolve("approval", e.approval.get_ref(), file, al, "approval");
            let ticket = self.ticket_required(e.ticket.as_ref(), file, line);
            good &= ticket.is_some();
            let ticket_required = ticket.unwrap_or(false);
            let hours = e.hours.as_ref().map(|h| self.hours(h, file));
            good &= !matches!(hours, Some(None));
            let hours = hours.flatten();
            let id = format!("rule{}", rules.len());
            if let Some(when) = &e.when {
                let l = self.line(file, when);
                match cedar::parse_condition(&id, when.get_ref()) {
                    Ok(p) => {
                        when_lines.insert(id.clone(), (file, l));
                        conditions.push((id.clone(), when.get_ref().clone(), p));
                    }
                    Err(msg) => {
                        self.error(file, l, msg);
                        good = false;
                    }
                }
            }
            // A rejected rule keeps its place (`None`), so ids stay aligned and its condition
            // is still validated: its type errors are reported too.
            rules.push(match (good, who, selector, max_duration) {
                (true, Some(who), Some(resources), Some(max_duration)) => Some(EligibilityRule {
                    name: e.name.get_ref().clone(),
                    who,
                    roles: role_names,
                    resources,
                    max_duration,
                    approval: e.approval.get_ref().clone(),
                    ticket_required,
                    hours,
                    when: None,
                    location: self.location(file, line),
                }),
                _ => None,
            });
        }
        let schema = schema?;
        self.validate_conditions(schema, conditions, &when_lines, rules)
    }

    /// The roles a rule names, and whether they are good: listed once each, and each a
    /// role of a kind the rule can reach (its `kinds`, else those of its `names`, else all).
    fn rule_roles(
        &mut self,
        raw: &Spanned<Vec<String>>,
        file: usize,
        selector: Option<&ResourceSelector>,
        resources: &[Resource],
        roles: &[Role],
    ) -> (BTreeSet<String>, bool) {
        let rl = self.line(file, raw);
        let mut good = true;
        let mut role_names = BTreeSet::new();
        if raw.get_ref().is_empty() {
            self.error(file, rl, "roles must list at least one role");
            good = false;
        }
        // The kinds the rule can reach: its `kinds`, else those of its `names`, else all.
        let reach: BTreeSet<ResourceKind> = match selector {
            Some(s) if !s.kinds.is_empty() => s.kinds.clone(),
            Some(s) if !s.names.is_empty() => resources
                .iter()
                .filter(|r| s.names.contains(&r.name))
                .map(|r| r.kind)
                .collect(),
            _ => ResourceKind::ALL.into_iter().collect(),
        };
        for role in raw.get_ref() {
            if !role_names.insert(role.clone()) {
                self.error(file, rl, format!("role `{role}` is listed twice"));
                good = false;
            } else if selector.is_some()
                && !reach.is_empty()
                && !roles
                    .iter()
                    .any(|r| &r.name == role && reach.contains(&r.kind))
            {
                let kinds: Vec<&str> = reach.iter().map(|k| k.as_str()).collect();
                self.error(
                    file,
                    rl,
                    format!(
                        "unknown role `{role}`: no such role for {} resources",
                        kinds.join(", ")
                    ),
                );
                good = false;
            }
        }
        (role_names, good)
    }

    /// Whether a rule requires a ticket (`ticket`, "optional" when not given), or `None`
    /// (with an error recorded at the key) for any other value.
    fn ticket_required(
        &mut self,
        ticket: Option<&Spanned<String>>,
        file: usize,
        line: usize,
    ) -> Option<bool> {
        match ticket.map(|t| t.get_ref().as_str()) {
            None | Some("optional") => Some(false),
            Some("required") => Some(true),
            Some(other) => {
                let l = ticket.map_or(line, |t| self.line(file, t));
                self.error(
                    file,
                    l,
                    format!("ticket must be \"required\" or \"optional\", not {other:?}"),
                );
                None
            }
        }
    }

    /// A rule's `hours` (UTC when no offset is given), or `None` (with an error recorded)
    /// when they are wrong.
    fn hours(&mut self, raw: &Spanned<format::RawHours>, file: usize) -> Option<Hours> {
        let hl = self.line(file, raw);
        let h = raw.get_ref();
        match Hours::new(
            &h.days,
            &h.from,
            &h.to,
            h.utc_offset.as_deref().unwrap_or("+00:00"),
        ) {
            Ok(h) => Some(h),
            Err(msg) => {
                self.error(file, hl, msg);
                None
            }
        }
    }

    /// Validates every rule's condition together in strict mode and gives each kept rule
    /// its compiled condition (rule `i` is `rule{i}`), leaving out the rules refused
    /// earlier; `None` (with each error recorded at its condition's line) when any
    /// condition is refused.
    fn validate_conditions(
        &mut self,
        schema: cedar_policy::Schema,
        conditions: Vec<(String, String, cedar_policy::Policy)>,
        when_lines: &HashMap<String, (usize, usize)>,
        rules: Vec<Option<EligibilityRule>>,
    ) -> Option<Vec<EligibilityRule>> {
        let mut compiled = match cedar::validate(schema, conditions) {
            Ok(compiled) => compiled,
            Err(errs) => {
                for (id, message) in errs {
                    let (file, line) = when_lines.get(&id).copied().unwrap_or((0, 0));
                    self.error(file, line, message);
                }
                return None;
            }
        };
        let rules = rules.into_iter().enumerate().filter_map(|(i, rule)| {
            let mut rule = rule?;
            rule.when = compiled.remove(&format!("rule{i}"));
            Some(rule)
        });
        Some(rules.collect())
    }
}
