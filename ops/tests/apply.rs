//! `apply` against the SDK's own mock tooling (aws-smithy-mocks): an in-memory CloudWatch
//! that records every request. Asserts the exact requests, their order, idempotency (a second
//! run sends no Put), that `--dry-run` sends none, and that a failed call is one sentence.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::describe_insight_rules::DescribeInsightRulesOutput;
use aws_sdk_cloudwatch::operation::get_dashboard::{GetDashboardError, GetDashboardOutput};
use aws_sdk_cloudwatch::operation::put_dashboard::PutDashboardOutput;
use aws_sdk_cloudwatch::operation::put_insight_rule::{PutInsightRuleInput, PutInsightRuleOutput};
use aws_sdk_cloudwatch::operation::put_metric_alarm::{PutMetricAlarmInput, PutMetricAlarmOutput};
use aws_sdk_cloudwatch::types::error::DashboardNotFoundError;
use aws_sdk_cloudwatch::types::{InsightRule, MetricAlarm};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use serde_json::{Value, json};
use vpc_proxy_ops::apply::{self, Change};

/// What the fake CloudWatch holds, and every request it saw.
#[derive(Default)]
struct Fake {
    calls: Vec<String>,
    dashboards: BTreeMap<String, String>,
    alarms: BTreeMap<String, PutMetricAlarmInput>,
    rules: BTreeMap<String, PutInsightRuleInput>,
}

/// A MetricAlarm as DescribeAlarms would return it for a stored input.
fn described(i: &PutMetricAlarmInput) -> MetricAlarm {
    MetricAlarm::builder()
        .set_alarm_name(i.alarm_name().map(Into::into))
        .alarm_arn(format!(
            "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:{}",
            i.alarm_name().unwrap()
        ))
        .set_alarm_description(i.alarm_description().map(Into::into))
        .set_actions_enabled(i.actions_enabled())
        .set_ok_actions(Some(i.ok_actions().to_vec()))
        .set_alarm_actions(Some(i.alarm_actions().to_vec()))
        .set_insufficient_data_actions(Some(i.insufficient_data_actions().to_vec()))
        .set_metric_name(i.metric_name().map(Into::into))
        .set_namespace(i.namespace().map(Into::into))
        .set_statistic(i.statistic().cloned())
        .set_extended_statistic(i.extended_statistic().map(Into::into))
        .set_dimensions(Some(i.dimensions().to_vec()))
        .set_period(i.period())
        .set_unit(i.unit().cloned())
        .set_evaluation_periods(i.evaluation_periods())
        .set_datapoints_to_alarm(i.datapoints_to_alarm())
        .set_threshold(i.threshold())
        .set_comparison_operator(i.comparison_operator().cloned())
        .set_treat_missing_data(i.treat_missing_data().map(Into::into))
        .set_evaluate_low_sample_count_percentile(
            i.evaluate_low_sample_count_percentile().map(Into::into),
        )
        .set_metrics(Some(i.metrics().to_vec()))
        .set_threshold_metric_id(i.threshold_metric_id().map(Into::into))
        .build()
}

/// An empty fake CloudWatch and a client that talks to it.
fn fake() -> (Arc<Mutex<Fake>>, Client) {
    let state = Arc::new(Mutex::new(Fake::default()));
    let client = client(&state);
    (state, client)
}

fn client(state: &Arc<Mutex<Fake>>) -> Client {
    let s = state.clone();
    let describe_rules = mock!(Client::describe_insight_rules).then_compute_output(move |_| {
        let mut st = s.lock().unwrap();
        st.calls.push("DescribeInsightRules".into());
        let rules = st
            .rules
            .values()
            .map(|r| {
                InsightRule::builder()
                    .name(r.rule_name().unwrap())
                    .state(r.rule_state().unwrap())
                    .schema("CloudWatchLogRule/1")
                    .definition(r.rule_definition().unwrap())
                    .build()
            })
            .collect();
        DescribeInsightRulesOutput::builder()
            .set_insight_rules(Some(rules))
            .build()
    });
    let s = state.clone();
    let put_rule = mock!(Client::put_insight_rule).then_compute_output(move |req| {
        let mut st = s.lock().unwrap();
        st.calls
            .push(format!("PutInsightRule {}", req.rule_name().unwrap()));
        st.rules
            .insert(req.rule_name().unwrap().to_owned(), req.clone());
        PutInsightRuleOutput::builder().build()
    });
    let s = state.clone();
    let describe_alarms = mock!(Client::describe_alarms).then_compute_output(move |req| {
        let mut st = s.lock().unwrap();
        st.calls
            .push(format!("DescribeAlarms {}", req.alarm_names().len()));
        let found = req
            .alarm_names()
            .iter()
            .filter_map(|n| st.alarms.get(n))
            .map(described)
            .collect();
        DescribeAlarmsOutput::builder()
            .set_metric_alarms(Some(found))
            .build()
    });
    let s = state.clone();
    let put_alarm = mock!(Client::put_metric_alarm).then_compute_output(move |req| {
        let mut st = s.lock().unwrap();
        st.calls
            .push(format!("PutMetricAlarm {}", req.alarm_name().unwrap()));
        st.alarms
            .insert(req.alarm_name().unwrap().to_owned(), req.clone());
        PutMetricAlarmOutput::builder().build()
    });
    let s = state.clone();
    let get_dashboard = mock!(Client::get_dashboard).then_compute_response(move |req| {
        let mut st = s.lock().unwrap();
        let name = req.dashboard_name().unwrap().to_owned();
        st.calls.push(format!("GetDashboard {name}"));
        match st.dashboards.get(&name) {
            Some(body) => MockResponse::Output(
                GetDashboardOutput::builder()
                    .dashboard_name(&name)
                    .dashboard_body(body)
                    .build(),
            ),
            None => MockResponse::Error(GetDashboardError::DashboardNotFoundError(
                DashboardNotFoundError::builder()
                    .message("Dashboard does not exist")
                    .build(),
            )),
        }
    });
    let s = state.clone();
    let put_dashboard = mock!(Client::put_dashboard).then_compute_output(move |req| {
        let mut st = s.lock().unwrap();
        let name = req.dashboard_name().unwrap().to_owned();
        st.calls.push(format!("PutDashboard {name}"));
        st.dashboards
            .insert(name, req.dashboard_body().unwrap().to_owned());
        PutDashboardOutput::builder().build()
    });
    mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        &[
            &describe_rules,
            &put_rule,
            &describe_alarms,
            &put_alarm,
            &get_dashboard,
            &put_dashboard
        ]
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The file's JSON with the threshold as the f64 the API carries.
fn as_sent(file: &Value) -> Value {
    let mut v = file.clone();
    if let Some(t) = v.get("Threshold").and_then(Value::as_f64) {
        v["Threshold"] = json!(t);
    }
    v
}

#[test]
fn first_apply_creates_everything_with_exact_requests() {
    let (_, _, rendered) = common::rendered();
    let (state, client) = fake();
    let actions = runtime()
        .block_on(apply::apply(&client, &rendered, false))
        .unwrap();

    let st = state.lock().unwrap();
    let mut expected = vec![
        "DescribeInsightRules".to_owned(),
        "PutInsightRule svc-top-denied-source-ips".to_owned(),
    ];
    expected.push(format!("DescribeAlarms {}", rendered.alarms.len()));
    for name in rendered.alarm_names() {
        expected.push(format!("PutMetricAlarm {name}"));
    }
    expected.push("GetDashboard svc".into());
    expected.push("PutDashboard svc".into());
    assert_eq!(st.calls, expected);
    assert!(
        actions.iter().all(|a| a.change == Change::Create),
        "{actions:?}"
    );

    // The rule: name, state, and the definition as the JSON string the API wants.
    let rule = &st.rules["svc-top-denied-source-ips"];
    assert_eq!(rule.rule_state(), Some("ENABLED"));
    let definition: Value = serde_json::from_str(rule.rule_definition().unwrap()).unwrap();
    assert_eq!(definition, rendered.rules[0].input["RuleDefinition"]);
    assert_eq!(definition["Contribution"]["Keys"], json!(["$.source_ip"]));
    assert_eq!(definition["LogGroupNames"], json!(["/aws/lambda/edge-fn"]));

    // Each alarm: exactly the rendered file, field for field.
    for alarm in &rendered.alarms {
        let name = alarm.input["AlarmName"].as_str().unwrap();
        assert_eq!(
            apply::alarm_input_json(&st.alarms[name]),
            as_sent(&alarm.input),
            "{name}"
        );
    }
    let deny = &st.alarms["svc-deny-spike"];
    assert_eq!(deny.threshold_metric_id(), Some("band"));
    assert_eq!(
        deny.alarm_actions(),
        ["arn:aws:sns:eu-west-1:111122223333:pager"]
    );
    assert_eq!(
        deny.metrics()[1].expression(),
        Some("IF(denied >= 20, denied, 0)")
    );

    // The dashboard: the rendered body, nothing else.
    let body: Value = serde_json::from_str(&st.dashboards["svc"]).unwrap();
    assert_eq!(body, rendered.dashboards[0].body);
    assert!(
        st.dashboards["svc"]
            .contains("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:svc-deny-spike")
    );
}

#[test]
fn second_apply_sends_no_put() {
    let (_, _, rendered) = common::rendered();
    let (state, client) = fake();
    let rt = runtime();
    rt.block_on(apply::apply(&client, &rendered, false))
        .unwrap();
    state.lock().unwrap().calls.clear();

    let actions = rt
        .block_on(apply::apply(&client, &rendered, false))
        .unwrap();
    assert!(
        actions.iter().all(|a| a.change == Change::Unchanged),
        "{actions:?}"
    );
    let calls = state.lock().unwrap().calls.clone();
    assert!(calls.iter().all(|c| !c.starts_with("Put")), "{calls:?}");
    assert_eq!(calls.len(), 3, "{calls:?}");
}

#[test]
fn a_changed_alarm_is_the_only_thing_put_again() {
    let (_, _, mut rendered) = common::rendered();
    let (state, client) = fake();
    let rt = runtime();
    rt.block_on(apply::apply(&client, &rendered, false))
        .unwrap();
    state.lock().unwrap().calls.clear();

    common::alarm_mut(&mut rendered, "svc-lambda-errors")["Threshold"] = json!(5);
    let actions = rt
        .block_on(apply::apply(&client, &rendered, false))
        .unwrap();
    let changed: Vec<String> = actions
        .iter()
        .filter(|a| a.change != Change::Unchanged)
        .map(|a| a.name.clone())
        .collect();
    assert_eq!(changed, vec!["svc-lambda-errors"]);
    let st = state.lock().unwrap();
    let puts: Vec<&String> = st.calls.iter().filter(|c| c.starts_with("Put")).collect();
    assert_eq!(puts, vec!["PutMetricAlarm svc-lambda-errors"]);
    assert_eq!(st.alarms["svc-lambda-errors"].threshold(), Some(5.0));
}

#[test]
fn dry_run_reads_but_never_puts() {
    let (_, _, rendered) = common::rendered();
    let (state, client) = fake();
    let actions = runtime()
        .block_on(apply::apply(&client, &rendered, true))
        .unwrap();
    assert_eq!(
        actions.len(),
        rendered.alarms.len() + rendered.rules.len() + rendered.dashboards.len()
    );
    assert!(actions.iter().all(|a| a.change == Change::Create));
    let st = state.lock().unwrap();
    assert!(
        st.calls.iter().all(|c| !c.starts_with("Put")),
        "{:?}",
        st.calls
    );
    assert!(st.alarms.is_empty() && st.dashboards.is_empty() && st.rules.is_empty());
}

#[test]
fn a_failed_call_is_one_sentence_with_the_aws_code_and_message() {
    use aws_sdk_cloudwatch::error::ErrorMetadata;
    use aws_sdk_cloudwatch::operation::describe_insight_rules::DescribeInsightRulesError;
    let (_, _, rendered) = common::rendered();
    let denied = mock!(Client::describe_insight_rules).then_error(|| {
        DescribeInsightRulesError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform: cloudwatch:DescribeInsightRules")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&denied]);
    let err = runtime()
        .block_on(apply::apply(&client, &rendered, true))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DescribeInsightRules failed: AccessDenied: not authorized to perform: cloudwatch:DescribeInsightRules"
    );
    for dump in ["ServiceError", "{", "source:"] {
        assert!(
            !err.to_string().contains(dump),
            "no debug dump ({dump}): {err}"
        );
    }
}

#[test]
fn described_alarms_compare_equal_to_their_inputs() {
    let (_, _, rendered) = common::rendered();
    for alarm in &rendered.alarms {
        let input = apply::alarm_input(&alarm.input).unwrap();
        assert_eq!(
            apply::normalize_alarm(&apply::metric_alarm_json(&described(&input))),
            apply::normalize_alarm(&apply::alarm_input_json(&input)),
            "{}",
            alarm.path
        );
    }
}

#[test]
fn aws_config_takes_region_and_endpoint_from_the_flags() {
    let vpc_proxy_ops::cli::Command::Apply(args) = vpc_proxy_ops::cli::parse(
        [
            "apply",
            "--region",
            "ap-southeast-2",
            "--endpoint-url",
            "http://127.0.0.1:4566",
        ]
        .map(str::to_owned),
    )
    .unwrap() else {
        panic!("apply parses as apply")
    };
    let values = vpc_proxy_ops::cli::values(&args.kit, &|_| None).unwrap();
    let config = runtime().block_on(vpc_proxy_ops::cli::aws_config(&args, &values));
    assert_eq!(
        config.region().map(|r| r.to_string()),
        Some("ap-southeast-2".to_owned())
    );
    assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
}
