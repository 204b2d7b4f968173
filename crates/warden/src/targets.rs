//! Client commands for what lives on targets: `credential`, `discover`, `reconcile` and
//! `findings`.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use anyhow::{Result, bail};
use comfy_table::Table;
use reqwest::Method;
use warden_proto::targets::{FindingInfo, GrantCredential, Inventory, ResourceReconciled};

use crate::cli::{Cli, Command};
use crate::commands::{client, print_json, time};

/// A resource name as policy allows it, so it can go into a URL as it is.
fn resource_name(name: &str) -> Result<&str> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(name)
    } else {
        bail!("{name:?} is not a resource name (a-z 0-9 . _ -)")
    }
}

/// `warden credential`, `ssh`, `discover`, `reconcile`, `findings`.
pub async fn run(cli: &Cli) -> Result<()> {
    let client = client(cli)?;
    match &cli.command {
        Command::Credential { id } => {
            let id = crate::ids::resolve(&client, crate::ids::Kind::Grant, id).await?;
            let c: GrantCredential = client
                .call::<(), _>(Method::POST, &format!("/v1/grants/{id}/credential"), None)
                .await?;
            if cli.json {
                return print_json(&c);
            }
            println!("user:     {}", c.username);
            println!("password: {}", c.password);
            for (k, v) in &c.hints {
                println!("{k}: {v}");
            }
            if let Some(end) = c.ends_at {
                println!(
                    "valid until {} (shown once; ask again for a new one)",
                    crate::show::moment(end, crate::show::now())
                );
            }
            Ok(())
        }
        Command::Ssh(a) => crate::ssh::ssh(&client, cli.json, a).await,
        Command::Discover { resource } => {
            let inv: Inventory = client
                .call::<(), _>(
                    Method::GET,
                    &format!("/v1/resources/{}/accounts", resource_name(resource)?),
                    None,
                )
                .await?;
            if cli.json {
                return print_json(&inv);
            }
            println!(
                "{} ({}, {}, tier {}): {} accounts",
                inv.resource,
                inv.kind,
                inv.environment,
                inv.tier,
                inv.accounts.len()
            );
            let mut t = Table::new();
            t.set_header(["account", "origin", "privileges", "until"]);
            for a in &inv.accounts {
                t.add_row([
                    a.name.clone(),
                    a.origin.clone(),
                    if a.privileges.is_empty() {
                        "-".to_owned()
                    } else {
                        a.privileges.join(", ")
                    },
                    a.until.map(time).unwrap_or_else(|| "-".to_owned()),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        Command::Reconcile { resource } => {
            let path = match resource {
                Some(r) => format!("/v1/reconcile?resource={}", resource_name(r)?),
                None => "/v1/reconcile".to_owned(),
            };
            let done: Vec<ResourceReconciled> =
                client.call::<(), _>(Method::POST, &path, None).await?;
            if cli.json {
                return print_json(&done);
            }
            if done.is_empty() {
                println!("no resource has a configured connection to reconcile");
            }
            for r in &done {
                println!(
                    "{} (tier {}): {} removed, {} restored, {} findings, {} errors",
                    r.resource,
                    r.tier,
                    r.removed.len(),
                    r.restored.len(),
                    r.findings.len(),
                    r.errors.len()
                );
                for x in &r.removed {
                    println!("  removed  {x}");
                }
                for x in &r.restored {
                    println!("  restored {x}");
                }
                for f in &r.findings {
                    println!(
                        "  finding  {} [{}]: {}",
                        f.account,
                        f.state,
                        f.privileges.join(", ")
                    );
                }
                for e in &r.errors {
                    println!("  error    {e}");
                }
            }
            if done.iter().any(|r| !r.errors.is_empty()) {
                bail!("reconciliation met errors");
            }
            Ok(())
        }
        Command::Findings { resource, all } => {
            let mut path = format!("/v1/findings?all={all}");
            if let Some(r) = resource {
                path.push_str(&format!("&resource={}", resource_name(r)?));
            }
            let found: Vec<FindingInfo> = client.call::<(), _>(Method::GET, &path, None).await?;
            if cli.json {
                return print_json(&found);
            }
            let mut t = Table::new();
            t.set_header([
                "resource",
                "account",
                "state",
                "privileges",
                "first seen",
                "last seen",
            ]);
            for f in &found {
                t.add_row([
                    f.resource.clone(),
                    f.account.clone(),
                    f.state.clone(),
                    f.privileges.join(", "),
                    time(f.first_seen),
                    time(f.last_seen),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        _ => Ok(()),
    }
}
