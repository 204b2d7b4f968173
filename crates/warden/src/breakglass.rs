//! Client commands for break-glass: taking it (`breakglass`), justifying it (`justify`),
//! reviewing it (`review breakglass`), and the incidents an unjustified use opens
//! (`incidents`).

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use reqwest::Method;
use warden_core::request::BreakGlassReview;
use warden_proto::grants::{
    BreakGlassInfo, BreakGlassRequest, IncidentInfo, JustifyBreakGlass, ReviewBreakGlass,
};

use crate::cli::Global;
use crate::commands::{client, print_json, time};
use crate::ids::Kind;
use crate::show;

#[derive(Debug, Args)]
pub struct BreakglassArgs {
    /// Resource name (omit with `list`)
    pub resource: Option<String>,
    /// Role on the resource
    #[arg(long)]
    pub role: Option<String>,
    /// What is on fire
    #[arg(long)]
    pub reason: Option<String>,
    /// How long (at most the break-glass maximum, 2h by default)
    #[arg(long = "for")]
    pub duration: Option<String>,
    /// The incident ticket, if there is one yet
    #[arg(long)]
    pub ticket: Option<String>,
    /// List break-glass uses and their reviews instead
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct JustifyArgs {
    /// Break-glass id (or the start of it)
    #[arg(value_parser = crate::ids::parse)]
    pub id: crate::ids::IdArg,
    /// What happened and what you did
    #[arg(long)]
    pub text: String,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Judge a break-glass use
    Breakglass {
        /// Break-glass id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
        /// The use was justified
        #[arg(
            long,
            conflicts_with = "unjustified",
            required_unless_present = "unjustified"
        )]
        justified: bool,
        /// The use was not justified (opens an incident)
        #[arg(long)]
        unjustified: bool,
        /// Why
        #[arg(long, short)]
        comment: String,
    },
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
            show::grant_until(g, now)
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

/// Prints a break-glass use as `--json` or people ask.
fn show_breakglass(g: &Global, b: &BreakGlassInfo) -> Result<()> {
    if g.json {
        return print_json(b);
    }
    print_breakglass(b);
    Ok(())
}

/// `warden breakglass`: takes break-glass access, or with `--list` lists the uses.
pub async fn breakglass(g: &Global, a: BreakglassArgs) -> Result<()> {
    let client = client(g)?;
    if a.list {
        let list: Vec<BreakGlassInfo> = client
            .call::<(), _>(Method::GET, "/v1/breakglass", None)
            .await?;
        if g.json {
            return print_json(&list);
        }
        for b in &list {
            print_breakglass(b);
        }
        return Ok(());
    }
    let (Some(resource), Some(role), Some(reason)) = (a.resource, a.role, a.reason) else {
        bail!("break-glass needs RESOURCE, --role and --reason (or --list)");
    };
    let b: BreakGlassInfo = client
        .call(
            Method::POST,
            "/v1/breakglass",
            Some(&BreakGlassRequest {
                resource,
                role,
                reason,
                duration: a.duration,
                ticket: a.ticket,
            }),
        )
        .await?;
    if g.json {
        return print_json(&b);
    }
    print_breakglass(&b);
    println!(
        "  security has been notified. Justify it with `warden justify {} --text ...` within 24 hours.",
        b.id
    );
    Ok(())
}

/// `warden justify`.
pub async fn justify(g: &Global, a: JustifyArgs) -> Result<()> {
    let client = client(g)?;
    let id = crate::ids::resolve(&client, Kind::BreakGlass, &a.id).await?;
    let b: BreakGlassInfo = client
        .call(
            Method::POST,
            &format!("/v1/breakglass/{id}/justify"),
            Some(&JustifyBreakGlass {
                justification: a.text,
            }),
        )
        .await?;
    show_breakglass(g, &b)
}

/// `warden review breakglass`.
pub async fn review(g: &Global, cmd: ReviewCommand) -> Result<()> {
    let ReviewCommand::Breakglass {
        id,
        justified,
        unjustified: _,
        comment,
    } = cmd;
    let client = client(g)?;
    let id = crate::ids::resolve(&client, Kind::BreakGlass, &id).await?;
    let verdict = if justified {
        BreakGlassReview::Justified
    } else {
        BreakGlassReview::Unjustified
    }
    .as_str();
    let b: BreakGlassInfo = client
        .call(
            Method::POST,
            &format!("/v1/breakglass/{id}/review"),
            Some(&ReviewBreakGlass {
                verdict: verdict.to_owned(),
                comment,
            }),
        )
        .await?;
    show_breakglass(g, &b)
}

/// `warden incidents`.
pub async fn incidents(g: &Global) -> Result<()> {
    let list: Vec<IncidentInfo> = client(g)?
        .call::<(), _>(Method::GET, "/v1/incidents", None)
        .await?;
    if g.json {
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
