//! Buffered against streaming, through the built binary: time to the first body byte and to
//! the last, as a loopback Runtime API sees them, and the function's peak RSS, for binary
//! answers of 1 MB and 10 MB (`application/octet-stream`, so buffered answers go base64).
//!
//!     CARGO_TARGET_DIR=/work/target-proof cargo bench --bench streaming
//!
//! The backend is a hyper server writing its answer 64 KiB at a time. Each (mode, size) runs in a fresh `vpc-proxy` process (so its VmHWM is that case's peak):
//! one warm-up invocation, then `STREAMING_BENCH_ROUNDS` (default 20) measured ones. Times
//! start when the Runtime API hands out the event and end when the first body byte (after the
//! prelude, streaming) or the last byte of the answer arrives; a buffered answer is one JSON
//! document, so both of its times are the arrival of its last byte. The function's own summary
//! lines add `upstream_first_byte_ms` (streaming: from its request to the backend's first body
//! byte), which splits the first-byte time into the backend's part and the function's.
//! Prints a markdown table.

use std::convert::Infallible;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use vpc_proxy::local::apigw::V2Event;

const BIN: &str = env!("CARGO_BIN_EXE_vpc-proxy");
const MB: usize = 1024 * 1024;

/// One answer as the Runtime API received it.
struct Arrival {
    first_body_byte: Duration,
    last_byte: Duration,
    body_bytes: usize,
    status: u16,
}

struct Lambda {
    address: String,
    events: mpsc::UnboundedSender<String>,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
}

#[derive(Default)]
struct Shared {
    handed_out: Option<Instant>,
}

async fn start_lambda() -> Lambda {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (events, queued) = mpsc::unbounded_channel::<String>();
    let (arrived, arrivals) = mpsc::unbounded_channel::<Arrival>();
    let queued = Arc::new(Mutex::new(queued));
    let shared = Arc::new(Mutex::new(Shared::default()));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (queued, arrived, shared) = (queued.clone(), arrived.clone(), shared.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (queued, arrived, shared) =
                        (queued.clone(), arrived.clone(), shared.clone());
                    async move { Ok::<_, Infallible>(serve(request, queued, arrived, shared).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Lambda {
        address,
        events,
        arrivals,
    }
}

async fn serve(
    request: Request<Incoming>,
    queued: Arc<Mutex<mpsc::UnboundedReceiver<String>>>,
    arrived: mpsc::UnboundedSender<Arrival>,
    shared: Arc<Mutex<Shared>>,
) -> Response<Full<Bytes>> {
    if request.uri().path().ends_with("/invocation/next") {
        let Some(event) = queued.lock().await.recv().await else {
            return Response::builder()
                .status(500)
                .body(Full::default())
                .unwrap();
        };
        shared.lock().await.handed_out = Some(Instant::now());
        return Response::builder()
            .header("lambda-runtime-aws-request-id", "bench-request")
            .header("lambda-runtime-deadline-ms", "600000")
            .body(Full::new(Bytes::from(event)))
            .unwrap();
    }
    let streaming = request
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some();
    let started = shared.lock().await.handed_out.unwrap_or_else(Instant::now);
    let mut body = request.into_body();
    let mut first_body_byte = None;
    let mut body_bytes = 0;
    // Streaming: everything up to the eight NULs is the prelude (kept only until found).
    let mut prelude: Option<Vec<u8>> = streaming.then(Vec::new);
    let mut whole = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let body_part: &[u8] = match prelude.as_mut() {
            Some(seen) => {
                seen.extend_from_slice(&data);
                match seen.windows(8).position(|w| w == [0u8; 8]) {
                    Some(at) => {
                        let after = seen.len() - (at + 8);
                        prelude = None;
                        &data[data.len() - after.min(data.len())..]
                    }
                    None => &[],
                }
            }
            None => &data,
        };
        if !body_part.is_empty() && first_body_byte.is_none() {
            first_body_byte = Some(started.elapsed());
        }
        body_bytes += body_part.len();
        if !streaming {
            whole.extend_from_slice(&data);
        }
    }
    let last_byte = started.elapsed();
    let status = if streaming {
        200
    } else {
        let value: serde_json::Value = serde_json::from_slice(&whole).unwrap_or_default();
        value["statusCode"].as_u64().unwrap_or(0) as u16
    };
    let _ = arrived.send(Arrival {
        // A buffered answer reaches the client all at once.
        first_body_byte: if streaming {
            first_body_byte.unwrap_or(last_byte)
        } else {
            last_byte
        },
        last_byte,
        body_bytes,
        status,
    });
    Response::builder()
        .status(202)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap()
}

/// The backend: `GET /<n>` answers n bytes of binary.
async fn start_backend(bodies: Arc<Vec<Bytes>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let bodies = bodies.clone();
                    async move {
                        let n: usize = request.uri().path()[1..].parse().unwrap_or(0);
                        let body = bodies
                            .iter()
                            .find(|b| b.len() == n)
                            .cloned()
                            .unwrap_or_default();
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/octet-stream")
                                .header("content-length", body.len())
                                .body(Chunked::new(body))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{address}")
}

/// The backend writes its answer 64 KiB at a time, as servers do: one 10 MB write would make
/// the first byte wait for the kernel to copy megabytes, a cost of the benchmark's backend.
/// With `STREAMING_BENCH_PAUSE_MS`, it pauses that long after its first 64 KiB, so the
/// first byte is timed without the rest of the body competing for the two cores.
struct Chunked {
    rest: Bytes,
    pause: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    sent: bool,
}

impl Chunked {
    fn new(body: Bytes) -> Chunked {
        let pause_ms: u64 = std::env::var("STREAMING_BENCH_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Chunked {
            rest: body,
            pause: (pause_ms > 0)
                .then(|| Box::pin(tokio::time::sleep(Duration::from_millis(pause_ms)))),
            sent: false,
        }
    }
}

impl hyper::body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        if self.sent
            && let Some(pause) = self.pause.as_mut()
        {
            std::task::ready!(pause.as_mut().poll(cx));
            self.pause = None;
        }
        if self.rest.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let n = self.rest.len().min(64 * 1024);
        let chunk = self.rest.split_to(n);
        self.sent = true;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
    }
}

fn binary(len: usize) -> Bytes {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn event(size: usize) -> String {
    V2Event::new("GET", &format!("/{size}"), "203.0.113.7")
        .header("host", "abc.lambda-url.eu-west-1.on.aws")
        .domain_name(Some("abc.lambda-url.eu-west-1.on.aws"))
        .user_agent(Some("bench"))
        .request_id("bench")
        .to_json()
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::var("STREAMING_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let sizes = [MB, 10 * MB];
    let bodies = Arc::new(sizes.iter().map(|&n| binary(n)).collect::<Vec<_>>());
    let target = start_backend(bodies).await;
    println!(
        "| answer | mode | status | backend's first byte at the function, p50 ms | first body byte at the Runtime API, p50 ms | last byte, p50 ms | peak RSS, MiB |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for size in sizes {
        for mode in ["buffered", "streaming"] {
            let mut lambda = start_lambda().await;
            let child = Command::new(BIN)
                .env_clear()
                .env("AWS_LAMBDA_RUNTIME_API", &lambda.address)
                .env("PROXY_TARGET_URL", &target)
                .env("PROXY_ALLOWED_IPS", "203.0.113.0/24")
                .env("PROXY_RESPONSE_MODE", mode)
                .env("PROXY_TIMEOUT_MS", "60000")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut child = Killed(child);
            // The function's own view: its summary lines' `upstream_first_byte_ms`.
            let stdout = child.0.stdout.take().unwrap();
            let reader = std::thread::spawn(move || {
                use std::io::BufRead;
                std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
                    .filter(|v| v["message"] == "invocation")
                    .filter_map(|v| v["upstream_first_byte_ms"].as_f64())
                    .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                    .collect::<Vec<_>>()
            });
            let mut firsts = Vec::new();
            let mut lasts = Vec::new();
            let mut status = 0;
            for round in 0..=rounds {
                lambda.events.send(event(size)).unwrap();
                let arrival = lambda.arrivals.recv().await.unwrap();
                status = arrival.status;
                if mode == "streaming" {
                    assert_eq!(arrival.body_bytes, size, "streamed whole");
                }
                if round > 0 {
                    firsts.push(arrival.first_body_byte);
                    lasts.push(arrival.last_byte);
                }
            }
            let rss = peak_rss_kib(child.0.id());
            drop(child);
            let backend_first: Vec<Duration> = reader.join().unwrap_or_default();
            let backend_first = match backend_first.get(1..) {
                Some(measured) if !measured.is_empty() => ms(median(measured.to_vec())),
                _ => "–".to_owned(),
            };
            println!(
                "| {} MB binary | {mode} | {status} | {backend_first} | {} | {} | {:.1} |",
                size / MB,
                ms(median(firsts)),
                ms(median(lasts)),
                rss as f64 / 1024.0
            );
        }
    }
}
