//! The one HTTP client to the backend, for the life of the execution environment.
//!
//! It owns connection pooling, the exchange's time budget, the single retry of an idempotent
//! request on a dead pooled connection, and reading the response body under Lambda's payload
//! limit. It must never follow a redirect, never use a system proxy, never buffer more than
//! the limit, and never turn a failure into anything but one `UpstreamError`.

use std::error::Error as _;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode};
use reqwest::Url;

use crate::tls::{TlsError, TlsSettings};

/// Bytes of backend body beyond which no Lambda response could carry it (6 MiB payload).
pub const MAX_BODY_BYTES: usize = crate::response::MAX_RESPONSE_BYTES;

/// Idle pooled connections are closed after this, below the 5 s keep-alive of common backend
/// servers (Node.js, many Go and Python ones), so a reused connection is rarely one the
/// backend is closing at the same moment.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// A TCP/TLS connect that has not finished by now counts as unreachable (502), not slow.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the backend gave no usable answer. `reason()` values are a closed set: they become a
/// metric dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("backend unreachable")]
    Connect,
    #[error("TLS failure talking to the backend")]
    Tls,
    #[error("connection to the backend failed")]
    Reset,
    #[error("backend did not answer in time")]
    Timeout,
    #[error("backend response too large for a Lambda response")]
    TooLarge,
}

impl UpstreamError {
    pub const ALL: [UpstreamError; 5] = [
        UpstreamError::Connect,
        UpstreamError::Tls,
        UpstreamError::Reset,
        UpstreamError::Timeout,
        UpstreamError::TooLarge,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            UpstreamError::Connect => "connect",
            UpstreamError::Tls => "tls",
            UpstreamError::Reset => "reset",
            UpstreamError::Timeout => "timeout",
            UpstreamError::TooLarge => "too_large",
        }
    }
}

/// A request ready to send.
#[derive(Debug)]
pub struct Outbound {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The backend's complete answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// From the first send to the last body byte, retries included.
    pub latency: Duration,
}

/// The pooled client and its default time budget.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: reqwest::Client,
    timeout: Duration,
}

impl Upstream {
    /// Builds the client. TLS material is only turned into a config for an https target,
    /// which keeps a plain-http cold start free of trust-store reads.
    pub fn new(timeout: Duration, tls: Option<&TlsSettings>) -> Result<Upstream, TlsError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .http1_only()
            .tcp_nodelay(true)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT));
        // reqwest is built without a default crypto provider; a plain-http target still gets
        // a config (with no roots: an http target never negotiates TLS, redirects are off).
        let tls_config = match tls {
            Some(tls) => tls.client_config()?,
            None => crate::tls::plain_http_config()?,
        };
        builder = builder.tls_backend_preconfigured(tls_config);
        let client = builder.build().map_err(|e| {
            TlsError::new(
                "PROXY_TARGET_URL",
                format_args!("cannot build the HTTP client: {e}"),
            )
        })?;
        Ok(Upstream { client, timeout })
    }

    /// The configured timeout (`PROXY_TIMEOUT_MS`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends the request within `budget`, retrying once on a dead connection when the method
    /// is idempotent, and reads the whole body.
    pub async fn send(
        &self,
        request: &Outbound,
        budget: Duration,
    ) -> Result<Answer, UpstreamError> {
        let start = Instant::now();
        let deadline = tokio::time::Instant::from_std(start + budget);
        let mut retried = false;
        loop {
            let attempt = self.exchange(request);
            match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => return Err(UpstreamError::Timeout),
                Ok(Ok((status, headers, body))) => {
                    return Ok(Answer {
                        status,
                        headers,
                        body,
                        latency: start.elapsed(),
                    });
                }
                Ok(Err(Failure::BeforeResponse(UpstreamError::Reset)))
                    if !retried && is_idempotent(&request.method) =>
                {
                    tracing::debug!("backend connection failed before a response; retrying once");
                    retried = true;
                }
                Ok(Err(Failure::BeforeResponse(e) | Failure::AfterResponse(e))) => return Err(e),
            }
        }
    }

    async fn exchange(
        &self,
        request: &Outbound,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Failure> {
        let mut response = self
            .client
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| Failure::BeforeResponse(classify(&e)))?;
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY_BYTES as u64)
        {
            return Err(Failure::AfterResponse(UpstreamError::TooLarge));
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = BytesMut::with_capacity(
            response
                .content_length()
                .map_or(0, |len| len as usize)
                .min(MAX_BODY_BYTES),
        );
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::AfterResponse(classify(&e)))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(Failure::AfterResponse(UpstreamError::TooLarge));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, body.freeze()))
    }
}

enum Failure {
    BeforeResponse(UpstreamError),
    AfterResponse(UpstreamError),
}

/// RFC 9110 §9.2.2: repeating these has the same effect as sending once.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Whether `e` is a rustls error, or io errors wrapping one. The TLS connector wraps it in
/// two io errors, and `io::Error::source` skips the wrapped error itself, so the source chain
/// alone never reaches it.
fn is_rustls(mut e: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if e.is::<rustls::Error>() {
            return true;
        }
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => e = inner,
            None => return false,
        }
    }
}

fn classify(error: &reqwest::Error) -> UpstreamError {
    let mut source = error.source();
    while let Some(e) = source {
        if is_rustls(e) {
            return UpstreamError::Tls;
        }
        source = e.source();
    }
    // A connect that timed out is also a timeout to reqwest; for us it is unreachable (502),
    // not slow: see MAX_CONNECT_TIMEOUT.
    if error.is_connect() {
        UpstreamError::Connect
    } else if error.is_timeout() {
        UpstreamError::Timeout
    } else {
        UpstreamError::Reset
    }
}
