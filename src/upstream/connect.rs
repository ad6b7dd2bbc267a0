//! Opening a connection to the backend: name resolution, TCP, TLS for https, the HTTP/1.1
//! handshake, all against one connect deadline, and the byte counter that lets a failure
//! tell whether the response had started. It must never wait past the connect deadline nor
//! open a connection anywhere but the target's authority.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use http::Uri;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::failure::{connect_failure, stream_failure, tls_failure};
use super::{Conn, MAX_CONNECT_TIMEOUT, MAX_RESPONSE_HEADERS, Upstream, UpstreamError};

impl Upstream {
    /// Opens a connection: resolve, TCP, TLS for https, HTTP/1.1 handshake. The whole of it
    /// runs against one connect deadline, so whether it finished is never a race.
    pub(super) async fn connect(
        &self,
        uri: &Uri,
        key: String,
        deadline: Instant,
    ) -> Result<Conn, UpstreamError> {
        let connect_deadline: tokio::time::Instant =
            deadline.min(Instant::now() + MAX_CONNECT_TIMEOUT).into();
        let host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .ok_or(UpstreamError::ConnectFailed)?;
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::time::timeout_at(connect_deadline, tcp_connect(host, port))
            .await
            .map_err(|_| UpstreamError::ConnectTimedOut)??;
        // Requests are written whole by hyper; Nagle would only delay the last segment.
        let _ = tcp.set_nodelay(true);
        if !https {
            return handshake(tcp, key).await;
        }
        let connector = self.inner.tls.as_ref().ok_or(UpstreamError::TlsFailed)?;
        let name = ServerName::try_from(host.to_owned()).map_err(|_| UpstreamError::TlsFailed)?;
        let tls = tokio::time::timeout_at(connect_deadline, connector.connect(name, tcp))
            .await
            .map_err(|_| UpstreamError::TlsTimedOut)?
            .map_err(|e| tls_failure(&e).unwrap_or_else(|| stream_failure(&e)))?;
        handshake(tls, key).await
    }
}

/// Resolves `host` (unless it is an address) and connects to each address in turn.
async fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, UpstreamError> {
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| UpstreamError::NameNotResolved)?
            .collect(),
    };
    let mut last = UpstreamError::NameNotResolved;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = connect_failure(&e),
        }
    }
    Err(last)
}

/// Starts HTTP/1.1 on an open stream; the connection runs in its own task.
async fn handshake<S>(stream: S, key: String) -> Result<Conn, UpstreamError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let read = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Counted {
        inner: stream,
        read: read.clone(),
    });
    let (sender, connection) = http1::Builder::new()
        .max_headers(MAX_RESPONSE_HEADERS)
        .handshake(io)
        .await
        .map_err(|_| UpstreamError::ConnectFailed)?;
    tokio::spawn(async move {
        // Its error, if any, reaches the request through the sender.
        let _ = connection.await;
    });
    Ok(Conn { key, sender, read })
}

/// A stream that counts the bytes read from it, so a failure can tell whether the response
/// had started.
struct Counted<S> {
    inner: S,
    read: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let added = buf.filled().len().saturating_sub(before);
        if added > 0 {
            self.read.fetch_add(added as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
