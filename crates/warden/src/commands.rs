//! What each command does: the dispatch of a parsed command line, and the plumbing the
//! command modules share (the client, JSON output, times, secrets typed in).

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use secrecy::zeroize::Zeroize as _;
use serde::Serialize;
use warden_app::config::ConfigError;
use warden_proto::WireSecret;

use crate::cli::{Cli, Command, Global};
use crate::client::{Client, DEFAULT_ADDR};
use crate::{
    accounts, audit, breakglass, credentials, directory, grants, operator, policy, requests, serve,
    session, ssh, targets, tokens, users, vendors,
};

/// The exit code for an error: 2 for bad configuration or usage, 1 for the rest.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ConfigError>().is_some() {
        2
    } else {
        1
    }
}

/// Runs a command: each one goes to its own handler, which takes the command's own
/// arguments and nothing of any other command's.
pub async fn run(cli: Cli) -> Result<()> {
    let Cli { global, command } = cli;
    let g = &global;
    match command {
        Command::Serve(a) => serve::run(a).await,
        Command::Login(a) => session::login(g, a).await,
        Command::Logout => session::logout(g).await,
        Command::Whoami => session::whoami(g).await,
        Command::Passwd => session::passwd(g).await,
        Command::Token(c) => tokens::run(g, c).await,
        Command::User(c) => users::run(g, c).await,
        Command::Hr(c) => directory::hr(g, c).await,
        Command::Identities(c) => directory::identities(g, c).await,
        Command::Access(c) => directory::access(g, c).await,
        Command::Policy(c) => policy::run(g, c).await,
        Command::Request(a) => requests::request(g, a).await,
        Command::Requests(a) => requests::requests(g, a).await,
        Command::Approve(a) => requests::approve(g, a).await,
        Command::Deny(a) => requests::deny(g, a).await,
        Command::Cancel(a) => requests::cancel(g, a).await,
        Command::Grants(a) => grants::grants(g, a).await,
        Command::Revoke(a) => grants::revoke(g, a).await,
        Command::Extend(a) => grants::extend(g, a).await,
        Command::Breakglass(a) => breakglass::breakglass(g, a).await,
        Command::Justify(a) => breakglass::justify(g, a).await,
        Command::Review(c) => breakglass::review(g, c).await,
        Command::Incidents => breakglass::incidents(g).await,
        Command::Vendor(c) => vendors::run(g, c).await,
        Command::Credential(a) => targets::credential(g, a).await,
        Command::Ssh(a) => ssh::run(g, a).await,
        Command::Discover(a) => targets::discover(g, a).await,
        Command::Reconcile(a) => targets::reconcile(g, a).await,
        Command::Audit(c) => audit::run(g, c).await,
        Command::Findings(a) => targets::findings(g, a).await,
        Command::Operator(c) => operator::run(g, c).await,
        Command::Accounts(c) => accounts::run(g, c).await,
    }
}

/// A client for the server in effect: flags and environment first, then the stored login.
pub fn client(g: &Global) -> Result<Client> {
    let stored = credentials::load()?;
    let addr = g
        .addr
        .clone()
        .or_else(|| stored.as_ref().map(|s| s.addr.clone()))
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    // A stored token belongs to the server it came from; never send it elsewhere.
    let token = g.token.clone().or_else(|| {
        stored
            .filter(|s| same_server(&s.addr, &addr))
            .map(|s| s.token)
    });
    Client::new(&addr, token, g.ca_cert.as_deref())
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Prints a value as pretty JSON, for `--json`.
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
