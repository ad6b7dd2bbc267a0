//! Sending a rendered kit to CloudWatch: PutInsightRule, then PutMetricAlarm, then
//! PutDashboard (alarms can name the rule, the dashboard shows both).
//!
//! Apply is idempotent twice over: every Put overwrites, and before putting it reads what is
//! there (DescribeInsightRules, DescribeAlarms, GetDashboard) and skips what already matches,
//! so a second run sends no Put at all. `dry_run` stops after the reads. It owns the mapping
//! from the kit's JSON to SDK requests and must never validate, render or delete anything:
//! resources the kit no longer has are left for the operator.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudwatch::operation::get_dashboard::GetDashboardError;
use aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmInput;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat,
    StandardUnit, Statistic, Tag,
};
use serde_json::{Value, json};

use crate::Error;
use crate::alarm_input::{self as typed, AlarmInput};
use crate::render::Rendered;

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

/// What apply did (or, dry, would do) to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    Unchanged,
}

/// One resource's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// `insight-rule`, `alarm` or `dashboard`.
    pub kind: &'static str,
    pub name: String,
    pub change: Change,
    /// Warnings CloudWatch returned (dashboard validation messages).
    pub notes: Vec<String>,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.change {
            Change::Create => "create",
            Change::Update => "update",
            Change::Unchanged => "unchanged",
        };
        write!(f, "{verb:9} {:12} {}", self.kind, self.name)?;
        for n in &self.notes {
            write!(f, "\n          warning: {n}")?;
        }
        Ok(())
    }
}

fn sdk_error<E: std::error::Error + 'static>(what: &str, e: E) -> Error {
    Error(format!("{what}: {}", DisplayErrorContext(e)))
}

/// Applies the kit: rules, alarms, dashboards, each only if it differs from what exists.
pub async fn apply(client: &Client, kit: &Rendered, dry_run: bool) -> Result<Vec<Action>, Error> {
    let mut actions = Vec::new();

    let existing_rules = describe_rules(client).await?;
    for rule in &kit.rules {
        let name = str_field(&rule.input, "RuleName")?;
        let state = str_field(&rule.input, "RuleState")?;
        let definition = rule_definition(&rule.input)?;
        let change = match existing_rules.get(&name) {
            None => Change::Create,
            Some((s, d))
                if *s == state
                    && serde_json::from_str::<Value>(d).ok().as_ref()
                        == rule.input.get("RuleDefinition") =>
            {
                Change::Unchanged
            }
            Some(_) => Change::Update,
        };
        if change != Change::Unchanged && !dry_run {
            client
                .put_insight_rule()
                .rule_name(&name)
                .rule_state(&state)
                .rule_definition(definition)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("PutInsightRule {name}"), e))?;
        }
        actions.push(Action {
            kind: "insight-rule",
            name,
            change,
            notes: Vec::new(),
        });
    }

    let names = kit.alarm_names();
    let existing_alarms = describe_alarms(client, &names).await?;
    for alarm in &kit.alarms {
        let typed = parse_alarm(&alarm.input)?;
        let input = fill_alarm!(PutMetricAlarmInput::builder(), &typed)
            .build()
            .map_err(|e| Error(format!("alarm input: {e}")))?;
        let name = input.alarm_name().unwrap_or_default().to_owned();
        let change = match existing_alarms.get(&name) {
            None => Change::Create,
            Some(current)
                if normalize_alarm(&metric_alarm_json(current))
                    == normalize_alarm(&alarm_input_json(&input)) =>
            {
                Change::Unchanged
            }
            Some(_) => Change::Update,
        };
        if change != Change::Unchanged && !dry_run {
            fill_alarm!(client.put_metric_alarm(), &typed)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("PutMetricAlarm {name}"), e))?;
        }
        actions.push(Action {
            kind: "alarm",
            name,
            change,
            notes: Vec::new(),
        });
    }

    for dashboard in &kit.dashboards {
        let name = dashboard.name.clone();
        let change = match client.get_dashboard().dashboard_name(&name).send().await {
            Ok(out) => {
                let current: Option<Value> = out
                    .dashboard_body()
                    .and_then(|b| serde_json::from_str(b).ok());
                if current.as_ref() == Some(&dashboard.body) {
                    Change::Unchanged
                } else {
                    Change::Update
                }
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(GetDashboardError::DashboardNotFoundError(_))
                ) || e.code() == Some("ResourceNotFound") =>
            {
                Change::Create
            }
            Err(e) => return Err(sdk_error(&format!("GetDashboard {name}"), e)),
        };
        let mut notes = Vec::new();
        if change != Change::Unchanged && !dry_run {
            let out = client
                .put_dashboard()
                .dashboard_name(&name)
                .dashboard_body(dashboard.body.to_string())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("PutDashboard {name}"), e))?;
            notes = out
                .dashboard_validation_messages()
                .iter()
                .map(|m| {
                    format!(
                        "{}: {}",
                        m.data_path().unwrap_or_default(),
                        m.message().unwrap_or_default()
                    )
                })
                .collect();
        }
        actions.push(Action {
            kind: "dashboard",
            name,
            change,
            notes,
        });
    }
    Ok(actions)
}

fn str_field(v: &Value, key: &str) -> Result<String, Error> {
    text(v, key).ok_or_else(|| Error(format!("{key} missing")))
}

/// The rule definition as the string PutInsightRule wants (compact JSON).
pub fn rule_definition(input: &Value) -> Result<String, Error> {
    input
        .get("RuleDefinition")
        .filter(|d| d.is_object())
        .map(Value::to_string)
        .ok_or_else(|| Error("RuleDefinition missing".into()))
}

async fn describe_rules(client: &Client) -> Result<BTreeMap<String, (String, String)>, Error> {
    let mut rules = BTreeMap::new();
    let mut token = None;
    loop {
        let out = client
            .describe_insight_rules()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeInsightRules", e))?;
        for r in out.insight_rules() {
            if let (Some(name), Some(state), Some(def)) = (r.name(), r.state(), r.definition()) {
                rules.insert(name.to_owned(), (state.to_owned(), def.to_owned()));
            }
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(rules);
        }
    }
}

async fn describe_alarms(
    client: &Client,
    names: &[String],
) -> Result<BTreeMap<String, MetricAlarm>, Error> {
    let mut alarms = BTreeMap::new();
    for chunk in names.chunks(100) {
        let mut token = None;
        loop {
            let out = client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error("DescribeAlarms", e))?;
            for a in out.metric_alarms() {
                if let Some(name) = a.alarm_name() {
                    alarms.insert(name.to_owned(), a.clone());
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(alarms)
}

/// A count or period as the SDK wants it (`None` when it does not fit, as before any
/// check: `validate` reports such values).
fn int(n: Option<i64>) -> Option<i32> {
    n.and_then(|n| i32::try_from(n).ok())
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
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
fn parse_alarm(v: &Value) -> Result<AlarmInput, Error> {
    serde_json::from_value(v.clone()).map_err(|e| Error(format!("alarm input: {e}")))
}

/// The PutMetricAlarm input apply sends for one alarm file.
pub fn alarm_input(v: &Value) -> Result<PutMetricAlarmInput, Error> {
    fill_alarm!(PutMetricAlarmInput::builder(), &parse_alarm(v)?)
        .build()
        .map_err(|e| Error(format!("alarm input: {e}")))
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
