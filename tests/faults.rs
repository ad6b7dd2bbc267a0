//! Backend faults, one per test: each ends in the status the README gives it, is counted under
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
    let r = p.call(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 502, "{r}");
    assert_eq!(p.failure_reasons(), ["connect"]);
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
