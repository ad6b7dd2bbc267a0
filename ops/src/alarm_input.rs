//! One PutMetricAlarm input as the kit writes it: a typed struct whose fields are the API's
//! own (PascalCase, as in the kit's JSON files) and which refuses any other field. It is the
//! one list of alarm fields: `validate` checks this type and `apply` sends it.
//!
//! It owns only the shape (names and JSON types). It must never judge values (that is
//! `validate::alarm`) nor know the SDK (that is `apply`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A PutMetricAlarm input. Every field is optional here: which ones are required is a
/// judgement `validate` makes and reports, all at once, rather than a parse error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AlarmInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions_enabled: Option<bool>,
    #[serde(rename = "OKActions", skip_serializing_if = "Option::is_none")]
    pub ok_actions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_actions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insufficient_data_actions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_statistic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Vec<Dimension>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_periods: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison_operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluate_low_sample_count_percentile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<Query>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_metric_id: Option<String>,
}

/// A metric dimension (`Name`, `Value`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Dimension {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A resource tag (`Key`, `Value`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Tag {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One entry of `Metrics` (a MetricDataQuery): a `MetricStat` or an `Expression`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Query {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_data: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// A query's metric, period, statistic and unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct MetricStat {
    #[serde(default)]
    pub metric: Metric,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// The metric a `MetricStat` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Metric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Vec<Dimension>>,
}

impl AlarmInput {
    /// The field names PutMetricAlarm takes, as the kit writes them: read from the type's
    /// own derive, so no second list exists.
    pub fn fields() -> &'static [&'static str] {
        let mut fields: &'static [&'static str] = &[];
        // The deserializer only records the names it is asked for and then refuses: the
        // error is expected and carries nothing.
        let _ = AlarmInput::deserialize(FieldNames(&mut fields));
        fields
    }

    /// Reads an alarm file's JSON: every top-level field PutMetricAlarm does not have, and
    /// then the input made of the rest (or why the rest is not one: a wrong JSON type, an
    /// unknown nested field, as serde words it).
    pub fn parse(v: &Value) -> (Vec<String>, Result<AlarmInput, String>) {
        let fields = AlarmInput::fields();
        let mut known = v.clone();
        let mut unknown = Vec::new();
        if let Some(m) = known.as_object_mut() {
            unknown = m
                .keys()
                .filter(|k| !fields.contains(&k.as_str()))
                .cloned()
                .collect();
            for k in &unknown {
                m.remove(k);
            }
        }
        let input = serde_json::from_value(known).map_err(|e| e.to_string());
        (unknown, input)
    }
}

/// A deserializer that only learns a struct's field names.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only struct field names are read"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("only struct field names are read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_the_put_metric_alarm_names() {
        let fields = AlarmInput::fields();
        assert_eq!(fields.len(), 22);
        for k in [
            "AlarmName",
            "OKActions",
            "EvaluateLowSampleCountPercentile",
            "ThresholdMetricId",
        ] {
            assert!(fields.contains(&k), "{k} missing from {fields:?}");
        }
    }

    #[test]
    fn unknown_fields_are_named_and_the_rest_parses() {
        let (unknown, input) =
            AlarmInput::parse(&serde_json::json!({"AlarmName": "a", "TreatMissingDta": "x"}));
        assert_eq!(unknown, vec!["TreatMissingDta".to_owned()]);
        assert_eq!(input.map(|i| i.alarm_name), Ok(Some("a".to_owned())));
    }
}
