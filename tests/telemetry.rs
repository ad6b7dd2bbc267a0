//! The telemetry contract, from captured output of the real subscriber and recorder: one
//! summary line per invocation with the keys of docs/CONTRACT.md, no secret anywhere (DEBUG
//! included), valid EMF with exact counts, ColdStart once, and the per-IP cap.

mod common;

use common::*;
use serde_json::{Value, json};
use vpc_proxy::telemetry::logging;

/// Runs `f` with the JSON subscriber writing into the proxy's sink at `level`.
async fn with_logs<F: std::future::Future<Output = ()>>(
    p: &TestProxy,
    level: &str,
    f: F,
) -> String {
    let filter = logging::filter(|k| (k == "AWS_LAMBDA_LOG_LEVEL").then(|| level.to_owned()));
    let _guard = tracing::subscriber::set_default(logging::subscriber(filter, p.sink.clone()));
    f.await;
    p.sink.contents()
}

const SUMMARY_KEYS: &[&str] = &[
    "timestamp",
    "level",
    "message",
    "service",
    "request_id",
    "apigw_request_id",
    "cold_start",
    "source_ip",
    "method",
    "path",
    "decision",
    "status",
    "request_bytes",
    "response_bytes",
    "duration_ms",
    // On every line, also without a parameter (then a fingerprint of the list).
    "allowlist_version",
];

#[tokio::test]
async fn scripted_mix_gives_exact_lines_and_metrics() {
    let backend = Backend::http(script(|r| match r.uri.as_str() {
        "/missing" => Reply::Respond {
            status: 404,
            headers: vec![],
            body: b"no".to_vec(),
        },
        "/broken" => Reply::Respond {
            status: 503,
            headers: vec![],
            body: b"down".to_vec(),
        },
        "/slow" => Reply::Hang,
        _ => Reply::ok("text/plain", "fine"),
    }))
    .await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &backend.url("http")),
        ("PROXY_ALLOWED_IPS", "198.51.100.0/24"),
        ("PROXY_TIMEOUT_MS", "1000"),
        ("PROXY_SERVICE_NAME", "orders-proxy"),
        ("PROXY_METRICS_NAMESPACE", "Test/Proxy"),
    ]);
    let out = with_logs(&p, "INFO", async {
        for _ in 0..3 {
            p.call(&v1("GET", "/ok", ALLOWED_IP)).await;
        }
        p.call(&v1("GET", "/missing", ALLOWED_IP)).await;
        p.call(&v2("GET", "/broken", "", ALLOWED_IP)).await;
        p.call(&v1("GET", "/slow", ALLOWED_IP)).await;
        p.call(&v1("GET", "/x", DENIED_IP)).await;
        p.call(&v1("GET", "/x", "2001:db8::9")).await;
        p.call(&v1("GET", "/../x", ALLOWED_IP)).await;
        assert!(p.proxy.handle("{}", invocation()).await.is_err());
    })
    .await;
    let (summaries, documents) = split_output(&out);
    assert_eq!(summaries.len(), 10, "one summary per invocation");
    for s in &summaries {
        assert_eq!(s["level"], "INFO");
        assert_eq!(s["service"], "orders-proxy");
        assert!(
            s.get("fields").is_none() && s.get("span").is_none(),
            "flat keys: {s}"
        );
    }
    for s in summaries.iter().take(9) {
        for key in SUMMARY_KEYS {
            assert!(s.get(*key).is_some(), "{key} missing from {s}");
        }
        assert!(s["xray_trace_id"].as_str().unwrap().starts_with("Root=1-"));
    }
    let by_path = |method_path: &str| -> Vec<&Value> {
        summaries
            .iter()
            .filter(|s| s["path"] == method_path)
            .collect()
    };
    let ok = by_path("/ok");
    assert_eq!(ok.len(), 3);
    assert_eq!(ok[0]["decision"], "allow");
    assert_eq!(ok[0]["status"], 200);
    assert_eq!(ok[0]["upstream_status"], 200);
    assert!(ok[0]["upstream_latency_ms"].is_number());
    assert!(ok[0].get("reason").is_none());
    assert_eq!(ok[0]["response_bytes"], 4);
    assert_eq!(ok[0]["cold_start"], true);
    assert_eq!(ok[1]["cold_start"], false);
    let missing = by_path("/missing");
    assert_eq!(
        (
            missing[0]["status"].clone(),
            missing[0]["upstream_status"].clone()
        ),
        (json!(404), json!(404))
    );
    let slow = by_path("/slow");
    assert_eq!(slow[0]["status"], 504);
    assert_eq!(slow[0]["reason"], "timeout");
    assert!(slow[0].get("upstream_status").is_none());
    let denied: Vec<&Value> = summaries
        .iter()
        .filter(|s| s["decision"] == "deny")
        .collect();
    assert_eq!(denied.len(), 2);
    assert_eq!(denied[0]["reason"], "ip_not_allowed");
    assert_eq!(denied[0]["status"], 403);
    let rejected: Vec<&Value> = summaries
        .iter()
        .filter(|s| s["decision"] == "reject")
        .collect();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["reason"], "dot_segment");
    assert_eq!(rejected[0]["status"], 400);
    assert_eq!(rejected[1]["reason"], "not_http_event");

    for doc in &documents {
        assert_valid_emf(doc);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Test/Proxy"
        );
        assert_eq!(doc["Service"], "orders-proxy");
    }
    assert_eq!(metric_total(&documents, "Requests", None), 9.0);
    assert_eq!(metric_total(&documents, "Denied", None), 2.0);
    assert_eq!(metric_total(&documents, "Rejected", None), 1.0);
    assert_eq!(metric_total(&documents, "UpstreamHTTPError", None), 2.0);
    assert_eq!(
        metric_total(&documents, "UpstreamHTTPError", Some("StatusClass")),
        2.0
    );
    assert_eq!(metric_total(&documents, "UpstreamFailure", None), 1.0);
    assert_eq!(
        metric_total(&documents, "UpstreamFailure", Some("Reason")),
        1.0
    );
    assert_eq!(metric_total(&documents, "ColdStart", None), 1.0);
    // Zeros on the normal path: every HTTP invocation carries Denied and Rejected.
    let with_denied = documents
        .iter()
        .filter(|d| d.get("Denied").is_some())
        .count();
    assert_eq!(with_denied, 9);
    let latencies: usize = documents
        .iter()
        .filter_map(|d| d["UpstreamLatency"].as_array())
        .map(Vec::len)
        .sum();
    assert_eq!(latencies, 5, "one latency per backend answer");
    let deny_doc = documents.iter().find(|d| d["Denied"] == 1.0).unwrap();
    assert_eq!(deny_doc["source_ip"], DENIED_IP);
    let cold = documents
        .iter()
        .find(|d| d.get("ColdStart").is_some())
        .unwrap();
    assert!(
        cold.get("Requests").is_none(),
        "ColdStart has a document of its own"
    );
}

#[tokio::test]
async fn secrets_never_reach_a_line_even_at_debug() {
    let backend = Backend::http(echo()).await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &backend.url("http")),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_FORWARD_HEADERS", "*"),
        (
            "PROXY_UPSTREAM_HEADERS",
            "X-Backend-Auth: upstream-secret-123",
        ),
    ]);
    let out = with_logs(&p, "TRACE", async {
        let mut e = v1("GET", "/", ALLOWED_IP);
        e["multiValueHeaders"]["Authorization"] = json!(["Bearer client-secret-1"]);
        e["multiValueHeaders"]["Cookie"] = json!(["sid=cookie-secret-2"]);
        e["multiValueHeaders"]["Proxy-Authorization"] = json!(["Basic proxy-secret-3"]);
        e["multiValueHeaders"]["X-Api-Key"] = json!(["apikey-secret-4"]);
        e["headers"]["authorization"] = json!("Bearer client-secret-1");
        p.call(&e).await;
        let mut e2 = v2("GET", "/", "", ALLOWED_IP);
        e2["cookies"] = json!(["sid=cookie-secret-5"]);
        e2["headers"]["x-api-key"] = json!("apikey-secret-6");
        p.call(&e2).await;
        p.call(&v1("GET", "/", DENIED_IP)).await;
    })
    .await;
    assert!(out.contains("event received"), "the DEBUG dump ran");
    for secret in [
        "client-secret-1",
        "cookie-secret-2",
        "proxy-secret-3",
        "apikey-secret-4",
        "cookie-secret-5",
        "apikey-secret-6",
        "upstream-secret-123",
    ] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
    }
    // The backend did get them: redaction is of logs, not of forwarding.
    assert_eq!(
        backend.seen()[0].header("x-backend-auth"),
        ["upstream-secret-123"]
    );
}

#[tokio::test]
async fn per_ip_deny_dimension_is_capped() {
    let backend = Backend::http(echo()).await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &backend.url("http")),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_DENY_METRICS_PER_IP", "true"),
        ("PROXY_DENY_METRICS_PER_IP_LIMIT", "2"),
    ]);
    let out = with_logs(&p, "INFO", async {
        for ip in [
            "203.0.113.1",
            "203.0.113.2",
            "203.0.113.1",
            "203.0.113.3",
            "203.0.113.4",
        ] {
            p.call(&v1("GET", "/", ip)).await;
        }
    })
    .await;
    let (_, documents) = split_output(&out);
    documents.iter().for_each(assert_valid_emf);
    let mut per_ip: Vec<String> = documents
        .iter()
        .filter_map(|d| d["SourceIp"].as_str().map(str::to_owned))
        .collect();
    per_ip.sort();
    assert_eq!(
        per_ip,
        [
            "203.0.113.1",
            "203.0.113.1",
            "203.0.113.2",
            "other",
            "other"
        ]
    );
    assert_eq!(metric_total(&documents, "Denied", Some("SourceIp")), 5.0);
    assert_eq!(metric_total(&documents, "Denied", None), 5.0);
}

#[tokio::test]
async fn per_ip_dimension_is_off_by_default() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));
    let out = with_logs(&p, "INFO", async {
        p.call(&v1("GET", "/", DENIED_IP)).await;
    })
    .await;
    let (_, documents) = split_output(&out);
    assert_eq!(
        metric_total(&documents, "Denied", None),
        1.0,
        "the deny was recorded"
    );
    assert!(!out.contains("SourceIp"));
}

#[tokio::test]
async fn aws_lambda_log_format_text_gives_text_lines_and_json_emf() {
    let lookup = |value: &'static str| {
        move |k: &str| (k == "AWS_LAMBDA_LOG_FORMAT").then(|| value.to_owned())
    };
    assert_eq!(logging::format(lookup("Text")), logging::Format::Text);
    assert_eq!(logging::format(lookup("JSON")), logging::Format::Json);
    assert_eq!(logging::format(|_| None), logging::Format::Json);

    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));
    let filter = logging::filter(|_| None);
    let guard = tracing::subscriber::set_default(logging::text_subscriber(filter, p.sink.clone()));
    p.call(&v1("GET", "/text", ALLOWED_IP)).await;
    drop(guard);
    let out = p.sink.contents();
    let summary = out
        .lines()
        .find(|l| l.contains("invocation"))
        .unwrap_or_else(|| panic!("no summary line in:\n{out}"));
    assert!(serde_json::from_str::<Value>(summary).is_err(), "{summary}");
    for field in ["status=200", "decision=\"allow\"", "path=\"/text\""] {
        assert!(summary.contains(field), "{field} not in {summary}");
    }
    let documents: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    assert!(!documents.is_empty() && documents.iter().all(|d| d.get("_aws").is_some()));
}
