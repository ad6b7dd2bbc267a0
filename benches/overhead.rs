//! What the proxy costs per invocation: `Proxy::handle` (a REST API v1 event in, the
//! response payload out) against a loopback hyper backend, next to a direct warm `reqwest`
//! call to the same backend, measured in the same run.
//!
//! Scenarios: a small GET; a 1 MB text body each way (echoed, `application/json`); a 1 MB
//! binary body each way (echoed, `application/octet-stream`, so base64 in the event and in
//! the response, as API Gateway requires). Each proxy scenario runs with telemetry installed
//! (the JSON log subscriber writing to a memory sink, EMF to a memory sink) and with it off
//! (no subscriber; the EMF documents are still rendered, the handler always records them).
//! `parts/*` times the two steps a direct call does not have (event decode, response encode),
//! and `telemetry/record` the cost of recording one outcome.
//!
//!     CARGO_TARGET_DIR=/work/target-proof cargo bench --bench overhead
//!     python3 scripts/bench_ratios.py   # p50 ratios from the run's estimates
//!
//! Before the criterion groups it prints a paired table (to stderr): each round makes one
//! direct call and one proxied call with telemetry on and off, in turn, so load changes on a
//! shared machine hit all three alike; per-call p50/p90 and p50 ratios come from those
//! rounds. `OVERHEAD_PAIRED=0` skips it, `OVERHEAD_PAIRED_ROUNDS=N` sets the rounds.
//!
//! The sinks are emptied between samples, outside the timed loop.

use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use vpc_proxy::event::{self, Version};
use vpc_proxy::handler::{Invocation, Proxy};
use vpc_proxy::local::apigw::V1Event;
use vpc_proxy::outcome::Outcome;
use vpc_proxy::response;
use vpc_proxy::telemetry::{Sink, logging};
use vpc_proxy_testkit::{TestProxy, clear, proxy_with};

const SOURCE_IP: &str = "203.0.113.7";
const MB: usize = 1024 * 1024;

/// The backend: `/small` answers a short JSON document; `/echo` answers the request body
/// with the request's content type.
async fn backend(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| http::HeaderValue::from_static("application/json"));
    let path = req.uri().path().to_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let body = if path.ends_with("/echo") {
        body
    } else {
        Bytes::from_static(br#"{"ok":true,"id":12345,"name":"small response"}"#)
    };
    Ok(Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body))
        .expect("valid response"))
}

/// Starts the backend on its own thread and runtime; returns once it is listening.
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
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
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

fn proxy(addr: SocketAddr) -> TestProxy {
    let target = format!("http://{addr}/api");
    let allowed = format!("10.0.0.0/8, {SOURCE_IP}, 2001:db8::/32");
    proxy_with(&[
        ("PROXY_TARGET_URL", &target),
        ("PROXY_ALLOWED_IPS", &allowed),
        ("PROXY_UPSTREAM_HEADERS", "X-Api-Key: bench-secret"),
    ])
}

/// A REST API (v1) event as API Gateway sends it, both header maps included.
fn v1_event(method: &str, path: &str, content_type: &str) -> V1Event {
    V1Event::new(method, path, SOURCE_IP)
        .header("Accept", "application/json")
        .header("Content-Type", content_type)
        .header("Host", "abc123.execute-api.eu-west-1.amazonaws.com")
        .header("User-Agent", "bench/1.0")
        .header(
            "X-Amzn-Trace-Id",
            "Root=1-5f84c7a9-2b2d0b6f1f0e2a5c3c7e9d1a",
        )
        .header("X-Forwarded-For", SOURCE_IP)
        .header("X-Forwarded-Port", "443")
        .header("X-Forwarded-Proto", "https")
        .query("page", "2")
        .stage("prod")
        .request_id("c6af9ac6-7b61-11e6-9a41-93e8deadbeef")
        .domain_name(Some("abc123.execute-api.eu-west-1.amazonaws.com"))
        .user_agent("bench/1.0")
}

struct Scenario {
    name: &'static str,
    event: String,
    method: reqwest::Method,
    path: &'static str,
    content_type: &'static str,
    body: Bytes,
    bytes_each_way: u64,
}

fn scenarios() -> Vec<Scenario> {
    let text: String = (0..MB).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let binary: Vec<u8> = (0..MB)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    vec![
        Scenario {
            name: "get_small",
            event: v1_event("GET", "/small", "application/json").to_json(),
            method: reqwest::Method::GET,
            path: "/api/small",
            content_type: "application/json",
            body: Bytes::new(),
            bytes_each_way: 0,
        },
        Scenario {
            name: "echo_1mb_text",
            event: v1_event("POST", "/echo", "application/json")
                .text_body(&text)
                .to_json(),
            method: reqwest::Method::POST,
            path: "/api/echo",
            content_type: "application/json",
            body: Bytes::from(text.clone().into_bytes()),
            bytes_each_way: MB as u64,
        },
        Scenario {
            name: "echo_1mb_binary",
            event: v1_event("POST", "/echo", "application/octet-stream")
                .binary_body(&binary)
                .to_json(),
            method: reqwest::Method::POST,
            path: "/api/echo",
            content_type: "application/octet-stream",
            body: Bytes::from(binary),
            bytes_each_way: MB as u64,
        },
    ]
}

fn bench(c: &mut Criterion) {
    let addr = start_backend();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let logs = Sink::memory();
    let TestProxy {
        proxy: proxy_on,
        sink: emf_on,
    } = proxy(addr);
    let TestProxy {
        proxy: proxy_off,
        sink: emf_off,
    } = proxy(addr);
    // reqwest is built with `rustls-no-provider`: the direct client gets the same TLS config
    // the proxy gives a plain-http target.
    let direct = reqwest::Client::builder()
        .tls_backend_preconfigured(vpc_proxy::tls::plain_http_config().expect("TLS config"))
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .build()
        .expect("direct client");
    // Lambda's deadline, far enough away never to cap the backend budget.
    let deadline = SystemTime::now() + Duration::from_secs(3600);
    let invocation = || Invocation {
        request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".to_owned(),
        deadline: Some(deadline),
        xray_trace_id: Some(
            "Root=1-5f84c7a9-2b2d0b6f1f0e2a5c3c7e9d1a;Parent=1;Sampled=1".to_owned(),
        ),
    };

    let dispatch =
        tracing::Dispatch::new(logging::subscriber(logging::filter(|_| None), logs.clone()));
    if std::env::var("OVERHEAD_PAIRED").map_or(true, |v| v != "0") {
        paired(
            &rt,
            &direct,
            addr,
            &proxy_on,
            &proxy_off,
            &dispatch,
            &invocation,
            &[&logs, &emf_on, &emf_off],
        );
    }

    for s in scenarios() {
        // Sanity: both paths get the backend's 200 and the same body length.
        let response = rt
            .block_on(proxy_off.handle(&s.event, invocation()))
            .expect("handled");
        let v: serde_json::Value = serde_json::from_str(response.as_str()).expect("json");
        assert_eq!(
            v["statusCode"],
            200,
            "{}: {}",
            s.name,
            &response.as_str()[..200.min(response.as_str().len())]
        );

        let mut group = c.benchmark_group(format!("overhead/{}", s.name));
        if s.bytes_each_way > 0 {
            group.throughput(Throughput::Bytes(s.bytes_each_way));
        }
        let url = format!("http://{addr}{}", s.path);
        group.bench_function("direct_reqwest", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = direct
                        .request(s.method.clone(), &url)
                        .header("content-type", s.content_type)
                        .body(s.body.clone())
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(r.status(), 200);
                    black_box(r.bytes().await.expect("body"))
                })
            })
        });
        group.bench_function("proxy_telemetry_on", |b| {
            let _subscriber = tracing::dispatcher::set_default(&dispatch);
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(
                        rt.block_on(proxy_on.handle(black_box(&s.event), invocation()))
                            .expect("ok"),
                    );
                }
                let elapsed = start.elapsed();
                clear(&logs);
                clear(&emf_on);
                elapsed
            })
        });
        group.bench_function("proxy_telemetry_off", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(
                        rt.block_on(proxy_off.handle(black_box(&s.event), invocation()))
                            .expect("ok"),
                    );
                }
                let elapsed = start.elapsed();
                clear(&emf_off);
                elapsed
            })
        });
        group.finish();
    }

    // The parts of the handler that a direct call does not have, per scenario: decoding the
    // event JSON (and its base64 body) and encoding the backend's answer as a response payload.
    let mut parts = c.benchmark_group("parts");
    for s in scenarios() {
        parts.bench_function(format!("decode_event/{}", s.name), |b| {
            b.iter(|| event::decode(black_box(&s.event)).expect("decodes"))
        });
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(s.content_type),
        );
        headers.insert(
            http::header::DATE,
            http::HeaderValue::from_static("Tue, 24 Nov 2026 16:00:00 GMT"),
        );
        let body = if s.body.is_empty() {
            Bytes::from_static(br#"{"ok":true,"id":12345,"name":"small response"}"#)
        } else {
            s.body.clone()
        };
        parts.bench_function(format!("encode_response/{}", s.name), |b| {
            b.iter(|| {
                response::from_backend(Version::V1, 200, black_box(&headers), black_box(&body))
                    .expect("fits")
            })
        });
    }
    parts.finish();

    // One outcome recorded: the summary line plus the EMF document, with and without the
    // log subscriber, without the exchange around it.
    let outcome = Outcome {
        request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".to_owned(),
        apigw_request_id: Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef".to_owned()),
        xray_trace_id: Some("Root=1-5f84c7a9-2b2d0b6f1f0e2a5c3c7e9d1a".to_owned()),
        source_ip: Some(SOURCE_IP.to_owned()),
        method: Some("GET".to_owned()),
        path: Some("/small".to_owned()),
        status: Some(200),
        upstream_status: Some(200),
        upstream_latency: Some(Duration::from_micros(850)),
        request_bytes: 0,
        response_bytes: 46,
        duration: Duration::from_micros(900),
        ..Outcome::default()
    };
    let mut group = c.benchmark_group("telemetry/record");
    for (name, with_logs) in [("logs_and_emf", true), ("emf_only", false)] {
        group.bench_function(name, |b| {
            let _subscriber = with_logs.then(|| {
                tracing::subscriber::set_default(logging::subscriber(
                    logging::filter(|_| None),
                    logs.clone(),
                ))
            });
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    proxy_on.telemetry().record(black_box(&outcome));
                }
                let elapsed = start.elapsed();
                clear(&logs);
                clear(&emf_on);
                elapsed
            })
        });
    }
    group.finish();
}

/// One direct call and one proxied call (telemetry on, then off) per round, in turn, so a
/// change of load on the machine hits all three alike; prints per-call percentiles and the
/// p50 ratios. Criterion's figures below time each variant in its own window instead.
#[allow(clippy::too_many_arguments)]
fn paired(
    rt: &tokio::runtime::Runtime,
    direct: &reqwest::Client,
    addr: SocketAddr,
    proxy_on: &Proxy,
    proxy_off: &Proxy,
    dispatch: &tracing::Dispatch,
    invocation: &dyn Fn() -> Invocation,
    sinks: &[&Sink],
) {
    let rounds: usize = std::env::var("OVERHEAD_PAIRED_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    eprintln!(
        "paired per-call latency (direct, proxy telemetry on, proxy telemetry off, interleaved):"
    );
    eprintln!(
        "| scenario | rounds | direct p50 | on p50 | on/direct | off p50 | off/direct | direct p90 | on p90 | off p90 |"
    );
    eprintln!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    // OVERHEAD_SCENARIO=get_small (say) pairs one scenario only, e.g. under a profiler.
    let only = std::env::var("OVERHEAD_SCENARIO").ok();
    for s in scenarios() {
        if only.as_deref().is_some_and(|name| name != s.name) {
            continue;
        }
        let n = if rounds > 0 {
            rounds
        } else if s.bytes_each_way > 0 {
            400
        } else {
            4000
        };
        let url = format!("http://{addr}{}", s.path);
        let direct_call = || {
            rt.block_on(async {
                let r = direct
                    .request(s.method.clone(), &url)
                    .header("content-type", s.content_type)
                    .body(s.body.clone())
                    .send()
                    .await
                    .expect("send");
                black_box(r.bytes().await.expect("body"));
            })
        };
        // OVERHEAD_ONLY=direct|proxy makes N calls of one kind and nothing else, for tools that
        // count per process (`perf stat` CPU time, heaptrack allocations).
        if let Ok(only) = std::env::var("OVERHEAD_ONLY") {
            let t = Instant::now();
            for _ in 0..n {
                if only == "proxy" {
                    black_box(
                        rt.block_on(proxy_off.handle(&s.event, invocation()))
                            .expect("ok"),
                    );
                    for sink in sinks {
                        clear(sink);
                    }
                } else {
                    direct_call();
                }
            }
            eprintln!(
                "| {} | {n} {only} calls alone | mean {:.1} µs |",
                s.name,
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            );
            continue;
        }
        let mut times: [Vec<f64>; 3] = [
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        ];
        for round in 0..n + n / 10 {
            let t = Instant::now();
            direct_call();
            let d = t.elapsed();
            let t = Instant::now();
            tracing::dispatcher::with_default(dispatch, || {
                black_box(
                    rt.block_on(proxy_on.handle(&s.event, invocation()))
                        .expect("ok"),
                );
            });
            let on = t.elapsed();
            let t = Instant::now();
            black_box(
                rt.block_on(proxy_off.handle(&s.event, invocation()))
                    .expect("ok"),
            );
            let off = t.elapsed();
            // The first tenth is warm-up.
            if round >= n / 10 {
                for (v, x) in times.iter_mut().zip([d, on, off]) {
                    v.push(x.as_secs_f64() * 1e6);
                }
            }
            for sink in sinks {
                clear(sink);
            }
        }
        let pct = |v: &mut Vec<f64>, q: f64| {
            v.sort_by(f64::total_cmp);
            v[((v.len() - 1) as f64 * q).round() as usize]
        };
        let [mut d, mut on, mut off] = times;
        let (d50, on50, off50) = (pct(&mut d, 0.5), pct(&mut on, 0.5), pct(&mut off, 0.5));
        eprintln!(
            "| {} | {n} | {d50:.1} µs | {on50:.1} µs | {:.2}× | {off50:.1} µs | {:.2}× | {:.1} µs | {:.1} µs | {:.1} µs |",
            s.name,
            on50 / d50,
            off50 / d50,
            pct(&mut d, 0.9),
            pct(&mut on, 0.9),
            pct(&mut off, 0.9)
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40);
    targets = bench
}
criterion_main!(benches);
