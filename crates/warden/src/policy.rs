//! `warden policy`: policy as code. `validate` compiles a directory locally, without a
//! server (with `--config`, also checking connections against a server configuration);
//! `plan`, `apply`, `history`, `show` and `restore` ask the server.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use comfy_table::Table;
use reqwest::Method;
use warden_core::policy::{CompileOptions, Policy, PolicySource, check_path, compile_with};
use warden_proto::directory::{
    PolicyApplied, PolicyChange, PolicyFile, PolicyPlan, PolicyVersionInfo, RestoreRequest,
};

use crate::cli::Global;
use crate::commands::{client, print_json, time};
use crate::directory::print_changes;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy directory locally (no server): every error with file and line
    Validate {
        /// The policy directory
        dir: PathBuf,
        /// Also check each resource's connection against this server configuration
        /// (warden.toml, with WARDEN_* overrides), as apply does
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Show what applying a policy directory would change, for whom
    Plan {
        /// The policy directory
        dir: PathBuf,
    },
    /// Apply a policy directory as a new version
    Apply {
        /// The policy directory
        dir: PathBuf,
        /// Why (kept with the version)
        #[arg(long, short)]
        comment: String,
    },
    /// List applied versions
    History,
    /// Show the files of a version [default: the one in force]
    Show {
        /// Version number
        // Not the id `version`: that is the `--version` flag's.
        #[arg(id = "number", value_name = "VERSION")]
        version: Option<i64>,
    },
    /// Apply an older version again, as a new version
    Restore {
        /// Version number
        #[arg(id = "number", value_name = "VERSION")]
        version: i64,
        /// Why
        #[arg(long, short)]
        comment: String,
    },
}

/// Reads a policy directory: every `*.toml` below it, with paths relative to it.
pub fn read_policy_dir(dir: &Path) -> Result<Vec<PolicyFile>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PolicyFile>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read policy directory {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if name.ends_with(".toml") {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                out.push(PolicyFile {
                    path: rel.join("/"),
                    text,
                });
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    if files.is_empty() {
        bail!("{} holds no .toml policy files", dir.display());
    }
    Ok(files)
}

/// [`validate_local`], then each resource's connection against the server configuration
/// at `config` (with `WARDEN_*` overrides, as `serve` reads it), as apply checks it:
/// errors fail, and resources whose grants would only be recorded are warned of.
fn validate_with_config(files: &[PolicyFile], config: &Path) -> Result<()> {
    let config = warden_app::config::Config::load(Some(config), std::env::vars())?;
    let policy = validate_local(files, warden_app::tickets::compile_options(&config.tickets))?;
    let check = warden_app::service::policy::check_connections(
        &policy,
        &config.connections,
        config.grants.record_only,
    );
    for w in &check.recorded {
        eprintln!("warning: {w}");
    }
    for e in &check.errors {
        eprintln!("{e}");
    }
    if !check.errors.is_empty() {
        bail!(
            "the policy names {} connection(s) this server cannot serve",
            check.errors.len()
        );
    }
    Ok(())
}

/// Checks policy files locally: paths and compilation (with `options`: without a server
/// configuration, what the server alone can judge is left to it), every error printed
/// with its file and line. Returns the compiled policy.
fn validate_local(files: &[PolicyFile], options: CompileOptions) -> Result<Policy> {
    let mut problems: Vec<String> = files
        .iter()
        .filter_map(|f| {
            check_path(&f.path)
                .err()
                .map(|e| format!("{}: {e}", f.path))
        })
        .collect();
    let sources: Vec<PolicySource> = files
        .iter()
        .map(|f| PolicySource {
            path: f.path.clone(),
            text: f.text.clone(),
        })
        .collect();
    match compile_with(&sources, options) {
        Ok(policy) if problems.is_empty() => return Ok(policy),
        Ok(_) => {}
        Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
    }
    for p in &problems {
        eprintln!("{p}");
    }
    bail!("the policy has {} error(s)", problems.len())
}

fn print_plan(plan: &PolicyPlan) {
    let live = plan
        .live_version
        .map_or_else(|| "no policy yet".to_owned(), |v| format!("version {v}"));
    println!(
        "Against {live}{}:",
        if plan.unchanged {
            " (identical files)"
        } else {
            ""
        }
    );
    if !plan.resources_added.is_empty() {
        println!("  resources added:   {}", plan.resources_added.join(", "));
    }
    if !plan.resources_removed.is_empty() {
        println!("  resources removed: {}", plan.resources_removed.join(", "));
    }
    for w in &plan.warnings {
        println!("  warning: {w}");
    }
    print_changes(&plan.changes);
}

/// `warden policy …`.
pub async fn run(g: &Global, cmd: PolicyCommand) -> Result<()> {
    match cmd {
        PolicyCommand::Validate { dir, config } => validate(&dir, config.as_deref()),
        PolicyCommand::Plan { dir } => plan(g, &dir).await,
        PolicyCommand::Apply { dir, comment } => apply(g, &dir, comment).await,
        PolicyCommand::History => history(g).await,
        PolicyCommand::Show { version } => show(g, version).await,
        PolicyCommand::Restore { version, comment } => restore(g, version, comment).await,
    }
}

/// `warden policy validate`: no server involved.
fn validate(dir: &Path, config: Option<&Path>) -> Result<()> {
    let files = read_policy_dir(dir)?;
    match config {
        Some(config) => validate_with_config(&files, config)?,
        None => {
            validate_local(&files, CompileOptions::default())?;
        }
    }
    println!("{}: {} file(s), valid.", dir.display(), files.len());
    Ok(())
}

/// `warden policy plan`.
async fn plan(g: &Global, dir: &Path) -> Result<()> {
    let files = read_policy_dir(dir)?;
    validate_local(&files, CompileOptions::default())?;
    let plan: PolicyPlan = client(g)?
        .call(
            Method::POST,
            "/v1/policy/plan",
            Some(&PolicyChange {
                files,
                comment: None,
            }),
        )
        .await?;
    if g.json {
        return print_json(&plan);
    }
    print_plan(&plan);
    Ok(())
}

/// `warden policy apply`.
async fn apply(g: &Global, dir: &Path, comment: String) -> Result<()> {
    let files = read_policy_dir(dir)?;
    validate_local(&files, CompileOptions::default())?;
    let change = PolicyChange {
        files,
        comment: Some(comment),
    };
    let applied: PolicyApplied = client(g)?
        .call(Method::POST, "/v1/policy/apply", Some(&change))
        .await?;
    if g.json {
        return print_json(&applied);
    }
    print_plan(&applied.plan);
    println!("\nApplied as version {}.", applied.version);
    Ok(())
}

/// `warden policy history`.
async fn history(g: &Global) -> Result<()> {
    let versions: Vec<PolicyVersionInfo> = client(g)?
        .call::<(), _>(Method::GET, "/v1/policy/versions", None)
        .await?;
    if g.json {
        return print_json(&versions);
    }
    let mut table = Table::new();
    table.set_header(["version", "applied", "by", "sha256", "comment"]);
    for v in versions {
        table.add_row([
            v.version.to_string(),
            time(v.applied_at),
            v.applied_by,
            v.digest.chars().take(12).collect(),
            v.comment,
        ]);
    }
    println!("{table}");
    Ok(())
}

/// `warden policy show`: a version's files, by default those in force.
async fn show(g: &Global, version: Option<i64>) -> Result<()> {
    let client = client(g)?;
    let info: Option<PolicyVersionInfo> = match version {
        Some(v) => Some(
            client
                .call::<(), _>(Method::GET, &format!("/v1/policy/versions/{v}"), None)
                .await?,
        ),
        None => {
            client
                .call::<(), _>(Method::GET, "/v1/policy", None)
                .await?
        }
    };
    let Some(info) = info else {
        println!("No policy has been applied.");
        return Ok(());
    };
    if g.json {
        return print_json(&info);
    }
    println!(
        "# version {} by {} at {}: {}",
        info.version,
        info.applied_by,
        time(info.applied_at),
        info.comment
    );
    for f in info.files.unwrap_or_default() {
        println!("\n# ---- {} ----\n{}", f.path, f.text);
    }
    Ok(())
}

/// `warden policy restore`.
async fn restore(g: &Global, version: i64, comment: String) -> Result<()> {
    let req = RestoreRequest { comment };
    let applied: PolicyApplied = client(g)?
        .call(
            Method::POST,
            &format!("/v1/policy/versions/{version}/restore"),
            Some(&req),
        )
        .await?;
    if g.json {
        return print_json(&applied);
    }
    print_plan(&applied.plan);
    println!(
        "\nVersion {version} restored as version {}.",
        applied.version
    );
    Ok(())
}
