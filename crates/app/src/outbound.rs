//! The outbound-address guard. Every call Warden makes on the strength of configuration
//! or policy — ticket checks, webhooks, Slack and Teams, SMTP, SIEM over HTTP — goes
//! through here, and reaches an internal address (loopback, private, link-local, … and
//! their IPv6 forms: `warden_core::address`) only where its configuration says
//! `allow_internal = true`.
//!
//! The check is made on the address actually connected to. An IP literal in a URL is
//! judged before the request ([`check_url`]); a host name is resolved by the client's own
//! resolver ([`GuardedResolver`]), which hands the connection only the addresses that
//! pass, so a name that resolves inside — or answers differently between a check and the
//! connection (DNS rebinding) — cannot reach inside. SMTP connects to an address that
//! [`resolve`] looked up and vetted, never to the name. Clients follow no redirects and
//! use no proxy from the environment: a proxy would resolve, and connect, itself.
//!
//! Errors say which host was refused and why, for operators' logs; callers that answer
//! people who did not configure the call (the ticket check) keep that detail in the log.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Method, RequestBuilder, Url};
use warden_core::address::{Internal, internal};

/// Why a call was refused before any connection was made.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The URL does not parse.
    #[error("not a valid URL ({0})")]
    Url(#[from] url::ParseError),
    /// Not `http://` or `https://`.
    #[error("scheme {0}:// is not http(s)")]
    Scheme(String),
    /// The URL names no host.
    #[error("the URL has no host")]
    NoHost,
    /// The host is an IP address in an internal range.
    #[error("host {host} is {why}; set allow_internal = true to allow it")]
    Internal {
        /// The host as written (brackets included for IPv6).
        host: String,
        /// The range.
        why: Internal,
    },
    /// Every address the name resolves to is internal.
    #[error(
        "{host} resolves only to internal addresses ({}); set allow_internal = true to allow it",
        .addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    ResolvesInside {
        /// The name.
        host: String,
        /// What it resolved to.
        addresses: Vec<IpAddr>,
    },
    /// The name does not resolve.
    #[error("{host} cannot be resolved: {source}")]
    Resolve {
        /// The name.
        host: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Whether `ip` may be called: always with `allow_internal`, else only outside every
/// internal range.
fn vetted(host: &str, ip: IpAddr, allow_internal: bool) -> Result<(), Refused> {
    match internal(ip) {
        Some(why) if !allow_internal => Err(Refused::Internal {
            host: host.to_owned(),
            why,
        }),
        _ => Ok(()),
    }
}

/// Parses an `http(s)` URL and refuses an IP-literal host in an internal range unless
/// `allow_internal`. A host name passes here; [`GuardedResolver`] judges what it
/// resolves to when connecting. The error never repeats the URL (whose path or query
/// may be a secret), only its host.
pub fn check_url(url: &str, allow_internal: bool) -> Result<Url, Refused> {
    let parsed = Url::parse(url)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Refused::Scheme(parsed.scheme().to_owned()));
    }
    let ip = match parsed.host() {
        None => return Err(Refused::NoHost),
        Some(url::Host::Domain(_)) => None,
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    if let Some(ip) = ip {
        vetted(parsed.host_str().unwrap_or_default(), ip, allow_internal)?;
    }
    Ok(parsed)
}

/// Whether a configured host name is `localhost` or under `.localhost` (RFC 6761:
/// always loopback). Configuration checks refuse it early, with a clear message; at
/// connection time it is refused like any name resolving inside.
pub fn is_localhost(host: &str) -> bool {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// [`check_url`] for a URL in the configuration: also refuses the name `localhost`
/// unless `allow_internal`, so an obvious mistake stops the server at start.
pub fn check_configured_url(url: &str, allow_internal: bool) -> Result<Url, Refused> {
    let parsed = check_url(url, allow_internal)?;
    if !allow_internal && let Some(url::Host::Domain(name)) = parsed.host() {
        check_configured_host(name)?;
    }
    Ok(parsed)
}

/// Checks a host in the configuration (an SMTP server) that may not be internal: an IP
/// literal (IPv6 with or without brackets) in an internal range, or `localhost`, is
/// refused; other names are judged on what they resolve to when connecting.
pub fn check_configured_host(host: &str) -> Result<(), Refused> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return vetted(host, ip, false);
    }
    if is_localhost(bare) {
        return Err(Refused::ResolvesInside {
            host: host.to_owned(),
            addresses: vec![IpAddr::from([127, 0, 0, 1])],
        });
    }
    Ok(())
}

/// The addresses to connect to for `host` (a name or an IP literal, IPv6 with or without
/// brackets) and `port`: all of them with `allow_internal`, else those outside every
/// internal range, in the resolver's order. Refused when none is left.
pub async fn resolve(
    host: &str,
    port: u16,
    allow_internal: bool,
) -> Result<Vec<SocketAddr>, Refused> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        vetted(host, ip, allow_internal)?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|source| Refused::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    if allow_internal {
        return Ok(found);
    }
    let (public, inside): (Vec<SocketAddr>, Vec<SocketAddr>) =
        found.into_iter().partition(|a| internal(a.ip()).is_none());
    if public.is_empty() {
        return Err(Refused::ResolvesInside {
            host: host.to_owned(),
            addresses: inside.iter().map(SocketAddr::ip).collect(),
        });
    }
    Ok(public)
}

/// The HTTP client's resolver when internal addresses are not allowed: resolves the name
/// and passes on only the addresses outside every internal range, so the connection can
/// go nowhere else.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Addrs = Box::new(resolve(&host, 0, false).await?.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client for calls made on the strength of configuration or policy. Requests
/// are made from a URL string and checked by [`check_url`]; names are resolved by
/// [`GuardedResolver`] unless internal addresses are allowed.
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    allow_internal: bool,
}

impl Client {
    /// A client whose requests take at most `timeout` (connecting included, which alone
    /// takes at most 5 s), following no redirects and using no proxy.
    pub fn new(allow_internal: bool, timeout: Duration) -> Result<Self, reqwest::Error> {
        // The server installs ring at start; tests and other callers may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if !allow_internal {
            builder = builder.dns_resolver(GuardedResolver);
        }
        Ok(Self {
            inner: builder.build()?,
            allow_internal,
        })
    }

    /// Whether this client may call internal addresses.
    pub fn allows_internal(&self) -> bool {
        self.allow_internal
    }

    /// A request to `url`, refused when the URL's host is an internal IP literal (names
    /// are judged when connecting).
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, Refused> {
        let url = check_url(url, self.allow_internal)?;
        Ok(self.inner.request(method, url))
    }

    /// A POST to `url`; see [`Self::request`].
    pub fn post(&self, url: &str) -> Result<RequestBuilder, Refused> {
        self.request(Method::POST, url)
    }

    /// A GET of `url`; see [`Self::request`].
    pub fn get(&self, url: &str) -> Result<RequestBuilder, Refused> {
        self.request(Method::GET, url)
    }
}

/// An error and its causes, one after the other, each said once.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_literals_are_refused_in_every_spelling_the_url_parser_accepts() {
        for url in [
            "https://127.0.0.1/x",
            "https://127.1/x",
            "https://0x7f000001/x",
            "https://2130706433/x",
            "https://0/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://198.18.0.1/x",
            "https://100.64.0.1/x",
            "https://[::1]/x",
            "https://[::7f00:1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[64:ff9b::a9fe:a9fe]/x",
            "https://[2002:7f00:1::]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
        ] {
            let refused = check_url(url, false).unwrap_err();
            assert!(
                matches!(refused, Refused::Internal { .. }),
                "{url}: {refused}"
            );
            assert!(refused.to_string().contains("allow_internal"), "{refused}");
            assert!(!refused.to_string().contains("/x"), "no path: {refused}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        assert!(check_url("https://8.8.8.8/x", false).is_ok());
        assert!(matches!(
            check_url("ftp://hooks.example.com/x", true),
            Err(Refused::Scheme(_))
        ));
        assert!(matches!(check_url("not a url", true), Err(Refused::Url(_))));
    }

    #[test]
    fn localhost_is_refused_in_the_configuration_but_left_to_the_resolver_at_run_time() {
        for url in [
            "https://localhost/x",
            "https://LocalHost./x",
            "https://a.localhost/x",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
            assert!(check_configured_url(url, false).is_err(), "{url}");
            assert!(check_configured_url(url, true).is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_when_connecting() {
        let name: Name = "localhost".parse().unwrap();
        let refused = GuardedResolver.resolve(name).await.err().unwrap();
        assert!(
            refused
                .to_string()
                .contains("resolves only to internal addresses"),
            "{refused}"
        );
        let refused = resolve("localhost", 25, false).await.unwrap_err();
        assert!(
            matches!(refused, Refused::ResolvesInside { .. }),
            "{refused}"
        );
        assert!(!resolve("localhost", 25, true).await.unwrap().is_empty());
        let refused = resolve("::1", 25, false).await.unwrap_err();
        assert!(matches!(refused, Refused::Internal { .. }), "{refused}");
        assert_eq!(
            resolve("[::1]", 25, true).await.unwrap(),
            vec!["[::1]:25".parse().unwrap()]
        );
    }
}
