//! The alarm checker: one PutMetricAlarm input at a time. It owns which fields an input may
//! have, what this kit requires beyond the API (a description, actions, an explicit
//! TreatMissingData, `evaluate` on percentile alarms), static and anomaly-band thresholds, the
//! metric-math queries, periods, and reading the metrics an alarm names.
//!
//! It must never judge a metric itself (that is [`super::metrics`]) and never sends or
//! changes an alarm.

use std::collections::BTreeSet;

use serde_json::Value;

use super::metrics::{MetricRef, check_expression, check_metric};
use super::{Context, Problem, Report};

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
