//! `top-denied`: the source addresses denied most over a window, with counts, first and last
//! seen, and whether each is admitted by the live allow-list or blocked at WAF now.
//!
//! It owns the two ways to count: the Contributor Insights rule's report (cheap, already
//! aggregated) and, where the rule is absent, a Logs Insights query over the summary lines.
//! It must never change anything, and never hide which source the counts came from.

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::types::QueryStatus;
use aws_sdk_ssm::primitives::{DateTime, DateTimeFormat};
use serde_json::json;
use vpc_proxy::allowlist::Entry;

use super::{Failure, aws, edit, waf};

/// The Logs Insights query of the fallback: the same filter as the rule.
pub const QUERY: &str = "filter message = \"invocation\" and decision = \"deny\"\n\
| stats count(*) as denies, min(@timestamp) as first, max(@timestamp) as last by source_ip\n\
| sort denies desc";

/// One denied source.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub ip: String,
    pub denies: f64,
    pub first: Option<String>,
    pub last: Option<String>,
    /// The allow-list entry that admits it now (then the denies predate the change).
    pub allowed_by: Option<String>,
    /// Whether the allow-list was read at all (no parameter named: the answer is unknown).
    pub allow_known: bool,
    /// The WAF IP set entry that blocks it now.
    pub blocked_by: Option<String>,
}

/// `1h`, `30m`, `2d`, `90s` (or plain seconds).
pub fn parse_since(s: &str) -> Result<Duration, Failure> {
    let bad = || {
        Failure::usage(format!(
            "--since {s:?}: give a number and a unit, e.g. 30m, 1h, 2d"
        ))
    };
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}

/// The report's period: one minute, or longer so a window has at most 1440 datapoints.
pub fn period(since: Duration) -> i32 {
    let minutes = since.as_secs().div_ceil(60 * 1440).max(1);
    i32::try_from(minutes * 60).unwrap_or(i32::MAX)
}

fn iso(t: &DateTime) -> Option<String> {
    t.fmt(DateTimeFormat::DateTime).ok()
}

/// From the Contributor Insights rule; `None` when the rule does not exist.
pub async fn from_insights(
    cw: &aws_sdk_cloudwatch::Client,
    rule: &str,
    start: DateTime,
    end: DateTime,
    since: Duration,
    limit: i32,
) -> Result<Option<Vec<Source>>, Failure> {
    let sent = cw
        .get_insight_rule_report()
        .rule_name(rule)
        .start_time(start)
        .end_time(end)
        .period(period(since))
        .max_contributor_count(limit)
        .order_by("Sum")
        .send()
        .await;
    let report = match sent {
        Ok(r) => r,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(aws(&format!("reading Contributor Insights rule {rule}"), e)),
    };
    let mut out = Vec::new();
    for c in report.contributors() {
        let seen: Vec<&DateTime> = c
            .datapoints()
            .iter()
            .filter(|d| d.approximate_value().is_some_and(|v| v > 0.0))
            .filter_map(|d| d.timestamp())
            .collect();
        out.push(Source {
            ip: c.keys().first().cloned().unwrap_or_default(),
            denies: c.approximate_aggregate_value().unwrap_or(0.0),
            first: seen.iter().min().and_then(|t| iso(t)),
            last: seen.iter().max().and_then(|t| iso(t)),
            allowed_by: None,
            allow_known: false,
            blocked_by: None,
        });
    }
    Ok(Some(out))
}

/// From a Logs Insights query over the summary lines; polls once a second until done.
pub async fn from_logs(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    start: DateTime,
    end: DateTime,
    limit: i32,
    poll: Duration,
) -> Result<Vec<Source>, Failure> {
    let what = format!("querying log group {group} (Logs Insights)");
    let started = logs
        .start_query()
        .log_group_name(group)
        .start_time(start.secs())
        .end_time(end.secs())
        .query_string(QUERY)
        .limit(limit)
        .send()
        .await
        .map_err(|e| aws(&what, e))?;
    let id = started.query_id().unwrap_or_default().to_owned();
    // Queries over an hour of logs finish in seconds; two minutes is a stuck query.
    for _ in 0..120 {
        let r = logs
            .get_query_results()
            .query_id(&id)
            .send()
            .await
            .map_err(|e| aws(&what, e))?;
        match r.status() {
            Some(QueryStatus::Complete) => {
                return Ok(r
                    .results()
                    .iter()
                    .map(|row| {
                        let field = |name: &str| {
                            row.iter()
                                .find(|f| f.field() == Some(name))
                                .and_then(|f| f.value())
                                .map(str::to_owned)
                        };
                        Source {
                            ip: field("source_ip").unwrap_or_default(),
                            denies: field("denies").and_then(|v| v.parse().ok()).unwrap_or(0.0),
                            first: field("first"),
                            last: field("last"),
                            allowed_by: None,
                            allow_known: false,
                            blocked_by: None,
                        }
                    })
                    .collect());
            }
            Some(QueryStatus::Running | QueryStatus::Scheduled) | None => {
                tokio::time::sleep(poll).await;
            }
            Some(other) => {
                return Err(Failure {
                    code: super::exit::AWS,
                    message: format!("{what} failed: the query ended {}", other.as_str()),
                });
            }
        }
    }
    Err(Failure {
        code: super::exit::AWS,
        message: format!("{what} failed: no result after two minutes"),
    })
}

/// Fills in whether each source is admitted (when the list is known) or blocked now.
pub fn annotate(sources: &mut [Source], allow: Option<&[Entry]>, blocked: &[String]) {
    for s in sources {
        let Ok(ip) = s.ip.parse::<IpAddr>() else {
            continue;
        };
        s.allow_known = allow.is_some();
        let allow = allow.unwrap_or_default();
        s.allowed_by = edit::deciding(allow, ip).map(|e| format!("line {} ({})", e.line, e.text));
        s.blocked_by = waf::blocked_by(blocked, ip);
    }
}

/// A table a person reads at a glance.
pub fn render_text(sources: &[Source], heading: &str, out: &mut impl Write) -> Result<(), Failure> {
    writeln!(out, "{heading}").map_err(Failure::io)?;
    if sources.is_empty() {
        writeln!(out, "  no denies in this window").map_err(Failure::io)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>8}  {:<39}  {:<20}  {:<20}  {:<24}  WAF",
        "DENIES", "SOURCE", "FIRST SEEN", "LAST SEEN", "ALLOW-LIST NOW"
    )
    .map_err(Failure::io)?;
    for s in sources {
        writeln!(
            out,
            "{:>8}  {:<39}  {:<20}  {:<20}  {:<24}  {}",
            s.denies.round(),
            s.ip,
            s.first.as_deref().unwrap_or("-"),
            s.last.as_deref().unwrap_or("-"),
            match (&s.allowed_by, s.allow_known) {
                (Some(e), _) => format!("ADMITTED by {e}"),
                (None, true) => "denied".to_owned(),
                (None, false) => "unknown".to_owned(),
            },
            s.blocked_by
                .as_deref()
                .map_or("not blocked".to_owned(), |b| format!("blocked ({b})"))
        )
        .map_err(Failure::io)?;
    }
    Ok(())
}

/// One JSON document for scripts.
pub fn render_json(sources: &[Source], source: &str, since_s: u64) -> serde_json::Value {
    json!({
        "source": source,
        "since_seconds": since_s,
        "sources": sources.iter().map(|s| json!({
            "source_ip": s.ip,
            "denies": s.denies,
            "first_seen": s.first,
            "last_seen": s.last,
            "allowed": s.allow_known.then_some(s.allowed_by.is_some()),
            "allowed_by": s.allowed_by,
            "blocked": s.blocked_by.is_some(),
            "blocked_by": s.blocked_by,
        })).collect::<Vec<_>>(),
    })
}
