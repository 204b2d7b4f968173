//! Who is calling, from where: the client address and user agent as every front door
//! reports them (the HTTP API from the peer and trusted proxies' headers, the SSH gateway
//! from the connection and the client's version string).

use std::net::IpAddr;

/// The longest user agent kept.
const MAX_USER_AGENT: usize = 200;

/// The caller's address and user agent.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client address, if known.
    pub ip: Option<IpAddr>,
    /// The user agent, cut to a bounded length.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The client at `ip` that called itself `user_agent`: control characters are dropped
    /// and the agent is cut to a bounded length, since it goes into audit events and logs.
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(MAX_USER_AGENT)
                .collect()
        });
        Self { ip, user_agent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_is_cleaned_and_bounded() {
        let long = format!("curl/8\u{7}\n{}", "x".repeat(500));
        let info = ClientInfo::new(None, Some(&long));
        let ua = info.user_agent.unwrap_or_default();
        assert!(ua.starts_with("curl/8x"));
        assert_eq!(ua.chars().count(), MAX_USER_AGENT);
    }
}
