//! `check`, `top-denied` and target resolution against the fakes (`respond_fake`): the
//! deciding entry and the WAF block, the Contributor Insights report request and its Logs
//! Insights fallback, stack outputs read once, and the whole deny-spike drill timed step by step
//! (`--nocapture` prints the figures; nothing asserts on them).

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
