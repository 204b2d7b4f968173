//! What is wrong with a configuration, located: the file with line and column (and the
//! offending key of a table), or the environment variable.

use std::path::PathBuf;

/// What is wrong with the configuration. Each message names the file, the key or the
/// environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a bad value.
    #[error("invalid configuration file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// An environment override is wrong.
    #[error("invalid environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {key}: {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A value inside a list of tables is missing, out of range or inconsistent; the key
    /// carries the index (`notifications.channel[2].url`).
    #[error("invalid configuration: {key}: {message}")]
    InvalidAt {
        /// The key, with the index of its table.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The parser's message for an error in the file, at the place it concerns. toml reports
/// an unknown key of a table read through a tagged enum (`[connections.NAME]`,
/// `[audit.sinks.NAME]`) at the table's header; such a key is pointed at on its own line,
/// and its table named.
pub(super) fn file_error(text: &str, e: &toml::de::Error) -> String {
    match unknown_key(text, e) {
        Some((span, table)) if Some(&span) != e.span().as_ref() => at_span(
            text,
            span,
            &format!("{}\nin `{}`", e.message(), table.join(".")),
        ),
        _ => e.to_string(),
    }
}

/// Where the key an "unknown field" error names is written, inside the table the error
/// points at, and that table's path.
fn unknown_key(text: &str, e: &toml::de::Error) -> Option<(std::ops::Range<usize>, Vec<String>)> {
    let key = e
        .message()
        .strip_prefix("unknown field `")?
        .split('`')
        .next()?;
    let at = e.span()?;
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    key_in_table(doc.get_ref(), &doc.span(), &at, key, &mut path).map(|span| (span, path))
}

/// The span of `key` in the table (or a table below it) whose own span is `at`; `path`
/// ends as the keys that lead to that table.
fn key_in_table(
    table: &toml::de::DeTable<'_>,
    span: &std::ops::Range<usize>,
    at: &std::ops::Range<usize>,
    key: &str,
    path: &mut Vec<String>,
) -> Option<std::ops::Range<usize>> {
    if span == at
        && let Some((k, _)) = table.iter().find(|(k, _)| k.get_ref() == key)
    {
        return Some(k.span());
    }
    for (name, v) in table.iter() {
        path.push(name.get_ref().to_string());
        let found = match v.get_ref() {
            toml::de::DeValue::Table(inner) => key_in_table(inner, &v.span(), at, key, path),
            toml::de::DeValue::Array(items) => {
                items.into_iter().find_map(|item| match item.get_ref() {
                    toml::de::DeValue::Table(inner) => {
                        key_in_table(inner, &item.span(), at, key, path)
                    }
                    _ => None,
                })
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
        path.pop();
    }
    None
}

/// `message` shown as toml shows its own errors: line, column, the line itself and a
/// mark under `span`.
fn at_span(text: &str, span: std::ops::Range<usize>, message: &str) -> String {
    let before = text.get(..span.start).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    let content = text
        .get(line_start..)
        .and_then(|rest| rest.split('\n').next())
        .unwrap_or_default();
    let width = text
        .get(span.clone())
        .map_or(1, |s| s.chars().count().max(1));
    let gutter = " ".repeat(line.to_string().len() + 1);
    format!(
        "TOML parse error at line {line}, column {column}\n{gutter}|\n{line} | {content}\n{gutter}|{}{}\n{message}\n",
        " ".repeat(column),
        "^".repeat(width)
    )
}
