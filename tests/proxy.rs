//! The handler against real loopback backends: every row of the response table in
//! docs/CONTRACT.md, what the backend receives, and what goes back. Backend faults (resets,
//! hangs, restarts, stale pooled connections) are in tests/faults.rs.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, SystemTime};
use vpc_proxy::handler::Invocation;

fn error_body(response: &serde_json::Value) -> String {
    response["body"].as_str().unwrap().to_owned()
}

// ---- allowed: forwarded, answered byte for byte -----------------------------------------

#[tokio::test]
async fn v1_text_body_round_trip_and_backend_view() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&format!("{}/api", backend.url("http")));
    let mut event = v1("POST", "/users/1", ALLOWED_IP);
    event["body"] = json!("{\"name\":\"Zoë\",\"n\":1}\n");
    event["multiValueHeaders"]["Content-Type"] = json!(["application/json"]);
    event["multiValueHeaders"]["Accept"] = json!(["application/json", "text/plain"]);
    event["multiValueHeaders"]["X-Forwarded-For"] = json!(["6.6.6.6"]);
    event["multiValueHeaders"]["Authorization"] = json!(["Bearer client-token"]);
    event["multiValueQueryStringParameters"] = json!({"q": ["a b", "c&d"], "page": ["2"]});

    let r = p.call(&event).await;
    assert_eq!(r["statusCode"], 200);
    assert_eq!(r["isBase64Encoded"], false);
    assert_eq!(r["body"], "{\"name\":\"Zoë\",\"n\":1}\n");
    assert_eq!(
        r["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );

    let seen = backend.last();
    assert_eq!(seen.method, "POST");
    // The proxy keeps the event's key order, whatever order serde_json gave the test's map.
    let mut expected_query = Vec::new();
    for (key, values) in event["multiValueQueryStringParameters"]
        .as_object()
        .unwrap()
    {
        for value in values.as_array().unwrap() {
            let encoded = match value.as_str().unwrap() {
                "a b" => "a%20b",
                "c&d" => "c%26d",
                other => other,
            };
            expected_query.push(format!("{key}={encoded}"));
        }
    }
    assert_eq!(
        seen.uri,
        format!("/api/users/1?{}", expected_query.join("&"))
    );
    assert_eq!(seen.body, "{\"name\":\"Zoë\",\"n\":1}\n".as_bytes());
    assert_eq!(seen.header("accept"), ["application/json", "text/plain"]);
    assert_eq!(seen.header("x-forwarded-for"), [ALLOWED_IP]);
    assert_eq!(seen.header("x-forwarded-proto"), ["https"]);
    assert_eq!(
        seen.header("x-forwarded-host"),
        ["abc123.execute-api.eu-west-1.amazonaws.com"]
    );
    assert_eq!(seen.header("x-request-id"), ["apigw-req-1"]);
    assert_eq!(
        seen.header("x-amzn-trace-id"),
        [invocation().xray_trace_id.unwrap().as_str()]
    );
    assert_eq!(seen.header("host"), [backend.addr.to_string().as_str()]);
    assert!(
        seen.header("authorization").is_empty(),
        "not in the default forward list"
    );
}

#[tokio::test]
async fn binary_bodies_both_ways_v1_and_v2() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));

    let mut e1 = v1("PUT", "/blob", ALLOWED_IP);
    e1["body"] = json!(b64(&bytes));
    e1["isBase64Encoded"] = json!(true);
    e1["multiValueHeaders"]["content-type"] = json!(["application/octet-stream"]);
    let r = p.call(&e1).await;
    assert_eq!(r["isBase64Encoded"], true);
    assert_eq!(body_bytes(&r), bytes);
    assert_eq!(backend.last().body, bytes);

    let mut e2 = v2("PUT", "/blob", "", ALLOWED_IP);
    e2["body"] = json!(b64(&bytes));
    e2["isBase64Encoded"] = json!(true);
    e2["headers"]["content-type"] = json!("image/png");
    let r = p.call(&e2).await;
    assert_eq!(r["statusCode"], 200);
    assert_eq!(r["isBase64Encoded"], true);
    assert_eq!(body_bytes(&r), bytes);
    assert!(r.get("multiValueHeaders").is_none());
    assert_eq!(backend.last().uri, "/blob");
}

#[tokio::test]
async fn text_content_type_with_invalid_utf8_goes_base64() {
    let bad: Vec<u8> = vec![b'o', b'k', 0xff, 0xfe, b'\n'];
    let body = bad.clone();
    let backend = Backend::http(script(move |_| {
        Reply::ok("text/plain; charset=utf-8", body.clone())
    }))
    .await;
    let p = proxy(&backend.url("http"));
    let r = p.call(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["isBase64Encoded"], true);
    assert_eq!(body_bytes(&r), bad);
}

#[tokio::test]
async fn v2_stage_removed_query_verbatim_cookies_both_ways() {
    let backend = Backend::http(script(|_| Reply::Respond {
        status: 201,
        headers: vec![
            ("content-type", "text/plain".into()),
            ("set-cookie", "a=1; Path=/; HttpOnly".into()),
            ("set-cookie", "b=2; Secure".into()),
            ("x-multi", "1".into()),
            ("x-multi", "2".into()),
        ],
        body: b"created".to_vec(),
    }))
    .await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &backend.url("http")),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_FORWARD_HEADERS", "cookie,user-agent"),
    ]);
    let mut event = v2("POST", "/items", "a=1&a=2&b=%2F+x&empty=&flag", ALLOWED_IP);
    event["cookies"] = json!(["session=abc", "theme=dark"]);
    let r = p.call(&event).await;
    assert_eq!(r["statusCode"], 201);
    assert_eq!(r["body"], "created");
    assert_eq!(
        r["cookies"],
        json!(["a=1; Path=/; HttpOnly", "b=2; Secure"])
    );
    assert_eq!(r["headers"]["x-multi"], "1,2");
    assert!(r["headers"].get("set-cookie").is_none());

    let seen = backend.last();
    assert_eq!(seen.uri, "/items?a=1&a=2&b=%2F+x&empty=&flag");
    assert_eq!(seen.header("cookie"), ["session=abc; theme=dark"]);
    assert_eq!(seen.header("x-request-id"), ["apigw-req-2"]);
}

#[tokio::test]
async fn v1_set_cookies_and_repeated_headers_kept() {
    let backend = Backend::http(script(|_| Reply::Respond {
        status: 200,
        headers: vec![
            ("set-cookie", "a=1".into()),
            ("set-cookie", "b=2".into()),
            ("set-cookie", "c=3".into()),
            ("content-type", "text/html".into()),
        ],
        body: b"<p>hi</p>".to_vec(),
    }))
    .await;
    let p = proxy(&backend.url("http"));
    let r = p.call(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(
        r["multiValueHeaders"]["set-cookie"],
        json!(["a=1", "b=2", "c=3"])
    );
    assert_eq!(r["body"], "<p>hi</p>");
}

#[tokio::test]
async fn backend_error_statuses_pass_through_with_body() {
    for status in [400u16, 404, 418, 500, 503] {
        let backend = Backend::http(script(move |_| Reply::Respond {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: format!("{{\"backend\":{status}}}").into_bytes(),
        }))
        .await;
        let p = proxy(&backend.url("http"));
        let r = p.call(&v2("GET", "/x", "", ALLOWED_IP)).await;
        assert_eq!(r["statusCode"], status);
        assert_eq!(r["body"], format!("{{\"backend\":{status}}}"));
    }
}

#[tokio::test]
async fn any_method_is_forwarded() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));
    for method in [
        "GET", "HEAD", "OPTIONS", "DELETE", "PATCH", "TRACE", "PURGE", "PROPFIND",
    ] {
        let r = p.call(&v1(method, "/m", ALLOWED_IP)).await;
        assert_eq!(r["statusCode"], 200, "{method}");
        assert_eq!(backend.last().method, method);
    }
}

#[tokio::test]
async fn ssrf_shaped_paths_stay_on_the_target() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&format!("{}/api", backend.url("http")));
    for path in ["@evil.com/", "//evil.com/x", "/\\evil.com", "/x#@evil.com"] {
        let r = p.call(&v1("GET", path, ALLOWED_IP)).await;
        assert_eq!(r["statusCode"], 200, "{path}");
        let seen = backend.last();
        assert!(seen.uri.starts_with("/api/"), "{path} -> {}", seen.uri);
        assert_eq!(seen.header("host"), [backend.addr.to_string().as_str()]);
    }
}

#[tokio::test]
async fn upstream_headers_injected_and_replace_client_values() {
    let backend = Backend::http(echo()).await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &backend.url("http")),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_FORWARD_HEADERS", "*"),
        (
            "PROXY_UPSTREAM_HEADERS",
            "Authorization: Bearer backend-secret\nX-Backend-Key: k-123",
        ),
    ]);
    let mut event = v1("GET", "/", ALLOWED_IP);
    event["multiValueHeaders"]["Authorization"] = json!(["Bearer client"]);
    event["multiValueHeaders"]["Connection"] = json!(["keep-alive, X-Hop"]);
    event["multiValueHeaders"]["X-Hop"] = json!(["1"]);
    event["multiValueHeaders"]["X-Forwarded-Host"] = json!(["evil.com"]);
    event["multiValueHeaders"]["Transfer-Encoding"] = json!(["chunked"]);
    event["multiValueHeaders"]["X-Custom"] = json!(["a", "b"]);
    let r = p.call(&event).await;
    assert_eq!(r["statusCode"], 200);
    let seen = backend.last();
    assert_eq!(seen.header("authorization"), ["Bearer backend-secret"]);
    assert_eq!(seen.header("x-backend-key"), ["k-123"]);
    assert_eq!(seen.header("x-custom"), ["a", "b"]);
    assert!(seen.header("x-hop").is_empty());
    assert_eq!(
        seen.header("x-forwarded-host"),
        ["abc123.execute-api.eu-west-1.amazonaws.com"]
    );
}

// ---- 403 -------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_missing_and_unparseable_sources_get_403_and_nothing_is_sent() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));
    let mut missing = v1("GET", "/", ALLOWED_IP);
    missing["requestContext"]["identity"] = json!({});
    let mut null_ip = v2("GET", "/", "", ALLOWED_IP);
    null_ip["requestContext"]["http"]["sourceIp"] = json!(null);
    for event in [
        v1("GET", "/", DENIED_IP),
        v2("GET", "/", "", "2001:db9::1"),
        v1("GET", "/", "test-invoke-source-ip"),
        v1("GET", "/", ""),
        v1("GET", "/", "198.51.100.7, 10.0.0.1"),
        missing,
        null_ip,
    ] {
        let r = p.call(&event).await;
        assert_eq!(r["statusCode"], 403, "{event}");
        assert_eq!(error_body(&r), r#"{"message":"Forbidden"}"#);
    }
    // An allowed IPv4 written as IPv4-mapped IPv6 is the same address.
    let r = p.call(&v2("GET", "/", "", "::ffff:198.51.100.7")).await;
    assert_eq!(r["statusCode"], 200);
    assert_eq!(backend.seen().len(), 1);
}

#[tokio::test]
async fn deny_comes_before_refusals() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));
    let mut event = v1("GET", "/../etc/passwd", DENIED_IP);
    event["body"] = json!("%%%");
    event["isBase64Encoded"] = json!(true);
    let r = p.call(&event).await;
    assert_eq!(r["statusCode"], 403);
}

// ---- 400 -------------------------------------------------------------------------------

#[tokio::test]
async fn refused_requests_get_400_and_nothing_is_sent() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));
    let mut cases = Vec::new();
    for path in ["/../secret", "/a/%2e%2e/b", "/a/%2E%2E%2Fb/..", "/./x"] {
        cases.push(v1("GET", path, ALLOWED_IP));
        cases.push(v2("GET", path, "", ALLOWED_IP));
    }
    let mut crlf = v1("GET", "/", ALLOWED_IP);
    crlf["multiValueHeaders"]["X-Injected"] = json!(["a\r\nHost: evil.com"]);
    cases.push(crlf);
    let mut crlf2 = v2("GET", "/", "", ALLOWED_IP);
    crlf2["headers"]["accept"] = json!("text/html\nX-Evil: 1");
    cases.push(crlf2);
    let mut bad_b64 = v1("POST", "/", ALLOWED_IP);
    bad_b64["body"] = json!("not base64!");
    bad_b64["isBase64Encoded"] = json!(true);
    cases.push(bad_b64);
    let mut bad_method = v1("GET", "/", ALLOWED_IP);
    bad_method["httpMethod"] = json!("GE T");
    cases.push(bad_method);
    cases.push(v1("CONNECT", "/", ALLOWED_IP));
    for event in cases {
        let r = p.call(&event).await;
        assert_eq!(r["statusCode"], 400, "{event}");
        assert_eq!(error_body(&r), r#"{"message":"Bad Request"}"#);
    }
    assert!(backend.seen().is_empty());
}

// ---- 502 -------------------------------------------------------------------------------

#[tokio::test]
async fn unreachable_backend_is_502() {
    let addr = closed_port().await;
    let p = proxy(&format!("http://{addr}"));
    let r = p.call(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 502);
    assert_eq!(error_body(&r), r#"{"message":"Bad Gateway"}"#);
    assert_eq!(
        r["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );
}

#[tokio::test]
async fn oversized_response_is_502_too_large() {
    // Just over what fits once base64-encoded.
    let size = 6 * 1024 * 1024 / 4 * 3 + 1;
    let backend = Backend::http(script(move |_| {
        Reply::ok("application/octet-stream", vec![1u8; size])
    }))
    .await;
    let p = proxy(&backend.url("http"));
    let r = p.call(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 502);
    assert_eq!(
        error_body(&r),
        r#"{"message":"Upstream response too large"}"#
    );
    // A large text body that fits is returned untouched.
    let text = "x".repeat(5 * 1024 * 1024);
    let t = text.clone();
    let backend = Backend::http(script(move |_| Reply::ok("text/plain", t.clone()))).await;
    let p = proxy(&backend.url("http"));
    let r = p.call(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 200);
    assert_eq!(r["body"].as_str().unwrap().len(), text.len());
}

// ---- 504 -------------------------------------------------------------------------------

#[tokio::test]
async fn invocation_deadline_caps_the_timeout() {
    let backend = Backend::http(script(|_| Reply::Hang)).await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &backend.url("http")),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_TIMEOUT_MS", "600000"),
    ]);
    // With a ten-minute timeout, only the deadline can end this exchange.
    let late = Invocation {
        deadline: Some(SystemTime::now() + Duration::from_millis(600)),
        ..invocation()
    };
    let r = p.call_with(&v1("GET", "/", ALLOWED_IP), late).await;
    assert_eq!(r["statusCode"], 504);
    // A deadline already inside the margin sends nothing at all.
    let before = backend.seen().len();
    let expired = Invocation {
        deadline: Some(SystemTime::now() + Duration::from_millis(10)),
        ..invocation()
    };
    let r = p.call_with(&v1("GET", "/", ALLOWED_IP), expired).await;
    assert_eq!(r["statusCode"], 504);
    assert_eq!(backend.seen().len(), before);
}

// ---- not an HTTP event ---------------------------------------------------------------

#[tokio::test]
async fn non_http_event_is_an_invocation_error_and_the_next_is_served() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));
    for raw in [
        r#"{"Records":[{"eventSource":"aws:sqs"}]}"#,
        "{}",
        "[1,2]",
        r#""text""#,
    ] {
        assert!(p.proxy.handle(raw, invocation()).await.is_err(), "{raw}");
    }
    assert_eq!(p.call(&v1("GET", "/", ALLOWED_IP)).await["statusCode"], 200);
}

// ---- interop with the ecosystem's event types ------------------------------------------

#[tokio::test]
async fn events_and_responses_interoperate_with_aws_lambda_events() {
    use aws_lambda_events::apigw::{
        ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpResponse,
    };
    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));

    let mut request = ApiGatewayProxyRequest::default();
    request.http_method = http::Method::POST;
    request.path = Some("/typed".to_owned());
    request.body = Some("typed body".to_owned());
    request.request_context.identity.source_ip = Some(ALLOWED_IP.to_owned());
    request.request_context.stage = Some("prod".to_owned());
    request
        .multi_value_headers
        .append("content-type", http::HeaderValue::from_static("text/plain"));
    let event = serde_json::to_value(&request).unwrap();
    let r = p.call(&event).await;
    let typed: ApiGatewayProxyResponse = serde_json::from_value(r).unwrap();
    assert_eq!(typed.status_code, 200);
    assert_eq!(backend.last().body, b"typed body");

    let r = p.call(&v2("GET", "/typed", "", ALLOWED_IP)).await;
    let typed: ApiGatewayV2httpResponse = serde_json::from_value(r).unwrap();
    assert_eq!(typed.status_code, 200);
}
