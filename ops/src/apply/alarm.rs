//! The alarm files as PutMetricAlarm speaks them: the kit's JSON as the typed
//! [`AlarmInput`], that as the SDK's request (to send or to compare), a described
//! `MetricAlarm` back as the kit's JSON, and what CloudWatch fills in by default dropped so
//! the two compare equal.
//!
//! It owns the field-by-field mapping between the kit and the SDK and the notion of "the same
//! alarm". It must never send a request (building one is fine: [`super`] sends it), validate
//! or render.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmInput;
use aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, StandardUnit,
    Statistic, Tag,
};
use serde_json::{Value, json};

use crate::Error;
use crate::alarm_input::{self as typed, AlarmInput};

/// Sets every PutMetricAlarm field of an [`AlarmInput`] on a builder (the fluent one that
/// sends, or the input builder tests and comparisons use: both have the same setters).
macro_rules! fill_alarm {
    ($builder:expr, $a:expr) => {{
        let a: &AlarmInput = $a;
        $builder
            .set_alarm_name(a.alarm_name.clone())
            .set_alarm_description(a.alarm_description.clone())
            .set_actions_enabled(a.actions_enabled)
            .set_ok_actions(a.ok_actions.clone())
            .set_alarm_actions(a.alarm_actions.clone())
            .set_insufficient_data_actions(a.insufficient_data_actions.clone())
            .set_metric_name(a.metric_name.clone())
            .set_namespace(a.namespace.clone())
            .set_statistic(a.statistic.as_deref().map(Statistic::from))
            .set_extended_statistic(a.extended_statistic.clone())
            .set_dimensions(dimensions(a.dimensions.as_deref()))
            .set_period(int(a.period))
            .set_unit(a.unit.as_deref().map(StandardUnit::from))
            .set_evaluation_periods(int(a.evaluation_periods))
            .set_datapoints_to_alarm(int(a.datapoints_to_alarm))
            .set_threshold(a.threshold)
            .set_comparison_operator(
                a.comparison_operator
                    .as_deref()
                    .map(ComparisonOperator::from),
            )
            .set_treat_missing_data(a.treat_missing_data.clone())
            .set_evaluate_low_sample_count_percentile(
                a.evaluate_low_sample_count_percentile.clone(),
            )
            .set_metrics(queries(a.metrics.as_deref()))
            .set_tags(tags(a.tags.as_deref()))
            .set_threshold_metric_id(a.threshold_metric_id.clone())
    }};
}

/// Reads an alarm (a PutMetricAlarm input or a described MetricAlarm: same getters) back
/// into an [`AlarmInput`] (tags left out: a described alarm has none, they are not compared).
macro_rules! alarm_of {
    ($a:expr) => {{
        let a = $a;
        AlarmInput {
            alarm_name: a.alarm_name().map(str::to_owned),
            alarm_description: a.alarm_description().map(str::to_owned),
            actions_enabled: a.actions_enabled(),
            ok_actions: owned_list(a.ok_actions()),
            alarm_actions: owned_list(a.alarm_actions()),
            insufficient_data_actions: owned_list(a.insufficient_data_actions()),
            metric_name: a.metric_name().map(str::to_owned),
            namespace: a.namespace().map(str::to_owned),
            statistic: a.statistic().map(|s| s.as_str().to_owned()),
            extended_statistic: a.extended_statistic().map(str::to_owned),
            dimensions: dimensions_of(a.dimensions()),
            period: a.period().map(i64::from),
            unit: a.unit().map(|u| u.as_str().to_owned()),
            evaluation_periods: a.evaluation_periods().map(i64::from),
            datapoints_to_alarm: a.datapoints_to_alarm().map(i64::from),
            threshold: a.threshold(),
            comparison_operator: a.comparison_operator().map(|c| c.as_str().to_owned()),
            treat_missing_data: a.treat_missing_data().map(str::to_owned),
            evaluate_low_sample_count_percentile: a
                .evaluate_low_sample_count_percentile()
                .map(str::to_owned),
            metrics: queries_of(a.metrics()),
            tags: None,
            threshold_metric_id: a.threshold_metric_id().map(str::to_owned),
        }
    }};
}

/// The PutMetricAlarm request for an alarm, ready to send.
pub(super) fn request(client: &Client, a: &AlarmInput) -> PutMetricAlarmFluentBuilder {
    fill_alarm!(client.put_metric_alarm(), a)
}

/// The PutMetricAlarm input for an alarm, as sent (to name and compare it).
pub(super) fn input(a: &AlarmInput) -> Result<PutMetricAlarmInput, Error> {
    fill_alarm!(PutMetricAlarmInput::builder(), a)
        .build()
        .map_err(|e| Error(format!("alarm input: {e}")))
}

/// Is the described alarm the one this input would make?
pub(super) fn unchanged(current: &MetricAlarm, input: &PutMetricAlarmInput) -> bool {
    normalize_alarm(&metric_alarm_json(current)) == normalize_alarm(&alarm_input_json(input))
}

/// A count or period as the SDK wants it (`None` when it does not fit, as before any
/// check: `validate` reports such values).
fn int(n: Option<i64>) -> Option<i32> {
    n.and_then(|n| i32::try_from(n).ok())
}

fn dimensions(d: Option<&[typed::Dimension]>) -> Option<Vec<Dimension>> {
    d.map(|d| {
        d.iter()
            .map(|d| {
                Dimension::builder()
                    .set_name(d.name.clone())
                    .set_value(d.value.clone())
                    .build()
            })
            .collect()
    })
}

fn tags(t: Option<&[typed::Tag]>) -> Option<Vec<Tag>> {
    t.map(|t| {
        t.iter()
            .map(|t| {
                Tag::builder()
                    .set_key(t.key.clone())
                    .set_value(t.value.clone())
                    .build()
            })
            .collect()
    })
}

fn queries(q: Option<&[typed::Query]>) -> Option<Vec<MetricDataQuery>> {
    q.map(|q| {
        q.iter()
            .map(|q| {
                let stat = q.metric_stat.as_ref().map(|s| {
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .set_namespace(s.metric.namespace.clone())
                                .set_metric_name(s.metric.metric_name.clone())
                                .set_dimensions(dimensions(s.metric.dimensions.as_deref()))
                                .build(),
                        )
                        .set_period(int(s.period))
                        .set_stat(s.stat.clone())
                        .set_unit(s.unit.as_deref().map(StandardUnit::from))
                        .build()
                });
                MetricDataQuery::builder()
                    .set_id(q.id.clone())
                    .set_metric_stat(stat)
                    .set_expression(q.expression.clone())
                    .set_label(q.label.clone())
                    .set_return_data(q.return_data)
                    .set_period(int(q.period))
                    .set_account_id(q.account_id.clone())
                    .build()
            })
            .collect()
    })
}

/// An alarm file as the typed input, refusing fields PutMetricAlarm does not have.
pub(super) fn parse_alarm(v: &Value) -> Result<AlarmInput, Error> {
    serde_json::from_value(v.clone()).map_err(|e| Error(format!("alarm input: {e}")))
}

/// The PutMetricAlarm input apply sends for one alarm file.
pub fn alarm_input(v: &Value) -> Result<PutMetricAlarmInput, Error> {
    input(&parse_alarm(v)?)
}

/// A list, or nothing when it is empty (the SDK reads an unset list as empty, so the two
/// must compare equal).
fn owned_list(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn dimensions_of(d: &[Dimension]) -> Option<Vec<typed::Dimension>> {
    (!d.is_empty()).then(|| {
        d.iter()
            .map(|d| typed::Dimension {
                name: d.name().map(str::to_owned),
                value: d.value().map(str::to_owned),
            })
            .collect()
    })
}

fn queries_of(q: &[MetricDataQuery]) -> Option<Vec<typed::Query>> {
    (!q.is_empty()).then(|| {
        q.iter()
            .map(|q| typed::Query {
                id: q.id().map(str::to_owned),
                metric_stat: q.metric_stat().map(|s| typed::MetricStat {
                    metric: s
                        .metric()
                        .map(|m| typed::Metric {
                            namespace: m.namespace().map(str::to_owned),
                            metric_name: m.metric_name().map(str::to_owned),
                            dimensions: dimensions_of(m.dimensions()),
                        })
                        .unwrap_or_default(),
                    period: s.period().map(i64::from),
                    stat: s.stat().map(str::to_owned),
                    unit: s.unit().map(|u| u.as_str().to_owned()),
                }),
                expression: q.expression().map(str::to_owned),
                label: q.label().map(str::to_owned),
                return_data: q.return_data(),
                period: q.period().map(i64::from),
                account_id: q.account_id().map(str::to_owned),
            })
            .collect()
    })
}

/// An alarm as the kit's JSON.
fn alarm_json(a: &AlarmInput) -> Value {
    // Serializing plain strings, numbers and lists cannot fail; Null would only compare
    // unequal and make apply put again.
    serde_json::to_value(a).unwrap_or(Value::Null)
}

/// A PutMetricAlarm input as the kit's JSON (tags left out: they are not compared).
pub fn alarm_input_json(input: &PutMetricAlarmInput) -> Value {
    alarm_json(&alarm_of!(input))
}

/// A described alarm as the kit's JSON.
pub fn metric_alarm_json(alarm: &MetricAlarm) -> Value {
    alarm_json(&alarm_of!(alarm))
}

/// Drops what CloudWatch fills in by default, so a described alarm equals the input that
/// made it. When in doubt the two differ, and apply puts again: harmless.
pub fn normalize_alarm(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        if m.get("ActionsEnabled") == Some(&Value::Bool(true)) {
            m.remove("ActionsEnabled");
        }
        if m.get("TreatMissingData").and_then(Value::as_str) == Some("missing") {
            m.remove("TreatMissingData");
        }
        if m.get("DatapointsToAlarm").is_some()
            && m.get("DatapointsToAlarm") == m.get("EvaluationPeriods")
        {
            m.remove("DatapointsToAlarm");
        }
        if let Some(t) = m.get("Threshold").and_then(Value::as_f64) {
            m.insert("Threshold".into(), json!(t));
        }
        m.remove("Tags");
    }
    v
}
