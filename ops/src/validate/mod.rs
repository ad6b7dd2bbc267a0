//! Validation of a rendered kit: every placeholder filled, every metric one the proxy emits
//! (from `vpc_proxy::telemetry::catalog`) or one of AWS's own in `AWS/Lambda`,
//! `AWS/ApiGateway`, `AWS/Logs` or `AWS/WAFV2`, the dashboard grid within 24 columns, alarm and rule
//! inputs complete, cross-references (alarm widget, rule names) resolving, and the dashboard
//! showing every metric and dimension the proxy emits.
//!
//! This module owns the shared vocabulary (a [`Problem`], the [`Context`] the checks compare
//! against, the per-file report) and the order in which the checkers run; each checker lives in
//! its own file: [`dashboard`](mod@dashboard), [`alarm`](mod@alarm), [`rule`], the metric and
//! namespace tables in [`metrics`], and the kit-wide cross-checks in [`kit_wide`].
//!
//! It reads the catalog and never keeps a second list of the proxy's metrics. It reports
//! problems and must never change a document, call AWS or stop at the first problem.

use std::fmt;

use serde_json::Value;

use crate::render::{Rendered, Values};

pub mod alarm;
pub mod dashboard;
pub mod kit_wide;
pub mod metrics;
pub mod rule;

pub use alarm::{alarm, alarm_metrics};
pub use dashboard::{dashboard, dashboard_metrics};
pub use kit_wide::{coverage, cross_references};
pub use metrics::{AWS_METRICS, MetricRef};
pub use rule::insight_rule;

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
            namespace: values
                .get("Namespace")
                .unwrap_or(vpc_proxy::config::DEFAULT_NAMESPACE)
                .to_owned(),
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
