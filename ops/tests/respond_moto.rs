//! `allow`, `check`, `block` and `unblock` end to end: the built `vpc-proxy-ops` binary
//! against moto's server (`scripts/moto-standin.py`), a loopback stand-in of SSM, WAFv2 and
//! STS that speaks their real wire protocols, so the SDK's request signing, serialization and
//! error parsing are exercised as against AWS, including moto's own lock-token check.
//!
//! moto is installed into `.venv` by scripts/test.sh. Without it the test says so and passes,
//! unless `VPC_PROXY_REQUIRE_MOTO` is set (CI sets it), when its absence fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The virtualenv's Python, if moto imports there.
fn python() -> Option<PathBuf> {
    let python = root().join(".venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import moto.server, boto3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

/// The stand-in, stopped (its stdin closed, then killed by its own handle) when dropped.
struct StandIn {
    child: Child,
    info: Value,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Option<StandIn> {
    let Some(python) = python() else {
        assert!(
            std::env::var_os("VPC_PROXY_REQUIRE_MOTO").is_none(),
            "moto not found in .venv: scripts/test.sh installs it"
        );
        eprintln!("skipped: moto not installed in .venv (run scripts/test.sh)");
        return None;
    };
    let mut child = Command::new(python)
        .arg(root().join("scripts/moto-standin.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the stand-in");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the ready line");
    let info: Value = serde_json::from_str(&line).expect("the stand-in's ready line is JSON");
    Some(StandIn { child, info })
}

/// Runs the binary with only the stand-in's settings: no profile, no IMDS, fake keys.
fn ops(s: &StandIn, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vpc-proxy-ops"))
        .args(args)
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_ENDPOINT_URL", s.info["endpoint"].as_str().unwrap())
        .env(
            "VPC_PROXY_OPS_PARAMETER",
            s.info["parameter"].as_str().unwrap(),
        )
        .env(
            "VPC_PROXY_OPS_IP_SET_ARN",
            s.info["v4_arn"].as_str().unwrap(),
        )
        .env(
            "VPC_PROXY_OPS_IP_SET_V6_ARN",
            s.info["v6_arn"].as_str().unwrap(),
        )
        .output()
        .expect("run vpc-proxy-ops");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn allow_and_block_end_to_end_against_moto() {
    let Some(s) = start() else { return };

    let (code, out, err) = ops(&s, &["check", "203.0.113.7"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("203.0.113.7: deny"), "{out}");

    let (code, out, err) = ops(
        &s,
        &["allow", "203.0.113.7", "--comment", "new build agent"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("version 2; in force everywhere by"), "{out}");

    let (code, out, err) = ops(&s, &["list"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("version 2: 2 entries"), "{out}");
    // STS answered the caller: moto's default user.
    assert!(
        out.contains("arn:aws:sts::123456789012:user/moto: new build agent"),
        "{out}"
    );
    assert!(out.contains("   2 | 10.0.0.0/24"), "{out}");

    let (code, out, err) = ops(&s, &["check", "203.0.113.7"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("allow, by line 4 (203.0.113.7)"), "{out}");

    let (code, out, err) = ops(&s, &["allow", "10.0.0.1/8", "--comment", "typo"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("host bits set"), "{err}");

    let (code, out, err) = ops(&s, &["block", "203.0.113.7", "--comment", "x"]);
    assert_eq!(code, 1, "admitted: refused\n{out}{err}");

    let (code, out, err) = ops(
        &s,
        &[
            "block",
            "198.51.100.9",
            "2001:db8::9",
            "--comment",
            "scanner",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ops(&s, &["check", "198.51.100.9"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("blocked at WAF by 198.51.100.9/32"), "{out}");
    let (code, out, _) = ops(&s, &["check", "2001:db8::9"]);
    assert_eq!(code, 1);
    assert!(out.contains("blocked at WAF by 2001:db8::9/128"), "{out}");

    // A second block reads the new lock token: moto refuses a stale one.
    let (code, out, err) = ops(&s, &["block", "198.51.100.10", "--comment", "scanner 2"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ops(&s, &["unblock", "198.51.100.9"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = ops(&s, &["check", "198.51.100.9"]);
    assert_eq!(code, 1);
    assert!(!out.contains("blocked"), "{out}");
    let (_, out, _) = ops(&s, &["check", "198.51.100.10"]);
    assert!(out.contains("blocked at WAF by 198.51.100.10/32"), "{out}");

    // An AWS error is one sentence with its code.
    let (code, _, err) = ops(&s, &["list", "--parameter", "/missing"]);
    assert_eq!(code, 4);
    assert!(
        err.contains("reading parameter /missing failed: ParameterNotFound"),
        "{err}"
    );
}

/// The write half of the deny-spike drill against the stand-in, through the real binary (a
/// process start, credentials, signing and HTTP per step), timed step by step. Prints the
/// figures (`--nocapture`); nothing asserts on them. moto has no Contributor Insights report,
/// so `top-denied` is timed against the mocks instead (`respond.rs`, `deny_spike_drill_timed`).
#[test]
fn drill_against_moto_timed() {
    let Some(s) = start() else { return };
    let steps: &[(&str, &[&str], i32)] = &[
        ("2 check 203.0.113.66", &["check", "203.0.113.66"], 1),
        ("2 check 10.0.1.20", &["check", "10.0.1.20"], 1),
        (
            "3a allow 10.0.1.20 --dry-run",
            &["allow", "10.0.1.20", "--comment", "agent", "--dry-run"],
            0,
        ),
        (
            "3a allow 10.0.1.20",
            &["allow", "10.0.1.20", "--comment", "agent"],
            0,
        ),
        (
            "3b block 203.0.113.66 --dry-run",
            &["block", "203.0.113.66", "--comment", "flood", "--dry-run"],
            0,
        ),
        (
            "3b block 203.0.113.66",
            &["block", "203.0.113.66", "--comment", "flood"],
            0,
        ),
        ("verify check 10.0.1.20", &["check", "10.0.1.20"], 0),
        ("verify check 203.0.113.66", &["check", "203.0.113.66"], 1),
    ];
    let mut total = std::time::Duration::ZERO;
    for (name, args, want) in steps {
        let t = std::time::Instant::now();
        let (code, out, err) = ops(&s, args);
        let took = t.elapsed();
        assert_eq!(code, *want, "{name}: {out}{err}");
        total += took;
        println!("moto drill {name:<34} {:>8.2} ms", took.as_secs_f64() * 1e3);
    }
    println!(
        "moto drill {:<34} {:>8.2} ms",
        "total",
        total.as_secs_f64() * 1e3
    );
}
