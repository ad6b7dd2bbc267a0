//! Sending a rendered kit to CloudWatch: PutInsightRule, then PutMetricAlarm, then
//! PutDashboard (alarms can name the rule, the dashboard shows both).
//!
//! Apply is idempotent twice over: every Put overwrites, and before putting it reads what is
//! there (DescribeInsightRules, DescribeAlarms, GetDashboard) and skips what already matches,
//! so a second run sends no Put at all. `dry_run` stops after the reads. It owns the order of
//! the calls and the plan (create, update, unchanged); the alarms' mapping to and from the
//! SDK is [`alarm`]'s. It must never validate, render or delete anything: resources the kit
//! no longer has are left for the operator.

mod alarm;

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::operation::get_dashboard::GetDashboardError;
use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm};
use serde_json::Value;

pub use self::alarm::{alarm_input, alarm_input_json, metric_alarm_json, normalize_alarm};
use crate::Error;
use crate::render::Rendered;

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

/// A failed call as one sentence (what failed, the AWS code and message), never a debug dump.
fn sdk_error<E, R>(what: &str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    Error(crate::aws::sentence(what, &e))
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
        let typed = alarm::parse_alarm(&alarm.input)?;
        let input = alarm::input(&typed)?;
        let name = input.alarm_name().unwrap_or_default().to_owned();
        let change = match existing_alarms.get(&name) {
            None => Change::Create,
            Some(current) if alarm::unchanged(current, &input) => Change::Unchanged,
            Some(_) => Change::Update,
        };
        if change != Change::Unchanged && !dry_run {
            alarm::request(client, &typed)
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

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}
