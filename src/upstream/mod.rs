//! The one HTTP client to the backend, for the life of the execution environment.
//!
//! It owns connections (TCP, TLS through the configs of `tls.rs`, HTTP/1.1 through hyper's
//! connection API), their pool, the exchange's time budget, the single retry of a request on a
//! dead connection, and reading the response body under Lambda's payload limit. It sends the
//! request target exactly as `target.rs` built it (no URL library re-encodes it on the way).
//! It must never follow a redirect, never use a proxy, never send a request again once any
//! byte of its response has arrived, never buffer more than the limit, and never turn a
//! failure into anything but one `UpstreamError`, a closed set with no text from the peer.
//!
//! Opening a connection is `connect`; naming what went wrong is `failure`.

mod connect;
mod failure;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use tokio_rustls::TlsConnector;

use self::failure::{Failure, exchange_failure};
pub use crate::outcome::UpstreamError;
use crate::tls::{TlsError, TlsSettings};

/// Bytes of backend body beyond which no Lambda response could carry it.
pub const MAX_BODY_BYTES: usize = crate::response::MAX_RESPONSE_BYTES;

/// Header fields accepted in a backend response (hyper's default is 100; 40 `Set-Cookie` and
/// 60 `Link` fields are a real answer, not an attack).
pub const MAX_RESPONSE_HEADERS: usize = 500;

/// Idle pooled connections are closed after this, below the 5 s keep-alive of common backend
/// servers (Node.js, many Go and Python ones), so a reused connection is rarely one the
/// backend is closing at the same moment.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// A TCP/TLS connect that has not finished by now counts as unreachable (502), not slow.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a connection may take, after its response, to be ready for the next request
/// before it is closed instead of pooled (it is still sending a request body the backend
/// stopped reading). A healthy one is ready at once.
const POOL_READY_WAIT: Duration = Duration::from_millis(100);

/// A request ready to send.
#[derive(Debug)]
pub struct Outbound {
    pub method: Method,
    /// Absolute: scheme and authority choose the connection, path and query go on the wire.
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The backend's complete answer.
#[derive(Debug)]
pub struct BufferedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// From the first send to the last body byte, retries included.
    pub latency: Duration,
}

/// A backend answer whose head is in and whose body is read chunk by chunk, as it arrives.
/// Only the chunk being handed on is held: memory stays bounded whatever the body's size.
pub struct BodyStream {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: hyper::body::Incoming,
    /// Goes back to the pool once the body is complete (never after a failure).
    conn: Option<Conn>,
    upstream: Upstream,
    start: Instant,
    deadline: Instant,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl BodyStream {
    /// The next body chunk; `Ok(None)` once the body is complete. Any failure is final (the
    /// response has started): a reset, a close before the end, bad chunking, or the deadline.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        loop {
            let frame = tokio::time::timeout_at(self.deadline.into(), self.body.frame())
                .await
                .map_err(|_| UpstreamError::TimedOut)?;
            match frame {
                None => {
                    if let Some(conn) = self.conn.take()
                        && !wants_close(&self.headers)
                    {
                        self.upstream.checkin(conn).await;
                    }
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.conn = None;
                    return Err(exchange_failure(&e, true, false).into_error());
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// Time since the request was first sent.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// The pooled client and its default time budget.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` for a plain-http target: no trust store is read for it.
    tls: Option<TlsConnector>,
    timeout: Duration,
    idle: Mutex<Vec<Idle>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("tls", &self.inner.tls.is_some())
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// A connection ready for a request.
struct Conn {
    /// `scheme://authority` it was opened to.
    key: String,
    sender: http1::SendRequest<Full<Bytes>>,
    /// Bytes read from the backend on this connection so far (HTTP bytes, above TLS).
    read: Arc<AtomicU64>,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Upstream {
    /// Builds the client. TLS material is only turned into a config for an https target,
    /// which keeps a plain-http cold start free of trust-store reads.
    pub fn new(timeout: Duration, tls: Option<&TlsSettings>) -> Result<Upstream, TlsError> {
        let tls = match tls {
            Some(settings) => Some(TlsConnector::from(Arc::new(settings.client_config()?))),
            None => None,
        };
        Ok(Upstream {
            inner: Arc::new(Inner {
                tls,
                timeout,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The configured timeout (`PROXY_TIMEOUT_MS`).
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Sends the request within `budget` and reads the whole body. A connection that dies
    /// before any byte of the response arrives is replaced once by a fresh one: for any
    /// method when the request never left (the pooled connection was already closed), for
    /// idempotent methods otherwise.
    ///
    /// Time: each connect has until `min(3 s, what is left of the budget)`; a connect that
    /// has not finished then is `ConnectTimedOut` (502), whatever cut the time short. Once
    /// connected, the rest of the budget is the backend's; running out is `TimedOut` (504).
    pub async fn send(
        &self,
        request: &Outbound,
        budget: Duration,
    ) -> Result<BufferedResponse, UpstreamError> {
        let start = Instant::now();
        let deadline = start + budget;
        let (status, headers, body) =
            retry_once(|fresh_only| self.attempt(request, deadline, fresh_only)).await?;
        Ok(BufferedResponse {
            status,
            headers,
            body,
            latency: start.elapsed(),
        })
    }

    async fn attempt(
        &self,
        request: &Outbound,
        deadline: Instant,
        fresh_only: bool,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Failure> {
        let (parts, body, conn) = self.attempt_head(request, deadline, fresh_only).await?;
        let body = tokio::time::timeout_at(deadline.into(), read_body(&parts.headers, body))
            .await
            .map_err(|_| Failure::Final(UpstreamError::TimedOut))??;
        if !wants_close(&parts.headers) {
            self.checkin(conn).await;
        }
        Ok((parts.status, parts.headers, body))
    }

    /// Sends the request and waits for the response head (status and headers), by `deadline`.
    async fn attempt_head(
        &self,
        request: &Outbound,
        deadline: Instant,
        fresh_only: bool,
    ) -> Result<(http::response::Parts, hyper::body::Incoming, Conn), Failure> {
        let key = pool_key(&request.uri);
        let pooled = if fresh_only {
            None
        } else {
            self.checkout(&key)
        };
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self
                .connect(&request.uri, key, deadline)
                .await
                .map_err(Failure::Final)?,
        };
        let outgoing = origin_form(request).map_err(Failure::Final)?;
        let idempotent = is_idempotent(&request.method);
        let read_before = conn.read.load(Ordering::Relaxed);
        let exchange = conn.sender.send_request(outgoing);
        let response = match tokio::time::timeout_at(deadline.into(), exchange).await {
            Err(_) => return Err(Failure::Final(UpstreamError::TimedOut)),
            Ok(response) => response.map_err(|e| {
                let started = conn.read.load(Ordering::Relaxed) != read_before;
                exchange_failure(&e, started, idempotent)
            })?,
        };
        let (parts, body) = response.into_parts();
        Ok((parts, body, conn))
    }

    /// Sends the request within `budget` and returns as soon as the response head is in: the
    /// body is read by the caller through `BodyStream`, chunk by chunk, against the same
    /// deadline. The retry rule is `send`'s: only before any byte of the response.
    pub async fn open_stream(
        &self,
        request: &Outbound,
        budget: Duration,
    ) -> Result<BodyStream, UpstreamError> {
        let start = Instant::now();
        let deadline = start + budget;
        let (parts, body, conn) =
            retry_once(|fresh_only| self.attempt_head(request, deadline, fresh_only)).await?;
        Ok(BodyStream {
            status: parts.status,
            headers: parts.headers,
            body,
            conn: Some(conn),
            upstream: self.clone(),
            start,
            deadline,
        })
    }

    /// The most recently used idle connection to `key` that is still open and young enough.
    fn checkout(&self, key: &str) -> Option<Conn> {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|i| i.since.elapsed() < POOL_IDLE_TIMEOUT && !i.conn.sender.is_closed());
        let index = idle
            .iter()
            .rposition(|i| i.conn.key == key && i.conn.sender.is_ready())?;
        Some(idle.swap_remove(index).conn)
    }

    /// Pools a connection whose exchange is complete, once it can take the next request.
    async fn checkin(&self, mut conn: Conn) {
        let ready = tokio::time::timeout(POOL_READY_WAIT, conn.sender.ready()).await;
        if matches!(ready, Ok(Ok(()))) {
            let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// Runs `attempt` and, when it fails before any byte of the response, once more on a fresh
/// connection (`attempt(true)`): the one retry rule of buffered and streamed exchanges alike.
async fn retry_once<T, F, Fut>(mut attempt: F) -> Result<T, UpstreamError>
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    match attempt(false).await {
        Ok(value) => Ok(value),
        Err(Failure::Retryable(e)) => {
            tracing::debug!(
                error = e.phrase(),
                "backend connection failed before a response; retrying once"
            );
            attempt(true).await.map_err(Failure::into_error)
        }
        Err(Failure::Final(e)) => Err(e),
    }
}

/// The request as it goes on the wire: origin-form target (path and query exactly as
/// built), `Host` from the authority, the body whole.
fn origin_form(request: &Outbound) -> Result<Request<Full<Bytes>>, UpstreamError> {
    let authority = request
        .uri
        .authority()
        .ok_or(UpstreamError::ConnectFailed)?;
    let host =
        HeaderValue::from_str(authority.as_str()).map_err(|_| UpstreamError::ConnectFailed)?;
    let target = request
        .uri
        .path_and_query()
        .cloned()
        .map_or_else(|| Uri::from_static("/"), Uri::from);
    let mut outgoing = Request::new(Full::new(request.body.clone()));
    *outgoing.method_mut() = request.method.clone();
    *outgoing.uri_mut() = target;
    *outgoing.headers_mut() = request.headers.clone();
    outgoing.headers_mut().insert(http::header::HOST, host);
    Ok(outgoing)
}

/// Reads the whole body, refusing more than a Lambda response can carry.
async fn read_body(headers: &HeaderMap, mut body: hyper::body::Incoming) -> Result<Bytes, Failure> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(Failure::Final(UpstreamError::ResponseTooLarge));
    }
    let capacity = declared.map_or(0, |len| len as usize).min(MAX_BODY_BYTES);
    let mut buffer = BytesMut::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        // The response has started: whatever breaks now is final.
        let frame = frame.map_err(|e| exchange_failure(&e, true, false))?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > MAX_BODY_BYTES {
                return Err(Failure::Final(UpstreamError::ResponseTooLarge));
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

fn wants_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

fn pool_key(uri: &Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or(""),
        uri.authority().map_or("", |a| a.as_str())
    )
}

/// RFC 9110 §9.2.2: repeating these has the same effect as sending once.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}
