//! The built `vpc-proxy` binary: under the real Lambda runtime emulator (`cargo lambda watch
//! --only-lambda-apis`, installed by scripts/test.sh into .venv), and refusing to start on a
//! bad configuration.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_vpc-proxy");

/// Kills the child when the test ends, however it ends.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Collects a child's stdout lines; `wait_for` blocks until a line contains the text.
fn capture(
    stream: impl std::io::Read + Send + 'static,
) -> (Arc<Mutex<Vec<String>>>, mpsc::Receiver<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    (lines, rx)
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) {
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => {}
            Err(e) => panic!("never saw {needle:?}: {e}"),
        }
    }
}

fn cargo_lambda() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CARGO_LAMBDA") {
        return Some(PathBuf::from(path));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/cargo-lambda");
    venv.exists().then_some(venv)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_invocations_under_the_runtime_emulator() {
    let Some(cargo_lambda) = cargo_lambda() else {
        assert!(
            std::env::var_os("VPC_PROXY_REQUIRE_EMULATOR").is_none(),
            "cargo-lambda not found: scripts/test.sh installs it into .venv"
        );
        eprintln!("skipped: cargo-lambda not installed (run scripts/test.sh)");
        return;
    };
    let port = free_port();
    // cargo-lambda logs to stdout or stderr depending on its version: take both, merged.
    let mut emulator = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec '{}' lambda watch --only-lambda-apis -A 127.0.0.1 -P {port} 2>&1",
            cargo_lambda.display()
        ))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start cargo lambda watch");
    let (_, emulator_lines) = capture(emulator.stdout.take().unwrap());
    let _emulator = Running(emulator);
    wait_for(&emulator_lines, "starting Runtime server");

    let backend = Backend::http(echo()).await;
    let mut function = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("PROXY_TARGET_URL", format!("{}/api", backend.url("http")))
        .env("PROXY_ALLOWED_IPS", "198.51.100.0/24")
        .env("PROXY_UPSTREAM_HEADERS", "X-Backend-Token: tok-secret-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vpc-proxy");
    let (output, function_lines) = capture(function.stdout.take().unwrap());
    let _function = Running(function);
    wait_for(&function_lines, "vpc-proxy starting");

    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(vpc_proxy::tls::plain_http_config().unwrap())
        .build()
        .unwrap();
    let invoke = |event: Value| {
        let client = client.clone();
        async move {
            let response = client
                .post(format!(
                    "http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"
                ))
                .body(event.to_string())
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .expect("invoke");
            let text = response.text().await.expect("response body");
            serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        }
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
    wait_for(&function_lines, "\"status\":200");

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
