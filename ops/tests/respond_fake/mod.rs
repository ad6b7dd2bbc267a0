//! A fake AWS for the respond commands, on the SDK's own mock tooling (aws-smithy-mocks): SSM
//! with versions and history, WAF IP sets with lock tokens, STS, a Contributor Insights
//! report, a Logs Insights query and a stack's outputs. Every request is recorded, in order,
//! with what the tests assert on; switches make another writer appear at the moments that
//! matter (between our read and our write, after our write, on an IP set update).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use vpc_proxy_ops::cli::{self, Command};
use vpc_proxy_ops::respond::Clients;
use vpc_proxy_ops::respond::command;

pub const ACCOUNT: &str = "111122223333";
pub const CALLER: &str = "arn:aws:sts::111122223333:assumed-role/oncall/alice";
pub const PARAM: &str = "/vpc-proxy/allowed-ips";
pub const V4_ARN: &str =
    "arn:aws:wafv2:eu-west-1:111122223333:regional/ipset/vpc-proxy-block-v4/11111111-aaaa";
pub const V6_ARN: &str =
    "arn:aws:wafv2:eu-west-1:111122223333:regional/ipset/vpc-proxy-block-v6/22222222-bbbb";
/// 2026-12-02T03:00:00Z.
pub const NOW_S: u64 = 1_796_180_400;

#[derive(Default, Clone)]
pub struct Set {
    pub addresses: Vec<String>,
    pub revision: u32,
    pub description: Option<String>,
}

#[derive(Default)]
pub struct World {
    pub calls: Vec<String>,
    /// Versions of the parameter, oldest first (version = index + 1).
    pub versions: Vec<String>,
    /// Written by "someone else" just before our PutParameter lands.
    pub intrude_before_put: Option<String>,
    /// Written by "someone else" just after it.
    pub intrude_after_put: Option<String>,
    pub puts: Vec<aws_sdk_ssm::operation::put_parameter::PutParameterInput>,
    pub sets: BTreeMap<String, Set>,
    /// How many UpdateIPSet calls fail with WAFOptimisticLockException (another writer won).
    pub lock_conflicts: usize,
    pub updates: Vec<aws_sdk_wafv2::operation::update_ip_set::UpdateIpSetInput>,
    /// Contributor Insights: (ip, [(minute offset from the window's start, denies)]).
    pub contributors: Vec<(String, Vec<(i64, f64)>)>,
    pub rule_missing: bool,
    pub report_requests:
        Vec<aws_sdk_cloudwatch::operation::get_insight_rule_report::GetInsightRuleReportInput>,
    /// Logs Insights rows: (ip, denies, first, last).
    pub log_rows: Vec<(String, u64, String, String)>,
    pub queries: Vec<aws_sdk_cloudwatchlogs::operation::start_query::StartQueryInput>,
    pub outputs: Vec<(String, String)>,
    pub parameter_missing: bool,
}

impl World {
    pub fn with_list(text: &str) -> Arc<Mutex<World>> {
        let mut w = World {
            versions: vec![text.to_owned()],
            ..World::default()
        };
        w.sets.insert("11111111-aaaa".into(), Set::default());
        w.sets.insert("22222222-bbbb".into(), Set::default());
        Arc::new(Mutex::new(w))
    }
}

pub fn clients(world: &Arc<Mutex<World>>) -> Clients {
    Clients {
        ssm: ssm(world),
        waf: waf(world),
        sts: sts(world),
        cloudwatch: cloudwatch(world),
        logs: logs(world),
        cloudformation: cloudformation(world),
    }
}

fn ssm(world: &Arc<Mutex<World>>) -> aws_sdk_ssm::Client {
    use aws_sdk_ssm::Client;
    use aws_sdk_ssm::error::ErrorMetadata;
    use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};
    use aws_sdk_ssm::operation::put_parameter::PutParameterOutput;
    use aws_sdk_ssm::types::Parameter;
    use aws_sdk_ssm::types::error::ParameterNotFound;
    let w = world.clone();
    let get = mock!(Client::get_parameter).then_compute_response(move |req| {
        let mut st = w.lock().unwrap();
        let asked = req.name().unwrap().to_owned();
        st.calls.push(format!(
            "GetParameter {asked} decrypt={}",
            req.with_decryption().unwrap_or(false)
        ));
        let (name, version) = match asked.rsplit_once(':') {
            Some((n, v)) if v.parse::<usize>().is_ok() => (n.to_owned(), v.parse().ok()),
            _ => (asked.clone(), None),
        };
        let version = version.unwrap_or(st.versions.len());
        match st.versions.get(version.wrapping_sub(1)) {
            Some(text) if !st.parameter_missing && name == PARAM => MockResponse::Output(
                GetParameterOutput::builder()
                    .parameter(
                        Parameter::builder()
                            .name(PARAM)
                            .value(text)
                            .version(version as i64)
                            .build(),
                    )
                    .build(),
            ),
            _ => MockResponse::Error(GetParameterError::ParameterNotFound(
                ParameterNotFound::builder()
                    .message(format!("Parameter {asked} not found."))
                    .meta(
                        ErrorMetadata::builder()
                            .code("ParameterNotFound")
                            .message(format!("Parameter {asked} not found."))
                            .build(),
                    )
                    .build(),
            )),
        }
    });
    let w = world.clone();
    let put = mock!(Client::put_parameter).then_compute_output(move |req| {
        let mut st = w.lock().unwrap();
        st.calls
            .push(format!("PutParameter {}", req.name().unwrap()));
        st.puts.push(req.clone());
        if let Some(theirs) = st.intrude_before_put.take() {
            st.versions.push(theirs);
        }
        st.versions.push(req.value().unwrap().to_owned());
        let ours = st.versions.len() as i64;
        if let Some(theirs) = st.intrude_after_put.take() {
            st.versions.push(theirs);
        }
        PutParameterOutput::builder().version(ours).build()
    });
    mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&get, &put])
}

fn waf(world: &Arc<Mutex<World>>) -> aws_sdk_wafv2::Client {
    use aws_sdk_wafv2::Client;
    use aws_sdk_wafv2::operation::get_ip_set::GetIpSetOutput;
    use aws_sdk_wafv2::operation::update_ip_set::{UpdateIPSetError, UpdateIpSetOutput};
    use aws_sdk_wafv2::types::error::WafOptimisticLockException;
    use aws_sdk_wafv2::types::{IpAddressVersion, IpSet};
    let w = world.clone();
    let get = mock!(Client::get_ip_set).then_compute_output(move |req| {
        let mut st = w.lock().unwrap();
        let id = req.id().unwrap().to_owned();
        st.calls.push(format!(
            "GetIPSet {} {id} {}",
            req.name().unwrap(),
            req.scope().unwrap().as_str()
        ));
        let set = st.sets.get(&id).cloned().unwrap_or_default();
        GetIpSetOutput::builder()
            .ip_set(
                IpSet::builder()
                    .name(req.name().unwrap())
                    .id(&id)
                    .arn(format!("arn:{id}"))
                    .ip_address_version(if id.ends_with("aaaa") {
                        IpAddressVersion::Ipv4
                    } else {
                        IpAddressVersion::Ipv6
                    })
                    .set_addresses(Some(set.addresses.clone()))
                    .set_description(set.description.clone())
                    .build()
                    .unwrap(),
            )
            .lock_token(format!("token-{}", set.revision))
            .build()
    });
    let w = world.clone();
    let update = mock!(Client::update_ip_set).then_compute_response(move |req| {
        let mut st = w.lock().unwrap();
        let id = req.id().unwrap().to_owned();
        st.calls.push(format!(
            "UpdateIPSet {} {id} lock={}",
            req.name().unwrap(),
            req.lock_token().unwrap()
        ));
        st.updates.push(req.clone());
        let conflict = st.lock_conflicts > 0;
        let set = st.sets.entry(id).or_default();
        if conflict || req.lock_token() != Some(&format!("token-{}", set.revision)) {
            // Another writer got there first: its change bumps the token.
            set.revision += 1;
            st.lock_conflicts = st.lock_conflicts.saturating_sub(1);
            return MockResponse::Error(UpdateIPSetError::WafOptimisticLockException(
                WafOptimisticLockException::builder()
                    .message("AWS WAF couldn’t save your changes because someone changed the resource after you started to edit it.")
                    .build(),
            ));
        }
        set.addresses = req.addresses().to_vec();
        set.description = req.description().map(str::to_owned);
        set.revision += 1;
        MockResponse::Output(
            UpdateIpSetOutput::builder()
                .next_lock_token(format!("token-{}", set.revision))
                .build(),
        )
    });
    mock_client!(aws_sdk_wafv2, RuleMode::MatchAny, &[&get, &update])
}

fn sts(world: &Arc<Mutex<World>>) -> aws_sdk_sts::Client {
    use aws_sdk_sts::Client;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
    let w = world.clone();
    let who = mock!(Client::get_caller_identity).then_compute_output(move |_| {
        w.lock().unwrap().calls.push("GetCallerIdentity".into());
        GetCallerIdentityOutput::builder()
            .arn(CALLER)
            .account(ACCOUNT)
            .user_id("AROAEXAMPLE:alice")
            .build()
    });
    mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[&who])
}

fn cloudwatch(world: &Arc<Mutex<World>>) -> aws_sdk_cloudwatch::Client {
    use aws_sdk_cloudwatch::Client;
    use aws_sdk_cloudwatch::operation::get_insight_rule_report::{
        GetInsightRuleReportError, GetInsightRuleReportOutput,
    };
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::error::ResourceNotFoundException;
    use aws_sdk_cloudwatch::types::{InsightRuleContributor, InsightRuleContributorDatapoint};
    let w = world.clone();
    let report = mock!(Client::get_insight_rule_report).then_compute_response(move |req| {
        let mut st = w.lock().unwrap();
        st.calls
            .push(format!("GetInsightRuleReport {}", req.rule_name().unwrap()));
        st.report_requests.push(req.clone());
        if st.rule_missing {
            return MockResponse::Error(GetInsightRuleReportError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("rule not found")
                    .build(),
            ));
        }
        let start = req.start_time().unwrap().secs();
        let contributors = st
            .contributors
            .iter()
            .map(|(ip, points)| {
                let mut c = InsightRuleContributor::builder()
                    .keys(ip)
                    .approximate_aggregate_value(points.iter().map(|p| p.1).sum());
                for (minute, v) in points {
                    c = c.datapoints(
                        InsightRuleContributorDatapoint::builder()
                            .timestamp(DateTime::from_secs(start + minute * 60))
                            .approximate_value(*v)
                            .build(),
                    );
                }
                c.build()
            })
            .collect();
        MockResponse::Output(
            GetInsightRuleReportOutput::builder()
                .set_contributors(Some(contributors))
                .build(),
        )
    });
    mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&report])
}

fn logs(world: &Arc<Mutex<World>>) -> aws_sdk_cloudwatchlogs::Client {
    use aws_sdk_cloudwatchlogs::Client;
    use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
    use aws_sdk_cloudwatchlogs::operation::start_query::StartQueryOutput;
    use aws_sdk_cloudwatchlogs::types::{QueryStatus, ResultField};
    let w = world.clone();
    let start = mock!(Client::start_query).then_compute_output(move |req| {
        let mut st = w.lock().unwrap();
        st.calls
            .push(format!("StartQuery {}", req.log_group_name().unwrap()));
        st.queries.push(req.clone());
        StartQueryOutput::builder().query_id("q-1").build()
    });
    let w = world.clone();
    let results = mock!(Client::get_query_results).then_compute_output(move |req| {
        let mut st = w.lock().unwrap();
        st.calls
            .push(format!("GetQueryResults {}", req.query_id().unwrap()));
        let field = |f: &str, v: String| ResultField::builder().field(f).value(v).build();
        let rows = st
            .log_rows
            .iter()
            .map(|(ip, n, first, last)| {
                vec![
                    field("source_ip", ip.clone()),
                    field("denies", n.to_string()),
                    field("first", first.clone()),
                    field("last", last.clone()),
                ]
            })
            .collect();
        GetQueryResultsOutput::builder()
            .status(QueryStatus::Complete)
            .set_results(Some(rows))
            .build()
    });
    mock_client!(
        aws_sdk_cloudwatchlogs,
        RuleMode::MatchAny,
        &[&start, &results]
    )
}

fn cloudformation(world: &Arc<Mutex<World>>) -> aws_sdk_cloudformation::Client {
    use aws_sdk_cloudformation::Client;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::types::{Output, Stack, StackStatus};
    let w = world.clone();
    let describe = mock!(Client::describe_stacks).then_compute_output(move |req| {
        let mut st = w.lock().unwrap();
        st.calls
            .push(format!("DescribeStacks {}", req.stack_name().unwrap()));
        let outputs = st
            .outputs
            .iter()
            .map(|(k, v)| Output::builder().output_key(k).output_value(v).build())
            .collect();
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name(req.stack_name().unwrap())
                    .creation_time(aws_sdk_cloudformation::primitives::DateTime::from_secs(0))
                    .stack_status(StackStatus::CreateComplete)
                    .set_outputs(Some(outputs))
                    .build(),
            )
            .build()
    });
    mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&describe])
}

/// Runs one respond command line against the fake: (exit code, stdout, or the failure).
pub async fn run_with(
    world: &Arc<Mutex<World>>,
    argv: &[&str],
    env: &[(&str, &str)],
) -> (u8, String) {
    let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut out = Vec::new();
    let args = match cli::parse(argv) {
        Ok(Command::Respond(a)) => a,
        Ok(other) => panic!("not a respond command: {other:?}"),
        Err(f) => return (f.code, f.message),
    };
    let clients = clients(world);
    let now = UNIX_EPOCH + Duration::from_secs(NOW_S);
    match command::run(&args, &clients, &lookup, now, &mut out).await {
        Ok(code) => (code, String::from_utf8(out).unwrap()),
        Err(f) => (
            f.code,
            format!("{}ERROR: {}", String::from_utf8(out).unwrap(), f.message),
        ),
    }
}

/// The usual targets: the parameter and both IP sets from the environment.
pub const ENV: &[(&str, &str)] = &[
    ("VPC_PROXY_OPS_PARAMETER", PARAM),
    ("VPC_PROXY_OPS_IP_SET_ARN", V4_ARN),
    ("VPC_PROXY_OPS_IP_SET_V6_ARN", V6_ARN),
    ("VPC_PROXY_OPS_SERVICE", "vpc-proxy"),
];

pub async fn run(world: &Arc<Mutex<World>>, argv: &[&str]) -> (u8, String) {
    run_with(world, argv, ENV).await
}

pub fn calls(world: &Arc<Mutex<World>>) -> Vec<String> {
    std::mem::take(&mut world.lock().unwrap().calls)
}
