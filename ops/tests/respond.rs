//! The respond commands against a fake AWS built on aws-smithy-mocks (`respond_fake`): the
//! exact requests and their order, the lock token passed, the retry on
//! `WAFOptimisticLockException`, the read-back version check after `PutParameter`, nothing
//! written on a bad entry, an admitted address or `--dry-run`, the exit codes, and the whole
//! deny-spike drill timed step by step (`--nocapture` prints the figures; nothing asserts on
//! them).

mod respond_fake;

use std::time::Instant;

use respond_fake::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const LIST: &str = "# build agents\n10.0.0.0/24\n198.51.100.7  # partner X\n";
const NOTE_DATE: &str = "2026-12-02";

#[test]
fn allow_appends_a_note_and_the_entry_then_reads_back() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        let (code, out) = run(
            &w,
            &["allow", "203.0.113.7", "--comment", "new build agent"],
        )
        .await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            calls(&w),
            [
                "GetCallerIdentity",
                &format!("GetParameter {PARAM} decrypt=true"),
                &format!("PutParameter {PARAM}"),
                &format!("GetParameter {PARAM} decrypt=true"),
            ]
        );
        let st = w.lock().unwrap();
        let put = &st.puts[0];
        assert_eq!(
            put.value().unwrap(),
            format!("{LIST}# {NOTE_DATE} {CALLER}: new build agent\n203.0.113.7\n")
        );
        assert_eq!(put.overwrite(), Some(true));
        // Type, key and tier are the parameter's own: an overwrite must not send them.
        assert_eq!(put.r#type(), None);
        assert_eq!(put.key_id(), None);
        assert!(out.contains("+   5 | 203.0.113.7"), "{out}");
        assert!(
            out.contains("version 2; in force everywhere by 2026-12-02T03:01:00Z (within 60 s)"),
            "{out}"
        );
    });
}

#[test]
fn a_bad_entry_writes_nothing() {
    runtime().block_on(async {
        for bad in [
            "10.0.0.1/8",
            "10.0.0.300",
            "10.0.0.1,10.0.0.2",
            "host.example",
        ] {
            let w = World::with_list(LIST);
            let (code, out) = run(&w, &["allow", "203.0.113.9", bad, "--comment", "x"]).await;
            assert_eq!(code, 1, "{bad}: {out}");
            assert!(out.contains("nothing was written"), "{out}");
            assert!(w.lock().unwrap().puts.is_empty(), "{bad}");
        }
    });
}

#[test]
fn a_comment_with_a_newline_cannot_smuggle_an_entry() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        let (code, _) = run(&w, &["allow", "203.0.113.7", "--comment", "ok\n0.0.0.0/0"]).await;
        assert_eq!(code, 0);
        let st = w.lock().unwrap();
        let text = st.puts[0].value().unwrap();
        let entries = vpc_proxy::allowlist::entries(text).unwrap();
        assert!(entries.iter().all(|e| e.text != "0.0.0.0/0"), "{text}");
    });
}

#[test]
fn dry_run_prints_the_diff_and_writes_nothing() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        let (code, out) = run(
            &w,
            &["allow", "203.0.113.7", "--comment", "agent", "--dry-run"],
        )
        .await;
        assert_eq!(code, 0);
        assert!(
            out.contains(&format!("+   4 | # {NOTE_DATE} {CALLER}: agent")),
            "{out}"
        );
        assert!(out.contains("dry run: nothing was written"), "{out}");
        assert!(!calls(&w).iter().any(|c| c.starts_with("PutParameter")));
        let (code, out) = run(&w, &["revoke", "10.0.0.0/24", "--dry-run"]).await;
        assert_eq!(code, 0);
        assert!(out.contains("-   2 | 10.0.0.0/24"), "{out}");
        let (code, out) = run(
            &w,
            &["block", "192.0.2.1", "--comment", "flood", "--dry-run"],
        )
        .await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("+ 192.0.2.1/32"), "{out}");
        let (code, _) = run(&w, &["unblock", "192.0.2.1", "--dry-run"]).await;
        assert_eq!(code, 1, "not blocked: refused");
        let st = w.lock().unwrap();
        assert!(st.puts.is_empty() && st.updates.is_empty());
    });
}

#[test]
fn an_already_admitted_entry_is_skipped_not_duplicated() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        let (code, out) = run(&w, &["allow", "10.0.0.9", "--comment", "x"]).await;
        assert_eq!(code, 0);
        assert!(
            out.contains("10.0.0.9 is already admitted by line 2 (10.0.0.0/24)"),
            "{out}"
        );
        assert!(w.lock().unwrap().puts.is_empty());
    });
}

#[test]
fn a_writer_between_our_read_and_write_is_reported_with_what_we_dropped() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock().unwrap().intrude_before_put = Some(format!("{LIST}192.0.2.50\n"));
        let (code, out) = run(&w, &["allow", "203.0.113.7", "--comment", "agent"]).await;
        assert_eq!(code, 3, "{out}");
        assert!(
            out.contains("version 2 was written by someone else after we read version 1"),
            "{out}"
        );
        assert!(
            out.contains("entries it had that are now gone: 192.0.2.50"),
            "{out}"
        );
        assert!(calls(&w).contains(&format!("GetParameter {PARAM}:2 decrypt=true")));
    });
}

#[test]
fn a_writer_after_our_write_is_reported() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock().unwrap().intrude_after_put = Some("192.0.2.50\n".into());
        let (code, out) = run(&w, &["allow", "203.0.113.7", "--comment", "agent"]).await;
        assert_eq!(code, 3, "{out}");
        assert!(
            out.contains("the parameter is at version 3 now, not our 2"),
            "{out}"
        );
    });
}

#[test]
fn revoke_removes_exact_entries_and_refuses_an_address_inside_a_range() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        let (code, out) = run(&w, &["revoke", "10.0.0.5"]).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("admitted by line 2 (10.0.0.0/24)"), "{out}");
        assert!(w.lock().unwrap().puts.is_empty());
        let (code, out) = run(&w, &["revoke", "198.51.100.7/32", "--comment", "contract ended"]).await;
        assert_eq!(code, 0, "{out}");
        let st = w.lock().unwrap();
        assert_eq!(
            st.puts[0].value().unwrap(),
            format!("# build agents\n10.0.0.0/24\n# {NOTE_DATE} {CALLER}: revoked 198.51.100.7/32: contract ended\n")
        );
    });
}

#[test]
fn block_sends_the_whole_list_with_the_lock_token() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock()
            .unwrap()
            .sets
            .get_mut("11111111-aaaa")
            .unwrap()
            .addresses = vec!["192.0.2.0/28".into()];
        let (code, out) = run(
            &w,
            &[
                "block",
                "203.0.113.66",
                "2001:db8::66",
                "--comment",
                "scanner, ticket 42",
            ],
        )
        .await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            calls(&w),
            [
                format!("GetParameter {PARAM} decrypt=true"),
                "GetCallerIdentity".to_owned(),
                "GetIPSet vpc-proxy-block-v4 11111111-aaaa REGIONAL".to_owned(),
                "UpdateIPSet vpc-proxy-block-v4 11111111-aaaa lock=token-0".to_owned(),
                "GetIPSet vpc-proxy-block-v6 22222222-bbbb REGIONAL".to_owned(),
                "UpdateIPSet vpc-proxy-block-v6 22222222-bbbb lock=token-0".to_owned(),
            ]
        );
        let st = w.lock().unwrap();
        assert_eq!(
            st.updates[0].addresses(),
            ["192.0.2.0/28", "203.0.113.66/32"]
        );
        assert_eq!(st.updates[1].addresses(), ["2001:db8::66/128"]);
        assert_eq!(
            st.updates[0].description(),
            Some(
                format!(
                    "{NOTE_DATE} {CALLER}: block 203.0.113.66 2001:db8::66: scanner, ticket 42"
                )
                .as_str()
            )
        );
    });
}

#[test]
fn block_retries_on_an_optimistic_lock_conflict_from_a_fresh_read() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock().unwrap().lock_conflicts = 2;
        let (code, out) = run(&w, &["block", "203.0.113.66", "--comment", "flood"]).await;
        assert_eq!(code, 0, "{out}");
        let updates: Vec<String> = calls(&w)
            .into_iter()
            .filter(|c| c.contains("IPSet"))
            .collect();
        assert_eq!(
            updates,
            [
                "GetIPSet vpc-proxy-block-v4 11111111-aaaa REGIONAL",
                "UpdateIPSet vpc-proxy-block-v4 11111111-aaaa lock=token-0",
                "GetIPSet vpc-proxy-block-v4 11111111-aaaa REGIONAL",
                "UpdateIPSet vpc-proxy-block-v4 11111111-aaaa lock=token-1",
                "GetIPSet vpc-proxy-block-v4 11111111-aaaa REGIONAL",
                "UpdateIPSet vpc-proxy-block-v4 11111111-aaaa lock=token-2",
            ]
        );
        assert_eq!(
            w.lock().unwrap().sets["11111111-aaaa"].addresses,
            ["203.0.113.66/32"]
        );
        // A set that never settles gives up with the concurrent-change code, not a loop.
        let w = World::with_list(LIST);
        w.lock().unwrap().lock_conflicts = 99;
        let (code, out) = run(&w, &["block", "203.0.113.66", "--comment", "flood"]).await;
        assert_eq!(code, 3, "{out}");
        assert_eq!(
            w.lock().unwrap().updates.len(),
            vpc_proxy_ops::respond::waf::ATTEMPTS
        );
    });
}

#[test]
fn block_refuses_what_the_allow_list_admits_unless_forced() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        for target in ["10.0.0.7", "10.0.0.0/16"] {
            let (code, out) = run(&w, &["block", target, "--comment", "x"]).await;
            assert_eq!(code, 1, "{out}");
            assert!(out.contains("admitted by line 2 (10.0.0.0/24)"), "{out}");
        }
        assert!(w.lock().unwrap().updates.is_empty());
        let (code, out) = run(
            &w,
            &[
                "block",
                "10.0.0.7",
                "--comment",
                "compromised agent",
                "--force",
            ],
        )
        .await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(w.lock().unwrap().updates.len(), 1);
    });
}

#[test]
fn ipv6_without_an_ipv6_set_writes_nothing() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        let env = [
            ("VPC_PROXY_OPS_PARAMETER", PARAM),
            ("VPC_PROXY_OPS_IP_SET_ARN", V4_ARN),
        ];
        let (code, out) = run_with(
            &w,
            &["block", "192.0.2.1", "2001:db8::1", "--comment", "x"],
            &env,
        )
        .await;
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("no IPv6 IP set"), "{out}");
        assert!(w.lock().unwrap().updates.is_empty());
    });
}

#[test]
fn unblock_removes_the_entry() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock()
            .unwrap()
            .sets
            .get_mut("11111111-aaaa")
            .unwrap()
            .addresses = vec!["192.0.2.0/28".into(), "203.0.113.66/32".into()];
        let (code, out) = run(&w, &["unblock", "203.0.113.66"]).await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            w.lock().unwrap().sets["11111111-aaaa"].addresses,
            ["192.0.2.0/28"]
        );
    });
}

#[test]
fn check_names_the_deciding_entry_and_the_waf_block() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock()
            .unwrap()
            .sets
            .get_mut("11111111-aaaa")
            .unwrap()
            .addresses = vec!["192.0.2.0/28".into()];
        let (code, out) = run(&w, &["check", "10.0.0.42"]).await;
        assert_eq!(
            (code, out.as_str()),
            (
                0,
                format!("10.0.0.42: allow, by line 2 (10.0.0.0/24) of {PARAM} version 1\n")
                    .as_str()
            )
        );
        let (code, out) = run(&w, &["check", "::ffff:198.51.100.7"]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("by line 3 (198.51.100.7)"), "{out}");
        let (code, out) = run(&w, &["check", "192.0.2.3"]).await;
        assert_eq!(code, 1);
        assert!(out.contains("192.0.2.3: deny, no entry"), "{out}");
        assert!(out.contains("blocked at WAF by 192.0.2.0/28"), "{out}");
        let (code, out) = run(&w, &["check", "192.0.2.3", "--json"]).await;
        assert_eq!(code, 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["decision"], "deny");
        assert_eq!(v["blocked_by"], "192.0.2.0/28");
        let (code, _) = run(&w, &["check", "not-an-ip"]).await;
        assert_eq!(code, 2);
    });
}

#[test]
fn top_denied_reads_the_rule_report_and_says_what_each_source_is_now() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        {
            let mut st = w.lock().unwrap();
            st.contributors = vec![
                ("203.0.113.66".into(), vec![(10, 400.0), (50, 600.0)]),
                ("10.0.0.9".into(), vec![(5, 0.0), (20, 3.0)]),
            ];
            st.sets.get_mut("11111111-aaaa").unwrap().addresses = vec!["203.0.113.66/32".into()];
        }
        let (code, out) = run(&w, &["top-denied", "--since", "1h"]).await;
        assert_eq!(code, 0, "{out}");
        {
            let st = w.lock().unwrap();
            let req = &st.report_requests[0];
            assert_eq!(req.rule_name(), Some("vpc-proxy-top-denied-source-ips"));
            assert_eq!(req.period(), Some(60));
            assert_eq!(req.order_by(), Some("Sum"));
            assert_eq!(req.max_contributor_count(), Some(20));
            let (start, end) = (
                req.start_time().unwrap().secs(),
                req.end_time().unwrap().secs(),
            );
            assert_eq!(end - start, 3600);
            assert!(end as u64 >= NOW_S);
        }
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[2].contains("203.0.113.66")
                && lines[2].contains("denied")
                && lines[2].contains("blocked (203.0.113.66/32)"),
            "{out}"
        );
        assert!(
            lines[3].contains("10.0.0.9")
                && lines[3].contains("ADMITTED by line 2 (10.0.0.0/24)")
                && lines[3].contains("not blocked"),
            "{out}"
        );
        // First seen is the first datapoint with denies, not the first datapoint.
        assert!(lines[3].contains("2026-12-02T02:21:00Z"), "{out}");
        let (code, out) = run(&w, &["top-denied", "--json"]).await;
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["sources"][0]["source_ip"], "203.0.113.66");
        assert_eq!(v["sources"][0]["denies"], 1000.0);
        assert_eq!(v["sources"][0]["blocked"], true);
        assert_eq!(v["sources"][1]["allowed"], true);
    });
}

#[test]
fn top_denied_falls_back_to_logs_insights_without_the_rule() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        {
            let mut st = w.lock().unwrap();
            st.rule_missing = true;
            st.log_rows = vec![(
                "203.0.113.66".into(),
                812,
                "2026-12-02 02:10:00.000".into(),
                "2026-12-02 02:59:00.000".into(),
            )];
        }
        let env = [
            ("VPC_PROXY_OPS_PARAMETER", PARAM),
            ("VPC_PROXY_OPS_FUNCTION_NAME", "vpc-proxy-fn"),
        ];
        let (code, out) = run_with(
            &w,
            &["top-denied", "--since", "30m", "--rule-name", "gone"],
            &env,
        )
        .await;
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("Logs Insights over /aws/lambda/vpc-proxy-fn"),
            "{out}"
        );
        assert!(
            out.contains("812") && out.contains("2026-12-02 02:10:00.000"),
            "{out}"
        );
        let st = w.lock().unwrap();
        let q = &st.queries[0];
        assert_eq!(q.end_time().unwrap() - q.start_time().unwrap(), 1800);
        assert!(q.query_string().unwrap().contains("decision = \"deny\""));
    });
}

#[test]
fn targets_come_from_the_stack_outputs_once() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock().unwrap().outputs = vec![
            ("AllowListParameterName".into(), PARAM.into()),
            ("BlockIpSetV4Arn".into(), V4_ARN.into()),
            ("BlockIpSetV6Arn".into(), String::new()),
        ];
        let (code, out) = run_with(&w, &["check", "10.0.0.1", "--stack", "proxy-prod"], &[]).await;
        assert_eq!(code, 0, "{out}");
        let c = calls(&w);
        assert_eq!(
            c.iter()
                .filter(|c| c.starts_with("DescribeStacks proxy-prod"))
                .count(),
            1,
            "{c:?}"
        );
        assert!(
            c.iter()
                .any(|c| c.starts_with("GetIPSet vpc-proxy-block-v4"))
        );
        // A flag wins over the stack.
        let (code, out) = run_with(
            &w,
            &["list", "--stack", "proxy-prod", "--parameter", "/other"],
            &[],
        )
        .await;
        assert_eq!(code, 4, "{out}");
        assert!(
            out.contains(
                "reading parameter /other failed: ParameterNotFound: Parameter /other not found."
            ),
            "{out}"
        );
    });
}

#[test]
fn errors_are_one_sentence_with_the_aws_code() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock().unwrap().parameter_missing = true;
        let (code, out) = run(&w, &["allow", "203.0.113.7", "--comment", "x"]).await;
        assert_eq!(code, 4);
        assert_eq!(out, format!("ERROR: reading parameter {PARAM} failed: ParameterNotFound: Parameter {PARAM} not found."));
        let (code, out) = run_with(&w, &["list"], &[]).await;
        assert_eq!(code, 2);
        assert!(out.starts_with("ERROR: the allow-list SSM parameter (name or ARN) is not named: give --parameter"), "{out}");
        let (code, _) = run(&w, &["allow", "203.0.113.7"]).await;
        assert_eq!(code, 2, "--comment is required");
    });
}

/// The deny-spike drill of the runbook, step by step, against the fake: what the on-call
/// engineer runs from the page to a verified action. Prints the time of each step; the
/// figures go in the report, nothing asserts on them.
#[test]
fn deny_spike_drill_timed() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock().unwrap().contributors = vec![
            ("203.0.113.66".into(), vec![(40, 900.0), (59, 1200.0)]),
            ("10.0.1.20".into(), vec![(45, 120.0)]),
        ];
        let mut steps: Vec<(&str, std::time::Duration, usize)> = Vec::new();
        let mut step = async |name: &'static str, argv: &[&str], want: u8| {
            let t = Instant::now();
            let (code, out) = run(&w, argv).await;
            let took = t.elapsed();
            assert_eq!(code, want, "{name}: {out}");
            steps.push((name, took, calls(&w).len()));
        };
        step(
            "1 top-denied --since 1h",
            &["top-denied", "--since", "1h"],
            0,
        )
        .await;
        step(
            "2 check 203.0.113.66 (attacker?)",
            &["check", "203.0.113.66"],
            1,
        )
        .await;
        step("2 check 10.0.1.20 (new agent?)", &["check", "10.0.1.20"], 1).await;
        step(
            "3a allow 10.0.1.20 --dry-run",
            &[
                "allow",
                "10.0.1.20",
                "--comment",
                "new build agent",
                "--dry-run",
            ],
            0,
        )
        .await;
        step(
            "3a allow 10.0.1.20",
            &["allow", "10.0.1.20", "--comment", "new build agent"],
            0,
        )
        .await;
        step(
            "3b block 203.0.113.66 --dry-run",
            &["block", "203.0.113.66", "--comment", "flood", "--dry-run"],
            0,
        )
        .await;
        step(
            "3b block 203.0.113.66",
            &["block", "203.0.113.66", "--comment", "flood"],
            0,
        )
        .await;
        step("verify check 10.0.1.20", &["check", "10.0.1.20"], 0).await;
        step("verify check 203.0.113.66", &["check", "203.0.113.66"], 1).await;
        step("verify top-denied", &["top-denied"], 0).await;
        let total: std::time::Duration = steps.iter().map(|s| s.1).sum();
        let requests: usize = steps.iter().map(|s| s.2).sum();
        for (name, took, n) in &steps {
            println!(
                "drill {name:<36} {:>8.2} ms  {n:>2} AWS requests",
                took.as_secs_f64() * 1e3
            );
        }
        println!(
            "drill {:<36} {:>8.2} ms  {requests:>2} AWS requests",
            "total",
            total.as_secs_f64() * 1e3
        );
    });
}

#[test]
fn block_on_a_stack_without_a_web_acl_says_it_is_not_enforced() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock().unwrap().outputs = vec![
            ("AllowListParameterName".into(), PARAM.into()),
            ("BlockIpSetV4Arn".into(), V4_ARN.into()),
        ];
        let (code, out) = run_with(
            &w,
            &["block", "192.0.2.9", "--comment", "x", "--stack", "s"],
            &[],
        )
        .await;
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("not enforced until it is deployed with Waf=true"),
            "{out}"
        );
        w.lock().unwrap().outputs.push((
            "WebAclArn".into(),
            "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/x/y".into(),
        ));
        let (code, out) = run_with(
            &w,
            &["block", "192.0.2.10", "--comment", "x", "--stack", "s"],
            &[],
        )
        .await;
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains("not enforced"), "{out}");
    });
}

#[test]
fn top_denied_without_the_parameter_says_admission_is_unknown() {
    runtime().block_on(async {
        let w = World::with_list(LIST);
        w.lock().unwrap().contributors = vec![("10.0.0.9".into(), vec![(1, 5.0)])];
        let env = [("VPC_PROXY_OPS_SERVICE", "vpc-proxy")];
        let (code, out) = run_with(&w, &["top-denied"], &env).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("no allow-list parameter given"), "{out}");
        assert!(out.lines().nth(2).unwrap().contains("unknown"), "{out}");
        let (_, out) = run_with(&w, &["top-denied", "--json"], &env).await;
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["sources"][0]["allowed"], serde_json::Value::Null);
        assert!(!calls(&w).iter().any(|c| c.starts_with("GetParameter")));
    });
}
