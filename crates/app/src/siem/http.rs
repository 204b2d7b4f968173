//! The HTTP sink: one POST per batch, to a Splunk HTTP Event Collector (`format = "hec"`)
//! or any receiver that takes a JSON array of OCSF events (`format = "json"`). A batch
//! is delivered when the receiver answers 2xx.
//!
//! HEC body: one object per record, separated by newlines,
//! `{"time": 1700000000.123, "host": …, "source": "warden", "sourcetype": "warden:audit",
//! "event": {…OCSF…}}`, with `Authorization: Splunk TOKEN`. JSON body: `[{…}, {…}]`, with
//! `Authorization: Bearer TOKEN` when a token is configured.
//!
//! The token is read once, at open, from an environment variable or a file, and kept in a
//! [`SecretString`]: it is marked sensitive in the request and never appears in Debug
//! output, logs or errors (a response body that echoes it has it blanked out). Errors
//! name the URL without its query.
//!
//! Requests go through the outbound-address guard ([`crate::outbound`]), like the
//! notification webhooks: a receiver on a loopback, private or other internal address is
//! refused — an IP literal before the request, a name on the addresses it resolves to
//! when connecting — unless the sink says `allow_internal = true`; redirects are not
//! followed and proxies from the environment are not used.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use warden_audit::Record;

use super::ocsf;
use super::transport::{HttpConfig, HttpFormat, PRODUCT_VERSION, SinkError, machine_hostname};
use crate::outbound::{self, error_chain};

/// How much of an error response's body goes into the error.
pub const BODY_EXCERPT: usize = 200;

/// Posts batches to one URL.
#[derive(Debug)]
pub struct HttpTransport {
    /// Where batches go.
    pub url: Url,
    /// The body's shape.
    pub format: HttpFormat,
    /// `host` in HEC events.
    pub host: String,
    shown_url: String,
    token: Option<SecretString>,
    client: outbound::Client,
}

impl HttpTransport {
    /// Reads the token and builds the client; connects on the first delivery.
    pub async fn open(config: &HttpConfig) -> Result<Self, SinkError> {
        let url = outbound::check_url(&config.url, config.allow_internal)
            .map_err(|e| SinkError::Config(format!("url: {e}")))?;
        let token = read_token(config).await?;
        if let Some(token) = &token
            && HeaderValue::from_str(token.expose_secret()).is_err()
        {
            return Err(SinkError::Config(
                "the token holds characters an HTTP header cannot carry".to_owned(),
            ));
        }
        let timeout = Duration::from_secs(config.timeout_secs);
        let shown_url = shown(&url);
        let client =
            outbound::Client::new(config.allow_internal, timeout).map_err(|e| SinkError::Http {
                url: shown_url.clone(),
                message: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Self {
            url,
            format: config.format,
            host: machine_hostname(),
            shown_url,
            token,
            client,
        })
    }

    /// The request body for `records`.
    pub fn body(&self, records: &[Record<'static>]) -> String {
        match self.format {
            HttpFormat::Hec => {
                let mut body = String::new();
                for record in records {
                    let event = json!({
                        "time": record.time as f64 / 1000.0,
                        "host": self.host,
                        "source": "warden",
                        "sourcetype": "warden:audit",
                        "event": ocsf::event(record, PRODUCT_VERSION),
                    });
                    if !body.is_empty() {
                        body.push('\n');
                    }
                    let _ = write!(body, "{event}");
                }
                body
            }
            HttpFormat::Json => {
                let events: Vec<_> = records
                    .iter()
                    .map(|r| ocsf::event(r, PRODUCT_VERSION))
                    .collect();
                serde_json::Value::Array(events).to_string()
            }
        }
    }

    /// POSTs all `records` in one request; delivered on a 2xx answer.
    pub async fn deliver(&mut self, records: &[Record<'static>]) -> Result<(), SinkError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut request = self
            .client
            .post(self.url.as_str())
            .map_err(|e| SinkError::Config(format!("url: {e}")))?
            .header(CONTENT_TYPE, "application/json")
            .body(self.body(records));
        if let Some(token) = &self.token {
            let scheme = match self.format {
                HttpFormat::Hec => "Splunk",
                HttpFormat::Json => "Bearer",
            };
            let mut value = HeaderValue::from_str(&format!("{scheme} {}", token.expose_secret()))
                .map_err(|_| {
                SinkError::Config(
                    "the token holds characters an HTTP header cannot carry".to_owned(),
                )
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let mut response = request.send().await.map_err(|e| SinkError::Http {
            url: self.shown_url.clone(),
            message: error_chain(&e.without_url()),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let mut excerpt = Vec::with_capacity(BODY_EXCERPT);
        while excerpt.len() < BODY_EXCERPT {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        excerpt.truncate(BODY_EXCERPT);
        Err(SinkError::Status {
            url: self.shown_url.clone(),
            status: status.as_u16(),
            body: self.clean(&excerpt),
        })
    }

    /// An excerpt of a response body on one line, with the token blanked out should the
    /// receiver echo it.
    fn clean(&self, excerpt: &[u8]) -> String {
        let mut text: String = String::from_utf8_lossy(excerpt)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if let Some(token) = &self.token {
            let token = token.expose_secret();
            if !token.is_empty() {
                text = text.replace(token, "[redacted]");
            }
            // A token cut by the 200-byte limit: blank a tail that starts it.
            for cut in (4..token.len()).rev() {
                if let Some(head) = token.get(..cut)
                    && text.ends_with(head)
                {
                    text.truncate(text.len() - cut);
                    text.push_str("[redacted]");
                    break;
                }
            }
        }
        text
    }
}

/// The token from `token_env` or `token_file`, if either is set.
async fn read_token(config: &HttpConfig) -> Result<Option<SecretString>, SinkError> {
    let token = if let Some(var) = &config.token_env {
        match std::env::var(var) {
            Ok(value) => value,
            Err(std::env::VarError::NotPresent) => {
                return Err(SinkError::Config(format!(
                    "token_env: the environment variable {var} is not set"
                )));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(SinkError::Config(format!(
                    "token_env: the environment variable {var} is not UTF-8"
                )));
            }
        }
    } else if let Some(path) = &config.token_file {
        let file_error =
            |what: String| SinkError::Config(format!("token_file {}: {what}", path.display()));
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| file_error(format!("cannot read it: {e}")))?;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the SIEM token file may be read by others than its owner; chmod 600 it"
            );
        }
        tokio::fs::read_to_string(path)
            .await
            .map_err(|e| file_error(format!("cannot read it: {e}")))?
    } else {
        return Ok(None);
    };
    let trimmed = token.trim();
    if trimmed.is_empty() {
        let source = match (&config.token_env, &config.token_file) {
            (Some(var), _) => format!("token_env: the environment variable {var}"),
            (None, Some(path)) => format!("token_file {}", path.display()),
            (None, None) => "the token".to_owned(),
        };
        return Err(SinkError::Config(format!("{source} is empty")));
    }
    Ok(Some(SecretString::from(trimmed.to_owned())))
}

/// The URL as errors show it: no credentials, query or fragment (where tokens hide).
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_query_or_credentials() {
        let url =
            Url::parse("https://u:p@siem.example:8088/services/collector?token=abc#x").unwrap();
        assert_eq!(shown(&url), "https://siem.example:8088/services/collector");
    }
}
