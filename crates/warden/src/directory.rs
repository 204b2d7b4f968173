//! Client commands for HR sync, identities, access explanations and policy as code.

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use comfy_table::Table;
use reqwest::Method;
use warden_core::policy::{CompileOptions, Policy, PolicySource, check_path, compile_with};
use warden_proto::directory::{
    Explanation, IdentityDetail, IdentityInfo, PersonChange, PolicyApplied, PolicyChange,
    PolicyFile, PolicyPlan, PolicyVersionInfo, RestoreRequest, SyncReport,
};

use crate::cli::{AccessCommand, Cli, HrCommand, IdentitiesCommand, PolicyCommand};
use crate::commands::{client, print_json, time};

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

fn print_changes(changes: &[PersonChange]) {
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
pub async fn hr(cli: &Cli, cmd: &HrCommand) -> Result<()> {
    let HrCommand::Sync {
        file,
        dry_run,
        allow_mass_leave,
    } = cmd;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
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
    let report: SyncReport = client(cli)?.call_text(Method::POST, &path, text).await?;
    if cli.json {
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
pub async fn identities(cli: &Cli, cmd: &IdentitiesCommand) -> Result<()> {
    let client = client(cli)?;
    match cmd {
        IdentitiesCommand::List => {
            let list: Vec<IdentityInfo> = client
                .call::<(), _>(Method::GET, "/v1/identities", None)
                .await?;
            if cli.json {
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
                    warden_core::identity::EmployeeId::parse(identity).map(|e| e.to_string())
                })
                .map_err(|e| anyhow!("identity {identity:?}: {e}"))?;
            let d: IdentityDetail = client
                .call::<(), _>(Method::GET, &format!("/v1/identities/{name}"), None)
                .await?;
            if cli.json {
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
pub async fn access(cli: &Cli, cmd: &AccessCommand) -> Result<()> {
    if let AccessCommand::Check {
        identity,
        resource,
        role,
    } = cmd
    {
        let c: warden_proto::grants::AccessCheck = client(cli)?
            .call_query(
                Method::GET,
                "/v1/access/check",
                &[
                    ("identity", identity.as_str()),
                    ("resource", resource.as_str()),
                    ("role", role.as_str()),
                ],
            )
            .await?;
        if cli.json {
            return print_json(&c);
        }
        match (c.allowed, c.grant, c.ends_at) {
            (true, Some(g), Some(end)) => println!(
                "allowed: {identity} holds {role} on {resource} by grant {g} until {}{}",
                crate::show::moment(end, crate::show::now()),
                if c.breakglass { " (break-glass)" } else { "" }
            ),
            _ => println!("not allowed: {identity} holds no running grant of {role} on {resource}"),
        }
        return Ok(());
    }
    let AccessCommand::Explain {
        identity,
        resource,
        role,
        duration,
        ticket,
        mfa_age,
    } = cmd
    else {
        return Ok(());
    };
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
    let e: Explanation = client(cli)?
        .call_query(Method::GET, "/v1/access/explain", &query)
        .await?;
    if cli.json {
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

/// [`validate_local`], then each resource's connection against the server configuration
/// at `config` (with `WARDEN_*` overrides, as `serve` reads it), as apply checks it:
/// errors fail, and resources whose grants would only be recorded are warned of.
fn validate_with_config(files: &[PolicyFile], config: &Path) -> Result<()> {
    let config = warden_server::config::Config::load(Some(config), std::env::vars())?;
    let policy = validate_local(
        files,
        warden_server::tickets::compile_options(&config.tickets),
    )?;
    let check = warden_server::service::policy::check_connections(
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
pub async fn policy(cli: &Cli, cmd: &PolicyCommand) -> Result<()> {
    match cmd {
        PolicyCommand::Validate { dir, config } => {
            let files = read_policy_dir(dir)?;
            match config {
                Some(config) => validate_with_config(&files, config)?,
                None => {
                    validate_local(&files, CompileOptions::default())?;
                }
            }
            println!("{}: {} file(s), valid.", dir.display(), files.len());
        }
        PolicyCommand::Plan { dir } => {
            let files = read_policy_dir(dir)?;
            validate_local(&files, CompileOptions::default())?;
            let plan: PolicyPlan = client(cli)?
                .call(
                    Method::POST,
                    "/v1/policy/plan",
                    Some(&PolicyChange {
                        files,
                        comment: None,
                    }),
                )
                .await?;
            if cli.json {
                return print_json(&plan);
            }
            print_plan(&plan);
        }
        PolicyCommand::Apply { dir, comment } => {
            let files = read_policy_dir(dir)?;
            validate_local(&files, CompileOptions::default())?;
            let change = PolicyChange {
                files,
                comment: Some(comment.clone()),
            };
            let applied: PolicyApplied = client(cli)?
                .call(Method::POST, "/v1/policy/apply", Some(&change))
                .await?;
            if cli.json {
                return print_json(&applied);
            }
            print_plan(&applied.plan);
            println!("\nApplied as version {}.", applied.version);
        }
        PolicyCommand::History => {
            let versions: Vec<PolicyVersionInfo> = client(cli)?
                .call::<(), _>(Method::GET, "/v1/policy/versions", None)
                .await?;
            if cli.json {
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
        }
        PolicyCommand::Show { version } => {
            let client = client(cli)?;
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
            if cli.json {
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
        }
        PolicyCommand::Restore { version, comment } => {
            let req = RestoreRequest {
                comment: comment.clone(),
            };
            let applied: PolicyApplied = client(cli)?
                .call(
                    Method::POST,
                    &format!("/v1/policy/versions/{version}/restore"),
                    Some(&req),
                )
                .await?;
            if cli.json {
                return print_json(&applied);
            }
            print_plan(&applied.plan);
            println!(
                "\nVersion {version} restored as version {}.",
                applied.version
            );
        }
    }
    Ok(())
}
