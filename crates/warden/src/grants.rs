//! Client commands for grants: `grants` (list and show), `revoke` and `extend`.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use reqwest::Method;
use warden_core::request::RequestState;
use warden_proto::grants::{ExtendGrant, GrantInfo, RevokeGrant};
use warden_proto::requests::RequestInfo;

use crate::cli::Global;
use crate::client::Client;
use crate::commands::{client, print_json};
use crate::ids::Kind;
use crate::show;

#[derive(Debug, Args)]
pub struct GrantsArgs {
    /// Everyone's grants (admin or audit:read)
    #[arg(long)]
    pub all: bool,
    /// Only live grants
    #[arg(long)]
    pub live: bool,
    #[command(subcommand)]
    pub command: Option<GrantsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// Show one grant
    Show {
        /// Grant id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
    },
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Grant id (or the start of it, as `warden grants` shows it)
    #[arg(value_parser = crate::ids::parse)]
    pub id: crate::ids::IdArg,
    /// Why
    #[arg(long)]
    pub reason: String,
    /// Wait (up to 60 s) until the target confirms the access is gone, and fail if it
    /// does not
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    /// Grant id (or the start of it)
    #[arg(value_parser = crate::ids::parse)]
    pub id: crate::ids::IdArg,
    /// How much longer, such as 1h
    #[arg(long = "for")]
    pub duration: String,
    /// Why
    #[arg(long)]
    pub reason: String,
    /// A ticket, where policy wants one
    #[arg(long)]
    pub ticket: Option<String>,
    /// Wait until the extension is active (or refused)
    #[arg(long)]
    pub wait: bool,
}

fn print_grant(g: &GrantInfo) {
    let now = show::now();
    println!(
        "grant {}: {} holds {} on {} — {} ({})",
        g.id,
        show::person(&g.identity, g.identity_name.as_deref()),
        g.role,
        g.resource,
        show::grant_state(g),
        g.kind
    );
    println!(
        "  from {} until {}",
        show::time_or_dash(g.starts_at),
        show::grant_until(g, now)
    );
    println!("  request {}", g.request);
    if let Some(e) = &g.last_error {
        println!("  last failure ({} attempts): {e}", g.attempts);
    }
}

/// How often `revoke --wait` looks again.
const REVOKE_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// How long `revoke --wait` waits in all.
const REVOKE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Follows a grant being revoked until the target confirms the access is gone (the grant
/// is `revoked`), saying so on standard error when a step fails on the way. Fails when it
/// is not done within [`REVOKE_WAIT`].
async fn wait_revoked(client: &Client, mut g: GrantInfo) -> Result<GrantInfo> {
    let deadline = tokio::time::Instant::now() + REVOKE_WAIT;
    let mut told: Option<String> = None;
    loop {
        let state = RequestState::parse(&g.state);
        if state == Ok(RequestState::Revoked) {
            return Ok(g);
        }
        if state == Ok(RequestState::Failed) {
            bail!(
                "grant {} failed: {}",
                g.id,
                g.last_error.as_deref().unwrap_or("no reason given")
            );
        }
        if let Some(e) = &g.last_error
            && told.as_ref() != Some(e)
        {
            eprintln!(
                "grant {}: removing the access failed ({} attempts), retrying: {e}",
                g.id, g.attempts
            );
            told = Some(e.clone());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the target has not confirmed the revocation of grant {} within {} s{}; \
                 Warden keeps trying, and `warden grants show {}` follows it",
                g.id,
                REVOKE_WAIT.as_secs(),
                g.last_error
                    .as_deref()
                    .map(|e| format!(" (last failure: {e})"))
                    .unwrap_or_default(),
                g.id
            );
        }
        tokio::time::sleep(REVOKE_POLL).await;
        g = client
            .call::<(), _>(Method::GET, &format!("/v1/grants/{}", g.id), None)
            .await?;
    }
}

/// `warden grants`, and `warden grants show ID`.
pub async fn grants(g: &Global, a: GrantsArgs) -> Result<()> {
    let client = client(g)?;
    if let Some(GrantsCommand::Show { id }) = &a.command {
        let id = crate::ids::resolve(&client, Kind::Grant, id).await?;
        let grant: GrantInfo = client
            .call::<(), _>(Method::GET, &format!("/v1/grants/{id}"), None)
            .await?;
        return if g.json {
            print_json(&grant)
        } else {
            print_grant(&grant);
            Ok(())
        };
    }
    let path = format!("/v1/grants?all={}&live={}", a.all, a.live);
    let list: Vec<GrantInfo> = client.call::<(), _>(Method::GET, &path, None).await?;
    if g.json {
        return print_json(&list);
    }
    let now = show::now();
    let shorts = show::short_ids(&list.iter().map(|g| g.id).collect::<Vec<_>>());
    let mut table = Table::new();
    table.set_header([
        "id", "holder", "resource", "role", "kind", "state", "from", "until",
    ]);
    for grant in list {
        table.add_row([
            show::short(&shorts, grant.id),
            show::person(&grant.identity, grant.identity_name.as_deref()),
            grant.resource.clone(),
            grant.role.clone(),
            grant.kind.clone(),
            show::grant_state(&grant),
            show::time_or_dash(grant.starts_at),
            show::grant_until(&grant, now),
        ]);
    }
    println!("{table}");
    Ok(())
}

/// `warden revoke`: ends a grant now and, with `--wait`, follows it until the target
/// confirms the access is gone.
pub async fn revoke(g: &Global, a: RevokeArgs) -> Result<()> {
    let client = client(g)?;
    let id = crate::ids::resolve(&client, Kind::Grant, &a.id).await?;
    let grant: GrantInfo = client
        .call(
            Method::POST,
            &format!("/v1/grants/{id}/revoke"),
            Some(&RevokeGrant {
                reason: a.reason.clone(),
            }),
        )
        .await?;
    let grant = if a.wait {
        wait_revoked(&client, grant).await?
    } else {
        grant
    };
    if g.json {
        return print_json(&grant);
    }
    let now = show::now();
    let revoked = RequestState::parse(&grant.state) == Ok(RequestState::Revoked);
    let state = if revoked {
        "revoked: the target confirmed the access is gone"
    } else {
        RequestState::Revoking.as_str()
    };
    println!(
        "grant {}: {} on {} for {} — {state} (ended early by you at {}: {})",
        grant.id,
        grant.role,
        grant.resource,
        show::person(&grant.identity, grant.identity_name.as_deref()),
        grant.ends_at.map_or_else(|| show::time(now), show::time),
        a.reason,
    );
    if !revoked {
        println!(
            "  the access is being removed from the target; `warden grants show {}` \
             confirms it (or revoke with --wait)",
            grant.id
        );
    }
    Ok(())
}

/// `warden extend`: asks for more time on a running grant (a new request) and, with
/// `--wait`, follows it until the extension is active (or refused).
pub async fn extend(g: &Global, a: ExtendArgs) -> Result<()> {
    let client = client(g)?;
    let id = crate::ids::resolve(&client, Kind::Grant, &a.id).await?;
    let r: RequestInfo = client
        .call(
            Method::POST,
            &format!("/v1/grants/{id}/extend"),
            Some(&ExtendGrant {
                duration: a.duration,
                reason: a.reason,
                ticket: a.ticket,
            }),
        )
        .await?;
    let r = if a.wait {
        crate::requests::wait_for(&client, r).await?
    } else {
        r
    };
    if g.json {
        return print_json(&r);
    }
    println!(
        "extension request {} — {} (risk {}, route {})",
        r.id, r.state, r.risk, r.route
    );
    if let Some(grant) = &r.grant {
        println!(
            "  grant {} — {} until {}",
            grant.id,
            show::grant_state(grant),
            show::grant_until(grant, show::now())
        );
    }
    if a.wait && RequestState::parse(&r.state) != Ok(RequestState::Active) {
        bail!("the extension ended {} without access", r.state);
    }
    Ok(())
}
