//! `warden serve`: the server, from a configuration file or, with `--dev`, from
//! development defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use warden_app::config::{Config, ConfigError};
use warden_app::telemetry;
use warden_server::ServeOptions;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file
    #[arg(
        long,
        short,
        env = "WARDEN_CONFIG",
        default_value = "warden.toml",
        conflicts_with = "dev"
    )]
    pub config: PathBuf,
    /// Development mode: no configuration, embedded SQLite in --data-dir, demo users,
    /// loopback only
    #[arg(long)]
    pub dev: bool,
    /// Data directory for --dev
    #[arg(long, default_value = "warden-dev", requires = "dev")]
    pub data_dir: PathBuf,
    /// Listen address for --dev (must be a loopback address)
    #[arg(long, requires = "dev")]
    pub listen: Option<SocketAddr>,
}

/// `warden serve`: runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<()> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = if args.dev {
        dev_config(&args, env)?
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
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8700)));
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
