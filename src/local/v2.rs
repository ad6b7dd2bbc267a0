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
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in &parts.headers {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(text.split("; ").map(|c| json!(c)));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&text);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), json!(text));
            }
        }
    }
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "local",
            "apiId": "local",
            "domainName": parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()),
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_canonical().to_string(),
                "userAgent": parts.headers.get(http::header::USER_AGENT).and_then(|h| h.to_str().ok()),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": stage.unwrap_or("$default"),
        },
        "body": base64_simd::STANDARD.encode_to_string(body),
        "isBase64Encoded": true,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    event
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
