//! What each command does: the dispatch of a parsed command line, and the plumbing the
//! command modules share (the client, JSON output, times, secrets typed in).

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use secrecy::zeroize::Zeroize as _;
use warden_proto::WireSecret;
use warden_server::config::ConfigError;

use crate::cli::{Cli, Command};
use crate::client::{Client, DEFAULT_ADDR};
use crate::credentials;

/// The exit code for an error: 2 for bad configuration or usage, 1 for the rest.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ConfigError>().is_some() {
        2
    } else {
        1
    }
}

/// Runs a command.
pub async fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Serve(args) => crate::serve::serve(args).await,
        Command::Login(args) => crate::session::login(&cli, args).await,
        Command::Logout => crate::session::logout(&cli).await,
        Command::Whoami => crate::session::whoami(&cli).await,
        Command::Passwd => crate::session::passwd(&cli).await,
        Command::Token(cmd) => crate::tokens::token(&cli, cmd).await,
        Command::User(cmd) => crate::users::user(&cli, cmd).await,
        Command::Hr(cmd) => crate::directory::hr(&cli, cmd).await,
        Command::Identities(cmd) => crate::directory::identities(&cli, cmd).await,
        Command::Access(cmd) => crate::directory::access(&cli, cmd).await,
        Command::Policy(cmd) => crate::policy::policy(&cli, cmd).await,
        Command::Request(_)
        | Command::Requests(_)
        | Command::Approve { .. }
        | Command::Deny { .. }
        | Command::Cancel { .. } => crate::requests::run(&cli).await,
        Command::Grants(_)
        | Command::Revoke { .. }
        | Command::Extend { .. }
        | Command::Breakglass(_)
        | Command::Justify { .. }
        | Command::Review(_)
        | Command::Incidents
        | Command::Vendor(_) => crate::grants::run(&cli).await,
        Command::Credential { .. }
        | Command::Ssh(_)
        | Command::Discover { .. }
        | Command::Reconcile { .. }
        | Command::Findings { .. } => crate::targets::run(&cli).await,
        Command::Audit(cmd) => crate::audit::run(&cli, cmd).await,
        Command::Operator(cmd) => crate::operator::operator(&cli, cmd).await,
        Command::Accounts(cmd) => crate::accounts::accounts(&cli, cmd).await,
    }
}

/// A client for the server in effect: flags and environment first, then the stored login.
pub fn client(cli: &Cli) -> Result<Client> {
    let stored = credentials::load()?;
    let addr = cli
        .addr
        .clone()
        .or_else(|| stored.as_ref().map(|s| s.addr.clone()))
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    // A stored token belongs to the server it came from; never send it elsewhere.
    let token = cli.token.clone().or_else(|| {
        stored
            .filter(|s| same_server(&s.addr, &addr))
            .map(|s| s.token)
    });
    Client::new(&addr, token, cli.ca_cert.as_deref())
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A moment as people read it: local time, to the second ([`crate::show::time`]).
pub fn time(t: time::OffsetDateTime) -> String {
    crate::show::time(t)
}

/// Reads one line of standard input as a secret, without its line end; the line read is
/// wiped.
pub fn read_line_secret(what: &str) -> Result<WireSecret> {
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"));
    let secret = WireSecret::from(line.trim_end_matches(['\r', '\n']));
    line.zeroize();
    read?;
    if secret.expose().is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(secret)
}
