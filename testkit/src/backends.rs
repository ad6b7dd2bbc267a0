//! Loopback backends for tests and benches: a scripted HTTP(S) server that records every
//! request and can be stopped and restarted on its address, and raw TCP helpers for faults
//! (resets, half answers, closed ports).
//!
//! It owns only the backend's side of an exchange; it never builds a proxy or an event. It
//! binds loopback (or every local address when asked) and nothing else, and it must never
//! outlive its test: dropping a `Backend` closes its listener and connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the backend saw.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// How the scripted backend answers.
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Never answers (the exchange must time out).
    Hang,
    /// Sends a 200 head promising more body than it sends, then drops the connection.
    BreakAfterHeaders,
}

impl Reply {
    pub fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Respond {
            status: 200,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.into(),
        }
    }
}

pub type Script = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

pub fn script(f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Script {
    Arc::new(f)
}

/// Echoes the request body with the request's content type.
pub fn echo() -> Script {
    script(|r| {
        let content_type = r
            .header("content-type")
            .first()
            .map_or("application/octet-stream".to_owned(), |s| s.to_string());
        Reply::Respond {
            status: 200,
            headers: vec![("content-type", content_type)],
            body: r.body.clone(),
        }
    })
}

/// A loopback HTTP(S) backend that records every request. It can be stopped (listener and
/// every open connection closed, as a process restart would) and started again on the same
/// address.
pub struct Backend {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub connections: Arc<AtomicUsize>,
    script: Script,
    tls: Option<tokio_rustls::TlsAcceptor>,
    serving: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Backend {
    pub async fn http(script: Script) -> Backend {
        Backend::start(script, None, "127.0.0.1:0").await
    }

    pub async fn https(script: Script, tls: Arc<rustls::ServerConfig>) -> Backend {
        Backend::start(
            script,
            Some(tokio_rustls::TlsAcceptor::from(tls)),
            "127.0.0.1:0",
        )
        .await
    }

    /// HTTPS on every local address, so it answers on 127.0.0.2 too: a name its certificate
    /// does not carry.
    pub async fn https_on_all_addresses(script: Script, tls: Arc<rustls::ServerConfig>) -> Backend {
        Backend::start(
            script,
            Some(tokio_rustls::TlsAcceptor::from(tls)),
            "0.0.0.0:0",
        )
        .await
    }

    async fn start(script: Script, tls: Option<tokio_rustls::TlsAcceptor>, bind: &str) -> Backend {
        let listener = TcpListener::bind(bind).await.unwrap();
        let mut backend = Backend {
            addr: listener.local_addr().unwrap(),
            requests: Arc::default(),
            connections: Arc::new(AtomicUsize::new(0)),
            script,
            tls,
            serving: Mutex::new(None),
        };
        backend.serving = Mutex::new(Some(backend.serve(listener)));
        backend
    }

    /// Closes the listener and every connection, and returns once they are closed.
    pub async fn stop(&self) {
        let serving = self.serving.lock().unwrap().take();
        if let Some(task) = serving {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    pub async fn restart(&self) {
        self.stop().await;
        // tokio sets SO_REUSEADDR on listeners, so the old connections' TIME_WAIT is no bar.
        let listener = TcpListener::bind(self.addr).await.unwrap();
        *self.serving.lock().unwrap() = Some(self.serve(listener));
    }

    fn serve(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let (script, tls) = (self.script.clone(), self.tls.clone());
        let (recorded, counted) = (self.requests.clone(), self.connections.clone());
        accept_loop(listener, move |stream| {
            counted.fetch_add(1, Ordering::SeqCst);
            let (script, recorded, tls) = (script.clone(), recorded.clone(), tls.clone());
            async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (script, recorded) = (script.clone(), recorded.clone());
                    async move { Ok::<_, Infallible>(answer(req, &script, &recorded).await) }
                });
                match tls {
                    None => {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                }
            }
        })
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.seen().pop().expect("the backend saw no request")
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(task) = self.serving.lock().unwrap().take() {
            task.abort();
        }
    }
}

/// A response body: whole, or cut off after its first bytes, which makes hyper drop the
/// connection mid-message.
pub struct ReplyBody {
    data: Option<Bytes>,
    cut_off: bool,
}

impl hyper::body::Body for ReplyBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if let Some(data) = self.data.take() {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(data))));
        }
        if std::mem::take(&mut self.cut_off) {
            return std::task::Poll::Ready(Some(Err(std::io::Error::other("cut off"))));
        }
        std::task::Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && !self.cut_off
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match (&self.data, self.cut_off) {
            (Some(data), false) => hyper::body::SizeHint::with_exact(data.len() as u64),
            (None, false) => hyper::body::SizeHint::with_exact(0),
            _ => hyper::body::SizeHint::default(),
        }
    }
}

async fn answer(
    req: Request<Incoming>,
    script: &Script,
    recorded: &Mutex<Vec<Recorded>>,
) -> Response<ReplyBody> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let r = Recorded {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    recorded.lock().unwrap().push(r.clone());
    match script(&r) {
        Reply::Hang => std::future::pending().await,
        Reply::BreakAfterHeaders => {
            let mut response = Response::new(ReplyBody {
                data: Some(Bytes::from_static(b"partial")),
                cut_off: true,
            });
            response
                .headers_mut()
                .insert("content-length", http::HeaderValue::from_static("1000"));
            response
        }
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let mut response = Response::new(ReplyBody {
                data: Some(Bytes::from(body)),
                cut_off: false,
            });
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            for (n, v) in headers {
                response
                    .headers_mut()
                    .append(n, http::HeaderValue::from_str(&v).unwrap());
            }
            response
        }
    }
}

/// Accepts connections on `listener` until the returned task is aborted, and runs
/// `connection` on each. Connection tasks live in a set owned by the loop: aborting the loop
/// drops the set, which aborts them and closes their sockets (a "stopped" backend must not
/// keep answering on connections it already had).
pub fn accept_loop<F, Fut>(listener: TcpListener, mut connection: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut open = tokio::task::JoinSet::new();
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => return,
                },
                Some(_) = open.join_next(), if !open.is_empty() => continue,
            };
            open.spawn(connection(stream));
        }
    })
}

/// A raw TCP backend: `f` gets each accepted connection and its index (0-based).
pub async fn raw_backend<F, Fut>(f: F) -> SocketAddr
where
    F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let f = Arc::new(f);
    tokio::spawn(async move {
        let mut index = 0;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(f(stream, index));
            index += 1;
        }
    });
    addr
}

/// Reads one request head (up to the blank line) from a raw connection.
pub async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    head
}

/// Resets the connection (RST, not FIN).
pub fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

pub async fn write_all(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes).await;
}

/// A loopback port with nothing listening.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}
