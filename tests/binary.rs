//! The built `vpc-proxy` binary: under the real Lambda runtime emulator (`cargo lambda watch
//! --only-lambda-apis`, installed by scripts/test.sh into .venv), and refusing to start on a
//! bad configuration.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::emulator::{BIN, Emulator};
use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_invocations_under_the_runtime_emulator() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    let backend = Backend::http(echo()).await;
    let output = Arc::new(Mutex::new(Vec::<String>::new()));
    let keep = output.clone();
    let (_function, function_lines) = emulator.function(
        &[
            ("PROXY_TARGET_URL", &format!("{}/api", backend.url("http"))),
            ("PROXY_ALLOWED_IPS", "198.51.100.0/24"),
            ("PROXY_UPSTREAM_HEADERS", "X-Backend-Token: tok-secret-1"),
        ],
        move |line| keep.lock().unwrap().push(line.to_owned()),
    );
    let invoker = emulator.invoker();
    let invoke = |event: Value| {
        let invoker = invoker.clone();
        async move { invoker.invoke(&event).await }
    };

    let mut allowed = v1("POST", "/hello", ALLOWED_IP);
    allowed["body"] = json!("ping");
    allowed["multiValueHeaders"]["Content-Type"] = json!(["text/plain"]);
    let r = invoke(allowed.clone()).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(r["body"], "ping");
    assert_eq!(backend.last().uri, "/api/hello");
    assert_eq!(backend.last().header("x-backend-token"), ["tok-secret-1"]);

    let r = invoke(v2("GET", "/x", "", DENIED_IP)).await;
    assert_eq!(r["statusCode"], 403);
    assert_eq!(r["body"], r#"{"message":"Forbidden"}"#);

    let r = invoke(json!({"Records": [{"eventSource": "aws:sqs"}]})).await;
    assert!(
        r.get("statusCode").is_none(),
        "a non-HTTP event is an invocation error: {r}"
    );

    let r = invoke(allowed).await;
    assert_eq!(
        r["statusCode"], 200,
        "the function keeps serving after an invocation error"
    );
    // The reader thread may lag the answers: wait until it has passed on four summary lines.
    let mut summaries_seen = 0;
    while summaries_seen < 4 {
        let line = function_lines
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("four summary lines");
        summaries_seen += usize::from(line.contains("\"message\":\"invocation\""));
    }

    let lines = output.lock().unwrap().clone();
    let summaries: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "invocation")
        .collect();
    assert_eq!(
        summaries.len(),
        4,
        "one summary line per invocation:\n{}",
        lines.join("\n")
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("\"ColdStart\"")).count(),
        1,
        "ColdStart once"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"_aws\"")),
        "EMF documents on stdout"
    );
    assert!(
        lines.iter().all(|l| !l.contains("tok-secret-1")),
        "no secret in any line"
    );
}

#[test]
fn bad_configuration_stops_the_binary_before_serving() {
    for (vars, expected) in [
        (
            vec![
                ("PROXY_TARGET_URL", "http://10.0.0.1"),
                ("PROXY_ALLOWED_IPS", "10.0.0.1\n10.0.0.999"),
            ],
            vec!["PROXY_ALLOWED_IPS line 2", "10.0.0.999"],
        ),
        (
            vec![("PROXY_ALLOWED_IPS", "10.0.0.1")],
            vec!["PROXY_TARGET_URL"],
        ),
        (
            vec![
                ("PROXY_TARGET_URL", "gopher://x"),
                ("PROXY_ALLOWED_IPS", "10.0.0.1"),
            ],
            vec!["PROXY_TARGET_URL", "gopher://x"],
        ),
        (
            vec![
                ("PROXY_TARGET_URL", "http://10.0.0.1"),
                ("PROXY_ALLOWED_IPS", "10.0.0.1"),
                ("PROXY_TIMEOUT_MS", "soon"),
            ],
            vec!["PROXY_TIMEOUT_MS", "soon"],
        ),
        (
            vec![
                ("PROXY_TARGET_URL", "http://10.0.0.1"),
                ("PROXY_ALLOWED_IPS", "10.0.0.1"),
                ("AWS_LAMBDA_RUNTIME_API", "https://127.0.0.1:9"),
            ],
            vec!["AWS_LAMBDA_RUNTIME_API", "https://127.0.0.1:9"],
        ),
    ] {
        let mut command = Command::new(BIN);
        command
            .env_clear()
            // Nothing listens here: a binary that got past configuration would fail differently.
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &vars {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        assert!(!out.status.success());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for needle in expected {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
        assert!(text.contains("invalid configuration"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_instances_concurrency_serves_invocations_in_parallel() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    // The backend holds each request until four are in flight at once: only four pollers
    // running side by side get past it (one at a time would wait for the timeout, a 504).
    let gate = Arc::new(tokio::sync::Barrier::new(4));
    let addr = raw_backend(move |mut stream, _| {
        let gate = gate.clone();
        async move {
            let head = String::from_utf8(read_head(&mut stream).await).unwrap();
            let path = head.split(' ').nth(1).unwrap_or("").to_owned();
            gate.wait().await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{path}",
                path.len()
            );
            write_all(&mut stream, answer.as_bytes()).await;
        }
    })
    .await;
    let (_function, _) = emulator.function(
        &[
            ("PROXY_TARGET_URL", &format!("http://{addr}")),
            ("PROXY_ALLOWED_IPS", "198.51.100.0/24"),
            ("PROXY_TIMEOUT_MS", "30000"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
        ],
        |_| {},
    );
    let invoker = emulator.invoker();
    let mut calls = Vec::new();
    for i in 0..8 {
        let invoker = invoker.clone();
        calls.push(tokio::spawn(async move {
            (
                i,
                invoker
                    .invoke(&v1("GET", &format!("/n/{i}"), ALLOWED_IP))
                    .await,
            )
        }));
    }
    for call in calls {
        let (i, r) = call.await.unwrap();
        assert_eq!(r["statusCode"], 200, "{r}");
        assert_eq!(
            r["body"],
            format!("/n/{i}"),
            "each answer goes to its own invocation"
        );
    }
}
