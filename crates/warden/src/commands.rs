//! What each command does.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use std::io::BufRead;

use anyhow::{Context, Result, anyhow, bail};
use comfy_table::Table;
use reqwest::Method;
use serde::Serialize;
use warden_proto::WireSecret;
use warden_proto::auth::{
    ChangePassword, CreateToken, CreatedToken, LoginRequest, LoginResponse, TokenInfo, WhoAmI,
};
use warden_proto::users::{CreateUser, CreatedUser, UpdateUser, UserInfo};
use warden_server::config::{Config, ConfigError};
use warden_server::{ServeOptions, telemetry};

use crate::cli::{Cli, Command, LoginArgs, ServeArgs, TokenCommand, UserCommand};
use crate::client::{Client, DEFAULT_ADDR, ServerProblem};
use crate::credentials;

/// The exit code for an error: 2 for bad configuration or usage, 1 for the rest.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ConfigError>().is_some() {
        2
    } else {
        1
    }
}

/// Runs a command.
pub async fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Login(args) => login(&cli, args).await,
        Command::Logout => logout(&cli).await,
        Command::Whoami => whoami(&cli).await,
        Command::Passwd => passwd(&cli).await,
        Command::Token(cmd) => token(&cli, cmd).await,
        Command::User(cmd) => user(&cli, cmd).await,
        Command::Hr(cmd) => crate::directory::hr(&cli, cmd).await,
        Command::Identities(cmd) => crate::directory::identities(&cli, cmd).await,
        Command::Access(cmd) => crate::directory::access(&cli, cmd).await,
        Command::Policy(cmd) => crate::directory::policy(&cli, cmd).await,
        Command::Request(_)
        | Command::Requests(_)
        | Command::Approve { .. }
        | Command::Deny { .. }
        | Command::Cancel { .. } => crate::requests::run(&cli).await,
        Command::Grants(_)
        | Command::Revoke { .. }
        | Command::Extend { .. }
        | Command::Breakglass(_)
        | Command::Justify { .. }
        | Command::Review(_)
        | Command::Incidents
        | Command::Vendor(_) => crate::grants::run(&cli).await,
        Command::Credential { .. }
        | Command::Ssh(_)
        | Command::Discover { .. }
        | Command::Reconcile { .. }
        | Command::Findings { .. } => crate::targets::run(&cli).await,
        Command::Audit(cmd) => crate::audit::run(&cli, cmd).await,
        Command::Operator(cmd) => crate::vault::operator(&cli, cmd).await,
        Command::Accounts(cmd) => crate::vault::accounts(&cli, cmd).await,
    }
}

// ----- serve -----

async fn serve(args: &ServeArgs) -> Result<()> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = if args.dev {
        dev_config(args, env)?
    } else {
        Config::load(Some(&args.config), env)?
    };
    telemetry::init_logging(&config.log).map_err(|e| anyhow!("cannot start logging: {e}"))?;
    let mut out = std::io::stdout();
    warden_server::serve(
        config,
        ServeOptions { dev: args.dev },
        &mut out,
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// The configuration of `--dev`: defaults, SQLite in the data directory, loopback only;
/// `WARDEN_*__*` overrides still apply.
fn dev_config(args: &ServeArgs, env: Vec<(String, String)>) -> Result<Config> {
    let listen = args
        .listen
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8700)));
    let data_dir = std::path::absolute(&args.data_dir)
        .with_context(|| format!("bad data directory {}", args.data_dir.display()))?;
    let mut defaults = toml::Table::new();
    let mut server = toml::Table::new();
    server.insert("listen".into(), toml::Value::String(listen.to_string()));
    let mut storage = toml::Table::new();
    storage.insert(
        "data_dir".into(),
        toml::Value::String(data_dir.display().to_string()),
    );
    // No target connectors in development: grants are recorded in Warden's database.
    let mut grants = toml::Table::new();
    grants.insert("record_only".into(), toml::Value::Boolean(true));
    // The vault unseals with a key file in the data directory: no shares to type at every
    // start of a development server.
    let mut vault = toml::Table::new();
    vault.insert(
        "unseal_key_file".into(),
        toml::Value::String(data_dir.join("vault_unseal.key").display().to_string()),
    );
    defaults.insert("server".into(), toml::Value::Table(server));
    defaults.insert("storage".into(), toml::Value::Table(storage));
    defaults.insert("grants".into(), toml::Value::Table(grants));
    defaults.insert("vault".into(), toml::Value::Table(vault));
    let text = toml::to_string(&defaults).context("cannot build the development configuration")?;
    let config = Config::from_toml(&text, std::path::Path::new("<--dev>"), env)?;
    if !config.server.listen.ip().is_loopback() {
        return Err(ConfigError::Invalid {
            key: "server.listen",
            message: format!(
                "--dev listens on loopback addresses only, not {}",
                config.server.listen
            ),
        }
        .into());
    }
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

// ----- client plumbing -----

/// A client for the server in effect: flags and environment first, then the stored login.
pub fn client(cli: &Cli) -> Result<Client> {
    let stored = credentials::load()?;
    let addr = cli
        .addr
        .clone()
        .or_else(|| stored.as_ref().map(|s| s.addr.clone()))
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    // A stored token belongs to the server it came from; never send it elsewhere.
    let token = cli.token.clone().or_else(|| {
        stored
            .filter(|s| same_server(&s.addr, &addr))
            .map(|s| s.token)
    });
    Client::new(&addr, token, cli.ca_cert.as_deref())
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn read_password(prompt: &str, stdin: bool) -> Result<WireSecret> {
    if stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']);
        let secret = WireSecret::from(password);
        line.clear();
        return Ok(secret);
    }
    let password = dialoguer::Password::new()
        .with_prompt(prompt)
        .interact()
        .context("cannot read the password (no terminal? use --password-stdin)")?;
    Ok(WireSecret::from(password.as_str()))
}

/// A moment as people read it: local time, to the second ([`crate::show::time`]).
pub fn time(t: time::OffsetDateTime) -> String {
    crate::show::time(t)
}

// ----- commands -----

async fn login(cli: &Cli, args: &LoginArgs) -> Result<()> {
    let addr = cli
        .addr
        .clone()
        .or_else(|| credentials::load().ok().flatten().map(|s| s.addr))
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let client = Client::new(&addr, None, cli.ca_cert.as_deref())?;
    let password = read_password(
        &format!("Password for {}", args.username),
        args.password_stdin,
    )?;
    let req = LoginRequest {
        username: args.username.clone(),
        password,
    };
    let answer: LoginResponse = client
        .call(Method::POST, "/v1/auth/login", Some(&req))
        .await?;
    let path = credentials::save(&credentials::Stored {
        addr: client.base().to_owned(),
        token: answer.token.expose().to_owned(),
    })?;
    println!(
        "Logged in to {} as {}. The session token expires at {} and is stored in {}.",
        client.base(),
        args.username,
        time(answer.expires_at),
        path.display()
    );
    Ok(())
}

async fn logout(cli: &Cli) -> Result<()> {
    let client = client(cli)?;
    let result = client
        .call_empty::<()>(Method::POST, "/v1/auth/logout", None)
        .await;
    credentials::remove()?;
    match result {
        Ok(()) => println!("Logged out; the session token is revoked."),
        // The token was already dead: forgetting it is all there is to do.
        Err(e)
            if e.downcast_ref::<ServerProblem>()
                .is_some_and(|p| p.0.status == 401) =>
        {
            println!("Logged out; the stored token was no longer valid.");
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

async fn whoami(cli: &Cli) -> Result<()> {
    let me: WhoAmI = client(cli)?
        .call::<(), _>(Method::GET, "/v1/auth/whoami", None)
        .await?;
    if cli.json {
        return print_json(&me);
    }
    println!("user:     {} ({})", me.username, me.display_name);
    println!("scopes:   {}", me.scopes.join(" "));
    println!(
        "token:    {} (expires {})",
        me.token_id,
        time(me.token_expires_at)
    );
    Ok(())
}

async fn passwd(cli: &Cli) -> Result<()> {
    let client = client(cli)?;
    let current = read_password("Current password", false)?;
    let new = read_password("New password (at least 12 characters)", false)?;
    let again = read_password("New password again", false)?;
    if new.expose() != again.expose() {
        bail!("the new passwords differ");
    }
    let req = ChangePassword {
        current_password: current,
        new_password: new,
    };
    client
        .call_empty(Method::POST, "/v1/auth/password", Some(&req))
        .await?;
    println!("Password changed.");
    Ok(())
}

async fn token(cli: &Cli, cmd: &TokenCommand) -> Result<()> {
    let client = client(cli)?;
    match cmd {
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
            if cli.json {
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
            if cli.json {
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

/// The API path of a user, after checking the name: a name like `../tokens` must not
/// become a different endpoint once the URL is normalised.
fn user_path(username: &str) -> Result<String> {
    let name = warden_core::Username::parse(username)
        .map_err(|e| anyhow!("user name {username:?}: {e}"))?;
    Ok(format!("/v1/users/{name}"))
}

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

async fn user(cli: &Cli, cmd: &UserCommand) -> Result<()> {
    let client = client(cli)?;
    match cmd {
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
            if cli.json {
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
            if cli.json {
                return print_json(&users);
            }
            println!("{}", user_table(&users));
        }
        UserCommand::Show { username } => {
            let user: UserInfo = client
                .call::<(), _>(Method::GET, &user_path(username)?, None)
                .await?;
            if cli.json {
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
            if cli.json {
                return print_json(&user);
            }
            println!("{}", user_table(&[user]));
        }
    }
    Ok(())
}
