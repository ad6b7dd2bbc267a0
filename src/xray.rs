//! X-Ray: one subsegment per backend exchange, sent to the X-Ray daemon over UDP, so the
//! service map shows API Gateway → function → backend with the backend's latency and faults.
//!
//! It owns the daemon socket (bound and connected once, non-blocking), reading the
//! invocation's trace header (`Root`, `Parent`, `Sampled`), and the subsegment document. It
//! sends only when the header says `Sampled=1` and `AWS_XRAY_DAEMON_ADDRESS` names a daemon by
//! address. It must never wait on the request path (one non-blocking `send`, no DNS, no
//! retry, errors dropped), and never put a header value, a query string, a body or text from
//! the backend into a document: the URL is scheme, host, port and path; a failure is its
//! fixed phrase.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::net::{SocketAddr, UdpSocket};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::Uri;

use crate::outcome::UpstreamError;

/// The environment variable Lambda sets when active tracing is on.
pub const DAEMON_ADDRESS_VAR: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// The daemon's protocol header, one line before each JSON document.
const DAEMON_HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";

/// Sends subsegments to the daemon, or does nothing (no daemon configured).
#[derive(Debug, Default)]
pub struct Tracer {
    socket: Option<UdpSocket>,
}

/// The parts of an invocation's trace header a subsegment needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext<'a> {
    /// `1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`.
    pub root: &'a str,
    /// The function segment's id (16 hex digits): the subsegment's parent.
    pub parent: &'a str,
}

/// One backend exchange, as the trace shows it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub method: &'a str,
    /// The request URI as sent; its query is never traced.
    pub uri: &'a Uri,
    pub start: SystemTime,
    pub end: SystemTime,
    /// The backend's answer: status and body length.
    pub response: Option<(u16, usize)>,
    /// No usable answer: its cause.
    pub failure: Option<UpstreamError>,
}

impl Tracer {
    /// A tracer that never sends.
    pub fn disabled() -> Tracer {
        Tracer { socket: None }
    }

    /// The daemon Lambda names in `AWS_XRAY_DAEMON_ADDRESS`, or disabled.
    pub fn from_env() -> Tracer {
        std::env::var(DAEMON_ADDRESS_VAR)
            .ok()
            .and_then(|v| daemon_address(&v))
            .map_or_else(Tracer::disabled, Tracer::to)
    }

    /// A tracer sending to `daemon`. A socket that cannot be set up disables tracing: it is
    /// never worth failing a request or a start for.
    pub fn to(daemon: SocketAddr) -> Tracer {
        let local: SocketAddr = if daemon.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local).and_then(|s| {
            s.set_nonblocking(true)?;
            s.connect(daemon)?;
            Ok(s)
        });
        Tracer {
            socket: socket.ok(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// Whether an exchange of the invocation with this trace header would be sent: lets a
    /// caller keep what a subsegment needs only when it will be used.
    pub fn wants(&self, trace_header: Option<&str>) -> bool {
        self.socket.is_some() && trace_header.and_then(sampled).is_some()
    }

    /// Sends the exchange's subsegment if the invocation is sampled. Never waits: a full
    /// socket buffer or a daemon that is down loses the document, not time.
    pub fn exchange(&self, trace_header: Option<&str>, exchange: &Exchange<'_>) {
        let Some(socket) = &self.socket else { return };
        let Some(context) = trace_header.and_then(sampled) else {
            return;
        };
        let document = subsegment(&context, exchange);
        let _ = socket.send(document.as_bytes());
    }
}

/// The UDP address in `AWS_XRAY_DAEMON_ADDRESS`: `ip:port`, or `tcp:ip:port udp:ip:port`.
/// A host name is refused rather than resolved (no DNS on the request path or at start).
pub fn daemon_address(value: &str) -> Option<SocketAddr> {
    let value = value.trim();
    let udp = value
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or(value);
    udp.parse().ok()
}

/// The trace context of a header that says `Sampled=1`, with well-formed ids; `None` for
/// anything else (unsampled, undecided, malformed).
pub fn sampled(header: &str) -> Option<TraceContext<'_>> {
    let (mut root, mut parent, mut sampled) = (None, None, false);
    for field in header.split(';') {
        match field.trim().split_once('=') {
            Some(("Root", v)) => root = Some(v),
            Some(("Parent", v)) => parent = Some(v),
            Some(("Sampled", v)) => sampled = v == "1",
            _ => {}
        }
    }
    let (root, parent) = (root?, parent?);
    (sampled && is_trace_id(root) && is_hex(parent, 16)).then_some(TraceContext { root, parent })
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `1-` + 8 hex digits (epoch seconds) + `-` + 24 hex digits.
fn is_trace_id(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("1")
        && parts.next().is_some_and(|p| is_hex(p, 8))
        && parts.next().is_some_and(|p| is_hex(p, 24))
        && parts.next().is_none()
}

/// A new 64-bit id as 16 hex digits: a process-wide counter through a randomly keyed hash,
/// so ids are unique within the process and unpredictable across processes, with no syscall.
pub fn new_id() -> String {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = KEYS.get_or_init(RandomState::new).hash_one(n).max(1);
    format!("{id:016x}")
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Appends `s` as a JSON string.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The daemon datagram: protocol header, then the subsegment. Written directly rather than
/// through a `serde_json::Value` tree: this runs on the request path of every sampled
/// invocation.
pub fn subsegment(context: &TraceContext<'_>, exchange: &Exchange<'_>) -> String {
    let uri = exchange.uri;
    let host = uri.host().unwrap_or("backend");
    // X-Ray's flags: error for a 4xx (throttle too for a 429), fault for a 5xx or no answer.
    let status = exchange.response.map(|(status, _)| status);
    let fault = exchange.failure.is_some() || status.is_some_and(|s| s >= 500);
    let error = status.is_some_and(|s| (400..500).contains(&s));
    let throttle = status == Some(429);

    let mut out = String::with_capacity(512);
    out.push_str(DAEMON_HEADER);
    out.push_str("{\"name\":");
    push_json_str(&mut out, host);
    let _ = write!(
        out,
        ",\"id\":\"{}\",\"trace_id\":\"{}\",\"parent_id\":\"{}\",\"type\":\"subsegment\",\"namespace\":\"remote\",\"start_time\":{:.6},\"end_time\":{:.6}",
        new_id(),
        context.root,
        context.parent,
        seconds(exchange.start),
        seconds(exchange.end),
    );
    out.push_str(",\"http\":{\"request\":{\"method\":");
    push_json_str(&mut out, exchange.method);
    out.push_str(",\"url\":");
    // Scheme, authority and path: the query never goes in.
    let url = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or(host, |a| a.as_str()),
        uri.path()
    );
    push_json_str(&mut out, &url);
    out.push('}');
    if let Some((status, length)) = exchange.response {
        let _ = write!(
            out,
            ",\"response\":{{\"status\":{status},\"content_length\":{length}}}"
        );
    }
    let _ = write!(
        out,
        "}},\"fault\":{fault},\"error\":{error},\"throttle\":{throttle}"
    );
    if let Some(failure) = exchange.failure {
        let _ = write!(
            out,
            ",\"cause\":{{\"exceptions\":[{{\"id\":\"{}\",\"type\":\"{}\",\"message\":\"{}\",\"remote\":true}}]}}",
            new_id(),
            failure.reason(),
            failure.phrase()
        );
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_address_forms() {
        assert_eq!(
            daemon_address("169.254.79.129:2000"),
            Some(([169, 254, 79, 129], 2000).into())
        );
        assert_eq!(
            daemon_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001"),
            Some(([127, 0, 0, 2], 2001).into())
        );
        assert_eq!(daemon_address("xray.internal:2000"), None);
        assert_eq!(daemon_address(""), None);
    }

    #[test]
    fn only_a_sampled_well_formed_header_traces() {
        let root = "1-5759e988-bd862e3fe1be46a994272793";
        let ok = format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1");
        assert_eq!(
            sampled(&ok),
            Some(TraceContext {
                root,
                parent: "53995c3f42cd8ad8"
            })
        );
        for header in [
            format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=0"),
            format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=?"),
            format!("Root={root};Parent=53995c3f42cd8ad8"),
            format!("Root={root};Sampled=1"),
            "Root=1-5759e988-bd86;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
            format!("Root={root};Parent=53995c3f42cd8ad;Sampled=1"),
        ] {
            assert_eq!(sampled(&header), None, "{header}");
        }
    }

    #[test]
    fn the_document_is_json_whatever_the_path_holds() {
        let context = TraceContext {
            root: "1-5759e988-bd862e3fe1be46a994272793",
            parent: "53995c3f42cd8ad8",
        };
        let uri: Uri = "https://b.internal:8443/a%22b/%5C/\u{e9}t\u{e9}?q=1"
            .parse()
            .unwrap_or_else(|_| Uri::from_static("https://b.internal:8443/a%22b/%5C"));
        let now = SystemTime::now();
        let datagram = subsegment(
            &context,
            &Exchange {
                method: "GET",
                uri: &uri,
                start: now,
                end: now,
                response: None,
                failure: Some(UpstreamError::CertificateExpired),
            },
        );
        let (_, document) = datagram.split_once('\n').unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
        assert_eq!(value["name"], "b.internal", "{datagram}");
        assert!(
            value["http"]["request"]["url"]
                .as_str()
                .unwrap_or_default()
                .starts_with("https://b.internal:8443/a%22b")
        );
        assert_eq!(
            value["cause"]["exceptions"][0]["message"],
            "certificate expired"
        );
        assert_eq!(value["fault"], true);
        let mut escaped = String::new();
        push_json_str(&mut escaped, "a\"b\\c\u{1}d");
        assert_eq!(
            serde_json::from_str::<String>(&escaped).unwrap_or_default(),
            "a\"b\\c\u{1}d"
        );
    }

    #[test]
    fn ids_are_16_hex_digits_and_distinct() {
        let ids: std::collections::BTreeSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| is_hex(id, 16) && id != "0000000000000000")
        );
    }
}
