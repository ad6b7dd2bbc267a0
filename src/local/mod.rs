//! `vpc-proxy local`: the real handler behind a plain HTTP listener, for trying the proxy out.
//!
//! Each request becomes a REST API (v1) event, or with `--v2` an HTTP API (v2) event, with the
//! peer's address as source IP, and runs through `Proxy::handle`, exactly as in Lambda; the
//! response is turned back into HTTP. `--stage NAME` serves under `/NAME` as a REST stage
//! does. With no `PROXY_TARGET_URL` it also runs a built-in echo backend and allows loopback
//! only. On a terminal (without `--json`) the output is rewritten for people (`terminal`).
//! `v1` and `v2` translate requests and responses; `apigw` holds the event shapes they build,
//! which the tests, benches and fuzz targets build too. It must never be more permissive than
//! Lambda: same allow-list, same refusals.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::net::TcpListener;

use crate::config::ResponseMode;
use crate::handler::{Invocation, Proxy};

pub mod apigw;
mod echo;
mod stream;
mod v1;
mod v2;

/// The listener's default address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
/// Lambda's request payload limit; API Gateway would refuse a larger body too.
const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// The allow-list used with the built-in echo backend.
pub const LOOPBACK_ONLY: &str = "127.0.0.1 ::1";

/// What `vpc-proxy local` was asked for on its command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--listen HOST:PORT` (a name such as `localhost` is resolved).
    pub listen: Option<String>,
    /// `--json`: the exact Lambda output even on a terminal.
    pub json: bool,
    /// `--v2`: HTTP API (v2) events instead of REST API (v1) events.
    pub v2: bool,
    /// `--stage NAME`: serve under `/NAME/`, as a REST API stage (or a named HTTP API stage).
    pub stage: Option<String>,
}

impl Options {
    /// Parses the arguments after `local`.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--json" => options.json = true,
                "--v2" => options.v2 = true,
                "--listen" => {
                    options.listen = Some(it.next().ok_or("--listen needs HOST:PORT")?.clone())
                }
                "--stage" => {
                    let stage = it.next().ok_or("--stage needs a NAME")?;
                    if stage.is_empty()
                        || !stage
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err(format!(
                            "--stage wants a stage name (letters, digits, _ or -), got {stage:?}"
                        ));
                    }
                    options.stage = Some(stage.clone());
                }
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(options)
    }
}

/// How requests become events.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub v2: bool,
    pub stage: Option<String>,
    /// Where lines are rewritten for people, flushed after each request.
    pub terminal: Option<crate::terminal::Terminal>,
}

/// Serves `proxy` on `listener` until the process ends, with REST (v1) events.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>) -> std::io::Result<()> {
    serve_as(listener, proxy, Arc::new(Shape::default())).await
}

/// Serves `proxy` on `listener` until the process ends, with events of `shape`.
pub async fn serve_as(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    shape: Arc<Shape>,
) -> std::io::Result<()> {
    let counter = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, peer) = listener.accept().await?;
        let proxy = proxy.clone();
        let counter = counter.clone();
        let shape = shape.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let proxy = proxy.clone();
                let shape = shape.clone();
                let id = counter.fetch_add(1, Ordering::Relaxed);
                async move {
                    let response = match proxy.response_mode() {
                        ResponseMode::Buffered => {
                            stream::boxed(handle(&proxy, &shape, peer, request, id).await)
                        }
                        ResponseMode::Streaming => {
                            stream::handle(proxy.clone(), &shape, peer, request, id).await
                        }
                    };
                    if let Some(terminal) = &shape.terminal {
                        terminal.flush(&mut std::io::stdout().lock());
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "local connection ended with an error");
            }
        });
    }
}

async fn handle(
    proxy: &Proxy,
    shape: &Shape,
    peer: SocketAddr,
    request: Request<Incoming>,
    id: u64,
) -> Response<Full<Bytes>> {
    let (event, invocation) = match local_event(shape, peer, request, id).await {
        Ok(prepared) => prepared,
        Err(response) => return response,
    };
    match proxy.handle(&event, invocation).await {
        Ok(payload) if shape.v2 => v2::response(payload.as_str()),
        Ok(payload) => v1::response(payload.as_str()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
    }
}

/// The event API Gateway would send for this request, or the answer API Gateway would give
/// without calling the function.
async fn local_event(
    shape: &Shape,
    peer: SocketAddr,
    request: Request<Incoming>,
    id: u64,
) -> Result<(String, Invocation), Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large\n",
            ));
        }
    };
    let full_path = parts.uri.path();
    // A REST API answers outside its stage itself, without calling the function.
    let path = match &shape.stage {
        None => full_path.to_owned(),
        Some(stage) => match full_path.strip_prefix(&format!("/{stage}")) {
            Some("") => "/".to_owned(),
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => {
                if shape.terminal.is_some() {
                    println!(
                        "{} {full_path} -> 403, outside stage {stage} (API Gateway answers; the function is not called)",
                        parts.method
                    );
                }
                let mut response = plain(StatusCode::FORBIDDEN, "{\"message\":\"Forbidden\"}");
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                return Err(response);
            }
        },
    };
    let request_id = format!("local-{id}");
    let event = if shape.v2 {
        v2::event(&parts, &body, peer, &request_id, shape.stage.as_deref())
    } else {
        v1::event(
            &parts,
            &body,
            peer,
            &request_id,
            &path,
            shape.stage.as_deref(),
        )
    };
    let invocation = Invocation {
        request_id,
        deadline: None,
        xray_trace_id: None,
    };
    Ok((event.to_string(), invocation))
}

/// The handler's JSON response (either event version) and an HTTP response with its status
/// and body, headers still to add. A response that does not parse is the 500 a local user
/// sees, paired with `null` so that no header is added to it.
pub(crate) fn status_and_body(payload: &str) -> (Value, Response<Full<Bytes>>) {
    let Ok(value) = serde_json::from_str::<Value>(payload) else {
        let unreadable = plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unreadable handler response\n",
        );
        return (Value::Null, unreadable);
    };
    let status = value["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = value["body"].as_str().unwrap_or("");
    let body = if value["isBase64Encoded"].as_bool() == Some(true) {
        base64_simd::STANDARD
            .decode_to_vec(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    (value, response)
}

pub(crate) fn append_headers(out: &mut HeaderMap, headers: &Map<String, Value>) {
    for (name, values) in headers {
        let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        // The local server computes its own framing.
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        for value in values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Ok(value) = http::HeaderValue::from_str(value) {
                out.append(name.clone(), value);
            }
        }
    }
}

pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response
}

/// `HOST:PORT` with an address or a name (`localhost:9000`); the first address it resolves to.
pub fn resolve(listen: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let usage = || {
        format!("--listen needs HOST:PORT, like {DEFAULT_LISTEN} or localhost:9000, got {listen:?}")
    };
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = listen.rsplit_once(':').ok_or_else(usage)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(usage());
    }
    let mut addrs = listen
        .to_socket_addrs()
        .map_err(|e| format!("--listen {listen}: cannot resolve {host:?}: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("--listen {listen}: {host:?} resolves to no address"))
}

/// `vpc-proxy local`: configuration from the environment, or the echo backend when
/// `PROXY_TARGET_URL` is unset; then serve until stopped. `terminal` is where the output is
/// rewritten for people (the sink then is its memory sink).
pub fn run(
    options: &Options,
    sink: crate::telemetry::Sink,
    terminal: Option<crate::terminal::Terminal>,
) -> std::process::ExitCode {
    use std::process::ExitCode;

    use crate::config::Config;
    use crate::handler::ClientScheme;
    use crate::startup;
    use crate::telemetry::Telemetry;

    let listen_text = options.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = match resolve(listen_text) {
        Ok(addr) => addr,
        Err(why) => {
            eprintln!("vpc-proxy: {why}");
            return ExitCode::from(2);
        }
    };
    let flush = |terminal: &Option<crate::terminal::Terminal>| {
        if let Some(t) = terminal {
            t.flush(&mut std::io::stdout().lock());
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vpc-proxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let use_echo = std::env::var("PROXY_TARGET_URL").map_or(true, |v| v.trim().is_empty());
        let mut echo_url = None;
        if use_echo {
            let echo = match TcpListener::bind("127.0.0.1:0").await {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("vpc-proxy: cannot start the echo backend: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let url = match echo.local_addr() {
                Ok(addr) => format!("http://{addr}"),
                Err(e) => {
                    eprintln!("vpc-proxy: echo backend has no address: {e}");
                    return ExitCode::FAILURE;
                }
            };
            tokio::spawn(echo::serve(echo));
            echo_url = Some(url);
        }
        let config = match &echo_url {
            // The built-in defaults: echo target, loopback only; other settings still apply.
            Some(url) => Config::from_env_with(&[
                ("PROXY_TARGET_URL", Some(url.clone())),
                ("PROXY_ALLOWED_IPS", Some(LOOPBACK_ONLY.to_owned())),
                ("PROXY_ALLOWED_IPS_FILE", None),
            ]),
            None => Config::from_env(),
        };
        let config = match config {
            // The allow-list file is read again when it changes, to try live behaviour.
            Ok(config) => config.watching_allowed_ips_file(),
            Err(error) => {
                let code = startup::refuse_to_start(&error);
                flush(&terminal);
                return code;
            }
        };
        startup::report(&config, "local", 1);
        let telemetry = Telemetry::new(config.telemetry.clone(), sink);
        let proxy = match Proxy::new(config, telemetry, ClientScheme::Http) {
            Ok(proxy) => Arc::new(proxy),
            Err(error) => {
                let code = startup::refuse_to_start(&error);
                flush(&terminal);
                return code;
            }
        };
        let listener = match TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("vpc-proxy: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let bound = listener.local_addr().unwrap_or(listen);
        let resolved = bound;
        let bound = match listen_text.rsplit_once(':') {
            // Show the name asked for, with the port actually bound (`:0` picks one).
            Some((host, _))
                if host.parse::<std::net::IpAddr>().is_err() && !host.starts_with('[') =>
            {
                format!("{host}:{}", bound.port())
            }
            _ => bound.to_string(),
        };
        let prefix = options.stage.as_deref().map(|s| format!("/{s}")).unwrap_or_default();
        match &echo_url {
            Some(url) => {
                tracing::warn!(echo_backend = url.as_str(), "no PROXY_TARGET_URL: forwarding to the built-in echo backend, allowing loopback (127.0.0.1, ::1) only");
                eprintln!(
                    "vpc-proxy local: listening on http://{bound}\n  no PROXY_TARGET_URL set: forwarding to the built-in echo backend at {url}\n  allow-list: loopback only ({LOOPBACK_ONLY})\n  try: curl -i 'http://{bound}{prefix}/hello?name=world'"
                );
            }
            None => eprintln!("vpc-proxy local: listening on http://{bound}"),
        }
        eprintln!(
            "  address: {resolved}; events: {}{}",
            if options.v2 { "HTTP API (v2)" } else { "REST API (v1)" },
            options
                .stage
                .as_deref()
                .map(|s| format!(", stage {s}: requests under http://{bound}{prefix}/"))
                .unwrap_or_default()
        );
        flush(&terminal);
        let shape = Arc::new(Shape {
            v2: options.v2,
            stage: options.stage.clone(),
            terminal,
        });
        match serve_as(listener, proxy, shape).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vpc-proxy: listener failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
