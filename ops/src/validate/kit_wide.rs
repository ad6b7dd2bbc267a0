//! The kit-wide cross-checks: what holds only across files. Every alarm is on an
//! alarm-status widget, alarm and rule names are unique, and the dashboards together show
//! every metric and dimension value the proxy emits (per-IP denies through the Contributor
//! Insights rule).
//!
//! It must never repeat a per-file check (those are the other files of this module) and
//! reads the proxy's metrics only from the catalog.

use std::collections::BTreeSet;

use serde_json::Value;
use vpc_proxy::telemetry::catalog;

use super::dashboard::{alarm_name, dashboard_metrics, widgets};
use super::metrics::{MetricRef, dimension_values};
use super::{Context, Problem};
use crate::render::Rendered;

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
/// would cost money).
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
