//! Reading one live source: the allow-list parameter and the upstream-headers secret through
//! the extension, the allow-list file from disk. Each read is compared with the source's last
//! good value and parsed with the same parsers start-up uses, and gives `Same`, `Changed` or
//! a `Failed` that carries its own log line. It must never put a secret value into a log
//! line or a failure key (a bad secret is described by line and header name only).

use std::path::PathBuf;
use std::time::SystemTime;

use super::{FailureReason, Source};
use crate::allowlist::{self, AllowList, Entry};
use crate::extension::{Extension, ReadError, Secret};
use crate::headers::{UpstreamHeaderError, UpstreamHeaders};

#[derive(Debug, Clone)]
pub(super) struct ListValue {
    pub(super) version: String,
    pub(super) text: String,
    pub(super) entries: Vec<Entry>,
    pub(super) list: AllowList,
    /// Files only: what the last read saw, so an unchanged file is not read again.
    pub(super) stamp: Option<(Option<SystemTime>, u64)>,
}

#[derive(Debug, Clone)]
pub(super) struct HeadersValue {
    pub(super) version: String,
    pub(super) headers: UpstreamHeaders,
}

/// What one source's read gave.
pub(super) enum Read<V> {
    Same,
    Changed(V),
    Failed(FailureReason, Failure),
}

/// A failure as it is logged; never holds a secret value.
pub(super) struct Failure {
    /// Same key = same streak = logged once.
    pub(super) key: String,
    pub(super) log: Box<dyn FnOnce(&str) + Send>,
}

pub(super) async fn read_parameter(
    extension: &Extension,
    source: &Source<ListValue>,
) -> Read<ListValue> {
    let parameter = match extension.parameter(&source.name).await {
        Ok(parameter) => parameter,
        Err(error) => return read_failed("parameter", error),
    };
    if let Some(good) = &source.good
        && good.version == parameter.version
        && good.text == parameter.value
    {
        return Read::Same;
    }
    let version = parameter.version;
    match parse_list(&parameter.value) {
        Ok((entries, list)) => Read::Changed(ListValue {
            version,
            text: parameter.value,
            entries,
            list,
            stamp: None,
        }),
        Err(e) => bad_list("parameter", version, e),
    }
}

pub(super) fn read_file(source: &Source<ListValue>) -> Read<ListValue> {
    let path = PathBuf::from(&source.name);
    let now = stamp(&path);
    if let Some(good) = &source.good
        && now.is_some()
        && good.stamp == now
    {
        return Read::Same;
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            let why = e.kind().to_string();
            return Read::Failed(
                FailureReason::Unreachable,
                Failure {
                    key: why.clone(),
                    log: Box::new(move |name| {
                        tracing::warn!(
                            source = "file",
                            name,
                            error = why.as_str(),
                            "config source unreadable; the last good value stays in force"
                        );
                    }),
                },
            );
        }
    };
    if source.good.as_ref().is_some_and(|g| g.text == text) {
        return Read::Same;
    }
    match parse_list(&text) {
        Ok((entries, list)) => Read::Changed(ListValue {
            version: list.fingerprint(),
            text,
            entries,
            list,
            stamp: now,
        }),
        Err(e) => bad_list("file", describe_stamp(now), e),
    }
}

fn parse_list(text: &str) -> Result<(Vec<Entry>, AllowList), allowlist::EntryError> {
    let entries = allowlist::entries(text)?;
    let list = AllowList::parse(text)?;
    Ok((entries, list))
}

fn bad_list<V>(kind: &'static str, version: String, e: allowlist::EntryError) -> Read<V> {
    Read::Failed(
        FailureReason::Invalid,
        Failure {
            key: format!("{version} {}", e.line),
            log: Box::new(move |name| {
                tracing::error!(
                    source = kind,
                    name,
                    version = version.as_str(),
                    line = e.line as u64,
                    entry = e.entry.as_str(),
                    problem = e.why,
                    "config value does not parse; the last good value stays in force"
                );
            }),
        },
    )
}

pub(super) async fn read_secret(
    extension: &Extension,
    source: &Source<HeadersValue>,
    base: &UpstreamHeaders,
) -> Read<HeadersValue> {
    let secret = match extension.secret(&source.name).await {
        Ok(secret) => secret,
        Err(error) => return read_failed("secret", error),
    };
    let Secret { version, text } = secret;
    let Some(text) = text else {
        return bad_secret(
            version,
            None,
            None,
            "a binary secret (SecretBinary) cannot hold headers".to_owned(),
        );
    };
    let headers = match parse_secret(&text.0, base) {
        Ok(headers) => headers,
        Err(problem) => return bad_secret(version, problem.line, problem.header, problem.why),
    };
    // Same version and same headers (compared as values, never printed): nothing changed.
    if let Some(good) = &source.good
        && good.version == version
        && same_headers(&good.headers, &headers)
    {
        return Read::Same;
    }
    Read::Changed(HeadersValue { version, headers })
}

fn same_headers(a: &UpstreamHeaders, b: &UpstreamHeaders) -> bool {
    a.len() == b.len()
        && a.names().zip(b.names()).all(|(x, y)| x == y)
        && a.secret_values()
            .zip(b.secret_values())
            .all(|(x, y)| x == y)
}

/// A secret value that does not parse: where, never what.
struct SecretProblem {
    line: Option<usize>,
    header: Option<String>,
    why: String,
}

/// `Name: value` lines, or a JSON object of name → value (the console's key/value editor).
/// A header `PROXY_UPSTREAM_HEADERS` also sets counts as a value that does not parse: which
/// of the two would win is not something to leave to order.
fn parse_secret(text: &str, base: &UpstreamHeaders) -> Result<UpstreamHeaders, SecretProblem> {
    let trimmed = text.trim_start();
    let headers = if trimmed.starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|_| SecretProblem {
                line: None,
                header: None,
                // serde's message would quote the value: a fixed phrase instead.
                why: "not a JSON object of header name to string value".to_owned(),
            })?;
        let mut lines = String::new();
        let mut names = Vec::new();
        for (name, value) in &object {
            let problem = |why: &str| SecretProblem {
                line: None,
                header: Some(name.clone()),
                why: why.to_owned(),
            };
            let serde_json::Value::String(value) = value else {
                return Err(problem("value is not a string (value not shown)"));
            };
            if name.contains([':', '\r', '\n']) || name.trim().is_empty() {
                return Err(problem("invalid header name"));
            }
            if value.contains(['\r', '\n']) {
                return Err(problem("value has a line break (value not shown)"));
            }
            lines.push_str(name);
            lines.push_str(": ");
            lines.push_str(value);
            lines.push('\n');
            names.push(name.clone());
        }
        UpstreamHeaders::parse(&lines).map_err(|e| {
            let line = header_error_line(&e);
            SecretProblem {
                line: None,
                header: names.get(line.saturating_sub(1)).cloned(),
                why: e.to_string(),
            }
        })?
    } else {
        UpstreamHeaders::parse(text).map_err(|e| SecretProblem {
            line: Some(header_error_line(&e)),
            header: None,
            why: e.to_string(),
        })?
    };
    if let Some(name) = headers.names().find(|n| base.names().any(|b| b == *n)) {
        return Err(SecretProblem {
            line: None,
            header: Some(name.as_str().to_owned()),
            why: "header is also set by PROXY_UPSTREAM_HEADERS".to_owned(),
        });
    }
    Ok(headers)
}

fn header_error_line(e: &UpstreamHeaderError) -> usize {
    match e {
        UpstreamHeaderError::NoColon(line) => *line,
        UpstreamHeaderError::BadName { line, .. }
        | UpstreamHeaderError::BadValue { line, .. }
        | UpstreamHeaderError::Reserved { line, .. } => *line,
    }
}

fn bad_secret<V>(
    version: String,
    line: Option<usize>,
    header: Option<String>,
    why: String,
) -> Read<V> {
    Read::Failed(
        FailureReason::Invalid,
        Failure {
            key: version.clone(),
            log: Box::new(move |name| {
                tracing::error!(
                    source = "secret",
                    name,
                    version = version.as_str(),
                    line = line.map(|l| l as u64),
                    header = header.as_deref(),
                    problem = why.as_str(),
                    "config value does not parse (value not shown); the last good value stays in force"
                );
            }),
        },
    )
}

fn read_failed<V>(kind: &'static str, error: ReadError) -> Read<V> {
    let (reason, key) = match &error {
        ReadError::Unreachable(_) => (FailureReason::Unreachable, String::new()),
        ReadError::Rejected(status) => (FailureReason::Rejected, status.to_string()),
        ReadError::Malformed(_) => (FailureReason::Invalid, "malformed".to_owned()),
    };
    Read::Failed(
        reason,
        Failure {
            key,
            log: Box::new(move |name| match error {
                ReadError::Unreachable(why) => tracing::warn!(
                    source = kind,
                    name,
                    error = why,
                    "config source unreachable through the Parameters and Secrets extension; the last good value (if any) stays in force"
                ),
                ReadError::Rejected(status) => tracing::error!(
                    source = kind,
                    name,
                    status = u64::from(status),
                    "the Parameters and Secrets extension refused the read (missing, access denied or throttled); the last good value (if any) stays in force"
                ),
                ReadError::Malformed(shape) => tracing::error!(
                    source = kind,
                    name,
                    expected = shape,
                    "the extension's answer is not the documented shape; the last good value (if any) stays in force"
                ),
            }),
        },
    )
}

pub(super) fn stamp(path: &std::path::Path) -> Option<(Option<SystemTime>, u64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

/// A file has no version: the bad one is named by its modification time.
fn describe_stamp(stamp: Option<(Option<SystemTime>, u64)>) -> String {
    match stamp {
        Some((Some(time), _)) => time.duration_since(SystemTime::UNIX_EPOCH).map_or_else(
            |_| "unknown".to_owned(),
            |d| format!("modified at {}s", d.as_secs()),
        ),
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_formats_and_refusals() {
        let base = UpstreamHeaders::parse("X-Env: 1").unwrap();
        let h = parse_secret("Authorization: Bearer s3cret\nX-Other: v\n", &base)
            .ok()
            .unwrap();
        assert_eq!(h.len(), 2);
        let h = parse_secret(
            r#"{"Authorization": "Bearer s3cret", "X-Other": "v"}"#,
            &base,
        )
        .ok()
        .unwrap();
        assert_eq!(h.len(), 2);
        for (text, line, header) in [
            ("X-Ok: 1\nno colon s3cret", Some(2), None),
            ("X-Env: s3cret", None, Some("x-env")),
            (r#"{"X-Key": 7}"#, None, Some("X-Key")),
            (r#"{"X-Key": "s3cret\nInjected: 1"}"#, None, Some("X-Key")),
            (r#"{"Host": "s3cret"}"#, None, Some("Host")),
            (r#"{"X-Key": "s3cret""#, None, None),
        ] {
            let Err(p) = parse_secret(text, &base) else {
                panic!("{text} parsed")
            };
            assert_eq!(
                (p.line, p.header.as_deref()),
                (line, header),
                "{text}: {}",
                p.why
            );
            assert!(!p.why.contains("s3cret"), "{}", p.why);
        }
    }
}
