//! X-Ray subsegments, received by a loopback UDP listener standing in for the daemon: one per
//! backend exchange of a sampled invocation, with the fields and id formats X-Ray requires,
//! the parent and trace ids of the invocation's header, and nothing secret; nothing at all
//! for an unsampled one; a daemon that is down changes nothing for the client.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;
use serde_json::Value;
use vpc_proxy::handler::Invocation;
use vpc_proxy::xray::Tracer;

const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";

/// The stand-in daemon and a tracer sending to it.
fn daemon() -> (UdpSocket, Tracer) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    // A hang guard only: every datagram a test waits for was sent before it waits.
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let tracer = Tracer::to(socket.local_addr().expect("addr"));
    assert!(tracer.enabled());
    (socket, tracer)
}

/// The next datagram: the daemon header line, then the document.
fn receive(socket: &UdpSocket) -> (String, Value) {
    let mut buffer = [0u8; 65_536];
    let n = socket.recv(&mut buffer).expect("a datagram");
    let text = std::str::from_utf8(&buffer[..n]).expect("UTF-8").to_owned();
    let (header, document) = text.split_once('\n').expect("header line");
    assert_eq!(header, r#"{"format":"json","version":1}"#);
    (
        text.clone(),
        serde_json::from_str(document).expect("JSON document"),
    )
}

fn with_trace(header: &str) -> Invocation {
    Invocation {
        xray_trace_id: Some(header.to_owned()),
        ..invocation()
    }
}

fn sampled(flag: &str) -> String {
    format!("Root={ROOT};Parent={PARENT};Sampled={flag};Lineage=10:1234abcd:1")
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A POST with a query, credentials and a body, none of which may reach the trace.
fn secret_request() -> Value {
    let mut event = v1("POST", "/orders/42", ALLOWED_IP);
    event["queryStringParameters"] = serde_json::json!({"token": "q-secret-123"});
    event["multiValueQueryStringParameters"] = serde_json::json!({"token": ["q-secret-123"]});
    event["headers"]["Authorization"] = "Bearer hdr-secret-456".into();
    event["multiValueHeaders"]["Authorization"] = serde_json::json!(["Bearer hdr-secret-456"]);
    event["body"] = "body-secret-789".into();
    event
}

#[tokio::test]
async fn a_sampled_exchange_sends_one_subsegment_with_the_required_fields() {
    let backend = Backend::http(script(|_| Reply::ok("text/plain", "created"))).await;
    let mut p = proxy(&backend.url("http"));
    let (socket, tracer) = daemon();
    p.proxy.set_tracer(tracer);

    let r = p
        .call_with(&secret_request(), with_trace(&sampled("1")))
        .await;
    assert_eq!(r["statusCode"], 200);
    let (raw, doc) = receive(&socket);

    assert_eq!(doc["type"], "subsegment");
    assert_eq!(doc["namespace"], "remote");
    assert_eq!(doc["name"], "127.0.0.1");
    assert_eq!(doc["trace_id"], ROOT);
    assert_eq!(doc["parent_id"], PARENT);
    assert!(is_hex(doc["id"].as_str().unwrap(), 16), "{doc}");
    assert_ne!(doc["id"], PARENT);
    let (start, end) = (
        doc["start_time"].as_f64().unwrap(),
        doc["end_time"].as_f64().unwrap(),
    );
    assert!(start > 1.7e9 && start <= end, "{start} {end}");
    assert_eq!(doc["http"]["request"]["method"], "POST");
    assert_eq!(
        doc["http"]["request"]["url"],
        format!("{}/orders/42", backend.url("http"))
    );
    assert_eq!(doc["http"]["response"]["status"], 200);
    assert_eq!(doc["http"]["response"]["content_length"], 7);
    assert_eq!(
        (&doc["fault"], &doc["error"], &doc["throttle"]),
        (
            &Value::Bool(false),
            &Value::Bool(false),
            &Value::Bool(false)
        )
    );
    // The backend did get the query and the credentials; the trace did not.
    assert!(backend.last().uri.contains("q-secret-123"));
    for secret in ["q-secret-123", "hdr-secret-456", "body-secret-789", "token"] {
        assert!(!raw.contains(secret), "{secret} in {raw}");
    }
}

#[tokio::test]
async fn flags_follow_x_ray_for_4xx_429_5xx_and_no_answer() {
    let backend = Backend::http(script(|r| {
        let status = r.uri.trim_start_matches('/').parse().unwrap_or(200);
        Reply::Respond {
            status,
            headers: vec![],
            body: vec![],
        }
    }))
    .await;
    let mut p = proxy(&backend.url("http"));
    let (socket, tracer) = daemon();
    p.proxy.set_tracer(tracer);
    for (status, fault, error, throttle) in [
        (404, false, true, false),
        (429, false, true, true),
        (503, true, false, false),
    ] {
        let path = format!("/{status}");
        p.call_with(&v1("GET", &path, ALLOWED_IP), with_trace(&sampled("1")))
            .await;
        let (_, doc) = receive(&socket);
        assert_eq!(doc["http"]["response"]["status"], status);
        assert_eq!(doc["fault"], fault, "{status}");
        assert_eq!(doc["error"], error, "{status}");
        assert_eq!(doc["throttle"], throttle, "{status}");
    }

    // No answer at all: a fault with its fixed cause, no response.
    let mut p = proxy(&format!("http://{}", closed_port().await));
    let (socket, tracer) = daemon();
    p.proxy.set_tracer(tracer);
    let r = p
        .call_with(&v1("GET", "/", ALLOWED_IP), with_trace(&sampled("1")))
        .await;
    assert_eq!(r["statusCode"], 502);
    let (_, doc) = receive(&socket);
    assert_eq!(doc["fault"], true);
    assert!(doc["http"].get("response").is_none(), "{doc}");
    let exception = &doc["cause"]["exceptions"][0];
    assert_eq!(exception["message"], "connection refused");
    assert_eq!(exception["type"], "connect");
    assert!(is_hex(exception["id"].as_str().unwrap(), 16));
}

#[tokio::test]
async fn unsampled_and_untraced_invocations_send_nothing() {
    let backend = Backend::http(script(|_| Reply::ok("text/plain", "ok"))).await;
    let mut p = proxy(&backend.url("http"));
    let (socket, tracer) = daemon();
    p.proxy.set_tracer(tracer);
    for invocation in [
        with_trace(&sampled("0")),
        with_trace(&sampled("?")),
        with_trace(&format!("Root={ROOT};Sampled=1")),
        Invocation {
            xray_trace_id: None,
            ..invocation()
        },
    ] {
        let r = p
            .call_with(&v1("GET", "/quiet", ALLOWED_IP), invocation)
            .await;
        assert_eq!(r["statusCode"], 200);
    }
    // Nothing is waiting in the socket: the first datagram is the sampled request's.
    p.call_with(&v1("GET", "/traced", ALLOWED_IP), with_trace(&sampled("1")))
        .await;
    let (_, doc) = receive(&socket);
    assert!(
        doc["http"]["request"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/traced"),
        "{doc}"
    );
    // Denied requests never reach the backend and are not traced either.
    p.call_with(&v1("GET", "/denied", DENIED_IP), with_trace(&sampled("1")))
        .await;
    p.call_with(&v1("GET", "/last", ALLOWED_IP), with_trace(&sampled("1")))
        .await;
    let (_, doc) = receive(&socket);
    assert!(
        doc["http"]["request"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/last"),
        "{doc}"
    );
}

#[tokio::test]
async fn a_daemon_that_is_down_costs_the_client_nothing() {
    let backend = Backend::http(script(|_| Reply::ok("text/plain", "ok"))).await;
    let mut p = proxy(&backend.url("http"));
    // A port nobody listens on: each send may come back as ICMP unreachable, and the
    // non-blocking socket reports it on a later send, which is dropped.
    let gone = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    p.proxy.set_tracer(Tracer::to(gone));
    for _ in 0..200 {
        let r = p
            .call_with(&v1("GET", "/", ALLOWED_IP), with_trace(&sampled("1")))
            .await;
        assert_eq!(r["statusCode"], 200);
        assert_eq!(r["body"], "ok");
    }
    // And no daemon configured at all: a disabled tracer.
    assert!(!Tracer::disabled().enabled());
}

/// A sink that keeps the streamed body, standing in for the Runtime API.
#[derive(Default)]
struct Collect {
    status: Option<u16>,
    body: Vec<u8>,
}

impl vpc_proxy::streaming::BodySink for Collect {
    async fn head(
        &mut self,
        head: vpc_proxy::streaming::Head,
    ) -> Result<(), vpc_proxy::streaming::SinkClosed> {
        self.status = Some(head.status);
        Ok(())
    }

    async fn data(&mut self, chunk: bytes::Bytes) -> Result<(), vpc_proxy::streaming::SinkClosed> {
        self.body.extend_from_slice(&chunk);
        Ok(())
    }

    async fn fail(&mut self, _: vpc_proxy::outcome::UpstreamError) {}
}

#[tokio::test]
async fn a_streamed_exchange_is_traced_when_its_last_byte_is_out() {
    let backend = Backend::http(script(|_| {
        Reply::ok("application/octet-stream", "streamed body")
    }))
    .await;
    let mut p = proxy(&backend.url("http"));
    let (socket, tracer) = daemon();
    p.proxy.set_tracer(tracer);

    let raw = secret_request().to_string();
    let streamed = p
        .proxy
        .handle_streaming(&raw, with_trace(&sampled("1")))
        .await
        .expect("an HTTP event");
    let mut sink = Collect::default();
    streamed.deliver(&mut sink).await;
    assert_eq!(
        (sink.status, sink.body.as_slice()),
        (Some(200), &b"streamed body"[..])
    );

    let (raw, doc) = receive(&socket);
    assert_eq!(doc["namespace"], "remote");
    assert_eq!(doc["trace_id"], ROOT);
    assert_eq!(doc["parent_id"], PARENT);
    assert_eq!(doc["http"]["request"]["method"], "POST");
    assert_eq!(
        doc["http"]["request"]["url"],
        format!("{}/orders/42", backend.url("http"))
    );
    assert_eq!(doc["http"]["response"]["status"], 200);
    assert_eq!(doc["http"]["response"]["content_length"], 13);
    assert_eq!(doc["fault"], false);
    for secret in ["q-secret-123", "hdr-secret-456", "body-secret-789"] {
        assert!(!raw.contains(secret), "{secret} in {raw}");
    }
}
