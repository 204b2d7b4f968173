//! Who is calling an HTTP endpoint, from where: the client address (honouring
//! `X-Forwarded-For` only from configured proxies) and the user agent.
//!
//! Written here rather than taken from a crate because the rule that matters — believe the
//! header only when the peer is one of *our* proxies, then take the right-most address
//! that is not — is the whole of it and must not depend on deployment guesses.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;
use warden_app::client::ClientInfo;
use warden_app::state::AppState;

/// The client of the request being handled.
#[derive(Debug, Clone, Default)]
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_info(
            parts,
            &state.config().server.trusted_proxies,
        )))
    }
}

/// Reads the client info of a request.
pub fn client_info(parts: &Parts, trusted: &[IpNet]) -> ClientInfo {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let ip = peer.map(|peer| client_ip(peer, &parts.headers, trusted));
    let user_agent = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    ClientInfo::new(ip, user_agent)
}

/// The client address: the peer itself, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut last = peer;
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => last = ip,
            Ok(ip) => return ip,
            // An entry we cannot read: stop at the last address we could vouch for.
            Err(_) => return last,
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    #[test]
    fn header_from_an_untrusted_peer_is_ignored() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(peer, &headers("1.2.3.4"), &[]), peer);
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_ip(peer, &headers("1.2.3.4"), &trusted), peer);
    }

    #[test]
    fn right_most_untrusted_entry_wins_behind_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        // The client forged the first entry; the proxy appended the real address.
        assert_eq!(
            client_ip(peer, &headers("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer);
        assert_eq!(
            client_ip(peer, &headers("garbage, 10.0.0.5"), &trusted),
            "10.0.0.5".parse::<IpAddr>().unwrap()
        );
    }
}
