//! The metric and namespace tables: which metrics the kit may name and how each reference
//! is checked. A metric in the deployment's namespace must be one the proxy emits (read from
//! `vpc_proxy::telemetry::catalog`, with the dimensions and values it is published under); one
//! in an AWS namespace must be in [`AWS_METRICS`]; metric math must name ids that exist, no
//! SEARCH, and rules of this kit.
//!
//! It must never keep a second list of the proxy's own metrics (the catalog is the source of
//! truth) and never knows the layout of a dashboard or alarm file: callers hand it a
//! [`MetricRef`] or an expression.

use std::collections::BTreeSet;

use vpc_proxy::telemetry::catalog::{self, MetricDef};

use super::{Context, Report};

/// AWS metrics the kit may reference: namespace, metric names, dimension names.
pub const AWS_METRICS: &[(&str, &[&str], &[&str])] = &[
    (
        "AWS/Lambda",
        &[
            "Invocations",
            "Errors",
            "Throttles",
            "Duration",
            "ConcurrentExecutions",
            "UnreservedConcurrentExecutions",
            "ClaimedAccountConcurrency",
            "ProvisionedConcurrentExecutions",
            "ProvisionedConcurrencyUtilization",
            "ProvisionedConcurrencyInvocations",
            "ProvisionedConcurrencySpilloverInvocations",
            "PostRuntimeExtensionsDuration",
            "DeadLetterErrors",
            "DestinationDeliveryFailures",
            "RecursiveInvocationsDropped",
        ],
        &["FunctionName", "Resource", "ExecutedVersion"],
    ),
    (
        "AWS/ApiGateway",
        &[
            "Count",
            "4XXError",
            "5XXError",
            "Latency",
            "IntegrationLatency",
            "CacheHitCount",
            "CacheMissCount",
            "4xx",
            "5xx",
            "DataProcessed",
        ],
        &["ApiName", "ApiId", "Stage", "Method", "Resource"],
    ),
    (
        "AWS/Logs",
        &[
            "IncomingBytes",
            "IncomingLogEvents",
            "ForwardedBytes",
            "ForwardedLogEvents",
            "DeliveryErrors",
            "DeliveryThrottling",
            "EMFValidationErrors",
            "EMFParsingErrors",
        ],
        &["LogGroupName", "DestinationType", "FilterName"],
    ),
    (
        "AWS/WAFV2",
        &[
            "AllowedRequests",
            "BlockedRequests",
            "CountedRequests",
            "PassedRequests",
        ],
        &["WebACL", "Rule", "Region", "RuleGroup"],
    ),
];

/// One metric a dashboard widget or an alarm names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRef {
    pub at: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    /// The unit an alarm filters on, if any.
    pub unit: Option<String>,
}

/// The values a proxy dimension can take on one metric, when the catalog lists them.
pub(super) fn dimension_values(metric: &str, dim: &str) -> Option<Vec<&'static str>> {
    catalog::dimension_values(metric, dim)
}

/// Is this a metric the proxy emits (right dimensions and values) or a known AWS one?
pub(super) fn check_metric(report: &mut Report<'_>, m: &MetricRef, ctx: &Context) {
    if m.namespace == ctx.namespace {
        let Some(def) = catalog::ALL.iter().find(|d| d.name == m.name) else {
            let known: Vec<&str> = catalog::ALL.iter().map(|d| d.name).collect();
            report.add(
                &m.at,
                format!(
                    "{}/{} is not a metric the proxy emits (catalog: {})",
                    m.namespace,
                    m.name,
                    known.join(", ")
                ),
            );
            return;
        };
        check_proxy_dimensions(report, m, def, ctx);
        if let Some(unit) = &m.unit
            && unit != def.unit
        {
            report.add(
                &m.at,
                format!(
                    "{} is emitted in {}, not {unit}: the alarm would see no data",
                    m.name, def.unit
                ),
            );
        }
        return;
    }
    match AWS_METRICS.iter().find(|(ns, _, _)| *ns == m.namespace) {
        Some((_, names, dims)) => {
            if !names.contains(&m.name.as_str()) {
                report.add(&m.at, format!("{}/{} is not a metric of that namespace", m.namespace, m.name));
            }
            for (k, _) in &m.dimensions {
                if !dims.contains(&k.as_str()) {
                    report.add(&m.at, format!("{} has no dimension {k:?}", m.namespace));
                }
            }
        }
        None => report.add(
            &m.at,
            format!("namespace {:?} is neither the proxy's ({:?}) nor AWS/Lambda, AWS/ApiGateway, AWS/Logs or AWS/WAFV2", m.namespace, ctx.namespace),
        ),
    }
}

fn check_proxy_dimensions(report: &mut Report<'_>, m: &MetricRef, def: &MetricDef, ctx: &Context) {
    let service = m.dimensions.iter().find(|(k, _)| k == catalog::SERVICE);
    match service {
        Some((_, v)) if *v == ctx.service => {}
        Some((_, v)) => report.add(
            &m.at,
            format!(
                "Service={v:?} but this deployment's Service is {:?}",
                ctx.service
            ),
        ),
        None => report.add(
            &m.at,
            format!(
                "{} is published under [Service, ...]; without Service it has no data",
                m.name
            ),
        ),
    }
    let extra: Vec<&(String, String)> = m
        .dimensions
        .iter()
        .filter(|(k, _)| k != catalog::SERVICE)
        .collect();
    if extra.len() > 1 {
        report.add(
            &m.at,
            format!(
                "{} is published under [Service] or [Service, one of {:?}], not {:?}",
                m.name, def.extra_dimensions, m.dimensions
            ),
        );
    }
    for (k, v) in extra {
        if !def.extra_dimensions.contains(&k.as_str()) {
            report.add(
                &m.at,
                format!(
                    "{} is not published with dimension {k:?} (only {:?})",
                    m.name, def.extra_dimensions
                ),
            );
            continue;
        }
        if let Some(allowed) = dimension_values(&m.name, k)
            && !allowed.contains(&v.as_str())
        {
            report.add(
                &m.at,
                format!("{k}={v:?} never occurs (values: {allowed:?})"),
            );
        }
    }
}

/// Metric math: ids referenced exist, SEARCH is refused (it hides which metrics are used),
/// INSIGHT_RULE_METRIC names a rule of the kit.
pub(super) fn check_expression(
    report: &mut Report<'_>,
    at: &str,
    expr: &str,
    ids: &BTreeSet<String>,
    ctx: &Context,
) {
    if expr.contains("SEARCH(") {
        report.add(
            at,
            "SEARCH expressions cannot be checked against the metric catalog; name the metrics",
        );
    }
    if let Some(rest) = expr.split("INSIGHT_RULE_METRIC(").nth(1) {
        let name = rest
            .trim_start()
            .trim_start_matches('\'')
            .split('\'')
            .next()
            .unwrap_or_default();
        if !ctx.rule_names.iter().any(|r| r == name) {
            report.add(
                at,
                format!(
                    "INSIGHT_RULE_METRIC names {name:?}, not a rule of this kit ({:?})",
                    ctx.rule_names
                ),
            );
        }
    }
    for token in identifiers(expr) {
        if token.starts_with(|c: char| c.is_ascii_lowercase()) && !ids.contains(&token) {
            report.add(
                at,
                format!("expression uses {token:?}, which is no id here ({ids:?})"),
            );
        }
    }
}

/// Identifiers of a metric math expression, outside quoted strings.
fn identifiers(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            current.push(c);
        } else if !current.is_empty() {
            if !current.starts_with(|c: char| c.is_ascii_digit()) {
                out.push(current.clone());
            }
            current.clear();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_skip_strings_and_numbers() {
        assert_eq!(
            identifiers("IF(a >= 10, 100 * FILL(b_1, 0) / a, 0)"),
            vec!["IF", "a", "FILL", "b_1", "a"]
        );
        assert_eq!(
            identifiers("INSIGHT_RULE_METRIC('x-y', 'Sum')"),
            vec!["INSIGHT_RULE_METRIC"]
        );
    }
}
