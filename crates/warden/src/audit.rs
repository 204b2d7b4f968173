//! `warden audit`: search the log, export it, and verify an export offline.
//!
//! `verify` needs no server and no token: it reads the bundle and, with `--key`, the
//! checkpoint key the auditor pinned earlier (`warden audit key`).

// A command-line client's job is to print its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs::File;
use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use time::OffsetDateTime;
use warden_audit::PublicKey;
use warden_audit::verify::{Options, verify_reader};
use warden_proto::audit::{AuditHead, AuditKey, AuditPage};

use crate::cli::Global;
use crate::commands::{client, print_json, time};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Search events, newest first (needs audit:read)
    Search(AuditSearchArgs),
    /// Export the log as a bundle that `verify` checks offline (needs audit:read)
    Export {
        /// Only the events after this sequence number
        #[arg(long)]
        since: Option<u64>,
        /// Write to this file instead of standard output
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Verify an exported bundle offline: no server needed
    Verify {
        /// The bundle file
        bundle: PathBuf,
        /// The checkpoint key you pinned (`ed25519:...`, or @FILE holding it)
        #[arg(long)]
        key: Option<String>,
    },
    /// Print the server's checkpoint key, to pin
    Key,
    /// Show the last event and the latest signed checkpoint (needs audit:read)
    Head,
}

#[derive(Debug, Args)]
pub struct AuditSearchArgs {
    /// The acting user
    #[arg(long)]
    pub actor: Option<String>,
    /// An action (grant.revoke) or family (grant.*)
    #[arg(long)]
    pub action: Option<String>,
    /// The resource concerned
    #[arg(long)]
    pub resource: Option<String>,
    /// The request concerned
    #[arg(long)]
    pub request: Option<uuid::Uuid>,
    /// The grant concerned
    #[arg(long)]
    pub grant: Option<uuid::Uuid>,
    /// From this time: RFC 3339, or a span ago (30m, 12h, 7d)
    #[arg(long)]
    pub since: Option<String>,
    /// Before this time: RFC 3339, or a span ago
    #[arg(long)]
    pub until: Option<String>,
    /// Events per page
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Fetch every page, not only the first
    #[arg(long)]
    pub all: bool,
}

/// Runs `warden audit ...`.
pub async fn run(g: &Global, cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Verify { bundle, key } => verify(g, &bundle, key.as_deref()),
        AuditCommand::Key => key(g).await,
        AuditCommand::Head => head(g).await,
        AuditCommand::Export { since, output } => export(g, since, output.as_deref()).await,
        AuditCommand::Search(a) => search(g, &a).await,
    }
}

/// `warden audit key`: the checkpoint key, to pin.
async fn key(g: &Global) -> Result<()> {
    let key: AuditKey = client(g)?
        .call::<(), _>(Method::GET, "/v1/audit/key", None)
        .await?;
    if g.json {
        return print_json(&key);
    }
    println!("{}", key.public_key);
    eprintln!(
        "key id {}: keep this line where the server's administrators cannot change it, \
         and verify exports with --key",
        key.key_id
    );
    Ok(())
}

/// `warden audit head`.
async fn head(g: &Global) -> Result<()> {
    let head: AuditHead = client(g)?
        .call::<(), _>(Method::GET, "/v1/audit/head", None)
        .await?;
    if g.json {
        return print_json(&head);
    }
    println!("last event:      {} ({})", head.seq, head.hash);
    match (head.checkpoint_seq, head.checkpoint_time) {
        (Some(seq), Some(at)) => println!("last checkpoint: {seq} signed {}", time(at)),
        _ => println!("last checkpoint: none yet"),
    }
    Ok(())
}

/// `warden audit export`: to a file (with a progress spinner) or to standard output.
async fn export(g: &Global, since: Option<u64>, output: Option<&Path>) -> Result<()> {
    let client = client(g)?;
    let path = format!("/v1/audit/export?since={}", since.unwrap_or(0));
    match output {
        Some(file) => {
            let mut out =
                File::create(file).with_context(|| format!("cannot create {}", file.display()))?;
            let bar = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {bytes} exported ({bytes_per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            client
                .download(&path, |chunk| {
                    bar.inc(chunk.len() as u64);
                    out.write_all(chunk)
                })
                .await?;
            out.sync_all()
                .with_context(|| format!("cannot write {}", file.display()))?;
            bar.finish_and_clear();
            eprintln!("exported to {}", file.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            client.download(&path, |chunk| out.write_all(chunk)).await?;
            out.flush()?;
        }
    }
    Ok(())
}

/// `warden audit search`: one page of events, or with `--all` every page.
async fn search(g: &Global, a: &AuditSearchArgs) -> Result<()> {
    let client = client(g)?;
    let mut query: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("actor", &a.actor),
        ("action", &a.action),
        ("resource", &a.resource),
    ] {
        if let Some(v) = value {
            query.push((name, v.clone()));
        }
    }
    if let Some(id) = a.request {
        query.push(("request", id.to_string()));
    }
    if let Some(id) = a.grant {
        query.push(("grant", id.to_string()));
    }
    let now = warden_core::Clock::now(&warden_core::SystemClock);
    if let Some(s) = &a.since {
        query.push(("since", moment(s, now)?));
    }
    if let Some(u) = &a.until {
        query.push(("until", moment(u, now)?));
    }
    query.push(("limit", a.limit.to_string()));
    let mut events = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let cursor = before.map(|b| b.to_string());
        if let Some(c) = &cursor {
            q.push(("before", c));
        }
        let page: AuditPage = client
            .call_query(Method::GET, "/v1/audit/events", &q)
            .await?;
        events.extend(page.events);
        match page.next {
            Some(next) if a.all => before = Some(next),
            Some(_) | None => break,
        }
    }
    if g.json {
        return print_json(&events);
    }
    let mut t = Table::new();
    t.set_header([
        "seq", "time", "actor", "action", "target", "outcome", "reason",
    ]);
    for e in &events {
        t.add_row([
            e.seq.to_string(),
            time(e.time),
            e.actor.user.clone().unwrap_or_else(|| "warden".to_owned()),
            e.action.clone(),
            e.target.clone().unwrap_or_default(),
            e.outcome.clone(),
            e.reason.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// Verifies a bundle offline, with a progress bar on stderr for large files.
fn verify(g: &Global, bundle: &Path, key: Option<&str>) -> Result<()> {
    let pinned = key
        .map(|k| -> Result<PublicKey> {
            let text = match k.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the key file {path}"))?,
                None => k.to_owned(),
            };
            PublicKey::parse(&text).map_err(|e| anyhow!("--key: {e}"))
        })
        .transpose()?;
    let file = File::open(bundle).with_context(|| format!("cannot open {}", bundle.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if size > 8 << 20 {
        ProgressBar::new(size).with_style(
            ProgressStyle::with_template(
                "verifying {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let options = Options { pinned_key: pinned };
    let result = verify_reader(BufReader::with_capacity(1 << 20, file), options, |read| {
        bar.set_position(read);
    });
    bar.finish_and_clear();
    let summary = match result {
        Ok(summary) => summary,
        Err(failure) => bail!("{}: verification FAILED: {failure}", bundle.display()),
    };
    if g.json {
        return print_json(&serde_json::json!({
            "verified": true,
            "first_seq": summary.first_seq,
            "last_seq": summary.last_seq,
            "events": summary.events,
            "checkpoints": summary.checkpoints,
            "key_pinned": summary.key_pinned,
        }));
    }
    println!(
        "{}: verified {} events ({}..={}) and {} checkpoints",
        bundle.display(),
        summary.events,
        summary.first_seq,
        summary.last_seq,
        summary.checkpoints
    );
    if let Some((seq, at, key_id)) = &summary.last_checkpoint {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(*at) * 1_000_000)
            .map(time)
            .unwrap_or_else(|_| at.to_string());
        println!("last checkpoint: event {seq}, signed {at} by key {key_id}");
    }
    if !summary.key_pinned {
        eprintln!(
            "warning: the signatures were checked with the key inside the bundle; anyone who \
             rewrote the bundle could have replaced it. Pass the key you pinned earlier with \
             --key (see `warden audit key`)."
        );
    }
    Ok(())
}

/// An RFC 3339 time, or a span ago such as `30m`, `12h`, `7d`, as RFC 3339.
fn moment(text: &str, now: OffsetDateTime) -> Result<String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.format(&Rfc3339)?);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| {
        anyhow!("{text:?} is neither an RFC 3339 time nor a span like 30m, 12h, 7d")
    })?;
    let span = match unit {
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => bail!("{text:?} is neither an RFC 3339 time nor a span like 30m, 12h, 7d"),
    };
    Ok((now - span).format(&Rfc3339)?)
}
