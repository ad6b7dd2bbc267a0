//! The handler: one event in, one response out, one `Outcome` to telemetry.
//!
//! It owns the order of decisions (the live configuration in force, then the allow-list,
//! then refusals, then the backend) and the mapping of every failure to exactly one response.
//! It is a plain async function over a raw event and an `Invocation`, testable without the
//! Lambda runtime. It must never forward on doubt, never panic on any input, and never return
//! without recording the outcome.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::Method;

use crate::config::{Config, ConfigError, ResponseMode};
use crate::event::{self, BadBase64, Decoded, NotHttpEvent, RequestQuery, Version};
use crate::headers::{ForwardPolicy, Forwarding, upstream_request_headers};
use crate::live::{Clock, Live, Snapshot};
use crate::outcome::{FailureKind, Outcome, Refusal, UpstreamError};
use crate::response::{self, Encoded, ErrorReply, Payload};
use crate::target::{Query, Target, UrlError};
use crate::telemetry::Telemetry;
use crate::upstream::{Outbound, Upstream};
use crate::xray::{self, Tracer};

/// Time kept back from the invocation deadline to encode and return the response, so the
/// client gets a 504 from us rather than a Lambda timeout.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// What the Lambda runtime (or the local server) knows about this invocation.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub request_id: String,
    /// `None` when there is no deadline (the local server).
    pub deadline: Option<SystemTime>,
    pub xray_trace_id: Option<String>,
}

/// Where an invocation stands once everything before the backend is decided.
pub(crate) enum Step {
    /// Not an API Gateway HTTP event: an invocation error (Lambda reports it, the next event
    /// is served).
    NotHttp(NotHttpEvent),
    /// Refused, or out of time before sending: this one answer.
    Stop(Version, Stop),
    /// Allowed: this request goes to the backend within this budget.
    Forward(Version, Box<Outbound>, Duration),
}

/// Everything that stops a request short of the backend's answer, each with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Stop {
    #[error("refused: {}", .0.reason())]
    Refused(Refusal),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl Stop {
    pub(crate) fn reply(self) -> ErrorReply {
        match self {
            Stop::Refused(r) if r.decision() == crate::outcome::Decision::Deny => {
                ErrorReply::Forbidden
            }
            Stop::Refused(Refusal::ConfigUnavailable) => ErrorReply::ServiceUnavailable,
            Stop::Refused(_) => ErrorReply::BadRequest,
            Stop::Upstream(e) => match e.kind() {
                FailureKind::Timeout => ErrorReply::GatewayTimeout,
                FailureKind::TooLarge => ErrorReply::PayloadTooLarge,
                FailureKind::Connect
                | FailureKind::Tls
                | FailureKind::Reset
                | FailureKind::BadResponse => ErrorReply::BadGateway,
            },
        }
    }
}

/// The scheme clients used to reach the proxy, for `X-Forwarded-Proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientScheme {
    /// API Gateway and Function URLs only accept HTTPS.
    Https,
    /// The local server.
    Http,
}

/// The proxy: configuration parsed, client built, telemetry ready.
#[derive(Debug)]
pub struct Proxy {
    /// The allow-list and upstream headers in force, kept current from the live sources.
    live: Live,
    target: Target,
    forward_policy: ForwardPolicy,
    upstream: Upstream,
    telemetry: Telemetry,
    proto: &'static str,
    cold: AtomicBool,
    response_mode: ResponseMode,
    /// Backend exchanges of sampled invocations, to the X-Ray daemon.
    tracer: Tracer,
}

impl Proxy {
    /// Builds the proxy from a parsed configuration. Fails only on TLS material rustls
    /// refuses (a key that does not fit its certificate), named like any config error.
    pub fn new(
        config: Config,
        telemetry: Telemetry,
        scheme: ClientScheme,
    ) -> Result<Proxy, ConfigError> {
        Proxy::with_clock(config, telemetry, scheme, Clock::system())
    }

    /// `new` with the clock the live-configuration refresh rule reads (tests drive it).
    pub fn with_clock(
        config: Config,
        telemetry: Telemetry,
        scheme: ClientScheme,
        clock: Clock,
    ) -> Result<Proxy, ConfigError> {
        let tls = (config.target.scheme() == "https").then_some(&config.tls);
        let upstream = Upstream::new(config.timeout, tls)?;
        Ok(Proxy {
            response_mode: config.response_mode,
            live: Live::new(&config, clock)?,
            target: config.target,
            forward_policy: config.forward,
            upstream,
            telemetry,
            proto: match scheme {
                ClientScheme::Https => "https",
                ClientScheme::Http => "http",
            },
            cold: AtomicBool::new(true),
            tracer: Tracer::from_env(),
        })
    }

    /// `PROXY_RESPONSE_MODE`: whether callers answer through `handle` or `handle_streaming`.
    pub fn response_mode(&self) -> ResponseMode {
        self.response_mode
    }

    /// Sends backend subsegments with `tracer` instead of the daemon in the environment.
    pub fn set_tracer(&mut self, tracer: Tracer) {
        self.tracer = tracer;
    }

    pub(crate) fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// Handles one raw event. Every path through here records exactly one outcome.
    pub async fn handle(
        &self,
        raw_event: &str,
        invocation: Invocation,
    ) -> Result<Payload, NotHttpEvent> {
        let started = Instant::now();
        let mut outcome = self.new_outcome(&invocation);
        let encoded = match self.begin(raw_event, &invocation, &mut outcome).await {
            Step::NotHttp(e) => Err(e),
            Step::Stop(version, stop) => Ok(stopped(version, stop, &mut outcome)),
            Step::Forward(version, outbound, budget) => Ok(
                match self
                    .exchange(version, &outbound, budget, &mut outcome)
                    .await
                {
                    Ok(encoded) => encoded,
                    Err(stop) => stopped(version, stop, &mut outcome),
                },
            ),
        };
        let result = encoded.map(|encoded| {
            outcome.status = Some(encoded.status);
            outcome.response_bytes = encoded.body_bytes;
            encoded.payload
        });
        outcome.duration = started.elapsed();
        self.telemetry.record(&outcome);
        result
    }

    /// The outcome record of a new invocation.
    pub(crate) fn new_outcome(&self, invocation: &Invocation) -> Outcome {
        Outcome {
            request_id: invocation.request_id.clone(),
            xray_trace_id: invocation.xray_trace_id.clone(),
            cold_start: self.cold.swap(false, Ordering::Relaxed),
            ..Outcome::default()
        }
    }

    /// Everything up to the backend: decode, the live configuration in force, the
    /// allow-list, the refusals, the request to send. Fills `outcome` with what it learns.
    pub(crate) async fn begin(
        &self,
        raw_event: &str,
        invocation: &Invocation,
        outcome: &mut Outcome,
    ) -> Step {
        let decoded = event::decode(raw_event);
        // An HTTP event reads the live sources first (at most one read, when due), so that a
        // DEBUG dump below already knows a secret value read in this very invocation.
        let snapshot = match &decoded {
            Ok(_) => self.live.current(&mut outcome.config_failures).await,
            Err(_) => self.live.peek(),
        };
        outcome.allowlist_version = snapshot.as_ref().map(|s| s.allowlist_version.clone());
        if tracing::enabled!(tracing::Level::DEBUG) {
            let redactor = snapshot
                .as_ref()
                .map_or_else(|| self.live.redactor(), |s| s.redactor.clone());
            tracing::debug!(request_id = invocation.request_id.as_str(), event = %redactor.event(raw_event), "event received");
        }
        let decoded = match decoded {
            Err(e) => {
                outcome.refusal = Some(Refusal::NotHttpEvent);
                return Step::NotHttp(e);
            }
            Ok(decoded) => decoded,
        };
        let version = decoded.version;
        let meta = &decoded.meta;
        outcome.apigw_request_id = meta.apigw_request_id.as_deref().map(str::to_owned);
        outcome.source_ip = meta.source_ip.as_deref().map(str::to_owned);
        outcome.method = Some(meta.method.to_string());
        outcome.path = Some(meta.path.to_string());
        // Nothing is forwarded before the first good read of live configuration.
        let Some(snapshot) = snapshot else {
            return Step::Stop(version, Stop::Refused(Refusal::ConfigUnavailable));
        };
        match self.prepare(decoded, &snapshot, invocation, outcome) {
            Ok((outbound, budget)) => Step::Forward(version, Box::new(outbound), budget),
            Err(stop) => Step::Stop(version, stop),
        }
    }

    /// The request for the backend and its time budget, or why there is none.
    fn prepare(
        &self,
        decoded: Decoded<'_>,
        snapshot: &Snapshot,
        invocation: &Invocation,
        outcome: &mut Outcome,
    ) -> Result<(Outbound, Duration), Stop> {
        // The allow-list comes first: an unknown source learns nothing else about us.
        let source_ip = admit(snapshot, decoded.meta.source_ip.as_deref())?;
        let request = decoded
            .request
            .map_err(|BadBase64| Stop::Refused(Refusal::BadBase64))?;
        outcome.request_bytes = request.body.len();
        let method = parse_method(&request.meta.method)?;
        let query = match &request.query {
            RequestQuery::Raw(raw) => Query::Raw(raw.as_ref()),
            RequestQuery::Pairs(pairs) => Query::Pairs(pairs),
        };
        let url = self
            .target
            .url_for(&request.meta.path, query)
            .map_err(|e| {
                Stop::Refused(match e {
                    UrlError::DotSegment => Refusal::DotSegment,
                    UrlError::LeavesTarget => Refusal::LeavesTarget,
                })
            })?;
        let headers = upstream_request_headers(
            &self.forward_policy,
            &snapshot.upstream_headers,
            &request.headers,
            &request.cookies,
            &Forwarding {
                source_ip,
                proto: self.proto,
                host: request.meta.domain_name.as_deref(),
                request_id: request.meta.apigw_request_id.as_deref(),
                trace_id: invocation.xray_trace_id.as_deref(),
            },
        )
        .map_err(|_| Stop::Refused(Refusal::BadHeader))?;
        let budget = self
            .budget(invocation.deadline)
            .ok_or(UpstreamError::TimedOut)?;
        let outbound = Outbound {
            method,
            uri: url,
            headers,
            body: request.body,
        };
        Ok((outbound, budget))
    }

    /// The buffered exchange: the whole answer, encoded for API Gateway.
    async fn exchange(
        &self,
        version: Version,
        outbound: &Outbound,
        budget: Duration,
        outcome: &mut Outcome,
    ) -> Result<Encoded, Stop> {
        let start = SystemTime::now();
        let sent = self.upstream.send(outbound, budget).await;
        self.tracer.exchange(
            outcome.xray_trace_id.as_deref(),
            &xray::Exchange {
                method: outbound.method.as_str(),
                uri: &outbound.uri,
                start,
                end: SystemTime::now(),
                response: sent
                    .as_ref()
                    .ok()
                    .map(|a| (a.status.as_u16(), a.body.len())),
                failure: sent.as_ref().err().copied(),
            },
        );
        let answer = sent?;
        outcome.upstream_status = Some(answer.status.as_u16());
        outcome.upstream_latency = Some(answer.latency);
        response::from_backend(
            version,
            answer.status.as_u16(),
            &answer.headers,
            &answer.body,
        )
        .map_err(|_| Stop::Upstream(UpstreamError::ResponseTooLarge))
    }

    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The time the backend exchange may take: the timeout, capped by the deadline less the
    /// margin. `None` when nothing is left.
    fn budget(&self, deadline: Option<SystemTime>) -> Option<Duration> {
        let timeout = self.upstream.timeout();
        let Some(deadline) = deadline else {
            return Some(timeout);
        };
        let remaining = deadline.duration_since(SystemTime::now()).ok()?;
        let usable = remaining.checked_sub(DEADLINE_MARGIN)?;
        (!usable.is_zero()).then(|| timeout.min(usable))
    }
}

/// Records why the request stopped and encodes the one answer it gets.
fn stopped(version: Version, stop: Stop, outcome: &mut Outcome) -> Encoded {
    note_stop(stop, outcome);
    response::error(version, stop.reply())
}

/// Records a stop in the outcome: a refusal or an upstream failure, never both.
pub(crate) fn note_stop(stop: Stop, outcome: &mut Outcome) {
    match stop {
        Stop::Refused(r) => outcome.refusal = Some(r),
        Stop::Upstream(e) => outcome.failure = Some(e),
    }
}

fn admit(snapshot: &Snapshot, source_ip: Option<&str>) -> Result<IpAddr, Stop> {
    let text = source_ip
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(Stop::Refused(Refusal::SourceIpMissing))?;
    let ip: IpAddr = text
        .parse()
        .map_err(|_| Stop::Refused(Refusal::SourceIpInvalid))?;
    if snapshot.allow_list.contains(ip) {
        Ok(ip.to_canonical())
    } else {
        Err(Stop::Refused(Refusal::IpNotAllowed))
    }
}

/// Any token method goes (the contract: "the method, any method"), except CONNECT: an HTTP/1.1
/// client turns it into a tunnel to an authority, so there would be no path and no body to
/// forward byte for byte.
fn parse_method(text: &str) -> Result<Method, Stop> {
    let method =
        Method::from_bytes(text.as_bytes()).map_err(|_| Stop::Refused(Refusal::BadMethod))?;
    if method == Method::CONNECT {
        return Err(Stop::Refused(Refusal::BadMethod));
    }
    Ok(method)
}
