//! Decoding API Gateway events into one request shape the rest of the proxy reads.
//!
//! It owns the knowledge of where each field lives in a REST API (v1) event and an HTTP API /
//! Function URL (v2) event: the stage to strip, which query form is exact, where the source IP
//! is. It must never trust the request for anything the request context knows better (the
//! source IP comes only from the context), never fail a whole event because one header is odd
//! (that is the forwarding step's 400 to give), and never alter body bytes.
//!
//! Its types are lenient where API Gateway is (nulls, missing maps) and keep JSON order, so
//! repeated keys and headers reach the backend as sent.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

/// Which payload shape the event had; the response goes back in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Why an event could not become a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not an API Gateway / Function URL event at all: an invocation error.
    #[error("not an API Gateway HTTP event: {0}")]
    NotHttp(String),
    /// An HTTP event whose body is flagged base64 but is not: a 400.
    #[error("body is flagged base64 but is not valid base64")]
    BadBase64,
}

/// The query as the event carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestQuery {
    Raw(String),
    Pairs(Vec<(String, Vec<String>)>),
}

/// Identity of the invocation as API Gateway states it, known even when the body is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub method: String,
    /// Request path without the stage, as it will be forwarded (before the target prefix).
    pub path: String,
    /// The verified source IP text from the request context, if any.
    pub source_ip: Option<String>,
    pub apigw_request_id: Option<String>,
    /// The API's host name (`requestContext.domainName`, else the `Host` header).
    pub domain_name: Option<String>,
}

/// An HTTP request from API Gateway, decoded.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub version: Version,
    pub meta: RequestMeta,
    pub query: RequestQuery,
    /// Header names as sent, one entry per value, in event order.
    pub headers: Vec<(String, String)>,
    /// v2 cookies (API Gateway moves the `Cookie` header here).
    pub cookies: Vec<String>,
    pub body: Bytes,
}

/// The event decoded as far as it would go: the version and meta are known whenever the
/// event is an HTTP event, so even a refused request can be answered and logged properly.
#[derive(Debug)]
pub struct Decoded {
    pub version: Version,
    pub meta: RequestMeta,
    pub request: Result<ProxyRequest, DecodeError>,
}

/// Decodes a raw event. `Err` means "not an HTTP event" (an invocation error).
pub fn decode(raw: &str) -> Result<Decoded, DecodeError> {
    let event: RawEvent =
        serde_json::from_str(raw).map_err(|e| DecodeError::NotHttp(describe(&e)))?;
    event.into_decoded()
}

/// A decode error's description without the event's content: serde's messages quote the
/// offending value, which may be a secret header.
fn describe(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawEvent {
    version: Option<String>,
    // v1
    http_method: Option<String>,
    path: Option<String>,
    multi_value_headers: Option<Ordered<Option<Vec<Option<String>>>>>,
    query_string_parameters: Option<Ordered<Option<String>>>,
    multi_value_query_string_parameters: Option<Ordered<Option<Vec<Option<String>>>>>,
    // v2
    raw_path: Option<String>,
    raw_query_string: Option<String>,
    cookies: Option<Vec<Option<String>>>,
    // both
    headers: Option<Ordered<Option<String>>>,
    body: Option<String>,
    is_base64_encoded: Option<bool>,
    request_context: Option<RawContext>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawContext {
    request_id: Option<String>,
    domain_name: Option<String>,
    stage: Option<String>,
    identity: Option<RawIdentity>,
    http: Option<RawHttp>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawIdentity {
    source_ip: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawHttp {
    method: Option<String>,
    source_ip: Option<String>,
}

impl RawEvent {
    fn into_decoded(self) -> Result<Decoded, DecodeError> {
        let context = self.request_context.unwrap_or_default();
        let is_v2 = self.version.as_deref() == Some("2.0");
        let (version, method, source_ip) = if is_v2 {
            let http = context.http.ok_or_else(|| {
                DecodeError::NotHttp("v2 event without requestContext.http".into())
            })?;
            let method = http
                .method
                .ok_or_else(|| DecodeError::NotHttp("v2 event without a method".into()))?;
            (Version::V2, method, http.source_ip)
        } else {
            let method = self
                .http_method
                .ok_or_else(|| DecodeError::NotHttp("event has no httpMethod".into()))?;
            (
                Version::V1,
                method,
                context.identity.and_then(|i| i.source_ip),
            )
        };

        let mut headers: Vec<(String, String)> = Vec::new();
        match (version, self.multi_value_headers) {
            (Version::V1, Some(multi)) if !multi.0.is_empty() => {
                for (name, values) in multi.0 {
                    for value in values.into_iter().flatten().flatten() {
                        headers.push((name.clone(), value));
                    }
                }
            }
            _ => {
                for (name, value) in self.headers.map(|h| h.0).unwrap_or_default() {
                    if let Some(value) = value {
                        headers.push((name, value));
                    }
                }
            }
        }

        let path = match version {
            Version::V1 => self.path.unwrap_or_default(),
            Version::V2 => strip_stage(self.raw_path.unwrap_or_default(), context.stage.as_deref()),
        };
        let query = match version {
            Version::V2 => RequestQuery::Raw(self.raw_query_string.unwrap_or_default()),
            Version::V1 => RequestQuery::Pairs(v1_query(
                self.multi_value_query_string_parameters,
                self.query_string_parameters,
            )),
        };
        // The API's host as API Gateway states it; never the client's Host header, which the
        // client chooses.
        let domain_name = context.domain_name;
        let meta = RequestMeta {
            method,
            path,
            source_ip,
            apigw_request_id: context.request_id,
            domain_name,
        };

        let body = match (self.body, self.is_base64_encoded.unwrap_or(false)) {
            (None, _) => Ok(Bytes::new()),
            (Some(text), false) => Ok(Bytes::from(text.into_bytes())),
            (Some(text), true) => base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map(Bytes::from)
                .map_err(|_| DecodeError::BadBase64),
        };
        let request = body.map(|body| ProxyRequest {
            version,
            meta: meta.clone(),
            query,
            headers,
            cookies: self
                .cookies
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .collect(),
            body,
        });
        Ok(Decoded {
            version,
            meta,
            request,
        })
    }
}

/// v2 `rawPath` carries `/{stage}` unless the stage is `$default`.
fn strip_stage(raw_path: String, stage: Option<&str>) -> String {
    let Some(stage) = stage.filter(|s| !s.is_empty() && *s != "$default") else {
        return raw_path;
    };
    let Some(rest) = raw_path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(stage))
    else {
        return raw_path;
    };
    if rest.is_empty() {
        "/".to_owned()
    } else if rest.starts_with('/') {
        rest.to_owned()
    } else {
        raw_path
    }
}

fn v1_query(
    multi: Option<Ordered<Option<Vec<Option<String>>>>>,
    single: Option<Ordered<Option<String>>>,
) -> Vec<(String, Vec<String>)> {
    match multi {
        Some(multi) if !multi.0.is_empty() => multi
            .0
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default().into_iter().flatten().collect()))
            .collect(),
        _ => single
            .map(|s| s.0)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, vec![v])))
            .collect(),
    }
}

/// A JSON object read as ordered pairs, duplicates kept.
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(pair) = map.next_entry::<String, T>()? {
                    pairs.push(pair);
                }
                Ok(Ordered(pairs))
            }
        }
        deserializer.deserialize_map(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> ProxyRequest {
        decode(raw).unwrap().request.unwrap()
    }

    #[test]
    fn v1_rest_event() {
        let r = ok(r#"{
            "resource": "/{proxy+}", "path": "/users/1", "httpMethod": "POST",
            "headers": {"Host": "abc.execute-api.eu-west-1.amazonaws.com", "X-A": "2"},
            "multiValueHeaders": {"Host": ["abc.execute-api.eu-west-1.amazonaws.com"], "X-A": ["1", "2"]},
            "queryStringParameters": {"q": "2"},
            "multiValueQueryStringParameters": {"q": ["1", "2"], "z": ["a b"]},
            "requestContext": {"stage": "prod", "requestId": "rid", "domainName": "api.example.com",
                               "identity": {"sourceIp": "198.51.100.7"}},
            "body": "aGVsbG8=", "isBase64Encoded": true
        }"#);
        assert_eq!(r.version, Version::V1);
        assert_eq!(r.meta.method, "POST");
        assert_eq!(r.meta.path, "/users/1");
        assert_eq!(r.meta.source_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(r.meta.apigw_request_id.as_deref(), Some("rid"));
        assert_eq!(r.meta.domain_name.as_deref(), Some("api.example.com"));
        // Without the context's domain name there is no API host: never the client's Host.
        let hostless = ok(
            r#"{"httpMethod":"GET","path":"/","headers":{"Host":"evil.example"},
            "requestContext":{"identity":{"sourceIp":"198.51.100.7"}}}"#,
        );
        assert_eq!(hostless.meta.domain_name, None);
        assert_eq!(&r.body[..], b"hello");
        assert_eq!(
            r.headers
                .iter()
                .filter(|(n, _)| n == "X-A")
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert_eq!(
            r.query,
            RequestQuery::Pairs(vec![
                ("q".into(), vec!["1".into(), "2".into()]),
                ("z".into(), vec!["a b".into()])
            ])
        );
    }

    #[test]
    fn v1_with_nulls_everywhere() {
        let r = ok(
            r#"{"httpMethod":"GET","path":"/","headers":null,"multiValueHeaders":null,
            "queryStringParameters":null,"multiValueQueryStringParameters":null,"body":null,
            "isBase64Encoded":false,"requestContext":{"identity":{"sourceIp":null}}}"#,
        );
        assert!(r.headers.is_empty() && r.body.is_empty());
        assert_eq!(r.meta.source_ip, None);
        assert_eq!(r.query, RequestQuery::Pairs(vec![]));
    }

    #[test]
    fn v2_http_api_event_strips_stage() {
        let r = ok(
            r#"{"version":"2.0","routeKey":"ANY /{proxy+}","rawPath":"/dev/a/b",
            "rawQueryString":"x=1&x=2&y=%20","cookies":["a=1","b=2"],
            "headers":{"accept":"a, b","host":"h.example"},
            "requestContext":{"stage":"dev","requestId":"r2","domainName":"h.example",
              "http":{"method":"PUT","path":"/dev/a/b","sourceIp":"2001:db8::1"}},
            "body":"{\"k\":\"\u00e9\"}","isBase64Encoded":false}"#,
        );
        assert_eq!(r.version, Version::V2);
        assert_eq!(r.meta.path, "/a/b");
        assert_eq!(r.query, RequestQuery::Raw("x=1&x=2&y=%20".into()));
        assert_eq!(r.cookies, ["a=1", "b=2"]);
        assert_eq!(&r.body[..], "{\"k\":\"é\"}".as_bytes());
    }

    #[test]
    fn stage_stripping_rules() {
        assert_eq!(strip_stage("/dev".into(), Some("dev")), "/");
        assert_eq!(strip_stage("/dev/".into(), Some("dev")), "/");
        assert_eq!(strip_stage("/devices/1".into(), Some("dev")), "/devices/1");
        assert_eq!(strip_stage("/x".into(), Some("$default")), "/x");
        assert_eq!(strip_stage("/x".into(), None), "/x");
    }

    #[test]
    fn bad_base64_is_a_refusal_not_a_crash() {
        let d = decode(r#"{"httpMethod":"POST","path":"/","body":"@@@","isBase64Encoded":true}"#)
            .unwrap();
        assert_eq!(d.meta.method, "POST");
        assert_eq!(d.request.unwrap_err(), DecodeError::BadBase64);
    }

    #[test]
    fn non_http_events() {
        for raw in [
            "{}",
            r#"{"Records":[]}"#,
            r#"{"version":"2.0","requestContext":{}}"#,
            r#"{"httpMethod":5}"#,
            "[]",
            "null",
            r#""x""#,
        ] {
            assert!(matches!(decode(raw), Err(DecodeError::NotHttp(_))), "{raw}");
        }
    }
}
