//! Client commands for what lives on targets: `credential`, `discover`, `reconcile` and
//! `findings`.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use anyhow::{Result, bail};
use clap::Args;
use comfy_table::Table;
use reqwest::Method;
use warden_proto::targets::{FindingInfo, GrantCredential, Inventory, ResourceReconciled};

use crate::cli::Global;
use crate::commands::{client, print_json, time};

#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// Grant id (or the start of it)
    #[arg(value_parser = crate::ids::parse)]
    pub id: crate::ids::IdArg,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Resource name
    pub resource: String,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Only this resource (default: every resource with a configured connection)
    pub resource: Option<String>,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Only this resource's
    #[arg(long)]
    pub resource: Option<String>,
    /// Include resolved and removed findings
    #[arg(long)]
    pub all: bool,
}

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

/// `warden credential`: a fresh password for a running database grant.
pub async fn credential(g: &Global, a: CredentialArgs) -> Result<()> {
    let client = client(g)?;
    let id = crate::ids::resolve(&client, crate::ids::Kind::Grant, &a.id).await?;
    let c: GrantCredential = client
        .call::<(), _>(Method::POST, &format!("/v1/grants/{id}/credential"), None)
        .await?;
    if g.json {
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

/// `warden discover`: the accounts on a resource's target.
pub async fn discover(g: &Global, a: DiscoverArgs) -> Result<()> {
    let client = client(g)?;
    let resource = resource_name(&a.resource)?;
    let inv: Inventory = client
        .call::<(), _>(
            Method::GET,
            &format!("/v1/resources/{resource}/accounts"),
            None,
        )
        .await?;
    if g.json {
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

/// `warden reconcile`: compares targets with the grants now, for one resource or all.
pub async fn reconcile(g: &Global, a: ReconcileArgs) -> Result<()> {
    let client = client(g)?;
    let path = match &a.resource {
        Some(r) => format!("/v1/reconcile?resource={}", resource_name(r)?),
        None => "/v1/reconcile".to_owned(),
    };
    let done: Vec<ResourceReconciled> = client.call::<(), _>(Method::POST, &path, None).await?;
    if g.json {
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

/// `warden findings`: privileged access on targets that Warden did not grant.
pub async fn findings(g: &Global, a: FindingsArgs) -> Result<()> {
    let client = client(g)?;
    let mut path = format!("/v1/findings?all={}", a.all);
    if let Some(r) = &a.resource {
        path.push_str(&format!("&resource={}", resource_name(r)?));
    }
    let found: Vec<FindingInfo> = client.call::<(), _>(Method::GET, &path, None).await?;
    if g.json {
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
