//! Backend faults, one per test: each ends in the status of docs/CONTRACT.md, is counted under
//! the right `UpstreamFailure` reason, and leaves the proxy able to serve the very next
//! request.

mod common;

use common::*;
use serde_json::Value;
use tokio::net::TcpStream;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";

async fn status(p: &TestProxy, method: &str, path: &str) -> Value {
    p.call(&v1(method, path, ALLOWED_IP)).await["statusCode"].clone()
}

/// The proxy serves the next request in full: 200 and the backend's `ok`.
async fn next_request_succeeds(p: &TestProxy, path: &str) {
    let r = p.call(&v1("GET", path, ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 200);
    assert_eq!(r["body"], "ok");
}

/// Answers every request on the connection with `OK`, keeping it alive.
async fn serve_ok(mut stream: TcpStream) {
    while !read_head(&mut stream).await.is_empty() {
        write_all(&mut stream, OK).await;
    }
}

/// A raw backend whose first `faulty` connections get `fault` and every later one `serve_ok`;
/// its base URL.
async fn faulty_then_ok<F, Fut>(faulty: usize, fault: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let fault = std::sync::Arc::new(fault);
    let addr = raw_backend(move |stream, index| {
        let fault = fault.clone();
        async move {
            if index < faulty {
                fault(stream).await;
            } else {
                serve_ok(stream).await;
            }
        }
    })
    .await;
    format!("http://{addr}")
}

/// Answers one request with keep-alive, then resets the connection when the next arrives.
async fn answer_once_then_reset(mut stream: TcpStream) {
    let _ = read_head(&mut stream).await;
    write_all(&mut stream, OK).await;
    let _ = read_head(&mut stream).await;
    reset(stream);
}

#[tokio::test]
async fn backend_restart_mid_run() {
    let backend = Backend::http(echo()).await;
    let p = proxy(&backend.url("http"));
    for _ in 0..3 {
        assert_eq!(status(&p, "GET", "/before").await, 200);
    }
    assert_eq!(
        backend
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one pooled connection carried the run"
    );

    // Down: the pooled connection is closed under the proxy and nothing listens.
    backend.stop().await;
    assert_eq!(status(&p, "GET", "/down").await, 502);
    assert_eq!(status(&p, "POST", "/down").await, 502);
    assert_eq!(p.failure_reasons(), ["connect", "connect"]);

    // Back on the same address: the next requests succeed, whatever their method.
    backend.restart().await;
    assert_eq!(status(&p, "POST", "/after").await, 200);
    assert_eq!(status(&p, "GET", "/after").await, 200);

    // A restart between two invocations, with nothing sent while it was down: the pooled
    // connection is dead, and an idempotent request gets through on a fresh one.
    backend.restart().await;
    assert_eq!(status(&p, "GET", "/quick").await, 200);
    assert_eq!(status(&p, "POST", "/quick").await, 200);
    assert_eq!(
        p.failure_reasons().len(),
        2,
        "no failure after the restarts"
    );
    let seen: Vec<String> = backend.seen().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(
        seen,
        [
            "/before", "/before", "/before", "/after", "/after", "/quick", "/quick"
        ]
    );
}

#[tokio::test]
async fn connect_that_never_completes_is_502_unreachable_not_504() {
    // A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    // hangs the way one to a silently filtering security group does.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)) {
            Ok(stream) => queued.push(stream),
            Err(_) => break,
        }
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    // The timeout is well above the 3 s connect limit: only the connect limit can end this.
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &format!("http://{addr}")),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_TIMEOUT_MS", "20000"),
    ]);
    let r = p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 502, "{r}");
    assert_eq!(p.failure_reasons(), ["connect"]);
    assert_eq!(p.failure_errors(), ["connect timed out"]);
    drop(listener);
}

#[tokio::test]
async fn backend_that_never_answers_is_504_and_the_next_request_succeeds() {
    let backend = Backend::http(script(|r| {
        if r.uri == "/hang" {
            Reply::Hang
        } else {
            Reply::ok("text/plain", "ok")
        }
    }))
    .await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &backend.url("http")),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_TIMEOUT_MS", "1000"),
    ]);
    let r = p.call(&v1("GET", "/hang", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 504);
    assert_eq!(r["body"], r#"{"message":"Gateway Timeout"}"#);
    assert_eq!(p.failure_reasons(), ["timeout"]);
    next_request_succeeds(&p, "/next").await;
}

#[tokio::test]
async fn backend_reset_before_answering_is_502_and_the_next_request_succeeds() {
    // The request and the one retry a GET is allowed are both reset.
    let url = faulty_then_ok(2, |mut stream| async move {
        let _ = read_head(&mut stream).await;
        reset(stream);
    })
    .await;
    let p = proxy(&url);
    assert_eq!(status(&p, "GET", "/").await, 502);
    assert_eq!(p.failure_reasons(), ["reset"]);
    next_request_succeeds(&p, "/").await;
}

#[tokio::test]
async fn backend_reset_after_headers_is_502_and_the_next_request_succeeds() {
    let url = faulty_then_ok(1, |mut stream| async move {
        let _ = read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\npartial",
        )
        .await;
        reset(stream);
    })
    .await;
    let p = proxy(&url);
    let r = p.call(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 502, "a partial body is never passed on");
    assert_eq!(r["body"], r#"{"message":"Bad Gateway"}"#);
    assert_eq!(p.failure_reasons(), ["reset"]);
    assert_eq!(status(&p, "GET", "/").await, 200);

    // The same cut made by a server that closes cleanly (FIN) mid-body.
    let backend = Backend::http(script(|r| {
        if r.uri == "/cut" {
            Reply::BreakAfterHeaders
        } else {
            Reply::ok("text/plain", "ok")
        }
    }))
    .await;
    let p = proxy(&backend.url("http"));
    assert_eq!(status(&p, "GET", "/cut").await, 502);
    assert_eq!(p.failure_reasons(), ["reset"]);
    assert_eq!(status(&p, "GET", "/").await, 200);
}

#[tokio::test]
async fn stale_pooled_connection_is_retried_once_for_idempotent_methods_only() {
    // Connection 0 answers one request with keep-alive, then dies when the next one arrives;
    // every later connection answers normally.
    let p = proxy(&faulty_then_ok(1, answer_once_then_reset).await);
    assert_eq!(status(&p, "GET", "/1").await, 200);
    assert_eq!(
        status(&p, "GET", "/2").await,
        200,
        "the GET on the stale pooled connection is retried"
    );
    assert!(p.failure_reasons().is_empty());

    // POST is not idempotent: the same death is a 502, never a silent replay, and the next
    // POST goes out on a fresh connection.
    let p = proxy(&faulty_then_ok(1, answer_once_then_reset).await);
    assert_eq!(status(&p, "POST", "/1").await, 200);
    assert_eq!(status(&p, "POST", "/2").await, 502);
    assert_eq!(p.failure_reasons(), ["reset"]);
    assert_eq!(status(&p, "POST", "/3").await, 200);
}

/// A raw backend answering every request on a connection with `head` (and no body), counting
/// the requests it was sent; its base URL.
async fn answering_with(head: Vec<u8>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let head = std::sync::Arc::new(head);
    let addr = raw_backend(move |mut stream, _| {
        let (seen, head) = (seen.clone(), head.clone());
        async move {
            while !read_head(&mut stream).await.is_empty() {
                seen.fetch_add(1, Ordering::SeqCst);
                write_all(&mut stream, &head).await;
            }
        }
    })
    .await;
    (format!("http://{addr}"), count)
}

/// A 200 head with `fields` header fields in all (content-type and content-length among
/// them), as a backend that sets many cookies and links sends it.
fn head_with_fields(fields: usize) -> Vec<u8> {
    let mut head =
        String::from("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n");
    for i in 0..fields - 2 {
        if i % 3 == 0 {
            head.push_str(&format!("set-cookie: c{i}=v{i}; Path=/\r\n"));
        } else {
            head.push_str(&format!("link: </r/{i}>; rel=preload\r\n"));
        }
    }
    head.push_str("\r\nok");
    head.into_bytes()
}

#[tokio::test]
async fn responses_with_up_to_500_header_fields_are_accepted_and_sent_once() {
    for fields in [101, 122, 500] {
        let (url, sent) = answering_with(head_with_fields(fields)).await;
        let p = proxy(&url);
        let r = p.call(&v1("GET", "/many", ALLOWED_IP)).await;
        assert_eq!(r["statusCode"], 200, "{fields} fields: {r}");
        let cookies = r["multiValueHeaders"]["set-cookie"]
            .as_array()
            .unwrap()
            .len();
        let links = r["multiValueHeaders"]["link"].as_array().unwrap().len();
        assert_eq!(cookies + links + 2, fields);
        assert_eq!(
            sent.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "sent once"
        );
    }
}

#[tokio::test]
async fn a_response_that_is_not_valid_http_is_502_bad_response_and_never_sent_again() {
    for head in [
        head_with_fields(501),
        b"HTTP/1.1 2OO OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
        b"garbage that is not a status line\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nbad header line\r\n\r\nok".to_vec(),
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec(),
    ] {
        let (url, sent) = answering_with(head.clone()).await;
        let p = proxy(&url);
        for method in ["GET", "PUT"] {
            let r = p.call_logged(&v1(method, "/", ALLOWED_IP)).await;
            assert_eq!(r["statusCode"], 502, "{}", String::from_utf8_lossy(&head));
            assert_eq!(r["body"], r#"{"message":"Bad Gateway"}"#);
        }
        let shown = String::from_utf8_lossy(&head[..head.len().min(60)]).into_owned();
        assert_eq!(
            p.failure_reasons(),
            ["bad_response", "bad_response"],
            "{shown}"
        );
        assert_eq!(
            p.failure_errors(),
            ["invalid response", "invalid response"],
            "{shown}"
        );
        assert_eq!(
            sent.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "each request sent once: {}",
            String::from_utf8_lossy(&head)
        );
    }
}

/// A loopback listener whose accept queue is full: the kernel drops further SYNs, so a
/// connect hangs the way one to a silently filtering security group does. No packet leaves
/// the machine.
fn blackhole() -> (tokio::net::TcpListener, Vec<std::net::TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)) {
            Ok(stream) => queued.push(stream),
            Err(_) => break,
        }
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    (listener, queued)
}

#[tokio::test]
async fn a_hanging_connect_is_502_for_every_budget_even_one_cut_by_the_deadline() {
    let (listener, _queued) = blackhole();
    let target = format!("http://{}", listener.local_addr().unwrap());
    // A long timeout cut short by the invocation's deadline: the connect did not finish in
    // the time there was, so it is unreachable (502), as with any other budget.
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &target),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_TIMEOUT_MS", "20000"),
    ]);
    for _ in 0..3 {
        let mut inv = invocation();
        inv.deadline = Some(std::time::SystemTime::now() + std::time::Duration::from_millis(400));
        let r = p.call_with(&v1("GET", "/", ALLOWED_IP), inv).await;
        assert_eq!(r["statusCode"], 502, "{r}");
    }
    assert_eq!(p.failure_reasons(), ["connect"; 3]);
    // Budgets at and under the 3 s connect limit: the connect limit and the budget end
    // together, and the connect's outcome decides, every time.
    for timeout in ["1", "40", "150"] {
        let p = proxy_with(&[
            ("PROXY_TARGET_URL", &target),
            ("PROXY_ALLOWED_IPS", ALLOWED_IP),
            ("PROXY_TIMEOUT_MS", timeout),
        ]);
        for _ in 0..10 {
            let r = p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
            assert_eq!(r["statusCode"], 502, "PROXY_TIMEOUT_MS={timeout}: {r}");
        }
        assert_eq!(p.failure_reasons(), ["connect"; 10]);
        assert_eq!(p.failure_errors(), ["connect timed out"; 10]);
    }
    drop(listener);
}

#[tokio::test]
async fn each_failure_names_its_cause() {
    // Refused: nothing listens.
    let p = proxy(&format!("http://{}", closed_port().await));
    p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(p.failure_errors(), ["connection refused"]);

    // Reset before any response byte, on the request and on its one retry.
    let url = faulty_then_ok(2, |mut stream| async move {
        let _ = read_head(&mut stream).await;
        reset(stream);
    })
    .await;
    let p = proxy(&url);
    p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(p.failure_errors(), ["reset by peer"]);

    // Reset mid-body.
    let url = faulty_then_ok(1, |mut stream| async move {
        let _ = read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\npartial",
        )
        .await;
        reset(stream);
    })
    .await;
    let p = proxy(&url);
    p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(p.failure_errors(), ["reset by peer"]);

    // Closed cleanly (FIN) mid-body.
    let url = faulty_then_ok(1, |mut stream| async move {
        let _ = read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\npartial",
        )
        .await;
    })
    .await;
    let p = proxy(&url);
    p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(p.failure_errors(), ["closed by peer"]);

    // Accepted, never answered.
    let url = faulty_then_ok(1, |mut stream| async move {
        let _ = read_head(&mut stream).await;
        std::future::pending::<()>().await;
    })
    .await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &url),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_TIMEOUT_MS", "300"),
    ]);
    p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(p.failure_errors(), ["timed out"]);

    // Declared too large.
    let url = faulty_then_ok(1, |mut stream| async move {
        let _ = read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999\r\n\r\n",
        )
        .await;
    })
    .await;
    let p = proxy(&url);
    p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(p.failure_errors(), ["response too large"]);
    assert_eq!(p.failure_reasons(), ["too_large"]);
}

/// RFC 6761 reserves `.invalid`: no resolver gives it an address, so the failure is the name,
/// never the network. The line of a request the backend answered carries no `error` at all.
#[tokio::test]
async fn an_unresolvable_host_is_name_not_resolved_and_an_answer_has_no_error() {
    let p = proxy("http://no-such-backend.invalid:8080");
    let r = p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 502);
    assert_eq!(p.failure_errors(), ["name not resolved"]);
    assert_eq!(p.failure_reasons(), ["connect"]);

    let url = faulty_then_ok(0, |_| async {}).await;
    let p = proxy(&url);
    next_request_succeeds(&p, "/").await;
    p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert!(p.failure_errors().is_empty(), "{:?}", p.failure_errors());
}

#[tokio::test]
async fn backend_restart_with_a_request_in_flight_and_requests_in_the_gap() {
    let backend = Backend::http(script(|r| {
        if r.uri == "/slow" {
            Reply::Hang
        } else {
            Reply::ok("text/plain", "ok")
        }
    }))
    .await;
    let p = proxy_with(&[
        ("PROXY_TARGET_URL", &backend.url("http")),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ("PROXY_TIMEOUT_MS", "20000"),
    ]);
    // A hang guard, far above any budget here: a request that outlives it has hung.
    let guard = std::time::Duration::from_secs(60);
    let bounded = |event: Value| {
        let p = &p;
        async move {
            tokio::time::timeout(guard, p.call_logged(&event))
                .await
                .expect("a request hung")
        }
    };
    assert_eq!(
        bounded(v1("GET", "/before", ALLOWED_IP)).await["statusCode"],
        200
    );

    // The process dies while it holds a request: that request ends at once, as a 502.
    let (in_flight, ()) = tokio::join!(bounded(v1("POST", "/slow", ALLOWED_IP)), async {
        while !backend.seen().iter().any(|r| r.uri == "/slow") {
            tokio::task::yield_now().await;
        }
        backend.stop().await;
    });
    assert_eq!(in_flight["statusCode"], 502, "{in_flight}");

    // The gap: every method gets a 502 at once.
    for method in ["GET", "POST", "PUT", "DELETE"] {
        let r = bounded(v1(method, "/gap", ALLOWED_IP)).await;
        assert_eq!(r["statusCode"], 502, "{method}: {r}");
    }
    // The port reopens: the first request after it succeeds.
    backend.restart().await;
    let r = bounded(v1("POST", "/after", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(
        p.failure_errors(),
        [
            "closed by peer",
            "connection refused",
            "connection refused",
            "connection refused",
            "connection refused"
        ]
    );
    assert_eq!(
        p.failure_reasons(),
        ["reset", "connect", "connect", "connect", "connect"]
    );
}
