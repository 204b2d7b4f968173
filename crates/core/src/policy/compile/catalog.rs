//! Compiling the catalogue tables: roles, groups, approval policies, resources and
//! birthright, each checked for names, ranges and references.

use super::*;

impl Compiler {
    pub(super) fn roles(&mut self, raw: &RawPolicy) -> Vec<Role> {
        let mut out: Vec<Role> = Vec::new();
        let mut seen: HashMap<(ResourceKind, String), String> = HashMap::new();
        for Entry {
            file,
            line,
            value: r,
        } in &raw.roles
        {
            let (file, line) = (*file, *line);
            let kind_line = self.line(file, &r.kind);
            let kind = self.kind(r.kind.get_ref(), file, kind_line);
            let name_line = self.line(file, &r.name);
            if let Err(e) = check_name(r.name.get_ref()) {
                self.error(
                    file,
                    name_line,
                    format!("role name {:?}: {e}", r.name.get_ref()),
                );
                continue;
            }
            let privilege = Privilege::parse(r.privilege.get_ref());
            if privilege.is_none() {
                let l = self.line(file, &r.privilege);
                self.error(
                    file,
                    l,
                    format!(
                        "unknown privilege `{}`; use read, write or admin",
                        r.privilege.get_ref()
                    ),
                );
            }
            let (Some(kind), Some(privilege)) = (kind, privilege) else {
                continue;
            };
            if let Some(first) = seen.get(&(kind, r.name.get_ref().clone())) {
                let message = format!(
                    "duplicate role `{}` for kind {kind} (first defined at {first})",
                    r.name.get_ref()
                );
                self.error(file, name_line, message);
                continue;
            }
            seen.insert(
                (kind, r.name.get_ref().clone()),
                self.location(file, name_line),
            );
            let Some(target) = self.role_target(kind, r, file, line) else {
                continue;
            };
            out.push(Role {
                kind,
                name: r.name.get_ref().clone(),
                privilege,
                description: r.description.clone().unwrap_or_default(),
                target,
                location: self.location(file, line),
            });
        }
        out
    }

    /// The groups, each with exactly one way of naming its members; a wrong group is left
    /// out, with errors recorded.
    pub(super) fn groups(&mut self, raw: &RawPolicy, usable: &[bool]) -> Vec<Group> {
        let mut out = Vec::new();
        for (entry, ok) in raw.groups.iter().zip(usable) {
            let (file, line, g) = (entry.file, entry.line, &entry.value);
            let given = [g.members.is_some(), g.rule.is_some(), g.external.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if given != 1 {
                self.error(
                    file,
                    line,
                    format!(
                        "group `{}` must have exactly one of `members`, `rule` or `external` (it has {given})",
                        g.name.get_ref()
                    ),
                );
                continue;
            }
            let Some(membership) = self.membership(g, file) else {
                continue;
            };
            if *ok {
                out.push(Group {
                    name: g.name.get_ref().clone(),
                    membership,
                    location: self.location(file, line),
                });
            }
        }
        out
    }

    /// The approval policies; a wrong one is left out, with errors recorded.
    pub(super) fn approvals(&mut self, raw: &RawPolicy, usable: &[bool]) -> Vec<ApprovalPolicy> {
        let mut out = Vec::new();
        for (entry, ok) in raw.approvals.iter().zip(usable) {
            let (file, a) = (entry.file, &entry.value);
            let mut good = *ok;
            let auto_below = self.threshold(&a.auto_below, file, "auto_below");
            let dual_from = self.threshold(&a.dual_from, file, "dual_from");
            if let (Some(auto), Some(dual)) = (auto_below, dual_from)
                && auto > dual
            {
                let l = self.line(file, &a.dual_from);
                self.error(
                    file,
                    l,
                    format!("dual_from ({dual}) must not be below auto_below ({auto})"),
                );
                good = false;
            }
            let (approvers, approvers_good) = self.approver_sources(&a.approvers, file);
            good &= approvers_good;
            let sl = self.line(file, &a.security_group);
            let security_ok = self.resolve(
                "group",
                a.security_group.get_ref(),
                file,
                sl,
                "security_group",
            );
            let timeout = self.duration(&a.pending_timeout, file, "pending_timeout");
            let (intake, intake_good) = self.intake(a, file);
            good &= intake_good;
            if let (true, true, Some(auto_below), Some(dual_from), Some(pending_timeout)) =
                (good, security_ok, auto_below, dual_from, timeout)
            {
                out.push(ApprovalPolicy {
                    name: a.name.get_ref().clone(),
                    auto_below,
                    dual_from,
                    approvers,
                    security_group: a.security_group.get_ref().clone(),
                    pending_timeout,
                    intake: std::sync::Arc::new(intake),
                });
            }
        }
        out
    }

    pub(super) fn resources(&mut self, raw: &RawPolicy, usable: &[bool]) -> Vec<Resource> {
        let mut out = Vec::new();
        for (entry, ok) in raw.resources.iter().zip(usable) {
            let (file, line, r) = (entry.file, entry.line, &entry.value);
            let mut good = *ok;
            let kl = self.line(file, &r.kind);
            let kind = self.kind(r.kind.get_ref(), file, kl);
            for (key, value) in [
                ("connection", &r.connection),
                ("environment", &r.environment),
            ] {
                if let Err(e) = check_name(value.get_ref()) {
                    let l = self.line(file, value);
                    self.error(file, l, format!("{key} {:?}: {e}", value.get_ref()));
                    good = false;
                }
            }
            let tier = u8::try_from(*r.tier.get_ref())
                .ok()
                .filter(|t| i64::from(*t) <= MAX_TIER);
            if tier.is_none() {
                let l = self.line(file, &r.tier);
                self.error(
                    file,
                    l,
                    format!(
                        "tier {} is out of range; use 0 (most sensitive) to {MAX_TIER}",
                        r.tier.get_ref()
                    ),
                );
            }
            let ol = self.line(file, &r.owner);
            let owner = self.principal(r.owner.get_ref(), file, ol, "owner", false);
            let mut tags = BTreeMap::new();
            if let Some(t) = &r.tags {
                let tl = self.line(file, t);
                for (k, v) in t.get_ref() {
                    if let Err(e) = check_name(k) {
                        self.error(file, tl, format!("tag key {k:?}: {e}"));
                        good = false;
                    } else if v.is_empty() {
                        self.error(file, tl, format!("tag `{k}` must not be empty"));
                        good = false;
                    }
                    tags.insert(k.clone(), v.clone());
                }
            }
            let mut standing = BTreeSet::new();
            if let Some(st) = &r.standing {
                let sl = self.line(file, st);
                for a in st.get_ref() {
                    if a.is_empty() || a.len() > 128 || a.chars().any(char::is_control) {
                        self.error(
                            file,
                            sl,
                            format!("`standing`: {a:?} is not an account name"),
                        );
                        good = false;
                    }
                    standing.insert(a.clone());
                }
            }
            let drift = match r
                .drift
                .as_ref()
                .map(|d| (self.line(file, d), d.get_ref().as_str()))
            {
                None | Some((_, "report")) => Drift::Report,
                Some((_, "remove")) => Drift::Remove,
                Some((dl, other)) => {
                    self.error(
                        file,
                        dl,
                        format!("`drift`: unknown value {other:?}; use \"report\" or \"remove\""),
                    );
                    good = false;
                    Drift::Report
                }
            };
            if let (true, Some(kind), Some(tier), Some(owner)) = (good, kind, tier, owner) {
                out.push(Resource {
                    standing,
                    drift,
                    name: r.name.get_ref().clone(),
                    kind,
                    connection: r.connection.get_ref().clone(),
                    environment: r.environment.get_ref().clone(),
                    tier,
                    owner,
                    tags,
                    location: self.location(file, line),
                });
            }
        }
        out
    }

    pub(super) fn birthrights<'r>(
        &mut self,
        raw: &RawPolicy,
        usable: &[bool],
        resources: &[Resource],
        role_of: &dyn Fn(ResourceKind, &str) -> Option<&'r Role>,
    ) -> Vec<Birthright> {
        let mut out = Vec::new();
        for (entry, ok) in raw.birthrights.iter().zip(usable) {
            let (file, line, b) = (entry.file, entry.line, &entry.value);
            let mut good = *ok;
            let wl = self.line(file, &b.who);
            let who = self.principal(b.who.get_ref(), file, wl, "who", true);
            if b.grants.get_ref().is_empty() {
                let l = self.line(file, &b.grants);
                self.error(file, l, "grants must list at least one { resource, role }");
                good = false;
            }
            let mut grants = Vec::new();
            for g in b.grants.get_ref() {
                let gl = self.line(file, g);
                let g = g.get_ref();
                if !self.resolve("resource", &g.resource, file, gl, "grant") {
                    good = false;
                    continue;
                }
                let Some(resource) = resources.iter().find(|r| r.name == g.resource) else {
                    good = false;
                    continue;
                };
                match role_of(resource.kind, &g.role) {
                    None => {
                        self.error(
                            file,
                            gl,
                            format!(
                                "grant refers to unknown role `{}` for {} resources",
                                g.role, resource.kind
                            ),
                        );
                        good = false;
                    }
                    Some(role) if role.privilege == Privilege::Admin => {
                        self.error(
                            file,
                            gl,
                            format!(
                                "birthright cannot grant admin role `{}` on `{}`: standing access must be read or write; make it an eligibility rule",
                                g.role, g.resource
                            ),
                        );
                        good = false;
                    }
                    Some(_) => grants.push(Entitlement {
                        resource: g.resource.clone(),
                        role: g.role.clone(),
                    }),
                }
            }
            if let (true, Some(who)) = (good, who) {
                out.push(Birthright {
                    name: b.name.get_ref().clone(),
                    who,
                    grants,
                    location: self.location(file, line),
                });
            }
        }
        out
    }

    /// A group's membership from the one of `members`, `rule` or `external` it has, or
    /// `None` (with errors recorded) when it is wrong.
    fn membership(&mut self, g: &format::RawGroup, file: usize) -> Option<Membership> {
        let name = g.name.get_ref();
        if let Some(members) = &g.members {
            self.listed_members(name, members, file)
        } else if let Some(rule) = &g.rule {
            self.membership_rule(name, rule, file)
        } else if let Some(external) = &g.external {
            if external.get_ref().trim().is_empty() {
                let l = self.line(file, external);
                self.error(
                    file,
                    l,
                    format!("group `{name}` external name must not be empty"),
                );
                return None;
            }
            Some(Membership::External(external.get_ref().clone()))
        } else {
            None
        }
    }

    /// The employee ids a group lists in `members`, or `None` (with an error recorded
    /// for each bad one) when any is not an employee id.
    fn listed_members(
        &mut self,
        name: &str,
        members: &Spanned<Vec<String>>,
        file: usize,
    ) -> Option<Membership> {
        let l = self.line(file, members);
        let mut ids = BTreeSet::new();
        let mut bad = false;
        for m in members.get_ref() {
            match EmployeeId::parse(m) {
                Ok(id) => {
                    ids.insert(id);
                }
                Err(e) => {
                    self.error(file, l, format!("group `{name}` member {m:?}: {e}"));
                    bad = true;
                }
            }
        }
        (!bad).then_some(Membership::Members(ids))
    }

    /// A group's `rule`: HR attributes each with the values that qualify, or `None`
    /// (with errors recorded) when it is empty, names an unknown attribute or gives an
    /// attribute no value.
    fn membership_rule(
        &mut self,
        name: &str,
        rule: &Spanned<BTreeMap<String, Spanned<format::OneOrMany>>>,
        file: usize,
    ) -> Option<Membership> {
        let l = self.line(file, rule);
        if rule.get_ref().is_empty() {
            self.error(
                file,
                l,
                format!("group `{name}` rule must name at least one attribute"),
            );
            return None;
        }
        let mut keys = BTreeMap::new();
        for (key, values) in rule.get_ref() {
            let vl = self.line(file, values);
            if !HrRecord::ATTRIBUTES.contains(&key.as_str()) {
                self.error(
                    file,
                    vl,
                    format!(
                        "group `{name}` rule: unknown attribute `{key}`; use one of {}",
                        HrRecord::ATTRIBUTES.join(", ")
                    ),
                );
                continue;
            }
            let list = match values.get_ref() {
                format::OneOrMany::One(s) => vec![s.clone()],
                format::OneOrMany::Many(v) => v.clone(),
            };
            if list.is_empty() || list.iter().any(String::is_empty) {
                self.error(
                    file,
                    vl,
                    format!("group `{name}` rule: `{key}` needs at least one non-empty value"),
                );
                continue;
            }
            keys.insert(key.clone(), list);
        }
        (keys.len() == rule.get_ref().len()).then_some(Membership::Rule(keys))
    }

    /// An approval threshold (`key`) as a whole number from 0 up, or `None` (with an
    /// error recorded) when it is negative or too large.
    fn threshold(&mut self, v: &Spanned<i64>, file: usize, key: &str) -> Option<u32> {
        let r = u32::try_from(*v.get_ref()).ok();
        if r.is_none() {
            let l = self.line(file, v);
            self.error(
                file,
                l,
                format!(
                    "{key} must be a whole number from 0 up, not {}",
                    v.get_ref()
                ),
            );
        }
        r
    }

    /// An approval policy's `approvers` (the manager, the resource's owner, groups and
    /// people), and whether they are good: at least one, each known and listed once.
    fn approver_sources(
        &mut self,
        raw: &Spanned<Vec<String>>,
        file: usize,
    ) -> (Vec<ApproverSource>, bool) {
        let al = self.line(file, raw);
        let mut good = true;
        if raw.get_ref().is_empty() {
            self.error(file, al, "approvers must list at least one source");
            good = false;
        }
        let mut approvers = Vec::new();
        for raw_source in raw.get_ref() {
            let source = match raw_source.as_str() {
                "manager" => Some(ApproverSource::Manager),
                "owner" => Some(ApproverSource::ResourceOwner),
                other => match self.principal(other, file, al, "approver", false) {
                    Some(Principal::Group(g)) => Some(ApproverSource::Group(g)),
                    Some(Principal::Identity(id)) => Some(ApproverSource::Identity(id)),
                    _ => None,
                },
            };
            match source {
                Some(s) if approvers.contains(&s) => {
                    self.error(file, al, format!("approver {raw_source:?} is listed twice"));
                    good = false;
                }
                Some(s) => approvers.push(s),
                None => good = false,
            }
        }
        (approvers, good)
    }

    /// What a request under an approval policy must bring (`min_justification`,
    /// `ticket_pattern`, `ticket_check_url`), and whether each given one is good.
    fn intake(&mut self, a: &format::RawApproval, file: usize) -> (crate::policy::Intake, bool) {
        let mut good = true;
        let mut intake = crate::policy::Intake::default();
        if let Some(min) = &a.min_justification {
            match usize::try_from(*min.get_ref()) {
                Ok(n) if (1..=2000).contains(&n) => intake.min_justification = n,
                _ => {
                    let l = self.line(file, min);
                    self.error(
                        file,
                        l,
                        "min_justification must be between 1 and 2000 characters".to_owned(),
                    );
                    good = false;
                }
            }
        }
        if let Some(p) = &a.ticket_pattern {
            let l = self.line(file, p);
            match regex_lite::Regex::new(&format!("^(?:{})$", p.get_ref())) {
                Ok(re) => intake.ticket_pattern = Some(re),
                Err(e) => {
                    self.error(
                        file,
                        l,
                        format!("ticket_pattern is not a valid regular expression: {e}"),
                    );
                    good = false;
                }
            }
        }
        if let Some(u) = &a.ticket_check_url {
            let l = self.line(file, u);
            let url = u.get_ref();
            match check_ticket_url(url, self.options.refuse_internal_ticket_check) {
                Ok(()) => intake.ticket_check_url = Some(url.clone()),
                Err(message) => {
                    self.error(file, l, message);
                    good = false;
                }
            }
        }
        (intake, good)
    }
}

/// Checks a `ticket_check_url`: an http(s) URL with `{ticket}` in its path or query —
/// never in its host, port or credentials, which the requester, who writes the ticket,
/// must not choose — and, with `refuse_internal`, no IP address in an internal range as
/// its host. The URL is read by the parser the server's HTTP client uses, so `127.1` or
/// `0x7f000001` are the loopback address here as they are there.
fn check_ticket_url(template: &str, refuse_internal: bool) -> Result<(), TicketUrlError> {
    if !template.contains("{ticket}") {
        return Err(TicketUrlError::Form);
    }
    let with = |ticket: &str| url::Url::parse(&template.replace("{ticket}", ticket));
    let (a, b) = match (with("A-1"), with("B-2")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Err(TicketUrlError::Invalid(e)),
    };
    if !matches!(a.scheme(), "http" | "https") {
        return Err(TicketUrlError::Form);
    }
    if a.host() != b.host()
        || a.port() != b.port()
        || a.username() != b.username()
        || a.password() != b.password()
    {
        return Err(TicketUrlError::TicketInAuthority);
    }
    let ip = match a.host() {
        Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(TicketUrlError::NoHost),
    };
    if refuse_internal
        && let Some(ip) = ip
        && let Some(why) = crate::address::internal(ip)
    {
        return Err(TicketUrlError::Internal {
            host: a.host_str().unwrap_or_default().to_owned(),
            why,
        });
    }
    Ok(())
}

/// Why a `ticket_check_url` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum TicketUrlError {
    /// No `{ticket}` in it, or not http(s).
    #[error("ticket_check_url must be an http(s) URL containing {{ticket}}")]
    Form,
    /// It does not parse as a URL once a ticket is put in.
    #[error("ticket_check_url is not a valid URL ({0})")]
    Invalid(url::ParseError),
    /// `{ticket}` changes its host, port or credentials.
    #[error(
        "ticket_check_url must have {{ticket}} in its path or query, not in its host, port \
         or credentials"
    )]
    TicketInAuthority,
    /// It has no host.
    #[error("ticket_check_url has no host")]
    NoHost,
    /// Its host is an internal address, and the server does not call those.
    #[error(
        "ticket_check_url: host {host} is {why}; the server calls internal addresses for \
         ticket checks only with [tickets] allow_internal = true in its configuration"
    )]
    Internal {
        /// The host as the URL writes it.
        host: String,
        /// The internal range it is in.
        why: crate::address::Internal,
    },
}
