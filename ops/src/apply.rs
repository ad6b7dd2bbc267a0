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
use serde_json::{Map, Value, json};

use crate::Error;
use crate::render::Rendered;

/// Sets every PutMetricAlarm field from the kit's JSON on a builder (the fluent one that
/// sends, or the input builder tests and comparisons use: both have the same setters).
macro_rules! fill_alarm {
    ($builder:expr, $v:expr) => {{
        let v: &Value = $v;
        $builder
            .set_alarm_name(text(v, "AlarmName"))
            .set_alarm_description(text(v, "AlarmDescription"))
            .set_actions_enabled(v.get("ActionsEnabled").and_then(Value::as_bool))
            .set_ok_actions(strings(v, "OKActions"))
            .set_alarm_actions(strings(v, "AlarmActions"))
            .set_insufficient_data_actions(strings(v, "InsufficientDataActions"))
            .set_metric_name(text(v, "MetricName"))
            .set_namespace(text(v, "Namespace"))
            .set_statistic(text(v, "Statistic").map(|s| Statistic::from(s.as_str())))
            .set_extended_statistic(text(v, "ExtendedStatistic"))
            .set_dimensions(dimensions(v))
            .set_period(int(v, "Period"))
            .set_unit(text(v, "Unit").map(|u| StandardUnit::from(u.as_str())))
            .set_evaluation_periods(int(v, "EvaluationPeriods"))
            .set_datapoints_to_alarm(int(v, "DatapointsToAlarm"))
            .set_threshold(v.get("Threshold").and_then(Value::as_f64))
            .set_comparison_operator(
                text(v, "ComparisonOperator").map(|c| ComparisonOperator::from(c.as_str())),
            )
            .set_treat_missing_data(text(v, "TreatMissingData"))
            .set_evaluate_low_sample_count_percentile(text(v, "EvaluateLowSampleCountPercentile"))
            .set_metrics(queries(v))
            .set_tags(tags(v))
            .set_threshold_metric_id(text(v, "ThresholdMetricId"))
    }};
}

/// Reads an alarm (a PutMetricAlarm input or a described MetricAlarm: same getters) back
/// into the kit's JSON shape.
macro_rules! alarm_json {
    ($a:expr) => {{
        let a = $a;
        let mut m = Map::new();
        insert(&mut m, "AlarmName", a.alarm_name());
        insert(&mut m, "AlarmDescription", a.alarm_description());
        insert(&mut m, "ActionsEnabled", a.actions_enabled());
        insert(&mut m, "OKActions", array(a.ok_actions(), |s| json!(s)));
        insert(
            &mut m,
            "AlarmActions",
            array(a.alarm_actions(), |s| json!(s)),
        );
        insert(
            &mut m,
            "InsufficientDataActions",
            array(a.insufficient_data_actions(), |s| json!(s)),
        );
        insert(&mut m, "MetricName", a.metric_name());
        insert(&mut m, "Namespace", a.namespace());
        insert(&mut m, "Statistic", a.statistic().map(|s| s.as_str()));
        insert(&mut m, "ExtendedStatistic", a.extended_statistic());
        insert(&mut m, "Dimensions", dimensions_json(a.dimensions()));
        insert(&mut m, "Period", a.period());
        insert(&mut m, "Unit", a.unit().map(|u| u.as_str()));
        insert(&mut m, "EvaluationPeriods", a.evaluation_periods());
        insert(&mut m, "DatapointsToAlarm", a.datapoints_to_alarm());
        insert(&mut m, "Threshold", a.threshold());
        insert(
            &mut m,
            "ComparisonOperator",
            a.comparison_operator().map(|c| c.as_str()),
        );
        insert(&mut m, "TreatMissingData", a.treat_missing_data());
        insert(
            &mut m,
            "EvaluateLowSampleCountPercentile",
            a.evaluate_low_sample_count_percentile(),
        );
        insert(&mut m, "Metrics", queries_json(a.metrics()));
        insert(&mut m, "ThresholdMetricId", a.threshold_metric_id());
        Value::Object(m)
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
        let input = alarm_input(&alarm.input)?;
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
            fill_alarm!(client.put_metric_alarm(), &alarm.input)
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

fn strings(v: &Value, key: &str) -> Option<Vec<String>> {
    v.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    })
}

fn int(v: &Value, key: &str) -> Option<i32> {
    v.get(key)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Each element of the array at `key`, mapped by `item` (`None` when there is no array).
fn list<T>(v: &Value, key: &str, item: impl Fn(&Value) -> T) -> Option<Vec<T>> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(item).collect())
}

fn dimensions(v: &Value) -> Option<Vec<Dimension>> {
    list(v, "Dimensions", |d| {
        Dimension::builder()
            .set_name(text(d, "Name"))
            .set_value(text(d, "Value"))
            .build()
    })
}

fn tags(v: &Value) -> Option<Vec<Tag>> {
    list(v, "Tags", |t| {
        Tag::builder()
            .set_key(text(t, "Key"))
            .set_value(text(t, "Value"))
            .build()
    })
}

fn queries(v: &Value) -> Option<Vec<MetricDataQuery>> {
    list(v, "Metrics", |q| {
        let stat = q.get("MetricStat").map(|s| {
            let m = s.get("Metric").unwrap_or(&Value::Null);
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .set_namespace(text(m, "Namespace"))
                        .set_metric_name(text(m, "MetricName"))
                        .set_dimensions(dimensions(m))
                        .build(),
                )
                .set_period(int(s, "Period"))
                .set_stat(text(s, "Stat"))
                .set_unit(text(s, "Unit").map(|u| StandardUnit::from(u.as_str())))
                .build()
        });
        MetricDataQuery::builder()
            .set_id(text(q, "Id"))
            .set_metric_stat(stat)
            .set_expression(text(q, "Expression"))
            .set_label(text(q, "Label"))
            .set_return_data(q.get("ReturnData").and_then(Value::as_bool))
            .set_period(int(q, "Period"))
            .set_account_id(text(q, "AccountId"))
            .build()
    })
}

/// The PutMetricAlarm input apply sends for one alarm file.
pub fn alarm_input(v: &Value) -> Result<PutMetricAlarmInput, Error> {
    fill_alarm!(PutMetricAlarmInput::builder(), v)
        .build()
        .map_err(|e| Error(format!("alarm input: {e}")))
}

fn insert<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        m.insert(key.to_owned(), v.into());
    }
}

/// A list as a JSON array, or nothing when it is empty (the SDK reads an unset list as
/// empty, so the two must compare equal).
fn array<T>(items: &[T], item: impl Fn(&T) -> Value) -> Option<Value> {
    (!items.is_empty()).then(|| items.iter().map(item).collect())
}

fn dimensions_json(d: &[Dimension]) -> Option<Value> {
    array(d, |d| json!({"Name": d.name(), "Value": d.value()}))
}

fn queries_json(q: &[MetricDataQuery]) -> Option<Value> {
    array(q, |q| {
        let mut m = Map::new();
        insert(&mut m, "Id", q.id());
        if let Some(s) = q.metric_stat() {
            let mut metric = Map::new();
            if let Some(x) = s.metric() {
                insert(&mut metric, "Namespace", x.namespace());
                insert(&mut metric, "MetricName", x.metric_name());
                insert(&mut metric, "Dimensions", dimensions_json(x.dimensions()));
            }
            let mut stat = Map::new();
            stat.insert("Metric".into(), Value::Object(metric));
            insert(&mut stat, "Period", s.period());
            insert(&mut stat, "Stat", s.stat());
            insert(&mut stat, "Unit", s.unit().map(|u| u.as_str()));
            m.insert("MetricStat".into(), Value::Object(stat));
        }
        insert(&mut m, "Expression", q.expression());
        insert(&mut m, "Label", q.label());
        insert(&mut m, "ReturnData", q.return_data());
        insert(&mut m, "Period", q.period());
        insert(&mut m, "AccountId", q.account_id());
        Value::Object(m)
    })
}

/// A PutMetricAlarm input as the kit's JSON (tags left out: they are not compared).
pub fn alarm_input_json(input: &PutMetricAlarmInput) -> Value {
    alarm_json!(input)
}

/// A described alarm as the kit's JSON.
pub fn metric_alarm_json(alarm: &MetricAlarm) -> Value {
    alarm_json!(alarm)
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
