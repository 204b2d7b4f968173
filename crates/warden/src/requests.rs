//! Client commands for just-in-time requests and their approval.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use reqwest::Method;
use warden_core::request::RequestState;
use warden_proto::requests::{CreateRequest, Decide, RequestInfo};

use crate::cli::Global;
use crate::commands::{client, print_json, time};
use crate::ids::{IdArg, Kind};
use crate::show;

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Resource name
    pub resource: String,
    /// Role on the resource
    #[arg(long)]
    pub role: String,
    /// How long, such as 2h or 30m
    #[arg(long = "for")]
    pub duration: String,
    /// Why you need it (at least 10 characters)
    #[arg(long)]
    pub reason: String,
    /// A change or incident ticket
    #[arg(long)]
    pub ticket: Option<String>,
    /// A vendor you sponsor, to request for them
    #[arg(long)]
    pub on_behalf_of: Option<String>,
    /// Wait until the access is active (or the request is refused, denied or times out)
    #[arg(long)]
    pub wait: bool,
    /// The earliest the access may start (RFC 3339, such as 2026-11-23T09:00:00Z)
    #[arg(long, value_parser = parse_rfc3339)]
    pub start: Option<time::OffsetDateTime>,
}

fn parse_rfc3339(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time such as 2026-11-23T09:00:00Z: {e}"))
}

#[derive(Debug, Args)]
pub struct RequestsArgs {
    /// Only pending requests you may decide on
    #[arg(long)]
    pub pending_approval: bool,
    #[command(subcommand)]
    pub command: Option<RequestsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Show one request with its risk factors, route and decisions
    Show {
        /// Request id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
    },
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Request id (or the start of it, as `warden requests` shows it)
    #[arg(value_parser = crate::ids::parse)]
    pub id: crate::ids::IdArg,
    /// Why (required)
    #[arg(long, short)]
    pub comment: String,
}

#[derive(Debug, Args)]
pub struct DenyArgs {
    /// Request id (or the start of it)
    #[arg(value_parser = crate::ids::parse)]
    pub id: crate::ids::IdArg,
    /// Why (required)
    #[arg(long, short)]
    pub comment: String,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Request id (or the start of it)
    #[arg(value_parser = crate::ids::parse)]
    pub id: crate::ids::IdArg,
}

fn print_request(r: &RequestInfo) {
    let now = show::now();
    println!(
        "request {}: {} on {} for {} — {}",
        r.id,
        r.role,
        r.resource,
        show::secs(r.duration_secs),
        r.state
    );
    println!(
        "  requester {}{}",
        show::person(&r.requester, r.requester_name.as_deref()),
        if r.beneficiary != r.requester {
            format!(
                " for {}",
                show::person(&r.beneficiary, r.beneficiary_name.as_deref())
            )
        } else {
            String::new()
        }
    );
    println!("  justification: {}", r.justification);
    if let Some(t) = &r.ticket {
        println!("  ticket: {t}");
    }
    println!(
        "  rule {} / approval policy {} / route {}",
        r.rule, r.approval, r.route
    );
    println!("  risk {}:", r.risk);
    for f in &r.risk_factors {
        println!("    +{:<3} {:<13} {}", f.points, f.name, f.reason);
    }
    for d in &r.decisions {
        println!(
            "  {} by {} ({}) at {}: {}",
            d.decision,
            show::person(&d.approver, d.approver_name.as_deref()),
            d.capacity,
            time(d.at),
            d.comment
        );
    }
    if let Some(start) = r.start_at {
        println!("  starts no earlier than {}", show::moment(start, now));
    }
    if let Some(g) = &r.grant {
        println!(
            "  grant {} — {}{}",
            g.id,
            show::grant_state(g),
            match (g.starts_at, g.ends_at) {
                (Some(s), Some(e)) => format!(" from {} until {}", time(s), show::moment(e, now)),
                _ => String::new(),
            }
        );
    }
    if !r.needs.is_empty() {
        println!("  still needs {}", r.needs.join(" and "));
        println!(
            "  times out without them at {}",
            show::moment(r.pending_until, now)
        );
    }
}

/// Prints a request as `--json` or the tables ask.
fn show_request(g: &Global, r: &RequestInfo) -> Result<()> {
    if g.json {
        return print_json(r);
    }
    print_request(r);
    Ok(())
}

/// `warden request`: files a request and, with `--wait`, follows it until it is active
/// (or can no longer be).
pub async fn request(g: &Global, a: RequestArgs) -> Result<()> {
    let client = client(g)?;
    let body = CreateRequest {
        resource: a.resource,
        role: a.role,
        duration: a.duration,
        justification: a.reason,
        ticket: a.ticket,
        on_behalf_of: a.on_behalf_of,
        start_at: a.start,
    };
    let r: RequestInfo = client
        .call(Method::POST, "/v1/requests", Some(&body))
        .await?;
    let r = if a.wait {
        wait_for(&client, r).await?
    } else {
        r
    };
    if g.json {
        return print_json(&r);
    }
    print_request(&r);
    if a.wait && RequestState::parse(&r.state) != Ok(RequestState::Active) {
        bail!("request {} ended {} without access", r.id, r.state);
    }
    Ok(())
}

/// `warden requests`, and `warden requests show ID`.
pub async fn requests(g: &Global, a: RequestsArgs) -> Result<()> {
    let client = client(g)?;
    if let Some(RequestsCommand::Show { id }) = &a.command {
        let id = crate::ids::resolve(&client, Kind::Request, id).await?;
        let r: RequestInfo = client
            .call::<(), _>(Method::GET, &format!("/v1/requests/{id}"), None)
            .await?;
        return show_request(g, &r);
    }
    let path = format!("/v1/requests?pending_approval={}", a.pending_approval);
    let list: Vec<RequestInfo> = client.call::<(), _>(Method::GET, &path, None).await?;
    if g.json {
        return print_json(&list);
    }
    let shorts = show::short_ids(&list.iter().map(|r| r.id).collect::<Vec<_>>());
    let mut table = Table::new();
    table.set_header([
        "id",
        "requester",
        "resource",
        "role",
        "for",
        "risk",
        "route",
        "state",
        "filed",
    ]);
    for r in list {
        table.add_row([
            show::short(&shorts, r.id),
            show::person(&r.requester, r.requester_name.as_deref()),
            r.resource,
            r.role,
            show::secs(r.duration_secs),
            r.risk.to_string(),
            r.route,
            r.state,
            time(r.created_at),
        ]);
    }
    println!("{table}");
    Ok(())
}

/// `warden approve`.
pub async fn approve(g: &Global, a: ApproveArgs) -> Result<()> {
    decide(g, &a.id, "approve", a.comment).await
}

/// `warden deny`.
pub async fn deny(g: &Global, a: DenyArgs) -> Result<()> {
    decide(g, &a.id, "deny", a.comment).await
}

/// Records the caller's decision (`approve` or `deny`) on a request.
async fn decide(g: &Global, id: &IdArg, decision: &str, comment: String) -> Result<()> {
    let client = client(g)?;
    let id = crate::ids::resolve(&client, Kind::Request, id).await?;
    let r: RequestInfo = client
        .call(
            Method::POST,
            &format!("/v1/requests/{id}/{decision}"),
            Some(&Decide { comment }),
        )
        .await?;
    show_request(g, &r)
}

/// `warden cancel`.
pub async fn cancel(g: &Global, a: CancelArgs) -> Result<()> {
    let client = client(g)?;
    let id = crate::ids::resolve(&client, Kind::Request, &a.id).await?;
    let r: RequestInfo = client
        .call::<(), _>(Method::POST, &format!("/v1/requests/{id}/cancel"), None)
        .await?;
    show_request(g, &r)
}

/// Polls a request until its access is active or it can no longer become so.
pub async fn wait_for(client: &crate::client::Client, mut r: RequestInfo) -> Result<RequestInfo> {
    let mut shown = String::new();
    loop {
        // Active, or it can never become so: final, or failed (only a cleanup follows).
        if RequestState::parse(&r.state)
            .is_ok_and(|s| s == RequestState::Active || s == RequestState::Failed || s.is_final())
        {
            return Ok(r);
        }
        if shown != r.state {
            eprintln!("request {} is {}; waiting…", r.id, r.state);
            shown.clone_from(&r.state);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        r = client
            .call::<(), _>(Method::GET, &format!("/v1/requests/{}", r.id), None)
            .await?;
    }
}
