//! A CloudFormation template of the kit: the dashboards, alarms and Contributor Insights
//! rules as `AWS::CloudWatch::*` resources, plus an SNS topic the alarms notify.
//!
//! It is built from the same unrendered files: every string holding a `${Name}` placeholder
//! becomes `Fn::Sub` (the syntax is the same), deployment-wide names map to pseudo
//! parameters (`${Region}` -> `${AWS::Region}`) or to the topic, and every other placeholder
//! becomes a template parameter. It must never hard-code a value of one deployment, nor
//! render, validate or call AWS.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::kit::{Kind, Kit};
use crate::render::{self, PARAMS};
use crate::{Error, apply};

/// Placeholders CloudFormation already knows: they become these references, not parameters.
const MAPPED: &[(&str, &str)] = &[
    ("Region", "AWS::Region"),
    ("AccountId", "AWS::AccountId"),
    ("Partition", "AWS::Partition"),
    ("AlarmTopicArn", "AlarmTopic"),
];

/// The optional WAF web ACL's name, a parameter of every generated template.
pub const WEB_ACL: &str = "WebAclName";

/// Logical id of the SNS topic.
pub const TOPIC: &str = "AlarmTopic";

/// `deny-spike` -> `DenySpike`.
fn pascal(stem: &str) -> String {
    stem.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A string with placeholders as CloudFormation: `{"Ref": X}` when it is exactly one
/// placeholder, else `{"Fn::Sub": ...}` with mapped names rewritten.
pub fn sub(s: &str) -> Value {
    let names = render::placeholders(s);
    if names.is_empty() {
        return Value::String(s.to_owned());
    }
    let target = |n: &str| {
        MAPPED
            .iter()
            .find(|(k, _)| *k == n)
            .map_or(n.to_owned(), |(_, v)| (*v).to_owned())
    };
    if let [only] = names.as_slice()
        && s == format!("${{{only}}}")
    {
        return json!({"Ref": target(only)});
    }
    let mut out = s.to_owned();
    for n in &names {
        out = out.replace(&format!("${{{n}}}"), &format!("${{{}}}", target(n)));
    }
    json!({"Fn::Sub": out})
}

fn sub_all(v: &Value) -> Value {
    match v {
        Value::String(s) => sub(s),
        Value::Array(items) => Value::Array(items.iter().map(sub_all).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), sub_all(v))).collect()),
        other => other.clone(),
    }
}

fn parse(path: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error(format!("{path}: not valid JSON: {e}")))
}

/// The template, as JSON.
pub fn template(kit: &Kit) -> Result<Value, Error> {
    let mut resources = Map::new();
    resources.insert(
        TOPIC.into(),
        json!({
            "Type": "AWS::SNS::Topic",
            "Properties": {"DisplayName": {"Fn::Sub": "vpc-proxy ${Service} alarms"}}
        }),
    );
    resources.insert(
        "AlarmEmailSubscription".into(),
        json!({
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}, "TopicArn": {"Ref": TOPIC}}
        }),
    );

    let mut rule_ids = Vec::new();
    for source in kit.of(Kind::InsightRule) {
        let input = parse(&source.path, &source.text)?;
        let definition =
            apply::rule_definition(&input).map_err(|e| Error(format!("{}: {e}", source.path)))?;
        let id = format!("Rule{}", pascal(source.stem()));
        resources.insert(
            id.clone(),
            json!({
                "Type": "AWS::CloudWatch::InsightRule",
                "Properties": {
                    "RuleName": sub_all(input.get("RuleName").unwrap_or(&Value::Null)),
                    "RuleState": sub_all(input.get("RuleState").unwrap_or(&json!("ENABLED"))),
                    "RuleBody": sub(&definition),
                }
            }),
        );
        rule_ids.push(id);
    }

    for source in kit.of(Kind::Alarm) {
        let input = parse(&source.path, &source.text)?;
        let mut resource = json!({"Type": "AWS::CloudWatch::Alarm", "Properties": sub_all(&input)});
        if source.text.contains("INSIGHT_RULE_METRIC(") && !rule_ids.is_empty() {
            resource["DependsOn"] = json!(rule_ids);
        }
        resources.insert(format!("Alarm{}", pascal(source.stem())), resource);
    }

    for source in kit.of(Kind::Dashboard) {
        let body = parse(&source.path, &source.text)?;
        // Named after the service, as `render` does by default (`DashboardName` = `Service`).
        let name = render::dashboard_name(source.stem(), "${Service}");
        resources.insert(
            format!("Dashboard{}", pascal(source.stem())),
            json!({
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": {"DashboardName": sub(&name), "DashboardBody": sub(&body.to_string())}
            }),
        );
    }

    let mut used: BTreeSet<String> = render::needed(kit);
    used.insert("Service".into()); // the topic's display name and the dashboard's name
    used.remove("DashboardName");
    let mut parameters = Map::new();
    for p in PARAMS {
        if !used.contains(p.name) || MAPPED.iter().any(|(k, _)| *k == p.name) {
            continue;
        }
        let mut param = json!({"Type": "String", "Description": p.help});
        match p.default {
            Some(d) if !d.contains("${") => {
                param["Default"] = json!(d);
            }
            Some(d) => {
                // No `${...}` outside Fn::Sub (cfn-lint E1029): show the default as <Name>.
                let shown = d.replace("${", "<").replace('}', ">");
                param["Description"] = json!(format!(
                    "{} (vpc-proxy-ops render defaults it to {shown})",
                    p.help
                ));
            }
            None => {}
        }
        if p.name == "DenySpikeFloor" {
            param["Type"] = json!("Number");
            param["MinValue"] = json!(1);
        }
        parameters.insert(p.name.to_owned(), param);
    }
    for name in &used {
        if render::param(name).is_none() {
            return Err(Error(format!(
                "placeholder ${{{name}}} is not a known parameter"
            )));
        }
    }
    parameters.insert(
        "AlarmEmail".into(),
        json!({"Type": "String", "Default": "", "Description": "Optional e-mail address subscribed to the alarm topic (confirm the e-mail SNS sends)"}),
    );
    // Declared whether or not a kit file uses it, so a parent stack (deploy/template.yaml)
    // can always pass it: CloudFormation refuses a parameter the nested template lacks.
    parameters.insert(
        WEB_ACL.into(),
        json!({"Type": "String", "Default": "", "Description": "Name of the WAF web ACL in front of the API stage; empty when there is none"}),
    );

    Ok(json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "vpc-proxy monitoring: CloudWatch dashboard, alarms, Contributor Insights rule and the alarm topic (generated by vpc-proxy-ops cloudformation from dashboards/ and alarms/; do not edit by hand)",
        "Parameters": parameters,
        "Conditions": {
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
            "HasWebAcl": {"Fn::Not": [{"Fn::Equals": [{"Ref": WEB_ACL}, ""]}]},
        },
        "Resources": resources,
        "Outputs": {
            "AlarmTopicArn": {"Description": "SNS topic the alarms notify", "Value": {"Ref": TOPIC}},
            "WebAclName": {"Condition": "HasWebAcl", "Description": "The WAF web ACL the kit watches", "Value": {"Ref": WEB_ACL}},
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_refs_or_subs() {
        assert_eq!(sub("${Service}"), json!({"Ref": "Service"}));
        assert_eq!(sub("${AlarmTopicArn}"), json!({"Ref": "AlarmTopic"}));
        assert_eq!(
            sub("arn:${Partition}:x:${Region}"),
            json!({"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}"})
        );
        assert_eq!(sub("plain"), json!("plain"));
        assert_eq!(pascal("upstream-5xx-rate"), "Upstream5xxRate");
    }
}
