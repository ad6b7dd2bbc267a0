//! Structured JSON logs: the subscriber and the per-invocation summary.
//!
//! Lines are flat JSON objects (Powertools key names where they overlap: `timestamp`,
//! `level`, `message`, `service`, `cold_start`, `xray_trace_id`), one per line, written whole.
//! Levels come from `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, then `info`. It must never log a
//! header value, a body or a query string; the summary has a fixed set of keys. It knows the
//! outcome record and nothing of the configuration (the start-up line is `startup`'s).

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;

use super::sink::Sink;
use crate::outcome::{NO_VERSION, Outcome};

/// The level filter from Lambda's advanced logging controls, else `RUST_LOG`, else `info`.
pub fn filter(lookup: impl Fn(&str) -> Option<String>) -> EnvFilter {
    if let Some(level) = lookup("AWS_LAMBDA_LOG_LEVEL").filter(|l| !l.trim().is_empty()) {
        let level = match level.trim().to_ascii_lowercase().as_str() {
            "fatal" => "error".to_owned(),
            other => other.to_owned(),
        };
        if let Ok(filter) = EnvFilter::try_new(level) {
            return filter;
        }
    }
    if let Some(directives) = lookup("RUST_LOG").filter(|l| !l.trim().is_empty())
        && let Ok(filter) = EnvFilter::try_new(directives)
    {
        return filter;
    }
    EnvFilter::new("info")
}

/// The JSON subscriber writing to `sink`.
pub fn subscriber(filter: EnvFilter, sink: Sink) -> impl Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_file(false)
        .with_line_number(false)
        .with_thread_ids(false)
        .with_thread_names(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(sink)
        .finish()
}

/// How log lines are written, from Lambda's advanced logging controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

/// `AWS_LAMBDA_LOG_FORMAT=Text` asks for plain text lines, as Lambda's advanced logging
/// controls define it; anything else (JSON, unset) gets JSON, which the Contributor Insights
/// rule and the shipped template rely on. EMF documents are JSON either way.
pub fn format(lookup: impl Fn(&str) -> Option<String>) -> Format {
    match lookup("AWS_LAMBDA_LOG_FORMAT") {
        Some(v) if v.trim().eq_ignore_ascii_case("text") => Format::Text,
        _ => Format::Json,
    }
}

/// The plain-text subscriber: `timestamp LEVEL message key=value ...`, one line per event.
pub fn text_subscriber(filter: EnvFilter, sink: Sink) -> impl Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(sink)
        .finish()
}

/// Installs the subscriber for the whole process (the binary does this once).
pub fn init(filter: EnvFilter, format: Format, sink: Sink) {
    // A second install (tests, or a library user) keeps the first: not worth failing for.
    let _ = match format {
        Format::Json => tracing::subscriber::set_global_default(subscriber(filter, sink)),
        Format::Text => tracing::subscriber::set_global_default(text_subscriber(filter, sink)),
    };
}

fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The one summary line of an invocation.
pub fn summary(service: &str, o: &Outcome) {
    tracing::info!(
        service,
        request_id = o.request_id.as_str(),
        apigw_request_id = o.apigw_request_id.as_deref(),
        xray_trace_id = o.xray_trace_id.as_deref(),
        cold_start = o.cold_start,
        source_ip = o.source_ip.as_deref(),
        method = o.method.as_deref(),
        path = o.path.as_deref(),
        decision = o.decision().as_str(),
        reason = o.reason(),
        error = o.error(),
        status = o.status,
        upstream_status = o.upstream_status,
        upstream_latency_ms = o.upstream_latency.map(millis),
        upstream_first_byte_ms = o.upstream_first_byte.map(millis),
        request_bytes = o.request_bytes as u64,
        response_bytes = o.response_bytes as u64,
        duration_ms = millis(o.duration),
        allowlist_version = o.allowlist_version.as_deref().unwrap_or(NO_VERSION),
        "invocation"
    );
}
