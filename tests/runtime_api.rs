//! The Runtime API client against a scripted loopback Runtime API: what it reads from
//! `/next`, what it posts back (paths, headers, the error document), and the answers it must
//! refuse. The real emulator is in tests/binary.rs; this covers what the emulator never sends.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use vpc_proxy::runtime_api::{Answer, RuntimeApi, RuntimeApiError};

/// One request the fake Runtime API received: head (lower-cased header names) and body.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// A Runtime API that answers its n-th connection with `replies[n]` (status line and headers,
/// body) and closes it.
async fn fake_runtime_api(
    replies: Vec<(&'static str, &'static str)>,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let replies = Arc::new(replies);
    let addr = raw_backend(move |mut stream, index| {
        let (record, replies) = (record.clone(), replies.clone());
        async move {
            let head = String::from_utf8_lossy(&read_head(&mut stream).await).into_owned();
            let mut seen = Seen {
                head,
                body: Vec::new(),
            };
            let length: usize = seen
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            seen.body = vec![0; length];
            let _ = stream.read_exact(&mut seen.body).await;
            record.lock().unwrap().push(seen);
            let (head, body) = replies
                .get(index)
                .copied()
                .unwrap_or(("HTTP/1.1 500 Oops\r\n", ""));
            let reply = format!(
                "{head}connection: close\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            write_all(&mut stream, reply.as_bytes()).await;
        }
    })
    .await;
    (addr.to_string(), seen)
}

#[tokio::test]
async fn reads_the_event_and_posts_answers_where_lambda_expects_them() {
    let event = (
        "HTTP/1.1 200 OK\r\n\
         lambda-runtime-aws-request-id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n\
         lambda-runtime-deadline-ms: 1800000000000\r\n\
         lambda-runtime-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n\
         lambda-runtime-invocation-id: inv-7\r\n",
        r#"{"x":1}"#,
    );
    let (address, seen) = fake_runtime_api(vec![
        ("HTTP/1.1 204 No Content\r\n", ""),
        event,
        ("HTTP/1.1 202 Accepted\r\n", ""),
        ("HTTP/1.1 202 Accepted\r\n", ""),
    ])
    .await;
    // Lambda's own `host:port` form.
    let api = RuntimeApi::new(&address, 1).unwrap();

    assert!(
        api.next().await.unwrap().is_none(),
        "204: nothing yet, poll again"
    );
    let next = api.next().await.unwrap().expect("an event");
    assert_eq!(next.request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
    assert_eq!(next.deadline_ms, 1_800_000_000_000);
    assert_eq!(
        next.xray_trace_id.as_deref(),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    );
    assert_eq!(&next.payload[..], br#"{"x":1}"#);

    api.answer(&next, Answer::Response(r#"{"statusCode":200}"#.to_owned()))
        .await
        .unwrap();
    api.answer(
        &next,
        Answer::Error {
            error_type: "NotHttpEvent",
            message: "not an API Gateway HTTP event".to_owned(),
        },
    )
    .await
    .unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0].request_line(),
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1"
    );
    let response = &seen[2];
    assert_eq!(
        response.request_line(),
        "POST /2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response HTTP/1.1"
    );
    assert_eq!(
        response.header("lambda-runtime-invocation-id").as_deref(),
        Some("inv-7")
    );
    assert_eq!(response.body, br#"{"statusCode":200}"#);
    let error = &seen[3];
    assert_eq!(
        error.request_line(),
        "POST /2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/error HTTP/1.1"
    );
    assert_eq!(
        error
            .header("lambda-runtime-function-error-type")
            .as_deref(),
        Some("Function.NotHttpEvent")
    );
    assert_eq!(
        error.header("lambda-runtime-invocation-id").as_deref(),
        Some("inv-7")
    );
    let document: Value = serde_json::from_slice(&error.body).unwrap();
    assert_eq!(document["errorType"], "NotHttpEvent");
    assert_eq!(document["errorMessage"], "not an API Gateway HTTP event");
}

#[tokio::test]
async fn refuses_what_it_cannot_answer() {
    let no_id = ("HTTP/1.1 200 OK\r\n", "{}");
    let dotted = (
        "HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: ..\r\n",
        "{}",
    );
    let slashed = (
        "HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: a/../../x\r\n",
        "{}",
    );
    let (address, _) = fake_runtime_api(vec![
        ("HTTP/1.1 500 Internal Server Error\r\n", ""),
        no_id,
        dotted,
        slashed,
    ])
    .await;
    // The `http://host:port/path` form emulators hand out, with a path prefix.
    let api = RuntimeApi::new(&format!("http://{address}/"), 1).unwrap();
    assert!(matches!(
        api.next().await,
        Err(RuntimeApiError::Status { status: 500, .. })
    ));
    for _ in 0..3 {
        assert!(matches!(
            api.next().await,
            Err(RuntimeApiError::NoRequestId)
        ));
    }
    let gone = closed_port().await;
    let api = RuntimeApi::new(&gone.to_string(), 1).unwrap();
    assert!(matches!(
        api.next().await,
        Err(RuntimeApiError::Transport { .. })
    ));
}

/// A Runtime API for the real binary: the first `failures` polls get a 500, later polls wait
/// for the events the test queues; answers come back on a channel.
struct FakeLambda {
    address: String,
    events: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    answers: tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
}

async fn fake_lambda(failures: usize) -> FakeLambda {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use std::sync::atomic::{AtomicUsize, Ordering};

    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let (answers_tx, answers_rx) = tokio::sync::mpsc::unbounded_channel();
    let events_rx = Arc::new(tokio::sync::Mutex::new(events_rx));
    let polls = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (events_rx, answers_tx, polls) =
                (events_rx.clone(), answers_tx.clone(), polls.clone());
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (events_rx, answers_tx, polls) =
                        (events_rx.clone(), answers_tx.clone(), polls.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        let mut response = http::Response::new(Full::new(Bytes::new()));
                        if path.ends_with("/invocation/next") {
                            if polls.fetch_add(1, Ordering::SeqCst) < failures {
                                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                                return Ok::<_, std::convert::Infallible>(response);
                            }
                            let Some((id, event)) = events_rx.lock().await.recv().await else {
                                return Ok(response);
                            };
                            let deadline = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_millis()
                                + 60_000;
                            *response.body_mut() = Full::new(Bytes::from(event));
                            let headers = response.headers_mut();
                            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
                            headers.insert(
                                "lambda-runtime-deadline-ms",
                                deadline.to_string().parse().unwrap(),
                            );
                        } else {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let _ = answers_tx
                                .send((path, String::from_utf8_lossy(&body).into_owned()));
                            *response.status_mut() = http::StatusCode::ACCEPTED;
                        }
                        Ok(response)
                    }
                });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    FakeLambda {
        address,
        events: events_tx,
        answers: answers_rx,
    }
}

fn spawn_function(
    runtime_api: &str,
    backend: &str,
    concurrency: &str,
) -> common::emulator::Running {
    let child = std::process::Command::new(common::emulator::BIN)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_MAX_CONCURRENCY", concurrency)
        .env("PROXY_TARGET_URL", backend)
        .env("PROXY_ALLOWED_IPS", "198.51.100.0/24")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::emulator::Running(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_pollers_survive_a_failed_poll_and_one_poller_exits_on_it() {
    let backend = Backend::http(echo()).await;

    // Two pollers, Lambda's host:port address form. Both first polls fail: only a poller that
    // waited and polled again can serve the event.
    let mut lambda = fake_lambda(2).await;
    let _function = spawn_function(&lambda.address, &backend.url("http"), "2");
    let event = v1("GET", "/after-a-failed-poll", ALLOWED_IP).to_string();
    lambda.events.send(("req-1".to_owned(), event)).unwrap();
    let (path, body) =
        tokio::time::timeout(std::time::Duration::from_secs(60), lambda.answers.recv())
            .await
            .expect("an answer")
            .unwrap();
    assert_eq!(path, "/2018-06-01/runtime/invocation/req-1/response");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(backend.last().uri, "/after-a-failed-poll");

    // One poller: the same 500 ends the process, so Lambda restarts the environment.
    let lambda = fake_lambda(1).await;
    let mut function = spawn_function(&lambda.address, &backend.url("http"), "1");
    let status = tokio::task::spawn_blocking(move || function.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
}
