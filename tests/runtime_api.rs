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
    assert!(
        seen.iter().all(|s| s.header("_x_amzn_trace_id").is_none()),
        "nothing of the trace id leaks into requests"
    );
    assert!(
        std::env::var_os("_X_AMZN_TRACE_ID").is_none(),
        "the process environment is never written"
    );
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
