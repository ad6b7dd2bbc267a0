//! The metrics the proxy emits: names, units and dimension sets, in one table.
//!
//! Everything that names a metric (the recorder, the ops tool's validation, the dashboard
//! consistency test) reads this table; nothing else may spell a metric name. Dimension values
//! are closed sets listed here, so an attacker cannot multiply custom-metric cost.

/// One metric the proxy can emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    /// CloudWatch unit.
    pub unit: &'static str,
    /// Dimension sets beyond `[Service]` under which the metric also appears.
    pub extra_dimensions: &'static [&'static str],
}

/// The dimension on every metric.
pub const SERVICE: &str = "Service";
pub const STATUS_CLASS: &str = "StatusClass";
pub const REASON: &str = "Reason";
pub const SOURCE_IP: &str = "SourceIp";

pub const REQUESTS: MetricDef = MetricDef {
    name: "Requests",
    unit: "Count",
    extra_dimensions: &[],
};
pub const DENIED: MetricDef = MetricDef {
    name: "Denied",
    unit: "Count",
    extra_dimensions: &[SOURCE_IP],
};
pub const REJECTED: MetricDef = MetricDef {
    name: "Rejected",
    unit: "Count",
    extra_dimensions: &[],
};
pub const UPSTREAM_LATENCY: MetricDef = MetricDef {
    name: "UpstreamLatency",
    unit: "Milliseconds",
    extra_dimensions: &[],
};
pub const UPSTREAM_HTTP_ERROR: MetricDef = MetricDef {
    name: "UpstreamHTTPError",
    unit: "Count",
    extra_dimensions: &[STATUS_CLASS],
};
pub const UPSTREAM_FAILURE: MetricDef = MetricDef {
    name: "UpstreamFailure",
    unit: "Count",
    extra_dimensions: &[REASON],
};
pub const COLD_START: MetricDef = MetricDef {
    name: "ColdStart",
    unit: "Count",
    extra_dimensions: &[],
};

pub const CONFIG_FAILURE: MetricDef = MetricDef {
    name: "ConfigFailure",
    unit: "Count",
    extra_dimensions: &[REASON],
};

/// Every metric, in the order docs/CONTRACT.md documents them.
pub const ALL: &[MetricDef] = &[
    REQUESTS,
    DENIED,
    REJECTED,
    UPSTREAM_LATENCY,
    UPSTREAM_HTTP_ERROR,
    UPSTREAM_FAILURE,
    COLD_START,
    CONFIG_FAILURE,
];

/// The values `StatusClass` can take.
pub const STATUS_CLASSES: &[&str] = &["4xx", "5xx"];

/// The values `Reason` takes on `UpstreamFailure` (`UpstreamError::reason`).
pub fn failure_reasons() -> impl Iterator<Item = &'static str> {
    crate::outcome::FailureKind::ALL.iter().map(|k| k.reason())
}

/// The values `Reason` takes on `ConfigFailure` (`outcome::FailureReason`).
pub fn config_failure_reasons() -> impl Iterator<Item = &'static str> {
    crate::outcome::FailureReason::ALL
        .iter()
        .map(|r| r.as_str())
}

/// The values a dimension takes on one metric, when the set is closed (`SourceIp` is not).
pub fn dimension_values(metric: &str, dimension: &str) -> Option<Vec<&'static str>> {
    match (metric, dimension) {
        (_, STATUS_CLASS) => Some(STATUS_CLASSES.to_vec()),
        (m, REASON) if m == CONFIG_FAILURE.name => Some(config_failure_reasons().collect()),
        (_, REASON) => Some(failure_reasons().collect()),
        _ => None,
    }
}

/// Unit of a metric by name ("None" for a name not in the table).
pub fn unit_of(name: &str) -> &'static str {
    ALL.iter()
        .find(|m| m.name == name)
        .map_or("None", |m| m.unit)
}

/// The status class dimension value for a backend status, if it is an error.
pub fn status_class(status: u16) -> Option<&'static str> {
    match status {
        400..=499 => Some("4xx"),
        500.. => Some("5xx"),
        _ => None,
    }
}
