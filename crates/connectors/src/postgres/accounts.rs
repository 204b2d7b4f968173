//! Discovery and the vault's calls on existing PostgreSQL roles: every role and what
//! makes it privileged, taking that away, setting a role's password as a SCRAM verifier,
//! and checking a login on a connection of its own.

use super::sql::{DISCOVER_SQL, set_password_sql, terminate_sql};
use super::*;

impl Postgres {
    /// Every role on the server (but the predefined `pg_*` ones) and what makes it
    /// privileged, with its origin.
    pub(super) async fn discover_accounts(&self) -> Result<Vec<Account>, ConnectorError> {
        let predefined: Vec<String> = PRIVILEGED_PREDEFINED
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let rows = self
            .run("discover", move |c| {
                Box::pin(async move {
                    let params: [(&(dyn ToSql + Sync), Type); 1] =
                        [(&predefined, Type::TEXT_ARRAY)];
                    c.query_typed(DISCOVER_SQL, &params).await
                })
            })
            .await?;
        let mut accounts = Vec::with_capacity(rows.len());
        for row in &rows {
            let name: String = self.col(row, 0)?;
            let mut privileges = Vec::new();
            for (i, (attribute, _)) in (1..).zip(ATTRIBUTES) {
                if self.col::<bool>(row, i)? {
                    privileges.push((*attribute).to_owned());
                }
            }
            let until = self.micros_to_time(self.col(row, 6)?)?;
            let groups: Vec<String> = self.col(row, 7)?;
            privileges.extend(groups.into_iter().map(|g| format!("member of {g}")));
            let origin = if name == self.config.user {
                Origin::Connector
            } else if is_account_name(&name) {
                Origin::Warden
            } else {
                Origin::Other
            };
            accounts.push(Account {
                name,
                origin,
                privileges,
                until,
            });
        }
        Ok(accounts)
    }

    pub(super) async fn remove_account(&self, account: &Account) -> Result<(), ConnectorError> {
        let name = account.name.as_str();
        if name == self.config.user {
            return Err(self.refuse(
                "remove",
                format!("{name} is the connector's own admin login"),
            ));
        }
        if name.is_empty() || name.contains('\0') || name.starts_with("pg_") {
            return Err(self.refuse(
                "remove",
                format!("{name:?} is not a role Warden can act on"),
            ));
        }
        if is_account_name(name) {
            return self.drop_account(name).await;
        }
        let mut actions = Vec::with_capacity(account.privileges.len());
        for privilege in &account.privileges {
            if let Some(group) = privilege.strip_prefix("member of ") {
                if group.is_empty() || group.contains('\0') {
                    return Err(self.refuse("remove", format!("{privilege:?} names no role")));
                }
                actions.push(format!(
                    "IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {}) THEN REVOKE {} FROM {}; END IF;",
                    lit(group),
                    ident(group),
                    ident(name)
                ));
            } else if let Some((_, option)) = ATTRIBUTES.iter().find(|(a, _)| a == privilege) {
                actions.push(format!("ALTER ROLE {} WITH {option};", ident(name)));
            } else {
                return Err(self.refuse(
                    "remove",
                    format!(
                        "unknown privilege {privilege:?} of {name:?} (expected superuser, createrole, createdb, replication, bypassrls or `member of ROLE`)"
                    ),
                ));
            }
        }
        let body = format!(
            "BEGIN IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {}) THEN {} END IF; END",
            lit(name),
            actions.join(" ")
        );
        let sql = format!("DO {}; COMMIT; {}", lit(&body), terminate_sql(name));
        self.batch("remove", sql).await?;
        tracing::debug!(connection = %self.name, account = name, "privileges removed");
        Ok(())
    }

    /// Checks a role name [`Connector::set_password`] or [`Connector::check_login`] is
    /// given: 1 to 63 bytes without NUL. PostgreSQL cuts a longer name to 63 bytes, which
    /// could name another role.
    fn check_role_name(&self, what: &str, username: &str) -> Result<(), ConnectorError> {
        if username.is_empty() || username.len() > 63 || username.contains('\0') {
            return Err(self.refuse(
                what,
                format!("{username:?} is not a role name (1 to 63 bytes, no NUL)"),
            ));
        }
        Ok(())
    }

    pub(super) async fn set_role_password(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), ConnectorError> {
        let what = format!("setting the password of role {username:?}");
        self.check_role_name(&what, username)?;
        let hashed = password.clone();
        // PBKDF2 with 4,096 rounds: off the async threads.
        let verifier = tokio::task::spawn_blocking(move || {
            postgres_protocol::password::scram_sha_256(hashed.expose_secret().as_bytes())
        })
        .await
        .map_err(|e| {
            ConnectorError::Unavailable(format!(
                "postgres connection {}: hashing the password failed: {e}",
                self.name
            ))
        })?;
        self.batch(&what, set_password_sql(username, &verifier))
            .await?;
        tracing::info!(connection = %self.name, role = username, "password set");
        Ok(())
    }

    pub(super) async fn try_login(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<bool, ConnectorError> {
        let what = format!("logging in as {username:?}");
        self.check_role_name(&what, username)?;
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.config.host)
            .port(self.config.port)
            .user(username)
            .password(password.expose_secret())
            .dbname(&self.config.database)
            .application_name("warden")
            .ssl_mode(SslMode::Disable)
            .connect_timeout(self.connect_timeout());
        let connecting = tokio::time::timeout(self.connect_timeout() * 2, cfg.connect(NoTls));
        match connecting.await {
            Err(_) => Err(ConnectorError::Unavailable(format!(
                "postgres connection {}: {what}: connecting to {}:{} timed out",
                self.name, self.config.host, self.config.port
            ))),
            Ok(Ok((client, connection))) => {
                // Dropping the client ends the session; waiting for it leaves none behind.
                drop(client);
                let _ = tokio::time::timeout(self.connect_timeout(), connection).await;
                Ok(true)
            }
            Ok(Err(e)) => {
                let code = e.code().map(|c| c.code());
                if matches!(code, Some("28P01" | "28000")) {
                    tracing::debug!(connection = %self.name, role = username, "login refused");
                    return Ok(false);
                }
                let msg = match e.as_db_error() {
                    Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                    None => e.to_string(),
                };
                Err(ConnectorError::Unavailable(format!(
                    "postgres connection {}: {what}: {msg}",
                    self.name
                )))
            }
        }
    }
}
