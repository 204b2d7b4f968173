//! `warden vendor`: vendors a person sponsors, each a temporary identity and account that
//! is enabled only while one of their grants runs.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use anyhow::Result;
use clap::Subcommand;
use comfy_table::Table;
use reqwest::Method;
use warden_proto::grants::{CreateVendor, CreatedVendor, VendorInfo};

use crate::cli::Global;
use crate::client::Client;
use crate::commands::{client, print_json};
use crate::show;

#[derive(Debug, Subcommand)]
pub enum VendorCommand {
    /// Create a vendor you sponsor; their initial password is shown once
    Add {
        /// The vendor's user name
        username: String,
        /// Full name
        #[arg(long)]
        name: String,
        /// E-mail address
        #[arg(long)]
        email: String,
        /// Company
        #[arg(long)]
        company: String,
        /// Days the sponsorship lasts (default 30)
        #[arg(long)]
        days: Option<u32>,
    },
    /// The vendors you sponsor (all, for administrators)
    List,
}

/// `warden vendor …`.
pub async fn run(g: &Global, cmd: VendorCommand) -> Result<()> {
    let client = client(g)?;
    match cmd {
        VendorCommand::Add {
            username,
            name,
            email,
            company,
            days,
        } => {
            let vendor = CreateVendor {
                username,
                name,
                email,
                company,
                days,
            };
            add(g, &client, &vendor).await
        }
        VendorCommand::List => list(g, &client).await,
    }
}

/// `warden vendor add`.
async fn add(g: &Global, client: &Client, vendor: &CreateVendor) -> Result<()> {
    let v: CreatedVendor = client
        .call(Method::POST, "/v1/vendors", Some(vendor))
        .await?;
    if g.json {
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

/// `warden vendor list`.
async fn list(g: &Global, client: &Client) -> Result<()> {
    let list: Vec<VendorInfo> = client
        .call::<(), _>(Method::GET, "/v1/vendors", None)
        .await?;
    if g.json {
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
            show::time_or_dash(v.delete_after),
        ]);
    }
    println!("{table}");
    Ok(())
}
