//! `vpc-proxy local` in streaming mode: the handler's streamed answer as a chunked HTTP
//! response, its head sent with the first body byte, its body as the backend sends it.
//!
//! It owns only the local sink: a failure after the first byte aborts the response (the
//! client sees a body cut short, as it would through a Function URL), since a local client
//! has no error trailers to read. It must never buffer the body.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use tokio::sync::{mpsc, oneshot};

use crate::handler::Proxy;
use crate::outcome::UpstreamError;
use crate::streaming::{BodySink, Head, SinkClosed};

/// The local server's response body, buffered or streamed.
pub(super) type LocalBody = BoxBody<Bytes, BodyFailed>;

/// The body stopped after it had started: the connection is aborted.
#[derive(Debug, thiserror::Error)]
#[error("the backend's body failed: {0}")]
pub(super) struct BodyFailed(UpstreamError);

pub(super) fn boxed(response: Response<Full<Bytes>>) -> Response<LocalBody> {
    response.map(|body| body.map_err(|never| match never {}).boxed())
}

pub(super) async fn handle(
    proxy: Arc<Proxy>,
    shape: &super::Shape,
    peer: SocketAddr,
    request: Request<Incoming>,
    id: u64,
) -> Response<LocalBody> {
    let (event, invocation) = match super::local_event(shape, peer, request, id).await {
        Ok(prepared) => prepared,
        Err(response) => return boxed(response),
    };
    let (head_tx, head_rx) = oneshot::channel();
    // One frame in flight: the backend is read no faster than the client takes.
    let (data_tx, data_rx) = mpsc::channel(1);
    tokio::spawn(async move {
        match proxy.handle_streaming(&event, invocation).await {
            Ok(streamed) => {
                let mut sink = LocalSink {
                    head: Some(head_tx),
                    data: data_tx,
                };
                streamed.deliver(&mut sink).await;
            }
            Err(e) => {
                let _ = head_tx.send(Err(e.to_string()));
            }
        }
    });
    match head_rx.await {
        Ok(Ok(head)) => {
            let mut response = Response::new(ChannelBody(data_rx).boxed());
            *response.status_mut() =
                StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY);
            // The local server computes its own framing.
            let mut headers = head.headers;
            headers.remove(http::header::CONTENT_LENGTH);
            *response.headers_mut() = headers;
            response
        }
        Ok(Err(message)) => boxed(super::plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("{message}\n"),
        )),
        Err(_) => boxed(super::plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the handler ended without an answer\n",
        )),
    }
}

struct LocalSink {
    head: Option<oneshot::Sender<Result<Head, String>>>,
    data: mpsc::Sender<Result<Frame<Bytes>, BodyFailed>>,
}

impl BodySink for LocalSink {
    async fn head(&mut self, head: Head) -> Result<(), SinkClosed> {
        let sender = self.head.take().ok_or(SinkClosed)?;
        sender.send(Ok(head)).map_err(|_| SinkClosed)
    }

    async fn data(&mut self, chunk: Bytes) -> Result<(), SinkClosed> {
        self.data
            .send(Ok(Frame::data(chunk)))
            .await
            .map_err(|_| SinkClosed)
    }

    async fn fail(&mut self, error: UpstreamError) {
        let _ = self.data.send(Err(BodyFailed(error))).await;
    }
}

/// The receiving end of the sink, as a response body.
struct ChannelBody(mpsc::Receiver<Result<Frame<Bytes>, BodyFailed>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BodyFailed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyFailed>>> {
        self.0.poll_recv(cx)
    }
}
