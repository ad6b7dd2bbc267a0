//! The Lambda Runtime API, as the function speaks it: take the next event, post its answer or
//! its error document.
//!
//! It owns the protocol (paths, the invocation headers, the error document, the streaming
//! response's request headers and error trailers) and nothing about HTTP events. It must never touch the process environment per invocation: the stock runtime
//! loop (`lambda_runtime` 1.5, sequential mode) sets `_X_AMZN_TRACE_ID` with `setenv` on every
//! invocation, and glibc keeps every value ever set, so a long-lived environment grew by about
//! 200 bytes of RSS per invocation for ever (tests/soak.rs). The trace id travels in
//! `NextEvent` instead.

use bytes::Bytes;
use http::HeaderValue;
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use lambda_runtime_api_client::body::sender::Sender;
use lambda_runtime_api_client::{Client, body::Body, build_request};

use crate::config::ConfigError;
use crate::outcome::{FailureKind, UpstreamError};
use crate::streaming::{BodySink, Head, SinkClosed};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
const TRACE_ID: &str = "lambda-runtime-trace-id";
/// Lambda Managed Instances name each invocation; the answer must carry the name back.
const INVOCATION_ID: &str = "lambda-runtime-invocation-id";
const ERROR_TYPE: &str = "lambda-runtime-function-error-type";
const ERROR_BODY: &str = "lambda-runtime-function-error-body";
const RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
/// The content type that tells Lambda the body opens with the HTTP metadata prelude.
pub const HTTP_INTEGRATION_RESPONSE: &str = "application/vnd.awslambda.http-integration-response";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeApiError {
    #[error("Runtime API {what} failed: {problem}")]
    Transport { what: &'static str, problem: String },
    #[error("Runtime API answered {status} to {what}")]
    Status { what: &'static str, status: u16 },
    #[error("Runtime API sent an event without a usable {REQUEST_ID}")]
    NoRequestId,
}

/// One invocation as the Runtime API hands it over.
#[derive(Debug)]
pub struct NextEvent {
    pub request_id: String,
    pub deadline_ms: u64,
    pub xray_trace_id: Option<String>,
    invocation_id: Option<http::HeaderValue>,
    pub payload: Bytes,
}

/// What the function answers for one invocation.
pub enum Answer {
    /// The response payload, already JSON.
    Response(String),
    /// An invocation error: Lambda reports it to the caller as a function error.
    /// `error_type` is a bare name (`NotHttpEvent`).
    Error {
        error_type: &'static str,
        message: String,
    },
}

/// The connection to the Runtime API, shared by every poller.
#[derive(Debug)]
pub struct RuntimeApi {
    client: Client,
}

impl RuntimeApi {
    /// `address` is `AWS_LAMBDA_RUNTIME_API`: Lambda's `host:port`, or the `http://host:port`
    /// (optionally with a path) that local emulators hand out. `pollers` sizes the pool.
    pub fn new(address: &str, pollers: usize) -> Result<RuntimeApi, ConfigError> {
        let invalid = || {
            ConfigError::new(
                "AWS_LAMBDA_RUNTIME_API",
                "not a host:port or http://host:port address",
            )
            .value(address)
        };
        let uri: Uri = address.trim().parse().map_err(|_| invalid())?;
        if uri.authority().is_none() || uri.scheme().is_some_and(|s| s != "http") {
            return Err(invalid());
        }
        let client = Client::builder()
            .with_endpoint(uri)
            .with_pool_size(pollers.max(1))
            .build()
            .map_err(|_| invalid())?;
        Ok(RuntimeApi { client })
    }

    /// Waits for the next invocation. `None` when the API answered 204 (emulators do that to
    /// keep an idle poll alive; Lambda itself never does).
    pub async fn next(&self) -> Result<Option<NextEvent>, RuntimeApiError> {
        let what = "next";
        let builder = build_request().method(Method::GET).uri(NEXT);
        let response = self.call(what, builder, Body::empty()).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(RuntimeApiError::Status {
                what,
                status: response.status().as_u16(),
            });
        }
        let (parts, body) = response.into_parts();
        let payload = body
            .collect()
            .await
            .map_err(|e| transport(what, e))?
            .to_bytes();
        let headers = &parts.headers;
        Ok(Some(NextEvent {
            request_id: text(headers, REQUEST_ID)
                .filter(|id| is_path_safe(id))
                .ok_or(RuntimeApiError::NoRequestId)?,
            deadline_ms: text(headers, DEADLINE_MS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            xray_trace_id: text(headers, TRACE_ID),
            invocation_id: headers.get(INVOCATION_ID).cloned(),
            payload,
        }))
    }

    /// Posts the answer to `event`.
    pub async fn answer(&self, event: &NextEvent, answer: Answer) -> Result<(), RuntimeApiError> {
        let (what, body, error_type) = match answer {
            Answer::Response(payload) => ("response", payload, None),
            Answer::Error {
                error_type,
                message,
            } => {
                let document = serde_json::json!({
                    "errorType": error_type,
                    "errorMessage": message,
                });
                ("error", document.to_string(), Some(error_type))
            }
        };
        // `what` is also the last path segment: /response or /error.
        let path = format!("/2018-06-01/runtime/invocation/{}/{what}", event.request_id);
        let mut builder = build_request().method(Method::POST).uri(path);
        if let Some(error_type) = error_type {
            // The Runtime API keeps only `Function.X` / `Runtime.X` shapes in this header; the
            // document's `errorType` is what the caller sees.
            builder = builder.header(ERROR_TYPE, format!("Function.{error_type}"));
        }
        if let Some(id) = &event.invocation_id {
            builder = builder.header(INVOCATION_ID, id);
        }
        let response = self.call(what, builder, Body::from(body)).await?;
        let status = response.status();
        // Drain the (small) acknowledgement so the pooled connection can be reused.
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(RuntimeApiError::Status {
                what,
                status: status.as_u16(),
            })
        }
    }

    /// Posts a streaming answer to `event`: a chunked body that `produce` writes through the
    /// `StreamSender` it is given, while the request is already on its way. The body ends
    /// when `produce` returns (and drops the sender); a failure it reports through
    /// `StreamSender::fail` goes out as the Runtime API's error trailers.
    pub async fn stream<F, Fut>(&self, event: &NextEvent, produce: F) -> Result<(), RuntimeApiError>
    where
        F: FnOnce(StreamSender) -> Fut,
        Fut: Future<Output = ()>,
    {
        let what = "response";
        let path = format!(
            "/2018-06-01/runtime/invocation/{}/response",
            event.request_id
        );
        let mut builder = build_request()
            .method(Method::POST)
            .uri(path)
            .header(RESPONSE_MODE, "streaming")
            .header(http::header::CONTENT_TYPE, HTTP_INTEGRATION_RESPONSE)
            .header(http::header::TRANSFER_ENCODING, "chunked")
            // hyper writes only the trailers the request declares.
            .header(http::header::TRAILER, ERROR_TYPE)
            .header(http::header::TRAILER, ERROR_BODY);
        if let Some(id) = &event.invocation_id {
            builder = builder.header(INVOCATION_ID, id);
        }
        let (sender, body) = Body::channel();
        let call = self.call(what, builder, body);
        let (response, ()) = tokio::join!(
            call,
            produce(StreamSender {
                sender: Some(sender),
            })
        );
        let response = response?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(RuntimeApiError::Status {
                what,
                status: status.as_u16(),
            })
        }
    }

    /// Sends one request; any failure to build or exchange it is a transport error of `what`.
    async fn call(
        &self,
        what: &'static str,
        builder: http::request::Builder,
        body: Body,
    ) -> Result<http::Response<hyper::body::Incoming>, RuntimeApiError> {
        let request = builder.body(body).map_err(|e| transport(what, e))?;
        self.client
            .call(request)
            .await
            .map_err(|e| transport(what, e))
    }
}

/// The writing end of a streaming answer's body.
pub struct StreamSender {
    /// `None` once the body has ended as failed.
    sender: Option<Sender>,
}

impl StreamSender {
    /// Sends one chunk, once the connection has taken the previous one (the channel holds
    /// none in reserve).
    async fn send(&mut self, chunk: Bytes) -> Result<(), SinkClosed> {
        match self.sender.as_mut() {
            Some(sender) => sender.send_data(chunk).await.map_err(|_| SinkClosed),
            None => Err(SinkClosed),
        }
    }
}

impl BodySink for StreamSender {
    /// The prelude is the first bytes of the body.
    async fn head(&mut self, head: Head) -> Result<(), SinkClosed> {
        self.send(head.prelude).await
    }

    async fn data(&mut self, chunk: Bytes) -> Result<(), SinkClosed> {
        self.send(chunk).await
    }

    /// Ends the body with the `Lambda-Runtime-Function-Error-Type` / `-Body` trailers: the
    /// type `Function.<name>`, the body the error document (`errorType`, `errorMessage`, as on
    /// the /error path) in base64, since a trailer value cannot carry every byte of JSON.
    async fn fail(&mut self, error: UpstreamError) {
        let Some(mut sender) = self.sender.take() else {
            return;
        };
        let name = stream_error_type(error);
        let document = serde_json::json!({
            "errorType": name,
            "errorMessage": error.phrase(),
        })
        .to_string();
        let mut trailers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&format!("Function.{name}")) {
            trailers.insert(ERROR_TYPE, value);
        }
        if let Ok(value) = HeaderValue::from_str(&base64_simd::STANDARD.encode_to_string(document))
        {
            trailers.insert(ERROR_BODY, value);
        }
        let _ = sender.send_trailers(trailers).await;
    }
}

/// The error type a failed stream reports: one per failure class, a bare name.
pub fn stream_error_type(error: UpstreamError) -> &'static str {
    match error.kind() {
        FailureKind::Connect => "UpstreamConnect",
        FailureKind::Tls => "UpstreamTls",
        FailureKind::Reset => "UpstreamReset",
        FailureKind::BadResponse => "UpstreamBadResponse",
        FailureKind::Timeout => "UpstreamTimeout",
        FailureKind::TooLarge => "UpstreamTooLarge",
    }
}

fn text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The request id goes into the answer's path: only characters that need no escaping there.
fn is_path_safe(id: &str) -> bool {
    id.bytes().any(|b| b != b'.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

fn transport(what: &'static str, e: impl std::fmt::Display) -> RuntimeApiError {
    RuntimeApiError::Transport {
        what,
        problem: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_must_be_plain_path_segments() {
        assert!(is_path_safe("8476a536-e9f4-11e8-9739-2dfe598c3fcd"));
        for bad in ["", ".", "..", "a/b", "a?b", "a b", "%2e", "é"] {
            assert!(!is_path_safe(bad), "{bad:?}");
        }
    }

    #[test]
    fn both_address_forms_and_nothing_else() {
        assert!(RuntimeApi::new("127.0.0.1:9001", 1).is_ok());
        assert!(RuntimeApi::new("http://127.0.0.1:9000/.rt", 1).is_ok());
        for bad in [
            "",
            "https://127.0.0.1:9001",
            "/just/a/path",
            "not an address",
        ] {
            let error = RuntimeApi::new(bad, 1).unwrap_err();
            assert_eq!(error.variable, "AWS_LAMBDA_RUNTIME_API");
            assert_eq!(error.value.as_deref(), Some(bad));
        }
    }
}
