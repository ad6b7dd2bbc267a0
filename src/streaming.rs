//! Response streaming (`PROXY_RESPONSE_MODE=streaming`): the handler's answer as a head and a
//! body that flows from the backend to a `BodySink` chunk by chunk.
//!
//! It owns the streaming order of events (nothing goes out before the first body byte, so a
//! failure up to then is still one complete error answer; after it, a failure can only end
//! the stream as failed), the first- and last-byte latencies, the bytes streamed, and
//! recording the outcome exactly once when the stream is over. It knows nothing of the Runtime
//! API or of local HTTP: a sink does. It must never hold more than the chunk in hand (memory
//! is bounded by the sink's buffer, never by the body) and never alter a body byte.

use std::future::Future;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri};

use crate::event::{NotHttpEvent, Version};
use crate::handler::{Invocation, Proxy, Step, Stop, note_stop};
use crate::headers::response_headers;
use crate::outcome::{Outcome, UpstreamError};
use crate::response::{self, ErrorReply};
use crate::telemetry::Telemetry;
use crate::upstream::BodyStream;
use crate::xray::{self, Tracer};

/// The receiver went away (the Runtime API connection, or the local client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the response stream's receiver is gone")]
pub struct SinkClosed;

/// The status and headers of a streamed answer, in both forms a sink may want.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// The headers the client gets (hop-by-hop headers removed, every value kept).
    pub headers: HeaderMap,
    /// The metadata prelude for the Runtime API, eight NUL bytes included.
    pub prelude: Bytes,
}

/// Where a streamed answer goes. Each call waits until the receiver has room, which is what
/// keeps memory bounded: the backend is read no faster than the receiver takes.
pub trait BodySink {
    /// The head, before any body byte; called exactly once, first.
    fn head(&mut self, head: Head) -> impl Future<Output = Result<(), SinkClosed>> + Send;
    /// One body chunk, unaltered.
    fn data(&mut self, chunk: Bytes) -> impl Future<Output = Result<(), SinkClosed>> + Send;
    /// The body failed after its first byte went out: end the stream as failed.
    fn fail(&mut self, error: UpstreamError) -> impl Future<Output = ()> + Send;
}

/// A decided answer waiting to be streamed; `deliver` sends it and records the outcome.
#[must_use = "nothing is sent or recorded until `deliver`"]
pub struct Streamed<'p> {
    version: Version,
    source: Source,
    outcome: Outcome,
    started: Instant,
    telemetry: &'p Telemetry,
    /// The backend exchange of a sampled invocation, traced when the stream ends.
    trace: Option<Traced<'p>>,
}

/// What the exchange's subsegment needs that the outcome does not hold.
struct Traced<'p> {
    tracer: &'p Tracer,
    method: Method,
    uri: Uri,
    start: SystemTime,
}

enum Source {
    /// One of the proxy's own answers (refusal, or a failure before any backend byte).
    Reply(ErrorReply),
    /// The backend's answer, head in, body to come.
    Backend(Box<BodyStream>),
}

impl Proxy {
    /// Handles one raw event for streaming: everything up to the backend's response head.
    /// An event that is not an HTTP event is an invocation error, recorded here; any other
    /// outcome is recorded by `Streamed::deliver`.
    pub async fn handle_streaming(
        &self,
        raw_event: &str,
        invocation: Invocation,
    ) -> Result<Streamed<'_>, NotHttpEvent> {
        let started = Instant::now();
        let mut outcome = self.new_outcome(&invocation);
        let mut trace = None;
        let (version, source) = match self.begin(raw_event, &invocation, &mut outcome).await {
            Step::NotHttp(e) => {
                outcome.duration = started.elapsed();
                self.telemetry().record(&outcome);
                return Err(e);
            }
            Step::Stop(version, stop) => (version, stopped(stop, &mut outcome)),
            Step::Forward(version, outbound, budget) => {
                if self.tracer().wants(outcome.xray_trace_id.as_deref()) {
                    trace = Some(Traced {
                        tracer: self.tracer(),
                        method: outbound.method.clone(),
                        uri: outbound.uri.clone(),
                        start: SystemTime::now(),
                    });
                }
                match self.upstream().open_stream(&outbound, budget).await {
                    Ok(stream) => {
                        outcome.upstream_status = Some(stream.status.as_u16());
                        (version, Source::Backend(Box::new(stream)))
                    }
                    Err(e) => (version, stopped(Stop::Upstream(e), &mut outcome)),
                }
            }
        };
        Ok(Streamed {
            version,
            source,
            outcome,
            started,
            telemetry: self.telemetry(),
            trace,
        })
    }
}

fn stopped(stop: Stop, outcome: &mut Outcome) -> Source {
    note_stop(stop, outcome);
    Source::Reply(stop.reply())
}

impl Streamed<'_> {
    /// Sends the answer into `sink` and records the outcome, once, when it is over.
    pub async fn deliver<S: BodySink>(self, sink: &mut S) {
        let Streamed {
            version,
            source,
            mut outcome,
            started,
            telemetry,
            trace,
        } = self;
        let sent = match source {
            Source::Reply(reply) => send_reply(version, reply, sink, &mut outcome).await,
            Source::Backend(stream) => send_backend(version, *stream, sink, &mut outcome).await,
        };
        if sent.is_err() {
            // Not the backend's doing: the summary line still says what went out.
            tracing::warn!(
                request_id = outcome.request_id.as_str(),
                bytes_streamed = outcome.response_bytes as u64,
                "the response stream's receiver went away"
            );
        }
        if let Some(trace) = trace {
            // The exchange ends with the last body byte, or with the failure that cut it.
            trace.tracer.exchange(
                outcome.xray_trace_id.as_deref(),
                &xray::Exchange {
                    method: trace.method.as_str(),
                    uri: &trace.uri,
                    start: trace.start,
                    end: SystemTime::now(),
                    response: outcome
                        .upstream_status
                        .map(|status| (status, outcome.response_bytes)),
                    failure: outcome.failure,
                },
            );
        }
        outcome.duration = started.elapsed();
        telemetry.record(&outcome);
    }
}

async fn send_reply<S: BodySink>(
    version: Version,
    reply: ErrorReply,
    sink: &mut S,
    outcome: &mut Outcome,
) -> Result<(), SinkClosed> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    outcome.status = Some(reply.status());
    sink.head(Head {
        status: reply.status(),
        headers,
        prelude: response::error_prelude(version, reply),
    })
    .await?;
    sink.data(Bytes::from_static(reply.body().as_bytes()))
        .await?;
    outcome.response_bytes = reply.body().len();
    Ok(())
}

/// The backend's body, chunk by chunk. The head goes out with the first body byte (or at the
/// end of an empty body): until then a failure is still a whole 502/504 answer.
async fn send_backend<S: BodySink>(
    version: Version,
    mut stream: BodyStream,
    sink: &mut S,
    outcome: &mut Outcome,
) -> Result<(), SinkClosed> {
    let mut head_sent = false;
    loop {
        let next = stream.next_chunk().await;
        if !head_sent {
            if let Err(e) = next {
                outcome.upstream_latency = Some(stream.elapsed());
                // Nothing went out yet: the client gets our answer, not half of the backend's.
                let stop = Stop::Upstream(e);
                note_stop(stop, outcome);
                return send_reply(version, stop.reply(), sink, outcome).await;
            }
            let status = stream.status.as_u16();
            outcome.status = Some(status);
            let headers: HeaderMap = response_headers(&stream.headers)
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            let prelude = response::prelude(version, status, &stream.headers);
            head_sent = true;
            if let Ok(Some(_)) = &next {
                outcome.upstream_first_byte = Some(stream.elapsed());
            }
            let sent = sink
                .head(Head {
                    status,
                    headers,
                    prelude,
                })
                .await;
            if sent.is_err() {
                outcome.upstream_latency = Some(stream.elapsed());
                return sent;
            }
        }
        match next {
            Ok(Some(chunk)) => {
                let len = chunk.len();
                let sent = sink.data(chunk).await;
                if sent.is_err() {
                    outcome.upstream_latency = Some(stream.elapsed());
                    return sent;
                }
                outcome.response_bytes += len;
            }
            Ok(None) => {
                outcome.upstream_latency = Some(stream.elapsed());
                return Ok(());
            }
            Err(e) => {
                outcome.upstream_latency = Some(stream.elapsed());
                outcome.failure = Some(e);
                sink.fail(e).await;
                return Ok(());
            }
        }
    }
}
