//! A proxy wired the way `lambda` and `local` wire it (configuration from variables, telemetry
//! from the configuration, then the proxy), but from a variable map instead of the
//! environment and with its telemetry written to a memory sink the test reads back.
//!
//! It owns only the wiring and reading the captured lines back; it must never change a
//! variable it is given or add one, so a test's configuration is exactly its map.

use std::collections::HashMap;

use serde_json::Value;
use vpc_proxy::config::Config;
use vpc_proxy::handler::{ClientScheme, Invocation, Proxy};
use vpc_proxy::live::Clock;
use vpc_proxy::telemetry::{Sink, Telemetry, TelemetryConfig};

use crate::emf::split_output;
use crate::events::invocation;

/// The configuration `vars` make (a later duplicate wins); panics with the configuration
/// error, as a fixture that does not configure is the test's own bug.
pub fn config_from(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned()).unwrap_or_else(|e| panic!("{e}"))
}

/// How to build a `TestProxy` from a configuration: by default as Lambda does (clients on
/// HTTPS, the system clock, the configuration's telemetry settings).
pub struct Wiring {
    config: Config,
    scheme: ClientScheme,
    clock: Clock,
    telemetry: Option<TelemetryConfig>,
}

impl Wiring {
    pub fn new(config: Config) -> Wiring {
        Wiring {
            config,
            scheme: ClientScheme::Https,
            clock: Clock::system(),
            telemetry: None,
        }
    }

    /// The scheme clients reach the proxy on (`Http` is local mode's).
    pub fn scheme(mut self, scheme: ClientScheme) -> Wiring {
        self.scheme = scheme;
        self
    }

    /// The clock the live-configuration refresh reads.
    pub fn clock(mut self, clock: Clock) -> Wiring {
        self.clock = clock;
        self
    }

    /// Telemetry settings other than the configuration's.
    pub fn telemetry(mut self, telemetry: TelemetryConfig) -> Wiring {
        self.telemetry = Some(telemetry);
        self
    }

    pub fn build(self) -> TestProxy {
        let sink = Sink::memory();
        let settings = self
            .telemetry
            .unwrap_or_else(|| self.config.telemetry.clone());
        let telemetry = Telemetry::new(settings, sink.clone());
        let proxy = Proxy::with_clock(self.config, telemetry, self.scheme, self.clock)
            .unwrap_or_else(|e| panic!("{e}"));
        TestProxy { proxy, sink }
    }
}

/// A proxy built from variables, its telemetry in `sink`.
pub struct TestProxy {
    pub proxy: Proxy,
    pub sink: Sink,
}

/// A proxy as Lambda builds it, from `vars` alone.
pub fn proxy_with(vars: &[(&str, &str)]) -> TestProxy {
    Wiring::new(config_from(vars)).build()
}

/// A proxy to `target` allowing 198.51.100.0/24 and 2001:db8::/32.
pub fn proxy(target: &str) -> TestProxy {
    proxy_with(&[
        ("PROXY_TARGET_URL", target),
        ("PROXY_ALLOWED_IPS", "198.51.100.0/24, 2001:db8::/32"),
    ])
}

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

    /// Empties the captured telemetry (benches do, between samples).
    pub fn clear(&self) {
        clear(&self.sink);
    }
}

/// Empties a memory sink; a stdout sink has nothing to empty.
pub fn clear(sink: &Sink) {
    if let Sink::Memory(buffer) = sink
        && let Ok(mut b) = buffer.lock()
    {
        b.clear();
    }
}
