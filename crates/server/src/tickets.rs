//! Ticket checks against an issue tracker: policy names a URL with `{ticket}` in it; the
//! ticket counts as open when that URL answers 2xx within a few seconds. Anything else
//! (a 404, a timeout, a tracker that is down) refuses the request: a ticket that cannot
//! be confirmed is treated as missing, never as valid.

use std::time::Duration;

/// Longest the tracker may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Asks `url_template` (with `{ticket}` replaced by the percent-encoded ticket) whether
/// `ticket` is open.
pub async fn confirm_open(url_template: &str, ticket: &str) -> Result<(), String> {
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
    // The process-wide TLS provider (ring); several callers may race to install it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot check the ticket: {e}"))?;
    let answer = client.get(&url).send().await.map_err(|e| {
        format!(
            "the ticket system could not confirm {ticket:?}: {}",
            without_url(&e)
        )
    })?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the ticket system does not confirm {ticket:?} is open (it answered {})",
            answer.status()
        ))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if e.is_connect() {
        "it could not be reached".to_owned()
    } else {
        "the request failed".to_owned()
    }
}
