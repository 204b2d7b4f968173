//! Client commands for grants, break-glass and its review, and incidents.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::{Result, bail};
use comfy_table::Table;
use reqwest::Method;
use warden_proto::grants::{
    BreakGlassInfo, BreakGlassRequest, CreateVendor, CreatedVendor, ExtendGrant, GrantInfo,
    IncidentInfo, JustifyBreakGlass, ReviewBreakGlass, RevokeGrant, VendorInfo,
};
use warden_proto::requests::RequestInfo;

use crate::cli::{Cli, Command, GrantsCommand, ReviewCommand, VendorCommand};
use crate::commands::{client, print_json, time};
use crate::ids::Kind;
use crate::show;

fn when(t: Option<time::OffsetDateTime>) -> String {
    show::time_or_dash(t)
}

/// The end of a grant with the time left (or since), for a live one.
fn until(g: &GrantInfo, now: time::OffsetDateTime) -> String {
    match g.ends_at {
        Some(end) if g.end_reason.is_none() && matches!(g.state.as_str(), "active") => {
            show::moment(end, now)
        }
        Some(end) => show::time(end),
        None => "-".to_owned(),
    }
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
    println!("  from {} until {}", when(g.starts_at), until(g, now));
    println!("  request {}", g.request);
    if let Some(e) = &g.last_error {
        println!("  last failure ({} attempts): {e}", g.attempts);
    }
}

fn print_breakglass(b: &BreakGlassInfo) {
    let now = show::now();
    println!(
        "break-glass {}: {} took {} on {} — review {}",
        b.id,
        show::person(&b.holder, b.holder_name.as_deref()),
        b.role,
        b.resource,
        b.review
    );
    println!("  reason: {}", b.reason);
    if let Some(g) = &b.grant {
        println!(
            "  grant {} — {} until {}",
            g.id,
            show::grant_state(g),
            until(g, now)
        );
    }
    match &b.justification {
        Some(j) => println!("  justification: {j}"),
        None => println!(
            "  justification due {}",
            b.justification_due
                .map_or_else(|| "-".to_owned(), |t| show::moment(t, now))
        ),
    }
    for r in &b.reviews {
        println!(
            "  {} by {} ({}) at {}: {}",
            r.verdict,
            show::person(&r.reviewer, r.reviewer_name.as_deref()),
            r.capacity,
            time(r.at),
            r.comment
        );
    }
    if !b.needs.is_empty() {
        println!("  still needs {}", b.needs.join(" and "));
    }
    if let Some(i) = b.incident {
        println!("  INCIDENT {i}");
    }
}

/// How often `revoke --wait` looks again.
const REVOKE_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// How long `revoke --wait` waits in all.
const REVOKE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Follows a grant being revoked until the target confirms the access is gone (the grant
/// is `revoked`), saying so on standard error when a step fails on the way. Fails when it
/// is not done within [`REVOKE_WAIT`].
async fn wait_revoked(client: &crate::client::Client, mut g: GrantInfo) -> Result<GrantInfo> {
    let deadline = tokio::time::Instant::now() + REVOKE_WAIT;
    let mut told: Option<String> = None;
    loop {
        match g.state.as_str() {
            "revoked" => return Ok(g),
            "failed" => bail!(
                "grant {} failed: {}",
                g.id,
                g.last_error.as_deref().unwrap_or("no reason given")
            ),
            _ => {}
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

/// `warden grants`, `revoke`, `extend`, `breakglass`, `justify`, `review`, `incidents`.
pub async fn run(cli: &Cli) -> Result<()> {
    let client = client(cli)?;
    let grant = |id| crate::ids::resolve(&client, Kind::Grant, id);
    match &cli.command {
        Command::Grants(a) => {
            if let Some(GrantsCommand::Show { id }) = &a.command {
                let id = grant(id).await?;
                let g: GrantInfo = client
                    .call::<(), _>(Method::GET, &format!("/v1/grants/{id}"), None)
                    .await?;
                return if cli.json {
                    print_json(&g)
                } else {
                    print_grant(&g);
                    Ok(())
                };
            }
            let path = format!("/v1/grants?all={}&live={}", a.all, a.live);
            let list: Vec<GrantInfo> = client.call::<(), _>(Method::GET, &path, None).await?;
            if cli.json {
                return print_json(&list);
            }
            let now = show::now();
            let shorts = show::short_ids(&list.iter().map(|g| g.id).collect::<Vec<_>>());
            let mut table = Table::new();
            table.set_header([
                "id", "holder", "resource", "role", "kind", "state", "from", "until",
            ]);
            for g in list {
                table.add_row([
                    show::short(&shorts, g.id),
                    show::person(&g.identity, g.identity_name.as_deref()),
                    g.resource.clone(),
                    g.role.clone(),
                    g.kind.clone(),
                    show::grant_state(&g),
                    when(g.starts_at),
                    until(&g, now),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        Command::Revoke { id, reason, wait } => {
            let id = grant(id).await?;
            let g: GrantInfo = client
                .call(
                    Method::POST,
                    &format!("/v1/grants/{id}/revoke"),
                    Some(&RevokeGrant {
                        reason: reason.clone(),
                    }),
                )
                .await?;
            let g = if *wait {
                wait_revoked(&client, g).await?
            } else {
                g
            };
            if cli.json {
                return print_json(&g);
            }
            let now = show::now();
            let state = if g.state == "revoked" {
                "revoked: the target confirmed the access is gone"
            } else {
                "revoking"
            };
            println!(
                "grant {}: {} on {} for {} — {state} (ended early by you at {}: {reason})",
                g.id,
                g.role,
                g.resource,
                show::person(&g.identity, g.identity_name.as_deref()),
                g.ends_at.map_or_else(|| show::time(now), show::time),
            );
            if g.state != "revoked" {
                println!(
                    "  the access is being removed from the target; `warden grants show {}` \
                     confirms it (or revoke with --wait)",
                    g.id
                );
            }
            Ok(())
        }
        Command::Extend {
            id,
            duration,
            reason,
            ticket,
            wait,
        } => {
            let id = grant(id).await?;
            let r: RequestInfo = client
                .call(
                    Method::POST,
                    &format!("/v1/grants/{id}/extend"),
                    Some(&ExtendGrant {
                        duration: duration.clone(),
                        reason: reason.clone(),
                        ticket: ticket.clone(),
                    }),
                )
                .await?;
            let r = if *wait {
                crate::requests::wait_for(&client, r).await?
            } else {
                r
            };
            if cli.json {
                return print_json(&r);
            }
            println!(
                "extension request {} — {} (risk {}, route {})",
                r.id, r.state, r.risk, r.route
            );
            if let Some(g) = &r.grant {
                println!(
                    "  grant {} — {} until {}",
                    g.id,
                    show::grant_state(g),
                    until(g, show::now())
                );
            }
            if *wait && r.state != "active" {
                bail!("the extension ended {} without access", r.state);
            }
            Ok(())
        }
        Command::Breakglass(a) => {
            if a.list {
                let list: Vec<BreakGlassInfo> = client
                    .call::<(), _>(Method::GET, "/v1/breakglass", None)
                    .await?;
                if cli.json {
                    return print_json(&list);
                }
                for b in &list {
                    print_breakglass(b);
                }
                return Ok(());
            }
            let (Some(resource), Some(role), Some(reason)) = (&a.resource, &a.role, &a.reason)
            else {
                bail!("break-glass needs RESOURCE, --role and --reason (or --list)");
            };
            let b: BreakGlassInfo = client
                .call(
                    Method::POST,
                    "/v1/breakglass",
                    Some(&BreakGlassRequest {
                        resource: resource.clone(),
                        role: role.clone(),
                        reason: reason.clone(),
                        duration: a.duration.clone(),
                        ticket: a.ticket.clone(),
                    }),
                )
                .await?;
            if cli.json {
                return print_json(&b);
            }
            print_breakglass(&b);
            println!(
                "  security has been notified. Justify it with `warden justify {} --text ...` within 24 hours.",
                b.id
            );
            Ok(())
        }
        Command::Justify { id, text } => {
            let id = crate::ids::resolve(&client, Kind::BreakGlass, id).await?;
            let b: BreakGlassInfo = client
                .call(
                    Method::POST,
                    &format!("/v1/breakglass/{id}/justify"),
                    Some(&JustifyBreakGlass {
                        justification: text.clone(),
                    }),
                )
                .await?;
            if cli.json {
                print_json(&b)
            } else {
                print_breakglass(&b);
                Ok(())
            }
        }
        Command::Review(ReviewCommand::Breakglass {
            id,
            justified,
            unjustified: _,
            comment,
        }) => {
            let id = crate::ids::resolve(&client, Kind::BreakGlass, id).await?;
            let verdict = if *justified {
                "justified"
            } else {
                "unjustified"
            };
            let b: BreakGlassInfo = client
                .call(
                    Method::POST,
                    &format!("/v1/breakglass/{id}/review"),
                    Some(&ReviewBreakGlass {
                        verdict: verdict.to_owned(),
                        comment: comment.clone(),
                    }),
                )
                .await?;
            if cli.json {
                print_json(&b)
            } else {
                print_breakglass(&b);
                Ok(())
            }
        }
        Command::Incidents => {
            let list: Vec<IncidentInfo> = client
                .call::<(), _>(Method::GET, "/v1/incidents", None)
                .await?;
            if cli.json {
                return print_json(&list);
            }
            let shorts = show::short_ids(
                &list
                    .iter()
                    .flat_map(|i| [i.id, i.request])
                    .collect::<Vec<_>>(),
            );
            let mut table = Table::new();
            table.set_header(["id", "opened", "state", "request", "reason"]);
            for i in list {
                table.add_row([
                    show::short(&shorts, i.id),
                    time(i.opened_at),
                    i.state,
                    show::short(&shorts, i.request),
                    i.reason,
                ]);
            }
            println!("{table}");
            Ok(())
        }
        Command::Vendor(VendorCommand::Add {
            username,
            name,
            email,
            company,
            days,
        }) => {
            let v: CreatedVendor = client
                .call(
                    Method::POST,
                    "/v1/vendors",
                    Some(&CreateVendor {
                        username: username.clone(),
                        name: name.clone(),
                        email: email.clone(),
                        company: company.clone(),
                        days: *days,
                    }),
                )
                .await?;
            if cli.json {
                return print_json(&v);
            }
            println!(
                "vendor {} ({}, {}) sponsored by {} until {}",
                v.vendor.username,
                v.vendor.employee_id,
                v.vendor.company,
                show::person(&v.vendor.sponsor, v.vendor.sponsor_name.as_deref()),
                v.vendor.until.as_deref().unwrap_or("-")
            );
            println!(
                "initial password (shown once; the account is enabled only while a grant runs): {}",
                v.initial_password.expose()
            );
            println!(
                "request access for them with `warden request RESOURCE --role R --for 2h --reason ... --on-behalf-of {}`",
                v.vendor.username
            );
            Ok(())
        }
        Command::Vendor(VendorCommand::List) => {
            let list: Vec<VendorInfo> = client
                .call::<(), _>(Method::GET, "/v1/vendors", None)
                .await?;
            if cli.json {
                return print_json(&list);
            }
            let mut table = Table::new();
            table.set_header([
                "user",
                "employee id",
                "company",
                "sponsor",
                "until",
                "active",
                "deleted after",
            ]);
            for v in list {
                table.add_row([
                    v.username,
                    v.employee_id,
                    v.company,
                    show::person(&v.sponsor, v.sponsor_name.as_deref()),
                    v.until.unwrap_or_default(),
                    v.active.to_string(),
                    when(v.delete_after),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        _ => Ok(()),
    }
}
