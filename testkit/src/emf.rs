//! Reading captured telemetry back: split a sink's lines into summary lines and EMF documents,
//! total a metric over documents for one dimension set, and check a document against the EMF
//! specification (testkit/emf_schema.json's JSON Schema plus the rules a schema cannot say).
//!
//! It only reads and asserts; it must never rewrite what the proxy wrote, so a document that
//! CloudWatch would reject fails here as it is.

use serde_json::Value;

/// Checks one EMF document against the JSON Schema in testkit/emf_schema.json and the rules a
/// schema cannot express: every dimension a string root member, every metric a number or an
/// array of at most 100 numbers, at most 100 distinct metrics.
#[cfg(feature = "schema")]
pub fn assert_valid_emf(doc: &Value) {
    use std::sync::OnceLock;
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(include_str!("../emf_schema.json")).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    });
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "EMF schema errors {errors:?} in {doc}");
    let mut names = std::collections::HashSet::new();
    for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
        for set in directive["Dimensions"].as_array().unwrap() {
            for dimension in set.as_array().unwrap() {
                let key = dimension.as_str().unwrap();
                assert!(
                    doc[key].is_string(),
                    "dimension {key} is not a string root member: {doc}"
                );
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            names.insert(name.to_owned());
            match &doc[name] {
                Value::Number(_) => {}
                Value::Array(values) => {
                    assert!(
                        values.len() <= 100 && values.iter().all(Value::is_number),
                        "{name}: {doc}"
                    )
                }
                other => panic!("metric {name} is {other}, not a number: {doc}"),
            }
        }
    }
    assert!(names.len() <= 100, "{doc}");
}

/// Splits captured output into summary lines and EMF documents; every line must be JSON.
pub fn split_output(text: &str) -> (Vec<Value>, Vec<Value>) {
    let mut summaries = Vec::new();
    let mut documents = Vec::new();
    for line in text.lines() {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if value.get("_aws").is_some() {
            documents.push(value);
        } else if value["message"] == "invocation" {
            summaries.push(value);
        }
    }
    (summaries, documents)
}

/// Sum of a metric's values over documents, for one dimension set (`[]` = `[Service]` only).
pub fn metric_total(documents: &[Value], name: &str, extra_dimension: Option<&str>) -> f64 {
    let mut total = 0.0;
    for doc in documents {
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            let dims: Vec<&str> = directive["Dimensions"][0]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let wanted: Vec<&str> = std::iter::once("Service").chain(extra_dimension).collect();
            let listed = directive["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["Name"] == name);
            if dims == wanted && listed {
                total += match &doc[name] {
                    Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
                    v => v.as_f64().unwrap(),
                };
            }
        }
    }
    total
}
