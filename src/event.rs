//! Decoding API Gateway events into one request shape the rest of the proxy reads.
//!
//! It owns the knowledge of where each field lives in a REST API (v1) event and an HTTP API /
//! Function URL (v2) event: the stage to strip, which query form is exact, where the source IP
//! is. It must never trust the request for anything the request context knows better (the
//! source IP comes only from the context), never fail a whole event because one header is odd
//! (that is the forwarding step's 400 to give), and never alter body bytes.
//!
//! Its types are lenient where API Gateway is (nulls, missing maps) and keep JSON order, so
//! repeated keys and headers reach the backend as sent. Text borrows from the raw event
//! wherever JSON escaping allows, so a request costs a few allocations, not one per string.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

/// Which payload shape the event had; the response goes back in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Not an API Gateway / Function URL HTTP event at all: an invocation error. The only
/// representation of that fact before the outcome records it as `Refusal::NotHttpEvent`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an API Gateway HTTP event: {0}")]
pub struct NotHttpEvent(String);

/// An HTTP event whose body is flagged base64 but is not: a 400. The only way a decoded HTTP
/// event fails to become a request, so `Decoded::request` cannot say "not HTTP".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("body is flagged base64 but is not valid base64")]
pub struct BadBase64;

/// The query as the event carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestQuery<'a> {
    Raw(Cow<'a, str>),
    Pairs(Vec<(String, Vec<String>)>),
}

/// Identity of the invocation as API Gateway states it, known even when the body is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta<'a> {
    pub method: Cow<'a, str>,
    /// Request path without the stage, as it will be forwarded (before the target prefix).
    pub path: Cow<'a, str>,
    /// The verified source IP text from the request context, if any.
    pub source_ip: Option<Cow<'a, str>>,
    pub apigw_request_id: Option<Cow<'a, str>>,
    /// The API's host name (`requestContext.domainName`), never the client's `Host`.
    pub domain_name: Option<Cow<'a, str>>,
}

/// An HTTP request from API Gateway, decoded; its text borrows from the raw event.
#[derive(Debug, Clone)]
pub struct ProxyRequest<'a> {
    pub version: Version,
    pub meta: RequestMeta<'a>,
    pub query: RequestQuery<'a>,
    /// Header names as sent, one entry per value, in event order.
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// v2 cookies (API Gateway moves the `Cookie` header here).
    pub cookies: Vec<Cow<'a, str>>,
    pub body: Bytes,
}

/// The event decoded as far as it would go: the version and meta are known whenever the
/// event is an HTTP event, so even a refused request can be answered and logged properly.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub version: Version,
    pub meta: RequestMeta<'a>,
    pub request: Result<ProxyRequest<'a>, BadBase64>,
}

/// Decodes a raw event. `Err` means "not an HTTP event" (an invocation error).
pub fn decode(raw: &str) -> Result<Decoded<'_>, NotHttpEvent> {
    let event: RawEvent = serde_json::from_str(raw).map_err(|e| NotHttpEvent(describe(&e)))?;
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

type MultiMap<'a> = Ordered<'a, Option<Vec<Option<Text<'a>>>>>;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawEvent<'a> {
    #[serde(borrow)]
    version: Option<Text<'a>>,
    // v1
    #[serde(borrow)]
    http_method: Option<Text<'a>>,
    #[serde(borrow)]
    path: Option<Text<'a>>,
    #[serde(borrow)]
    multi_value_headers: Option<MultiMap<'a>>,
    #[serde(borrow)]
    query_string_parameters: Option<Ordered<'a, Option<Text<'a>>>>,
    #[serde(borrow)]
    multi_value_query_string_parameters: Option<MultiMap<'a>>,
    // v2
    #[serde(borrow)]
    raw_path: Option<Text<'a>>,
    #[serde(borrow)]
    raw_query_string: Option<Text<'a>>,
    #[serde(borrow)]
    cookies: Option<Vec<Option<Text<'a>>>>,
    // both
    #[serde(borrow)]
    headers: Option<Ordered<'a, Option<Text<'a>>>>,
    #[serde(borrow)]
    body: Option<Text<'a>>,
    is_base64_encoded: Option<bool>,
    #[serde(borrow)]
    request_context: Option<RawContext<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawContext<'a> {
    #[serde(borrow)]
    request_id: Option<Text<'a>>,
    #[serde(borrow)]
    domain_name: Option<Text<'a>>,
    #[serde(borrow)]
    stage: Option<Text<'a>>,
    #[serde(borrow)]
    identity: Option<RawIdentity<'a>>,
    #[serde(borrow)]
    http: Option<RawHttp<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawIdentity<'a> {
    #[serde(borrow)]
    source_ip: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawHttp<'a> {
    #[serde(borrow)]
    method: Option<Text<'a>>,
    #[serde(borrow)]
    source_ip: Option<Text<'a>>,
}

impl<'a> RawEvent<'a> {
    fn into_decoded(self) -> Result<Decoded<'a>, NotHttpEvent> {
        let context = self.request_context.unwrap_or_default();
        let is_v2 = self.version.is_some_and(|v| v.0 == "2.0");
        let (version, method, source_ip) = if is_v2 {
            let http = context
                .http
                .ok_or_else(|| NotHttpEvent("v2 event without requestContext.http".into()))?;
            let method = http
                .method
                .ok_or_else(|| NotHttpEvent("v2 event without a method".into()))?;
            (Version::V2, method.0, http.source_ip.map(Text::into_cow))
        } else {
            let method = self
                .http_method
                .ok_or_else(|| NotHttpEvent("event has no httpMethod".into()))?;
            (
                Version::V1,
                method.0,
                context
                    .identity
                    .and_then(|i| i.source_ip)
                    .map(Text::into_cow),
            )
        };

        let mut headers: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
        match (version, self.multi_value_headers) {
            (Version::V1, Some(multi)) if !multi.0.is_empty() => {
                headers.reserve(multi.0.len());
                for (name, values) in multi.0 {
                    for value in values.into_iter().flatten().flatten() {
                        headers.push((name.clone(), value.0));
                    }
                }
            }
            _ => {
                let single = self.headers.map(|h| h.0).unwrap_or_default();
                headers.reserve(single.len());
                for (name, value) in single {
                    if let Some(value) = value {
                        headers.push((name, value.0));
                    }
                }
            }
        }

        let path = match version {
            Version::V1 => self.path.map(Text::into_cow).unwrap_or_default(),
            Version::V2 => strip_stage(
                self.raw_path.map(Text::into_cow).unwrap_or_default(),
                context.stage.as_ref().map(|s| &*s.0),
            ),
        };
        let query = match version {
            Version::V2 => RequestQuery::Raw(
                self.raw_query_string
                    .map(Text::into_cow)
                    .unwrap_or_default(),
            ),
            Version::V1 => RequestQuery::Pairs(v1_query(
                self.multi_value_query_string_parameters,
                self.query_string_parameters,
            )),
        };
        // The API's host as API Gateway states it; never the client's Host header, which the
        // client chooses.
        let domain_name = context.domain_name.map(Text::into_cow);
        let meta = RequestMeta {
            method,
            path,
            source_ip,
            apigw_request_id: context.request_id.map(Text::into_cow),
            domain_name,
        };

        let body = match (self.body, self.is_base64_encoded.unwrap_or(false)) {
            (None, _) => Ok(Bytes::new()),
            (Some(text), false) => Ok(match text.0 {
                Cow::Borrowed(text) => Bytes::copy_from_slice(text.as_bytes()),
                Cow::Owned(text) => Bytes::from(text.into_bytes()),
            }),
            (Some(text), true) => base64_simd::STANDARD
                .decode_to_vec(text.0.as_bytes())
                .map(Bytes::from)
                .map_err(|_| BadBase64),
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
                .map(Text::into_cow)
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
fn strip_stage<'a>(raw_path: Cow<'a, str>, stage: Option<&str>) -> Cow<'a, str> {
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
        Cow::Borrowed("/")
    } else if rest.starts_with('/') {
        // The rest is a suffix of the path: borrow it when the path itself was borrowed.
        let start = raw_path.len() - rest.len();
        match raw_path {
            Cow::Borrowed(path) => Cow::Borrowed(path.get(start..).unwrap_or(path)),
            Cow::Owned(mut path) => {
                path.drain(..start);
                Cow::Owned(path)
            }
        }
    } else {
        raw_path
    }
}

fn v1_query(
    multi: Option<MultiMap<'_>>,
    single: Option<Ordered<'_, Option<Text<'_>>>>,
) -> Vec<(String, Vec<String>)> {
    match multi {
        Some(multi) if !multi.0.is_empty() => multi
            .0
            .into_iter()
            .map(|(k, v)| {
                let values = v.unwrap_or_default().into_iter().flatten();
                (k.into_owned(), values.map(|v| v.0.into_owned()).collect())
            })
            .collect(),
        _ => single
            .map(|s| s.0)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.into_owned(), vec![v.0.into_owned()])))
            .collect(),
    }
}

/// A JSON string, borrowed from the event unless it had escapes to undo. (serde's own
/// `Cow<str>` always copies, and `#[serde(borrow)]` only borrows a bare `Cow` field, not one
/// inside an `Option` or a map.)
struct Text<'a>(Cow<'a, str>);

impl<'a> Text<'a> {
    fn into_cow(self) -> Cow<'a, str> {
        self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A JSON object read as ordered pairs, duplicates kept.
struct Ordered<'a, T>(Vec<(Cow<'a, str>, T)>);

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for Ordered<'a, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a, T>(PhantomData<(Cow<'a, str>, T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for V<'a, T> {
            type Value = Ordered<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((name, value)) = map.next_entry::<Text<'de>, T>()? {
                    pairs.push((name.0, value));
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

    fn ok(raw: &str) -> ProxyRequest<'_> {
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
                .map(|(_, v)| v.as_ref())
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
    fn escaped_text_is_unescaped_and_plain_text_borrowed() {
        let r = ok(
            r#"{"version":"2.0","rawPath":"\/dev\/a\u002fb","rawQueryString":"q=\"1\"",
            "headers":{"X-\u0041":"caf\u00e9","X-B":"plain"},"cookies":["c=\u0031"],
            "requestContext":{"stage":"dev","http":{"method":"GET","sourceIp":"192.0.2.1"}},
            "body":"a\nb"}"#,
        );
        assert_eq!(
            r.meta.path, "/a/b",
            "stage stripped from an unescaped (owned) path"
        );
        assert_eq!(r.query, RequestQuery::Raw(r#"q="1""#.into()));
        assert_eq!(
            r.headers,
            [
                (Cow::from("X-A"), Cow::from("café")),
                (Cow::from("X-B"), Cow::from("plain"))
            ]
        );
        assert!(matches!(r.headers[1], (Cow::Borrowed(_), Cow::Borrowed(_))));
        assert!(matches!(r.meta.source_ip, Some(Cow::Borrowed("192.0.2.1"))));
        assert_eq!(r.cookies, ["c=1"]);
        assert_eq!(&r.body[..], b"a\nb");
    }

    #[test]
    fn stage_stripping_rules() {
        assert!(matches!(
            strip_stage(Cow::Borrowed("/dev/a"), Some("dev")),
            Cow::Borrowed("/a")
        ));
        assert_eq!(strip_stage(Cow::Owned("/dev/a".into()), Some("dev")), "/a");
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
        assert_eq!(d.request.unwrap_err(), BadBase64);
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
            assert!(matches!(decode(raw), Err(NotHttpEvent(_))), "{raw}");
        }
    }
}
