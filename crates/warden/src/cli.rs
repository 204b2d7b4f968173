//! The command line: the options every command takes, and the list of commands.
//!
//! Each command's own arguments are a type in the module that runs it (`RevokeArgs` in
//! `grants`, `OperatorCommand` in `operator`), and `commands::run` hands each variant
//! below to that module's handler for it, once. A handler takes only its own type, so a
//! command cannot reach another command's handler: that would not compile.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{
    accounts, audit, breakglass, directory, grants, operator, policy, requests, serve, session,
    ssh, targets, tokens, users, vendors,
};

/// Warden: privileged access management with just-in-time access.
#[derive(Debug, Parser)]
#[command(name = "warden", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

// The options of every client command: which server, as whom, and how to print.
#[derive(Debug, Args)]
pub struct Global {
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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Warden server
    Serve(serve::ServeArgs),
    /// Log in with a password and store the session token (0600) in your config directory
    Login(session::LoginArgs),
    /// Revoke the stored session token and forget it
    Logout,
    /// Show who the current token belongs to and what it may do
    Whoami,
    /// Change your password
    Passwd,
    /// Manage your API tokens
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Manage local users
    #[command(subcommand)]
    User(users::UserCommand),
    /// Sync identities from HR
    #[command(subcommand)]
    Hr(directory::HrCommand),
    /// Show identities and their access
    #[command(subcommand)]
    Identities(directory::IdentitiesCommand),
    /// Explain access decisions
    #[command(subcommand)]
    Access(directory::AccessCommand),
    /// Policy as code: validate, plan, apply, history, restore
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Request just-in-time access to a role on a resource
    Request(requests::RequestArgs),
    /// List your requests (or, with --pending-approval, those waiting for you); `show ID` for one
    Requests(requests::RequestsArgs),
    /// Approve a pending request
    Approve(requests::ApproveArgs),
    /// Deny a pending request
    Deny(requests::DenyArgs),
    /// Cancel one of your requests before it is provisioned
    Cancel(requests::CancelArgs),
    /// List your grants (with --all, everyone's); `show ID` for one
    Grants(grants::GrantsArgs),
    /// End a grant now, before its time
    Revoke(grants::RevokeArgs),
    /// Ask for more time on a running grant (a new request, scored on what it adds)
    Extend(grants::ExtendArgs),
    /// Take break-glass access at once, without approval (security is told; justify within 24 h)
    Breakglass(breakglass::BreakglassArgs),
    /// Justify a break-glass use of yours
    Justify(breakglass::JustifyArgs),
    /// Review a break-glass use (its holder's manager, or security)
    #[command(subcommand)]
    Review(breakglass::ReviewCommand),
    /// Security incidents
    Incidents,
    /// Sponsor a vendor: a temporary identity and account, enabled only while a grant runs
    #[command(subcommand)]
    Vendor(vendors::VendorCommand),
    /// Get a fresh password for a running database grant of yours (shown once; the
    /// previous one stops working)
    Credential(targets::CredentialArgs),
    /// Log in to an ssh resource you hold a running grant on: your key is signed into a
    /// short-lived certificate and the system `ssh` runs with it
    Ssh(ssh::SshArgs),
    /// List the accounts on a resource's target and what makes each privileged
    Discover(targets::DiscoverArgs),
    /// Compare targets with Warden's grants now: remove leftovers, restore lost access,
    /// report (or remove) privileged access Warden did not grant
    Reconcile(targets::ReconcileArgs),
    /// The tamper-evident audit log: search, export, verify offline
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Privileged access found on targets that Warden did not grant
    Findings(targets::FindingsArgs),
    /// The credential vault's seal and keys: status, init, unseal, seal, rotate
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Vaulted accounts: passwords Warden holds, hands out under a grant, and rotates
    #[command(subcommand)]
    Accounts(accounts::AccountsCommand),
}
