//! Rendering: the kit with every `${Name}` placeholder filled from one deployment's
//! [`Values`]; which parameters exist and where their values come from is [`params`].
//!
//! Placeholders use CloudFormation `Fn::Sub` syntax so the same files feed both `apply` and
//! the generated template. Rendering substitutes text inside JSON strings (values are
//! JSON-escaped, file order is kept) and then parses the result. It must never decide a value
//! (a placeholder without one is left for validation to report) and never touches AWS.

pub mod params;

use std::collections::BTreeSet;

use serde_json::{Value, json};

pub use self::params::{Missing, PARAMS, Param, Values, env_var, kebab, known_param, param};
use crate::Error;
use crate::kit::{Kind, Kit};

/// Every `${Name}` in `text`, in order of first appearance.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        rest = &after[end + 1..];
    }
    names
}

pub(crate) fn substitute_with(
    text: &str,
    values: &Values,
    escape: impl Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match values.get(name) {
            Some(v) => out.push_str(&escape(v)),
            None => {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Replaces every `${Name}` that has a value, JSON-escaping the value (placeholders only
/// ever stand inside JSON strings). Unknown or unset names are left as they are, for
/// validation to report.
pub fn substitute(text: &str, values: &Values) -> String {
    substitute_with(text, values, |v| {
        let quoted = Value::String(v.to_owned()).to_string();
        quoted[1..quoted.len() - 1].to_owned()
    })
}

/// Every placeholder the kit uses, plus `DashboardName` (dashboards are named with it).
pub fn needed(kit: &Kit) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = kit
        .sources
        .iter()
        .flat_map(|s| placeholders(&s.text))
        .collect();
    names.insert("DashboardName".to_owned());
    names
}

/// A dashboard ready for PutDashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub path: String,
    pub name: String,
    /// The rendered file text (order and layout of the source kept).
    pub text: String,
    pub body: Value,
}

/// An alarm ready for PutMetricAlarm, or a rule for PutInsightRule.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub path: String,
    pub text: String,
    pub input: Value,
}

/// The whole kit for one deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub dashboards: Vec<Dashboard>,
    pub alarms: Vec<Item>,
    pub rules: Vec<Item>,
}

impl Rendered {
    /// One JSON document with everything: what `render` prints.
    pub fn to_json(&self) -> Value {
        json!({
            "Dashboards": self.dashboards.iter().map(|d| json!({"DashboardName": d.name, "DashboardBody": d.body})).collect::<Vec<_>>(),
            "MetricAlarms": self.alarms.iter().map(|a| a.input.clone()).collect::<Vec<_>>(),
            "InsightRules": self.rules.iter().map(|r| r.input.clone()).collect::<Vec<_>>(),
        })
    }

    /// Names of the alarms, in file order.
    pub fn alarm_names(&self) -> Vec<String> {
        names(&self.alarms, "AlarmName")
    }

    /// Names of the Contributor Insights rules, in file order.
    pub fn rule_names(&self) -> Vec<String> {
        names(&self.rules, "RuleName")
    }
}

/// The string `key` of each item that has one, in order.
fn names(items: &[Item], key: &str) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.input.get(key)?.as_str().map(str::to_owned))
        .collect()
}

/// The dashboard name for `dashboards/<stem>.json`: `base` (the `DashboardName` value) for
/// the main dashboard, `<base>-<stem>` for any other.
pub fn dashboard_name(stem: &str, base: &str) -> String {
    if stem == "vpc-proxy" {
        base.to_owned()
    } else {
        format!("{base}-{stem}")
    }
}

/// Fills every placeholder of every file and parses the results.
pub fn kit(kit: &Kit, values: &Values) -> Result<Rendered, Error> {
    let mut out = Rendered::default();
    for source in &kit.sources {
        let text = substitute(&source.text, values);
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            Error(format!(
                "{}: not valid JSON after rendering: {e}",
                source.path
            ))
        })?;
        let item = Item {
            path: source.path.clone(),
            text,
            input: value,
        };
        match source.kind {
            Kind::Dashboard => out.dashboards.push(Dashboard {
                name: dashboard_name(
                    source.stem(),
                    values.get("DashboardName").unwrap_or("vpc-proxy"),
                ),
                path: item.path,
                text: item.text,
                body: item.input,
            }),
            Kind::Alarm => out.alarms.push(item),
            Kind::InsightRule => out.rules.push(item),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders_once_each() {
        assert_eq!(placeholders("a ${X} b ${Y}${X} ${"), vec!["X", "Y"]);
    }

    #[test]
    fn substitution_escapes_for_json_and_leaves_unknown_names() {
        let mut v = Values::default();
        v.set("Service", "a\"b").unwrap();
        assert_eq!(
            substitute(r#"{"s": "${Service}-${Nope}"}"#, &v),
            r#"{"s": "a\"b-${Nope}"}"#
        );
    }
}
