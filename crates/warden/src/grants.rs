//! Client commands for grants, break-glass and its review, and incidents.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

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

fn when(t: Option<time::OffsetDateTime>) -> String {
    t.map(time).unwrap_or_else(|| "-".to_owned())
}

fn print_grant(g: &GrantInfo) {
    println!(
        "grant {}: {} holds {} on {} — {} ({})",
        g.id, g.identity, g.role, g.resource, g.state, g.kind
    );
    println!("  from {} until {}", when(g.starts_at), when(g.ends_at));
    println!("  request {}", g.request);
    if let Some(r) = &g.end_reason {
        println!("  ended early: {r}");
    }
    if let Some(e) = &g.last_error {
        println!("  last failure ({} attempts): {e}", g.attempts);
    }
}

fn print_breakglass(b: &BreakGlassInfo) {
    println!(
        "break-glass {}: {} took {} on {} — review {}",
        b.id, b.holder, b.role, b.resource, b.review
    );
    println!("  reason: {}", b.reason);
    if let Some(g) = &b.grant {
        println!("  grant {} — {} until {}", g.id, g.state, when(g.ends_at));
    }
    match &b.justification {
        Some(j) => println!("  justification: {j}"),
        None => println!("  justification due by {}", when(b.justification_due)),
    }
    for r in &b.reviews {
        println!(
            "  {} by {} ({}) at {}: {}",
            r.verdict,
            r.reviewer,
            r.capacity,
            time(r.at),
            r.comment
        );
    }
    if !b.needs.is_empty() {
        println!("  still needs: {}", b.needs.join("; "));
    }
    if let Some(i) = b.incident {
        println!("  INCIDENT {i}");
    }
}

/// `warden grants`, `revoke`, `extend`, `breakglass`, `justify`, `review`, `incidents`.
pub async fn run(cli: &Cli) -> Result<()> {
    let client = client(cli)?;
    match &cli.command {
        Command::Grants(a) => {
            if let Some(GrantsCommand::Show { id }) = &a.command {
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
            let mut table = Table::new();
            table.set_header([
                "id", "holder", "resource", "role", "kind", "state", "from", "until",
            ]);
            for g in list {
                table.add_row([
                    g.id.to_string(),
                    g.identity,
                    g.resource,
                    g.role,
                    g.kind,
                    g.state,
                    when(g.starts_at),
                    when(g.ends_at),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        Command::Revoke { id, reason } => {
            let g: GrantInfo = client
                .call(
                    Method::POST,
                    &format!("/v1/grants/{id}/revoke"),
                    Some(&RevokeGrant {
                        reason: reason.clone(),
                    }),
                )
                .await?;
            if cli.json {
                return print_json(&g);
            }
            print_grant(&g);
            println!(
                "  the access is being removed from the target; `warden grants show {id}` confirms it"
            );
            Ok(())
        }
        Command::Extend {
            id,
            duration,
            reason,
            ticket,
            wait,
        } => {
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
                println!("  grant {} — {} until {}", g.id, g.state, when(g.ends_at));
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
            let mut table = Table::new();
            table.set_header(["id", "opened", "state", "request", "reason"]);
            for i in list {
                table.add_row([
                    i.id.to_string(),
                    time(i.opened_at),
                    i.state,
                    i.request.to_string(),
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
                v.vendor.sponsor,
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
                    v.sponsor,
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
