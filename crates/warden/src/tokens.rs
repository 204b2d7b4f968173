//! `warden token`: the caller's API tokens.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use anyhow::Result;
use clap::Subcommand;
use comfy_table::Table;
use reqwest::Method;
use warden_proto::auth::{CreateToken, CreatedToken, TokenInfo};

use crate::cli::Global;
use crate::commands::{client, print_json, time};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token (shown once)
    Create {
        /// A label for the token
        name: String,
        /// Scope for the token (repeatable) [default: all of yours]
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime in seconds [default: server's auth.token_default_ttl_secs]
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// List your tokens
    List,
    /// Revoke a token
    Revoke {
        /// Token id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
    },
}

/// `warden token …`.
pub async fn run(g: &Global, cmd: TokenCommand) -> Result<()> {
    let client = client(g)?;
    match &cmd {
        TokenCommand::Create {
            name,
            scopes,
            expires_in,
        } => {
            let req = CreateToken {
                name: name.clone(),
                scopes: (!scopes.is_empty()).then(|| scopes.clone()),
                expires_in_secs: *expires_in,
            };
            let created: CreatedToken = client.call(Method::POST, "/v1/tokens", Some(&req)).await?;
            if g.json {
                return print_json(&created);
            }
            println!(
                "Token {} ({}) expires {}. It is shown once:\n",
                created.info.id,
                created.info.scopes.join(" "),
                time(created.info.expires_at)
            );
            println!("{}", created.token.expose());
        }
        TokenCommand::List => {
            let tokens: Vec<TokenInfo> = client
                .call::<(), _>(Method::GET, "/v1/tokens", None)
                .await?;
            if g.json {
                return print_json(&tokens);
            }
            let shorts = crate::show::short_ids(&tokens.iter().map(|t| t.id).collect::<Vec<_>>());
            let mut table = Table::new();
            table.set_header(["id", "name", "kind", "scopes", "expires", "revoked"]);
            for t in tokens {
                table.add_row([
                    crate::show::short(&shorts, t.id),
                    t.name,
                    t.kind,
                    t.scopes.join(" "),
                    time(t.expires_at),
                    t.revoked_at.map(time).unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
        TokenCommand::Revoke { id } => {
            let id = crate::ids::resolve(&client, crate::ids::Kind::Token, id).await?;
            client
                .call_empty::<()>(Method::DELETE, &format!("/v1/tokens/{id}"), None)
                .await?;
            println!("Token {id} is revoked.");
        }
    }
    Ok(())
}
