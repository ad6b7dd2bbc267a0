//! The events and invocations the tests send: a REST API (v1) and an HTTP API (v2) event as
//! API Gateway sends them for a `{proxy+}` route, built with the library's own builders
//! (`vpc_proxy::local::apigw`), the invocation metadata Lambda hands out with them, the
//! addresses the fixture allow-list admits and refuses, and base64 bodies.
//!
//! It fixes the fixtures' values (ids, hosts, stages) in one place; it must never decide what
//! a field means: the builders own the shapes, the handler owns the meaning.

use serde_json::Value;
use vpc_proxy::handler::Invocation;
use vpc_proxy::local::apigw::{V1Event, V2Event};

/// Inside the allow-list of `proxy::proxy` (198.51.100.0/24).
pub const ALLOWED_IP: &str = "198.51.100.7";
/// Outside it.
pub const DENIED_IP: &str = "203.0.113.9";

const V1_HOST: &str = "abc123.execute-api.eu-west-1.amazonaws.com";
const V2_HOST: &str = "xyz.execute-api.eu-west-1.amazonaws.com";

/// A sampled invocation with a request id and no deadline.
pub fn invocation() -> Invocation {
    Invocation {
        request_id: "lambda-req-1".to_owned(),
        deadline: None,
        xray_trace_id: Some(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
        ),
    }
}

/// The REST API (v1) event of `v1`, as a builder for tests that add to it.
pub fn v1_event(method: &str, path: &str, source_ip: &str) -> V1Event {
    V1Event::new(method, path, source_ip)
        .header("Host", V1_HOST)
        .header("X-Forwarded-Proto", "https")
        .stage("prod")
        .request_id("apigw-req-1")
        .domain_name(Some(V1_HOST))
        .user_agent("curl/8.0")
}

/// A REST API (v1) event on stage `prod`: no query, no body.
pub fn v1(method: &str, path: &str, source_ip: &str) -> Value {
    v1_event(method, path, source_ip).to_value()
}

/// The HTTP API (v2) event of `v2`, as a builder for tests that add to it.
pub fn v2_event(method: &str, raw_path: &str, raw_query: &str, source_ip: &str) -> V2Event {
    V2Event::new(method, &format!("/dev{raw_path}"), source_ip)
        .route_key("ANY /{proxy+}")
        .raw_query(raw_query)
        .header("host", V2_HOST)
        .header("user-agent", "curl/8.0")
        .account_id("123456789012")
        .api_id("xyz")
        .domain_name(Some(V2_HOST))
        .user_agent(Some("curl/8.0"))
        .request_id("apigw-req-2")
        .stage("dev")
        .time_epoch(1_700_000_000_000)
}

/// An HTTP API (v2) event on stage `dev`: `raw_path` is under the stage.
pub fn v2(method: &str, raw_path: &str, raw_query: &str, source_ip: &str) -> Value {
    v2_event(method, raw_path, raw_query, source_ip).to_value()
}

/// The response body bytes, decoding base64 when flagged.
#[cfg(feature = "base64")]
pub fn body_bytes(response: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let text = response["body"].as_str().unwrap_or("");
    if response["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    } else {
        text.as_bytes().to_vec()
    }
}

/// Standard base64, by the reference crate rather than the proxy's own.
#[cfg(feature = "base64")]
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
