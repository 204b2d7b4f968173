//! The SQL Warden sends to PostgreSQL, built as text: `DO` blocks that grant, refuse,
//! take over and drop roles, end sessions and revoke memberships, and the catalog queries
//! of verification and discovery. Every name is quoted with `escape_identifier` and every
//! value with `escape_literal`, after the callers checked them.

use super::*;

/// PL/pgSQL that takes a transaction-scoped advisory lock on the role named by the
/// literal `name`, so changes of one role queue instead of failing with "tuple
/// concurrently updated" (or a duplicate `CREATE ROLE`) when they run at once.
pub(super) fn lock_role(name: &str) -> String {
    format!("PERFORM pg_catalog.pg_advisory_xact_lock({LOCK_SPACE}, pg_catalog.hashtext({name}));")
}

/// `ARRAY['a','b']::text[]`.
fn text_array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| lit(s)).collect();
    format!("ARRAY[{}]::text[]", quoted.join(", "))
}

/// `"a", "b"`.
fn ident_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| ident(s)).collect();
    quoted.join(", ")
}

/// PL/pgSQL that refuses the whole statement, naming them, when some of `roles` do not
/// exist.
fn require_roles(roles: &str) -> String {
    format!(
        "SELECT string_agg(w_n, ', ' ORDER BY w_n) INTO w_missing \
           FROM unnest({roles}) AS w_n \
          WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = w_n); \
         IF w_missing IS NOT NULL THEN \
           RAISE EXCEPTION USING ERRCODE = 'undefined_object', \
             MESSAGE = 'member_of role(s) not found on the server: ' || w_missing; \
         END IF;"
    )
}

/// PL/pgSQL that loops `w_g` over the roles `member` (a literal) is directly a member
/// of, restricted by `filter` (a condition on `g.rolname`).
fn memberships_loop(member: &str, filter: &str, body: &str) -> String {
    format!(
        "FOR w_g IN SELECT DISTINCT g.rolname FROM pg_catalog.pg_auth_members m \
           JOIN pg_catalog.pg_roles g ON g.oid = m.roleid \
           JOIN pg_catalog.pg_roles u ON u.oid = m.member \
          WHERE u.rolname = {member} AND {filter} LOOP {body} END LOOP;"
    )
}

/// One `DO` block, one transaction: refuse unknown `member_of` roles, create the login
/// (or re-enable it and move its end, dropping memberships policy no longer gives),
/// grant the memberships.
pub(super) fn grant_dynamic_sql(
    account: &str,
    member_of: &[String],
    until: &str,
    verifier: &str,
) -> String {
    let roles = text_array(member_of);
    let name = lit(account);
    let role = ident(account);
    let body = format!(
        "DECLARE w_missing text; w_g text; BEGIN {lock} {require} \
         IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {name}) THEN \
           ALTER ROLE {role} WITH LOGIN VALID UNTIL {until}; {stale} \
         ELSE \
           CREATE ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
             NOBYPASSRLS INHERIT PASSWORD {verifier} VALID UNTIL {until}; \
         END IF; \
         GRANT {groups} TO {role}; END",
        lock = lock_role(&name),
        require = require_roles(&roles),
        stale = memberships_loop(
            &name,
            &format!("g.rolname <> ALL ({roles})"),
            &format!("EXECUTE format('REVOKE %I FROM %I', w_g, {name});"),
        ),
        verifier = lit(verifier),
        groups = ident_list(member_of),
    );
    format!("DO {}", lit(&body))
}

/// One `DO` block: refuse a missing login or missing roles, grant the memberships.
pub(super) fn grant_own_sql(user: &str, member_of: &[String]) -> String {
    let body = format!(
        "DECLARE w_missing text; BEGIN {lock} \
         IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {name}) THEN \
           RAISE EXCEPTION USING ERRCODE = 'undefined_object', \
             MESSAGE = 'login role ' || {name} || ' not found on the server'; \
         END IF; {require} GRANT {groups} TO {role}; END",
        lock = lock_role(&lit(user)),
        name = lit(user),
        role = ident(user),
        require = require_roles(&text_array(member_of)),
        groups = ident_list(member_of),
    );
    format!("DO {}", lit(&body))
}

/// One `DO` block: refuse a missing role or one that cannot log in, set the verifier.
/// Sessions of the role are left alone.
pub(super) fn set_password_sql(role: &str, verifier: &str) -> String {
    let name = lit(role);
    let body = format!(
        "DECLARE w_login boolean; BEGIN {lock} \
         SELECT rolcanlogin INTO w_login FROM pg_catalog.pg_roles WHERE rolname = {name}; \
         IF NOT FOUND THEN \
           RAISE EXCEPTION USING ERRCODE = 'undefined_object', \
             MESSAGE = 'the role does not exist'; \
         ELSIF NOT w_login THEN \
           RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state', \
             MESSAGE = 'the role cannot log in (NOLOGIN)'; \
         END IF; \
         ALTER ROLE {role} WITH PASSWORD {verifier}; END",
        lock = lock_role(&name),
        role = ident(role),
        verifier = lit(verifier),
    );
    format!("DO {}", lit(&body))
}

/// Ends every session of `role` but the caller's, waiting a moment for each to go.
pub(super) fn terminate_sql(role: &str) -> String {
    format!(
        "SELECT pg_catalog.pg_terminate_backend(pid, {TERMINATE_WAIT_MS}) \
           FROM pg_catalog.pg_stat_activity \
          WHERE usename = {} AND pid <> pg_catalog.pg_backend_pid();",
        lit(role)
    )
}

/// A PL/pgSQL exception handler (`WHEN … THEN …;`) that re-raises a refusal for lack of
/// a privilege as `what` (an SQL text expression), PostgreSQL's own message, and `needs`:
/// what the admin role needs for the step. A revocation that cannot finish then says
/// which privilege is missing.
fn when_lacking(what: &str, needs: &str) -> String {
    format!(
        "WHEN insufficient_privilege THEN \
           RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', \
             MESSAGE = {what} || ': ' || SQLERRM || {needs};",
        needs = lit(&format!(" (the admin role needs {needs})")),
    )
}

/// What the admin role needs to change or drop a role Warden made.
const NEEDS_CREATEROLE: &str = "CREATEROLE; on PostgreSQL 16 and later also the ADMIN option \
on the role, which it holds on the roles it created";

/// PL/pgSQL for a block that declares `w_oid oid` and has set it to the oid of `account`:
/// the admin takes the privileges of the role (a membership granted to itself, which
/// `REASSIGN OWNED` and `DROP OWNED` require: PostgreSQL 15 gives a creator nothing, 16
/// only the ADMIN option), then everything the role owns in this database becomes the
/// admin's and every privilege granted to the role here is dropped.
fn take_over_sql(account: &str) -> String {
    let name = lit(account);
    let role = ident(account);
    let here = format!("{name} || ' in database ' || pg_catalog.current_database()");
    format!(
        "IF NOT pg_catalog.pg_has_role(w_oid, 'USAGE') THEN BEGIN \
           IF pg_catalog.current_setting('server_version_num')::int >= 160000 THEN \
             EXECUTE format('GRANT %I TO %I WITH INHERIT TRUE', {name}, current_user); \
           ELSE \
             EXECUTE format('GRANT %I TO %I', {name}, current_user); \
           END IF; EXCEPTION {grant} END; \
         END IF; \
         BEGIN REASSIGN OWNED BY {role} TO CURRENT_USER; EXCEPTION {reassign} END; \
         BEGIN DROP OWNED BY {role}; EXCEPTION {drop} END;",
        grant = when_lacking(
            &format!("'taking the privileges of role ' || {name} || ' to reassign what it owns'"),
            NEEDS_CREATEROLE,
        ),
        reassign = when_lacking(
            &format!("'REASSIGN OWNED BY ' || {here}"),
            "CREATE on the schema of each function, procedure, operator, collation, \
             conversion, text search object or statistics object the role created, since \
             these become the admin's",
        ),
        drop = when_lacking(&format!("'DROP OWNED BY ' || {here}"), NEEDS_CREATEROLE),
    )
}

/// The databases other than this one where `account` owns objects or holds privileges,
/// one row each in a column `w_database`: `REASSIGN OWNED` and `DROP OWNED` act on the
/// current database only, so these need a connection of their own.
pub(super) fn elsewhere_sql(account: &str) -> String {
    format!(
        "SELECT d.datname::text AS w_database \
           FROM pg_catalog.pg_shdepend s \
           JOIN pg_catalog.pg_database d ON d.oid = s.dbid \
          WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass \
            AND s.refobjid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = {}) \
            AND d.datname <> pg_catalog.current_database() \
          GROUP BY 1 ORDER BY 1;",
        lit(account)
    )
}

/// One `DO` block: what `account` owns here is taken over, and the role is dropped unless
/// it still owns objects or holds privileges in another database; then those databases
/// (see [`elsewhere_sql`]). Privileges another role granted to it directly, which the
/// admin cannot revoke, are named in the error.
pub(super) fn drop_role_sql(account: &str) -> String {
    let name = lit(account);
    let role = ident(account);
    let body = format!(
        "DECLARE w_oid oid; w_detail text; BEGIN {lock} \
         SELECT oid INTO w_oid FROM pg_catalog.pg_roles WHERE rolname = {name}; \
         IF FOUND THEN {take_over} \
           IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s \
                           WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass \
                             AND s.refobjid = w_oid AND s.dbid <> 0 \
                             AND s.dbid <> (SELECT oid FROM pg_catalog.pg_database \
                                             WHERE datname = pg_catalog.current_database())) THEN \
             BEGIN DROP ROLE {role}; \
             EXCEPTION \
               WHEN dependent_objects_still_exist THEN \
                 GET STACKED DIAGNOSTICS w_detail = PG_EXCEPTION_DETAIL; \
                 RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist', \
                   MESSAGE = 'DROP ROLE ' || {name} || ': ' || SQLERRM || ': ' \
                     || left(replace(w_detail, E'\\n', '; '), 400) \
                     || ' (granted to it directly by another role, which the admin role cannot \
                        revoke: revoke them as their grantor or a superuser; the role can no \
                        longer log in and holds no membership)'; \
               {drop_needs} \
             END; \
           END IF; \
         END IF; END",
        lock = lock_role(&name),
        take_over = take_over_sql(account),
        drop_needs = when_lacking(&format!("'DROP ROLE ' || {name}"), NEEDS_CREATEROLE),
    );
    format!("DO {}; {}", lit(&body), elsewhere_sql(account))
}

/// The batch a revocation starts with: `NOLOGIN` and no memberships (committed first, so
/// no new session starts and nothing is held even if the rest fails), then its sessions
/// ended, in every database, then [`drop_role_sql`].
pub(super) fn drop_account_sql(account: &str) -> String {
    let name = lit(account);
    let role = ident(account);
    let disable = format!(
        "DECLARE w_g text; BEGIN {lock} \
         IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {name}) THEN BEGIN \
           ALTER ROLE {role} WITH NOLOGIN; {revoke} \
         EXCEPTION {needs} END; \
         END IF; END",
        lock = lock_role(&name),
        revoke = memberships_loop(
            &name,
            "true",
            &format!("EXECUTE format('REVOKE %I FROM %I', w_g, {name});"),
        ),
        needs = when_lacking(
            &format!("'disabling role ' || {name}"),
            "CREATEROLE; on PostgreSQL 16 and later also the ADMIN option on the role and on \
             the roles it is a member of",
        ),
    );
    format!(
        "DO {}; COMMIT; {} {}",
        lit(&disable),
        terminate_sql(account),
        drop_role_sql(account)
    )
}

/// One `DO` block for another database than the connection's: what `account` owns or
/// holds there is taken over or dropped (see [`take_over_sql`]).
pub(super) fn clean_up_sql(account: &str) -> String {
    let body = format!(
        "DECLARE w_oid oid; BEGIN \
         SELECT oid INTO w_oid FROM pg_catalog.pg_roles WHERE rolname = {}; \
         IF FOUND THEN {} END IF; END",
        lit(account),
        take_over_sql(account),
    );
    format!("DO {}", lit(&body))
}

/// Revokes the `member_of` memberships `user` holds (committed), then ends its sessions,
/// so none that did `SET ROLE` keeps the privilege.
pub(super) fn revoke_own_sql(user: &str, member_of: &[String]) -> String {
    let name = lit(user);
    let body = format!(
        "DECLARE w_g text; BEGIN {} {} END",
        lock_role(&name),
        memberships_loop(
            &name,
            &format!("g.rolname = ANY ({})", text_array(member_of)),
            &format!("EXECUTE format('REVOKE %I FROM %I', w_g, {name});"),
        )
    );
    format!("DO {}; COMMIT; {}", lit(&body), terminate_sql(user))
}

/// Whether the role `$1` can log in, its `VALID UNTIL` in microseconds since the epoch
/// (null when none or infinite), and how many of the roles `$2` it is directly a member of.
pub(super) const VERIFY_SQL: &str = "\
SELECT r.rolcanlogin,
       CASE WHEN r.rolvaliduntil IS NOT NULL AND isfinite(r.rolvaliduntil)
            THEN (extract(epoch FROM r.rolvaliduntil) * 1000000)::int8 END,
       (SELECT count(DISTINCT g.rolname)
          FROM pg_catalog.pg_auth_members m
          JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
         WHERE m.member = r.oid AND g.rolname = ANY ($2::text[]))::int8
  FROM pg_catalog.pg_roles r
 WHERE r.rolname = $1";

/// Every role but the predefined `pg_*` ones: its privileged attributes, `VALID UNTIL`,
/// and its direct memberships of privileged roles. A role is privileged when it has a
/// privileged attribute, is one of the predefined roles `$1`, or is (transitively) a
/// member of such a role, since a member can `SET ROLE` to it. Reporting only direct
/// memberships keeps each one removable by a single `REVOKE`.
pub(super) const DISCOVER_SQL: &str = "\
WITH RECURSIVE privileged(oid) AS (
    SELECT oid FROM pg_catalog.pg_roles
     WHERE rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls
        OR rolname = ANY ($1::text[])
    UNION
    SELECT m.member FROM pg_catalog.pg_auth_members m JOIN privileged p ON m.roleid = p.oid
)
SELECT r.rolname::text, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
       r.rolbypassrls,
       CASE WHEN r.rolvaliduntil IS NOT NULL AND isfinite(r.rolvaliduntil)
            THEN (extract(epoch FROM r.rolvaliduntil) * 1000000)::int8 END,
       ARRAY(SELECT DISTINCT g.rolname::text
               FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid AND g.oid IN (SELECT oid FROM privileged)
              ORDER BY 1)
  FROM pg_catalog.pg_roles r
 WHERE r.rolname !~ '^pg_'
 ORDER BY r.rolname";
