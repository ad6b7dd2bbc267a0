//! What tracing costs per backend exchange, and per request, in one run.
//!
//! `exchange/*` times `Tracer::exchange` alone: no daemon configured, an unsampled header, a
//! sampled one sent to a loopback daemon (a thread draining the socket, so every send is a
//! real datagram), and a sampled one sent to a port nobody listens on; `document_only` is the
//! subsegment's JSON without the send. `handle/*` times a whole
//! small GET through `Proxy::handle` against a loopback hyper backend, untraced, traced to the
//! draining loopback daemon, and traced to a daemon socket nobody reads (no receiver to wake on
//! this 2-core machine), so the per-request ratios come from the same run.
//!
//!     cargo bench --bench xray

use std::convert::Infallible;
use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use vpc_proxy::handler::{Invocation, Proxy};
use vpc_proxy::local::apigw::V1Event;
use vpc_proxy::xray::{self, Exchange, Tracer};
use vpc_proxy_testkit::proxy_with;

const SAMPLED: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const UNSAMPLED: &str =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";

async fn backend(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        br#"{"ok":true,"id":12345}"#,
    ))))
}

fn start_backend() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("backend runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("addr");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(backend))
                        .await;
                });
            }
        });
    });
    rx.recv().expect("backend started")
}

/// A daemon that reads and drops every datagram, on its own thread.
fn start_daemon() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut buffer = [0u8; 65_536];
        while socket.recv(&mut buffer).is_ok() {}
    });
    addr
}

fn event() -> String {
    V1Event::new("GET", "/small", "203.0.113.7")
        .header("Host", "abc123.execute-api.eu-west-1.amazonaws.com")
        .query("page", "2")
        .stage("prod")
        .request_id("c6af9ac6")
        .domain_name(Some("abc123.execute-api.eu-west-1.amazonaws.com"))
        .to_json()
}

fn proxy(addr: SocketAddr, tracer: Tracer) -> Proxy {
    let target = format!("http://{addr}/api");
    let mut built = proxy_with(&[
        ("PROXY_TARGET_URL", &target),
        ("PROXY_ALLOWED_IPS", "203.0.113.7"),
    ]);
    built.proxy.set_tracer(tracer);
    built.proxy
}

fn benches(c: &mut Criterion) {
    let daemon = start_daemon();
    let unread_socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let unread = unread_socket.local_addr().expect("addr");
    let gone = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port");
    let uri: http::Uri = "http://10.0.1.20:8080/api/orders/42?page=2"
        .parse()
        .expect("uri");
    let now = SystemTime::now();
    let exchange = Exchange {
        method: "GET",
        uri: &uri,
        start: now,
        end: now + Duration::from_millis(3),
        response: Some((200, 512)),
        failure: None,
    };
    let mut group = c.benchmark_group("exchange");
    let context = xray::sampled(SAMPLED).expect("sampled");
    group.bench_function("document_only", |b| {
        b.iter(|| xray::subsegment(black_box(&context), black_box(&exchange)))
    });
    for (name, tracer, header) in [
        ("disabled", Tracer::disabled(), SAMPLED),
        ("unsampled", Tracer::to(daemon), UNSAMPLED),
        ("sampled", Tracer::to(daemon), SAMPLED),
        ("sampled_daemon_down", Tracer::to(gone), SAMPLED),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| tracer.exchange(black_box(Some(header)), black_box(&exchange)))
        });
    }
    group.finish();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let backend = start_backend();
    let event = event();
    let mut group = c.benchmark_group("handle");
    for (name, tracer) in [
        ("small_get_untraced", Tracer::disabled()),
        ("small_get_traced", Tracer::to(daemon)),
        // A daemon that never reads: the send without waking a receiver on this machine,
        // closer to Lambda, where the daemon runs outside the function's sandbox.
        ("small_get_traced_unread_daemon", Tracer::to(unread)),
    ] {
        let proxy = proxy(backend, tracer);
        let invocation = Invocation {
            request_id: "bench".into(),
            deadline: None,
            xray_trace_id: Some(SAMPLED.into()),
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(proxy.handle(black_box(&event), invocation.clone()))
                    .expect("handled")
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = xray;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(xray);
