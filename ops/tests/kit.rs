//! The shipped kit renders and validates, shows every metric the proxy emits and nothing
//! else, and validation catches the mistakes it is there to catch.

mod common;

use serde_json::{Value, json};
use vpc_proxy::telemetry::catalog;
use vpc_proxy_ops::kit::{Kind, Kit, Source};
use vpc_proxy_ops::render::{self, Missing, Values};
use vpc_proxy_ops::validate::{self, Problem};
use vpc_proxy_ops::{cli, cloudformation};

fn problems_of(rendered: &render::Rendered, values: &Values) -> Vec<String> {
    validate::rendered(rendered, values)
        .iter()
        .map(Problem::to_string)
        .collect()
}

#[test]
fn every_file_renders_and_validates() {
    let (kit, values, rendered) = common::rendered();
    assert!(kit.of(Kind::Dashboard).count() >= 1);
    assert!(
        kit.of(Kind::Alarm).count() >= 9,
        "{:?}",
        rendered.alarm_names()
    );
    assert_eq!(kit.of(Kind::InsightRule).count(), 1);
    assert_eq!(problems_of(&rendered, &values), Vec::<String>::new());
    for source in &kit.sources {
        assert!(
            !render::substitute(&source.text, &values).contains("${"),
            "{} keeps a placeholder",
            source.path
        );
    }
}

#[test]
fn shipped_files_validate_with_example_values_too() {
    let kit = common::kit();
    let mut values = Values::default();
    values
        .resolve(&render::needed(&kit), Missing::Example)
        .unwrap();
    let rendered = render::kit(&kit, &values).unwrap();
    assert_eq!(problems_of(&rendered, &values), Vec::<String>::new());
}

#[test]
fn the_alarms_the_issue_asks_for_are_shipped() {
    let (_, _, rendered) = common::rendered();
    let names = rendered.alarm_names();
    for want in [
        "svc-deny-spike",
        "svc-top-denied-source-ip",
        "svc-upstream-5xx-rate",
        "svc-upstream-failures",
        "svc-upstream-latency-p90",
        "svc-lambda-errors",
        "svc-lambda-throttles",
        "svc-apigw-5xx",
        "svc-emf-validation-errors",
        "svc-config-failure",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    for alarm in &rendered.alarms {
        assert!(
            alarm.input.get("TreatMissingData").is_some(),
            "{}",
            alarm.path
        );
    }
}

#[test]
fn deny_spike_is_an_upper_band_with_a_static_floor_and_m_of_n() {
    let (_, _, rendered) = common::rendered();
    let a = common::alarm(&rendered, "svc-deny-spike");
    assert_eq!(a["ComparisonOperator"], "GreaterThanUpperThreshold");
    assert!(a["DatapointsToAlarm"].as_i64() < a["EvaluationPeriods"].as_i64());
    let exprs: Vec<&str> = a["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|q| q["Expression"].as_str())
        .collect();
    assert!(exprs.contains(&"IF(denied >= 20, denied, 0)"), "{exprs:?}");
    assert!(
        exprs
            .iter()
            .any(|e| e.starts_with("ANOMALY_DETECTION_BAND(floored")),
        "{exprs:?}"
    );
}

#[test]
fn top_denied_ip_rule_and_its_alarm() {
    let (_, _, rendered) = common::rendered();
    let rule = &rendered.rules[0].input;
    assert_eq!(rule["RuleName"], "svc-top-denied-source-ips");
    let def = &rule["RuleDefinition"];
    assert_eq!(
        def["Schema"],
        json!({"Name": "CloudWatchLogRule", "Version": 1})
    );
    assert_eq!(def["LogGroupNames"], json!(["/aws/lambda/edge-fn"]));
    assert_eq!(def["Contribution"]["Keys"], json!(["$.source_ip"]));
    assert!(
        def["Contribution"]["Filters"]
            .as_array()
            .unwrap()
            .contains(&json!({"Match": "$.decision", "In": ["deny"]}))
    );
    let alarm = common::alarm(&rendered, "svc-top-denied-source-ip");
    assert_eq!(
        alarm["Metrics"][0]["Expression"],
        "INSIGHT_RULE_METRIC('svc-top-denied-source-ips', 'MaxContributorValue')"
    );
}

#[test]
fn dashboard_has_the_alarm_widget_on_top_and_fits_the_grid() {
    let (_, _, rendered) = common::rendered();
    let widgets = rendered.dashboards[0].body["widgets"]
        .as_array()
        .unwrap()
        .clone();
    let top = widgets.iter().find(|w| w["y"] == 0 && w["x"] == 0).unwrap();
    assert_eq!(top["type"], "alarm");
    for w in &widgets {
        assert!(w["x"].as_i64().unwrap() + w["width"].as_i64().unwrap() <= 24);
    }
    let kinds: Vec<&str> = widgets
        .iter()
        .map(|w| w["type"].as_str().unwrap())
        .collect();
    for k in ["alarm", "text", "metric", "log"] {
        assert!(kinds.contains(&k), "{k}");
    }
    let text = rendered.dashboards[0].body.to_string();
    for needle in [
        "\"insightRule\"",
        "EMFValidationErrors",
        "IntegrationLatency",
        "ConcurrentExecutions",
        "https://runbooks.example/vpc-proxy.md",
        "decision = \\\"deny\\\"",
    ] {
        assert!(text.contains(needle), "dashboard lacks {needle}");
    }
}

/// The kit-and-catalog consistency test, both directions, derived from `catalog::ALL`.
#[test]
fn dashboard_shows_every_emitted_metric_and_nothing_the_proxy_does_not_emit() {
    let (_, values, rendered) = common::rendered();
    let ctx = validate::Context::new(&rendered, &values);
    assert_eq!(validate::coverage(&rendered, &ctx), Vec::new());
    let shown: Vec<validate::MetricRef> = rendered
        .dashboards
        .iter()
        .flat_map(|d| validate::dashboard_metrics(&d.body))
        .collect();
    for def in catalog::ALL {
        assert!(
            shown
                .iter()
                .any(|m| m.namespace == "VpcProxy" && m.name == def.name),
            "{} not shown",
            def.name
        );
    }
    let referenced = shown
        .iter()
        .chain(
            rendered
                .alarms
                .iter()
                .flat_map(|a| validate::alarm_metrics(&a.input))
                .collect::<Vec<_>>()
                .iter(),
        )
        .cloned()
        .collect::<Vec<_>>();
    for m in referenced.iter().filter(|m| m.namespace == "VpcProxy") {
        assert!(
            catalog::ALL.iter().any(|d| d.name == m.name),
            "{} is referenced but not emitted",
            m.name
        );
    }
}

/// The problems of the shipped kit once `edit` has changed its dashboard.
fn dashboard_problems(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let (_, values, mut rendered) = common::rendered();
    edit(&mut rendered.dashboards[0].body);
    problems_of(&rendered, &values)
}

/// Removes every metric row of the dashboard whose JSON contains `needle`.
fn drop_rows_with(body: &mut Value, needle: &str) {
    for w in body["widgets"].as_array_mut().unwrap() {
        if let Some(rows) = w
            .pointer_mut("/properties/metrics")
            .and_then(Value::as_array_mut)
        {
            rows.retain(|r| !r.to_string().contains(needle));
        }
    }
}

/// The rows of the dashboard's third widget (a metric widget of the proxy's own metrics).
fn third_widget_rows(body: &mut Value) -> &mut Vec<Value> {
    body["widgets"][2]["properties"]["metrics"]
        .as_array_mut()
        .unwrap()
}

/// Every needle appears in the joined problem lines.
#[track_caller]
fn assert_mentions(problems: &str, needles: &[&str]) {
    for needle in needles {
        assert!(problems.contains(needle), "{needle} not in:\n{problems}");
    }
}

#[test]
fn a_dashboard_that_misses_an_emitted_metric_fails() {
    let problems = dashboard_problems(|body| drop_rows_with(body, "\"ColdStart\""));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("ColdStart") && p.contains("no dashboard shows it")),
        "{problems:?}"
    );
}

#[test]
fn a_dashboard_that_misses_a_failure_reason_fails() {
    let problems = dashboard_problems(|body| drop_rows_with(body, "\"too_large\""));
    assert!(
        problems.iter().any(|p| p.contains("Reason=too_large")),
        "{problems:?}"
    );
}

#[test]
fn unknown_metric_is_refused() {
    let problems = dashboard_problems(|body| {
        third_widget_rows(body).push(json!(["VpcProxy", "Allowed", "Service", "svc"]))
    });
    assert!(
        problems
            .iter()
            .any(|p| p.contains("VpcProxy/Allowed is not a metric the proxy emits")),
        "{problems:?}"
    );
}

#[test]
fn wrong_dimension_value_namespace_and_aws_metric_are_refused() {
    let problems = dashboard_problems(|body| {
        let rows = third_widget_rows(body);
        rows.push(json!([
            "VpcProxy",
            "UpstreamFailure",
            "Service",
            "svc",
            "Reason",
            "dns"
        ]));
        rows.push(json!(["VpcProxy", "Requests", "Service", "other-svc"]));
        rows.push(json!(["AWS/Lambda", "Throttle", "FunctionName", "edge-fn"]));
        rows.push(json!(["AWS/EC2", "CPUUtilization"]));
    })
    .join("\n");
    assert_mentions(
        &problems,
        &[
            "Reason=\"dns\" never occurs",
            "Service=\"other-svc\"",
            "AWS/Lambda/Throttle",
            "\"AWS/EC2\" is neither",
        ],
    );
}

#[test]
fn unfilled_placeholder_fails() {
    let kit = Kit {
        sources: common::kit()
            .sources
            .into_iter()
            .map(|mut s| {
                if s.path == "alarms/lambda-errors.json" {
                    s.text = s.text.replace("${FunctionName}", "${FunctionNme}");
                }
                s
            })
            .collect(),
    };
    let values = common::values(&common::kit());
    let rendered = render::kit(&kit, &values).unwrap();
    let problems = problems_of(&rendered, &values);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("alarms/lambda-errors.json")
                && p.contains("unfilled placeholder ${FunctionNme}")),
        "{problems:?}"
    );
    // and render refuses to go on without a value
    let mut empty = Values::default();
    assert!(
        empty
            .resolve(&render::needed(&kit), Missing::Error)
            .is_err()
    );
}

#[test]
fn grid_overflow_and_overlap_fail() {
    // x = 18: ends at column 26
    let problems = dashboard_problems(|body| body["widgets"][1]["width"] = json!(8));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("widgets[1]") && p.contains("the grid has 24")),
        "{problems:?}"
    );
    let problems = dashboard_problems(|body| {
        body["widgets"][1]["width"] = json!(6);
        body["widgets"][1]["x"] = json!(12);
    });
    assert!(
        problems.iter().any(|p| p.contains("overlaps widgets[0]")),
        "{problems:?}"
    );
}

#[test]
fn incomplete_alarm_inputs_fail() {
    let (_, values, mut rendered) = common::rendered();
    let obj = common::alarm_mut(&mut rendered, "svc-lambda-errors")
        .as_object_mut()
        .unwrap();
    obj.remove("TreatMissingData");
    obj.remove("Threshold");
    obj.insert("DatapointsToAlarm".into(), json!(9));
    obj.insert("Unit".into(), json!("Seconds"));
    obj.insert("TreatMissingDta".into(), json!("ignore"));
    let problems = problems_of(&rendered, &values).join("\n");
    assert_mentions(
        &problems,
        &[
            "TreatMissingData: required",
            "Threshold: required",
            "DatapointsToAlarm: must be within",
            "TreatMissingDta: not a PutMetricAlarm input field",
        ],
    );
}

#[test]
fn math_alarm_mistakes_fail() {
    let (_, values, mut rendered) = common::rendered();
    let rate = common::alarm_mut(&mut rendered, "svc-upstream-5xx-rate");
    rate["Metrics"][2]["Expression"] = json!("100 * e5xx / forwarde");
    rate["Metrics"][0]["ReturnData"] = json!(true);
    common::alarm_mut(&mut rendered, "svc-upstream-latency-p90")["Unit"] = json!("Seconds");
    common::alarm_mut(&mut rendered, "svc-top-denied-source-ip")["Metrics"][0]["Expression"] =
        json!("INSIGHT_RULE_METRIC('nope', 'Sum')");
    let problems = problems_of(&rendered, &values).join("\n");
    assert_mentions(
        &problems,
        &[
            "\"forwarde\", which is no id",
            "exactly one query must have ReturnData true",
            "emitted in Milliseconds, not Seconds",
            "INSIGHT_RULE_METRIC names \"nope\"",
        ],
    );
}

#[test]
fn every_alarm_must_be_on_the_alarm_widget() {
    let (_, values, mut rendered) = common::rendered();
    let mut extra = rendered.alarms[0].clone();
    extra.input["AlarmName"] = json!("svc-something-new");
    extra.path = "alarms/something-new.json".into();
    rendered.alarms.push(extra);
    let problems = problems_of(&rendered, &values);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("svc-something-new") && p.contains("alarm-status widget")),
        "{problems:?}"
    );
}

#[test]
fn broken_rule_fails() {
    let (_, values, mut rendered) = common::rendered();
    rendered.rules[0].input["RuleDefinition"]["Schema"]["Version"] = json!(2);
    rendered.rules[0].input["RuleDefinition"]["Contribution"]["Keys"] = json!([]);
    let problems = problems_of(&rendered, &values).join("\n");
    assert!(
        problems.contains("Schema") && problems.contains("1 to 4 keys"),
        "{problems}"
    );
}

#[test]
fn cli_render_validate_and_cloudformation() {
    let env = |k: &str| match k {
        "VPC_PROXY_OPS_FUNCTION_NAME" => Some("edge-fn".to_owned()),
        "AWS_REGION" => Some("eu-west-1".to_owned()),
        _ => None,
    };
    let argv = |s: &str| cli::parse(s.split_whitespace().map(str::to_owned)).unwrap();
    // The kit commands never await anything; the runtime only drives the one entry point.
    let run = |command: &cli::Command,
               env: &dyn Fn(&str) -> Option<String>,
               out: &mut Vec<u8>,
               err: &mut Vec<u8>| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(cli::run(command, env, out, err))
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run(
        &argv("render --api-name edge-api --stage prod --account-id 111122223333 --alarm-topic-arn arn:aws:sns:eu-west-1:111122223333:pager --set RunbookUrl=https://r.example/x --file alarms/lambda-errors.json"),
        &env,
        &mut out,
        &mut err,
    )
    .unwrap();
    assert_eq!(code, 0);
    let alarm: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        alarm["Dimensions"],
        json!([{"Name": "FunctionName", "Value": "edge-fn"}])
    );
    assert_eq!(alarm["AlarmName"], "edge-fn-lambda-errors");

    let missing = run(&argv("render"), &|_| None, &mut Vec::new(), &mut Vec::new()).unwrap_err();
    assert!(missing.message.contains("--function-name"), "{missing}");

    let mut out = Vec::new();
    assert_eq!(
        run(&argv("validate"), &|_| None, &mut out, &mut Vec::new()).unwrap(),
        0
    );
    assert!(String::from_utf8(out).unwrap().starts_with("ok:"));
    assert!(
        run(
            &argv("validate --strict"),
            &|_| None,
            &mut Vec::new(),
            &mut Vec::new()
        )
        .is_err()
    );

    let mut out = Vec::new();
    assert_eq!(
        run(
            &argv("cloudformation"),
            &|_| None,
            &mut out,
            &mut Vec::new()
        )
        .unwrap(),
        0
    );
    let template: Value = serde_json::from_slice(&out).unwrap();
    assert!(template["Resources"]["AlarmDenySpike"].is_object());

    assert!(cli::parse(["render".to_owned(), "--no-such".to_owned()]).is_err());
    assert!(cli::parse(["render".to_owned(), "--set".to_owned(), "Nope".to_owned()]).is_err());
}

#[test]
fn cloudformation_has_every_file_and_subs_every_placeholder() {
    let kit = common::kit();
    let t = cloudformation::template(&kit).unwrap();
    let resources = t["Resources"].as_object().unwrap();
    let count = |ty: &str| resources.values().filter(|r| r["Type"] == ty).count();
    assert_eq!(count("AWS::CloudWatch::Alarm"), kit.of(Kind::Alarm).count());
    assert_eq!(
        count("AWS::CloudWatch::Dashboard"),
        kit.of(Kind::Dashboard).count()
    );
    assert_eq!(
        count("AWS::CloudWatch::InsightRule"),
        kit.of(Kind::InsightRule).count()
    );
    assert_eq!(count("AWS::SNS::Topic"), 1);
    assert_eq!(
        resources["AlarmLambdaErrors"]["Properties"]["AlarmActions"],
        json!([{"Ref": "AlarmTopic"}])
    );
    assert_eq!(
        resources["AlarmTopDeniedSourceIp"]["DependsOn"],
        json!(["RuleTopDeniedSourceIps"])
    );
    let body = resources["DashboardVpcProxy"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(body.contains("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${Service}-deny-spike"));
    // every ${X} left in the template is a parameter, a pseudo parameter or a resource
    let params: Vec<&String> = t["Parameters"].as_object().unwrap().keys().collect();
    for name in render::placeholders(&t.to_string()) {
        assert!(
            name.starts_with("AWS::")
                || params.iter().any(|p| **p == name)
                || resources.contains_key(&name),
            "${{{name}}} resolves to nothing"
        );
    }
    for p in ["Region", "AccountId", "Partition", "AlarmTopicArn"] {
        assert!(
            !params.iter().any(|x| *x == p),
            "{p} must map to a pseudo parameter or the topic"
        );
    }
}

#[test]
fn a_new_kit_file_is_picked_up_by_name() {
    let s = Source {
        kind: Kind::Alarm,
        path: "alarms/x-y.json".into(),
        text: "{}".into(),
    };
    assert_eq!(s.stem(), "x-y");
}

#[test]
fn every_alarm_links_its_runbook_section_and_the_section_exists() {
    let kit = common::kit();
    let runbook = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/RUNBOOK.md"),
    )
    .unwrap();
    for source in kit.of(Kind::Alarm) {
        let anchor = source.stem();
        assert!(
            source.text.contains(&format!("${{RunbookUrl}}#{anchor}")),
            "{} does not link its runbook section",
            source.path
        );
        assert!(
            runbook.contains(&format!("<a id=\"{anchor}\"></a>")),
            "docs/RUNBOOK.md has no section {anchor}"
        );
    }
}
