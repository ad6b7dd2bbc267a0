//! The built-in echo backend `vpc-proxy local` starts when no `PROXY_TARGET_URL` is set: it
//! answers every request with a JSON description of what it received, so a first run shows
//! what the backend is told. It must never be reachable from Lambda (only `local` starts it)
//! nor read a body past the local request limit.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use super::{MAX_REQUEST_BYTES, plain};

/// The built-in echo backend: answers every request with a JSON description of it.
pub(super) async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(|request: Request<Incoming>| async move {
                Ok::<_, Infallible>(echo(request).await)
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "echo connection ended with an error");
            }
        });
    }
}

async fn echo(request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "too large\n"),
    };
    let mut headers: Map<String, Value> = Map::new();
    for (name, value) in &parts.headers {
        let text = json!(String::from_utf8_lossy(value.as_bytes()));
        match headers.get_mut(name.as_str()) {
            Some(Value::Array(values)) => values.push(text),
            _ => {
                headers.insert(name.as_str().to_owned(), json!([text]));
            }
        }
    }
    let description = json!({
        "echo": "vpc-proxy built-in echo backend",
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "body_bytes": body.len(),
    });
    let mut response = Response::new(Full::new(Bytes::from(format!("{description:#}\n"))));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
