//! Response streaming against a loopback Runtime API that accepts what Lambda accepts: a
//! chunked POST with `Lambda-Runtime-Function-Response-Mode: streaming`, the metadata prelude,
//! eight NUL bytes, the body, and the error trailers. It hands each body frame to the test as
//! it arrives, so a test can see what reached "Lambda" before the backend finished.

mod common;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use vpc_proxy::runtime_api::RuntimeApi;

/// What the function posted, frame by frame.
enum Part {
    Data(Bytes),
    Trailers(HeaderMap),
}

/// One POST to the Runtime API: its path and headers, then its body parts as they arrive.
struct Post {
    path: String,
    headers: HeaderMap,
    parts: mpsc::UnboundedReceiver<Part>,
}

/// A loopback Runtime API: `/next` hands out the queued events, every other request is a post
/// whose parts stream to the test.
struct FakeLambda {
    address: String,
    events: mpsc::UnboundedSender<Value>,
    posts: mpsc::UnboundedReceiver<Post>,
    /// How many `/next` requests arrived: the function polls again only once it has finished
    /// (and recorded) the previous invocation.
    polls: tokio::sync::watch::Receiver<usize>,
    invoked: usize,
}

impl FakeLambda {
    async fn start() -> FakeLambda {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (events, queued) = mpsc::unbounded_channel::<Value>();
        let (posted, posts) = mpsc::unbounded_channel::<Post>();
        let queued = Arc::new(Mutex::new(queued));
        let (polled, polls) = tokio::sync::watch::channel(0usize);
        let polled = Arc::new(polled);
        tokio::spawn(async move {
            let mut counter = 0u64;
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (queued, posted, polled) = (queued.clone(), posted.clone(), polled.clone());
                counter += 1;
                let base = counter * 1000;
                tokio::spawn(async move {
                    let next_id = std::sync::atomic::AtomicU64::new(base);
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (queued, posted) = (queued.clone(), posted.clone());
                        if request.uri().path().ends_with("/invocation/next") {
                            polled.send_modify(|n| *n += 1);
                        }
                        let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        async move { Ok::<_, Infallible>(serve(request, queued, posted, id).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeLambda {
            address,
            events,
            posts,
            polls,
            invoked: 0,
        }
    }

    /// Queues `event` and returns the function's post for it.
    async fn invoke(&mut self, event: Value) -> Post {
        self.invoked += 1;
        self.events.send(event).unwrap();
        self.posts.recv().await.unwrap()
    }

    /// Waits until the function polls for the next event: by then it has recorded the
    /// outcome of every invocation so far.
    async fn settled(&mut self) {
        let want = self.invoked + 1;
        self.polls.wait_for(|n| *n >= want).await.unwrap();
    }
}

async fn serve(
    request: Request<Incoming>,
    queued: Arc<Mutex<mpsc::UnboundedReceiver<Value>>>,
    posted: mpsc::UnboundedSender<Post>,
    id: u64,
) -> Response<Full<Bytes>> {
    if request.uri().path().ends_with("/invocation/next") {
        let Some(event) = queued.lock().await.recv().await else {
            return Response::builder()
                .status(500)
                .body(Full::default())
                .unwrap();
        };
        return Response::builder()
            .header("lambda-runtime-aws-request-id", format!("req-{id}"))
            .header("lambda-runtime-deadline-ms", "600000")
            .body(Full::new(Bytes::from(event.to_string())))
            .unwrap();
    }
    let (head, mut body) = request.into_parts();
    let (parts_tx, parts) = mpsc::unbounded_channel();
    let _ = posted.send(Post {
        path: head.uri.path().to_owned(),
        headers: head.headers,
        parts,
    });
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            break;
        };
        let part = match frame.into_data() {
            Ok(data) => Part::Data(data),
            Err(frame) => match frame.into_trailers() {
                Ok(trailers) => Part::Trailers(trailers),
                Err(_) => continue,
            },
        };
        let _ = parts_tx.send(part);
    }
    Response::builder()
        .status(202)
        .body(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")))
        .unwrap()
}

impl Post {
    /// The whole body and the trailers, if any.
    async fn finish(mut self) -> (Vec<u8>, Option<HeaderMap>) {
        let mut body = Vec::new();
        let mut trailers = None;
        while let Some(part) = self.parts.recv().await {
            match part {
                Part::Data(data) => body.extend_from_slice(&data),
                Part::Trailers(t) => trailers = Some(t),
            }
        }
        (body, trailers)
    }
}

/// The body split at the eight NULs: the prelude as JSON, then the bytes after.
fn split_prelude(body: &[u8]) -> (Value, &[u8]) {
    let at = body
        .windows(8)
        .position(|w| w == [0u8; 8])
        .unwrap_or_else(|| panic!("no delimiter in {} bytes", body.len()));
    let prelude: Value = serde_json::from_slice(&body[..at]).unwrap();
    (prelude, &body[at + 8..])
}

fn header(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The request headers every streaming answer must carry.
fn assert_streaming_post(post: &Post) {
    assert!(post.path.ends_with("/response"), "{}", post.path);
    assert_eq!(
        header(&post.headers, "lambda-runtime-function-response-mode"),
        ["streaming"]
    );
    assert_eq!(
        header(&post.headers, "content-type"),
        ["application/vnd.awslambda.http-integration-response"]
    );
    assert_eq!(header(&post.headers, "transfer-encoding"), ["chunked"]);
    let declared: Vec<String> = header(&post.headers, "trailer")
        .iter()
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    assert!(
        declared.contains(&"lambda-runtime-function-error-type".to_owned())
            && declared.contains(&"lambda-runtime-function-error-body".to_owned()),
        "{declared:?}"
    );
}

/// A streaming proxy to `target`, serving one invocation at a time from `lambda`.
fn streaming_proxy(target: &str) -> Arc<TestProxy> {
    streaming_proxy_with(target, &[])
}

fn streaming_proxy_with(target: &str, extra: &[(&str, &str)]) -> Arc<TestProxy> {
    let mut vars = vec![
        ("PROXY_TARGET_URL", target),
        ("PROXY_ALLOWED_IPS", "198.51.100.0/24, 2001:db8::/32"),
        ("PROXY_RESPONSE_MODE", "streaming"),
    ];
    vars.extend_from_slice(extra);
    Arc::new(proxy_with(&vars))
}

/// Runs the function's side of invocations (the same calls `lambda.rs` makes) until the test
/// ends.
fn run_function(proxy: Arc<TestProxy>, address: &str) {
    let api = RuntimeApi::new(address, 1).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok(Some(event)) = api.next().await else {
                return;
            };
            let raw = String::from_utf8_lossy(&event.payload).into_owned();
            let invocation = vpc_proxy::handler::Invocation {
                request_id: event.request_id.clone(),
                deadline: None,
                xray_trace_id: None,
            };
            let Ok(streamed) = proxy.proxy.handle_streaming(&raw, invocation).await else {
                continue;
            };
            let _ = api
                .stream(&event, |mut sender| async move {
                    streamed.deliver(&mut sender).await;
                })
                .await;
        }
    });
}

/// Deterministic bytes that cover every byte value (so NULs and invalid UTF-8 are in it).
fn binary(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Summary lines of every test here, through the JSON subscriber installed once for the whole
/// binary (a per-test scoped subscriber races with other threads' callsite caching).
fn logs() -> vpc_proxy::telemetry::Sink {
    static LOGS: std::sync::OnceLock<vpc_proxy::telemetry::Sink> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let sink = vpc_proxy::telemetry::Sink::memory();
        let filter = vpc_proxy::telemetry::logging::filter(|_| None);
        let subscriber = vpc_proxy::telemetry::logging::subscriber(filter, sink.clone());
        tracing::subscriber::set_global_default(subscriber).unwrap();
        sink
    })
    .clone()
}

fn documents(proxy: &TestProxy) -> Vec<Value> {
    split_output(&proxy.sink.contents()).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_bodies_arrive_byte_exact_after_the_prelude() {
    logs();
    for len in [1024, 10 * 1024 * 1024, 50 * 1024 * 1024] {
        let data = Arc::new(binary(len));
        let served = data.clone();
        let backend = Backend::http(script(move |_| Reply::Respond {
            status: 200,
            headers: vec![
                ("content-type", "application/octet-stream".to_owned()),
                ("set-cookie", "a=1".to_owned()),
                ("set-cookie", "b=2".to_owned()),
                ("connection", "x-hop".to_owned()),
                ("x-hop", "dropped".to_owned()),
            ],
            body: served.to_vec(),
        }))
        .await;
        let proxy = streaming_proxy(&backend.url("http"));
        let mut lambda = FakeLambda::start().await;
        run_function(proxy.clone(), &lambda.address);

        // Function URL (v2): headers and cookies.
        let post = lambda.invoke(v2("GET", "/file", "", ALLOWED_IP)).await;
        assert_streaming_post(&post);
        let (body, trailers) = post.finish().await;
        assert!(
            trailers.is_none(),
            "a complete stream has no error trailers"
        );
        let (prelude, rest) = split_prelude(&body);
        assert_eq!(prelude["statusCode"], 200);
        assert_eq!(
            prelude["headers"]["content-type"],
            "application/octet-stream"
        );
        assert!(prelude["headers"].get("x-hop").is_none(), "{prelude}");
        assert_eq!(prelude["cookies"], json!(["a=1", "b=2"]));
        assert!(prelude.get("body").is_none() && prelude.get("isBase64Encoded").is_none());
        assert_eq!(rest.len(), len);
        assert!(rest == &data[..], "{len} bytes arrive unaltered");

        // REST API (v1): headers and multiValueHeaders, Set-Cookie kept among them.
        let post = lambda.invoke(v1("GET", "/file", ALLOWED_IP)).await;
        let (body, trailers) = post.finish().await;
        assert!(trailers.is_none());
        let (prelude, rest) = split_prelude(&body);
        assert_eq!(prelude["statusCode"], 200);
        assert_eq!(
            prelude["multiValueHeaders"]["set-cookie"],
            json!(["a=1", "b=2"])
        );
        assert!(rest == &data[..], "{len} bytes arrive unaltered (v1)");
        lambda.settled().await;

        let docs = documents(&proxy);
        assert_eq!(metric_total(&docs, "UpstreamFailure", None), 0.0);
        assert_eq!(metric_total(&docs, "Requests", None), 2.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prelude_and_first_chunk_reach_lambda_before_the_backend_finishes() {
    logs();
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let addr = raw_backend(move |mut stream, _| {
        let mut release = release_rx.clone();
        async move {
            read_head(&mut stream).await;
            write_all(
                &mut stream,
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                  transfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n",
            )
            .await;
            // The rest only once the test has seen the first chunk at the Runtime API.
            let _ = release.wait_for(|go| *go).await;
            write_all(&mut stream, b"5\r\nlast\n\r\n0\r\n\r\n").await;
        }
    })
    .await;
    let proxy = streaming_proxy(&format!("http://{addr}"));
    let mut lambda = FakeLambda::start().await;
    run_function(proxy.clone(), &lambda.address);

    let mut post = lambda.invoke(v2("GET", "/events", "", ALLOWED_IP)).await;
    assert_streaming_post(&post);
    // The backend is still holding its last chunk: this only completes if we stream. The
    // bound only turns a buffering proxy's hang into a failure; it measures nothing.
    let mut seen = Vec::new();
    let first = async {
        loop {
            if let Some(at) = seen.windows(8).position(|w| w == [0u8; 8])
                && seen.len() >= at + 8 + 6
            {
                break;
            }
            match post.parts.recv().await {
                Some(Part::Data(data)) => seen.extend_from_slice(&data),
                _ => panic!("the stream ended before the first chunk"),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), first)
        .await
        .expect("the prelude and first chunk never arrived while the backend held the rest");
    let (prelude, rest) = split_prelude(&seen);
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "text/event-stream");
    assert_eq!(rest, b"first\n");
    assert!(
        documents(&proxy).is_empty(),
        "nothing is recorded while the stream is open"
    );
    release_tx.send(true).unwrap();
    let (tail, trailers) = post.finish().await;
    assert_eq!(tail, b"last\n");
    assert!(trailers.is_none());
    lambda.settled().await;
    let docs = documents(&proxy);
    assert_eq!(metric_total(&docs, "Requests", None), 1.0);
    assert_eq!(metric_total(&docs, "UpstreamFailure", None), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_body_ends_the_stream_with_error_trailers() {
    logs();
    let addr = raw_backend(|mut stream, _| async move {
        read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
              content-length: 100000\r\n\r\n",
        )
        .await;
        write_all(&mut stream, &[7u8; 5000]).await;
        reset(stream);
    })
    .await;
    let proxy = streaming_proxy(&format!("http://{addr}"));
    let mut lambda = FakeLambda::start().await;
    let api = RuntimeApi::new(&lambda.address, 1).unwrap();
    lambda
        .events
        .send(v2("GET", "/big", "", ALLOWED_IP))
        .unwrap();
    let event = api.next().await.unwrap().unwrap();
    let raw = String::from_utf8_lossy(&event.payload).into_owned();
    let streamed = proxy
        .proxy
        .handle_streaming(
            &raw,
            vpc_proxy::handler::Invocation {
                request_id: "reset-req".to_owned(),
                ..invocation()
            },
        )
        .await
        .unwrap();
    let answered = api.stream(&event, |mut sender| async move {
        streamed.deliver(&mut sender).await;
    });
    let post = async { lambda.posts.recv().await.unwrap().finish().await };
    let (answered, (body, trailers)) = tokio::join!(answered, post);
    answered.unwrap();

    let (prelude, rest) = split_prelude(&body);
    assert_eq!(
        prelude["statusCode"], 200,
        "the head went out with the first byte"
    );
    assert!(!rest.is_empty() && rest.len() < 100_000, "{}", rest.len());
    assert!(rest.iter().all(|&b| b == 7));
    let trailers = trailers.expect("error trailers");
    assert_eq!(
        header(&trailers, "lambda-runtime-function-error-type"),
        ["Function.UpstreamReset"]
    );
    use base64::Engine as _;
    let document = base64::engine::general_purpose::STANDARD
        .decode(header(&trailers, "lambda-runtime-function-error-body")[0].as_bytes())
        .unwrap();
    let document: Value = serde_json::from_slice(&document).unwrap();
    assert_eq!(document["errorType"], "UpstreamReset");
    assert_eq!(document["errorMessage"], "reset by peer");

    let lines: Vec<Value> = split_output(&logs().contents())
        .0
        .into_iter()
        .filter(|l| l["request_id"] == "reset-req")
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["status"], 200, "the status as sent");
    assert_eq!(line["upstream_status"], 200);
    assert_eq!(line["reason"], "reset");
    assert_eq!(line["error"], "reset by peer");
    assert_eq!(line["response_bytes"], rest.len() as u64, "bytes streamed");
    assert!(line["upstream_first_byte_ms"].as_f64().is_some(), "{line}");
    assert!(
        line["upstream_latency_ms"].as_f64() >= line["upstream_first_byte_ms"].as_f64(),
        "{line}"
    );
    let docs = documents(&proxy);
    assert_eq!(metric_total(&docs, "UpstreamFailure", None), 1.0);
    assert_eq!(metric_total(&docs, "UpstreamFailure", Some("Reason")), 1.0);
    assert_eq!(metric_total(&docs, "UpstreamHTTPError", None), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_failures_before_the_first_byte_are_whole_answers() {
    logs();
    let backend = Backend::http(echo()).await;
    let refused = closed_port().await;
    // A backend that sends a head and then resets before any body byte.
    let headless = raw_backend(|mut stream, _| async move {
        read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n",
        )
        .await;
        reset(stream);
    })
    .await;
    let closed = closed_port().await.port().to_string();
    let hang = Backend::http(script(|_| Reply::Hang)).await;
    let no_extra: &[(&str, &str)] = &[];
    for (target, extra, event, status, body) in [
        (
            backend.url("http"),
            no_extra,
            v2("GET", "/x", "", DENIED_IP),
            403,
            r#"{"message":"Forbidden"}"#,
        ),
        (
            backend.url("http"),
            no_extra,
            v1("GET", "/a/../etc/passwd", ALLOWED_IP),
            400,
            r#"{"message":"Bad Request"}"#,
        ),
        (
            format!("http://{refused}"),
            no_extra,
            v1("GET", "/x", ALLOWED_IP),
            502,
            r#"{"message":"Bad Gateway"}"#,
        ),
        (
            format!("http://{headless}"),
            no_extra,
            v2("GET", "/x", "", ALLOWED_IP),
            502,
            r#"{"message":"Bad Gateway"}"#,
        ),
        (
            hang.url("http"),
            &[("PROXY_TIMEOUT_MS", "300")][..],
            v2("GET", "/slow", "", ALLOWED_IP),
            504,
            r#"{"message":"Gateway Timeout"}"#,
        ),
        (
            backend.url("http"),
            &[
                ("PROXY_ALLOWED_IPS_PARAMETER", "/vpc-proxy/allow"),
                ("AWS_SESSION_TOKEN", "token"),
                ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", closed.as_str()),
            ][..],
            v1("GET", "/x", ALLOWED_IP),
            503,
            r#"{"message":"Service Unavailable"}"#,
        ),
    ] {
        let proxy = streaming_proxy_with(&target, extra);
        let mut lambda = FakeLambda::start().await;
        run_function(proxy.clone(), &lambda.address);
        let post = lambda.invoke(event.clone()).await;
        assert_streaming_post(&post);
        let (whole, trailers) = post.finish().await;
        assert!(trailers.is_none(), "{event}");
        let (prelude, rest) = split_prelude(&whole);
        assert_eq!(prelude["statusCode"], status, "{event}");
        assert_eq!(prelude["headers"]["content-type"], "application/json");
        assert_eq!(rest, body.as_bytes());
        assert_eq!(
            backend.seen().len(),
            0,
            "nothing refused reaches the backend"
        );
        lambda.settled().await;
        let docs = documents(&proxy);
        let failed = if matches!(status, 502 | 504) {
            1.0
        } else {
            0.0
        };
        assert_eq!(
            metric_total(&docs, "UpstreamFailure", None),
            failed,
            "{event}"
        );
        assert_eq!(metric_total(&docs, "Requests", None), 1.0, "{event}");
    }
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_function_streams_and_its_memory_stays_flat_in_body_size() {
    logs();
    let small = Arc::new(binary(1024));
    let large = Arc::new(binary(50 * 1024 * 1024));
    let (s, l) = (small.clone(), large.clone());
    let backend = Backend::http(script(move |r| {
        let body = if r.uri.ends_with("/large") { &l } else { &s };
        Reply::ok("application/octet-stream", body.to_vec())
    }))
    .await;
    let mut lambda = FakeLambda::start().await;
    let child = std::process::Command::new(common::emulator::BIN)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &lambda.address)
        .env("PROXY_TARGET_URL", backend.url("http"))
        .env("PROXY_ALLOWED_IPS", "198.51.100.0/24")
        .env("PROXY_RESPONSE_MODE", "streaming")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let function = common::emulator::Running(child);

    let post = lambda.invoke(v2("GET", "/small", "", ALLOWED_IP)).await;
    assert_streaming_post(&post);
    let (body, trailers) = post.finish().await;
    assert!(trailers.is_none());
    assert!(split_prelude(&body).1 == &small[..]);
    let before = peak_rss_kib(function.pid());

    let post = lambda.invoke(v2("GET", "/large", "", ALLOWED_IP)).await;
    let (body, trailers) = post.finish().await;
    assert!(trailers.is_none());
    assert!(split_prelude(&body).1 == &large[..], "50 MB byte-exact");
    let after = peak_rss_kib(function.pid());
    // Buffering the body would add at least its 51,200 KiB; streaming adds a few buffers.
    assert!(
        after.saturating_sub(before) < 16 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB for a 50 MB answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_streams_too() {
    logs();
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let addr = raw_backend(move |mut stream, _| {
        let mut release = release_rx.clone();
        async move {
            read_head(&mut stream).await;
            write_all(
                &mut stream,
                b"HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nx-kept: yes\r\n\
                  transfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n",
            )
            .await;
            let _ = release.wait_for(|go| *go).await;
            write_all(&mut stream, b"5\r\nlast\n\r\n0\r\n\r\n").await;
        }
    })
    .await;
    let test = proxy_with(&[
        ("PROXY_TARGET_URL", &format!("http://{addr}")),
        ("PROXY_ALLOWED_IPS", "127.0.0.1"),
        ("PROXY_RESPONSE_MODE", "streaming"),
    ]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    tokio::spawn(vpc_proxy::local::serve(listener, Arc::new(test.proxy)));

    let stream = tokio::net::TcpStream::connect(local).await.unwrap();
    let (mut client, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get("/events")
        .header("host", local.to_string())
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = client.send_request(request).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-kept"], "yes");
    let mut body = response.into_body();
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), body.frame())
        .await
        .expect("the first chunk never arrived while the backend held the rest")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    release_tx.send(true).unwrap();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"last\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_past_the_deadline_mid_body_ends_with_timeout_trailers() {
    logs();
    let addr = raw_backend(|mut stream, _| async move {
        read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\
              transfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n",
        )
        .await;
        // Then nothing: the connection stays open until the proxy gives up.
        let mut rest = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest).await;
    })
    .await;
    let proxy = streaming_proxy_with(&format!("http://{addr}"), &[("PROXY_TIMEOUT_MS", "300")]);
    let mut lambda = FakeLambda::start().await;
    run_function(proxy.clone(), &lambda.address);
    let post = lambda.invoke(v2("GET", "/stall", "", ALLOWED_IP)).await;
    let (body, trailers) = post.finish().await;
    let (prelude, rest) = split_prelude(&body);
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(rest, b"first\n");
    let trailers = trailers.expect("error trailers");
    assert_eq!(
        header(&trailers, "lambda-runtime-function-error-type"),
        ["Function.UpstreamTimeout"]
    );
    lambda.settled().await;
    let docs = documents(&proxy);
    assert_eq!(metric_total(&docs, "UpstreamFailure", Some("Reason")), 1.0);
    let reasons: Vec<&str> = docs
        .iter()
        .filter_map(|d| d.get("Reason").and_then(Value::as_str))
        .collect();
    assert_eq!(reasons, ["timeout"]);
}
