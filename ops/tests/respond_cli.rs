//! The respond commands through the built binary, without any AWS: an unreachable endpoint is
//! one sentence on stderr with exit 4 (never an SDK debug dump), a missing target or a missing
//! `--comment` is exit 2 before any call.

use std::process::Command;

fn ops(args: &[&str], endpoint: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vpc-proxy-ops"))
        .args(args)
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .expect("run vpc-proxy-ops");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unreachable_endpoint_is_one_sentence_and_exit_4() {
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let (code, out, err) = ops(&["list", "--parameter", "/p"], &endpoint);
    assert_eq!(code, 4, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("vpc-proxy-ops: reading parameter /p failed: "),
        "{err}"
    );
    for dump in ["DispatchFailure", "ConnectorError", "{", "source:"] {
        assert!(!err.contains(dump), "no debug dump ({dump}): {err}");
    }
}

#[test]
fn usage_failures_are_exit_2_before_any_call() {
    // The endpoint would refuse every call: exit 2, not 4, proves none was made.
    let endpoint = "http://127.0.0.1:9";
    let (code, _, err) = ops(&["allow", "203.0.113.7", "--parameter", "/p"], endpoint);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--comment"), "{err}");
    let (code, _, err) = ops(&["check", "203.0.113.7"], endpoint);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("VPC_PROXY_OPS_PARAMETER"), "{err}");
    let (code, _, err) = ops(&["top-denied", "--since", "soon"], endpoint);
    assert_eq!(code, 2, "{err}");
}
