//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Warden: privileged access management with just-in-time access.
#[derive(Debug, Parser)]
#[command(name = "warden", version, about, propagate_version = true)]
pub struct Cli {
    /// Server URL for client commands [default: from `warden login`, else http://127.0.0.1:8700]
    #[arg(long, env = "WARDEN_ADDR", global = true)]
    pub addr: Option<String>,

    /// Bearer token for client commands [default: the one stored by `warden login`]
    #[arg(long, env = "WARDEN_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,

    /// Extra CA certificate (PEM) to trust, for a server with a private certificate
    #[arg(long, env = "WARDEN_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,

    /// Print JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Warden server
    Serve(ServeArgs),
    /// Log in with a password and store the session token (0600) in your config directory
    Login(LoginArgs),
    /// Revoke the stored session token and forget it
    Logout,
    /// Show who the current token belongs to and what it may do
    Whoami,
    /// Change your password
    Passwd,
    /// Manage your API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage local users
    #[command(subcommand)]
    User(UserCommand),
    /// Sync identities from HR
    #[command(subcommand)]
    Hr(HrCommand),
    /// Show identities and their access
    #[command(subcommand)]
    Identities(IdentitiesCommand),
    /// Explain access decisions
    #[command(subcommand)]
    Access(AccessCommand),
    /// Policy as code: validate, plan, apply, history, restore
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Request just-in-time access to a role on a resource
    Request(RequestArgs),
    /// List your requests (or, with --pending-approval, those waiting for you); `show ID` for one
    Requests(RequestsArgs),
    /// Approve a pending request
    Approve {
        /// Request id (or the start of it, as `warden requests` shows it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
        /// Why (required)
        #[arg(long, short)]
        comment: String,
    },
    /// Deny a pending request
    Deny {
        /// Request id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
        /// Why (required)
        #[arg(long, short)]
        comment: String,
    },
    /// Cancel one of your requests before it is provisioned
    Cancel {
        /// Request id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
    },
    /// List your grants (with --all, everyone's); `show ID` for one
    Grants(GrantsArgs),
    /// End a grant now, before its time
    Revoke {
        /// Grant id (or the start of it, as `warden grants` shows it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
        /// Why
        #[arg(long)]
        reason: String,
        /// Wait (up to 60 s) until the target confirms the access is gone, and fail if it
        /// does not
        #[arg(long)]
        wait: bool,
    },
    /// Ask for more time on a running grant (a new request, scored on what it adds)
    Extend {
        /// Grant id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
        /// How much longer, such as 1h
        #[arg(long = "for")]
        duration: String,
        /// Why
        #[arg(long)]
        reason: String,
        /// A ticket, where policy wants one
        #[arg(long)]
        ticket: Option<String>,
        /// Wait until the extension is active (or refused)
        #[arg(long)]
        wait: bool,
    },
    /// Take break-glass access at once, without approval (security is told; justify within 24 h)
    Breakglass(BreakglassArgs),
    /// Justify a break-glass use of yours
    Justify {
        /// Break-glass id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
        /// What happened and what you did
        #[arg(long)]
        text: String,
    },
    /// Review a break-glass use (its holder's manager, or security)
    #[command(subcommand)]
    Review(ReviewCommand),
    /// Security incidents
    Incidents,
    /// Sponsor a vendor: a temporary identity and account, enabled only while a grant runs
    #[command(subcommand)]
    Vendor(VendorCommand),
    /// Get a fresh password for a running database grant of yours (shown once; the
    /// previous one stops working)
    Credential {
        /// Grant id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
    },
    /// Log in to an ssh resource you hold a running grant on: your key is signed into a
    /// short-lived certificate and the system `ssh` runs with it
    Ssh(SshArgs),
    /// List the accounts on a resource's target and what makes each privileged
    Discover {
        /// Resource name
        resource: String,
    },
    /// Compare targets with Warden's grants now: remove leftovers, restore lost access,
    /// report (or remove) privileged access Warden did not grant
    Reconcile {
        /// Only this resource (default: every resource with a configured connection)
        resource: Option<String>,
    },
    /// The tamper-evident audit log: search, export, verify offline
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Privileged access found on targets that Warden did not grant
    Findings {
        /// Only this resource's
        #[arg(long)]
        resource: Option<String>,
        /// Include resolved and removed findings
        #[arg(long)]
        all: bool,
    },
    /// The credential vault's seal and keys: status, init, unseal, seal, rotate
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Vaulted accounts: passwords Warden holds, hands out under a grant, and rotates
    #[command(subcommand)]
    Accounts(AccountsCommand),
}

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

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List vaulted accounts (never a secret)
    List,
    /// Show one vaulted account: settings, rotation state, open check-outs (never a secret)
    Show {
        /// Account name
        name: String,
    },
    /// Put an account in the vault; its current password is asked for without echo (it
    /// must log in now) and is never taken as an argument
    Add(AccountAddArgs),
    /// Check out an account's password under a running grant of yours; it is rotated
    /// when you check it in or when the grant ends
    Checkout {
        /// Account name
        name: String,
        /// Your running grant that allows it (or the start of its id); without one, the
        /// account's policy groups must include you
        #[arg(long, value_parser = crate::ids::parse)]
        grant: Option<crate::ids::IdArg>,
        /// Hold it alone until you check it in
        #[arg(long)]
        exclusive: bool,
    },
    /// Give a checked-out password back; the account's password is rotated at once
    Checkin {
        /// Account name
        name: String,
        /// The check-out [default: your open one on this account]
        #[arg(long)]
        checkout: Option<uuid::Uuid>,
    },
    /// Rotate an account's password now (after any open check-out ends)
    Rotate {
        /// Account name
        name: String,
        /// Wait (up to 60 s) until the rotation is done, and fail if it fails
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Args)]
pub struct AccountAddArgs {
    /// Account name (1 to 64 of a-z 0-9 - _ .)
    pub name: String,
    /// The configured connection of the target (`[connections.NAME]`)
    #[arg(long)]
    pub connection: String,
    /// The account on the target (MariaDB: `user@host`)
    #[arg(long)]
    pub username: String,
    /// The resource whose grants allow a check-out
    #[arg(long)]
    pub resource: Option<String>,
    /// A role on that resource whose grants allow a check-out (repeatable) [default: any]
    #[arg(long = "role", value_name = "ROLE", requires = "resource")]
    pub roles: Vec<String>,
    /// A policy group whose active members may check it out without a grant (repeatable)
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// How long a check-out without a grant lasts before it is checked in and rotated
    /// (e.g. 30m; at most 24h) [default: 1h]
    #[arg(long, value_name = "DURATION")]
    pub checkout_max: Option<String>,
    /// One check-out at a time
    #[arg(long)]
    pub exclusive: bool,
    /// Rotation interval, such as 30d or 12h (1h to 366d) [default: the server's
    /// `[vault] rotate_every`]
    #[arg(long, value_parser = parse_rotation_interval)]
    pub rotate_every: Option<String>,
    /// Length of generated passwords (16 to 128) [default: 24]
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..=128))]
    pub length: Option<u32>,
    /// Generated passwords use letters and digits only, without `- _ . ~`
    #[arg(long)]
    pub no_symbols: bool,
    /// Rotate at once, so the password given stops working
    #[arg(long)]
    pub rotate_now: bool,
    /// Read the current password from standard input (one line) instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
}

/// A rotation interval as the server takes it: checked here so a typo is caught before
/// the password is asked for, and passed on as written.
fn parse_rotation_interval(s: &str) -> Result<String, String> {
    let d =
        warden_core::policy::parse_duration_within(s, warden_server::config::MAX_ROTATION_INTERVAL)
            .map_err(|e| e.to_string())?;
    if d < time::Duration::hours(1) {
        return Err("must be at least 1h".to_owned());
    }
    Ok(s.to_owned())
}

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

#[derive(Debug, clap::Args)]
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

#[derive(Debug, Args)]
pub struct GrantsArgs {
    /// Everyone's grants (admin or audit:read)
    #[arg(long)]
    pub all: bool,
    /// Only live grants
    #[arg(long)]
    pub live: bool,
    #[command(subcommand)]
    pub command: Option<GrantsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// Show one grant
    Show {
        /// Grant id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
    },
}

#[derive(Debug, Args)]
pub struct BreakglassArgs {
    /// Resource name (omit with `list`)
    pub resource: Option<String>,
    /// Role on the resource
    #[arg(long)]
    pub role: Option<String>,
    /// What is on fire
    #[arg(long)]
    pub reason: Option<String>,
    /// How long (at most the break-glass maximum, 2h by default)
    #[arg(long = "for")]
    pub duration: Option<String>,
    /// The incident ticket, if there is one yet
    #[arg(long)]
    pub ticket: Option<String>,
    /// List break-glass uses and their reviews instead
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Judge a break-glass use
    Breakglass {
        /// Break-glass id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
        /// The use was justified
        #[arg(
            long,
            conflicts_with = "unjustified",
            required_unless_present = "unjustified"
        )]
        justified: bool,
        /// The use was not justified (opens an incident)
        #[arg(long)]
        unjustified: bool,
        /// Why
        #[arg(long, short)]
        comment: String,
    },
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Resource name
    pub resource: String,
    /// Role on the resource
    #[arg(long)]
    pub role: String,
    /// How long, such as 2h or 30m
    #[arg(long = "for")]
    pub duration: String,
    /// Why you need it (at least 10 characters)
    #[arg(long)]
    pub reason: String,
    /// A change or incident ticket
    #[arg(long)]
    pub ticket: Option<String>,
    /// A vendor you sponsor, to request for them
    #[arg(long)]
    pub on_behalf_of: Option<String>,
    /// Wait until the access is active (or the request is refused, denied or times out)
    #[arg(long)]
    pub wait: bool,
    /// The earliest the access may start (RFC 3339, such as 2026-11-23T09:00:00Z)
    #[arg(long, value_parser = parse_rfc3339)]
    pub start: Option<time::OffsetDateTime>,
}

fn parse_rfc3339(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time such as 2026-11-23T09:00:00Z: {e}"))
}

#[derive(Debug, Args)]
pub struct RequestsArgs {
    /// Only pending requests you may decide on
    #[arg(long)]
    pub pending_approval: bool,
    #[command(subcommand)]
    pub command: Option<RequestsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Show one request with its risk factors, route and decisions
    Show {
        /// Request id (or the start of it)
        #[arg(value_parser = crate::ids::parse)]
        id: crate::ids::IdArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum HrCommand {
    /// Sync the whole HR population from a CSV (header row) or JSON (array) file
    Sync {
        /// The file (`.json` is read as JSON, anything else as CSV)
        file: PathBuf,
        /// Show the joiners, movers and leavers without changing anything
        #[arg(long)]
        dry_run: bool,
        /// Allow more than a fifth of the file-synced identities to leave at once
        #[arg(long)]
        allow_mass_leave: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdentitiesCommand {
    /// List identities
    List,
    /// Show an identity with its groups, birthright and what it may request
    Show {
        /// User name or employee id
        identity: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Whether IDENTITY may request ROLE on RESOURCE, by which rule, and how it would be approved
    Explain {
        /// User name or employee id
        identity: String,
        /// Resource name
        resource: String,
        /// Role name
        role: String,
        /// Asked duration, such as 2h or 30m
        #[arg(long = "for")]
        duration: Option<String>,
        /// A ticket the request would carry
        #[arg(long)]
        ticket: Option<String>,
        /// Seconds since the last multi-factor authentication
        #[arg(long)]
        mfa_age: Option<i64>,
    },
    /// Whether IDENTITY holds ROLE on RESOURCE right now, by which grant, until when
    Check {
        /// User name or employee id
        identity: String,
        /// Resource name
        resource: String,
        /// Role name
        role: String,
    },
}

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
        version: Option<i64>,
    },
    /// Apply an older version again, as a new version
    Restore {
        /// Version number
        version: i64,
        /// Why
        #[arg(long, short)]
        comment: String,
    },
}

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

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User name
    pub username: String,
    /// Read the password from standard input instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
}

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
