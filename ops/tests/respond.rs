//! `list`, `allow`, `revoke` against a fake SSM built on aws-smithy-mocks (`respond_fake`):
//! the exact requests and their order, the read-back version check after `PutParameter`
//! (a writer before ours and a writer after ours), nothing written on a bad entry or
//! `--dry-run`, errors as one sentence with the AWS code, and the exit codes.

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

#[test]
fn a_current_list_the_function_refuses_is_not_edited() {
    runtime().block_on(async {
        let w = World::with_list("10.0.0.0/24\n10.0.0.1/8\n");
        let (code, out) = run(&w, &["allow", "203.0.113.7", "--comment", "x"]).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("line 2"), "{out}");
        let (code, out) = run(&w, &["revoke", "10.0.0.0/24"]).await;
        assert_eq!(code, 1, "{out}");
        assert!(w.lock().unwrap().puts.is_empty());
    });
}
