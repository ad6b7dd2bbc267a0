//! Hostile events and awkward backends, end to end through the handler: credentials copied
//! around the event stay out of the DEBUG dump, the v2 query reaches the backend byte for
//! byte, dot segments in disguise are refused, client-address headers never cross, and the
//! response limit is Lambda's to the byte.

mod common;

use common::*;
use serde_json::{Value, json};
use vpc_proxy::telemetry::redact::{REDACTED, Redactor};

#[test]
fn debug_dump_redacts_credentials_wherever_api_gateway_copies_them() {
    let redactor = Redactor::new([], []);
    let mut event = v1("GET", "/x", ALLOWED_IP);
    event["headers"]["x-api-key"] = json!("apikey-0123456789");
    event["multiValueHeaders"]["x-api-key"] = json!(["apikey-0123456789"]);
    event["headers"]["Authorization"] = json!("Bearer jwt-abcdef.ghijkl");
    event["multiValueHeaders"]["Cookie"] = json!(["session=cookie-secret-77; theme=dark"]);
    event["requestContext"]["identity"]["apiKey"] = json!("apikey-0123456789");
    event["requestContext"]["identity"]["accessKey"] = json!("AKIAIOSFODNN7EXAMPLE");
    event["requestContext"]["authorizer"] =
        json!({"principalId": "user-1", "token": "jwt-abcdef.ghijkl", "integrationLatency": 3});
    event["queryStringParameters"] = json!({"token": "query-secret-1", "page": "2"});
    event["multiValueQueryStringParameters"] = json!({"token": ["query-secret-1"], "page": ["2"]});
    event["body"] = json!("forwarded session cookie-secret-77 in a body");
    let out = redactor.event(&event.to_string());
    for secret in [
        "apikey-0123456789",
        "jwt-abcdef.ghijkl",
        "cookie-secret-77",
        "AKIAIOSFODNN7EXAMPLE",
        "query-secret-1",
    ] {
        assert!(!out.contains(secret), "{secret} in {out}");
    }
    let dumped: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(dumped["requestContext"]["identity"]["sourceIp"], ALLOWED_IP);
    assert_eq!(dumped["requestContext"]["identity"]["apiKey"], REDACTED);
    assert_eq!(dumped["path"], "/x");

    let mut event = v2("GET", "/x", "a=1&sig=query-secret-2&flag", ALLOWED_IP);
    event["cookies"] = json!(["sid=cookie-secret-88"]);
    event["headers"]["referer"] = json!("https://app.example/?s=cookie-secret-88");
    event["requestContext"]["authorizer"] =
        json!({"jwt": {"claims": {"sub": "u"}, "scopes": ["read"]}});
    let out = redactor.event(&event.to_string());
    assert!(
        !out.contains("query-secret-2") && !out.contains("cookie-secret-88"),
        "{out}"
    );
    let dumped: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        dumped["rawQueryString"],
        format!("a={REDACTED}&sig={REDACTED}&flag")
    );
}

#[tokio::test]
async fn v2_raw_query_reaches_the_backend_byte_for_byte() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&format!("{}/api", backend.url("http")));
    for (raw, sent) in [
        ("name=O'Brien&sig=3f9a", "name=O'Brien&sig=3f9a"),
        ("a=!$&'()*+,;=:@/?~-._", "a=!$&'()*+,;=:@/?~-._"),
        ("p[]=1&q={x}|y^z`w", "p[]=1&q={x}|y^z`w"),
        ("pct=%41%2B%zz&x=100%", "pct=%41%2B%zz&x=100%"),
        // Bytes that cannot stand in a request target are percent-encoded, nothing else.
        ("q=a b\"<>", "q=a%20b%22%3C%3E"),
        ("q=caf\u{e9}'\u{7f}", "q=caf%C3%A9'%7F"),
    ] {
        let r = p.call(&v2("GET", "/x", raw, ALLOWED_IP)).await;
        assert_eq!(r["statusCode"], 200, "{raw}");
        assert_eq!(backend.last().uri, format!("/api/x?{sent}"), "{raw:?}");
    }
}

#[tokio::test]
async fn dot_segments_disguised_as_path_parameters_or_iis_escapes_are_refused() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&format!("{}/api", backend.url("http")));
    for path in [
        "/..;/admin",
        "/.;/x",
        "/a/..;jsessionid=1/b",
        "/%2e%2e;/admin",
        "/..%3b/admin",
        "/%u002e%u002e/admin",
        "/%U002E%U002E/admin",
        "/..%u002fadmin",
        "/%c0%ae%c0%ae/admin",
        "/\u{ff0e}\u{ff0e}/admin",
        "/%EF%BC%8E%EF%BC%8E/admin",
    ] {
        let r = p.call(&v1("GET", path, ALLOWED_IP)).await;
        assert_eq!(r["statusCode"], 400, "{path}");
        let r = p.call(&v2("GET", path, "", ALLOWED_IP)).await;
        assert_eq!(r["statusCode"], 400, "v2 {path}");
    }
    assert!(backend.seen().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn client_address_headers_never_reach_the_backend_even_under_star() {
    let backend = Backend::http(echo()).await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &backend.url("http")),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_FORWARD_HEADERS", "*"),
    ]);
    let spoofed = [
        "X-Real-IP",
        "True-Client-IP",
        "CF-Connecting-IP",
        "X-Client-IP",
        "X-Cluster-Client-IP",
        "Fastly-Client-IP",
        "X-Original-Forwarded-For",
    ];
    let mut event = v1("GET", "/", ALLOWED_IP);
    for name in spoofed {
        event["multiValueHeaders"][name] = json!(["6.6.6.6"]);
        event["headers"][name] = json!("6.6.6.6");
    }
    event["multiValueHeaders"]["X-Kept"] = json!(["yes"]);
    assert_eq!(p.call(&event).await["statusCode"], 200);
    let seen = backend.last();
    for name in spoofed {
        assert!(seen.header(name).is_empty(), "{name} reached the backend");
    }
    assert_eq!(seen.header("x-forwarded-for"), [ALLOWED_IP]);
    assert_eq!(seen.header("x-kept"), ["yes"]);
}

/// Lambda's limit on a buffered response payload.
const LIMIT: usize = 6_291_556;

/// A raw backend answering each request with the body and extra header the test last put in
/// `next`; its base URL.
async fn settable_backend(
    content_type: &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<(Vec<u8>, String)>>) {
    let next = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), String::new())));
    let shared = next.clone();
    let addr = raw_backend(move |mut stream, _| {
        let shared = shared.clone();
        async move {
            while !read_head(&mut stream).await.is_empty() {
                let (body, pad) = shared.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nx-pad: {pad}\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                write_all(&mut stream, head.as_bytes()).await;
                write_all(&mut stream, &body).await;
            }
        }
    })
    .await;
    (format!("http://{addr}"), next)
}

/// The payload length the proxy returns for the backend's current answer to `event`, or
/// `None` on a 502.
async fn payload_len(p: &TestProxy, event: &Value) -> Option<usize> {
    let payload = p
        .proxy
        .handle(&event.to_string(), invocation())
        .await
        .unwrap();
    let v: Value = serde_json::from_str(payload.as_str()).unwrap();
    (v["statusCode"] == 200).then_some(payload.as_str().len())
}

#[tokio::test]
async fn buffered_limit_is_lambdas_to_the_byte_for_escaped_text() {
    let (url, next) = settable_backend("text/plain").await;
    let p = proxy(&url);
    // Overhead of everything but the body, for a body with as many length digits as below.
    *next.lock().unwrap() = (vec![b'a'; 1_000_000], String::from("p"));
    let v1 = v1("GET", "/", ALLOWED_IP);
    let overhead = payload_len(&p, &v1).await.unwrap() - 1_000_000;
    // Control characters take six bytes each once JSON-escaped; letters top up to the byte.
    let body = |total: usize| {
        let room = total - overhead;
        let mut body = vec![1u8; room / 6];
        body.resize(room / 6 + room % 6, b'a');
        body
    };
    *next.lock().unwrap() = (body(LIMIT), String::from("p"));
    assert_eq!(
        payload_len(&p, &v1).await,
        Some(LIMIT),
        "exactly at the limit"
    );
    *next.lock().unwrap() = (body(LIMIT + 1), String::from("p"));
    assert_eq!(payload_len(&p, &v1).await, None, "one byte over");
    assert_eq!(p.failure_reasons(), ["too_large"]);
}

#[tokio::test]
async fn buffered_limit_is_lambdas_to_the_byte_for_binary() {
    let (url, next) = settable_backend("application/octet-stream").await;
    let p = proxy(&url);
    let v2 = v2("GET", "/", "", ALLOWED_IP);
    let body = vec![0xA5u8; (LIMIT - 400) / 4 * 3];
    *next.lock().unwrap() = (body.clone(), String::from("p"));
    // Base64 grows in steps of four bytes: the header value tops the payload up to the byte.
    let short = LIMIT - payload_len(&p, &v2).await.unwrap();
    *next.lock().unwrap() = (body.clone(), "p".repeat(1 + short));
    assert_eq!(
        payload_len(&p, &v2).await,
        Some(LIMIT),
        "exactly at the limit"
    );
    *next.lock().unwrap() = (body, "p".repeat(2 + short));
    assert_eq!(payload_len(&p, &v2).await, None, "one byte over");
    assert_eq!(p.failure_reasons(), ["too_large"]);
}
