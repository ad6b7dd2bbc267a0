//! Validation of a rendered kit: every placeholder filled, every metric one the proxy emits
//! (from `vpc_proxy::telemetry::catalog`) or one of AWS's own in `AWS/Lambda`,
//! `AWS/ApiGateway`, `AWS/Logs` or `AWS/WAFV2`, the dashboard grid within 24 columns, alarm and rule
//! inputs complete, cross-references (alarm widget, rule names) resolving, and the dashboard
//! showing every metric and dimension the proxy emits.
//!
//! It reads the catalog and never keeps a second list of the proxy's metrics. It reports
//! problems and must never change a document, call AWS or stop at the first problem.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;
use vpc_proxy::telemetry::catalog::{self, MetricDef};

use crate::render::{Rendered, Values};

/// One thing wrong, located by file and JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub at: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.at, self.message)
        }
    }
}

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

/// What the checks compare against: the deployment's namespace and service, and the names
/// the kit defines.
#[derive(Debug, Clone)]
pub struct Context {
    pub namespace: String,
    pub service: String,
    pub alarm_names: Vec<String>,
    pub rule_names: Vec<String>,
}

impl Context {
    pub fn new(rendered: &Rendered, values: &Values) -> Context {
        Context {
            namespace: values.get("Namespace").unwrap_or("VpcProxy").to_owned(),
            service: values.get("Service").unwrap_or_default().to_owned(),
            alarm_names: rendered.alarm_names(),
            rule_names: rendered.rule_names(),
        }
    }
}

struct Report<'a> {
    file: &'a str,
    problems: Vec<Problem>,
}

impl<'a> Report<'a> {
    /// A report on one file, starting with its unfilled placeholders.
    fn of(file: &'a str, value: &Value) -> Report<'a> {
        Report {
            file,
            problems: unfilled(file, value),
        }
    }

    fn add(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            at: at.into(),
            message: message.into(),
        });
    }
}

/// Everything: each file on its own, then the kit as a whole.
pub fn rendered(kit: &Rendered, values: &Values) -> Vec<Problem> {
    let ctx = Context::new(kit, values);
    let mut problems = Vec::new();
    for d in &kit.dashboards {
        problems.extend(dashboard(&d.path, &d.body, &ctx));
    }
    for a in &kit.alarms {
        problems.extend(alarm(&a.path, &a.input, &ctx));
    }
    for r in &kit.rules {
        problems.extend(insight_rule(&r.path, &r.input));
    }
    problems.extend(cross_references(kit, &ctx));
    problems.extend(coverage(kit, &ctx));
    problems
}

/// Strings still holding `${...}`.
pub fn unfilled(file: &str, value: &Value) -> Vec<Problem> {
    let mut report = Report {
        file,
        problems: Vec::new(),
    };
    walk_strings(value, "", &mut |at, s| {
        for name in crate::render::placeholders(s) {
            report.add(at, format!("unfilled placeholder ${{{name}}}"));
        }
    });
    report.problems
}

fn walk_strings(value: &Value, at: &str, f: &mut impl FnMut(&str, &str)) {
    match value {
        Value::String(s) => f(at, s),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk_strings(v, &format!("{at}[{i}]"), f);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let at = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                walk_strings(v, &at, f);
            }
        }
        _ => {}
    }
}

/// The widgets of a dashboard body (none when it has no `widgets` array).
fn widgets(body: &Value) -> &[Value] {
    body.get("widgets")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The alarm name in an alarm ARN (`arn:...:alarm:NAME`).
fn alarm_name(arn: &str) -> Option<&str> {
    arn.split(":alarm:").nth(1)
}

/// The values a proxy dimension can take on one metric, when the catalog lists them.
fn dimension_values(metric: &str, dim: &str) -> Option<Vec<&'static str>> {
    catalog::dimension_values(metric, dim)
}

const WIDGET_TYPES: &[&str] = &["metric", "text", "log", "alarm", "explorer", "custom"];
const GRID_COLUMNS: i64 = 24;

/// One dashboard body.
pub fn dashboard(file: &str, body: &Value, ctx: &Context) -> Vec<Problem> {
    let mut report = Report::of(file, body);
    let Some(widgets) = body.get("widgets").and_then(Value::as_array) else {
        report.add("widgets", "a dashboard body needs a `widgets` array");
        return report.problems;
    };
    let mut boxes: Vec<(String, i64, i64, i64, i64)> = Vec::new();
    for (i, w) in widgets.iter().enumerate() {
        let at = format!("widgets[{i}]");
        let kind = w.get("type").and_then(Value::as_str).unwrap_or_default();
        if !WIDGET_TYPES.contains(&kind) {
            report.add(
                format!("{at}.type"),
                format!("unknown widget type {kind:?}"),
            );
        }
        let dims: Vec<Option<i64>> = ["x", "y", "width", "height"]
            .iter()
            .map(|k| w.get(*k).and_then(Value::as_i64))
            .collect();
        match dims.as_slice() {
            [Some(x), Some(y), Some(width), Some(height)] => {
                if *x < 0 || *y < 0 {
                    report.add(&at, "x and y must not be negative");
                }
                if !(1..=GRID_COLUMNS).contains(width) || x + width > GRID_COLUMNS {
                    report.add(
                        &at,
                        format!(
                            "widget spans columns {x}..{} but the grid has {GRID_COLUMNS}",
                            x + width
                        ),
                    );
                }
                if !(1..=1000).contains(height) {
                    report.add(&at, format!("height {height} is outside 1..=1000"));
                }
                for (other, ox, oy, ow, oh) in &boxes {
                    if x < &(ox + ow) && ox < &(x + width) && y < &(oy + oh) && oy < &(y + height) {
                        report.add(&at, format!("overlaps {other}"));
                    }
                }
                boxes.push((at.clone(), *x, *y, *width, *height));
            }
            _ => report.add(
                &at,
                "every widget needs integer x, y, width and height (the grid is checked)",
            ),
        }
        let props = w.get("properties").unwrap_or(&Value::Null);
        let pat = format!("{at}.properties");
        match kind {
            "metric" => {
                if props.get("region").and_then(Value::as_str).is_none() {
                    report.add(&pat, "metric widgets need an explicit region");
                }
                if let Some(rule) = props.get("insightRule") {
                    let name = rule
                        .get("ruleName")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if !ctx.rule_names.iter().any(|r| r == name) {
                        report.add(
                            format!("{pat}.insightRule.ruleName"),
                            format!("{name:?} is not a rule of this kit ({:?})", ctx.rule_names),
                        );
                    }
                } else {
                    check_metric_rows(&mut report, &pat, props, ctx);
                }
            }
            "alarm" => {
                let arns = props
                    .get("alarms")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                if arns.is_empty() {
                    report.add(&pat, "alarm widgets need a non-empty `alarms` list");
                }
                for (j, arn) in arns.iter().enumerate() {
                    let arn = arn.as_str().unwrap_or_default();
                    let name = alarm_name(arn).unwrap_or_default();
                    if !arn.starts_with("arn:") || !ctx.alarm_names.iter().any(|a| a == name) {
                        report.add(
                            format!("{pat}.alarms[{j}]"),
                            format!("{arn:?} is not the ARN of an alarm of this kit"),
                        );
                    }
                }
            }
            "log" => {
                let query = props
                    .get("query")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !query.trim_start().starts_with("SOURCE '") {
                    report.add(
                        format!("{pat}.query"),
                        "log widgets need a query starting with SOURCE '<log group>'",
                    );
                }
            }
            "text" if props.get("markdown").and_then(Value::as_str).is_none() => {
                report.add(&pat, "text widgets need markdown");
            }
            _ => {}
        }
    }
    report.problems
}

/// The metric references of a dashboard's metric widgets (rows with `"."` expanded).
pub fn dashboard_metrics(body: &Value) -> Vec<MetricRef> {
    let mut out = Vec::new();
    for (i, w) in widgets(body).iter().enumerate() {
        let Some(rows) = w.pointer("/properties/metrics").and_then(Value::as_array) else {
            continue;
        };
        let mut previous: Vec<String> = Vec::new();
        for (j, row) in rows.iter().enumerate() {
            if let Some(r) = metric_row(
                row,
                &mut previous,
                &format!("widgets[{i}].properties.metrics[{j}]"),
            ) {
                out.push(r);
            }
        }
    }
    out
}

fn metric_row(row: &Value, previous: &mut Vec<String>, at: &str) -> Option<MetricRef> {
    let items = row.as_array()?;
    let mut strings: Vec<String> = Vec::new();
    for (k, item) in items.iter().enumerate() {
        let Some(s) = item.as_str() else { break };
        if s == "." {
            strings.push(previous.get(k).cloned().unwrap_or_default());
        } else {
            strings.push(s.to_owned());
        }
    }
    if strings.len() < 2 {
        return None;
    }
    *previous = strings.clone();
    let dimensions = strings[2..]
        .chunks(2)
        .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
        .collect();
    Some(MetricRef {
        at: at.to_owned(),
        namespace: strings[0].clone(),
        name: strings[1].clone(),
        dimensions,
        unit: None,
    })
}

fn check_metric_rows(report: &mut Report<'_>, at: &str, props: &Value, ctx: &Context) {
    let Some(rows) = props.get("metrics").and_then(Value::as_array) else {
        report.add(at, "metric widgets need `metrics` (or `insightRule`)");
        return;
    };
    let mut ids = BTreeSet::new();
    let mut expressions = Vec::new();
    let mut previous = Vec::new();
    for (j, row) in rows.iter().enumerate() {
        let rat = format!("{at}.metrics[{j}]");
        let Some(items) = row.as_array() else {
            report.add(&rat, "each metrics row is an array");
            continue;
        };
        let options = items.last().filter(|v| v.is_object());
        if let Some(id) = options.and_then(|o| o.get("id")).and_then(Value::as_str)
            && !ids.insert(id.to_owned())
        {
            report.add(&rat, format!("duplicate id {id:?}"));
        }
        if let Some(expr) = options
            .and_then(|o| o.get("expression"))
            .and_then(Value::as_str)
        {
            expressions.push((rat, expr.to_owned()));
            continue;
        }
        match metric_row(row, &mut previous, &rat) {
            Some(m) => check_metric(report, &m, ctx),
            None => report.add(&rat, "a metrics row is [namespace, name, dimension, value, ..., {options}] or [{expression}]"),
        }
    }
    for (rat, expr) in expressions {
        check_expression(report, &rat, &expr, &ids, ctx);
    }
}

/// Is this a metric the proxy emits (right dimensions and values) or a known AWS one?
fn check_metric(report: &mut Report<'_>, m: &MetricRef, ctx: &Context) {
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
fn check_expression(
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

const ALARM_KEYS: &[&str] = &[
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "Tags",
    "ThresholdMetricId",
];
const BAND_OPERATORS: &[&str] = &[
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];
const STATIC_OPERATORS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const TREAT_MISSING: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];

/// The metrics an alarm input names (single metric or `Metrics[].MetricStat`).
pub fn alarm_metrics(input: &Value) -> Vec<MetricRef> {
    let mut out = Vec::new();
    if let (Some(ns), Some(name)) = (
        input.get("Namespace").and_then(Value::as_str),
        input.get("MetricName").and_then(Value::as_str),
    ) {
        out.push(MetricRef {
            at: "MetricName".to_owned(),
            namespace: ns.to_owned(),
            name: name.to_owned(),
            dimensions: dimensions(input.get("Dimensions")),
            unit: input.get("Unit").and_then(Value::as_str).map(str::to_owned),
        });
    }
    for (i, q) in input
        .get("Metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(stat) = q.get("MetricStat") else {
            continue;
        };
        let metric = stat.get("Metric").unwrap_or(&Value::Null);
        out.push(MetricRef {
            at: format!("Metrics[{i}].MetricStat"),
            namespace: metric
                .get("Namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            name: metric
                .get("MetricName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            dimensions: dimensions(metric.get("Dimensions")),
            unit: stat.get("Unit").and_then(Value::as_str).map(str::to_owned),
        });
    }
    out
}

fn dimensions(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            let get = |k: &str| {
                d.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            (get("Name"), get("Value"))
        })
        .collect()
}

fn period_ok(p: i64) -> bool {
    matches!(p, 10 | 20 | 30) || (p >= 60 && p % 60 == 0)
}

/// One PutMetricAlarm input.
pub fn alarm(file: &str, input: &Value, ctx: &Context) -> Vec<Problem> {
    let mut r = Report::of(file, input);
    let Some(obj) = input.as_object() else {
        r.add(
            "",
            "an alarm file is one JSON object (PutMetricAlarm input)",
        );
        return r.problems;
    };
    for k in obj.keys() {
        if !ALARM_KEYS.contains(&k.as_str()) {
            r.add(k, "not a PutMetricAlarm input field");
        }
    }
    let s = |k: &str| obj.get(k).and_then(Value::as_str);
    let n = |k: &str| obj.get(k).and_then(Value::as_i64);
    match s("AlarmName") {
        Some(name) if !name.is_empty() && name.len() <= 255 => {}
        _ => r.add("AlarmName", "required, 1..=255 characters"),
    }
    match s("AlarmDescription") {
        Some(d) if !d.is_empty() && d.len() <= 1024 => {}
        _ => r.add(
            "AlarmDescription",
            "required here (operators read it in the page), at most 1024 characters",
        ),
    }
    if obj
        .get("AlarmActions")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        r.add(
            "AlarmActions",
            "required: an alarm nobody hears is not an alarm",
        );
    }
    match s("TreatMissingData") {
        Some(t) if TREAT_MISSING.contains(&t) => {}
        _ => r.add(
            "TreatMissingData",
            format!("required here, deliberately one of {TREAT_MISSING:?}"),
        ),
    }
    // With `ignore`, CloudWatch leaves the state alone in every period with fewer than
    // 10/(1-p) samples (100 for a p90): a quiet proxy never leaves INSUFFICIENT_DATA and an
    // alarm in ALARM stays there when traffic falls. A percentile alarm here must say
    // `evaluate`, explicitly, and get its robustness from M-of-N instead.
    let percentile = s("ExtendedStatistic").is_some_and(|x| x.starts_with('p'));
    if percentile && s("EvaluateLowSampleCountPercentile") != Some("evaluate") {
        r.add(
            "EvaluateLowSampleCountPercentile",
            "a percentile alarm must set \"evaluate\": with \"ignore\" it freezes below 10/(1-p) samples a period",
        );
    }
    let evaluation = n("EvaluationPeriods");
    match evaluation {
        Some(e) if e >= 1 => {
            if let Some(d) = n("DatapointsToAlarm")
                && (d < 1 || d > e)
            {
                r.add(
                    "DatapointsToAlarm",
                    format!("must be within 1..=EvaluationPeriods ({e})"),
                );
            }
        }
        _ => r.add("EvaluationPeriods", "required, at least 1"),
    }
    let operator = s("ComparisonOperator").unwrap_or_default();
    let band = s("ThresholdMetricId");
    match band {
        Some(_) => {
            if !BAND_OPERATORS.contains(&operator) {
                r.add(
                    "ComparisonOperator",
                    format!("an anomaly-band alarm compares with one of {BAND_OPERATORS:?}"),
                );
            }
            if obj.contains_key("Threshold") {
                r.add(
                    "Threshold",
                    "an anomaly-band alarm has ThresholdMetricId instead of Threshold",
                );
            }
        }
        None => {
            if !STATIC_OPERATORS.contains(&operator) {
                r.add(
                    "ComparisonOperator",
                    format!("must be one of {STATIC_OPERATORS:?}"),
                );
            }
            if !obj.get("Threshold").is_some_and(Value::is_number) {
                r.add("Threshold", "required (a number)");
            }
        }
    }
    let single = obj.contains_key("MetricName");
    let math = obj.get("Metrics").and_then(Value::as_array);
    let mut period = None;
    match (single, math) {
        (true, Some(_)) => r.add("Metrics", "give MetricName or Metrics, not both"),
        (false, None) => r.add("MetricName", "required (or Metrics)"),
        (true, None) => {
            if s("Namespace").is_none() {
                r.add("Namespace", "required with MetricName");
            }
            period = n("Period");
            if period.is_none_or(|p| !period_ok(p)) {
                r.add("Period", "required: 10, 20, 30 or a multiple of 60");
            }
            match (s("Statistic"), s("ExtendedStatistic")) {
                (Some(st), None) if STATISTICS.contains(&st) => {}
                (None, Some(ext))
                    if ext.starts_with('p')
                        || ext.starts_with("tm")
                        || ext.starts_with("tc")
                        || ext.starts_with("ts") => {}
                _ => r.add(
                    "Statistic",
                    format!(
                        "exactly one of Statistic ({STATISTICS:?}) or ExtendedStatistic (p90, ...)"
                    ),
                ),
            }
        }
        (false, Some(queries)) => {
            for k in [
                "Namespace",
                "Statistic",
                "ExtendedStatistic",
                "Dimensions",
                "Period",
                "Unit",
            ] {
                if obj.contains_key(k) {
                    r.add(
                        k,
                        "belongs inside Metrics[].MetricStat for a metric-math alarm",
                    );
                }
            }
            period = check_queries(&mut r, queries, band, ctx);
        }
    }
    if let (Some(p), Some(e)) = (period, evaluation)
        && p * e > 86_400
    {
        r.add(
            "EvaluationPeriods",
            "Period x EvaluationPeriods must not exceed one day",
        );
    }
    for m in alarm_metrics(input) {
        check_metric(&mut r, &m, ctx);
    }
    r.problems
}

fn check_queries(
    r: &mut Report<'_>,
    queries: &[Value],
    band: Option<&str>,
    ctx: &Context,
) -> Option<i64> {
    let mut ids = BTreeSet::new();
    let mut returned = Vec::new();
    let mut period = None;
    for (i, q) in queries.iter().enumerate() {
        let at = format!("Metrics[{i}]");
        let id = q.get("Id").and_then(Value::as_str).unwrap_or_default();
        let valid_id = id.starts_with(|c: char| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_id {
            r.add(
                format!("{at}.Id"),
                "required: a lowercase letter, then letters, digits or _",
            );
        }
        if !ids.insert(id.to_owned()) {
            r.add(format!("{at}.Id"), format!("duplicate id {id:?}"));
        }
        match q.get("ReturnData").and_then(Value::as_bool) {
            None => r.add(
                format!("{at}.ReturnData"),
                "set it explicitly (true on the alarm's series, false elsewhere)",
            ),
            Some(true) => returned.push(id.to_owned()),
            Some(false) => {}
        }
        match (
            q.get("MetricStat"),
            q.get("Expression").and_then(Value::as_str),
        ) {
            (Some(stat), None) => {
                let p = stat.get("Period").and_then(Value::as_i64);
                if p.is_none_or(|p| !period_ok(p)) {
                    r.add(
                        format!("{at}.MetricStat.Period"),
                        "required: 10, 20, 30 or a multiple of 60",
                    );
                }
                period = period.or(p);
                if stat.get("Stat").and_then(Value::as_str).is_none() {
                    r.add(format!("{at}.MetricStat.Stat"), "required");
                }
                if stat
                    .pointer("/Metric/MetricName")
                    .and_then(Value::as_str)
                    .is_none()
                    || stat
                        .pointer("/Metric/Namespace")
                        .and_then(Value::as_str)
                        .is_none()
                {
                    r.add(
                        format!("{at}.MetricStat.Metric"),
                        "needs Namespace and MetricName",
                    );
                }
            }
            (None, Some(_)) => {
                if let Some(p) = q.get("Period").and_then(Value::as_i64) {
                    period = period.or(Some(p));
                }
            }
            _ => r.add(&at, "exactly one of MetricStat or Expression"),
        }
    }
    for (i, q) in queries.iter().enumerate() {
        if let Some(expr) = q.get("Expression").and_then(Value::as_str) {
            check_expression(r, &format!("Metrics[{i}].Expression"), expr, &ids, ctx);
        }
    }
    match band {
        Some(band) => {
            let band_expr = queries
                .iter()
                .find(|q| q.get("Id").and_then(Value::as_str) == Some(band));
            if !band_expr
                .and_then(|q| q.get("Expression"))
                .and_then(Value::as_str)
                .is_some_and(|e| e.starts_with("ANOMALY_DETECTION_BAND("))
            {
                r.add(
                    "ThresholdMetricId",
                    format!("{band:?} must be the id of an ANOMALY_DETECTION_BAND expression"),
                );
            }
            if returned.len() != 2 || !returned.iter().any(|id| id == band) {
                r.add("Metrics", "an anomaly-band alarm returns exactly two series: the band and the metric it judges");
            }
        }
        None => {
            if returned.len() != 1 {
                r.add(
                    "Metrics",
                    format!(
                        "exactly one query must have ReturnData true, not {}",
                        returned.len()
                    ),
                );
            }
        }
    }
    if period.is_none() {
        r.add(
            "Metrics",
            "no period: give a MetricStat.Period, or Period on the expression",
        );
    }
    period
}

/// One PutInsightRule input (RuleDefinition as an object).
pub fn insight_rule(file: &str, input: &Value) -> Vec<Problem> {
    let mut r = Report::of(file, input);
    if input
        .get("RuleName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        r.add("RuleName", "required");
    }
    if !matches!(
        input.get("RuleState").and_then(Value::as_str),
        Some("ENABLED" | "DISABLED")
    ) {
        r.add("RuleState", "ENABLED or DISABLED");
    }
    let Some(def) = input.get("RuleDefinition").filter(|d| d.is_object()) else {
        r.add(
            "RuleDefinition",
            "required, as a JSON object (the tool sends it as the string the API wants)",
        );
        return r.problems;
    };
    if def.get("Schema") != Some(&serde_json::json!({"Name": "CloudWatchLogRule", "Version": 1})) {
        r.add(
            "RuleDefinition.Schema",
            "must be {\"Name\": \"CloudWatchLogRule\", \"Version\": 1}",
        );
    }
    if def
        .get("LogGroupNames")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        r.add("RuleDefinition.LogGroupNames", "required, non-empty");
    }
    if !matches!(
        def.get("LogFormat").and_then(Value::as_str),
        Some("JSON" | "CLF")
    ) {
        r.add("RuleDefinition.LogFormat", "JSON or CLF");
    }
    let keys = def
        .pointer("/Contribution/Keys")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if keys.is_empty() || keys.len() > 4 {
        r.add("RuleDefinition.Contribution.Keys", "1 to 4 keys");
    }
    for (i, k) in keys.iter().enumerate() {
        if !k.as_str().is_some_and(|k| k.starts_with("$.")) {
            r.add(
                format!("RuleDefinition.Contribution.Keys[{i}]"),
                "a JSON path like $.source_ip",
            );
        }
    }
    for (i, f) in def
        .pointer("/Contribution/Filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !f
            .get("Match")
            .and_then(Value::as_str)
            .is_some_and(|m| m.starts_with("$."))
        {
            r.add(
                format!("RuleDefinition.Contribution.Filters[{i}].Match"),
                "a JSON path like $.decision",
            );
        }
    }
    match def.get("AggregateOn").and_then(Value::as_str) {
        Some("Count") => {}
        Some("Sum") if def.pointer("/Contribution/ValueOf").is_some() => {}
        _ => r.add(
            "RuleDefinition.AggregateOn",
            "Count, or Sum with Contribution.ValueOf",
        ),
    }
    r.problems
}

/// Names that must line up across files: every alarm is on an alarm-status widget, alarm
/// names are unique, rule names are unique.
pub fn cross_references(kit: &Rendered, ctx: &Context) -> Vec<Problem> {
    let mut problems = Vec::new();
    let shown: BTreeSet<&str> = kit
        .dashboards
        .iter()
        .flat_map(|d| widgets(&d.body))
        .filter(|w| w.get("type").and_then(Value::as_str) == Some("alarm"))
        .flat_map(|w| {
            w.pointer("/properties/alarms")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|a| a.as_str().and_then(alarm_name))
        .collect();
    for a in &kit.alarms {
        let name = a
            .input
            .get("AlarmName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !shown.contains(name) {
            problems.push(Problem {
                file: a.path.clone(),
                at: "AlarmName".into(),
                message: format!("{name:?} is on no dashboard's alarm-status widget"),
            });
        }
    }
    for (what, names) in [("alarm", &ctx.alarm_names), ("rule", &ctx.rule_names)] {
        let mut seen = BTreeSet::new();
        for n in names {
            if !seen.insert(n) {
                problems.push(Problem {
                    file: "kit".into(),
                    at: String::new(),
                    message: format!("{what} name {n:?} is used twice"),
                });
            }
        }
    }
    problems
}

/// The dashboards show everything the proxy emits: each catalog metric under `[Service]`,
/// each extra dimension with every value it can take, and the per-IP deny dimension through
/// a Contributor Insights rule keyed on `source_ip` (a custom metric per attacker-chosen IP
/// would cost money; see SPEC "Metrics").
pub fn coverage(kit: &Rendered, ctx: &Context) -> Vec<Problem> {
    let mut problems = Vec::new();
    let refs: Vec<MetricRef> = kit
        .dashboards
        .iter()
        .flat_map(|d| dashboard_metrics(&d.body))
        .filter(|m| m.namespace == ctx.namespace)
        .collect();
    // The per-IP view is the same for every metric: a rule widget and a rule keyed on the IP.
    let rule_widget = kit
        .dashboards
        .iter()
        .any(|d| d.body.to_string().contains("\"insightRule\""));
    let rule_on_ip = kit.rules.iter().any(|r| {
        r.input
            .pointer("/RuleDefinition/Contribution/Keys")
            .and_then(Value::as_array)
            .is_some_and(|k| k.iter().any(|k| k == "$.source_ip"))
    });
    let mut missing = |message: String| {
        problems.push(Problem {
            file: "dashboards".into(),
            at: String::new(),
            message,
        })
    };
    for def in catalog::ALL {
        let of_metric: Vec<&MetricRef> = refs.iter().filter(|m| m.name == def.name).collect();
        if !of_metric.iter().any(|m| m.dimensions.len() == 1) {
            missing(format!(
                "the proxy emits {} under [Service] but no dashboard shows it",
                def.name
            ));
        }
        for dim in def.extra_dimensions {
            if *dim == catalog::SOURCE_IP {
                if !(rule_widget && rule_on_ip) {
                    missing(format!(
                        "{} by {dim} must be shown through a Contributor Insights rule keyed on $.source_ip and its dashboard widget",
                        def.name
                    ));
                }
                continue;
            }
            let with_dim: Vec<&str> = of_metric
                .iter()
                .flat_map(|m| m.dimensions.iter())
                .filter(|(k, _)| k == dim)
                .map(|(_, v)| v.as_str())
                .collect();
            if with_dim.is_empty() {
                missing(format!(
                    "the proxy emits {} by {dim} but no dashboard shows it",
                    def.name
                ));
            }
            for v in dimension_values(def.name, dim).unwrap_or_default() {
                if !with_dim.contains(&v) {
                    missing(format!(
                        "the proxy emits {} with {dim}={v} but no dashboard shows it",
                        def.name
                    ));
                }
            }
        }
    }
    problems
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

    #[test]
    fn dot_repeats_the_previous_row() {
        let body = serde_json::json!({"widgets": [{"properties": {"metrics": [
            ["NS", "A", "Service", "s"], [".", "B", ".", "."]
        ]}}]});
        let refs = dashboard_metrics(&body);
        assert_eq!(refs[1].namespace, "NS");
        assert_eq!(
            refs[1].dimensions,
            vec![("Service".to_owned(), "s".to_owned())]
        );
    }
}
