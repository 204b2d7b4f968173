//! `warden accounts`: vaulted accounts, their check-out, check-in and rotation.
//!
//! An account's current password only ever comes in through a hidden prompt or standard
//! input, never as an argument; a checked-out password goes out on standard output once.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use reqwest::Method;
use secrecy::SecretString;
use warden_core::rotation::{MAX_ROTATION_INTERVAL, MIN_ROTATION_INTERVAL};
use warden_proto::WireSecret;
use warden_proto::vault::{
    AccountInfo, AddAccount, CheckedOut, CheckinRequest, CheckoutInfo, CheckoutRequest,
    RotationScheduled,
};

use crate::cli::Global;
use crate::client::Client;
use crate::commands::{client, print_json, read_line_secret, time};

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List vaulted accounts (never a secret)
    List,
    /// Show one vaulted account: settings, rotation state, open check-outs (never a secret)
    Show {
        /// Account name
        name: String,
    },
    /// Put an account in the vault; its current password is asked for without echo (it
    /// must log in now) and is never taken as an argument
    Add(AccountAddArgs),
    /// Check out an account's password under a running grant of yours; it is rotated
    /// when you check it in or when the grant ends
    Checkout {
        /// Account name
        name: String,
        /// Your running grant that allows it (or the start of its id); without one, the
        /// account's policy groups must include you
        #[arg(long, value_parser = crate::ids::parse)]
        grant: Option<crate::ids::IdArg>,
        /// Hold it alone until you check it in
        #[arg(long)]
        exclusive: bool,
    },
    /// Give a checked-out password back; the account's password is rotated at once
    Checkin {
        /// Account name
        name: String,
        /// The check-out [default: your open one on this account]
        #[arg(long)]
        checkout: Option<uuid::Uuid>,
    },
    /// Rotate an account's password now (after any open check-out ends)
    Rotate {
        /// Account name
        name: String,
        /// Wait (up to 60 s) until the rotation is done, and fail if it fails
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Args)]
pub struct AccountAddArgs {
    /// Account name (1 to 64 of a-z 0-9 - _ .)
    pub name: String,
    /// The configured connection of the target (`[connections.NAME]`)
    #[arg(long)]
    pub connection: String,
    /// The account on the target (MariaDB: `user@host`)
    #[arg(long)]
    pub username: String,
    /// The resource whose grants allow a check-out
    #[arg(long)]
    pub resource: Option<String>,
    /// A role on that resource whose grants allow a check-out (repeatable) [default: any]
    #[arg(long = "role", value_name = "ROLE", requires = "resource")]
    pub roles: Vec<String>,
    /// A policy group whose active members may check it out without a grant (repeatable)
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// How long a check-out without a grant lasts before it is checked in and rotated
    /// (e.g. 30m; at most 24h) [default: 1h]
    #[arg(long, value_name = "DURATION")]
    pub checkout_max: Option<String>,
    /// One check-out at a time
    #[arg(long)]
    pub exclusive: bool,
    /// Rotation interval, such as 30d or 12h (1h to 366d) [default: the server's
    /// `[vault] rotate_every`]
    #[arg(long, value_parser = parse_rotation_interval)]
    pub rotate_every: Option<String>,
    /// Length of generated passwords (16 to 128) [default: 24]
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..=128))]
    pub length: Option<u32>,
    /// Generated passwords use letters and digits only, without `- _ . ~`
    #[arg(long)]
    pub no_symbols: bool,
    /// Rotate at once, so the password given stops working
    #[arg(long)]
    pub rotate_now: bool,
    /// Read the current password from standard input (one line) instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
}

/// A rotation interval as the server takes it: checked here so a typo is caught before
/// the password is asked for, and passed on as written.
fn parse_rotation_interval(s: &str) -> Result<String, String> {
    let d = warden_core::policy::parse_duration_within(s, MAX_ROTATION_INTERVAL)
        .map_err(|e| e.to_string())?;
    if d < MIN_ROTATION_INTERVAL {
        return Err("must be at least 1h".to_owned());
    }
    Ok(s.to_owned())
}

/// How often `accounts rotate --wait` looks again.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// How long `accounts rotate --wait` waits in all.
const WAIT_AT_MOST: Duration = Duration::from_secs(60);

/// Runs `warden accounts ...`.
pub async fn run(g: &Global, cmd: AccountsCommand) -> Result<()> {
    let client = client(g)?;
    match &cmd {
        AccountsCommand::List => {
            let list: Vec<AccountInfo> = client
                .call::<(), _>(Method::GET, "/v1/accounts", None)
                .await?;
            if g.json {
                return print_json(&list);
            }
            println!("{}", account_table(&list));
            Ok(())
        }
        AccountsCommand::Show { name } => {
            let a: AccountInfo = client
                .call::<(), _>(Method::GET, &account_path(name)?, None)
                .await?;
            if g.json {
                return print_json(&a);
            }
            print_account(&a);
            Ok(())
        }
        AccountsCommand::Add(args) => add(&client, g.json, args).await,
        AccountsCommand::Checkout {
            name,
            grant,
            exclusive,
        } => {
            let grant = match grant {
                Some(id) => Some(crate::ids::resolve(&client, crate::ids::Kind::Grant, id).await?),
                None => None,
            };
            let c: CheckedOut = client
                .call(
                    Method::POST,
                    &format!("{}/checkout", account_path(name)?),
                    Some(&CheckoutRequest {
                        grant,
                        exclusive: *exclusive,
                    }),
                )
                .await?;
            if g.json {
                return print_json(&c);
            }
            print_checked_out(&c);
            Ok(())
        }
        AccountsCommand::Checkin { name, checkout } => {
            let c: CheckoutInfo = client
                .call(
                    Method::POST,
                    &format!("{}/checkin", account_path(name)?),
                    Some(&CheckinRequest {
                        checkout: *checkout,
                    }),
                )
                .await?;
            if g.json {
                return print_json(&c);
            }
            println!(
                "Checked in {} (version {}, held by {} since {}); the password of {name} is being rotated.",
                c.id,
                c.version,
                c.username,
                time(c.checked_out_at)
            );
            Ok(())
        }
        AccountsCommand::Rotate { name, wait } => rotate(&client, g.json, name, *wait).await,
    }
}

/// The API path of an account, after checking its name as the server does, so that it
/// goes into the URL as it is: `.` and `..` are refused as well, since a URL resolves
/// them to another endpoint.
fn account_path(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(format!("/v1/accounts/{name}"))
    } else {
        bail!("{name:?} is not an account name (1 to 64 of a-z 0-9 - _ .)")
    }
}

async fn add(client: &Client, json: bool, a: &AccountAddArgs) -> Result<()> {
    // Checked before the password is asked for.
    account_path(&a.name)?;
    let password = if a.password_stdin {
        read_line_secret("password")?
    } else {
        let prompt = format!(
            "Current password of {} on {} (it must log in now)",
            a.username, a.connection
        );
        let text = dialoguer::Password::new()
            .with_prompt(prompt)
            .with_confirmation("Again", "the passwords differ")
            .interact()
            .context("cannot read the password (no terminal? use --password-stdin)")?;
        WireSecret::new(SecretString::from(text))
    };
    let body = AddAccount {
        name: a.name.clone(),
        connection: a.connection.clone(),
        username: a.username.clone(),
        password,
        resource: a.resource.clone(),
        roles: a.roles.clone(),
        groups: a.groups.clone(),
        checkout_max: a.checkout_max.clone(),
        exclusive: a.exclusive,
        rotate_every: a.rotate_every.clone(),
        password_length: a.length,
        symbols: a.no_symbols.then_some(false),
        rotate_now: a.rotate_now,
    };
    let added: AccountInfo = client
        .call(Method::POST, "/v1/accounts", Some(&body))
        .await?;
    if json {
        return print_json(&added);
    }
    println!(
        "Added {}: {} on {}, version {}.",
        added.name, added.username, added.connection, added.version
    );
    if a.rotate_now {
        println!(
            "Its password is being rotated now: the one you gave stops working \
             (`warden accounts rotate {} --wait` waits for it).",
            added.name
        );
    } else {
        println!(
            "Its password is rotated every {}, next at {}.",
            every(added.rotate_every_secs),
            time(added.next_rotation_at)
        );
    }
    Ok(())
}

fn every(secs: i64) -> String {
    warden_core::policy::format_duration(time::Duration::seconds(secs))
}

fn roles(a: &AccountInfo) -> String {
    if a.roles.is_empty() {
        "any".to_owned()
    } else {
        a.roles.join(", ")
    }
}

fn account_table(list: &[AccountInfo]) -> Table {
    let mut table = Table::new();
    table.set_header([
        "name",
        "connection",
        "username",
        "resource",
        "roles",
        "version",
        "next rotation",
        "failures",
        "checked out by",
    ]);
    for a in list {
        table.add_row([
            a.name.clone(),
            a.connection.clone(),
            a.username.clone(),
            a.resource.clone().unwrap_or_else(|| "-".to_owned()),
            roles(a),
            a.version.to_string(),
            time(a.next_rotation_at),
            a.rotation_failures.to_string(),
            a.checkouts
                .iter()
                .map(|c| c.username.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    table
}

fn print_account(a: &AccountInfo) {
    println!("account {}: {} on {}", a.name, a.username, a.connection);
    match &a.resource {
        Some(r) => println!("  checked out under grants of {} on {r}", roles(a)),
        None if a.groups.is_empty() => {
            println!("  no resource and no group: nobody can check it out")
        }
        None => {}
    }
    if !a.groups.is_empty() {
        println!(
            "  checked out without a grant by members of {} for up to {}",
            a.groups.join(", "),
            every(a.checkout_max_secs)
        );
    }
    println!(
        "  {} check-out{}",
        if a.exclusive { "exclusive" } else { "shared" },
        if a.exclusive {
            ": one at a time"
        } else {
            "s allowed"
        }
    );
    println!("  version {}", a.version);
    println!(
        "  rotated every {}, next at {}; last rotated {}",
        every(a.rotate_every_secs),
        time(a.next_rotation_at),
        a.last_rotated_at
            .map(time)
            .unwrap_or_else(|| "never".to_owned())
    );
    println!(
        "  generated passwords: {} characters, {}",
        a.password_length,
        if a.symbols {
            "with symbols - _ . ~"
        } else {
            "letters and digits only"
        }
    );
    if a.rotation_pending {
        println!("  a rotation is applied on the target but not yet confirmed");
    }
    if a.rotation_failures > 0 {
        println!("  rotation failures in a row: {}", a.rotation_failures);
    }
    if let Some(e) = &a.last_error {
        println!("  last error: {e}");
    }
    println!("  added {} by {}", time(a.created_at), a.created_by);
    if a.checkouts.is_empty() {
        println!("  no open check-out");
    }
    for c in &a.checkouts {
        println!(
            "  checked out {} by {} since {}: version {}{}{}",
            c.id,
            c.username,
            time(c.checked_out_at),
            c.version,
            c.grant.map(|g| format!(", grant {g}")).unwrap_or_default(),
            if c.exclusive { ", exclusive" } else { "" }
        );
    }
}

fn print_checked_out(c: &CheckedOut) {
    println!("account:  {}", c.account);
    println!("user:     {}", c.username);
    println!("password: {}", c.password.expose());
    println!("version:  {}", c.version);
    for (k, v) in &c.hints {
        println!("{k}: {v}");
    }
    println!("checkout: {}", c.checkout);
    match c.grant {
        Some(g) => println!("allowed by: grant {g}"),
        None => println!("allowed by: {}", c.allowed_by),
    }
    println!("ends at:  {}", time(c.ends_at));
    println!(
        "The password is rotated when you check it in (`warden accounts checkin {} --checkout {}`) \
         or when the check-out ends, whichever comes first.",
        c.account, c.checkout
    );
}

async fn rotate(client: &Client, json: bool, name: &str, wait: bool) -> Result<()> {
    let path = account_path(name)?;
    // The account as it was, to tell a new failure from an old one.
    let before: Option<AccountInfo> = if wait {
        Some(client.call::<(), _>(Method::GET, &path, None).await?)
    } else {
        None
    };
    let scheduled: RotationScheduled = client
        .call::<(), _>(Method::POST, &format!("{path}/rotate"), None)
        .await?;
    let Some(before) = before else {
        if json {
            return print_json(&scheduled);
        }
        println!(
            "The rotation of {} (now version {}) is due at {}; `warden accounts show {}` tells \
             when it is done.",
            scheduled.account,
            scheduled.version,
            time(scheduled.due_at),
            scheduled.account
        );
        return Ok(());
    };
    if !before.checkouts.is_empty() {
        eprintln!(
            "{name} is checked out by {}: the rotation waits for the check-in or the grant's end",
            before
                .checkouts
                .iter()
                .map(|c| c.username.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let polled = tokio::time::timeout(WAIT_AT_MOST, async {
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            let now: AccountInfo = client.call::<(), _>(Method::GET, &path, None).await?;
            if let Some(outcome) = rotation_outcome(&before, scheduled.version, &now) {
                return Ok::<_, anyhow::Error>((now, outcome));
            }
        }
    })
    .await;
    let (now, outcome) = polled.map_err(|_| {
        anyhow!(
            "{name} was not rotated within {} s; the rotation stays due (`warden accounts show {name}`)",
            WAIT_AT_MOST.as_secs()
        )
    })??;
    match outcome {
        Ok(version) => {
            if json {
                return print_json(&now);
            }
            println!("{name}: rotated to version {version}");
            Ok(())
        }
        Err(error) => {
            if json {
                print_json(&now)?;
            }
            bail!(
                "rotating {name} failed ({} failure{} in a row): {error}",
                now.rotation_failures,
                if now.rotation_failures == 1 { "" } else { "s" }
            )
        }
    }
}

/// Whether a rotation asked for at `version` is over, seen from the account `now`:
/// `Ok(new version)` once the version moved past it, `Err(error)` once a failure was
/// recorded after `before` was read, `None` while it is still to come.
fn rotation_outcome(
    before: &AccountInfo,
    version: u64,
    now: &AccountInfo,
) -> Option<Result<u64, String>> {
    if now.version > version {
        return Some(Ok(now.version));
    }
    let failed_again = now.rotation_failures > before.rotation_failures;
    let new_error = now.last_error.is_some() && now.last_error != before.last_error;
    if failed_again || new_error {
        return Some(Err(now
            .last_error
            .clone()
            .unwrap_or_else(|| "the server recorded no error text".to_owned())));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(version: u64, failures: u32, error: Option<&str>) -> AccountInfo {
        let t = time::OffsetDateTime::UNIX_EPOCH;
        AccountInfo {
            name: "orders-app".to_owned(),
            connection: "orders".to_owned(),
            username: "app".to_owned(),
            resource: None,
            roles: Vec::new(),
            groups: Vec::new(),
            checkout_max_secs: 3_600,
            exclusive: false,
            rotate_every_secs: 86_400,
            password_length: 24,
            symbols: true,
            version,
            next_rotation_at: t,
            last_rotated_at: None,
            rotation_failures: failures,
            last_error: error.map(str::to_owned),
            rotation_pending: false,
            checkouts: Vec::new(),
            created_at: t,
            created_by: "admin".to_owned(),
        }
    }

    #[test]
    fn a_rotation_is_over_when_the_version_moves_or_a_new_failure_is_recorded() {
        let clean = account(3, 0, None);
        assert_eq!(rotation_outcome(&clean, 3, &account(3, 0, None)), None);
        assert_eq!(
            rotation_outcome(&clean, 3, &account(4, 0, None)),
            Some(Ok(4))
        );
        assert_eq!(
            rotation_outcome(&clean, 3, &account(3, 1, Some("refused"))),
            Some(Err("refused".to_owned()))
        );
        // An old failure is not news; the same text failing again is.
        let failing = account(3, 2, Some("refused"));
        assert_eq!(
            rotation_outcome(&failing, 3, &account(3, 2, Some("refused"))),
            None
        );
        assert_eq!(
            rotation_outcome(&failing, 3, &account(3, 3, Some("refused"))),
            Some(Err("refused".to_owned()))
        );
        // A success clears the error: that is no failure.
        assert_eq!(
            rotation_outcome(&failing, 3, &account(4, 0, None)),
            Some(Ok(4))
        );
    }

    #[test]
    fn account_names_that_would_change_the_url_are_refused() {
        assert_eq!(
            account_path("orders-app.v2").unwrap(),
            "/v1/accounts/orders-app.v2"
        );
        for bad in ["", ".", "..", "../users", "a/b", "Orders", "a?b", "a%2f"] {
            assert!(account_path(bad).is_err(), "{bad:?}");
        }
    }
}
