//! Every alarm at no traffic, one request a minute and a flood, recomputed from its file.
//!
//! A small model of CloudWatch's documented evaluation (M of N, `TreatMissingData`, a
//! percentile's low-sample rule, metric math giving no datapoint over no data) runs each
//! rendered alarm over the datapoints the proxy's metrics would produce in each regime, and the
//! result must be the state the runbook's table gives. Changing a definition without the
//! runbook (or the reverse) fails here; so does an alarm that cannot leave `ALARM` when
//! traffic stops.

mod common;

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ok,
    Alarm,
    InsufficientData,
}

/// What an alarm's metric shows in one period: its value (`None`: no datapoint) and the
/// number of samples behind it.
#[derive(Debug, Clone, Copy)]
struct Point {
    value: Option<f64>,
    samples: f64,
}

const NONE: Point = Point {
    value: None,
    samples: 0.0,
};

/// Traffic in requests a minute and the share of it that is bad for this alarm.
#[derive(Debug, Clone, Copy)]
struct Regime {
    per_minute: f64,
    bad: f64,
}

const NO_TRAFFIC: Regime = Regime {
    per_minute: 0.0,
    bad: 0.0,
};
const ONE_A_MINUTE_BAD: Regime = Regime {
    per_minute: 1.0,
    bad: 1.0,
};
const ONE_A_MINUTE_GOOD: Regime = Regime {
    per_minute: 1.0,
    bad: 0.0,
};
/// 2,000 requests a second.
const FLOOD: f64 = 120_000.0;

fn flood(bad: f64) -> Regime {
    Regime {
        per_minute: FLOOD,
        bad,
    }
}

/// The share of a flood that is bad for each alarm, as the runbook's table says.
fn flood_bad(alarm: &str) -> f64 {
    match alarm {
        "upstream-latency-p90" => 0.2,
        // A deny flood (from one address, for the per-IP alarm).
        "deny-spike" | "top-denied-source-ip" => 0.5,
        _ => 0.1,
    }
}

/// The first number after `marker` in `text` (a floor inside a metric-math expression).
fn number_after(text: &str, marker: &str) -> f64 {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in {text}"))
        + marker.len();
    text[at..]
        .trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{marker}` in {text}"))
}

fn expression<'a>(input: &'a Value, id: &str) -> &'a str {
    input["Metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|q| q["Id"] == id))
        .and_then(|q| q["Expression"].as_str())
        .unwrap_or_else(|| panic!("no expression {id}"))
}

/// The alarm's evaluated quantity in one period of `regime`, from how the proxy (or AWS)
/// emits the metric: proxy counters are emitted on every request (0 on the normal path),
/// `UpstreamLatency` on every answered exchange, nothing at all without traffic.
fn point(alarm: &str, input: &Value, regime: Regime) -> Point {
    let period = input["Period"]
        .as_f64()
        .or_else(|| input["Metrics"][0]["MetricStat"]["Period"].as_f64())
        .or_else(|| input["Metrics"][0]["Period"].as_f64())
        .expect("a period");
    let n = regime.per_minute * period / 60.0;
    if n == 0.0 {
        return NONE;
    }
    let bad = n * regime.bad;
    let value = match alarm {
        // Averages of 0/1 per request: the bad share.
        "apigw-5xx" | "upstream-failures" => regime.bad,
        // Counts of bad events (each invocation reads live configuration: its value is
        // always older than the 30 s refresh at one a minute).
        "lambda-errors" | "lambda-throttles" | "config-failure" | "emf-validation-errors" => bad,
        // One address sends all the denies.
        "top-denied-source-ip" => bad,
        "deny-spike" => {
            let floor = number_after(expression(input, "floored"), "denied >=");
            // The band learned on a normal of no denies sits at 0.
            if bad >= floor { bad } else { 0.0 }
        }
        "upstream-5xx-rate" => {
            let floor = number_after(expression(input, "rate"), "forwarded >=");
            if n >= floor { 100.0 * bad / n } else { 0.0 }
        }
        // Fast answers take 100 ms, slow ones 3 s; the p90 is slow once more than 10 % are.
        "upstream-latency-p90" => {
            if regime.bad > 0.1 {
                3000.0
            } else {
                100.0
            }
        }
        other => panic!("no model for alarm {other}: add it here and to the runbook's table"),
    };
    Point {
        value: Some(value),
        samples: n,
    }
}

fn breaches(input: &Value, value: f64) -> bool {
    // A band alarm compares with the band's upper edge, 0 for a normal of no denies.
    let threshold = input["Threshold"].as_f64().unwrap_or(0.0);
    match input["ComparisonOperator"].as_str().unwrap_or_default() {
        "GreaterThanThreshold" | "GreaterThanUpperThreshold" => value > threshold,
        "GreaterThanOrEqualToThreshold" => value >= threshold,
        "LessThanThreshold" | "LessThanLowerThreshold" => value < threshold,
        "LessThanOrEqualToThreshold" => value <= threshold,
        other => panic!("operator {other} not modelled"),
    }
}

/// CloudWatch's evaluation of `points`, one evaluation per period, from `INSUFFICIENT_DATA`.
fn run(input: &Value, points: &[Point], mut state: State) -> State {
    let n = input["EvaluationPeriods"]
        .as_u64()
        .expect("EvaluationPeriods") as usize;
    let m = input["DatapointsToAlarm"].as_u64().unwrap_or(n as u64) as usize;
    let missing = input["TreatMissingData"].as_str().unwrap_or("missing");
    // Percentile alarms: below 10/(1-p) samples, `ignore` leaves the state as it is.
    let low_sample_floor = input["ExtendedStatistic"]
        .as_str()
        .and_then(|p| p.strip_prefix('p'))
        .and_then(|p| p.parse::<f64>().ok())
        .map(|p| 10.0 / (1.0 - p / 100.0));
    let ignore_low = input["EvaluateLowSampleCountPercentile"] == "ignore";
    for end in 1..=points.len() {
        let current = points[end - 1];
        if ignore_low
            && current.value.is_some()
            && low_sample_floor.is_some_and(|floor| current.samples < floor)
        {
            continue;
        }
        let window = &points[end.saturating_sub(n)..end];
        let mut breaching = 0;
        let mut present = 0;
        for p in window {
            match p.value {
                Some(v) => {
                    present += 1;
                    if breaches(input, v) {
                        breaching += 1;
                    }
                }
                None => match missing {
                    "breaching" => {
                        present += 1;
                        breaching += 1;
                    }
                    "notBreaching" => present += 1,
                    _ => {}
                },
            }
        }
        if current.value.is_none() && missing == "ignore" {
            continue;
        }
        state = if present == 0 {
            State::InsufficientData
        } else if breaching >= m {
            State::Alarm
        } else {
            State::Ok
        };
    }
    state
}

/// The state after 20 periods of `regime`, starting from `INSUFFICIENT_DATA`.
fn state_under(alarm: &str, input: &Value, regime: Regime) -> State {
    let points = vec![point(alarm, input, regime); 20];
    run(input, &points, State::InsufficientData)
}

fn runbook_table() -> Vec<(String, [String; 3])> {
    let runbook = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/RUNBOOK.md"),
    )
    .expect("runbook");
    let start = runbook
        .find("## At no traffic, one request a minute, and a flood")
        .expect("the runbook has the traffic-regime table");
    runbook[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| alarm |"))
        .skip(2)
        .take_while(|l| l.starts_with("| ["))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            let name = cells[0]
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .to_owned();
            (
                name,
                [
                    cells[1].to_owned(),
                    cells[2].to_owned(),
                    cells[3].to_owned(),
                ],
            )
        })
        .collect()
}

/// The state a runbook cell opens with (`**OK**`, `**ALARM**`, `**INSUFFICIENT_DATA**`).
fn stated(cell: &str) -> State {
    let word = cell
        .strip_prefix("**")
        .and_then(|c| c.split("**").next())
        .unwrap_or_else(|| panic!("a cell opens with the state in bold: {cell}"));
    match word {
        "OK" => State::Ok,
        "ALARM" => State::Alarm,
        "INSUFFICIENT_DATA" => State::InsufficientData,
        other => panic!("unknown state {other}"),
    }
}

#[test]
fn every_alarm_behaves_at_every_traffic_as_the_runbook_says() {
    let (_, _, rendered) = common::rendered();
    let table = runbook_table();
    assert_eq!(
        table.len(),
        rendered.alarms.len(),
        "one row per alarm: {:?}",
        table.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    for alarm in &rendered.alarms {
        let name = alarm.input["AlarmName"]
            .as_str()
            .and_then(|n| n.strip_prefix("svc-"))
            .expect("named <Service>-<file>");
        let (_, cells) = table
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("the runbook's table has no row for {name}"));
        let regimes = [NO_TRAFFIC, ONE_A_MINUTE_BAD, flood(flood_bad(name))];
        for (regime, cell) in regimes.iter().zip(cells) {
            assert_eq!(
                state_under(name, &alarm.input, *regime),
                stated(cell),
                "{name} under {regime:?}: the runbook says {cell}"
            );
        }
        // Whatever state it reached, it recovers when the bad stops: with good traffic, and
        // when traffic stops altogether (no alarm here stays red on silence).
        for bad in [ONE_A_MINUTE_BAD, flood(flood_bad(name))] {
            let mut points = vec![point(name, &alarm.input, bad); 20];
            let fired = run(&alarm.input, &points, State::InsufficientData);
            for after in [ONE_A_MINUTE_GOOD, flood(0.0), NO_TRAFFIC] {
                points.extend(vec![point(name, &alarm.input, after); 20]);
                assert_eq!(
                    run(&alarm.input, &points, State::InsufficientData),
                    State::Ok,
                    "{name}: from {fired:?} under {bad:?}, then {after:?}"
                );
                points.truncate(20);
            }
        }
    }
}

/// The choices the runbook's table follows from, alarm by alarm: what a missing minute means,
/// the period, and M of N. A change here is a change of behaviour at some traffic.
#[test]
fn every_alarm_pins_missing_data_period_and_m_of_n() {
    let (_, _, rendered) = common::rendered();
    // (alarm, TreatMissingData, period s, N, M)
    let expected: &[(&str, &str, u64, u64, u64)] = &[
        ("apigw-5xx", "notBreaching", 60, 3, 3),
        ("config-failure", "notBreaching", 60, 10, 10),
        ("deny-spike", "notBreaching", 60, 5, 3),
        ("emf-validation-errors", "notBreaching", 300, 1, 1),
        ("lambda-errors", "notBreaching", 60, 3, 3),
        ("lambda-throttles", "notBreaching", 60, 5, 3),
        ("top-denied-source-ip", "notBreaching", 60, 5, 3),
        ("upstream-5xx-rate", "notBreaching", 60, 3, 3),
        ("upstream-failures", "notBreaching", 60, 3, 3),
        ("upstream-latency-p90", "notBreaching", 60, 5, 5),
    ];
    assert_eq!(rendered.alarms.len(), expected.len());
    for (name, missing, period, n, m) in expected {
        let input = common::alarm(&rendered, &format!("svc-{name}"));
        assert_eq!(input["TreatMissingData"], *missing, "{name}");
        let p = input["Period"]
            .as_u64()
            .or_else(|| {
                input["Metrics"]
                    .as_array()?
                    .iter()
                    .find_map(|q| q["MetricStat"]["Period"].as_u64().or(q["Period"].as_u64()))
            })
            .expect("a period");
        assert_eq!(p, *period, "{name}");
        assert_eq!(input["EvaluationPeriods"], *n, "{name}");
        assert_eq!(input["DatapointsToAlarm"], *m, "{name}");
    }
    let p90 = common::alarm(&rendered, "svc-upstream-latency-p90");
    assert_eq!(p90["EvaluateLowSampleCountPercentile"], "evaluate");
}

/// The model is not vacuous: the old latency definition (`ignore`) freezes at one request a
/// minute, and an alarm in ALARM stays there when traffic falls under 100 a minute.
#[test]
fn the_model_sees_why_ignore_froze_the_latency_alarm() {
    let (_, _, rendered) = common::rendered();
    let mut input = common::alarm(&rendered, "svc-upstream-latency-p90").clone();
    input["EvaluateLowSampleCountPercentile"] = "ignore".into();
    let name = "upstream-latency-p90";
    assert_eq!(
        state_under(name, &input, ONE_A_MINUTE_BAD),
        State::InsufficientData
    );
    let mut points = vec![point(name, &input, flood(0.2)); 10];
    assert_eq!(run(&input, &points, State::InsufficientData), State::Alarm);
    points.extend(vec![point(name, &input, ONE_A_MINUTE_GOOD); 30]);
    assert_eq!(run(&input, &points, State::InsufficientData), State::Alarm);
}

/// The dashboard's error rate and the alarms share a denominator: forwarded requests (every
/// forwarded request emits `UpstreamFailure` and `UpstreamHTTPError`, 0 or 1; a deny emits
/// neither), so a deny flood cannot dilute the backend's error rate on the page.
#[test]
fn the_dashboard_error_rate_divides_by_forwarded_requests_like_the_alarms() {
    let (_, _, rendered) = common::rendered();
    let widget = rendered
        .dashboards
        .iter()
        .flat_map(|d| d.body["widgets"].as_array().into_iter().flatten())
        .find(|w| {
            w["properties"]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Error rate"))
        })
        .expect("an error-rate widget");
    let rows = widget["properties"]["metrics"].as_array().expect("metrics");
    let options = |row: &Value| row.as_array().and_then(|r| r.last()).cloned();
    let errors = rows
        .iter()
        .filter_map(options)
        .find(|o| o["id"] == "errors")
        .expect("an `errors` expression");
    let expression = errors["expression"].as_str().expect("expression");
    let denominator = expression
        .rsplit('/')
        .next()
        .and_then(|d| {
            d.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .find(|s| !s.is_empty())
        })
        .expect("a division");
    let row = rows
        .iter()
        .find(|r| options(r).is_some_and(|o| o["id"] == denominator))
        .and_then(Value::as_array)
        .expect("the denominator's row");
    let metric = row[1].as_str().unwrap_or_default();
    assert!(
        ["UpstreamFailure", "UpstreamHTTPError"].contains(&metric),
        "the error rate divides by {metric}, not by forwarded requests: {expression}"
    );
    assert_eq!(
        options(&Value::Array(row.clone())).unwrap()["stat"],
        "SampleCount"
    );
    // The alarms' denominators: SampleCount of UpstreamHTTPError, Average of UpstreamFailure.
    let failures = common::alarm(&rendered, "svc-upstream-failures");
    assert_eq!(
        (&failures["MetricName"], &failures["Statistic"]),
        (&Value::from("UpstreamFailure"), &Value::from("Average"))
    );
    let rate = common::alarm(&rendered, "svc-upstream-5xx-rate");
    let forwarded = rate["Metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|q| q["Id"] == "forwarded"))
        .expect("forwarded");
    assert_eq!(forwarded["MetricStat"]["Stat"], "SampleCount");
}
