//! One admin connection to MariaDB, taken from the pool for one call: statements with a
//! timeout, errors that never quote a password, and the account steps (state, grants,
//! killing sessions, dropping) built on them.

use super::grants::{GrantLine, parse_grant_line};
use super::*;

/// One admin connection, taken from the pool for one call.
pub(super) struct Session<'a> {
    pub(super) conn: Conn,
    pub(super) target: &'a str,
}

impl Session<'_> {
    fn timed_out(&self, what: &str) -> ConnectorError {
        ConnectorError::Unavailable(format!(
            "{}: {what} did not finish within {} s",
            self.target,
            STATEMENT_TIMEOUT.as_secs()
        ))
    }

    /// Runs a statement that carries no secret; an error names it.
    pub(super) async fn run(&mut self, sql: &str) -> Result<(), ConnectorError> {
        self.run_ignoring(sql, &[]).await
    }

    /// Runs a statement that carries no secret, taking the server errors in `ok` as
    /// success.
    pub(super) async fn run_ignoring(
        &mut self,
        sql: &str,
        ok: &[u16],
    ) -> Result<(), ConnectorError> {
        match timeout(STATEMENT_TIMEOUT, self.conn.query_drop(sql)).await {
            Err(_) => Err(self.timed_out(&format!("`{sql}`"))),
            Ok(Err(mysql_async::Error::Server(s))) if ok.contains(&s.code) => Ok(()),
            Ok(Err(e)) => Err(db_error(&e, &format!("{}: `{sql}`", self.target), false)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Runs a statement that carries a secret: an error says `what` and the server's
    /// error code, never the statement or the server's message.
    pub(super) async fn run_secret(&mut self, sql: &str, what: &str) -> Result<(), ConnectorError> {
        match timeout(STATEMENT_TIMEOUT, self.conn.query_drop(sql)).await {
            Err(_) => Err(self.timed_out(what)),
            Ok(Err(e)) => Err(db_error(&e, &format!("{}: {what}", self.target), true)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The rows of a statement without parameters.
    pub(super) async fn query_rows(&mut self, sql: &str) -> Result<Vec<Row>, ConnectorError> {
        match timeout(STATEMENT_TIMEOUT, self.conn.query::<Row, _>(sql)).await {
            Err(_) => Err(self.timed_out(&format!("`{sql}`"))),
            Ok(Err(e)) => Err(db_error(&e, &format!("{}: `{sql}`", self.target), false)),
            Ok(Ok(rows)) => Ok(rows),
        }
    }

    /// The rows of a prepared statement with bound parameters.
    async fn exec_rows<P>(&mut self, sql: &str, params: P) -> Result<Vec<Row>, ConnectorError>
    where
        P: Into<Params> + Send,
    {
        match timeout(STATEMENT_TIMEOUT, self.conn.exec::<Row, _, _>(sql, params)).await {
            Err(_) => Err(self.timed_out(&format!("`{sql}`"))),
            Ok(Err(e)) => Err(db_error(&e, &format!("{}: `{sql}`", self.target), false)),
            Ok(Ok(rows)) => Ok(rows),
        }
    }

    /// Column `i` of `row`.
    pub(super) fn col<T: FromValue>(&self, row: &Row, i: usize) -> Result<T, ConnectorError> {
        match row.get_opt::<T, usize>(i) {
            Some(Ok(v)) => Ok(v),
            _ => Err(ConnectorError::Refused(format!(
                "{}: unexpected answer (column {i})",
                self.target
            ))),
        }
    }

    /// Whether `user@host` exists (`Some`) and is locked (`Some(true)`).
    pub(super) async fn account_state(
        &mut self,
        user: &str,
        host: &str,
    ) -> Result<Option<bool>, ConnectorError> {
        let rows = self
            .exec_rows(
                "SELECT IFNULL(JSON_VALUE(Priv, '$.account_locked'), 'false') IN ('1', 'true') \
                 FROM mysql.global_priv WHERE User = ? AND Host = ?",
                (user, host),
            )
            .await?;
        match rows.first() {
            None => Ok(None),
            Some(row) => Ok(Some(self.col::<i64>(row, 0)? != 0)),
        }
    }

    /// The parsed `SHOW GRANTS` of `user@host` (of the role `user` without a host);
    /// `None` when it does not exist.
    pub(super) async fn grants_of(
        &mut self,
        user: &str,
        host: Option<&str>,
    ) -> Result<Option<Vec<GrantLine>>, ConnectorError> {
        let who = match host {
            Some(h) => account_sql(user, h),
            None => quote_str(user),
        };
        let sql = format!("SHOW GRANTS FOR {who}");
        let rows = match timeout(STATEMENT_TIMEOUT, self.conn.query::<Row, _>(sql.as_str())).await {
            Err(_) => return Err(self.timed_out(&format!("`{sql}`"))),
            Ok(Err(mysql_async::Error::Server(s))) if s.code == 1141 => return Ok(None),
            Ok(Err(e)) => return Err(db_error(&e, &format!("{}: `{sql}`", self.target), false)),
            Ok(Ok(rows)) => rows,
        };
        let mut lines = Vec::with_capacity(rows.len());
        for row in &rows {
            let text: String = self.col(row, 0)?;
            if let Some(line) = parse_grant_line(&text) {
                lines.push(line);
            }
        }
        Ok(Some(lines))
    }

    /// Kills every connection of `user` (from any host) but this one.
    pub(super) async fn kill_sessions(&mut self, user: &str) -> Result<(), ConnectorError> {
        let rows = self
            .exec_rows(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()",
                (user,),
            )
            .await?;
        for row in &rows {
            let id: u64 = self.col(row, 0)?;
            self.run_ignoring(&format!("KILL CONNECTION {id}"), &[1094])
                .await?;
        }
        Ok(())
    }

    /// Locks `user@host` so nobody logs in, kills its connections, drops it and kills
    /// whatever connected in between. Succeeds when it is already gone.
    pub(super) async fn drop_account(
        &mut self,
        user: &str,
        host: &str,
    ) -> Result<(), ConnectorError> {
        let acct = account_sql(user, host);
        self.run(&format!("ALTER USER IF EXISTS {acct} ACCOUNT LOCK"))
            .await?;
        self.kill_sessions(user).await?;
        self.run(&format!("DROP USER IF EXISTS {acct}")).await?;
        self.kill_sessions(user).await
    }
}
