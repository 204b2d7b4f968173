//! The HTTP client of the command line: JSON in, JSON or problem details out.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use warden_proto::problem::Problem;

/// The default server URL.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8700";

/// A client of one server, with or without a token.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<warden_proto::WireSecret>,
}

/// An error answer of the server, kept whole so the exit code can follow it.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.0))]
pub struct ServerProblem(pub Problem);

fn describe(p: &Problem) -> String {
    let mut text = format!("{} ({})", p.detail.as_deref().unwrap_or(&p.title), p.status);
    let said_in_detail = |e: &warden_proto::problem::FieldError| {
        p.detail.as_deref() == Some(format!("{}: {}", e.field, e.message).as_str())
    };
    for e in p.errors.iter().filter(|e| !said_in_detail(e)) {
        text.push_str(&format!("\n  {}: {}", e.field, e.message));
    }
    if let Some(id) = &p.request_id {
        text.push_str(&format!("\n  request id: {id}"));
    }
    text
}

impl Client {
    /// A client of `base`, trusting the system roots plus `ca_cert` if given.
    pub fn new(base: &str, token: Option<String>, ca_cert: Option<&Path>) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("warden-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60));
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read CA certificate {}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(anyhow!(
                "server address {base:?} must start with http:// or https://"
            ));
        }
        Ok(Self {
            http: builder.build().context("cannot build the HTTP client")?,
            base,
            token: token.map(|t| warden_proto::WireSecret::from(t.as_str())),
        })
    }

    /// The server URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request and decodes the JSON answer.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let response = self.send(method, path, body).await?;
        response
            .json::<T>()
            .await
            .context("the server's answer is not what this client expects")
    }

    /// Sends a text body (an HR file) and decodes the JSON answer.
    pub async fn call_text<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: String,
    ) -> Result<T> {
        let request = self
            .request(method, path)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body);
        let response = self.finish(request, path).await?;
        response
            .json::<T>()
            .await
            .context("the server's answer is not what this client expects")
    }

    /// Sends a request with query parameters (encoded here) and decodes the JSON answer.
    pub async fn call_query<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T> {
        let request = self.request(method, path).query(query);
        let response = self.finish(request, path).await?;
        response
            .json::<T>()
            .await
            .context("the server's answer is not what this client expects")
    }

    /// GETs `path` and hands the body to `sink` chunk by chunk as it arrives (an export
    /// may be large and slow, so it gets an hour rather than the usual minute).
    pub async fn download(
        &self,
        path: &str,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<()> {
        let request = self
            .request(Method::GET, path)
            .timeout(std::time::Duration::from_secs(3600));
        let mut response = self.finish(request, path).await?;
        while let Some(chunk) = response.chunk().await.context("the download was cut off")? {
            sink(&chunk).context("cannot write the download")?;
        }
        Ok(())
    }

    /// Sends a request whose answer has no body.
    pub async fn call_empty<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<()> {
        self.send(method, path, body).await.map(|_| ())
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.finish(request, path).await
    }

    async fn finish(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach Warden at {}", self.base))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<Problem>(&text) {
            Ok(problem) => Err(ServerProblem(problem).into()),
            Err(_) if status == StatusCode::NOT_FOUND => {
                Err(anyhow!("{url} was not found: is this a Warden server?"))
            }
            Err(_) => Err(anyhow!("the server answered {status}")),
        }
    }
}
