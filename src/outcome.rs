//! What happened in one invocation: the single record logs and metrics are derived from.
//!
//! The handler fills one `Outcome` as it goes and hands it to telemetry exactly once, so the
//! summary line and the metrics cannot disagree. It holds facts only (no formatting) and no
//! secret: no header values, no body, no query string.

use std::time::Duration;

use crate::upstream::UpstreamError;

/// The proxy's verdict on the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Source allowed; the request went (or was meant to go) to the backend.
    Allow,
    /// Source IP not on the list, missing or unparseable: 403.
    Deny,
    /// A request the proxy will not forward: 400, or not an HTTP event at all.
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Reject => "reject",
        }
    }
}

/// Why a request was denied or rejected. Closed set: it is logged and may be alarmed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    SourceIpMissing,
    SourceIpInvalid,
    IpNotAllowed,
    NotHttpEvent,
    BadBase64,
    BadMethod,
    DotSegment,
    LeavesTarget,
    BadHeader,
}

impl Refusal {
    pub fn decision(self) -> Decision {
        match self {
            Refusal::SourceIpMissing | Refusal::SourceIpInvalid | Refusal::IpNotAllowed => {
                Decision::Deny
            }
            _ => Decision::Reject,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Refusal::SourceIpMissing => "source_ip_missing",
            Refusal::SourceIpInvalid => "source_ip_invalid",
            Refusal::IpNotAllowed => "ip_not_allowed",
            Refusal::NotHttpEvent => "not_http_event",
            Refusal::BadBase64 => "bad_base64",
            Refusal::BadMethod => "bad_method",
            Refusal::DotSegment => "dot_segment",
            Refusal::LeavesTarget => "leaves_target",
            Refusal::BadHeader => "bad_header",
        }
    }
}

/// One invocation, as telemetry sees it.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub request_id: String,
    pub apigw_request_id: Option<String>,
    pub xray_trace_id: Option<String>,
    pub cold_start: bool,
    /// False when the event was not an API Gateway HTTP event (no request metrics then).
    pub http: bool,
    pub source_ip: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub refusal: Option<Refusal>,
    pub failure: Option<UpstreamError>,
    /// Status sent to the client.
    pub status: Option<u16>,
    pub upstream_status: Option<u16>,
    pub upstream_latency: Option<Duration>,
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub duration: Duration,
}

impl Outcome {
    pub fn decision(&self) -> Decision {
        self.refusal.map_or(Decision::Allow, Refusal::decision)
    }

    /// The reason for a deny, reject or upstream failure.
    pub fn reason(&self) -> Option<&'static str> {
        self.refusal
            .map(Refusal::reason)
            .or_else(|| self.failure.map(UpstreamError::reason))
    }

    /// Was a backend exchange attempted (or due but out of time)?
    pub fn forwarded(&self) -> bool {
        self.http && self.refusal.is_none()
    }
}
