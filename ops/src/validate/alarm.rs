//! The alarm checker: one PutMetricAlarm input at a time, read as an
//! [`AlarmInput`](crate::alarm_input::AlarmInput) (so the fields an input may have are that
//! type's). It owns what this kit requires beyond the API (a description, actions, an explicit
//! TreatMissingData, `evaluate` on percentile alarms), static and anomaly-band thresholds, the
//! metric-math queries, periods, and reading the metrics an alarm names.
//!
//! It must never judge a metric itself (that is [`super::metrics`]) and never sends or
//! changes an alarm.

use std::collections::BTreeSet;

use serde_json::Value;

use super::metrics::{MetricRef, check_expression, check_metric};
use super::{Context, Problem, Report};
use crate::alarm_input::{AlarmInput, Dimension, Query};

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

/// The metrics an alarm input names (single metric or `Metrics[].MetricStat`); none when
/// the value is not an alarm input.
pub fn alarm_metrics(input: &Value) -> Vec<MetricRef> {
    match AlarmInput::parse(input) {
        (_, Ok(a)) => metrics_of(&a),
        (_, Err(_)) => Vec::new(),
    }
}

fn metrics_of(a: &AlarmInput) -> Vec<MetricRef> {
    let mut out = Vec::new();
    if let (Some(ns), Some(name)) = (&a.namespace, &a.metric_name) {
        out.push(MetricRef {
            at: "MetricName".to_owned(),
            namespace: ns.clone(),
            name: name.clone(),
            dimensions: dimensions(a.dimensions.as_deref()),
            unit: a.unit.clone(),
        });
    }
    for (i, q) in a.metrics.iter().flatten().enumerate() {
        let Some(stat) = &q.metric_stat else {
            continue;
        };
        out.push(MetricRef {
            at: format!("Metrics[{i}].MetricStat"),
            namespace: stat.metric.namespace.clone().unwrap_or_default(),
            name: stat.metric.metric_name.clone().unwrap_or_default(),
            dimensions: dimensions(stat.metric.dimensions.as_deref()),
            unit: stat.unit.clone(),
        });
    }
    out
}

fn dimensions(d: Option<&[Dimension]>) -> Vec<(String, String)> {
    d.into_iter()
        .flatten()
        .map(|d| {
            (
                d.name.clone().unwrap_or_default(),
                d.value.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn period_ok(p: i64) -> bool {
    matches!(p, 10 | 20 | 30) || (p >= 60 && p % 60 == 0)
}

/// One PutMetricAlarm input.
pub fn alarm(file: &str, input: &Value, ctx: &Context) -> Vec<Problem> {
    let mut r = Report::of(file, input);
    if !input.is_object() {
        r.add(
            "",
            "an alarm file is one JSON object (PutMetricAlarm input)",
        );
        return r.problems;
    }
    let (unknown, parsed) = AlarmInput::parse(input);
    for k in unknown {
        r.add(k, "not a PutMetricAlarm input field");
    }
    match parsed {
        Ok(a) => check_alarm(&mut r, &a, ctx),
        Err(e) => r.add("", format!("not a PutMetricAlarm input: {e}")),
    }
    r.problems
}

fn check_alarm(r: &mut Report<'_>, a: &AlarmInput, ctx: &Context) {
    match a.alarm_name.as_deref() {
        Some(name) if !name.is_empty() && name.len() <= 255 => {}
        _ => r.add("AlarmName", "required, 1..=255 characters"),
    }
    match a.alarm_description.as_deref() {
        Some(d) if !d.is_empty() && d.len() <= 1024 => {}
        _ => r.add(
            "AlarmDescription",
            "required here (operators read it in the page), at most 1024 characters",
        ),
    }
    if a.alarm_actions.as_ref().is_none_or(Vec::is_empty) {
        r.add(
            "AlarmActions",
            "required: an alarm nobody hears is not an alarm",
        );
    }
    match a.treat_missing_data.as_deref() {
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
    let percentile = a
        .extended_statistic
        .as_deref()
        .is_some_and(|x| x.starts_with('p'));
    if percentile && a.evaluate_low_sample_count_percentile.as_deref() != Some("evaluate") {
        r.add(
            "EvaluateLowSampleCountPercentile",
            "a percentile alarm must set \"evaluate\": with \"ignore\" it freezes below 10/(1-p) samples a period",
        );
    }
    let evaluation = a.evaluation_periods;
    match evaluation {
        Some(e) if e >= 1 => {
            if let Some(d) = a.datapoints_to_alarm
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
    let operator = a.comparison_operator.as_deref().unwrap_or_default();
    let band = a.threshold_metric_id.as_deref();
    match band {
        Some(_) => {
            if !BAND_OPERATORS.contains(&operator) {
                r.add(
                    "ComparisonOperator",
                    format!("an anomaly-band alarm compares with one of {BAND_OPERATORS:?}"),
                );
            }
            if a.threshold.is_some() {
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
            if a.threshold.is_none() {
                r.add("Threshold", "required (a number)");
            }
        }
    }
    let mut period = None;
    match (a.metric_name.is_some(), a.metrics.as_deref()) {
        (true, Some(_)) => r.add("Metrics", "give MetricName or Metrics, not both"),
        (false, None) => r.add("MetricName", "required (or Metrics)"),
        (true, None) => {
            if a.namespace.is_none() {
                r.add("Namespace", "required with MetricName");
            }
            period = a.period;
            if period.is_none_or(|p| !period_ok(p)) {
                r.add("Period", "required: 10, 20, 30 or a multiple of 60");
            }
            match (a.statistic.as_deref(), a.extended_statistic.as_deref()) {
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
            for (k, set) in [
                ("Namespace", a.namespace.is_some()),
                ("Statistic", a.statistic.is_some()),
                ("ExtendedStatistic", a.extended_statistic.is_some()),
                ("Dimensions", a.dimensions.is_some()),
                ("Period", a.period.is_some()),
                ("Unit", a.unit.is_some()),
            ] {
                if set {
                    r.add(
                        k,
                        "belongs inside Metrics[].MetricStat for a metric-math alarm",
                    );
                }
            }
            period = check_queries(r, queries, band, ctx);
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
    for m in metrics_of(a) {
        check_metric(r, &m, ctx);
    }
}

fn check_queries(
    r: &mut Report<'_>,
    queries: &[Query],
    band: Option<&str>,
    ctx: &Context,
) -> Option<i64> {
    let mut ids = BTreeSet::new();
    let mut returned = Vec::new();
    let mut period = None;
    for (i, q) in queries.iter().enumerate() {
        let at = format!("Metrics[{i}]");
        let id = q.id.as_deref().unwrap_or_default();
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
        match q.return_data {
            None => r.add(
                format!("{at}.ReturnData"),
                "set it explicitly (true on the alarm's series, false elsewhere)",
            ),
            Some(true) => returned.push(id.to_owned()),
            Some(false) => {}
        }
        match (&q.metric_stat, &q.expression) {
            (Some(stat), None) => {
                if stat.period.is_none_or(|p| !period_ok(p)) {
                    r.add(
                        format!("{at}.MetricStat.Period"),
                        "required: 10, 20, 30 or a multiple of 60",
                    );
                }
                period = period.or(stat.period);
                if stat.stat.is_none() {
                    r.add(format!("{at}.MetricStat.Stat"), "required");
                }
                if stat.metric.metric_name.is_none() || stat.metric.namespace.is_none() {
                    r.add(
                        format!("{at}.MetricStat.Metric"),
                        "needs Namespace and MetricName",
                    );
                }
            }
            (None, Some(_)) => {
                period = period.or(q.period);
            }
            _ => r.add(&at, "exactly one of MetricStat or Expression"),
        }
    }
    for (i, q) in queries.iter().enumerate() {
        if let Some(expr) = &q.expression {
            check_expression(r, &format!("Metrics[{i}].Expression"), expr, &ids, ctx);
        }
    }
    match band {
        Some(band) => {
            let band_expr = queries.iter().find(|q| q.id.as_deref() == Some(band));
            if !band_expr
                .and_then(|q| q.expression.as_deref())
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
