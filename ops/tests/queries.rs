//! Every Logs Insights query the kit ships (runbook, dashboard log widgets) and the Contributor
//! Insights rule, parsed and checked against the records the log group really holds.
//!
//! The template sets `LogFormat: JSON`, and Logs Insights flattens a JSON event into its leaf
//! fields (`_aws.Timestamp` exists, `_aws` does not). The records are: the proxy's own lines
//! (the summary and EMF lines as its telemetry writes them, the start-up line as it logs it,
//! the live-configuration lines' fields as `src/live/` names them) and Lambda's platform
//! records as Lambda documents them for the JSON format. A query that names anything else, or
//! compares a closed-set field with a value the proxy never writes, returns nothing in
//! production and fails here.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use vpc_proxy::outcome::{Decision, FailureKind, Outcome, Refusal, UpstreamError};
use vpc_proxy::telemetry::{Sink, Telemetry, TelemetryConfig, logging};
use vpc_proxy_ops::kit::Kind;

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Logs Insights' own fields.
const BUILT_IN: &[&str] = &[
    "@timestamp",
    "@message",
    "@logStream",
    "@log",
    "@ingestionTime",
];

/// Lambda's platform records under `LogFormat: JSON` (Lambda's "system log" schema: an
/// envelope with `time` and `type`, the event in `record`), flattened.
const PLATFORM: &[&str] = &[
    "time",
    "type",
    "record.requestId",
    "record.status",
    "record.errorType",
    "record.version",
    "record.metrics.durationMs",
    "record.metrics.billedDurationMs",
    "record.metrics.memorySizeMB",
    "record.metrics.maxMemoryUsedMB",
    "record.metrics.initDurationMs",
];

/// Fields of the live-configuration lines (`config updated`, failed reads): each must still be
/// a field `src/live/` logs.
const LIVE_FIELDS: &[&str] = &[
    "source",
    "name",
    "version",
    "line",
    "entry",
    "header",
    "problem",
    "status",
    "error",
    "old_version",
    "new_version",
    "added",
    "removed",
];

/// Leaf paths of a JSON value, as Logs Insights names them (objects and arrays by `.`).
fn leaves(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| leaves(v, &join(k), out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, &join(&i.to_string()), out)),
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// Every line the proxy writes for a spread of outcomes, and its start-up line.
fn proxy_lines() -> Vec<Value> {
    let sink = Sink::memory();
    let telemetry = Telemetry::new(
        TelemetryConfig {
            namespace: "VpcProxy".into(),
            service: "svc".into(),
            deny_per_ip_limit: Some(50),
        },
        sink.clone(),
    );
    let base = Outcome {
        request_id: "req".into(),
        apigw_request_id: Some("apigw".into()),
        xray_trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793".into()),
        source_ip: Some("203.0.113.9".into()),
        method: Some("GET".into()),
        path: Some("/x".into()),
        allowlist_version: Some("3".into()),
        duration: Duration::from_millis(3),
        ..Outcome::default()
    };
    let outcomes = [
        Outcome {
            cold_start: true,
            status: Some(200),
            upstream_status: Some(200),
            upstream_latency: Some(Duration::from_millis(5)),
            ..base.clone()
        },
        Outcome {
            refusal: Some(Refusal::IpNotAllowed),
            status: Some(403),
            ..base.clone()
        },
        Outcome {
            failure: Some(UpstreamError::ConnectTimedOut),
            status: Some(502),
            ..base.clone()
        },
    ];
    let config = vpc_proxy::config::Config::from_lookup(|name| match name {
        "PROXY_TARGET_URL" => Some("https://backend.internal:8443/api".into()),
        "PROXY_ALLOWED_IPS" => Some("203.0.113.0/24".into()),
        _ => None,
    })
    .expect("a valid configuration");
    let subscriber = logging::subscriber(logging::filter(|_| None), sink.clone());
    tracing::subscriber::with_default(subscriber, || {
        vpc_proxy::startup::report(&config, "lambda", 1);
        for o in &outcomes {
            telemetry.record(o);
        }
    });
    sink.contents()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

/// Every field a query may name.
fn known_fields() -> BTreeSet<String> {
    let mut known: BTreeSet<String> = BUILT_IN
        .iter()
        .chain(PLATFORM)
        .map(|s| (*s).to_owned())
        .collect();
    let lines = proxy_lines();
    assert!(lines.iter().any(|l| l["message"] == "invocation"));
    assert!(lines.iter().any(|l| l.get("_aws").is_some()));
    assert!(lines.iter().any(|l| l.get("target_host").is_some()));
    for line in &lines {
        leaves(line, "", &mut known);
    }
    // The live module is split by seam (src/live/*.rs); a field may be logged in any file.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/live");
    let live: String = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect();
    for field in LIVE_FIELDS {
        assert!(
            live.contains(&format!("{field} =")) || live.contains(&format!("{field},")),
            "src/live/ no longer logs `{field}`"
        );
        known.insert((*field).to_owned());
    }
    known
}

/// The values a closed-set field can hold.
fn closed_values(field: &str) -> Option<Vec<String>> {
    let owned = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect());
    match field {
        "decision" => Some(
            [
                Decision::Allow,
                Decision::Deny,
                Decision::Reject,
                Decision::Unavailable,
            ]
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect(),
        ),
        "reason" => {
            let refusals = [
                Refusal::SourceIpMissing,
                Refusal::SourceIpInvalid,
                Refusal::IpNotAllowed,
                Refusal::NotHttpEvent,
                Refusal::BadBase64,
                Refusal::BadMethod,
                Refusal::DotSegment,
                Refusal::LeavesTarget,
                Refusal::BadHeader,
                Refusal::ConfigUnavailable,
            ];
            Some(
                refusals
                    .iter()
                    .map(|r| r.reason())
                    .chain(FailureKind::ALL.iter().map(|k| k.reason()))
                    .map(str::to_owned)
                    .collect(),
            )
        }
        "error" => Some(
            UpstreamError::ALL
                .iter()
                .map(|e| e.phrase().to_owned())
                .collect(),
        ),
        "level" => owned(&["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]),
        "record.status" => owned(&["success", "error", "failure", "timeout"]),
        "source" => owned(&["parameter", "secret", "file"]),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Regex,
    Number,
    Pipe,
    Punct(char),
    Op,
}

fn tokenize(query: &str) -> Vec<Token> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == '@';
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .unwrap_or_else(|| panic!("unterminated string in {query}"));
            out.push(Token::Str(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c == '/' && matches!(out.last(), Some(Token::Ident(k)) if k == "like") {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == '/')
                .unwrap_or_else(|| panic!("unterminated regex in {query}"));
            out.push(Token::Regex);
            i += end + 2;
        } else if c == '`' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == '`')
                .unwrap_or_else(|| panic!("unterminated field in {query}"));
            out.push(Token::Ident(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c.is_ascii_digit() {
            // Numbers and durations (`1m`, `15m`, `2.5`).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Number);
        } else if ident_start(c) {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.' | '@'))
            {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == '|' {
            out.push(Token::Pipe);
            i += 1;
        } else if "()[],*".contains(c) {
            out.push(Token::Punct(c));
            i += 1;
        } else if "=!<>+-/".contains(c) {
            while i < chars.len() && "=!<>~".contains(chars[i]) {
                i += 1;
            }
            if i < chars.len() && "+-/".contains(chars[i]) && out.last() != Some(&Token::Op) {
                i += 1;
            }
            out.push(Token::Op);
        } else {
            panic!("unexpected {c:?} in {query}");
        }
    }
    out
}

const COMMANDS: &[&str] = &[
    "fields", "filter", "stats", "sort", "limit", "parse", "display", "dedup",
];
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "like", "by", "as", "asc", "desc", "true", "false",
];

/// Checks one query; returns the problems found.
fn check(query: &str, known: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let tokens = tokenize(query);
    let mut aliases: BTreeSet<String> = BTreeSet::new();
    for command in tokens.split(|t| *t == Token::Pipe) {
        let Some(Token::Ident(name)) = command.first() else {
            problems.push(format!("an empty or keyword-less command in {query}"));
            continue;
        };
        if !COMMANDS.contains(&name.as_str()) {
            problems.push(format!("unknown command `{name}`"));
            continue;
        }
        let depth = command.iter().fold(0i32, |d, t| match t {
            Token::Punct('(') | Token::Punct('[') => d + 1,
            Token::Punct(')') | Token::Punct(']') => d - 1,
            _ => d,
        });
        if depth != 0 {
            problems.push(format!("unbalanced brackets in `{name}`"));
        }
        // Names this command defines (`… as n`, `parse … as a, b`) are fields afterwards.
        let mut defined = Vec::new();
        for (i, t) in command.iter().enumerate() {
            if *t == Token::Ident("as".into()) {
                for d in &command[i + 1..] {
                    match d {
                        Token::Ident(a) if !KEYWORDS.contains(&a.as_str()) => {
                            defined.push(a.clone())
                        }
                        Token::Punct(',') if name == "parse" => {}
                        _ => break,
                    }
                    if name != "parse" {
                        break;
                    }
                }
            }
        }
        for (i, t) in command.iter().enumerate().skip(1) {
            let Token::Ident(ident) = t else { continue };
            let next = command.get(i + 1);
            let previous = &command[i - 1];
            if KEYWORDS.contains(&ident.as_str())
                || next == Some(&Token::Punct('('))
                || *previous == Token::Ident("as".into())
                || defined.contains(ident)
                || aliases.contains(ident)
            {
                continue;
            }
            if name == "parse" && defined.contains(ident) {
                continue;
            }
            if !known.contains(ident) {
                problems.push(format!(
                    "`{ident}` is no field of any record in the log group"
                ));
                continue;
            }
            // `field = "x"`, `field != "x"`, `field in ["x", …]`: x must be a value it has.
            if let Some(values) = closed_values(ident) {
                let literals: Vec<&String> = match (next, command.get(i + 2)) {
                    (Some(Token::Op), Some(Token::Str(s))) => vec![s],
                    (Some(Token::Ident(k)), Some(Token::Punct('['))) if k == "in" => command
                        [i + 3..]
                        .iter()
                        .take_while(|t| **t != Token::Punct(']'))
                        .filter_map(|t| match t {
                            Token::Str(s) => Some(s),
                            _ => None,
                        })
                        .collect(),
                    _ => vec![],
                };
                for literal in literals {
                    if !values.contains(literal) {
                        problems.push(format!("`{ident}` is never \"{literal}\""));
                    }
                }
            }
        }
        aliases.extend(defined);
    }
    problems
}

/// The Logs Insights queries of the runbook (and the README and contract): fenced blocks that open with a
/// query command.
fn fenced_queries(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        // A fence may open a list item (`2. ```).
        let fence = trimmed
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start_matches(". ")
            .trim_start_matches("- ");
        if fence.starts_with("```") {
            match block.take() {
                Some(lines) => out.push(lines.join("\n")),
                None => block = Some(Vec::new()),
            }
        } else if let Some(lines) = block.as_mut() {
            lines.push(trimmed);
        }
    }
    out.into_iter()
        .filter(|q| {
            q.split_whitespace()
                .next()
                .is_some_and(|w| COMMANDS.contains(&w))
        })
        .collect()
}

fn kit_queries() -> Vec<(String, String)> {
    let mut queries: Vec<(String, String)> = Vec::new();
    for (file, text) in [
        ("docs/RUNBOOK.md", repo("docs/RUNBOOK.md")),
        ("README.md", repo("README.md")),
        ("docs/CONTRACT.md", repo("docs/CONTRACT.md")),
    ] {
        for q in fenced_queries(&text) {
            queries.push((file.to_owned(), q));
        }
    }
    let (_, _, rendered) = common::rendered();
    for dashboard in &rendered.dashboards {
        for widget in dashboard.body["widgets"].as_array().into_iter().flatten() {
            if let Some(q) = widget["properties"]["query"].as_str() {
                let (_, query) = q.split_once('|').expect("SOURCE '…' | query");
                queries.push((
                    format!("dashboard widget {}", widget["properties"]["title"]),
                    query.to_owned(),
                ));
            }
        }
    }
    queries
}

#[test]
fn every_query_in_the_kit_names_only_fields_the_log_group_has() {
    let known = known_fields();
    let queries = kit_queries();
    assert!(
        queries.len() >= 15,
        "the runbook and dashboard queries were found ({})",
        queries.len()
    );
    let mut problems = Vec::new();
    for (place, query) in &queries {
        for p in check(query, &known) {
            problems.push(format!("{place}: {p}\n    {query}"));
        }
        // Lambda's plain-text lines do not exist under LogFormat JSON.
        for text in [
            "Task timed out",
            "REPORT RequestId",
            "Runtime exited",
            "START RequestId",
        ] {
            if query.contains(text) {
                problems.push(format!(
                    "{place}: matches the text line `{text}`, which LogFormat JSON never writes"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_refuses_what_returns_nothing_in_production() {
    let known = known_fields();
    for (query, why) in [
        ("fields @timestamp | filter ispresent(_aws)", "_aws"),
        ("fields sourceip | limit 5", "sourceip"),
        (
            "filter message = \"invocation\" and decision = \"denied\"",
            "denied",
        ),
        (
            "filter error = \"connection timeout\"",
            "connection timeout",
        ),
        ("filter record.status = \"timedout\"", "timedout"),
        ("fields upstream_latency", "upstream_latency"),
        ("fields @timestamp | flter x = 1", "flter"),
        ("stats count(*) as n by reason | sort nn desc", "nn"),
    ] {
        let problems = check(query, &known);
        assert!(
            problems.iter().any(|p| p.contains(why)),
            "{query}: {problems:?}"
        );
    }
    for ok in [
        "fields @timestamp, _aws.Timestamp | filter ispresent(_aws.Timestamp)",
        "stats count(*) as n by reason, error, bin(5m) | sort n desc | limit 3",
        "filter type = \"platform.report\" and record.metrics.maxMemoryUsedMB > 100",
        "filter @message like /panicked/ | parse @message \"at *:*\" as file, line2 | display file, line2",
    ] {
        assert_eq!(check(ok, &known), Vec::<String>::new(), "{ok}");
    }
}

#[test]
fn the_contributor_insights_rule_reads_fields_of_the_summary_line() {
    let known = known_fields();
    let kit = common::kit();
    let mut paths = 0;
    for source in kit.of(Kind::InsightRule) {
        let rule: Value = serde_json::from_str(&source.text).expect("JSON");
        let contribution = &rule["RuleDefinition"]["Contribution"];
        let keys = contribution["Keys"].as_array().into_iter().flatten();
        let filters = contribution["Filters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| &f["Match"]);
        for path in keys.chain(filters) {
            let field = path
                .as_str()
                .and_then(|p| p.strip_prefix("$."))
                .expect("a $. path");
            assert!(known.contains(field), "{}: `{field}`", source.path);
            paths += 1;
        }
    }
    assert!(paths >= 3);
}
