//! Local mode's output for a person at a terminal: one short line per request (method, path,
//! status, decision and reason, backend latency rounded) and one line per log event, instead
//! of the JSON log lines and EMF documents Lambda gets.
//!
//! It reads the very lines the proxy writes (collected in a memory sink) and rewrites them, so
//! what is shown can never disagree with what is logged. It is used only by `vpc-proxy local`
//! when stdout is a terminal and `--json` is not given; it must never be used in Lambda or
//! when output is piped, where the exact Lambda lines are the contract.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::telemetry::Sink;

/// Collects the proxy's lines and writes them out for people.
#[derive(Clone, Debug)]
pub struct Terminal {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    /// A terminal and the sink the proxy's logs and metrics must be written to.
    pub fn new() -> (Terminal, Sink) {
        let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        (
            Terminal {
                buffer: buffer.clone(),
            },
            Sink::Memory(buffer),
        )
    }

    /// Writes every complete line collected so far, rewritten (EMF documents are dropped).
    pub fn flush(&self, out: &mut impl Write) {
        let text = match self.buffer.lock() {
            Ok(mut buffer) => {
                // Only whole lines: a line still being written stays for the next flush.
                let end = buffer
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1);
                let taken: Vec<u8> = buffer.drain(..end).collect();
                String::from_utf8_lossy(&taken).into_owned()
            }
            Err(_) => return,
        };
        for line in text.lines() {
            if let Some(human) = readable(line) {
                // A closed terminal leaves nobody to tell.
                let _ = writeln!(out, "{human}");
            }
        }
    }
}

/// One collected line as a person reads it; `None` for EMF documents.
pub fn readable(line: &str) -> Option<String> {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else {
        // Not JSON (`AWS_LAMBDA_LOG_FORMAT=Text`): already meant for people.
        return (!line.trim().is_empty()).then(|| line.to_owned());
    };
    if fields.contains_key("_aws") {
        return None;
    }
    let time = fields
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.split_once('T'))
        .map(|(_, clock)| clock.get(..8).unwrap_or(clock).to_owned())
        .unwrap_or_default();
    if fields.get("message").and_then(Value::as_str) == Some("invocation")
        && fields.contains_key("decision")
    {
        return Some(format!("{time} {}", request_line(&fields)));
    }
    Some(format!("{time} {}", event_line(&fields)))
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str)
}

/// `GET /hello -> 200 allow, backend 200 in 1.1 ms`.
fn request_line(fields: &Map<String, Value>) -> String {
    let method = text(fields, "method").unwrap_or("-");
    let path = text(fields, "path").unwrap_or("-");
    let status = fields
        .get("status")
        .and_then(Value::as_u64)
        .map_or("-".to_owned(), |s| s.to_string());
    let decision = text(fields, "decision").unwrap_or("-");
    let mut line = format!("{method} {path} -> {status} {decision}");
    if let Some(reason) = text(fields, "reason") {
        line.push_str(&format!(": {reason}"));
    }
    if decision != "allow"
        && let Some(ip) = text(fields, "source_ip")
    {
        line.push_str(&format!(" (source {ip})"));
    }
    let backend = fields.get("upstream_status").and_then(Value::as_u64);
    let latency = fields.get("upstream_latency_ms").and_then(Value::as_f64);
    match (backend, latency) {
        (Some(s), Some(ms)) => line.push_str(&format!(", backend {s} in {}", millis(ms))),
        (None, Some(ms)) => line.push_str(&format!(", backend gave up after {}", millis(ms))),
        _ => {}
    }
    if let Some(error) = text(fields, "error") {
        line.push_str(&format!(" [{error}]"));
    }
    line
}

/// `WARN message key=value ...`, without the fields every line repeats.
fn event_line(fields: &Map<String, Value>) -> String {
    let level = text(fields, "level").unwrap_or("INFO");
    let message = text(fields, "message").unwrap_or("");
    let mut line = format!("{level:<5} {message}");
    for (name, value) in fields {
        if matches!(name.as_str(), "timestamp" | "level" | "message" | "service") {
            continue;
        }
        match value {
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => line.push_str(&format!(" {name}={s}")),
            Value::Number(n) if n.is_f64() => {
                line.push_str(&format!(" {name}={}", round(n.as_f64().unwrap_or(0.0))))
            }
            other => line.push_str(&format!(" {name}={other}")),
        }
    }
    line
}

/// Milliseconds as people read them: `0.95 ms`, `12.3 ms`, `1,204 ms` -> `1204 ms`.
pub fn millis(ms: f64) -> String {
    format!("{} ms", round(ms))
}

fn round(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_line_becomes_one_request_line_and_emf_disappears() {
        let summary = r#"{"timestamp":"2026-12-02T03:15:26.342845Z","level":"INFO","message":"invocation","service":"vpc-proxy","request_id":"local-0","source_ip":"127.0.0.1","method":"GET","path":"/hi","decision":"allow","status":200,"upstream_status":200,"upstream_latency_ms":0.9490390000000001}"#;
        assert_eq!(
            readable(summary).as_deref(),
            Some("03:15:26 GET /hi -> 200 allow, backend 200 in 0.95 ms")
        );
        let denied = r#"{"timestamp":"2026-12-02T03:15:27Z","level":"INFO","message":"invocation","method":"POST","path":"/x","decision":"deny","reason":"ip_not_allowed","source_ip":"203.0.113.9","status":403}"#;
        assert_eq!(
            readable(denied).as_deref(),
            Some("03:15:27 POST /x -> 403 deny: ip_not_allowed (source 203.0.113.9)")
        );
        let emf = r#"{"Service":"vpc-proxy","UpstreamLatency":[1.0967259999999999],"_aws":{"Timestamp":1}}"#;
        assert_eq!(readable(emf), None);
    }

    #[test]
    fn other_lines_keep_level_message_and_fields() {
        let warn = r#"{"timestamp":"2026-12-02T03:15:25.3Z","level":"WARN","message":"no PROXY_TARGET_URL","service":"s","echo_backend":"http://127.0.0.1:1","ms":1234.5678}"#;
        assert_eq!(
            readable(warn).as_deref(),
            Some("03:15:25 WARN  no PROXY_TARGET_URL echo_backend=http://127.0.0.1:1 ms=1235")
        );
        assert_eq!(
            readable("plain text line").as_deref(),
            Some("plain text line")
        );
    }

    #[test]
    fn flush_writes_only_whole_lines() {
        let (terminal, sink) = Terminal::new();
        sink.write_line(b"{\"_aws\":{}}\n{\"level\":\"INFO\",\"message\":\"a\"}\n{\"level\"");
        let mut out = Vec::new();
        terminal.flush(&mut out);
        assert_eq!(String::from_utf8_lossy(&out), " INFO  a\n");
        sink.write_line(b":\"WARN\",\"message\":\"b\"}\n");
        let mut out = Vec::new();
        terminal.flush(&mut out);
        assert_eq!(String::from_utf8_lossy(&out), " WARN  b\n");
    }
}
