//! `warden ssh`: a short-lived certificate for the caller's key, signed under a running
//! grant, and the system `ssh` run with it.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use reqwest::Method;
use warden_core::connector::check_principal;
use warden_proto::targets::{SignSshKey, SshCertificate};

use crate::cli::Global;
use crate::client::Client;
use crate::commands::{client, print_json};

#[derive(Debug, Args)]
pub struct SshArgs {
    /// The ssh resource
    pub resource: String,
    /// The role, when you hold more than one on the resource
    #[arg(long)]
    pub role: Option<String>,
    /// Your private key; its public half (`KEY.pub`) is what gets signed
    #[arg(long, short = 'i')]
    pub key: Option<std::path::PathBuf>,
    /// The account to log in as on the host (default: the certificate's first principal)
    #[arg(long, short = 'l')]
    pub login: Option<String>,
    /// Only sign: write the certificate next to the key and print how to use it
    #[arg(long)]
    pub sign_only: bool,
    /// The host keys to trust, for use without a person to confirm one: ssh is run with
    /// `-o UserKnownHostsFile=FILE -o StrictHostKeyChecking=yes`, so an unknown or changed
    /// host key fails the login
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<std::path::PathBuf>,
    /// An option passed on to ssh as `-o OPTION`, such as `-o ConnectTimeout=5`
    /// (repeatable). Options Warden sets itself (the certificate, the key, and those of
    /// --known-hosts) come first and win, as ssh takes the first value given
    #[arg(short = 'o', value_name = "OPTION")]
    pub options: Vec<String>,
    /// A remote command, after `--`: passed on to ssh after the destination
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// `warden ssh`.
pub async fn run(g: &Global, a: SshArgs) -> Result<()> {
    let client = client(g)?;
    ssh(&client, g.json, &a).await
}

/// Signs the key, then runs `ssh` with the certificate (or, with `--sign-only`, prints
/// how to).
async fn ssh(client: &Client, json: bool, a: &SshArgs) -> Result<()> {
    let options = ssh_options(a)?;
    let key = private_key(a.key.as_deref())?;
    let public = std::fs::read_to_string(public_half(&key))
        .with_context(|| format!("reading {}", public_half(&key).display()))?;
    let cert: SshCertificate = client
        .call(
            Method::POST,
            "/v1/ssh/certificates",
            Some(&SignSshKey {
                resource: a.resource.clone(),
                role: a.role.clone(),
                public_key: public.trim().to_owned(),
            }),
        )
        .await?;
    let cert_file = certificate_path(&key);
    std::fs::write(&cert_file, format!("{}\n", cert.certificate))
        .with_context(|| format!("writing {}", cert_file.display()))?;
    if json {
        return print_json(&cert);
    }
    // The account on the host: by default the first principal; hosts whose
    // AuthorizedPrincipalsFile maps principals to other accounts take `--login`.
    let login = match &a.login {
        Some(l) => l.clone(),
        None => cert
            .principals
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("the certificate carries no principal"))?,
    };
    check_principal(&login).map_err(|e| anyhow!(e))?;
    let host = host(&cert.host)?;
    eprintln!(
        "certificate {} for {} valid until {}",
        cert_file.display(),
        cert.principals.join(", "),
        crate::show::moment(cert.valid_before, crate::show::now())
    );
    if a.sign_only {
        let options: Vec<String> = options
            .iter()
            .map(|o| format!("-o {}", shell_quote(o)))
            .collect();
        println!(
            "ssh -i {} -o {} {}-p {} {login}@{host}",
            shell_quote(&ssh_path(&key)?),
            shell_quote(&format!("CertificateFile=\"{}\"", ssh_path(&cert_file)?)),
            options.iter().map(|o| format!("{o} ")).collect::<String>(),
            cert.port
        );
        return Ok(());
    }
    let mut ssh = tokio::process::Command::new("ssh");
    ssh.arg("-i")
        .arg(ssh_path(&key)?)
        .arg("-o")
        .arg(format!("CertificateFile=\"{}\"", ssh_path(&cert_file)?))
        .arg("-o")
        .arg("IdentitiesOnly=yes");
    for option in &options {
        ssh.arg("-o").arg(option);
    }
    let status = ssh
        .arg("-p")
        .arg(cert.port.to_string())
        .arg("-l")
        .arg(&login)
        .arg("--")
        .arg(host)
        .args(&a.args)
        .status()
        .await
        .context("running ssh")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => std::process::exit(code),
        None => bail!("ssh was stopped by a signal"),
    }
}

/// The `-o` options ssh gets after Warden's own: those of `--known-hosts` first, so an
/// option given with `-o` cannot weaken them (ssh keeps the first value of an option),
/// then each `-o` as given.
fn ssh_options(a: &SshArgs) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(file) = &a.known_hosts {
        if !file.is_file() {
            bail!(
                "--known-hosts {}: no such file (it holds the host keys to trust, as \
                 ssh-keyscan prints them)",
                file.display()
            );
        }
        let file = std::path::absolute(file)
            .with_context(|| format!("--known-hosts {}", file.display()))?;
        out.push(format!("UserKnownHostsFile=\"{}\"", ssh_path(&file)?));
        out.push("StrictHostKeyChecking=yes".to_owned());
    }
    for option in &a.options {
        let ok =
            !option.trim().is_empty() && !option.starts_with('-') && !option.contains(['\n', '\r']);
        if !ok {
            bail!("-o {option:?} is not an ssh option (such as -o ConnectTimeout=5)");
        }
        out.push(option.clone());
    }
    Ok(out)
}

/// The private key to use: the one given, else the first of `~/.ssh/id_ed25519`,
/// `id_ecdsa`, `id_rsa` that exists with its `.pub`.
fn private_key(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(k) = given {
        return Ok(k.to_owned());
    }
    let home =
        dirs::home_dir().ok_or_else(|| anyhow!("no home directory: name a key with --key"))?;
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .find(|p| p.exists() && public_half(p).exists())
        .ok_or_else(|| anyhow!("no key in ~/.ssh (id_ed25519, id_ecdsa, id_rsa): make one with ssh-keygen or name it with --key"))
}

fn public_half(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Where the certificate of `key` goes: `KEY-cert.pub`, where ssh also finds it.
fn certificate_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push("-cert.pub");
    PathBuf::from(p)
}

/// A host as the server names it, refused when it could be read as an option.
fn host(h: &str) -> Result<&str> {
    let ok = !h.is_empty()
        && !h.starts_with('-')
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if ok {
        Ok(h)
    } else {
        bail!("the server named a host {h:?} that is not a host name")
    }
}

/// A path as ssh reads it in `-i` and `-o CertificateFile=`: `%` starts a token there,
/// so it is doubled; a double quote or a newline cannot be passed and is refused.
fn ssh_path(p: &Path) -> Result<String> {
    let text = p
        .to_str()
        .ok_or_else(|| anyhow!("{} is not valid UTF-8", p.display()))?;
    if text.contains(['"', '\n', '\r']) {
        bail!("ssh cannot be given the path {text:?}: rename it without quotes or newlines");
    }
    Ok(text.replace('%', "%%"))
}

/// `s` quoted for a POSIX shell, for a command line printed to be pasted.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
