//! `block`, `unblock` against a fake WAFv2 built on aws-smithy-mocks (`respond_fake`): the whole
//! address list sent with the set's lock token, the retry from a fresh read on
//! `WAFOptimisticLockException` (and giving up), the refusal to block what the allow-list
//! admits unless `--force`, and nothing written when a family has no set.

mod respond_fake;

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
