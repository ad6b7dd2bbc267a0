//! Live configuration against a loopback stand-in for the AWS Parameters and Secrets Lambda
//! Extension that speaks its documented interface (the token header checked, GetParameter
//! and GetSecretValue answer shapes, parameter versions and secret version ids), with the
//! refresh clock driven by hand: the first read in the first invocation, a new version in
//! force after the refresh, last good on a bad value, 503 until a first good read, one read
//! per refresh under concurrent invocations, no secret value in any output line; and the
//! built binary doing it end to end under the runtime emulator.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::emulator::{BIN, Emulator};
use common::*;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use vpc_proxy::handler::{ClientScheme, Proxy};
use vpc_proxy::live::ManualClock;
use vpc_proxy::telemetry::{Sink, logging};

const TOKEN: &str = "session-token-for-the-extension";
const PARAM: &str = "/vpc-proxy/allowed-ips";
const SECRET: &str = "vpc-proxy/upstream-headers";

/// What the stand-in serves.
#[derive(Default)]
struct Store {
    /// (value, version, type)
    parameter: Option<(String, u64, &'static str)>,
    /// (SecretString, VersionId)
    secret: Option<(String, String)>,
    /// Every request that carried the right token, by kind ("parameter" / "secret").
    reads: Vec<&'static str>,
    /// Requests without the token (the real extension refuses them).
    untokened: usize,
}

/// The extension stand-in: `GET /systemsmanager/parameters/get` and `GET /secretsmanager/get`
/// on loopback, answering as the extension does.
struct StandIn {
    addr: SocketAddr,
    store: Arc<Mutex<Store>>,
    /// Each request takes a permit before it is answered: none = reads hang until `open`.
    gate: Arc<Semaphore>,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<&'static str>>,
    sender: mpsc::UnboundedSender<&'static str>,
    serving: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl StandIn {
    async fn start() -> StandIn {
        let stand_in = StandIn::stopped().await;
        stand_in.restart().await;
        stand_in
    }

    /// Not listening yet: a port that refuses connections until `restart`.
    async fn stopped() -> StandIn {
        let addr = closed_port().await;
        let (sender, received) = mpsc::unbounded_channel();
        StandIn {
            addr,
            store: Arc::default(),
            gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            received: tokio::sync::Mutex::new(received),
            sender,
            serving: Mutex::new(None),
        }
    }

    fn port(&self) -> String {
        self.addr.port().to_string()
    }

    fn set_parameter(&self, value: &str, version: u64) {
        self.store.lock().unwrap().parameter = Some((value.to_owned(), version, "StringList"));
    }

    fn set_secret(&self, value: &str, version: &str) {
        self.store.lock().unwrap().secret = Some((value.to_owned(), version.to_owned()));
    }

    fn reads(&self, kind: &str) -> usize {
        self.store
            .lock()
            .unwrap()
            .reads
            .iter()
            .filter(|k| **k == kind)
            .count()
    }

    fn close_gate(&self) {
        let permits = self.gate.available_permits();
        self.gate.forget_permits(permits);
    }

    fn open_gate(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS);
    }

    /// Waits until a request has arrived (before it is answered).
    async fn arrived(&self) -> &'static str {
        self.received.lock().await.recv().await.unwrap()
    }

    async fn stop(&self) {
        let serving = self.serving.lock().unwrap().take();
        if let Some(task) = serving {
            task.abort();
            let _ = task.await;
        }
    }

    async fn restart(&self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.unwrap();
        let (store, gate, sender) = (self.store.clone(), self.gate.clone(), self.sender.clone());
        let task = accept_loop(listener, move |stream| {
            let (store, gate, sender) = (store.clone(), gate.clone(), sender.clone());
            async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (store, gate, sender) = (store.clone(), gate.clone(), sender.clone());
                    async move { Ok::<_, Infallible>(answer(&request, &store, &gate, &sender).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        });
        *self.serving.lock().unwrap() = Some(task);
    }
}

fn query(request: &Request<Incoming>) -> HashMap<String, String> {
    request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
    response
}

async fn answer(
    request: &Request<Incoming>,
    store: &Mutex<Store>,
    gate: &Semaphore,
    sender: &mpsc::UnboundedSender<&'static str>,
) -> Response<Full<Bytes>> {
    let kind = match request.uri().path() {
        "/systemsmanager/parameters/get" => "parameter",
        "/secretsmanager/get" => "secret",
        _ => return reply(404, json!({"message": "not found"})),
    };
    let _ = sender.send(kind);
    drop(gate.acquire().await.unwrap());
    let token = request
        .headers()
        .get("X-Aws-Parameters-Secrets-Token")
        .and_then(|v| v.to_str().ok());
    let mut store = store.lock().unwrap();
    if token != Some(TOKEN) {
        store.untokened += 1;
        return reply(
            401,
            json!({"message": "missing or invalid X-Aws-Parameters-Secrets-Token"}),
        );
    }
    store.reads.push(kind);
    let q = query(request);
    if request.method() != http::Method::GET {
        return reply(405, json!({}));
    }
    match kind {
        "parameter" => {
            assert_eq!(q.get("withDecryption").map(String::as_str), Some("true"));
            match (&store.parameter, q.get("name")) {
                (Some((value, version, kind)), Some(name)) if name == PARAM => reply(
                    200,
                    json!({
                        "Parameter": {
                            "ARN": format!("arn:aws:ssm:eu-west-1:123456789012:parameter{PARAM}"),
                            "DataType": "text",
                            "LastModifiedDate": "2026-12-01T10:00:00.000Z",
                            "Name": PARAM,
                            "Selector": null,
                            "SourceResult": null,
                            "Type": kind,
                            "Value": value,
                            "Version": version,
                        },
                        "ResultMetadata": {},
                    }),
                ),
                _ => reply(400, json!({"__type": "ParameterNotFound"})),
            }
        }
        _ => match (&store.secret, q.get("secretId")) {
            (Some((value, version)), Some(id)) if id == SECRET => reply(
                200,
                json!({
                    "ARN": format!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:{SECRET}-AbCdEf"),
                    "CreatedDate": "2026-12-01T10:00:00.000Z",
                    "Name": SECRET,
                    "SecretBinary": null,
                    "SecretString": value,
                    "VersionId": version,
                    "VersionStages": ["AWSCURRENT"],
                    "ResultMetadata": {},
                }),
            ),
            _ => reply(400, json!({"__type": "ResourceNotFoundException"})),
        },
    }
}

/// A proxy reading through `stand_in`, with a hand-driven clock and telemetry in memory.
fn live_proxy(
    stand_in: &StandIn,
    target: &str,
    extra: &[(&str, &str)],
) -> (Arc<Proxy>, Sink, ManualClock) {
    let port = stand_in.port();
    let mut vars = vec![
        ("PROXY_TARGET_URL", target),
        ("PROXY_ALLOWED_IPS_PARAMETER", PARAM),
        ("AWS_SESSION_TOKEN", TOKEN),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", &port),
    ];
    vars.extend_from_slice(extra);
    let clock = ManualClock::new();
    let built = Wiring::new(config_from(&vars)).clock(clock.clock()).build();
    (Arc::new(built.proxy), built.sink, clock)
}

/// Logs of this thread at `level` go to `sink` while the guard lives.
fn capture(sink: &Sink, level: &str) -> tracing::subscriber::DefaultGuard {
    let filter = logging::filter(|k| (k == "AWS_LAMBDA_LOG_LEVEL").then(|| level.to_owned()));
    tracing::subscriber::set_default(logging::subscriber(filter, sink.clone()))
}

async fn call(proxy: &Proxy, event: &Value) -> Value {
    let payload = proxy
        .handle(&event.to_string(), invocation())
        .await
        .unwrap_or_else(|e| panic!("invocation error: {e}"));
    serde_json::from_str(payload.as_str()).unwrap()
}

/// Every log line (not EMF) captured so far.
fn log_lines(sink: &Sink) -> Vec<Value> {
    sink.contents()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v.get("_aws").is_none())
        .collect()
}

fn lines_with(sink: &Sink, message: &str) -> Vec<Value> {
    log_lines(sink)
        .into_iter()
        .filter(|l| l["message"] == message)
        .collect()
}

fn at_level(sink: &Sink, level: &str) -> Vec<Value> {
    log_lines(sink)
        .into_iter()
        .filter(|l| l["level"] == level)
        .collect()
}

fn summaries(sink: &Sink) -> Vec<Value> {
    lines_with(sink, "invocation")
}

/// `ConfigFailure` by reason over every EMF document so far.
fn config_failures(sink: &Sink) -> Vec<(String, f64)> {
    let (_, documents) = split_output(&sink.contents());
    documents
        .iter()
        .filter(|d| d.get("ConfigFailure").is_some() && d.get("Reason").is_some())
        .map(|d| {
            (
                d["Reason"].as_str().unwrap().to_owned(),
                d["ConfigFailure"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn first_read_happens_in_the_first_invocation() {
    let backend = Backend::http(echo()).await;
    let stand_in = StandIn::start().await;
    stand_in.set_parameter("198.51.100.0/24,10.0.0.0/8", 3);
    stand_in.set_secret("X-Backend-Token: tok-live-1\n", "v-uuid-1");
    let (proxy, sink, _clock) = live_proxy(
        &stand_in,
        &backend.url("http"),
        &[
            ("PROXY_UPSTREAM_HEADERS_SECRET", SECRET),
            ("PROXY_ALLOWED_IPS", "192.0.2.1"),
            ("PROXY_UPSTREAM_HEADERS", "X-Env-Header: plain"),
        ],
    );
    let _logs = capture(&sink, "info");
    assert_eq!(
        (stand_in.reads("parameter"), stand_in.reads("secret")),
        (0, 0),
        "nothing is read before the first invocation (the extension is not up during init)"
    );

    let r = call(&proxy, &v1("GET", "/a", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(backend.last().header("x-backend-token"), ["tok-live-1"]);
    assert_eq!(backend.last().header("x-env-header"), ["plain"]);
    assert_eq!(
        (stand_in.reads("parameter"), stand_in.reads("secret")),
        (1, 1)
    );
    // The variable's list is in force too (union).
    let r = call(&proxy, &v1("GET", "/b", "192.0.2.1")).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    let r = call(&proxy, &v1("GET", "/c", "192.0.2.2")).await;
    assert_eq!(r["statusCode"], 403, "{r}");
    assert_eq!(
        (stand_in.reads("parameter"), stand_in.reads("secret")),
        (1, 1),
        "not read again before the refresh"
    );
    assert_eq!(stand_in.store.lock().unwrap().untokened, 0);

    for line in summaries(&sink) {
        assert_eq!(line["allowlist_version"], "3", "{line}");
    }
    let updates = lines_with(&sink, "config updated");
    let parameter = updates.iter().find(|l| l["source"] == "parameter").unwrap();
    assert_eq!(parameter["new_version"], "3");
    assert_eq!(parameter["new_entries"], 2);
    assert_eq!(parameter["added"], "198.51.100.0/24,10.0.0.0/8");
    let secret = updates.iter().find(|l| l["source"] == "secret").unwrap();
    assert_eq!(secret["new_version"], "v-uuid-1");
    assert_eq!(secret["added"], "x-backend-token");
    assert!(config_failures(&sink).is_empty());
}

#[tokio::test]
async fn a_changed_version_is_in_force_after_the_refresh() {
    let backend = Backend::http(echo()).await;
    let stand_in = StandIn::start().await;
    stand_in.set_parameter("198.51.100.0/24\n10.0.0.0/8", 1);
    stand_in.set_secret(r#"{"X-Backend-Token": "tok-A"}"#, "v-A");
    let (proxy, sink, clock) = live_proxy(
        &stand_in,
        &backend.url("http"),
        &[("PROXY_UPSTREAM_HEADERS_SECRET", SECRET)],
    );
    let _logs = capture(&sink, "info");
    assert_eq!(
        call(&proxy, &v1("GET", "/", ALLOWED_IP)).await["statusCode"],
        200
    );
    assert_eq!(backend.last().header("x-backend-token"), ["tok-A"]);

    stand_in.set_parameter("203.0.113.0/24\n10.0.0.0/8", 2);
    stand_in.set_secret(r#"{"X-Backend-Token": "tok-B"}"#, "v-B");
    // The default refresh is 30 s: a second short of it, the old values still serve.
    clock.advance(Duration::from_secs(29));
    assert_eq!(
        call(&proxy, &v1("GET", "/", ALLOWED_IP)).await["statusCode"],
        200
    );
    assert_eq!(backend.last().header("x-backend-token"), ["tok-A"]);
    assert_eq!(stand_in.reads("parameter"), 1);

    clock.advance(Duration::from_secs(1));
    let r = call(&proxy, &v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 403, "198.51.100.0/24 was removed: {r}");
    assert_eq!(
        call(&proxy, &v1("GET", "/", "203.0.113.5")).await["statusCode"],
        200
    );
    assert_eq!(backend.last().header("x-backend-token"), ["tok-B"]);
    assert_eq!(
        (stand_in.reads("parameter"), stand_in.reads("secret")),
        (2, 2)
    );

    let versions: Vec<Value> = summaries(&sink)
        .iter()
        .map(|l| l["allowlist_version"].clone())
        .collect();
    assert_eq!(versions, [json!("1"), json!("1"), json!("2"), json!("2")]);
    let update = lines_with(&sink, "config updated")
        .into_iter()
        .find(|l| l["source"] == "parameter" && l["new_version"] == "2")
        .unwrap();
    assert_eq!(update["old_version"], "1");
    assert_eq!(
        (update["old_entries"].clone(), update["new_entries"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(update["added"], "203.0.113.0/24");
    assert_eq!(update["removed"], "198.51.100.0/24");
    assert_eq!(update["level"], "INFO");
}

#[tokio::test]
async fn a_bad_value_keeps_the_last_good_list_and_logs_line_and_entry() {
    let backend = Backend::http(echo()).await;
    let stand_in = StandIn::start().await;
    stand_in.set_parameter("198.51.100.0/24", 1);
    let (proxy, sink, clock) = live_proxy(
        &stand_in,
        &backend.url("http"),
        &[("PROXY_CONFIG_REFRESH_S", "5")],
    );
    let _logs = capture(&sink, "info");
    assert_eq!(
        call(&proxy, &v1("GET", "/", ALLOWED_IP)).await["statusCode"],
        200
    );

    stand_in.set_parameter(
        "198.51.100.0/24\n# new partner\n203.0.113.0/24 10.0.0.999",
        2,
    );
    for _ in 0..2 {
        clock.advance(Duration::from_secs(5));
        let r = call(&proxy, &v1("GET", "/", ALLOWED_IP)).await;
        assert_eq!(
            r["statusCode"], 200,
            "the last good list stays in force: {r}"
        );
        let r = call(&proxy, &v1("GET", "/", "203.0.113.5")).await;
        assert_eq!(
            r["statusCode"], 403,
            "nothing of the bad version is used: {r}"
        );
    }
    assert_eq!(stand_in.reads("parameter"), 3);
    let errors: Vec<Value> = at_level(&sink, "ERROR");
    assert_eq!(
        errors.len(),
        1,
        "one ERROR for the bad version, not one per read: {errors:?}"
    );
    let e = &errors[0];
    assert_eq!(e["source"], "parameter");
    assert_eq!(e["name"], PARAM);
    assert_eq!(e["version"], "2");
    assert_eq!(e["line"], 3);
    assert_eq!(e["entry"], "10.0.0.999");
    for line in summaries(&sink) {
        assert_eq!(line["allowlist_version"], "1");
    }
    assert_eq!(
        config_failures(&sink),
        [("invalid".to_owned(), 1.0), ("invalid".to_owned(), 1.0)],
        "each failed read counts"
    );

    // Fixed: in force at the next read.
    stand_in.set_parameter("198.51.100.0/24\n203.0.113.0/24", 3);
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        call(&proxy, &v1("GET", "/", "203.0.113.5")).await["statusCode"],
        200
    );
}

#[tokio::test]
async fn extension_down_at_first_use_gives_503_and_the_next_invocation_recovers() {
    let backend = Backend::http(echo()).await;
    let stand_in = StandIn::stopped().await;
    stand_in.set_parameter("198.51.100.0/24", 7);
    let (proxy, sink, clock) = live_proxy(&stand_in, &backend.url("http"), &[]);
    let _logs = capture(&sink, "info");

    for event in [v1("GET", "/x", ALLOWED_IP), v2("GET", "/x", "", ALLOWED_IP)] {
        let r = call(&proxy, &event).await;
        assert_eq!(r["statusCode"], 503, "{r}");
        assert_eq!(r["body"], r#"{"message":"Service Unavailable"}"#);
        assert_eq!(r["headers"]["content-type"], "application/json", "{r}");
    }
    assert!(backend.seen().is_empty(), "nothing forwarded");
    let lines = summaries(&sink);
    for line in &lines {
        assert_eq!(line["decision"], "unavailable");
        assert_eq!(line["reason"], "config_unavailable");
        assert_eq!(line["status"], 503);
        assert_eq!(line["allowlist_version"], "none");
    }
    // The second invocation came within the same second: no second try.
    assert_eq!(config_failures(&sink), [("unreachable".to_owned(), 1.0)]);
    let warnings: Vec<Value> = at_level(&sink, "WARN");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["source"], "parameter");

    // A second later it tries again: still down, counted again, not logged again.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        call(&proxy, &v1("GET", "/x", ALLOWED_IP)).await["statusCode"],
        503
    );
    assert_eq!(config_failures(&sink).len(), 2);
    assert_eq!(
        at_level(&sink, "WARN").len(),
        1,
        "one WARN per failure streak"
    );

    stand_in.restart().await;
    clock.advance(Duration::from_secs(1));
    let r = call(&proxy, &v1("GET", "/x", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(summaries(&sink).last().unwrap()["allowlist_version"], "7");
    assert_eq!(stand_in.reads("parameter"), 1);
    assert_eq!(lines_with(&sink, "config source readable again").len(), 1);
}

#[tokio::test]
async fn a_refused_read_is_rejected_and_still_fails_closed() {
    let backend = Backend::http(echo()).await;
    let stand_in = StandIn::start().await;
    stand_in.set_parameter("198.51.100.0/24", 1);
    let (proxy, sink, _clock) = live_proxy(
        &stand_in,
        &backend.url("http"),
        &[("AWS_SESSION_TOKEN", "not-the-token")],
    );
    let _logs = capture(&sink, "info");
    assert_eq!(
        call(&proxy, &v1("GET", "/", ALLOWED_IP)).await["statusCode"],
        503
    );
    assert_eq!(config_failures(&sink), [("rejected".to_owned(), 1.0)]);
    assert_eq!(stand_in.store.lock().unwrap().untokened, 1);
    let error = at_level(&sink, "ERROR")[0].clone();
    assert_eq!(error["status"], 401);
    assert!(!sink.contents().contains("not-the-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_concurrent_pollers_read_once_per_refresh() {
    let backend = Backend::http(echo()).await;
    let stand_in = StandIn::start().await;
    stand_in.set_parameter("198.51.100.0/24", 1);
    stand_in.set_secret("X-Backend-Token: t1", "s1");
    let (proxy, _sink, clock) = live_proxy(
        &stand_in,
        &backend.url("http"),
        &[("PROXY_UPSTREAM_HEADERS_SECRET", SECRET)],
    );
    let spawn_four = || {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..4 {
            let proxy = proxy.clone();
            set.spawn(async move { call(&proxy, &v1("GET", &format!("/{i}"), ALLOWED_IP)).await });
        }
        set
    };

    // First read: the gate holds it; the other three wait for it rather than read or 503.
    stand_in.close_gate();
    let mut first = spawn_four();
    let a = stand_in.arrived().await;
    let b = stand_in.arrived().await;
    assert_ne!(a, b, "one read of each source");
    stand_in.open_gate();
    while let Some(r) = first.join_next().await {
        assert_eq!(r.unwrap()["statusCode"], 200);
    }
    assert_eq!(
        (stand_in.reads("parameter"), stand_in.reads("secret")),
        (1, 1)
    );

    // A refresh: one of the four reads while the other three answer from the last good
    // value without waiting, which they can only do while the read is still held.
    clock.advance(Duration::from_secs(30));
    stand_in.close_gate();
    let mut second = spawn_four();
    stand_in.arrived().await;
    stand_in.arrived().await;
    for _ in 0..3 {
        let r = second.join_next().await.unwrap().unwrap();
        assert_eq!(r["statusCode"], 200, "served from the last good value: {r}");
    }
    stand_in.open_gate();
    assert_eq!(
        second.join_next().await.unwrap().unwrap()["statusCode"],
        200
    );
    assert_eq!(
        (stand_in.reads("parameter"), stand_in.reads("secret")),
        (2, 2),
        "one read per source per refresh, not four"
    );
}

#[tokio::test]
async fn a_secret_value_appears_in_no_output_line_at_any_level() {
    const SECRETS: [&str; 4] = [
        "s3cret-first-value",
        "s3cret-rotated-value",
        "s3cret-in-a-bad-version",
        "s3cret-json-value",
    ];
    let backend = Backend::http(echo()).await;
    let stand_in = StandIn::start().await;
    stand_in.set_parameter("198.51.100.0/24", 1);
    stand_in.set_secret(&format!("X-Backend-Token: {}", SECRETS[0]), "v1");
    let (proxy, sink, clock) = live_proxy(
        &stand_in,
        &backend.url("http"),
        &[("PROXY_UPSTREAM_HEADERS_SECRET", SECRET)],
    );
    let _logs = capture(&sink, "trace");
    // A client that knows a secret value and sends it back is redacted in DEBUG dumps too.
    let mut event = v1("POST", "/echo", ALLOWED_IP);
    event["body"] = json!(format!("echo {}", SECRETS[0]));
    assert_eq!(call(&proxy, &event).await["statusCode"], 200);
    assert_eq!(backend.last().header("x-backend-token"), [SECRETS[0]]);

    stand_in.set_secret(&format!("X-Backend-Token: {}", SECRETS[1]), "v2");
    clock.advance(Duration::from_secs(30));
    event["body"] = json!(format!("{} and {}", SECRETS[0], SECRETS[1]));
    assert_eq!(call(&proxy, &event).await["statusCode"], 200);
    assert_eq!(backend.last().header("x-backend-token"), [SECRETS[1]]);

    // Bad versions: a line without a colon, a JSON value that is not a string, broken JSON.
    for (bad, version) in [
        (format!("X-Ok: 1\n{}", SECRETS[2]), "v3"),
        (
            format!(r#"{{"X-Backend-Token": ["{}"]}}"#, SECRETS[2]),
            "v4",
        ),
        (format!(r#"{{"X-Backend-Token": "{}""#, SECRETS[2]), "v5"),
    ] {
        stand_in.set_secret(&bad, version);
        clock.advance(Duration::from_secs(30));
        assert_eq!(call(&proxy, &event).await["statusCode"], 200);
        assert_eq!(
            backend.last().header("x-backend-token"),
            [SECRETS[1]],
            "last good"
        );
    }
    stand_in.set_secret(&format!(r#"{{"X-Backend-Token": "{}"}}"#, SECRETS[3]), "v6");
    clock.advance(Duration::from_secs(30));
    assert_eq!(call(&proxy, &event).await["statusCode"], 200);
    assert_eq!(backend.last().header("x-backend-token"), [SECRETS[3]]);

    let output = sink.contents();
    assert!(
        output.contains("\"level\":\"DEBUG\""),
        "DEBUG lines were captured"
    );
    assert!(output.contains("event received"));
    assert_eq!(
        at_level(&sink, "ERROR")
            .iter()
            .filter(|l| l["source"] == "secret")
            .count(),
        3
    );
    for line in output.lines() {
        for secret in SECRETS {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
    }
}

#[tokio::test]
async fn local_mode_reads_the_allow_list_file_again_when_it_changes() {
    let backend = Backend::http(echo()).await;
    let dir = std::env::temp_dir().join(format!("vpc-proxy-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("allowed.txt");
    std::fs::write(&file, "198.51.100.0/24\n").unwrap();
    let (url, file_name) = (backend.url("http"), file.display().to_string());
    let config = config_from(&[
        ("PROXY_TARGET_URL", &url),
        ("PROXY_ALLOWED_IPS_FILE", &file_name),
        ("PROXY_CONFIG_REFRESH_S", "2"),
    ])
    .watching_allowed_ips_file();
    let clock = ManualClock::new();
    let TestProxy { proxy, sink } = Wiring::new(config)
        .telemetry(vpc_proxy::telemetry::TelemetryConfig {
            namespace: "VpcProxy".into(),
            service: "local".into(),
            deny_per_ip_limit: None,
        })
        .scheme(ClientScheme::Http)
        .clock(clock.clock())
        .build();
    let _logs = capture(&sink, "info");
    assert_eq!(
        call(&proxy, &v1("GET", "/", ALLOWED_IP)).await["statusCode"],
        200
    );
    let first_version = summaries(&sink)[0]["allowlist_version"].clone();
    assert_eq!(
        first_version.as_str().unwrap().len(),
        12,
        "a fingerprint: {first_version}"
    );

    std::fs::write(&file, "203.0.113.0/24 # moved\n").unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        call(&proxy, &v1("GET", "/", ALLOWED_IP)).await["statusCode"],
        403
    );
    assert_eq!(
        call(&proxy, &v1("GET", "/", "203.0.113.1")).await["statusCode"],
        200
    );
    let last = summaries(&sink).last().unwrap().clone();
    assert_ne!(last["allowlist_version"], first_version);
    // A broken edit keeps the list in force.
    std::fs::write(&file, "203.0.113.0/24\n203.0.113.1/24\n").unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        call(&proxy, &v1("GET", "/", "203.0.113.1")).await["statusCode"],
        200
    );
    let error = at_level(&sink, "ERROR")[0].clone();
    assert_eq!(
        (error["line"].clone(), error["entry"].clone()),
        (json!(2), json!("203.0.113.1/24"))
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_misspelled_proxy_variable_stops_the_binary_naming_the_closest_setting() {
    for (name, value, expected) in [
        ("PROXY_TIMEOUT", "5000", "did you mean PROXY_TIMEOUT_MS?"),
        (
            "PROXY_FORWARD_HEADER",
            "*",
            "did you mean PROXY_FORWARD_HEADERS?",
        ),
        (
            "PROXY_ALLOWED_IP_PARAMETER",
            "/x",
            "did you mean PROXY_ALLOWED_IPS_PARAMETER?",
        ),
        (
            "PROXY_RESPONSE_MODE",
            "stream",
            "must be buffered or streaming",
        ),
    ] {
        let out = Command::new(BIN)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("PROXY_TARGET_URL", "http://10.0.0.1")
            .env("PROXY_ALLOWED_IPS", "10.0.0.0/8")
            .env(name, value)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(name) && text.contains(expected),
            "{name}: {text}"
        );
        assert!(text.contains("invalid configuration"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_binary_reads_live_configuration_under_the_runtime_emulator() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    let backend = Backend::http(echo()).await;
    let stand_in = StandIn::stopped().await;
    stand_in.set_parameter("198.51.100.0/24", 4);
    stand_in.set_secret("X-Backend-Token: s3cret-e2e-one", "e2e-1");
    let output = Arc::new(Mutex::new(Vec::<String>::new()));
    let keep = output.clone();
    let (_function, _lines) = emulator.function(
        &[
            ("PROXY_TARGET_URL", &backend.url("http")),
            ("PROXY_ALLOWED_IPS_PARAMETER", PARAM),
            ("PROXY_UPSTREAM_HEADERS_SECRET", SECRET),
            ("PROXY_CONFIG_REFRESH_S", "1"),
            ("AWS_SESSION_TOKEN", TOKEN),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", &stand_in.port()),
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
        ],
        move |line| keep.lock().unwrap().push(line.to_owned()),
    );
    let invoker = emulator.invoker();
    // Extension not up yet: fail closed.
    let r = invoker.invoke(&v1("GET", "/e2e", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 503, "{r}");
    assert_eq!(r["body"], r#"{"message":"Service Unavailable"}"#);
    stand_in.restart().await;
    // The next try comes a second later at most; each invocation is the readiness signal.
    let mut answered = Value::Null;
    for _ in 0..100 {
        answered = invoker.invoke(&v1("GET", "/e2e", ALLOWED_IP)).await;
        if answered["statusCode"] == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered["statusCode"], 200, "{answered}");
    assert_eq!(backend.last().header("x-backend-token"), ["s3cret-e2e-one"]);

    // A new version, in force after the 1 s refresh.
    stand_in.set_parameter("203.0.113.0/24", 5);
    let mut denied = Value::Null;
    for _ in 0..100 {
        denied = invoker.invoke(&v1("GET", "/e2e", ALLOWED_IP)).await;
        if denied["statusCode"] == 403 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(denied["statusCode"], 403, "{denied}");
    assert_eq!(stand_in.store.lock().unwrap().untokened, 0);

    // Every summary line carries the version in force; none carries the secret.
    let wanted = |lines: &[String]| {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"] == "invocation")
            .count()
    };
    for _ in 0..200 {
        if wanted(&output.lock().unwrap()) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let lines = output.lock().unwrap().clone();
    let summaries: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "invocation")
        .collect();
    assert_eq!(summaries.first().unwrap()["allowlist_version"], "none");
    assert_eq!(summaries.first().unwrap()["reason"], "config_unavailable");
    assert_eq!(summaries.last().unwrap()["allowlist_version"], "5");
    assert!(summaries.iter().any(|l| l["allowlist_version"] == "4"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"level\":\"TRACE\"") || l.contains("\"level\":\"DEBUG\""))
    );
    for line in &lines {
        assert!(!line.contains("s3cret-e2e-one"), "{line}");
        assert!(!line.contains(TOKEN), "{line}");
    }
}
