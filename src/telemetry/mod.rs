//! Telemetry: one summary log line and the EMF metrics of each invocation, both derived from
//! its `Outcome`.
//!
//! It owns the service/namespace identity, the per-IP deny cap and where lines go. It must
//! never block on anything but a stdout write, never keep state between invocations except
//! the per-IP cap and the cold-start flag, and never emit a dimension value outside the
//! closed sets in `catalog` (the capped `SourceIp` aside).

pub mod catalog;
mod collector;
mod emf;
pub mod logging;
pub mod redact;
pub mod sink;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::outcome::{Decision, Outcome};
use collector::Collector;
use emf::DocumentContext;
pub use sink::Sink;

/// Telemetry settings from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    pub namespace: String,
    pub service: String,
    /// `Some(limit)` when `PROXY_DENY_METRICS_PER_IP` is on.
    pub deny_per_ip_limit: Option<usize>,
}

/// The value `SourceIp` takes once the cap is reached.
pub const OTHER_SOURCE: &str = "other";

#[derive(Debug)]
pub struct Telemetry {
    config: TelemetryConfig,
    sink: Sink,
    per_ip_seen: Mutex<HashSet<IpAddr>>,
}

impl Telemetry {
    pub fn new(config: TelemetryConfig, sink: Sink) -> Telemetry {
        Telemetry {
            config,
            sink,
            per_ip_seen: Mutex::new(HashSet::new()),
        }
    }

    pub fn config(&self) -> &TelemetryConfig {
        &self.config
    }

    /// Emits the summary line and the metrics of one invocation.
    pub fn record(&self, outcome: &Outcome) {
        logging::summary(&self.config.service, outcome);
        self.metrics(outcome);
    }

    fn metrics(&self, o: &Outcome) {
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut properties: Vec<(&str, &str)> = vec![("request_id", o.request_id.as_str())];
        if o.cold_start {
            let cold = Collector::default();
            metrics::with_local_recorder(&cold, || {
                metrics::counter!(catalog::COLD_START.name).increment(1);
            });
            self.write(emf::render(&cold, &self.context(timestamp_ms, &properties)));
        }
        if !o.is_http_event() {
            return;
        }
        let denied = o.decision() == Decision::Deny;
        if denied && let Some(ip) = o.source_ip.as_deref() {
            properties.push(("source_ip", ip));
        }
        let per_ip = if denied { self.per_ip_label(o) } else { None };
        let collector = Collector::default();
        metrics::with_local_recorder(&collector, || emit(o, per_ip));
        self.write(emf::render(
            &collector,
            &self.context(timestamp_ms, &properties),
        ));
    }

    fn context<'a>(
        &'a self,
        timestamp_ms: u64,
        properties: &'a [(&'a str, &'a str)],
    ) -> DocumentContext<'a> {
        DocumentContext {
            namespace: &self.config.namespace,
            service: &self.config.service,
            timestamp_ms,
            properties,
        }
    }

    fn write(&self, documents: Vec<String>) {
        for document in documents {
            self.sink.write_line(document.as_bytes());
        }
    }

    /// The `SourceIp` value for a deny: the address while under the cap, else `other`.
    fn per_ip_label(&self, o: &Outcome) -> Option<String> {
        let limit = self.config.deny_per_ip_limit?;
        let ip = o
            .source_ip
            .as_deref()
            .and_then(|s| s.parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical());
        let Some(ip) = ip else {
            return Some(OTHER_SOURCE.to_owned());
        };
        let mut seen = self.per_ip_seen.lock().ok()?;
        if seen.contains(&ip) || seen.len() < limit {
            seen.insert(ip);
            Some(ip.to_string())
        } else {
            Some(OTHER_SOURCE.to_owned())
        }
    }
}

/// The metric calls for one outcome, through the `metrics` facade.
fn emit(o: &Outcome, per_ip: Option<String>) {
    use catalog::*;
    let decision = o.decision();
    metrics::counter!(REQUESTS.name).increment(1);
    metrics::counter!(DENIED.name).increment(u64::from(decision == Decision::Deny));
    if let Some(label) = per_ip {
        metrics::counter!(DENIED.name, SOURCE_IP => label).increment(1);
    }
    metrics::counter!(REJECTED.name).increment(u64::from(decision == Decision::Reject));
    for reason in &o.config_failures {
        metrics::counter!(CONFIG_FAILURE.name).increment(1);
        metrics::counter!(CONFIG_FAILURE.name, REASON => reason.as_str()).increment(1);
    }
    if !o.forwarded() {
        return;
    }
    if let Some(latency) = o.upstream_latency {
        metrics::histogram!(UPSTREAM_LATENCY.name).record(latency.as_secs_f64() * 1000.0);
    }
    let class = match (o.failure, o.upstream_status) {
        (None, Some(status)) => status_class(status),
        _ => None,
    };
    metrics::counter!(UPSTREAM_HTTP_ERROR.name).increment(u64::from(class.is_some()));
    if let Some(class) = class {
        metrics::counter!(UPSTREAM_HTTP_ERROR.name, STATUS_CLASS => class).increment(1);
    }
    metrics::counter!(UPSTREAM_FAILURE.name).increment(u64::from(o.failure.is_some()));
    if let Some(failure) = o.failure {
        metrics::counter!(UPSTREAM_FAILURE.name, REASON => failure.reason()).increment(1);
    }
}
