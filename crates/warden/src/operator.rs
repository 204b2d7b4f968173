//! `warden operator`: the credential vault's seal and keys (status, init, rekey, unseal,
//! seal, rotate).
//!
//! Secrets only ever come in through a hidden prompt or standard input, never as an
//! argument (an unseal share may be one, with a warning), and go out on standard output
//! once: the unseal shares at `init`. Shares are written to files only when
//! `--output-dir` asks for it, under names made here.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use reqwest::Method;
use secrecy::zeroize::Zeroize as _;
use warden_proto::WireSecret;
use warden_proto::vault::{InitVault, InitializedVault, Unseal, VaultStatus};

use crate::cli::Global;
use crate::client::Client;
use crate::commands::{client, print_json, read_line_secret, time};

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Show whether the vault is initialised and sealed, its keys, and unseal progress
    /// (needs no token)
    Status,
    /// Initialise the vault: split a new unseal key into shares, shown once (needs admin)
    Init {
        /// How many shares to make, one per key holder (1 to 16)
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
        shares: u8,
        /// How many shares unseal the vault (2 to --shares; 1 only with a single share)
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
        threshold: u8,
        /// Write each share to DIR/share-<i>.txt (mode 0600) instead of printing them;
        /// DIR is created with mode 0700, and existing share files are never overwritten
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
    /// Replace the unseal key: a new one split into new shares, shown once; the old shares
    /// stop working (needs admin and an unsealed vault)
    Rekey {
        /// How many shares to make, one per key holder (1 to 16)
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
        shares: u8,
        /// How many shares unseal the vault (2 to --shares; 1 only with a single share)
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
        threshold: u8,
        /// Write each share to DIR/share-<i>.txt (mode 0600) instead of printing them;
        /// DIR is created with mode 0700, and existing share files are never overwritten
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
    /// Give one unseal share (needs no token). Leave SHARE out to be asked for it
    /// without echo
    Unseal {
        /// The share; `-` reads one line from standard input. Better left out: a share
        /// typed on the command line stays in your shell history and shows in `ps`
        #[arg(conflicts_with = "reset")]
        share: Option<String>,
        /// Forget the shares given so far, to start again
        #[arg(long)]
        reset: bool,
    },
    /// Seal the vault: its keys leave the server's memory, and Warden serves health and
    /// unseal only until key holders unseal it again (needs admin)
    Seal {
        /// Do not ask for confirmation
        #[arg(long, short)]
        yes: bool,
    },
    /// Rotate the root key and start a new data key; older secrets are re-sealed in the
    /// background (needs admin)
    Rotate,
}

/// Runs `warden operator ...`.
pub async fn run(g: &Global, cmd: OperatorCommand) -> Result<()> {
    let client = client(g)?;
    match cmd {
        OperatorCommand::Status => {
            let st = status(&client).await?;
            if g.json {
                return print_json(&st);
            }
            print_status(&st);
            Ok(())
        }
        OperatorCommand::Init {
            shares,
            threshold,
            output_dir,
        } => {
            init(
                &client,
                g.json,
                "/v1/operator/init",
                shares,
                threshold,
                output_dir.as_deref(),
            )
            .await
        }
        OperatorCommand::Rekey {
            shares,
            threshold,
            output_dir,
        } => {
            init(
                &client,
                g.json,
                "/v1/operator/rekey",
                shares,
                threshold,
                output_dir.as_deref(),
            )
            .await
        }
        OperatorCommand::Unseal { share, reset } => {
            unseal(&client, g.json, share.as_deref(), reset).await
        }
        OperatorCommand::Seal { yes } => seal(&client, g.json, yes).await,
        OperatorCommand::Rotate => {
            let st: VaultStatus = client
                .call::<(), _>(Method::POST, "/v1/operator/rotate", None)
                .await?;
            if g.json {
                return print_json(&st);
            }
            println!(
                "Rotated the vault's keys: root key version {}, new secrets sealed with data key {}.",
                st.root_version, st.active_data_key
            );
            println!("Secrets sealed with older data keys are re-sealed in the background.");
            Ok(())
        }
    }
}

async fn status(client: &Client) -> Result<VaultStatus> {
    client
        .call::<(), _>(Method::GET, "/v1/operator/status", None)
        .await
}

fn print_status(st: &VaultStatus) {
    if !st.initialized {
        println!("vault:         not initialised (warden operator init)");
        return;
    }
    println!(
        "vault:         {}",
        if st.sealed {
            "initialised, SEALED"
        } else {
            "initialised, unsealed"
        }
    );
    if let Some(id) = &st.vault_id {
        println!("vault id:      {id}");
    }
    match st.unseal_mode.as_deref() {
        Some("shares") => println!(
            "unseal mode:   shares ({} of {} unseal it)",
            st.threshold, st.shares
        ),
        Some("key_file") => println!("unseal mode:   key file (development)"),
        Some(other) => println!("unseal mode:   {other}"),
        None => {}
    }
    if st.sealed {
        println!(
            "unseal:        {} of {} shares given",
            st.progress, st.threshold
        );
    }
    println!("root key:      version {}", st.root_version);
    println!(
        "data key:      {} (new secrets are sealed with it)",
        st.active_data_key
    );
    println!(
        "last rotation: {}",
        st.rotated_at.map(time).unwrap_or_else(|| "-".to_owned())
    );
}

/// Asks `route` (init or rekey) for a new split and prints or writes the shares.
async fn init(
    client: &Client,
    json: bool,
    route: &str,
    shares: u8,
    threshold: u8,
    output_dir: Option<&Path>,
) -> Result<()> {
    if threshold > shares {
        bail!("--threshold {threshold} is more than --shares {shares}");
    }
    // The server shows the shares once: everything that could stop them being written
    // is checked before it is asked.
    let files = output_dir
        .map(|dir| prepare_share_dir(dir, shares))
        .transpose()?;
    let vault: InitializedVault = match client
        .call(Method::POST, route, Some(&InitVault { shares, threshold }))
        .await
    {
        Ok(vault) => vault,
        Err(e) => {
            // No share was made: a directory made for them goes again (if still empty).
            if let (Some(dir), Some((_, true))) = (output_dir, &files) {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(e);
        }
    };
    let files = files.map(|(files, _)| files);
    let Some(files) = files else {
        if json {
            return print_json(&vault);
        }
        println!(
            "Vault {} is initialised and unsealed. Any {} of these {} unseal shares unseal it:\n",
            vault.vault_id,
            vault.threshold,
            vault.shares.len()
        );
        print_shares(&vault);
        println!();
        print_share_warning(&vault);
        return Ok(());
    };
    let written = if files.len() == vault.shares.len() {
        files
            .iter()
            .zip(&vault.shares)
            .try_for_each(|(path, share)| write_share(path, share))
    } else {
        Err(anyhow!(
            "asked for {} shares, the server made {}",
            files.len(),
            vault.shares.len()
        ))
    };
    if let Err(e) = written {
        // The shares are not lost with the files: show them, as they will not come again.
        println!(
            "Vault {} is initialised, but its shares could not all be written. Here they are:\n",
            vault.vault_id
        );
        print_shares(&vault);
        println!();
        print_share_warning(&vault);
        return Err(e.context("the shares are printed above instead; copy them now"));
    }
    if json {
        return print_json(&serde_json::json!({
            "vault_id": vault.vault_id,
            "threshold": vault.threshold,
            "files": files,
        }));
    }
    println!(
        "Vault {} is initialised and unsealed. Any {} of its {} unseal shares unseal it; they are in:\n",
        vault.vault_id,
        vault.threshold,
        vault.shares.len()
    );
    for path in &files {
        println!("  {}", path.display());
    }
    println!();
    print_share_warning(&vault);
    println!("Delete each file once its key holder has the share.");
    Ok(())
}

fn print_shares(vault: &InitializedVault) {
    for (i, share) in vault.shares.iter().enumerate() {
        println!("  share {}: {}", i + 1, share.expose());
    }
}

fn print_share_warning(vault: &InitializedVault) {
    println!(
        "WARNING: Warden keeps none of these shares, and they are shown only this once. Give each \
         to a different key holder, who keeps it offline. If fewer than {} of them remain, the \
         vault's secrets are lost for good. After every restart (or `warden operator seal`), {} \
         key holders each run `warden operator unseal`.",
        vault.threshold, vault.threshold
    );
}

/// Makes `dir` (mode 0700) or checks the one there, and the paths of the share files in
/// it, refusing when any of them exists already; also whether `dir` was made here. The
/// names are made here, never taken from the server.
fn prepare_share_dir(dir: &Path, count: u8) -> Result<(Vec<PathBuf>, bool)> {
    let created = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if meta.permissions().mode() & 0o077 != 0 {
                    eprintln!(
                        "warning: {} is open to other users; the share files themselves are \
                         readable by you only",
                        dir.display()
                    );
                }
            }
            false
        }
        Ok(_) => bail!("{} exists and is not a directory", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            true
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let files: Vec<PathBuf> = (1..=count)
        .map(|i| dir.join(format!("share-{i}.txt")))
        .collect();
    for file in &files {
        if std::fs::symlink_metadata(file).is_ok() {
            bail!(
                "{} exists already; refusing to overwrite a share file (use an empty directory)",
                file.display()
            );
        }
    }
    Ok((files, created))
}

/// Writes one share to a new file (mode 0600); an existing file is never replaced.
fn write_share(path: &Path, share: &WireSecret) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(share.expose().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

async fn unseal(client: &Client, json: bool, share: Option<&str>, reset: bool) -> Result<()> {
    let before = status(client).await?;
    if !before.initialized {
        bail!("the vault is not initialised: run `warden operator init` first");
    }
    let body = if reset {
        Unseal {
            share: None,
            reset: true,
        }
    } else {
        if !before.sealed {
            // No share is asked for, nor sent, when none is needed.
            if json {
                return print_json(&before);
            }
            println!("The vault is already unsealed.");
            return Ok(());
        }
        let share = match share {
            Some("-") => read_line_secret("share")?,
            Some(text) => {
                eprintln!(
                    "warning: a share given as an argument stays in your shell history and \
                     shows in the process list; leave it out to be asked for it"
                );
                WireSecret::from(text.trim())
            }
            None => prompt_secret(&format!(
                "Unseal share ({} of {} given so far)",
                before.progress, before.threshold
            ))?,
        };
        Unseal {
            share: Some(share),
            reset: false,
        }
    };
    let st: VaultStatus = client
        .call(Method::POST, "/v1/operator/unseal", Some(&body))
        .await?;
    if json {
        return print_json(&st);
    }
    if reset {
        println!(
            "Forgot the shares given so far: {} of {} shares given.",
            st.progress, st.threshold
        );
    } else if st.sealed {
        println!(
            "{} of {} shares given; {} more to unseal.",
            st.progress,
            st.threshold,
            st.threshold.saturating_sub(st.progress)
        );
    } else {
        println!("The vault is unsealed.");
    }
    Ok(())
}

async fn seal(client: &Client, json: bool, yes: bool) -> Result<()> {
    let before = status(client).await?;
    if !before.initialized {
        bail!("the vault is not initialised: there is nothing to seal");
    }
    if before.sealed {
        if json {
            return print_json(&before);
        }
        println!("The vault is already sealed.");
        return Ok(());
    }
    if !yes {
        let prompt = format!(
            "Seal the vault of {}? Warden then serves health and unseal only until {} key \
             holders unseal it",
            client.base(),
            before.threshold
        );
        let go = dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(false)
            .interact()
            .context("cannot ask for confirmation (no terminal? pass --yes)")?;
        if !go {
            println!("Not sealed.");
            return Ok(());
        }
    }
    let st: VaultStatus = client
        .call::<(), _>(Method::POST, "/v1/operator/seal", None)
        .await?;
    if json {
        return print_json(&st);
    }
    println!(
        "The vault is sealed. {} key holders unseal it with `warden operator unseal`.",
        st.threshold
    );
    Ok(())
}

/// Asks for a secret without echo, once.
fn prompt_secret(prompt: &str) -> Result<WireSecret> {
    let mut text = dialoguer::Password::new()
        .with_prompt(prompt)
        .interact()
        .context("cannot ask for the share (no terminal? pass - and give it on standard input)")?;
    let secret = WireSecret::from(text.trim());
    text.zeroize();
    Ok(secret)
}
