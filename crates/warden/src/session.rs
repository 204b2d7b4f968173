//! `warden login`, `logout`, `whoami` and `passwd`: the caller's session and password.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use warden_proto::WireSecret;
use warden_proto::auth::{ChangePassword, LoginRequest, LoginResponse, WhoAmI};

use crate::cli::{Cli, LoginArgs};
use crate::client::{Client, DEFAULT_ADDR, ServerProblem};
use crate::commands::{client, print_json, time};
use crate::credentials;


pub async fn login(cli: &Cli, args: &LoginArgs) -> Result<()> {
    let addr = cli
        .addr
        .clone()
        .or_else(|| credentials::load().ok().flatten().map(|s| s.addr))
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let client = Client::new(&addr, None, cli.ca_cert.as_deref())?;
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

pub async fn logout(cli: &Cli) -> Result<()> {
    let client = client(cli)?;
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

pub async fn whoami(cli: &Cli) -> Result<()> {
    let me: WhoAmI = client(cli)?
        .call::<(), _>(Method::GET, "/v1/auth/whoami", None)
        .await?;
    if cli.json {
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

pub async fn passwd(cli: &Cli) -> Result<()> {
    let client = client(cli)?;
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
