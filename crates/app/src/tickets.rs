//! Ticket checks against an issue tracker: policy names a URL with `{ticket}` in it; the
//! ticket counts as open when that URL answers 2xx within a few seconds. Anything else
//! (a 404, a timeout, a tracker that is down, an address the guard refuses) refuses the
//! request: a ticket that cannot be confirmed is treated as missing, never as valid.
//!
//! The call goes through the outbound-address guard ([`crate::outbound`]): the tracker
//! may be on an internal address only with `[tickets] allow_internal = true` in the
//! server's configuration — a switch of the operator's, not of policy, since policy
//! authors are whom it guards against. Every failure reads the same to the requester, so
//! a ticket check cannot be used to learn what answers where; the reason goes to the log.

use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use warden_core::policy::CompileOptions;

use crate::outbound::{self, error_chain};

/// Longest the tracker may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// `[tickets]`: how the server calls the trackers policy names in `ticket_check_url`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsConfig {
    /// Allow ticket checks on loopback, private, link-local and other internal addresses
    /// (an in-house tracker). Refused by default: at policy apply for an IP address in
    /// the URL, when connecting for a name that resolves inside.
    pub allow_internal: bool,
}

/// How policy is compiled under this configuration: a `ticket_check_url` on an internal
/// IP address is refused at apply unless internal trackers are allowed.
pub fn compile_options(config: &TicketsConfig) -> CompileOptions {
    CompileOptions {
        refuse_internal_ticket_check: !config.allow_internal,
    }
}

/// The one answer a requester gets for a ticket that was not confirmed, whatever the
/// reason.
pub fn not_confirmed(ticket: &str) -> String {
    format!(
        "the ticket system did not confirm that {ticket:?} is open; check the ticket, or ask \
         an administrator whether the ticket system can be reached"
    )
}

/// Asks `url_template` (with `{ticket}` replaced by the percent-encoded ticket) whether
/// `ticket` is open. The error is [`not_confirmed`]; why is logged.
pub async fn confirm_open(
    config: &TicketsConfig,
    url_template: &str,
    ticket: &str,
) -> Result<(), String> {
    let encoded: String = ticket
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let url = url_template.replace("{ticket}", &encoded);
    let tracker = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    match ask(config.allow_internal, &url).await {
        Ok(()) => Ok(()),
        Err(why) => {
            tracing::warn!(
                ticket = ?ticket,
                tracker = %tracker,
                error = %why,
                "the ticket check did not confirm the ticket; the request is refused"
            );
            Err(not_confirmed(ticket))
        }
    }
}

/// One GET of `url`; `Ok` on a 2xx answer, else why not (for the log: it names the host,
/// never the URL).
async fn ask(allow_internal: bool, url: &str) -> Result<(), String> {
    let client = client(allow_internal)?;
    let request = client.get(url).map_err(|e| format!("refused: {e}"))?;
    let answer = request.send().await.map_err(|e| {
        if e.is_timeout() {
            format!("no answer within {} s", TIMEOUT.as_secs())
        } else {
            error_chain(&e.without_url())
        }
    })?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("it answered {}", answer.status()))
    }
}

/// Two shared clients: one that may call internal addresses, one that may not.
fn client(allow_internal: bool) -> Result<&'static outbound::Client, String> {
    static OPEN: OnceLock<outbound::Client> = OnceLock::new();
    static GUARDED: OnceLock<outbound::Client> = OnceLock::new();
    let cell = if allow_internal { &OPEN } else { &GUARDED };
    if let Some(client) = cell.get() {
        return Ok(client);
    }
    let client = outbound::Client::new(allow_internal, TIMEOUT)
        .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))?;
    Ok(cell.get_or_init(|| client))
}
