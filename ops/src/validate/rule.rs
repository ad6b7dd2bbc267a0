//! The Contributor Insights rule checker: one PutInsightRule input at a time (its
//! RuleDefinition as a JSON object): name, state, schema, log groups, format, keys, filters
//! and aggregation.
//!
//! It must never check whether a dashboard shows the rule (that is [`super::kit_wide`]) and
//! never sends or changes a rule.

use serde_json::Value;

use super::{Problem, Report};

/// One PutInsightRule input (RuleDefinition as an object).
pub fn insight_rule(file: &str, input: &Value) -> Vec<Problem> {
    let mut r = Report::of(file, input);
    if input
        .get("RuleName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        r.add("RuleName", "required");
    }
    if !matches!(
        input.get("RuleState").and_then(Value::as_str),
        Some("ENABLED" | "DISABLED")
    ) {
        r.add("RuleState", "ENABLED or DISABLED");
    }
    let Some(def) = input.get("RuleDefinition").filter(|d| d.is_object()) else {
        r.add(
            "RuleDefinition",
            "required, as a JSON object (the tool sends it as the string the API wants)",
        );
        return r.problems;
    };
    if def.get("Schema") != Some(&serde_json::json!({"Name": "CloudWatchLogRule", "Version": 1})) {
        r.add(
            "RuleDefinition.Schema",
            "must be {\"Name\": \"CloudWatchLogRule\", \"Version\": 1}",
        );
    }
    if def
        .get("LogGroupNames")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        r.add("RuleDefinition.LogGroupNames", "required, non-empty");
    }
    if !matches!(
        def.get("LogFormat").and_then(Value::as_str),
        Some("JSON" | "CLF")
    ) {
        r.add("RuleDefinition.LogFormat", "JSON or CLF");
    }
    let keys = def
        .pointer("/Contribution/Keys")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if keys.is_empty() || keys.len() > 4 {
        r.add("RuleDefinition.Contribution.Keys", "1 to 4 keys");
    }
    for (i, k) in keys.iter().enumerate() {
        if !k.as_str().is_some_and(|k| k.starts_with("$.")) {
            r.add(
                format!("RuleDefinition.Contribution.Keys[{i}]"),
                "a JSON path like $.source_ip",
            );
        }
    }
    for (i, f) in def
        .pointer("/Contribution/Filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !f
            .get("Match")
            .and_then(Value::as_str)
            .is_some_and(|m| m.starts_with("$."))
        {
            r.add(
                format!("RuleDefinition.Contribution.Filters[{i}].Match"),
                "a JSON path like $.decision",
            );
        }
    }
    match def.get("AggregateOn").and_then(Value::as_str) {
        Some("Count") => {}
        Some("Sum") if def.pointer("/Contribution/ValueOf").is_some() => {}
        _ => r.add(
            "RuleDefinition.AggregateOn",
            "Count, or Sum with Contribution.ValueOf",
        ),
    }
    r.problems
}
