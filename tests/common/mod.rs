//! Shared test fixtures: real loopback backends (HTTP and HTTPS with a CA generated here),
//! raw TCP backends for faults, API Gateway event builders, and a proxy built from a
//! variable map with its telemetry captured in memory.
#![allow(dead_code)]

pub mod emulator;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vpc_proxy::config::Config;
use vpc_proxy::handler::{ClientScheme, Invocation, Proxy};
use vpc_proxy::telemetry::{Sink, Telemetry};

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
        tokio::spawn(async move {
            // Connection tasks live in this set: aborting the accept loop drops the set, which
            // aborts them and closes their sockets.
            let mut open = tokio::task::JoinSet::new();
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => return,
                    },
                    Some(_) = open.join_next(), if !open.is_empty() => continue,
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let (script, recorded, tls) = (script.clone(), recorded.clone(), tls.clone());
                open.spawn(async move {
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
                });
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

/// A private CA, a server certificate for 127.0.0.1/localhost, and a client certificate.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
    /// Same server identity, but demanding a client certificate from the CA.
    pub server_mtls: Arc<rustls::ServerConfig>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let dir = std::env::temp_dir().join(format!("vpc-proxy-pki-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "vpc-proxy test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let server_cert =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .unwrap()
                .signed_by(&server_key, &issuer)
                .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(vec!["client.test".to_owned()]).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "vpc-proxy test client");
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        let client_cert_file = dir.join("client.pem");
        std::fs::write(&client_cert_file, client_cert.pem()).unwrap();
        let client_key_file = dir.join("client.key");
        std::fs::write(&client_key_file, client_key.serialize_pem()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![server_cert.der().clone()];
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let server_mtls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        Pki {
            dir,
            ca_file,
            client_cert_file,
            client_key_file,
            server: Arc::new(server),
            server_mtls: Arc::new(server_mtls),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A proxy built from variables, its telemetry in `sink`.
pub struct TestProxy {
    pub proxy: Proxy,
    pub sink: Sink,
}

pub fn proxy_with(vars: &[(&str, &str)]) -> TestProxy {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_lookup(|k| map.get(k).cloned()).unwrap_or_else(|e| panic!("{e}"));
    let sink = Sink::memory();
    let telemetry = Telemetry::new(config.telemetry.clone(), sink.clone());
    let proxy =
        Proxy::new(config, telemetry, ClientScheme::Https).unwrap_or_else(|e| panic!("{e}"));
    TestProxy { proxy, sink }
}

/// A proxy to `target` allowing 198.51.100.0/24 and 2001:db8::/32.
pub fn proxy(target: &str) -> TestProxy {
    proxy_with(&[
        ("PROXY_TARGET_URL", target),
        ("PROXY_ALLOWED_IPS", "198.51.100.0/24, 2001:db8::/32"),
    ])
}

pub const ALLOWED_IP: &str = "198.51.100.7";
pub const DENIED_IP: &str = "203.0.113.9";

impl TestProxy {
    /// The `Reason` of every `UpstreamFailure` recorded so far, in order.
    pub fn failure_reasons(&self) -> Vec<String> {
        let (_, documents) = split_output(&self.sink.contents());
        documents
            .iter()
            .filter(|d| d["UpstreamFailure"].as_f64().unwrap_or(0.0) > 0.0)
            .map(|d| d["Reason"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// The `error` of every summary line that has one, in order. Summary lines are only
    /// captured by `call_logged`.
    pub fn failure_errors(&self) -> Vec<String> {
        let (summaries, _) = split_output(&self.sink.contents());
        summaries
            .iter()
            .filter_map(|s| s.get("error").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }

    /// `call`, with the JSON log subscriber writing into the sink meanwhile, so the summary
    /// line is captured too.
    pub async fn call_logged(&self, event: &Value) -> Value {
        use vpc_proxy::telemetry::logging;
        let filter = logging::filter(|_| None);
        let _guard =
            tracing::subscriber::set_default(logging::subscriber(filter, self.sink.clone()));
        self.call(event).await
    }

    /// Handles an event and parses the response.
    pub async fn call(&self, event: &Value) -> Value {
        self.call_with(event, invocation()).await
    }

    pub async fn call_with(&self, event: &Value, invocation: Invocation) -> Value {
        let payload = self
            .proxy
            .handle(&event.to_string(), invocation)
            .await
            .unwrap_or_else(|e| panic!("invocation error: {e}"));
        serde_json::from_str(payload.as_str()).unwrap()
    }
}

pub fn invocation() -> Invocation {
    Invocation {
        request_id: "lambda-req-1".to_owned(),
        deadline: None,
        xray_trace_id: Some(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
        ),
    }
}

/// A REST API (v1) event.
pub fn v1(method: &str, path: &str, source_ip: &str) -> Value {
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "abc123.execute-api.eu-west-1.amazonaws.com", "X-Forwarded-Proto": "https"},
        "multiValueHeaders": {"Host": ["abc123.execute-api.eu-west-1.amazonaws.com"], "X-Forwarded-Proto": ["https"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": format!("/prod{path}"),
            "stage": "prod",
            "requestId": "apigw-req-1",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "identity": {"sourceIp": source_ip, "userAgent": "curl/8.0"},
        },
        "body": null,
        "isBase64Encoded": false,
    })
}

/// An HTTP API (v2) event on stage `dev`.
pub fn v2(method: &str, raw_path: &str, raw_query: &str, source_ip: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": format!("/dev{raw_path}"),
        "rawQueryString": raw_query,
        "headers": {"host": "xyz.execute-api.eu-west-1.amazonaws.com", "user-agent": "curl/8.0"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "xyz",
            "domainName": "xyz.execute-api.eu-west-1.amazonaws.com",
            "http": {"method": method, "path": format!("/dev{raw_path}"), "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "curl/8.0"},
            "requestId": "apigw-req-2",
            "stage": "dev",
            "timeEpoch": 1_700_000_000_000u64,
        },
        "isBase64Encoded": false,
    })
}

/// The response body bytes, decoding base64 when flagged.
pub fn body_bytes(response: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let text = response["body"].as_str().unwrap_or("");
    if response["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    } else {
        text.as_bytes().to_vec()
    }
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Checks one EMF document against the JSON Schema in tests/emf_schema.json and the rules a
/// schema cannot express: every dimension a string root member, every metric a number or an
/// array of at most 100 numbers, at most 100 distinct metrics.
pub fn assert_valid_emf(doc: &Value) {
    use std::sync::OnceLock;
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(include_str!("../emf_schema.json")).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    });
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "EMF schema errors {errors:?} in {doc}");
    let mut names = std::collections::HashSet::new();
    for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
        for set in directive["Dimensions"].as_array().unwrap() {
            for dimension in set.as_array().unwrap() {
                let key = dimension.as_str().unwrap();
                assert!(
                    doc[key].is_string(),
                    "dimension {key} is not a string root member: {doc}"
                );
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            names.insert(name.to_owned());
            match &doc[name] {
                Value::Number(_) => {}
                Value::Array(values) => {
                    assert!(
                        values.len() <= 100 && values.iter().all(Value::is_number),
                        "{name}: {doc}"
                    )
                }
                other => panic!("metric {name} is {other}, not a number: {doc}"),
            }
        }
    }
    assert!(names.len() <= 100, "{doc}");
}

/// Splits captured output into summary lines and EMF documents; every line must be JSON.
pub fn split_output(text: &str) -> (Vec<Value>, Vec<Value>) {
    let mut summaries = Vec::new();
    let mut documents = Vec::new();
    for line in text.lines() {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if value.get("_aws").is_some() {
            documents.push(value);
        } else if value["message"] == "invocation" {
            summaries.push(value);
        }
    }
    (summaries, documents)
}

/// Sum of a metric's values over documents, for one dimension set (`[]` = `[Service]` only).
pub fn metric_total(documents: &[Value], name: &str, extra_dimension: Option<&str>) -> f64 {
    let mut total = 0.0;
    for doc in documents {
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            let dims: Vec<&str> = directive["Dimensions"][0]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let wanted: Vec<&str> = std::iter::once("Service").chain(extra_dimension).collect();
            let listed = directive["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["Name"] == name);
            if dims == wanted && listed {
                total += match &doc[name] {
                    Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
                    v => v.as_f64().unwrap(),
                };
            }
        }
    }
    total
}
