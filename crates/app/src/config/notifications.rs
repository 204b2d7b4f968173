//! `[notifications]`: the channels events go to (webhooks, Slack, Teams, e-mail) and the
//! SMTP relay, with their checks.

use serde::Deserialize;

use super::ConfigError;

/// `[notifications]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// The channels; every event goes to each channel that subscribes to it.
    pub channel: Vec<ChannelConfig>,
    /// The mail server for `email` channels.
    pub smtp: Option<SmtpConfig>,
}

/// The kind of a notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// A JSON POST signed with HMAC-SHA256 (`Warden-Signature` header).
    Webhook,
    /// A Slack-compatible incoming webhook (`{"text": ...}`).
    Slack,
    /// A Microsoft Teams-compatible incoming webhook (`{"text": ...}`).
    Teams,
    /// E-mail over SMTP (`[notifications.smtp]`).
    Email,
}

/// `[[notifications.channel]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// A name for logs and the outbox.
    pub name: String,
    /// What it is.
    pub kind: ChannelKind,
    /// Where to POST (webhook, slack, teams).
    #[serde(default)]
    pub url: Option<String>,
    /// The HMAC key of a `webhook` channel.
    #[serde(default)]
    pub secret: Option<secrecy::SecretString>,
    /// Recipients of an `email` channel.
    #[serde(default)]
    pub to: Vec<String>,
    /// Event names this channel receives; all when empty.
    #[serde(default)]
    pub events: Vec<String>,
    /// Allow a URL on a loopback or private address (refused by default).
    #[serde(default)]
    pub allow_internal: bool,
    /// For an `email` channel: also mail the people an event concerns (the approvers a
    /// request waits for, the holder of a grant, the manager who reviews a break-glass
    /// use), from their HR e-mail addresses.
    #[serde(default)]
    pub people: bool,
}

/// `[notifications.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `none` (loopback and tests only), `starttls` or `tls`.
    #[serde(default = "default_smtp_tls")]
    pub tls: String,
    /// Sender address.
    pub from: String,
    /// User name, when the server wants a login.
    #[serde(default)]
    pub username: Option<String>,
    /// Password, when the server wants a login.
    #[serde(default)]
    pub password: Option<secrecy::SecretString>,
    /// Allow a server on a loopback, private or other internal address (a relay on this
    /// machine or the local network). Refused by default.
    #[serde(default)]
    pub allow_internal: bool,
}

fn default_smtp_tls() -> String {
    "starttls".to_owned()
}

impl NotificationsConfig {
    /// Checks the SMTP server, then each channel in order; the first problem found is
    /// the error.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(smtp) = &self.smtp {
            smtp.validate()?;
        }
        for (i, channel) in self.channel.iter().enumerate() {
            self.validate_channel(i, channel)?;
        }
        Ok(())
    }

    /// Checks channel `i`: a name not used by an earlier channel, known events, and what
    /// its kind needs (a URL that may be called, a webhook's secret, an e-mail channel's
    /// addresses and the SMTP server).
    fn validate_channel(&self, i: usize, channel: &ChannelConfig) -> Result<(), ConfigError> {
        let key = |field: &str| format!("notifications.channel[{i}].{field}");
        if channel.name.trim().is_empty() {
            return invalid(key("name"), "must not be empty".to_owned());
        }
        if self
            .channel
            .iter()
            .take(i)
            .any(|other| other.name == channel.name)
        {
            return invalid(
                key("name"),
                format!("{:?} is used by an earlier channel", channel.name),
            );
        }
        for event in &channel.events {
            if !crate::notify::events::ALL.contains(&event.as_str()) {
                return invalid(
                    key("events"),
                    format!(
                        "unknown event {event:?}; known: {}",
                        crate::notify::events::ALL.join(", ")
                    ),
                );
            }
        }
        match channel.kind {
            ChannelKind::Webhook | ChannelKind::Slack | ChannelKind::Teams => {
                let Some(url) = &channel.url else {
                    return invalid(key("url"), "is required for this kind".to_owned());
                };
                if let Err(message) = crate::notify::deliver::check_url(url, channel.allow_internal)
                {
                    return invalid(key("url"), message);
                }
                if channel.kind == ChannelKind::Webhook && channel.secret.is_none() {
                    return invalid(
                        key("secret"),
                        "is required for a webhook (the HMAC key of Warden-Signature)".to_owned(),
                    );
                }
            }
            ChannelKind::Email => {
                if channel.to.is_empty() && !channel.people {
                    return invalid(
                        key("to"),
                        "needs at least one address (or people = true)".to_owned(),
                    );
                }
                for (j, to) in channel.to.iter().enumerate() {
                    if let Err(e) = to.parse::<lettre::message::Mailbox>() {
                        return invalid(
                            format!("notifications.channel[{i}].to[{j}]"),
                            format!("not an e-mail address: {e}"),
                        );
                    }
                }
                if self.smtp.is_none() {
                    return invalid(
                        "notifications.smtp".to_owned(),
                        format!("is required by the email channel notifications.channel[{i}]"),
                    );
                }
            }
        }
        Ok(())
    }
}

impl SmtpConfig {
    /// Checks the SMTP server: a host that may be called, a port, a TLS mode, a sender
    /// address, credentials given together, and no password in clear off loopback.
    fn validate(&self) -> Result<(), ConfigError> {
        let smtp = self;
        let key = |field: &str| format!("notifications.smtp.{field}");
        if smtp.host.trim().is_empty() {
            return invalid(key("host"), "must not be empty".to_owned());
        }
        if smtp.port == 0 {
            return invalid(key("port"), "must be between 1 and 65535".to_owned());
        }
        if !matches!(smtp.tls.as_str(), "none" | "starttls" | "tls") {
            return invalid(
                key("tls"),
                format!("is {:?}; must be none, starttls or tls", smtp.tls),
            );
        }
        if let Err(e) = smtp.from.parse::<lettre::message::Mailbox>() {
            return invalid(key("from"), format!("not an e-mail address: {e}"));
        }
        if smtp.username.is_some() != smtp.password.is_some() {
            return invalid(
                key("password"),
                "username and password go together".to_owned(),
            );
        }
        let loopback = smtp.host == "localhost"
            || smtp
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !smtp.allow_internal
            && let Err(e) = crate::outbound::check_configured_host(&smtp.host)
        {
            return invalid(key("host"), e.to_string());
        }
        if smtp.tls == "none" && smtp.password.is_some() && !loopback {
            return invalid(
                key("tls"),
                "none would send the password in clear to a host that is not loopback; use starttls or tls".to_owned(),
            );
        }
        Ok(())
    }
}

/// The error of a value at `key` that is out of range or inconsistent.
fn invalid(key: String, message: String) -> Result<(), ConfigError> {
    Err(ConfigError::InvalidAt { key, message })
}
