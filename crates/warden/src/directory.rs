//! Client commands for HR sync, identities and access explanations.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use comfy_table::Table;
use reqwest::Method;
use warden_proto::directory::{
    Explanation, IdentityDetail, IdentityInfo, PersonChange, SyncReport,
};

use crate::cli::Global;
use crate::commands::{client, print_json};

#[derive(Debug, Subcommand)]
pub enum HrCommand {
    /// Sync the whole HR population from a CSV (header row) or JSON (array) file
    Sync {
        /// The file (`.json` is read as JSON, anything else as CSV)
        file: PathBuf,
        /// Show the joiners, movers and leavers without changing anything
        #[arg(long)]
        dry_run: bool,
        /// Allow more than a fifth of the file-synced identities to leave at once
        #[arg(long)]
        allow_mass_leave: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdentitiesCommand {
    /// List identities
    List,
    /// Show an identity with its groups, birthright and what it may request
    Show {
        /// User name or employee id
        identity: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Whether IDENTITY may request ROLE on RESOURCE, by which rule, and how it would be approved
    Explain {
        /// User name or employee id
        identity: String,
        /// Resource name
        resource: String,
        /// Role name
        role: String,
        /// Asked duration, such as 2h or 30m
        #[arg(long = "for")]
        duration: Option<String>,
        /// A ticket the request would carry
        #[arg(long)]
        ticket: Option<String>,
        /// Seconds since the last multi-factor authentication
        #[arg(long)]
        mfa_age: Option<i64>,
    },
    /// Whether IDENTITY holds ROLE on RESOURCE right now, by which grant, until when
    Check {
        /// User name or employee id
        identity: String,
        /// Resource name
        resource: String,
        /// Role name
        role: String,
    },
}

/// Prints whose access a sync or a policy change moves, and how.
pub fn print_changes(changes: &[PersonChange]) {
    if changes.is_empty() {
        println!("No identity's access changes.");
        return;
    }
    for c in changes {
        println!("{:<9} {} ({})", c.lifecycle, c.username, c.employee_id);
        for a in &c.attributes {
            println!("          {a}");
        }
        for (sign, what, list) in [
            ("+", "birthright", &c.birthright_added),
            ("-", "birthright", &c.birthright_removed),
            ("+", "may request", &c.eligibility_added),
            ("-", "may request", &c.eligibility_removed),
        ] {
            if !list.is_empty() {
                println!("          {sign} {what}: {}", list.join(", "));
            }
        }
    }
}

/// `warden hr …`.
pub async fn hr(g: &Global, cmd: HrCommand) -> Result<()> {
    let HrCommand::Sync {
        file,
        dry_run,
        allow_mass_leave,
    } = cmd;
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let format = if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        "json"
    } else {
        "csv"
    };
    let path = format!(
        "/v1/hr/sync?format={format}&dry_run={dry_run}&allow_mass_leave={allow_mass_leave}"
    );
    let report: SyncReport = client(g)?.call_text(Method::POST, &path, text).await?;
    if g.json {
        return print_json(&report);
    }
    print_changes(&report.changes);
    let counts: Vec<String> = report
        .counts
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let verb = if report.dry_run {
        "Dry run; nothing changed"
    } else {
        "Synced"
    };
    println!(
        "\n{verb}: {} records ({}).",
        report.records,
        counts.join(", ")
    );
    if report.accounts_disabled > 0 {
        println!(
            "Disabled {} Warden account(s) of leavers and revoked {} token(s).",
            report.accounts_disabled, report.tokens_revoked
        );
    }
    Ok(())
}

/// `warden identities …`.
pub async fn identities(g: &Global, cmd: IdentitiesCommand) -> Result<()> {
    let client = client(g)?;
    match cmd {
        IdentitiesCommand::List => {
            let list: Vec<IdentityInfo> = client
                .call::<(), _>(Method::GET, "/v1/identities", None)
                .await?;
            if g.json {
                return print_json(&list);
            }
            let mut table = Table::new();
            table.set_header([
                "employee id",
                "user",
                "name",
                "department",
                "job",
                "manager",
                "status",
                "type",
            ]);
            let names: std::collections::HashMap<String, String> = list
                .iter()
                .map(|i| (i.employee_id.clone(), i.name.clone()))
                .collect();
            for i in list {
                let manager = i
                    .manager
                    .as_deref()
                    .map(|m| crate::show::person(m, names.get(m).map(String::as_str)))
                    .unwrap_or_default();
                table.add_row([
                    i.employee_id,
                    i.username,
                    i.name,
                    i.department.unwrap_or_default(),
                    i.job_function.unwrap_or_default(),
                    manager,
                    i.status,
                    i.kind,
                ]);
            }
            println!("{table}");
        }
        IdentitiesCommand::Show { identity } => {
            let name = warden_core::Username::parse(&identity.to_ascii_lowercase())
                .map(|n| n.to_string())
                .or_else(|_| {
                    warden_core::identity::EmployeeId::parse(&identity).map(|e| e.to_string())
                })
                .map_err(|e| anyhow!("identity {identity:?}: {e}"))?;
            let d: IdentityDetail = client
                .call::<(), _>(Method::GET, &format!("/v1/identities/{name}"), None)
                .await?;
            if g.json {
                return print_json(&d);
            }
            let i = &d.identity;
            println!(
                "{} ({}), {} <{}>",
                i.name, i.employee_id, i.username, i.email
            );
            println!(
                "  {} / {} / manager {} / {} {}",
                i.department.as_deref().unwrap_or("-"),
                i.job_function.as_deref().unwrap_or("-"),
                i.manager.as_deref().unwrap_or("-"),
                i.status,
                i.kind
            );
            println!("  policy groups: {}", d.policy_groups.join(", "));
            println!(
                "  birthright:    {}",
                d.birthright
                    .iter()
                    .map(|e| format!("{}/{} ({})", e.resource, e.role, e.rule))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "  may request:   {}",
                d.eligible
                    .iter()
                    .map(|e| format!("{}/{} ({})", e.resource, e.role, e.rule))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}

/// `warden access …`.
pub async fn access(g: &Global, cmd: AccessCommand) -> Result<()> {
    match cmd {
        AccessCommand::Check {
            identity,
            resource,
            role,
        } => check(g, &identity, &resource, &role).await,
        AccessCommand::Explain {
            identity,
            resource,
            role,
            duration,
            ticket,
            mfa_age,
        } => {
            let mfa = mfa_age.map(|m| m.to_string());
            let mut query = vec![
                ("identity", identity.as_str()),
                ("resource", resource.as_str()),
                ("role", role.as_str()),
            ];
            for (key, value) in [
                ("duration", duration.as_deref()),
                ("ticket", ticket.as_deref()),
                ("mfa_age_secs", mfa.as_deref()),
            ] {
                if let Some(v) = value {
                    query.push((key, v));
                }
            }
            explain(g, &query).await
        }
    }
}

/// `warden access check`.
async fn check(g: &Global, identity: &str, resource: &str, role: &str) -> Result<()> {
    let c: warden_proto::grants::AccessCheck = client(g)?
        .call_query(
            Method::GET,
            "/v1/access/check",
            &[
                ("identity", identity),
                ("resource", resource),
                ("role", role),
            ],
        )
        .await?;
    if g.json {
        return print_json(&c);
    }
    match (c.allowed, c.grant, c.ends_at) {
        (true, Some(grant), Some(end)) => println!(
            "allowed: {identity} holds {role} on {resource} by grant {grant} until {}{}",
            crate::show::moment(end, crate::show::now()),
            if c.breakglass { " (break-glass)" } else { "" }
        ),
        _ => println!("not allowed: {identity} holds no running grant of {role} on {resource}"),
    }
    Ok(())
}

/// `warden access explain`, with its query built.
async fn explain(g: &Global, query: &[(&str, &str)]) -> Result<()> {
    let e: Explanation = client(g)?
        .call_query(Method::GET, "/v1/access/explain", query)
        .await?;
    if g.json {
        return print_json(&e);
    }
    if e.eligible {
        println!(
            "{} MAY request {} on {}: rule {} ({}), {} max, ticket {}, approval policy {}.",
            e.identity,
            e.role,
            e.resource,
            e.rule.as_deref().unwrap_or("?"),
            e.location.as_deref().unwrap_or("?"),
            crate::show::secs(e.max_duration_secs.unwrap_or(0)),
            if e.ticket_required == Some(true) {
                "required"
            } else {
                "optional"
            },
            e.approval.as_deref().unwrap_or("?"),
        );
    } else {
        println!(
            "{} may NOT request {} on {}.",
            e.identity, e.role, e.resource
        );
    }
    println!("Approval: {}", e.route);
    println!("Groups of {}: {}", e.identity, e.identity_groups.join(", "));
    for r in &e.rules {
        let mark = if r.matched { "matched" } else { "failed " };
        println!("  {mark} {} {}", r.rule, r.location);
        for reason in &r.reasons {
            println!("          - {reason}");
        }
    }
    Ok(())
}
