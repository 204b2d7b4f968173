//! Compiling what a role does on its target (`member_of`, `grants`, `acl`, `principals`,
//! ...): each key belongs to one resource kind and every value is checked here, so a
//! connector never receives a name it would have to refuse.

use super::*;
use crate::connector::{
    Login, MariadbGrant, RoleTarget, RoleTargetError, check_acl_rule, check_extension,
    check_force_command, check_mariadb_on, check_mariadb_privilege, check_pg_role, check_principal,
};
use crate::policy::format::RawRole;

impl Compiler {
    /// The role's target mapping, or `None` (with errors recorded) when it is wrong: the
    /// keys must belong to the resource's kind, then the kind's own function checks them.
    pub(super) fn role_target(
        &mut self,
        kind: ResourceKind,
        r: &RawRole,
        file: usize,
        line: usize,
    ) -> Option<RoleTarget> {
        let keys: [(&str, ResourceKind, Option<usize>); 7] = [
            (
                "member_of",
                ResourceKind::Postgres,
                r.member_of.as_ref().map(|v| self.line(file, v)),
            ),
            (
                "login",
                ResourceKind::Postgres,
                r.login.as_ref().map(|v| self.line(file, v)),
            ),
            (
                "grants",
                ResourceKind::Mariadb,
                r.grants.as_ref().map(|v| self.line(file, v)),
            ),
            (
                "acl",
                ResourceKind::Redis,
                r.acl.as_ref().map(|v| self.line(file, v)),
            ),
            (
                "principals",
                ResourceKind::Ssh,
                r.principals.as_ref().map(|v| self.line(file, v)),
            ),
            (
                "extensions",
                ResourceKind::Ssh,
                r.extensions.as_ref().map(|v| self.line(file, v)),
            ),
            (
                "force_command",
                ResourceKind::Ssh,
                r.force_command.as_ref().map(|v| self.line(file, v)),
            ),
        ];
        let before = self.errors.len();
        let mut any = false;
        for (key, owner, at) in keys {
            let Some(at) = at else { continue };
            any = true;
            if owner != kind {
                self.error(
                    file,
                    at,
                    format!("`{key}` applies to {owner} roles, not {kind} roles"),
                );
            }
        }
        if self.errors.len() > before {
            return None;
        }
        if !any {
            return Some(RoleTarget::Unmapped);
        }
        let target = match kind {
            ResourceKind::Postgres => self.postgres_target(r, file, line)?,
            ResourceKind::Mariadb => self.mariadb_target(r, file)?,
            ResourceKind::Redis => self.redis_target(r, file)?,
            ResourceKind::Ssh => self.ssh_target(r, file, line)?,
        };
        (self.errors.len() == before).then_some(target)
    }

    /// Records an error at `at` when `f` refuses `value`, the value of `key`.
    fn check_value(
        &mut self,
        file: usize,
        at: usize,
        key: &str,
        value: &str,
        f: fn(&str) -> Result<(), RoleTargetError>,
    ) {
        if let Err(e) = f(value) {
            self.error(file, at, format!("`{key}`: {e}"));
        }
    }

    /// A PostgreSQL role's target: the roles it confers (`member_of`) and whose login it
    /// uses (`login`). `None` when `member_of` is missing.
    fn postgres_target(&mut self, r: &RawRole, file: usize, line: usize) -> Option<RoleTarget> {
        let member_of = r
            .member_of
            .as_ref()
            .map(|v| (self.line(file, v), v.get_ref().clone()));
        let Some((at, member_of)) = member_of else {
            self.error(
                file,
                line,
                "a postgres role with `login` needs `member_of`, the roles it confers",
            );
            return None;
        };
        if member_of.is_empty() {
            self.error(file, at, "`member_of` must name at least one role");
        }
        for m in &member_of {
            self.check_value(file, at, "member_of", m, check_pg_role);
        }
        let login = match r
            .login
            .as_ref()
            .map(|l| (self.line(file, l), l.get_ref().as_str()))
        {
            None | Some((_, "dynamic")) => Login::Dynamic,
            Some((_, "own")) => Login::Own,
            Some((at, other)) => {
                self.error(
                    file,
                    at,
                    format!("`login`: unknown value {other:?}; use \"dynamic\" or \"own\""),
                );
                Login::Dynamic
            }
        };
        Some(RoleTarget::Postgres { member_of, login })
    }

    /// A MariaDB role's target: its `grants`, each privilege and object checked.
    fn mariadb_target(&mut self, r: &RawRole, file: usize) -> Option<RoleTarget> {
        let raw = r.grants.as_ref()?;
        let at = self.line(file, raw);
        if raw.get_ref().is_empty() {
            self.error(file, at, "`grants` must hold at least one grant");
        }
        let mut grants = Vec::new();
        for g in raw.get_ref() {
            if g.privileges.is_empty() {
                self.error(file, at, "`grants`: a grant needs at least one privilege");
            }
            for p in &g.privileges {
                self.check_value(file, at, "grants", p, check_mariadb_privilege);
            }
            self.check_value(file, at, "grants", &g.on, check_mariadb_on);
            grants.push(MariadbGrant {
                privileges: g.privileges.clone(),
                on: g.on.clone(),
            });
        }
        Some(RoleTarget::Mariadb { grants })
    }

    /// A Redis role's target: its `acl` rules, each checked.
    fn redis_target(&mut self, r: &RawRole, file: usize) -> Option<RoleTarget> {
        let raw = r.acl.as_ref()?;
        let at = self.line(file, raw);
        if raw.get_ref().is_empty() {
            self.error(file, at, "`acl` must hold at least one rule");
        }
        for rule in raw.get_ref() {
            self.check_value(file, at, "acl", rule, check_acl_rule);
        }
        Some(RoleTarget::Redis {
            acl: raw.get_ref().clone(),
        })
    }

    /// An SSH role's target: the certificate's `principals`, `extensions` (`permit-pty`
    /// when not given) and `force_command`. `None` when `principals` is missing.
    fn ssh_target(&mut self, r: &RawRole, file: usize, line: usize) -> Option<RoleTarget> {
        let Some(raw) = r.principals.as_ref() else {
            self.error(
                file,
                line,
                "an ssh role with `extensions` or `force_command` needs `principals`",
            );
            return None;
        };
        let at = self.line(file, raw);
        if raw.get_ref().is_empty() {
            self.error(file, at, "`principals` must name at least one principal");
        }
        for p in raw.get_ref() {
            self.check_value(file, at, "principals", p, check_principal);
        }
        let extensions = match r.extensions.as_ref() {
            Some(e) => {
                let at = self.line(file, e);
                for x in e.get_ref() {
                    self.check_value(file, at, "extensions", x, check_extension);
                }
                e.get_ref().clone()
            }
            None => vec!["permit-pty".to_owned()],
        };
        let force_command = r.force_command.as_ref().map(|c| {
            let at = self.line(file, c);
            self.check_value(file, at, "force_command", c.get_ref(), check_force_command);
            c.get_ref().clone()
        });
        Some(RoleTarget::Ssh {
            principals: raw.get_ref().clone(),
            extensions,
            force_command,
        })
    }
}
