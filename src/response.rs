//! Encoding the answer for API Gateway, in the shape of the event that asked.
//!
//! It owns the v1 (`multiValueHeaders`) and v2 (`cookies`) response formats, the text-or-
//! base64 decision, the proxy's own error bodies and Lambda's response limit (6,291,556 bytes). It must
//! never alter a text body, never drop a repeated header or a `Set-Cookie`, and never hand
//! the runtime a payload Lambda would refuse: that becomes a 502 here, measured on the bytes
//! actually sent.

use std::borrow::Cow;

use bytes::Bytes;
use http::HeaderMap;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::event::Version;
use crate::headers::response_headers;

/// Lambda's synchronous response payload limit, on the serialized JSON: 6,291,556 bytes (6 MiB
/// and 100 bytes), the largest payload Lambda hands back rather than failing the invocation.
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// The proxy's own answers. Each has exactly one status and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorReply {
    Forbidden,
    BadRequest,
    BadGateway,
    GatewayTimeout,
    PayloadTooLarge,
    /// Live configuration never read successfully yet.
    ServiceUnavailable,
}

impl ErrorReply {
    pub fn status(self) -> u16 {
        match self {
            ErrorReply::Forbidden => 403,
            ErrorReply::BadRequest => 400,
            ErrorReply::BadGateway | ErrorReply::PayloadTooLarge => 502,
            ErrorReply::GatewayTimeout => 504,
            ErrorReply::ServiceUnavailable => 503,
        }
    }

    pub fn body(self) -> &'static str {
        match self {
            ErrorReply::Forbidden => r#"{"message":"Forbidden"}"#,
            ErrorReply::BadRequest => r#"{"message":"Bad Request"}"#,
            ErrorReply::BadGateway => r#"{"message":"Bad Gateway"}"#,
            ErrorReply::GatewayTimeout => r#"{"message":"Gateway Timeout"}"#,
            ErrorReply::PayloadTooLarge => r#"{"message":"Upstream response too large"}"#,
            ErrorReply::ServiceUnavailable => r#"{"message":"Service Unavailable"}"#,
        }
    }
}

/// The response would not fit in a Lambda payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("response exceeds Lambda's payload limit of 6,291,556 bytes")]
pub struct OverPayloadLimit;

/// A response payload: JSON that Lambda accepts as an API Gateway proxy response. Only this
/// module builds one, so holding a `Payload` means holding valid JSON: nothing downstream
/// parses it again to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload(String);

impl Payload {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A serialized response and the size of the body the client will receive.
#[derive(Debug)]
pub struct Encoded {
    pub status: u16,
    pub payload: Payload,
    pub body_bytes: usize,
}

/// Encodes one of the proxy's own error answers.
pub fn error(version: Version, reply: ErrorReply) -> Encoded {
    let headers = [("content-type", Cow::Borrowed("application/json"))];
    let body = reply.body();
    Encoded {
        status: reply.status(),
        payload: serialize(version, reply.status(), &headers, Body::Text(body)),
        body_bytes: body.len(),
    }
}

/// Encodes the backend's answer.
pub fn from_backend(
    version: Version,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Encoded, OverPayloadLimit> {
    let pairs: Vec<(&str, Cow<'_, str>)> = response_headers(headers)
        .map(|(name, value)| (name.as_str(), header_text(value.as_bytes())))
        .collect();
    let encoded_body = match std::str::from_utf8(body) {
        Ok(text) if is_textual(headers) => Body::Text(text),
        _ => Body::Base64(body),
    };
    // Cheap pre-check before building a string we would throw away.
    if encoded_body.encoded_len() > MAX_RESPONSE_BYTES {
        return Err(OverPayloadLimit);
    }
    let payload = serialize(version, status, &pairs, encoded_body);
    if payload.as_str().len() > MAX_RESPONSE_BYTES {
        return Err(OverPayloadLimit);
    }
    Ok(Encoded {
        status,
        payload,
        body_bytes: body.len(),
    })
}

/// The eight NUL bytes that end the streaming prelude; the body follows them.
pub const PRELUDE_DELIMITER: [u8; 8] = [0; 8];

/// The metadata prelude of a streaming response, delimiter included: status and headers in
/// the shape of the event that asked (v1 for a REST API: `headers` and `multiValueHeaders`,
/// `Set-Cookie` kept among them as in a buffered answer; v2 for a Function URL: `headers` and
/// `cookies`). No body, no `isBase64Encoded`: the bytes that follow are the body, unaltered.
pub fn prelude(version: Version, status: u16, headers: &HeaderMap) -> Bytes {
    let pairs: Vec<(&str, Cow<'_, str>)> = response_headers(headers)
        .map(|(name, value)| (name.as_str(), header_text(value.as_bytes())))
        .collect();
    write_prelude(version, status, &pairs)
}

/// The prelude of one of the proxy's own error answers (its body is `reply.body()`).
pub fn error_prelude(version: Version, reply: ErrorReply) -> Bytes {
    let headers = [("content-type", Cow::Borrowed("application/json"))];
    write_prelude(version, reply.status(), &headers)
}

fn write_prelude(version: Version, status: u16, headers: &[(&str, Cow<'_, str>)]) -> Bytes {
    let mut out = Vec::with_capacity(256);
    if write_head(&mut out, version, status, headers).is_none() {
        // Unreachable in practice (see `serialize`); the status alone still reaches the client.
        out.clear();
        out.extend_from_slice(format!("{{\"statusCode\":{status}").as_bytes());
    }
    out.push(b'}');
    out.extend_from_slice(&PRELUDE_DELIMITER);
    Bytes::from(out)
}

/// Textual media types whose bytes can travel as a JSON string unchanged. A body with a
/// `Content-Encoding` is compressed bytes, whatever its type says.
fn is_textual(headers: &HeaderMap) -> bool {
    if headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        return false;
    }
    let Some(content_type) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind == "text"
        || subtype.ends_with("+json")
        || subtype.ends_with("+xml")
        || (kind == "application"
            && matches!(
                subtype,
                "json"
                    | "xml"
                    | "javascript"
                    | "ecmascript"
                    | "x-javascript"
                    | "x-www-form-urlencoded"
                    | "graphql"
                    | "yaml"
                    | "x-yaml"
                    | "x-ndjson"
                    | "ndjson"
                    | "csv"
                    | "sql"
            ))
}

/// Header bytes as JSON text: UTF-8 when it is, else each byte as Latin-1 (HTTP's obs-text).
fn header_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

#[derive(Clone, Copy)]
enum Body<'a> {
    Text(&'a str),
    Base64(&'a [u8]),
}

impl Body<'_> {
    /// Upper bound of the body's size inside the JSON string, escapes aside.
    fn encoded_len(&self) -> usize {
        match self {
            Body::Text(t) => t.len(),
            Body::Base64(b) => b.len().div_ceil(3) * 4,
        }
    }
}

/// Writes the payload in one pass into a buffer sized for it: the top-level object by hand
/// (fixed keys), every value through serde_json (escaped), and base64 straight into the
/// buffer, whose alphabet needs no escaping. Key order follows what API Gateway documents.
fn serialize(
    version: Version,
    status: u16,
    headers: &[(&str, Cow<'_, str>)],
    body: Body<'_>,
) -> Payload {
    // serde_json cannot fail on strings, numbers and string-keyed maps written to a Vec, and
    // what it writes is UTF-8; the fallback exists only so this function has no panic path.
    write_payload(version, status, headers, body).unwrap_or_else(|| fallback_payload(status))
}

fn write_payload(
    version: Version,
    status: u16,
    headers: &[(&str, Cow<'_, str>)],
    body: Body<'_>,
) -> Option<Payload> {
    let header_bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 8).sum();
    let mut out = Vec::with_capacity(body.encoded_len() + 2 * header_bytes + 128);
    write_head(&mut out, version, status, headers)?;
    out.extend_from_slice(b",\"body\":");
    match body {
        Body::Text(text) => {
            write_json(&mut out, text)?;
            out.extend_from_slice(b",\"isBase64Encoded\":false}");
        }
        Body::Base64(bytes) => {
            out.push(b'"');
            base64_simd::STANDARD.encode_append(bytes, &mut out);
            out.extend_from_slice(b"\",\"isBase64Encoded\":true}");
        }
    }
    String::from_utf8(out).ok().map(Payload)
}

/// The response's status and headers, as the opening of a JSON object left open for the
/// body (buffered) or closed as the streaming prelude.
fn write_head(
    out: &mut Vec<u8>,
    version: Version,
    status: u16,
    headers: &[(&str, Cow<'_, str>)],
) -> Option<()> {
    out.extend_from_slice(b"{\"statusCode\":");
    write_json(out, &status)?;
    out.extend_from_slice(b",\"headers\":");
    match version {
        Version::V1 => {
            write_json(out, &LastValues(headers))?;
            out.extend_from_slice(b",\"multiValueHeaders\":");
            write_json(out, &AllValues(headers))?;
        }
        Version::V2 => {
            write_json(out, &JoinedValues(headers))?;
            let cookies: Vec<&str> = headers
                .iter()
                .filter(|(n, _)| *n == "set-cookie")
                .map(|(_, v)| v.as_ref())
                .collect();
            out.extend_from_slice(b",\"cookies\":");
            write_json(out, &cookies)?;
        }
    }
    Some(())
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Option<()> {
    serde_json::to_writer(out, value).ok()
}

fn fallback_payload(status: u16) -> Payload {
    Payload(format!(
        r#"{{"statusCode":{status},"body":"","isBase64Encoded":false}}"#
    ))
}

/// Distinct names in first-seen order (header lists are short: a scan beats a map).
fn distinct_names<'a>(headers: &'a [(&'a str, Cow<'a, str>)]) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::with_capacity(headers.len());
    for (name, _) in headers {
        if !names.contains(name) {
            names.push(name);
        }
    }
    names
}

/// v1 `headers`: one value per name (the last); API Gateway merges it with
/// `multiValueHeaders`, which wins on duplicates, so nothing is lost.
struct LastValues<'a>(&'a [(&'a str, Cow<'a, str>)]);
impl Serialize for LastValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let names = distinct_names(self.0);
        let mut m = s.serialize_map(Some(names.len()))?;
        for name in names {
            if let Some((_, v)) = self.0.iter().rev().find(|(n, _)| *n == name) {
                m.serialize_entry(name, v.as_ref())?;
            }
        }
        m.end()
    }
}

struct AllValues<'a>(&'a [(&'a str, Cow<'a, str>)]);
impl Serialize for AllValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let names = distinct_names(self.0);
        let mut m = s.serialize_map(Some(names.len()))?;
        for name in names {
            let values: Vec<&str> = self
                .0
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_ref())
                .collect();
            m.serialize_entry(name, &values)?;
        }
        m.end()
    }
}

/// v2 `headers`: repeated values joined by commas; `Set-Cookie` goes to `cookies` instead.
struct JoinedValues<'a>(&'a [(&'a str, Cow<'a, str>)]);
impl Serialize for JoinedValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let names: Vec<&str> = distinct_names(self.0)
            .into_iter()
            .filter(|n| *n != "set-cookie")
            .collect();
        let mut m = s.serialize_map(Some(names.len()))?;
        for name in names {
            let values: Vec<&str> = self
                .0
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_ref())
                .collect();
            m.serialize_entry(name, &values.join(","))?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use http::HeaderValue;
    use serde_json::Value;

    fn headers(list: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in list {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    fn json(e: &Encoded) -> Value {
        serde_json::from_str(e.payload.as_str()).unwrap()
    }

    #[test]
    fn v1_keeps_every_value() {
        let h = headers(&[
            ("content-type", "text/plain; charset=utf-8"),
            ("set-cookie", "a=1; Path=/"),
            ("set-cookie", "b=2"),
            ("x-multi", "1"),
            ("x-multi", "2"),
            ("connection", "close"),
        ]);
        let v = json(&from_backend(Version::V1, 201, &h, "héllo\n\"".as_bytes()).unwrap());
        assert_eq!(v["statusCode"], 201);
        assert_eq!(v["body"], "héllo\n\"");
        assert_eq!(v["isBase64Encoded"], false);
        assert_eq!(
            v["multiValueHeaders"]["set-cookie"],
            serde_json::json!(["a=1; Path=/", "b=2"])
        );
        assert_eq!(
            v["multiValueHeaders"]["x-multi"],
            serde_json::json!(["1", "2"])
        );
        assert!(v["multiValueHeaders"].get("connection").is_none());
    }

    #[test]
    fn v2_moves_cookies_and_joins_repeats() {
        let h = headers(&[
            ("content-type", "application/json"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("x-multi", "1"),
            ("x-multi", "2"),
        ]);
        let v = json(&from_backend(Version::V2, 200, &h, b"{}").unwrap());
        assert_eq!(v["cookies"], serde_json::json!(["a=1", "b=2"]));
        assert_eq!(v["headers"]["x-multi"], "1,2");
        assert!(v["headers"].get("set-cookie").is_none());
        assert_eq!(v["body"], "{}");
    }

    #[test]
    fn binary_and_untyped_bodies_go_base64() {
        let bytes = [0u8, 159, 146, 150, 255];
        for (h, body) in [
            (headers(&[("content-type", "text/plain")]), &bytes[..]),
            (headers(&[("content-type", "image/png")]), b"PNG"),
            (headers(&[]), b"no type"),
            (
                headers(&[
                    ("content-type", "application/json"),
                    ("content-encoding", "gzip"),
                ]),
                b"x",
            ),
        ] {
            let v = json(&from_backend(Version::V1, 200, &h, body).unwrap());
            assert_eq!(v["isBase64Encoded"], true);
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(v["body"].as_str().unwrap())
                .unwrap();
            assert_eq!(decoded, body);
        }
    }

    #[test]
    fn textual_types() {
        for t in [
            "text/html",
            "application/json; charset=utf-8",
            "application/problem+json",
            "application/atom+xml",
            "application/javascript",
            "APPLICATION/JSON",
        ] {
            let h = headers(&[("content-type", Box::leak(t.to_owned().into_boxed_str()))]);
            assert!(is_textual(&h), "{t}");
        }
        for t in [
            "application/octet-stream",
            "image/svg",
            "application/pdf",
            "bogus",
        ] {
            let h = headers(&[("content-type", Box::leak(t.to_owned().into_boxed_str()))]);
            assert!(!is_textual(&h), "{t}");
        }
    }

    #[test]
    fn size_limit_counts_base64_and_escapes() {
        let h = headers(&[("content-type", "application/octet-stream")]);
        let just_over = vec![7u8; MAX_RESPONSE_BYTES / 4 * 3 + 1];
        assert_eq!(
            from_backend(Version::V1, 200, &h, &just_over).unwrap_err(),
            OverPayloadLimit
        );
        let fits = vec![7u8; MAX_RESPONSE_BYTES / 4 * 3 - 1024];
        assert!(from_backend(Version::V1, 200, &h, &fits).is_ok());
        // Control characters escape to six bytes each in JSON.
        let t = headers(&[("content-type", "text/plain")]);
        let escapes = vec![1u8; MAX_RESPONSE_BYTES / 6 + 10];
        assert_eq!(
            from_backend(Version::V2, 200, &t, &escapes).unwrap_err(),
            OverPayloadLimit
        );
    }

    /// A body that makes the payload exactly `len` bytes: control characters (six bytes each
    /// once escaped) topped up with plain letters.
    fn escaped_text_for(version: Version, h: &HeaderMap, len: usize) -> Vec<u8> {
        let overhead = from_backend(version, 200, h, b"")
            .unwrap()
            .payload
            .as_str()
            .len();
        let room = len - overhead;
        let mut body = vec![1u8; room / 6];
        body.resize(room / 6 + room % 6, b'a');
        body
    }

    #[test]
    fn text_with_heavy_escaping_fits_up_to_the_exact_limit() {
        let t = headers(&[("content-type", "text/plain")]);
        for version in [Version::V1, Version::V2] {
            let body = escaped_text_for(version, &t, MAX_RESPONSE_BYTES);
            let at_limit = from_backend(version, 200, &t, &body).unwrap();
            assert_eq!(at_limit.payload.as_str().len(), MAX_RESPONSE_BYTES);
            assert_eq!(json(&at_limit)["body"].as_str().unwrap().as_bytes(), body);
            let body = escaped_text_for(version, &t, MAX_RESPONSE_BYTES + 1);
            assert_eq!(
                from_backend(version, 200, &t, &body).unwrap_err(),
                OverPayloadLimit
            );
        }
    }

    #[test]
    fn binary_fits_up_to_the_exact_limit() {
        // Base64 grows in steps of four: a header value tops the payload up to the byte.
        let pad = |n: usize| -> HeaderMap {
            let mut h = headers(&[("content-type", "application/octet-stream")]);
            h.append("x-pad", HeaderValue::from_str(&"p".repeat(n)).unwrap());
            h
        };
        let size = |h: &HeaderMap, body: &[u8]| -> usize {
            let encoded = Body::Base64(body).encoded_len();
            from_backend(Version::V2, 200, h, b"")
                .unwrap()
                .payload
                .as_str()
                .len()
                + encoded
        };
        let body = vec![0xA5u8; (MAX_RESPONSE_BYTES - 200) / 4 * 3];
        let short = MAX_RESPONSE_BYTES - size(&pad(1), &body);
        let exact = pad(1 + short);
        let at_limit = from_backend(Version::V2, 200, &exact, &body).unwrap();
        assert_eq!(at_limit.payload.as_str().len(), MAX_RESPONSE_BYTES);
        assert_eq!(json(&at_limit)["isBase64Encoded"], true);
        let over = pad(2 + short);
        assert_eq!(
            from_backend(Version::V2, 200, &over, &body).unwrap_err(),
            OverPayloadLimit
        );
        // And through v1, whose header is written twice (headers and multiValueHeaders).
        let h = headers(&[("content-type", "application/octet-stream")]);
        let overhead = from_backend(Version::V1, 200, &h, b"")
            .unwrap()
            .payload
            .as_str()
            .len();
        let fits = vec![7u8; (MAX_RESPONSE_BYTES - overhead) / 4 * 3];
        assert!(from_backend(Version::V1, 200, &h, &fits).is_ok());
        let grown = vec![7u8; fits.len() + 1];
        assert_eq!(
            from_backend(Version::V1, 200, &h, &grown).unwrap_err(),
            OverPayloadLimit
        );
    }

    #[test]
    fn error_bodies() {
        let v = json(&error(Version::V2, ErrorReply::Forbidden));
        assert_eq!(v["statusCode"], 403);
        assert_eq!(v["body"], r#"{"message":"Forbidden"}"#);
        assert_eq!(v["headers"]["content-type"], "application/json");
        let v = json(&error(Version::V1, ErrorReply::PayloadTooLarge));
        assert_eq!(v["statusCode"], 502);
        assert_eq!(
            v["multiValueHeaders"]["content-type"][0],
            "application/json"
        );
    }

    #[test]
    fn hand_written_payload_is_exact_json_for_both_shapes() {
        let h = headers(&[
            ("content-type", "text/plain"),
            ("x-odd", "quote \" back \\ tab \t done"),
            ("set-cookie", "a=\"1\""),
        ]);
        let text = "line\n\u{0}\u{1f}\"quoted\" \\ é 😀";
        let binary = [0u8, 255, 1, 2, 3, 250];
        for version in [Version::V1, Version::V2] {
            let encoded = from_backend(version, 207, &h, text.as_bytes()).unwrap();
            let v = json(&encoded);
            assert_eq!(v["statusCode"], 207);
            assert_eq!(v["body"], text);
            assert_eq!(v["isBase64Encoded"], false);
            assert_eq!(v["headers"]["x-odd"], "quote \" back \\ tab \t done");
            let keys: Vec<&str> =
                serde_json::from_str::<serde_json::Map<String, Value>>(encoded.payload.as_str())
                    .unwrap()
                    .keys()
                    .map(|k| match k.as_str() {
                        "statusCode" | "headers" | "multiValueHeaders" | "cookies" | "body"
                        | "isBase64Encoded" => "known",
                        _ => "unknown",
                    })
                    .collect();
            assert_eq!(keys, ["known"; 5]);

            let octets = headers(&[("content-type", "application/octet-stream")]);
            for len in 0..binary.len() {
                let v = json(&from_backend(version, 200, &octets, &binary[..len]).unwrap());
                assert_eq!(v["isBase64Encoded"], true);
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(v["body"].as_str().unwrap())
                    .unwrap();
                assert_eq!(decoded, &binary[..len]);
            }
        }
    }

    #[test]
    fn latin1_header_bytes_survive() {
        let mut h = HeaderMap::new();
        h.append(
            "x-name",
            HeaderValue::from_bytes(&[b'c', b'a', b'f', 0xe9]).unwrap(),
        );
        let v = json(&from_backend(Version::V2, 200, &h, b"").unwrap());
        assert_eq!(v["headers"]["x-name"], "café");
    }

    fn split(prelude: &Bytes) -> Value {
        let (json, delimiter) = prelude.split_at(prelude.len() - 8);
        assert_eq!(delimiter, PRELUDE_DELIMITER, "eight NULs end the prelude");
        assert!(!json.contains(&0), "no NUL inside the JSON");
        serde_json::from_slice(json).unwrap()
    }

    #[test]
    fn streaming_preludes_carry_status_and_headers_in_the_event_shape() {
        let h = headers(&[
            ("content-type", "application/octet-stream"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("x-multi", "1"),
            ("x-multi", "2"),
            ("keep-alive", "timeout=5"),
        ]);
        let v1 = split(&prelude(Version::V1, 206, &h));
        assert_eq!(v1["statusCode"], 206);
        assert_eq!(v1["headers"]["x-multi"], "2");
        assert_eq!(
            v1["multiValueHeaders"]["x-multi"],
            serde_json::json!(["1", "2"])
        );
        assert_eq!(
            v1["multiValueHeaders"]["set-cookie"],
            serde_json::json!(["a=1", "b=2"])
        );
        assert!(v1.get("cookies").is_none(), "one place for cookies in v1");
        let v2 = split(&prelude(Version::V2, 200, &h));
        assert_eq!(v2["headers"]["x-multi"], "1,2");
        assert_eq!(v2["cookies"], serde_json::json!(["a=1", "b=2"]));
        for v in [&v1, &v2] {
            assert!(v.get("body").is_none() && v.get("isBase64Encoded").is_none());
            assert!(
                v["headers"].get("keep-alive").is_none(),
                "hop-by-hop removed"
            );
        }
        let e = split(&error_prelude(Version::V2, ErrorReply::GatewayTimeout));
        assert_eq!(e["statusCode"], 504);
        assert_eq!(e["headers"]["content-type"], "application/json");
    }
}
