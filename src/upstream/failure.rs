//! What went wrong with one exchange, as one `UpstreamError`: the closed set of causes the
//! outcome record carries, read from hyper, io and rustls errors, and whether the request may
//! go again on a fresh connection. It must never carry text from the peer into a cause, and
//! never call a failure retryable once a byte of the response has arrived.

use super::UpstreamError;
use crate::outcome::FailureKind;

/// How one attempt failed: whether the request may go again on a fresh connection.
pub(super) enum Failure {
    Retryable(UpstreamError),
    Final(UpstreamError),
}

impl Failure {
    /// The cause, once no retry is left.
    pub(super) fn into_error(self) -> UpstreamError {
        match self {
            Failure::Retryable(e) | Failure::Final(e) => e,
        }
    }
}

/// A failure of the exchange on an open connection. `started`: some byte of the response
/// had arrived, so the backend has the request and it must not go again.
pub(super) fn exchange_failure(e: &hyper::Error, started: bool, idempotent: bool) -> Failure {
    // The request never left: the pooled connection was closed before it could be written.
    if e.is_canceled() && !started {
        return Failure::Retryable(UpstreamError::ClosedByPeer);
    }
    let cause = if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        UpstreamError::InvalidResponse
    } else if let Some(tls) = source_chain(e).find_map(find_rustls) {
        tls_cause(tls)
    } else if let Some(io) = source_chain(e).find_map(|s| s.downcast_ref::<std::io::Error>()) {
        stream_failure(io)
    } else {
        // Incomplete message, closed channel: the backend went away mid-exchange.
        UpstreamError::ClosedByPeer
    };
    if cause.kind() == FailureKind::Reset && !started && idempotent {
        Failure::Retryable(cause)
    } else {
        Failure::Final(cause)
    }
}

fn source_chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

/// The rustls error inside `e`, looking through io errors that wrap one (`io::Error::source`
/// skips the wrapped error itself, so the source chain alone never reaches it).
fn find_rustls<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        e = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

pub(super) fn tls_failure(e: &std::io::Error) -> Option<UpstreamError> {
    find_rustls(e).map(tls_cause)
}

fn tls_cause(e: &rustls::Error) -> UpstreamError {
    use rustls::{AlertDescription as Alert, CertificateError as Cert};
    match e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            Cert::Expired | Cert::ExpiredContext { .. } => UpstreamError::CertificateExpired,
            Cert::NotValidYet | Cert::NotValidYetContext { .. } => {
                UpstreamError::CertificateNotYetValid
            }
            Cert::UnknownIssuer => UpstreamError::UnknownIssuer,
            Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                UpstreamError::HostnameMismatch
            }
            Cert::Revoked => UpstreamError::CertificateRevoked,
            _ => UpstreamError::CertificateInvalid,
        },
        // Alerts a server sends about the certificate it got from us (mutual TLS).
        rustls::Error::AlertReceived(
            Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnsupportedCertificate
            | Alert::CertificateRevoked
            | Alert::CertificateExpired
            | Alert::CertificateUnknown
            | Alert::UnknownCA
            | Alert::AccessDenied,
        ) => UpstreamError::ClientCertificateRejected,
        _ => UpstreamError::TlsFailed,
    }
}

pub(super) fn connect_failure(e: &std::io::Error) -> UpstreamError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => UpstreamError::ConnectionRefused,
        ErrorKind::TimedOut => UpstreamError::ConnectTimedOut,
        ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => {
            UpstreamError::NetworkUnreachable
        }
        _ => UpstreamError::ConnectFailed,
    }
}

/// An open connection that broke: RST, FIN where more was due, or bytes that do not decode
/// (hyper reports a bad chunked encoding as invalid input).
pub(super) fn stream_failure(e: &std::io::Error) -> UpstreamError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::UnexpectedEof => UpstreamError::ClosedByPeer,
        ErrorKind::InvalidInput | ErrorKind::InvalidData => UpstreamError::InvalidResponse,
        _ => UpstreamError::ResetByPeer,
    }
}
