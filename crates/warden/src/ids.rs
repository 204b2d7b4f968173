//! Ids as people type them: a whole UUID, or a prefix of one (as the tables show it),
//! resolved against the list of things of that kind the caller can see. A prefix that
//! matches nothing, or more than one, is an error that says so and lists the candidates.

use anyhow::{Result, anyhow, bail};
use reqwest::Method;
use uuid::Uuid;
use warden_proto::auth::TokenInfo;
use warden_proto::grants::{BreakGlassInfo, GrantInfo};
use warden_proto::requests::RequestInfo;

use crate::client::{Client, ServerProblem};
use crate::show;

/// The fewest hex digits of a prefix accepted.
pub const MIN_INPUT: usize = 4;

/// An id as typed: whole, or a prefix of its hex digits (hyphens ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdArg {
    /// The hex digits typed, lower case.
    prefix: String,
    /// The id, when it was given whole.
    whole: Option<Uuid>,
}

impl std::fmt::Display for IdArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.whole {
            Some(id) => write!(f, "{id}"),
            None => f.write_str(&self.prefix),
        }
    }
}

/// Parses an id argument: a UUID, or at least [`MIN_INPUT`] of its leading hex digits.
pub fn parse(text: &str) -> Result<IdArg, String> {
    if let Ok(id) = Uuid::parse_str(text) {
        return Ok(IdArg {
            prefix: id.simple().to_string(),
            whole: Some(id),
        });
    }
    let prefix: String = text.chars().filter(|c| *c != '-').collect();
    if prefix.len() < MIN_INPUT
        || prefix.len() > 32
        || !prefix.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err(format!(
            "{text:?} is not an id: give the id, or at least {MIN_INPUT} of its first hex digits as the tables show them"
        ));
    }
    Ok(IdArg {
        prefix: prefix.to_ascii_lowercase(),
        whole: None,
    })
}

/// What an id names, and where the caller's list of them is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A grant: the caller's own, and everyone's for those who may see them.
    Grant,
    /// A request: the caller's own, and those waiting for the caller's decision.
    Request,
    /// A break-glass use (its request id).
    BreakGlass,
    /// One of the caller's API tokens.
    Token,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Request => "request",
            Self::BreakGlass => "break-glass use",
            Self::Token => "token",
        }
    }
}

/// One thing an id may name: its id and a few words to tell it from the others.
struct Candidate {
    id: Uuid,
    about: String,
}

/// The id `arg` names among the things of `kind` the caller can see.
pub async fn resolve(client: &Client, kind: Kind, arg: &IdArg) -> Result<Uuid> {
    if let Some(id) = arg.whole {
        return Ok(id);
    }
    let mut found: Vec<Candidate> = candidates(client, kind)
        .await?
        .into_iter()
        .filter(|c| c.id.simple().to_string().starts_with(&arg.prefix))
        .collect();
    found.sort_by_key(|c| c.id);
    found.dedup_by_key(|c| c.id);
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => bail!(
            "no {} you can see has an id starting with {}; `warden {}` lists them",
            kind.noun(),
            arg.prefix,
            match kind {
                Kind::Grant => "grants",
                Kind::Request => "requests",
                Kind::BreakGlass => "breakglass --list",
                Kind::Token => "token list",
            }
        ),
        many => {
            let ids: Vec<Uuid> = many.iter().map(|c| c.id).collect();
            let shorts = show::short_ids(&ids);
            let list: Vec<String> = many
                .iter()
                .map(|c| format!("  {}  {}", show::short(&shorts, c.id), c.about))
                .collect();
            Err(anyhow!(
                "{} {}s have an id starting with {}; give more of it:\n{}",
                many.len(),
                kind.noun(),
                arg.prefix,
                list.join("\n")
            ))
        }
    }
}

/// Whether an error is the server refusing the caller (a list they may not see), which
/// leaves that list out rather than failing.
fn refused(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ServerProblem>()
        .is_some_and(|p| matches!(p.0.status, 401 | 403 | 404))
}

/// Every thing of `kind` the caller can see. A list the caller may not read counts as
/// empty; any other failure is an error.
async fn candidates(client: &Client, kind: Kind) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    match kind {
        Kind::Grant => {
            for path in ["/v1/grants", "/v1/grants?all=true"] {
                match client
                    .call::<(), Vec<GrantInfo>>(Method::GET, path, None)
                    .await
                {
                    Ok(list) => out.extend(list.into_iter().map(|g| Candidate {
                        id: g.id,
                        about: format!(
                            "{} on {} for {}, {}",
                            g.role,
                            g.resource,
                            show::person(&g.identity, g.identity_name.as_deref()),
                            show::grant_state(&g)
                        ),
                    })),
                    Err(e) if refused(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Kind::Request => {
            for path in ["/v1/requests", "/v1/requests?pending_approval=true"] {
                match client
                    .call::<(), Vec<RequestInfo>>(Method::GET, path, None)
                    .await
                {
                    Ok(list) => out.extend(list.into_iter().map(|r| Candidate {
                        id: r.id,
                        about: format!(
                            "{} on {} for {}, {}",
                            r.role,
                            r.resource,
                            show::person(&r.beneficiary, r.beneficiary_name.as_deref()),
                            r.state
                        ),
                    })),
                    Err(e) if refused(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Kind::BreakGlass => {
            let list: Vec<BreakGlassInfo> = client
                .call::<(), _>(Method::GET, "/v1/breakglass", None)
                .await?;
            out.extend(list.into_iter().map(|b| Candidate {
                id: b.id,
                about: format!(
                    "{} on {} by {}, review {}",
                    b.role,
                    b.resource,
                    show::person(&b.holder, b.holder_name.as_deref()),
                    b.review
                ),
            }));
        }
        Kind::Token => {
            let list: Vec<TokenInfo> = client
                .call::<(), _>(Method::GET, "/v1/tokens", None)
                .await?;
            out.extend(list.into_iter().map(|t| Candidate {
                id: t.id,
                about: format!("{} ({})", t.name, t.kind),
            }));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_whole_or_prefixes() {
        let id = "0193a4f2-7c3e-7000-8000-000000000001";
        assert_eq!(parse(id).unwrap().whole.unwrap().to_string(), id);
        let p = parse("0193A4F2-7c").unwrap();
        assert_eq!(p.whole, None);
        assert_eq!(p.to_string(), "0193a4f27c");
        assert!(parse("019").unwrap_err().contains("at least 4"));
        assert!(parse("../tokens").is_err());
        assert!(parse("0193a4f2x").is_err());
    }
}
