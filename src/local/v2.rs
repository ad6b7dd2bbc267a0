//! `vpc-proxy local --v2`: a local HTTP request as the HTTP API (payload 2.0) event API
//! Gateway would send, and the function's v2 response back as HTTP.
//!
//! It owns only the translation of shapes; the handler decides everything. It must never
//! invent a field API Gateway would not send, so what works locally works behind an HTTP API.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::Full;
use serde_json::{Map, Value, json};

use super::apigw::V2Event;
use super::{append_headers, status_and_body};

/// The HTTP API event for this request: headers joined with commas, cookies apart, `rawPath`
/// with `/{stage}` when the stage is not `$default`.
pub fn event(
    parts: &http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    request_id: &str,
    stage: Option<&str>,
) -> Value {
    let mut event = V2Event::new(
        parts.method.as_str(),
        parts.uri.path(),
        &peer.ip().to_canonical().to_string(),
    )
    .raw_query(parts.uri.query().unwrap_or(""))
    .with_context_route_key()
    .account_id("local")
    .api_id("local")
    .domain_name(header(parts, http::header::HOST))
    .user_agent(header(parts, http::header::USER_AGENT))
    .request_id(request_id)
    .stage(stage.unwrap_or("$default"))
    .binary_body(body);
    for (name, value) in &parts.headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        if name == http::header::COOKIE {
            for cookie in text.split("; ") {
                event = event.cookie(cookie);
            }
        } else {
            event = event.header(name.as_str(), &text);
        }
    }
    event.to_value()
}

fn header(parts: &http::request::Parts, name: http::HeaderName) -> Option<&str> {
    parts.headers.get(name).and_then(|h| h.to_str().ok())
}

/// The function's v2 response as HTTP.
pub fn response(payload: &str) -> Response<Full<Bytes>> {
    let (value, mut response) = status_and_body(payload);
    let mut headers: Map<String, Value> = Map::new();
    if let Some(Value::Object(single)) = value.get("headers") {
        for (name, v) in single {
            headers.insert(name.clone(), json!([v]));
        }
    }
    if let Some(Value::Array(cookies)) = value.get("cookies") {
        headers.insert("set-cookie".into(), Value::Array(cookies.clone()));
    }
    let mut out = HeaderMap::new();
    append_headers(&mut out, &headers);
    *response.headers_mut() = out;
    response
}
