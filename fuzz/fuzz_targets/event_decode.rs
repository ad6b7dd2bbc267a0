//! Arbitrary bytes as the raw Lambda event: decoding and the whole handler must never panic.
//!
//! The handler runs with an allow-all list and a deadline already past, so every HTTP event
//! goes through decode, admission, method, URL and header checks and then stops with a 504
//! before any network I/O. Logs run at DEBUG so the redacted event dump is exercised too.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use vpc_proxy::event;
use vpc_proxy::handler::Invocation;
use vpc_proxy::telemetry::{Sink, logging};
use vpc_proxy_testkit::{TestProxy, clear, proxy_with};

struct Harness {
    runtime: tokio::runtime::Runtime,
    proxy: TestProxy,
    logs: Sink,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let logs = Sink::memory();
        let filter = logging::filter(|name| (name == "RUST_LOG").then(|| "debug".to_owned()));
        let _ = tracing::subscriber::set_global_default(logging::subscriber(filter, logs.clone()));
        let proxy = proxy_with(&[
            ("PROXY_TARGET_URL", "http://127.0.0.1:9/api"),
            ("PROXY_ALLOWED_IPS", "0.0.0.0/0 ::/0"),
            ("PROXY_UPSTREAM_HEADERS", "X-Api-Key: fuzz-secret"),
            ("PROXY_DENY_METRICS_PER_IP", "true"),
        ]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        Harness {
            runtime,
            proxy,
            logs,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    // Lambda hands the function JSON text; bytes that are not UTF-8 never arrive as an event.
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = event::decode(raw);
    let h = harness();
    let invocation = Invocation {
        request_id: "fuzz".to_owned(),
        deadline: Some(SystemTime::UNIX_EPOCH),
        xray_trace_id: None,
    };
    let answer = h.runtime.block_on(h.proxy.proxy.handle(raw, invocation));
    assert_eq!(
        decoded.is_err(),
        answer.is_err(),
        "decode and handler disagree on {raw:?}"
    );
    if let Ok(payload) = answer {
        let value: serde_json::Value =
            serde_json::from_str(payload.as_str()).expect("the response payload is JSON");
        let status = value["statusCode"].as_u64().expect("statusCode");
        assert!(
            matches!(status, 400 | 403 | 504),
            "unexpected status {status} for {raw:?}"
        );
    }
    for sink in [&h.logs, &h.proxy.sink] {
        // The configured upstream secret never reaches the DEBUG dump, whatever the event
        // does with it (a value, a key, an escape that decodes to it).
        let text = sink.contents();
        for line in text.lines().filter(|l| l.contains("event received")) {
            assert!(!line.contains("fuzz-secret"), "secret in the dump: {line}");
        }
        clear(sink);
    }
});
