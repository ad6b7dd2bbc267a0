//! The kit against what the proxy really writes: run the proxy's own telemetry for every kind
//! of outcome, read back the EMF documents and the summary lines, and check that the
//! dashboard shows each metric/dimension set emitted, that every proxy metric the kit names
//! was emitted, and that the Contributor Insights rule matches a real deny line.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use vpc_proxy::live::FailureReason;
use vpc_proxy::outcome::{Outcome, Refusal};
use vpc_proxy::telemetry::{Sink, Telemetry, TelemetryConfig, catalog, logging};
use vpc_proxy::upstream::UpstreamError;
use vpc_proxy_ops::validate;

fn outcomes() -> Vec<Outcome> {
    let base = Outcome {
        request_id: "req".into(),
        source_ip: Some("203.0.113.9".into()),
        method: Some("GET".into()),
        path: Some("/x".into()),
        duration: Duration::from_millis(3),
        ..Outcome::default()
    };
    let mut all = vec![
        Outcome {
            cold_start: true,
            status: Some(200),
            upstream_status: Some(200),
            upstream_latency: Some(Duration::from_millis(5)),
            ..base.clone()
        },
        Outcome {
            status: Some(404),
            upstream_status: Some(404),
            upstream_latency: Some(Duration::from_millis(5)),
            ..base.clone()
        },
        Outcome {
            status: Some(503),
            upstream_status: Some(503),
            upstream_latency: Some(Duration::from_millis(5)),
            ..base.clone()
        },
        Outcome {
            refusal: Some(Refusal::IpNotAllowed),
            status: Some(403),
            ..base.clone()
        },
        Outcome {
            refusal: Some(Refusal::DotSegment),
            status: Some(400),
            ..base.clone()
        },
    ];
    // Live configuration that could not be read: every ConfigFailure reason, and the 503.
    all.push(Outcome {
        refusal: Some(Refusal::ConfigUnavailable),
        status: Some(503),
        config_failures: FailureReason::ALL.to_vec(),
        ..base.clone()
    });
    for failure in UpstreamError::ALL {
        all.push(Outcome {
            failure: Some(failure),
            status: Some(502),
            ..base.clone()
        });
    }
    all
}

/// Every line the proxy's telemetry writes for `outcomes()`.
fn lines() -> Vec<Value> {
    let sink = Sink::memory();
    let telemetry = Telemetry::new(
        TelemetryConfig {
            namespace: "VpcProxy".into(),
            service: "svc".into(),
            deny_per_ip_limit: Some(50),
        },
        sink.clone(),
    );
    let subscriber = logging::subscriber(logging::filter(|_| None), sink.clone());
    tracing::subscriber::with_default(subscriber, || {
        for o in outcomes() {
            telemetry.record(&o);
        }
    });
    sink.contents()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

/// (metric, [(dimension, value)]) for every metric of every EMF document.
fn emitted(lines: &[Value]) -> BTreeSet<(String, Vec<(String, String)>)> {
    let mut out = BTreeSet::new();
    for doc in lines.iter().filter(|l| l.get("_aws").is_some()) {
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(directive["Namespace"], "VpcProxy");
            for set in directive["Dimensions"].as_array().unwrap() {
                let mut dims: Vec<(String, String)> = set
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_owned())
                    .map(|d| (d.clone(), doc[&d].as_str().unwrap().to_owned()))
                    .collect();
                dims.sort();
                for m in directive["Metrics"].as_array().unwrap() {
                    out.insert((m["Name"].as_str().unwrap().to_owned(), dims.clone()));
                }
            }
        }
    }
    out
}

fn key(m: &validate::MetricRef) -> (String, Vec<(String, String)>) {
    let mut dims = m.dimensions.clone();
    dims.sort();
    (m.name.clone(), dims)
}

#[test]
fn dashboard_shows_what_the_proxy_emits_and_the_kit_names_only_emitted_metrics() {
    let (_, _, rendered) = common::rendered();
    let emitted = emitted(&lines());
    let names: BTreeSet<&str> = emitted.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        catalog::ALL.iter().map(|d| d.name).collect(),
        "this sweep emits every catalog metric"
    );

    let shown: BTreeSet<_> = rendered
        .dashboards
        .iter()
        .flat_map(|d| validate::dashboard_metrics(&d.body))
        .filter(|m| m.namespace == "VpcProxy")
        .map(|m| key(&m))
        .collect();
    for (name, dims) in &emitted {
        if dims.iter().any(|(k, _)| k == catalog::SOURCE_IP) {
            continue; // per-IP denies: the Contributor Insights widget, checked below
        }
        assert!(
            shown.contains(&(name.clone(), dims.clone())),
            "emitted {name} {dims:?} is not on the dashboard"
        );
    }
    let named = rendered
        .alarms
        .iter()
        .flat_map(|a| validate::alarm_metrics(&a.input))
        .filter(|m| m.namespace == "VpcProxy")
        .map(|m| key(&m));
    for k in shown.iter().cloned().chain(named) {
        assert!(
            emitted.contains(&k),
            "the kit names {k:?}, which the proxy never emits"
        );
    }
}

#[test]
fn the_insight_rule_matches_a_real_deny_line_and_only_denies() {
    let (_, _, rendered) = common::rendered();
    let def = &rendered.rules[0].input["RuleDefinition"];
    let summaries: Vec<Value> = lines()
        .into_iter()
        .filter(|l| l.get("_aws").is_none() && l.get("decision").is_some())
        .collect();
    assert_eq!(
        summaries.len(),
        outcomes().len(),
        "one summary line per invocation"
    );
    let field = |line: &Value, path: &str| line.get(path.trim_start_matches("$.")).cloned();
    let matches = |line: &Value| {
        def["Contribution"]["Filters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| {
                let v = field(line, f["Match"].as_str().unwrap());
                f["In"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| Some(x) == v.as_ref())
            })
    };
    let matched: Vec<&Value> = summaries.iter().filter(|l| matches(l)).collect();
    assert_eq!(matched.len(), 1, "exactly the one deny: {matched:?}");
    for k in def["Contribution"]["Keys"].as_array().unwrap() {
        assert_eq!(
            field(matched[0], k.as_str().unwrap()),
            Some(Value::from("203.0.113.9"))
        );
    }
}
