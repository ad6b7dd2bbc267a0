//! What happened in one invocation: the single record logs and metrics are derived from.
//!
//! The handler fills one `Outcome` as it goes and hands it to telemetry exactly once, so the
//! summary line and the metrics cannot disagree. It holds facts only (no formatting) and no
//! secret: no header values, no body, no query string, no text from the backend. It depends
//! on no HTTP or TLS library: the upstream client maps its errors into `UpstreamError`.

use std::sync::Arc;
use std::time::Duration;

/// The proxy's verdict on the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Source allowed; the request went (or was meant to go) to the backend.
    Allow,
    /// Source IP not on the list, missing or unparseable: 403.
    Deny,
    /// A request the proxy will not forward: 400, or not an HTTP event at all.
    Reject,
    /// Live configuration never read successfully yet: 503, nothing forwarded.
    Unavailable,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Reject => "reject",
            Decision::Unavailable => "unavailable",
        }
    }
}

/// Why a request was denied or rejected. Closed set: it is logged and may be alarmed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    SourceIpMissing,
    SourceIpInvalid,
    IpNotAllowed,
    /// Not an API Gateway HTTP event at all: an invocation error, no response and no request
    /// metrics. The outcome's only record of that fact (see `Outcome::is_http_event`).
    NotHttpEvent,
    BadBase64,
    BadMethod,
    DotSegment,
    LeavesTarget,
    BadHeader,
    ConfigUnavailable,
}

impl Refusal {
    pub fn decision(self) -> Decision {
        match self {
            Refusal::SourceIpMissing | Refusal::SourceIpInvalid | Refusal::IpNotAllowed => {
                Decision::Deny
            }
            Refusal::ConfigUnavailable => Decision::Unavailable,
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
            Refusal::ConfigUnavailable => "config_unavailable",
        }
    }
}

/// Why the backend gave no usable answer, as exactly as typed errors tell it. Closed set: each
/// value belongs to one `reason` (the `Reason` metric dimension, kept small) and has one fixed
/// phrase for the summary line's `error` key; neither ever carries text from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The backend's host actively refused the connection (nothing listening: RST to SYN).
    #[error("connection refused")]
    ConnectionRefused,
    /// The connect did not finish in time: SYNs dropped (security group, NACL, host down).
    #[error("connect timed out")]
    ConnectTimedOut,
    /// DNS gave no address for the target host.
    #[error("name not resolved")]
    NameNotResolved,
    /// No route to the backend's network or host (ICMP unreachable).
    #[error("network unreachable")]
    NetworkUnreachable,
    /// Any other connect failure (no local address, too many open files, ...).
    #[error("connect failed")]
    ConnectFailed,
    #[error("certificate expired")]
    CertificateExpired,
    #[error("certificate not yet valid")]
    CertificateNotYetValid,
    /// The chain does not lead to a trusted root (a private CA not in `PROXY_TLS_CA_FILE`).
    #[error("unknown issuer")]
    UnknownIssuer,
    /// The certificate does not name the target host.
    #[error("hostname mismatch")]
    HostnameMismatch,
    #[error("certificate revoked")]
    CertificateRevoked,
    /// A certificate rustls cannot use for another reason (bad encoding, wrong usage, ...).
    #[error("certificate invalid")]
    CertificateInvalid,
    /// The backend refused our client certificate (mutual TLS), or asked for one we lack.
    #[error("client certificate rejected")]
    ClientCertificateRejected,
    /// The TCP connection was made but the TLS handshake did not finish in the connect time.
    #[error("tls handshake timed out")]
    TlsTimedOut,
    /// Any other TLS failure: no common protocol or cipher, a peer that does not speak TLS,
    /// an alert from the backend.
    #[error("tls handshake failed")]
    TlsFailed,
    /// The connection was reset (RST) before the response was complete.
    #[error("reset by peer")]
    ResetByPeer,
    /// The backend closed the connection (FIN) before the response was complete.
    #[error("closed by peer")]
    ClosedByPeer,
    /// Bytes arrived that are not a valid HTTP/1.1 response (bad status line, bad or too many
    /// header fields, bad chunking).
    #[error("invalid response")]
    InvalidResponse,
    /// The response is larger than a Lambda response can carry.
    #[error("response too large")]
    ResponseTooLarge,
    /// The backend accepted the connection but did not answer within the time budget.
    #[error("timed out")]
    TimedOut,
}

impl UpstreamError {
    /// Every value, for tests and the ops kit's consistency checks.
    pub const ALL: [UpstreamError; 19] = [
        UpstreamError::ConnectionRefused,
        UpstreamError::ConnectTimedOut,
        UpstreamError::NameNotResolved,
        UpstreamError::NetworkUnreachable,
        UpstreamError::ConnectFailed,
        UpstreamError::CertificateExpired,
        UpstreamError::CertificateNotYetValid,
        UpstreamError::UnknownIssuer,
        UpstreamError::HostnameMismatch,
        UpstreamError::CertificateRevoked,
        UpstreamError::CertificateInvalid,
        UpstreamError::ClientCertificateRejected,
        UpstreamError::TlsTimedOut,
        UpstreamError::TlsFailed,
        UpstreamError::ResetByPeer,
        UpstreamError::ClosedByPeer,
        UpstreamError::InvalidResponse,
        UpstreamError::ResponseTooLarge,
        UpstreamError::TimedOut,
    ];

    /// The `Reason` dimension and summary `reason`: the class of failure.
    pub fn reason(self) -> &'static str {
        self.kind().reason()
    }

    /// The summary line's `error`: the cause, as a fixed phrase.
    pub fn phrase(self) -> &'static str {
        match self {
            UpstreamError::ConnectionRefused => "connection refused",
            UpstreamError::ConnectTimedOut => "connect timed out",
            UpstreamError::NameNotResolved => "name not resolved",
            UpstreamError::NetworkUnreachable => "network unreachable",
            UpstreamError::ConnectFailed => "connect failed",
            UpstreamError::CertificateExpired => "certificate expired",
            UpstreamError::CertificateNotYetValid => "certificate not yet valid",
            UpstreamError::UnknownIssuer => "unknown issuer",
            UpstreamError::HostnameMismatch => "hostname mismatch",
            UpstreamError::CertificateRevoked => "certificate revoked",
            UpstreamError::CertificateInvalid => "certificate invalid",
            UpstreamError::ClientCertificateRejected => "client certificate rejected",
            UpstreamError::TlsTimedOut => "tls handshake timed out",
            UpstreamError::TlsFailed => "tls handshake failed",
            UpstreamError::ResetByPeer => "reset by peer",
            UpstreamError::ClosedByPeer => "closed by peer",
            UpstreamError::InvalidResponse => "invalid response",
            UpstreamError::ResponseTooLarge => "response too large",
            UpstreamError::TimedOut => "timed out",
        }
    }

    pub fn kind(self) -> FailureKind {
        match self {
            UpstreamError::ConnectionRefused
            | UpstreamError::ConnectTimedOut
            | UpstreamError::NameNotResolved
            | UpstreamError::NetworkUnreachable
            | UpstreamError::ConnectFailed => FailureKind::Connect,
            UpstreamError::CertificateExpired
            | UpstreamError::CertificateNotYetValid
            | UpstreamError::UnknownIssuer
            | UpstreamError::HostnameMismatch
            | UpstreamError::CertificateRevoked
            | UpstreamError::CertificateInvalid
            | UpstreamError::ClientCertificateRejected
            | UpstreamError::TlsTimedOut
            | UpstreamError::TlsFailed => FailureKind::Tls,
            UpstreamError::ResetByPeer | UpstreamError::ClosedByPeer => FailureKind::Reset,
            UpstreamError::InvalidResponse => FailureKind::BadResponse,
            UpstreamError::ResponseTooLarge => FailureKind::TooLarge,
            UpstreamError::TimedOut => FailureKind::Timeout,
        }
    }
}

/// The class of an upstream failure: the `Reason` metric dimension, and what the client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No connection (502).
    Connect,
    /// TLS failed (502).
    Tls,
    /// The connection broke before the response was complete (502).
    Reset,
    /// The response started but is not valid HTTP (502); never retried.
    BadResponse,
    /// Too slow (504).
    Timeout,
    /// Too large for Lambda (502).
    TooLarge,
}

impl FailureKind {
    pub const ALL: [FailureKind; 6] = [
        FailureKind::Connect,
        FailureKind::Tls,
        FailureKind::Reset,
        FailureKind::BadResponse,
        FailureKind::Timeout,
        FailureKind::TooLarge,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Tls => "tls",
            FailureKind::Reset => "reset",
            FailureKind::BadResponse => "bad_response",
            FailureKind::Timeout => "timeout",
            FailureKind::TooLarge => "too_large",
        }
    }
}

/// The `allowlist_version` of a summary line before the first good read.
pub const NO_VERSION: &str = "none";

/// Why a live-configuration read failed: the `Reason` dimension of `ConfigFailure`. Here, not
/// in `live`, so telemetry and the metric catalog read it without knowing how reads are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// No connection, timeout, or a 5xx from the extension.
    Unreachable,
    /// The extension answered 4xx: missing, access denied, throttled.
    Rejected,
    /// A value that does not parse.
    Invalid,
}

impl FailureReason {
    pub const ALL: [FailureReason; 3] = [
        FailureReason::Unreachable,
        FailureReason::Rejected,
        FailureReason::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Unreachable => "unreachable",
            FailureReason::Rejected => "rejected",
            FailureReason::Invalid => "invalid",
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
    pub source_ip: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub refusal: Option<Refusal>,
    pub failure: Option<UpstreamError>,
    /// Status sent to the client.
    pub status: Option<u16>,
    pub upstream_status: Option<u16>,
    /// To the last body byte (buffered: the whole answer; streaming: the last byte streamed).
    pub upstream_latency: Option<Duration>,
    /// Streaming only: from the first send to the first body byte.
    pub upstream_first_byte: Option<Duration>,
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub duration: Duration,
    /// The allow-list in force (parameter version or list fingerprint); `None` before the
    /// first good read of live configuration.
    pub allowlist_version: Option<Arc<str>>,
    /// One entry per failed live-configuration read this invocation made (`ConfigFailure`).
    pub config_failures: Vec<FailureReason>,
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

    /// The cause of an upstream failure, for the `error` key.
    pub fn error(&self) -> Option<&'static str> {
        self.failure.map(UpstreamError::phrase)
    }

    /// Was the event an API Gateway HTTP event (request metrics are emitted only then)?
    pub fn is_http_event(&self) -> bool {
        self.refusal != Some(Refusal::NotHttpEvent)
    }

    /// Was a backend exchange attempted (or due but out of time)?
    pub fn forwarded(&self) -> bool {
        self.refusal.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_has_one_phrase_and_a_known_reason() {
        let mut phrases: Vec<&str> = UpstreamError::ALL.iter().map(|e| e.phrase()).collect();
        for e in UpstreamError::ALL {
            assert_eq!(e.phrase(), e.to_string());
            assert!(FailureKind::ALL.contains(&e.kind()), "{e:?}");
        }
        phrases.sort_unstable();
        phrases.dedup();
        assert_eq!(
            phrases.len(),
            UpstreamError::ALL.len(),
            "phrases are distinct"
        );
        for kind in FailureKind::ALL {
            assert!(
                UpstreamError::ALL.iter().any(|e| e.kind() == kind),
                "{kind:?} has a cause"
            );
        }
    }
}
