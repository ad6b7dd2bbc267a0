//! The dashboard checker: one CloudWatch dashboard body at a time. It owns the grid (24
//! columns, no overlaps, integer boxes), the widget types and what each kind needs (region,
//! metrics rows or an insight rule of the kit, alarm ARNs of the kit, a log query with
//! SOURCE, markdown), and reading the metric rows (with `"."` repeating the row above).
//!
//! It must never judge a metric itself (that is [`super::metrics`]) nor look at other files
//! of the kit beyond the names in the [`Context`].

use std::collections::BTreeSet;

use serde_json::Value;

use super::metrics::{MetricRef, check_expression, check_metric};
use super::{Context, Problem, Report};

/// The widgets of a dashboard body (none when it has no `widgets` array).
pub(super) fn widgets(body: &Value) -> &[Value] {
    body.get("widgets")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The alarm name in an alarm ARN (`arn:...:alarm:NAME`).
pub(super) fn alarm_name(arn: &str) -> Option<&str> {
    arn.split(":alarm:").nth(1)
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

#[cfg(test)]
mod tests {
    use super::*;

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
