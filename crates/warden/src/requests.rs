//! Client commands for just-in-time requests and their approval.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::Result;
use comfy_table::Table;
use reqwest::Method;
use warden_proto::requests::{CreateRequest, Decide, RequestInfo};

use crate::cli::{Cli, Command, RequestsCommand};
use crate::commands::{client, print_json, time};
use crate::ids::Kind;
use crate::show;

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

/// `warden request`, `requests`, `approve`, `deny`, `cancel`.
pub async fn run(cli: &Cli) -> Result<()> {
    let client = client(cli)?;
    let request = |id| crate::ids::resolve(&client, Kind::Request, id);
    let answer: RequestInfo = match &cli.command {
        Command::Request(a) => {
            let body = CreateRequest {
                resource: a.resource.clone(),
                role: a.role.clone(),
                duration: a.duration.clone(),
                justification: a.reason.clone(),
                ticket: a.ticket.clone(),
                on_behalf_of: a.on_behalf_of.clone(),
                start_at: a.start,
            };
            client
                .call(Method::POST, "/v1/requests", Some(&body))
                .await?
        }
        Command::Requests(a) => match &a.command {
            Some(RequestsCommand::Show { id }) => {
                let id = request(id).await?;
                client
                    .call::<(), _>(Method::GET, &format!("/v1/requests/{id}"), None)
                    .await?
            }
            None => {
                let path = format!("/v1/requests?pending_approval={}", a.pending_approval);
                let list: Vec<RequestInfo> = client.call::<(), _>(Method::GET, &path, None).await?;
                if cli.json {
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
                return Ok(());
            }
        },
        Command::Approve { id, comment } => {
            let id = request(id).await?;
            client
                .call(
                    Method::POST,
                    &format!("/v1/requests/{id}/approve"),
                    Some(&Decide {
                        comment: comment.clone(),
                    }),
                )
                .await?
        }
        Command::Deny { id, comment } => {
            let id = request(id).await?;
            client
                .call(
                    Method::POST,
                    &format!("/v1/requests/{id}/deny"),
                    Some(&Decide {
                        comment: comment.clone(),
                    }),
                )
                .await?
        }
        Command::Cancel { id } => {
            let id = request(id).await?;
            client
                .call::<(), _>(Method::POST, &format!("/v1/requests/{id}/cancel"), None)
                .await?
        }
        _ => return Ok(()),
    };
    let wait = matches!(&cli.command, Command::Request(a) if a.wait);
    let answer = if wait {
        wait_for(&client, answer).await?
    } else {
        answer
    };
    if cli.json {
        return print_json(&answer);
    }
    print_request(&answer);
    if wait && answer.state != "active" {
        anyhow::bail!(
            "request {} ended {} without access",
            answer.id,
            answer.state
        );
    }
    Ok(())
}

/// Polls a request until its access is active or it can no longer become so.
pub async fn wait_for(client: &crate::client::Client, mut r: RequestInfo) -> Result<RequestInfo> {
    let mut shown = String::new();
    loop {
        if matches!(
            r.state.as_str(),
            "active" | "denied" | "cancelled" | "timed_out" | "failed" | "revoked"
        ) {
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
