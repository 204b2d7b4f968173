//! `warden user`: local users and their scopes.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use anyhow::{Result, anyhow};
use clap::Subcommand;
use comfy_table::Table;
use reqwest::Method;
use warden_proto::users::{CreateUser, CreatedUser, UpdateUser, UserInfo};

use crate::cli::Global;
use crate::commands::{client, print_json, time};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (a password is generated and shown once)
    Add {
        /// User name
        username: String,
        /// Name shown to people
        #[arg(long)]
        display_name: Option<String>,
        /// Scope to give (repeatable)
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List users
    List,
    /// Show one user
    Show {
        /// User name
        username: String,
    },
    /// Change a user's scopes, or disable or enable the user
    Set {
        /// User name
        username: String,
        /// Replace the user's scopes with these (repeatable)
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Disable the user: every token of theirs stops at once
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable the user
        #[arg(long)]
        enable: bool,
    },
}

/// The API path of a user, after checking the name: a name like `../tokens` must not
/// become a different endpoint once the URL is normalised.
fn user_path(username: &str) -> Result<String> {
    let name = warden_core::Username::parse(username)
        .map_err(|e| anyhow!("user name {username:?}: {e}"))?;
    Ok(format!("/v1/users/{name}"))
}

/// Users as a table, one row each.
fn user_table(users: &[UserInfo]) -> Table {
    let mut table = Table::new();
    table.set_header(["user", "name", "scopes", "disabled", "created"]);
    for u in users {
        table.add_row([
            u.username.clone(),
            u.display_name.clone(),
            u.scopes.join(" "),
            if u.disabled {
                "yes".to_owned()
            } else {
                String::new()
            },
            time(u.created_at),
        ]);
    }
    table
}

/// `warden user …`.
pub async fn run(g: &Global, cmd: UserCommand) -> Result<()> {
    let client = client(g)?;
    match &cmd {
        UserCommand::Add {
            username,
            display_name,
            scopes,
        } => {
            let req = CreateUser {
                username: username.clone(),
                display_name: display_name.clone(),
                scopes: scopes.clone(),
                password: None,
            };
            let created: CreatedUser = client.call(Method::POST, "/v1/users", Some(&req)).await?;
            if g.json {
                return print_json(&created);
            }
            println!(
                "Created {} with scopes: {}",
                created.user.username,
                created.user.scopes.join(" ")
            );
            if let Some(password) = &created.initial_password {
                println!("Initial password (shown once): {}", password.expose());
            }
        }
        UserCommand::List => {
            let users: Vec<UserInfo> = client.call::<(), _>(Method::GET, "/v1/users", None).await?;
            if g.json {
                return print_json(&users);
            }
            println!("{}", user_table(&users));
        }
        UserCommand::Show { username } => {
            let user: UserInfo = client
                .call::<(), _>(Method::GET, &user_path(username)?, None)
                .await?;
            if g.json {
                return print_json(&user);
            }
            println!("{}", user_table(&[user]));
        }
        UserCommand::Set {
            username,
            scopes,
            disable,
            enable,
        } => {
            let req = UpdateUser {
                scopes: (!scopes.is_empty()).then(|| scopes.clone()),
                disabled: if *disable {
                    Some(true)
                } else if *enable {
                    Some(false)
                } else {
                    None
                },
            };
            let user: UserInfo = client
                .call(Method::PATCH, &user_path(username)?, Some(&req))
                .await?;
            if g.json {
                return print_json(&user);
            }
            println!("{}", user_table(&[user]));
        }
    }
    Ok(())
}
