//! The cost of a live-configuration refresh: one localhost HTTP round trip to the Parameters
//! and Secrets extension, against a loopback stand-in that answers from memory as the
//! extension answers from its cache.
//!
//! `extension/parameter` is one GetParameter read (connect, request, JSON answer parsed);
//! `refresh/parameter+secret` is a whole refresh as an invocation makes it when one is due:
//! both sources read side by side, the list and headers parsed, the snapshot swapped in.
//! `refresh/not_due` is what every other invocation pays: the due-check and one atomic load.
//!
//!     CARGO_TARGET_DIR=/work/target-proof cargo bench --bench live

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use vpc_proxy::config::SessionToken;
use vpc_proxy::extension::Extension;
use vpc_proxy::live::{Live, ManualClock};
use vpc_proxy_testkit::config_from;

const PARAMETER: &str = r#"{"Parameter":{"ARN":"arn:aws:ssm:eu-west-1:123456789012:parameter/vpc-proxy/allowed-ips","DataType":"text","LastModifiedDate":"2026-12-01T10:00:00.000Z","Name":"/vpc-proxy/allowed-ips","Selector":null,"SourceResult":null,"Type":"StringList","Value":"198.51.100.0/24,203.0.113.0/24,10.0.0.0/8,2001:db8::/32","Version":7},"ResultMetadata":{}}"#;
const SECRET: &str = r#"{"ARN":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:vpc-proxy-AbCdEf","CreatedDate":"2026-12-01T10:00:00.000Z","Name":"vpc-proxy","SecretBinary":null,"SecretString":"{\"Authorization\":\"Bearer 0123456789abcdef\"}","VersionId":"8b1c6f5e-1d2a-4c3b-9e8f-7a6b5c4d3e2f","VersionStages":["AWSCURRENT"],"ResultMetadata":{}}"#;

async fn stand_in() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service =
                    service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                        let body = if request.uri().path().starts_with("/secretsmanager") {
                            SECRET
                        } else {
                            PARAMETER
                        };
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                            body.as_bytes(),
                        ))))
                    });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = runtime.block_on(stand_in());
    let extension = Extension::new(port, SessionToken::new("token"));
    let mut group = c.benchmark_group("extension");
    group.bench_function("parameter", |b| {
        b.iter(|| {
            runtime
                .block_on(extension.parameter("/vpc-proxy/allowed-ips"))
                .unwrap()
        })
    });
    group.finish();

    let port = port.to_string();
    let config = config_from(&[
        ("PROXY_TARGET_URL", "http://127.0.0.1:9"),
        ("PROXY_ALLOWED_IPS_PARAMETER", "/vpc-proxy/allowed-ips"),
        ("PROXY_UPSTREAM_HEADERS_SECRET", "vpc-proxy"),
        ("AWS_SESSION_TOKEN", "token"),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", &port),
    ]);
    let clock = ManualClock::new();
    let live = Live::new(&config, clock.clock()).unwrap();
    let mut group = c.benchmark_group("refresh");
    group.bench_function("parameter+secret", |b| {
        b.iter(|| {
            clock.advance(Duration::from_secs(30));
            let mut failures = Vec::new();
            let snapshot = runtime.block_on(live.current(&mut failures));
            assert!(failures.is_empty() && snapshot.is_some());
        })
    });
    group.bench_function("not_due", |b| {
        b.iter(|| {
            let mut failures = Vec::new();
            runtime.block_on(live.current(&mut failures)).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
