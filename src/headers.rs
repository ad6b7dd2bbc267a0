//! Which headers cross the proxy, in both directions.
//!
//! It owns the forward allow-list (`PROXY_FORWARD_HEADERS`), the backend credentials
//! (`PROXY_UPSTREAM_HEADERS`), the hop-by-hop rules and the `X-Forwarded-*` headers the proxy
//! sets itself. It must never pass on a client's `Host`, `X-Forwarded-*` or hop-by-hop
//! header, never let a header value with CR/LF through, and never expose an upstream header
//! value: those are secrets, marked sensitive and redacted from `Debug`.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The default `PROXY_FORWARD_HEADERS`.
pub const DEFAULT_FORWARD_HEADERS: &str = "accept,accept-encoding,accept-language,content-type,\
if-match,if-none-match,if-modified-since,if-unmodified-since,range,user-agent";

/// A request header the proxy will not forward and will not silently drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("header value contains CR, LF or NUL")]
    LineBreak,
    #[error("header name or value is not valid HTTP")]
    Invalid,
}

/// Which client headers are copied to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardPolicy {
    /// `*`: every end-to-end header.
    All,
    Only(HashSet<HeaderName>),
}

impl ForwardPolicy {
    /// Parses the comma-separated list; the error is the offending name.
    pub fn parse(text: &str) -> Result<ForwardPolicy, String> {
        let names: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if names == ["*"] {
            return Ok(ForwardPolicy::All);
        }
        names
            .into_iter()
            .map(|n| HeaderName::from_bytes(n.as_bytes()).map_err(|_| n.to_owned()))
            .collect::<Result<HashSet<_>, _>>()
            .map(ForwardPolicy::Only)
    }

    fn allows(&self, name: &HeaderName) -> bool {
        match self {
            ForwardPolicy::All => true,
            ForwardPolicy::Only(set) => set.contains(name),
        }
    }

    /// The names, for the start-up line.
    pub fn describe(&self) -> String {
        match self {
            ForwardPolicy::All => "*".to_owned(),
            ForwardPolicy::Only(set) => {
                let mut names: Vec<&str> = set.iter().map(HeaderName::as_str).collect();
                names.sort_unstable();
                names.join(",")
            }
        }
    }
}

/// Headers the proxy itself sets on every backend request from what API Gateway verified
/// (docs/CONTRACT.md, "What the backend receives"); configuration cannot replace them.
const PROXY_SET: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
    "x-amzn-trace-id",
];

/// Headers added to every backend request. Values are secrets.
#[derive(Clone, Default)]
pub struct UpstreamHeaders(Vec<(HeaderName, HeaderValue)>);

/// An upstream header line that cannot be used; never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamHeaderError {
    #[error("line {0}: expected 'Name: value' (value not shown)")]
    NoColon(usize),
    #[error("line {line}: invalid header name {name:?}")]
    BadName { line: usize, name: String },
    #[error("line {line}: header {name:?} has an invalid value (value not shown)")]
    BadValue { line: usize, name: String },
    #[error(
        "line {line}: header {name:?} is managed by the proxy (hop-by-hop, Host, X-Forwarded-*, \
         or a client address) and cannot be set"
    )]
    Reserved { line: usize, name: String },
}

impl UpstreamHeaders {
    pub fn parse(text: &str) -> Result<UpstreamHeaders, UpstreamHeaderError> {
        let mut headers = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            if line.trim().is_empty() {
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or(UpstreamHeaderError::NoColon(line_no))?;
            let name = name.trim();
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                UpstreamHeaderError::BadName {
                    line: line_no,
                    name: name.to_owned(),
                }
            })?;
            // A constant client address would be false for every client but one: the
            // verified address already goes in X-Forwarded-For.
            if is_hop_by_hop(header.as_str())
                || header == http::header::HOST
                || PROXY_SET.contains(&header.as_str())
                || claims_client_address(header.as_str())
            {
                return Err(UpstreamHeaderError::Reserved {
                    line: line_no,
                    name: name.to_owned(),
                });
            }
            let mut value =
                HeaderValue::from_str(value.trim()).map_err(|_| UpstreamHeaderError::BadValue {
                    line: line_no,
                    name: name.to_owned(),
                })?;
            value.set_sensitive(true);
            headers.push((header, value));
        }
        Ok(UpstreamHeaders(headers))
    }

    pub fn names(&self) -> impl Iterator<Item = &HeaderName> {
        self.0.iter().map(|(n, _)| n)
    }

    fn contains(&self, name: &HeaderName) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These headers followed by `more` (live configuration: the variable's and the secret's).
    pub fn merged(&self, more: &UpstreamHeaders) -> UpstreamHeaders {
        let mut all = self.0.clone();
        all.extend(more.0.iter().cloned());
        UpstreamHeaders(all)
    }

    /// Values, for redaction by the telemetry layer only.
    pub fn secret_values(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(|(_, v)| v.as_bytes())
    }
}

impl fmt::Debug for UpstreamHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(n, _)| format!("{n}: <redacted>")))
            .finish()
    }
}

/// What the proxy itself knows about the request, for the headers it sets.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    pub source_ip: IpAddr,
    /// Scheme the client used to reach the API (`https` behind API Gateway).
    pub proto: &'static str,
    pub host: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub trace_id: Option<&'a str>,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1 plus the `Proxy-*` family), in any case.
pub fn is_hop_by_hop(name: &str) -> bool {
    named(
        name,
        &[
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "trailers",
            "transfer-encoding",
            "upgrade",
        ],
        "proxy-",
    )
}

/// Headers a backend (or a framework's "trusted proxy" setting) may take as the client's
/// address. Only the proxy's own `X-Forwarded-For` carries one: a client that could send any
/// of these could tell the backend any source address.
const CLIENT_ADDRESS: &[&str] = &[
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-original-forwarded-for",
    "x-forwarded",
    "forwarded-for",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "client-ip",
    "x-proxyuser-ip",
    "x-envoy-external-address",
    "x-azure-clientip",
    "cloudfront-viewer-address",
];

/// Whether the header claims a client address (`Forwarded` and the list above; the
/// `X-Forwarded-*` family is the proxy's own, see `is_managed`).
fn claims_client_address(name: &str) -> bool {
    name.eq_ignore_ascii_case("forwarded")
        || CLIENT_ADDRESS.iter().any(|n| name.eq_ignore_ascii_case(n))
}

/// Headers the proxy always sets or always drops, whatever the policy says; in any case.
fn is_managed(name: &str) -> bool {
    claims_client_address(name)
        || named(
            name,
            &["host", "content-length", "x-request-id", "x-amzn-trace-id"],
            "x-forwarded-",
        )
}

/// Whether `name` is one of `names` or starts with `prefix`, ignoring ASCII case.
fn named(name: &str, names: &[&str], prefix: &str) -> bool {
    names.iter().any(|n| name.eq_ignore_ascii_case(n))
        || name
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Builds the backend request's headers from the client's.
pub fn upstream_request_headers<N, V, C>(
    policy: &ForwardPolicy,
    upstream: &UpstreamHeaders,
    client: &[(N, V)],
    cookies: &[C],
    fwd: &Forwarding<'_>,
) -> Result<HeaderMap, HeaderError>
where
    N: AsRef<str>,
    V: AsRef<str>,
    C: AsRef<str>,
{
    // Refuse before choosing: a CR/LF anywhere means the request is not what it claims to be.
    let line_break = |v: &str| v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    if client
        .iter()
        .any(|(n, v)| line_break(n.as_ref()) || line_break(v.as_ref()))
        || cookies.iter().any(|c| line_break(c.as_ref()))
    {
        return Err(HeaderError::LineBreak);
    }
    let connection_listed: Vec<&str> = client
        .iter()
        .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.as_ref().split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();

    let mut out = HeaderMap::with_capacity(client.len() + 6);
    for (name, value) in client {
        let (name, value) = (name.as_ref(), value.as_ref());
        if is_hop_by_hop(name)
            || is_managed(name)
            || connection_listed
                .iter()
                .any(|t| t.eq_ignore_ascii_case(name))
        {
            continue;
        }
        // from_bytes lower-cases the name.
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            // A name no policy could have listed is dropped only when it would not be sent.
            if matches!(policy, ForwardPolicy::All) {
                return Err(HeaderError::Invalid);
            }
            continue;
        };
        if !policy.allows(&header) || upstream.contains(&header) {
            continue;
        }
        let value = HeaderValue::from_str(value).map_err(|_| HeaderError::Invalid)?;
        out.append(header, value);
    }

    let cookie = http::header::COOKIE;
    if !cookies.is_empty()
        && policy.allows(&cookie)
        && !upstream.contains(&cookie)
        && !out.contains_key(&cookie)
    {
        let mut joined = String::new();
        for (i, c) in cookies.iter().enumerate() {
            if i > 0 {
                joined.push_str("; ");
            }
            joined.push_str(c.as_ref());
        }
        out.insert(
            cookie,
            HeaderValue::from_str(&joined).map_err(|_| HeaderError::Invalid)?,
        );
    }

    let set = |out: &mut HeaderMap, name: &'static str, value: &str| -> Result<(), HeaderError> {
        let value = HeaderValue::from_str(value).map_err(|_| HeaderError::Invalid)?;
        out.insert(HeaderName::from_static(name), value);
        Ok(())
    };
    set(&mut out, "x-forwarded-for", &fwd.source_ip.to_string())?;
    set(&mut out, "x-forwarded-proto", fwd.proto)?;
    if let Some(host) = fwd.host {
        set(&mut out, "x-forwarded-host", host)?;
    }
    if let Some(id) = fwd.request_id {
        set(&mut out, "x-request-id", id)?;
    }
    if let Some(trace) = fwd.trace_id {
        set(&mut out, "x-amzn-trace-id", trace)?;
    }
    for (name, value) in &upstream.0 {
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

/// The backend's response headers minus hop-by-hop ones (and those `Connection` names).
pub fn response_headers(backend: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    let listed: Vec<String> = backend
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    backend.iter().filter(move |(name, _)| {
        !is_hop_by_hop(name.as_str()) && !listed.iter().any(|l| l == name.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd() -> Forwarding<'static> {
        Forwarding {
            source_ip: "198.51.100.7".parse().unwrap(),
            proto: "https",
            host: Some("api.example.com"),
            request_id: Some("req-1"),
            trace_id: Some("Root=1-abc"),
        }
    }

    const NO_COOKIES: &[&str] = &[];
    const NO_HEADERS: &[(&str, &str)] = &[];

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn values<'a>(h: &'a HeaderMap, n: &str) -> Vec<&'a str> {
        h.get_all(n).iter().map(|v| v.to_str().unwrap()).collect()
    }

    #[test]
    fn default_policy_copies_listed_headers_with_all_values() {
        let policy = ForwardPolicy::parse(DEFAULT_FORWARD_HEADERS).unwrap();
        let h = upstream_request_headers(
            &policy,
            &UpstreamHeaders::default(),
            &pairs(&[
                ("Accept", "text/html"),
                ("accept", "application/json"),
                ("Content-Type", "text/plain"),
                ("Authorization", "Bearer client"),
                ("X-Custom", "1"),
            ]),
            NO_COOKIES,
            &fwd(),
        )
        .unwrap();
        assert_eq!(values(&h, "accept"), ["text/html", "application/json"]);
        assert_eq!(values(&h, "content-type"), ["text/plain"]);
        assert!(h.get("authorization").is_none() && h.get("x-custom").is_none());
    }

    #[test]
    fn client_cannot_set_host_forwarding_or_hop_by_hop_headers() {
        let h = upstream_request_headers(
            &ForwardPolicy::All,
            &UpstreamHeaders::default(),
            &pairs(&[
                ("Host", "evil.com"),
                ("X-Forwarded-For", "1.2.3.4"),
                ("X-Forwarded-Host", "evil.com"),
                ("X-Forwarded-Proto", "http"),
                ("Forwarded", "for=1.2.3.4"),
                ("Connection", "keep-alive, X-Secret-Hop"),
                ("X-Secret-Hop", "x"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Authorization", "Basic x"),
                ("TE", "trailers"),
                ("Trailer", "x"),
                ("Transfer-Encoding", "chunked"),
                ("Upgrade", "websocket"),
                ("Content-Length", "99"),
                ("X-Request-Id", "spoof"),
                ("X-Amzn-Trace-Id", "spoof"),
                ("X-Kept", "yes"),
            ]),
            NO_COOKIES,
            &fwd(),
        )
        .unwrap();
        assert_eq!(values(&h, "x-forwarded-for"), ["198.51.100.7"]);
        assert_eq!(values(&h, "x-forwarded-host"), ["api.example.com"]);
        assert_eq!(values(&h, "x-forwarded-proto"), ["https"]);
        assert_eq!(values(&h, "x-request-id"), ["req-1"]);
        assert_eq!(values(&h, "x-amzn-trace-id"), ["Root=1-abc"]);
        assert_eq!(values(&h, "x-kept"), ["yes"]);
        for gone in [
            "host",
            "forwarded",
            "connection",
            "x-secret-hop",
            "keep-alive",
            "proxy-authorization",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "content-length",
        ] {
            assert!(h.get(gone).is_none(), "{gone} forwarded");
        }
    }

    #[test]
    fn client_address_headers_never_cross_even_under_star() {
        let spoofs = [
            ("X-Real-IP", "1.2.3.4"),
            ("True-Client-IP", "1.2.3.4"),
            ("CF-Connecting-IP", "1.2.3.4"),
            ("X-Client-IP", "1.2.3.4"),
            ("X-Cluster-Client-IP", "1.2.3.4"),
            ("Fastly-Client-IP", "1.2.3.4"),
            ("X-Original-Forwarded-For", "1.2.3.4"),
            ("x-forwarded", "for=1.2.3.4"),
            ("Forwarded-For", "1.2.3.4"),
            ("X-Originating-IP", "1.2.3.4"),
            ("Client-IP", "1.2.3.4"),
            ("CloudFront-Viewer-Address", "1.2.3.4:5"),
        ];
        let listed = spoofs.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",");
        for policy in [ForwardPolicy::All, ForwardPolicy::parse(&listed).unwrap()] {
            let h = upstream_request_headers(
                &policy,
                &UpstreamHeaders::default(),
                &pairs(&spoofs),
                NO_COOKIES,
                &fwd(),
            )
            .unwrap();
            for (name, _) in spoofs {
                assert!(h.get(name).is_none(), "{name} forwarded under {policy:?}");
            }
            assert_eq!(values(&h, "x-forwarded-for"), ["198.51.100.7"]);
        }
        for (name, _) in spoofs {
            let e = UpstreamHeaders::parse(&format!("{name}: 10.0.0.1")).unwrap_err();
            assert!(
                matches!(e, UpstreamHeaderError::Reserved { line: 1, .. }),
                "{name}: {e}"
            );
        }
    }

    #[test]
    fn upstream_headers_replace_client_ones_and_stay_secret() {
        let up =
            UpstreamHeaders::parse("Authorization: Bearer s3cret\n\nX-Api-Key:  k1  \n").unwrap();
        let h = upstream_request_headers(
            &ForwardPolicy::All,
            &up,
            &pairs(&[("authorization", "Bearer client"), ("x-api-key", "client")]),
            NO_COOKIES,
            &fwd(),
        )
        .unwrap();
        assert_eq!(values(&h, "authorization"), ["Bearer s3cret"]);
        assert_eq!(values(&h, "x-api-key"), ["k1"]);
        assert!(h.get("authorization").unwrap().is_sensitive());
        assert!(!format!("{up:?}").contains("s3cret"));
    }

    #[test]
    fn upstream_header_errors_never_show_values() {
        let e = UpstreamHeaders::parse("X-Ok: 1\nno colon s3cret").unwrap_err();
        assert_eq!(e, UpstreamHeaderError::NoColon(2));
        let e = UpstreamHeaders::parse("Bad Name: s3cret").unwrap_err();
        assert!(!e.to_string().contains("s3cret"));
        let e = UpstreamHeaders::parse("X-Key: s3cret\u{7f}").unwrap_err();
        assert!(matches!(e, UpstreamHeaderError::BadValue { line: 1, .. }));
        assert!(!e.to_string().contains("s3cret"));
        assert!(UpstreamHeaders::parse("Host: x").is_err());
    }

    #[test]
    fn upstream_headers_cannot_replace_what_the_proxy_verified() {
        for name in [
            "X-Forwarded-For",
            "x-forwarded-proto",
            "X-Forwarded-Host",
            "X-Request-Id",
            "X-Amzn-Trace-Id",
        ] {
            let e = UpstreamHeaders::parse(&format!("X-Ok: 1\n{name}: 10.0.0.1")).unwrap_err();
            assert!(
                matches!(e, UpstreamHeaderError::Reserved { line: 2, .. }),
                "{name}: {e}"
            );
        }
    }

    #[test]
    fn line_breaks_are_refused_anywhere() {
        for (n, v) in [("X-A", "a\r\nX-B: b"), ("Accept", "a\nb"), ("X-Z", "a\0b")] {
            let r = upstream_request_headers(
                &ForwardPolicy::parse("accept").unwrap(),
                &UpstreamHeaders::default(),
                &pairs(&[(n, v)]),
                NO_COOKIES,
                &fwd(),
            );
            assert_eq!(r.unwrap_err(), HeaderError::LineBreak);
        }
    }

    #[test]
    fn v2_cookies_are_rejoined_when_cookie_is_forwarded() {
        let policy = ForwardPolicy::parse("cookie").unwrap();
        let h = upstream_request_headers(
            &policy,
            &UpstreamHeaders::default(),
            NO_HEADERS,
            &["a=1", "b=2"],
            &fwd(),
        )
        .unwrap();
        assert_eq!(values(&h, "cookie"), ["a=1; b=2"]);
    }

    #[test]
    fn policy_parsing() {
        assert_eq!(ForwardPolicy::parse(" * ").unwrap(), ForwardPolicy::All);
        assert_eq!(ForwardPolicy::parse("bad name").unwrap_err(), "bad name");
        assert_eq!(
            ForwardPolicy::parse("Accept, X-Y,").unwrap().describe(),
            "accept,x-y"
        );
    }

    #[test]
    fn response_hop_by_hop_removed() {
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("close, x-hop"));
        h.append("x-hop", HeaderValue::from_static("1"));
        h.append("transfer-encoding", HeaderValue::from_static("chunked"));
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        let kept: Vec<_> = response_headers(&h).map(|(n, _)| n.as_str()).collect();
        assert_eq!(kept, ["set-cookie", "set-cookie"]);
    }
}
