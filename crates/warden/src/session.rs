//! `warden login`, `logout`, `whoami` and `passwd`: the caller's session and password.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use clap::Args;
use reqwest::Method;
use warden_proto::WireSecret;
use warden_proto::auth::{ChangePassword, LoginRequest, LoginResponse, WhoAmI};

use crate::cli::Global;
use crate::client::{Client, DEFAULT_ADDR, ServerProblem};
use crate::commands::{client, print_json, time};
use crate::credentials;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User name
    pub username: String,
    /// Read the password from standard input instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
}

/// `warden login`: a new session token, stored for the commands that follow.
pub async fn login(g: &Global, args: LoginArgs) -> Result<()> {
    let addr = g
        .addr
        .clone()
        .or_else(|| credentials::load().ok().flatten().map(|s| s.addr))
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let client = Client::new(&addr, None, g.ca_cert.as_deref())?;
    let password = read_password(
        &format!("Password for {}", args.username),
        args.password_stdin,
    )?;
    let req = LoginRequest {
        username: args.username.clone(),
        password,
    };
    let answer: LoginResponse = client
        .call(Method::POST, "/v1/auth/login", Some(&req))
        .await?;
    let path = credentials::save(&credentials::Stored {
        addr: client.base().to_owned(),
        token: answer.token.expose().to_owned(),
    })?;
    println!(
        "Logged in to {} as {}. The session token expires at {} and is stored in {}.",
        client.base(),
        args.username,
        time(answer.expires_at),
        path.display()
    );
    Ok(())
}

/// `warden logout`: revokes the stored token and forgets it.
pub async fn logout(g: &Global) -> Result<()> {
    let client = client(g)?;
    let result = client
        .call_empty::<()>(Method::POST, "/v1/auth/logout", None)
        .await;
    credentials::remove()?;
    match result {
        Ok(()) => println!("Logged out; the session token is revoked."),
        // The token was already dead: forgetting it is all there is to do.
        Err(e)
            if e.downcast_ref::<ServerProblem>()
                .is_some_and(|p| p.0.status == 401) =>
        {
            println!("Logged out; the stored token was no longer valid.");
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// `warden whoami`.
pub async fn whoami(g: &Global) -> Result<()> {
    let me: WhoAmI = client(g)?
        .call::<(), _>(Method::GET, "/v1/auth/whoami", None)
        .await?;
    if g.json {
        return print_json(&me);
    }
    println!("user:     {} ({})", me.username, me.display_name);
    println!("scopes:   {}", me.scopes.join(" "));
    println!(
        "token:    {} (expires {})",
        me.token_id,
        time(me.token_expires_at)
    );
    Ok(())
}

/// `warden passwd`: asks for the current and the new password, never on the command line.
pub async fn passwd(g: &Global) -> Result<()> {
    let client = client(g)?;
    let current = read_password("Current password", false)?;
    let new = read_password("New password (at least 12 characters)", false)?;
    let again = read_password("New password again", false)?;
    if new.expose() != again.expose() {
        bail!("the new passwords differ");
    }
    let req = ChangePassword {
        current_password: current,
        new_password: new,
    };
    client
        .call_empty(Method::POST, "/v1/auth/password", Some(&req))
        .await?;
    println!("Password changed.");
    Ok(())
}

/// A password from a hidden prompt, or one line of standard input with `stdin`.
fn read_password(prompt: &str, stdin: bool) -> Result<WireSecret> {
    if stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']);
        let secret = WireSecret::from(password);
        line.clear();
        return Ok(secret);
    }
    let password = dialoguer::Password::new()
        .with_prompt(prompt)
        .interact()
        .context("cannot read the password (no terminal? use --password-stdin)")?;
    Ok(WireSecret::from(password.as_str()))
}
