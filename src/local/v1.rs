//! `vpc-proxy local` (the default): a local HTTP request as the REST API (payload 1.0) event
//! API Gateway would send, and the function's v1 response back as HTTP.
//!
//! It owns only the translation of shapes; the handler decides everything. It must never
//! invent a field API Gateway would not send, so what works locally works behind a REST API.

use std::net::SocketAddr;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::apigw::V1Event;
use super::{append_headers, status_and_body};

/// The REST API event for this request. `path` is the path under the stage; with a `stage`,
/// `requestContext` names it and carries the full path, otherwise the stage is `local`.
pub fn event(
    parts: &http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    request_id: &str,
    path: &str,
    stage: Option<&str>,
) -> Value {
    let mut event = V1Event::new(
        parts.method.as_str(),
        path,
        &peer.ip().to_canonical().to_string(),
    )
    .only_local_fields()
    .request_id(request_id)
    .stage(stage.unwrap_or("local"))
    .domain_name(
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok()),
    )
    .binary_body(body);
    if stage.is_some() {
        event = event.context_path(parts.uri.path());
    }
    for (name, value) in &parts.headers {
        event = event.header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
    for pair in parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        event = event.query(
            &percent_decode_str(k).decode_utf8_lossy(),
            &percent_decode_str(v).decode_utf8_lossy(),
        );
    }
    event.to_value()
}

/// The function's v1 response as HTTP.
pub fn response(payload: &str) -> Response<Full<Bytes>> {
    let (value, mut response) = status_and_body(payload);
    if let Some(Value::Object(headers)) = value.get("multiValueHeaders") {
        append_headers(response.headers_mut(), headers);
    }
    response
}
